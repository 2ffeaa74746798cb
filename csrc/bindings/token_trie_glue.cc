// Python bindings of grlm::TokenTrie (called from module.cc). Docstrings live in the Python
// wrapper grlm.decoding.trie.TokenTrie. The trie is safe to share between threads (readers use
// snapshots), so changes and exports release the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <vector>

#include "grlm/error.h"
#include "grlm/token_trie.h"

namespace py = pybind11;

namespace {

using IntArray = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;
using LongArray = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

// Moves a vector into a numpy array without copying.
py::array_t<int32_t> ToNumpy(std::vector<int32_t>&& values) {
  auto* owned = new std::vector<int32_t>(std::move(values));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<int32_t>*>(p); });
  return py::array_t<int32_t>({py::ssize_t(owned->size())}, {py::ssize_t(sizeof(int32_t))},
                              owned->data(), free_when_done);
}

void CheckOneDim(const py::array& a, const char* name) {
  GRLM_CHECK(a.ndim() == 1, InvalidArgument, name << " must be 1-D, got " << a.ndim() << "-D");
}

}  // namespace

void BindTokenTrie(py::module_& m) {
  py::class_<grlm::TokenTrie>(m, "TokenTrie")
      .def(py::init<int32_t>(), py::arg("end_token"))
      .def(
          "add",
          [](grlm::TokenTrie& t, int64_t item, IntArray tokens) {
            CheckOneDim(tokens, "tokens");
            py::gil_scoped_release release;  // a change copies the trie: let readers run
            t.Add(item, tokens.data(), std::size_t(tokens.size()));
          },
          py::arg("item"), py::arg("tokens"))
      .def(
          "add_batch",
          [](grlm::TokenTrie& t, LongArray items, IntArray tokens, LongArray offsets) {
            CheckOneDim(items, "items");
            CheckOneDim(tokens, "tokens");
            CheckOneDim(offsets, "offsets");
            GRLM_CHECK(offsets.size() == items.size() + 1, InvalidArgument,
                       "offsets must have len(items) + 1 = " << items.size() + 1 << " entries, got "
                                                             << offsets.size());
            const int64_t n = items.size();
            GRLM_CHECK(n == 0 || offsets.data()[n] == tokens.size(), InvalidArgument,
                       "offsets[-1] = " << (n ? offsets.data()[n] : 0) << " but there are "
                                        << tokens.size() << " tokens");
            py::gil_scoped_release release;
            t.AddBatch(items.data(), tokens.data(), offsets.data(), std::size_t(n));
          },
          py::arg("items"), py::arg("tokens"), py::arg("offsets"))
      .def("remove", &grlm::TokenTrie::Remove, py::arg("item"),
           py::call_guard<py::gil_scoped_release>())
      .def("contains", &grlm::TokenTrie::Contains, py::arg("item"))
      .def("child", &grlm::TokenTrie::Child, py::arg("node"), py::arg("token"))
      .def(
          "walk",
          [](const grlm::TokenTrie& t, IntArray tokens) {
            CheckOneDim(tokens, "tokens");
            return t.Walk(tokens.data(), std::size_t(tokens.size()));
          },
          py::arg("tokens"))
      .def("allowed_tokens", &grlm::TokenTrie::AllowedTokens, py::arg("node"))
      .def("items_at", &grlm::TokenTrie::ItemsAt, py::arg("node"))
      .def("sequence", &grlm::TokenTrie::Sequence, py::arg("item"))
      .def("path_nodes", &grlm::TokenTrie::PathNodes, py::arg("item"))
      .def("export",
           [](const grlm::TokenTrie& t) {
             grlm::TokenTrieArrays a;
             {
               py::gil_scoped_release release;
               a = t.Export();
             }
             py::dict out;
             out["row_ptr"] = ToNumpy(std::move(a.row_ptr));
             out["child_token"] = ToNumpy(std::move(a.child_token));
             out["child_node"] = ToNumpy(std::move(a.child_node));
             out["live"] = ToNumpy(std::move(a.live));
             out["item_ptr"] = ToNumpy(std::move(a.item_ptr));
             out["items"] = ToNumpy(std::move(a.items));
             return out;
           })
      .def_property_readonly("end_token", &grlm::TokenTrie::end_token)
      .def_property_readonly("num_items", &grlm::TokenTrie::num_items)
      .def_property_readonly("num_nodes", &grlm::TokenTrie::num_nodes)
      .def_property_readonly("num_edges", &grlm::TokenTrie::num_edges)
      .def_property_readonly("max_length", &grlm::TokenTrie::max_length)
      .def_property_readonly("structure_version", &grlm::TokenTrie::structure_version)
      .def_property_readonly("version", &grlm::TokenTrie::version)
      .def("memory_bytes", &grlm::TokenTrie::MemoryBytes);
}
