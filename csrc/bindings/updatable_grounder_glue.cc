// Python bindings of grlm::UpdatableGrounder and its CatalogSnapshot (called from module.cc).
// Docstrings live in the Python wrappers (grlm.ground.grounder.Grounder, grlm.ground.updates).
// Arguments are copied into C++ strings while the GIL is held; changes and batches then run with
// the GIL released (a change may compact, which takes seconds on a large catalog).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "grlm/updatable_grounder.h"
#include "py_convert.h"

namespace py = pybind11;

namespace {

using grlm_py::AsBackend;
using grlm_py::ModeName;
using grlm_py::PackResults;
using grlm_py::QueryViews;
using grlm_py::TermViews;

using OptionalPriors = std::optional<std::vector<std::optional<double>>>;

std::vector<grlm::CatalogItem> ToItems(const std::vector<std::string>& ids,
                                       const std::vector<std::vector<std::string>>& terms,
                                       const OptionalPriors& priors) {
  GRLM_CHECK(ids.size() == terms.size(), InvalidArgument,
             "got " << ids.size() << " item ids but " << terms.size() << " Term IDs");
  GRLM_CHECK(!priors || priors->size() == ids.size(), InvalidArgument,
             "got " << priors->size() << " priors for " << ids.size() << " items");
  std::vector<grlm::CatalogItem> items(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    items[i].id = ids[i];
    items[i].terms = terms[i];
    if (priors) items[i].prior = (*priors)[i];
  }
  return items;
}

// A binding of AddItems, UpdateItems or UpsertItems: the items are copied out of Python
// objects before the GIL is released.
auto ItemChange(void (grlm::UpdatableGrounder::*apply)(std::span<const grlm::CatalogItem>)) {
  return [apply](grlm::UpdatableGrounder& g, const std::vector<std::string>& ids,
                 const std::vector<std::vector<std::string>>& terms, const OptionalPriors& priors) {
    const auto items = ToItems(ids, terms, priors);
    py::gil_scoped_release release;
    (g.*apply)(items);
  };
}

}  // namespace

void BindUpdatableGrounder(py::module_& m) {
  using Snapshot = grlm::CatalogSnapshot;
  // The one read path of a catalog: every answer of grlm's Python API is one of these calls.
  // backend: None (the CPU scorer) or a StructuralBackend built over the snapshot's base
  // segment (the GPU scorer, see scores_base).
  py::class_<Snapshot, std::shared_ptr<Snapshot>>(m, "CatalogSnapshot")
      // (hit code, item ids, scores), the ids and scores as tuples made here: one call per query
      // is the cost of Grounder.ground. item_ids: the snapshot's ids as a list, when the caller
      // holds one (its str objects are shared, not made again); None: made from the catalog.
      .def(
          "ground_one",
          [](const Snapshot& s, py::handle query, int k, const py::object& backend_object,
             const py::object& item_ids) {
            const grlm::StructuralBackend* backend = AsBackend(backend_object);
            grlm::GroundResult r;
            if (backend == nullptr) {
              r = s.Ground(TermViews(query), k);
            } else {  // a GPU call may take a while: the term views must outlive the released GIL
              const std::vector<std::string_view> borrowed = TermViews(query);
              const std::vector<std::string> terms(borrowed.begin(), borrowed.end());
              const std::vector<std::string_view> views(terms.begin(), terms.end());
              py::gil_scoped_release release;
              r = s.Ground(views, k, backend);
            }
            const bool listed = PyList_Check(item_ids.ptr()) &&
                                std::size_t(PyList_GET_SIZE(item_ids.ptr())) == s.size();
            py::tuple ids(r.items.size());
            py::tuple scores(r.scores.size());
            for (std::size_t i = 0; i < r.items.size(); ++i) {
              PyObject* id = listed ? Py_NewRef(PyList_GET_ITEM(item_ids.ptr(), r.items[i]))
                                    : py::str(s.ItemIdAt(r.items[i])).release().ptr();
              PyTuple_SET_ITEM(ids.ptr(), i, id);
              PyTuple_SET_ITEM(scores.ptr(), i, py::float_(r.scores[i]).release().ptr());
            }
            return py::make_tuple(int(r.hit), std::move(ids), std::move(scores));
          },
          py::arg("query"), py::arg("k"), py::arg("backend") = py::none(),
          py::arg("item_ids") = py::none())
      .def(
          "ground_batch",
          [](const Snapshot& s, const py::sequence& queries, int k, int num_threads,
             const py::object& backend_object) {
            const grlm::StructuralBackend* backend = AsBackend(backend_object);
            const QueryViews views(queries);  // a copy: other threads may change `queries`
            std::vector<grlm::GroundResult> results;
            {
              py::gil_scoped_release release;
              results = s.GroundBatch(views.queries, k, num_threads, backend);
            }
            return PackResults(results);
          },
          py::arg("queries"), py::arg("k"), py::arg("num_threads"), py::arg("backend") = py::none())
      .def("scores_base",
           [](const Snapshot& s, const py::object& backend) {
             const grlm::StructuralBackend* b = AsBackend(backend);
             return b != nullptr && s.ScoresBase(*b);
           })
      .def_property_readonly("mode", [](const Snapshot& s) { return ModeName(s.base().mode()); })
      .def_property_readonly("weights",
                             [](const Snapshot& s) { return s.base().scorer().weights(); })
      .def_property_readonly("term_id_length",
                             [](const Snapshot& s) { return s.base().catalog().term_id_length(); })
      .def("__len__", &Snapshot::size)
      .def("__getitem__",
           [](const Snapshot& s, int64_t position) {
             const auto n = int64_t(s.size());
             if (position < -n || position >= n) {
               throw py::index_error("item position " + std::to_string(position) +
                                     " out of range for " + std::to_string(n) + " items");
             }
             return s.ItemIdAt(std::size_t(position < 0 ? position + n : position));
           })
      .def("item_index", [](const Snapshot& s, const std::string& id) { return s.FindItem(id); })
      .def("item_terms",
           [](const Snapshot& s, std::size_t position) {
             if (position >= s.size()) throw py::index_error("item position out of range");
             return s.ItemTerms(position);
           })
      .def("item_ids", &Snapshot::ItemIds)
      .def_property_readonly("delta_size", &Snapshot::delta_size)
      .def_property_readonly("num_tombstones", &Snapshot::num_tombstones)
      .def_property_readonly("num_delta_segments", &Snapshot::num_delta_segments)
      .def_property_readonly("pending", &Snapshot::pending)
      .def("memory_bytes", &Snapshot::MemoryBytes)
      .def_property_readonly("version", &Snapshot::version);

  m.attr("DEFAULT_COMPACT_THRESHOLD") = grlm::UpdatableGrounder::kDefaultCompactThreshold;
  py::class_<grlm::UpdatableGrounder>(m, "UpdatableGrounder")
      .def(py::init([](std::shared_ptr<grlm::Grounder> base, std::size_t compact_threshold) {
             return std::make_unique<grlm::UpdatableGrounder>(std::move(base), compact_threshold);
           }),
           py::arg("base"), py::arg("compact_threshold"))
      .def("add_items", ItemChange(&grlm::UpdatableGrounder::AddItems))
      .def("update_items", ItemChange(&grlm::UpdatableGrounder::UpdateItems))
      .def("upsert_items", ItemChange(&grlm::UpdatableGrounder::UpsertItems))
      .def("remove_items",
           [](grlm::UpdatableGrounder& g, const std::vector<std::string>& ids) {
             py::gil_scoped_release release;
             g.RemoveItems(ids);
           })
      .def("compact", &grlm::UpdatableGrounder::Compact, py::call_guard<py::gil_scoped_release>())
      .def("save", &grlm::UpdatableGrounder::Save, py::call_guard<py::gil_scoped_release>())
      .def("index",
           [](grlm::UpdatableGrounder& g) {
             std::shared_ptr<const grlm::Grounder> index;
             {
               py::gil_scoped_release release;
               index = g.Index();
             }
             return std::const_pointer_cast<grlm::Grounder>(index);
           })
      .def("snapshot",
           [](const grlm::UpdatableGrounder& g) {
             return std::const_pointer_cast<Snapshot>(g.snapshot());
           })
      .def_property_readonly("compact_threshold", &grlm::UpdatableGrounder::compact_threshold);
}
