// Python bindings of grlm::UpdatableGrounder and its CatalogSnapshot (called from module.cc).
// Docstrings live in the Python wrappers (grlm.ground.grounder.Grounder, grlm.ground.updates).
// Arguments are copied into C++ strings while the GIL is held; changes and batches then run with
// the GIL released (a change may compact, which takes seconds on a large catalog).
#include <pybind11/numpy.h>
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

// A BatchResult's arrays (see PackResults) back into results.
std::vector<grlm::GroundResult> Unpack(const py::array_t<uint8_t>& hits,
                                       const py::array_t<int64_t>& offsets,
                                       const py::array_t<int64_t>& items,
                                       const py::array_t<double>& scores) {
  const auto h = hits.unchecked<1>();
  const auto o = offsets.unchecked<1>();
  const auto it = items.unchecked<1>();
  const auto sc = scores.unchecked<1>();
  GRLM_CHECK(o.shape(0) == h.shape(0) + 1 && it.shape(0) == sc.shape(0) && o(0) == 0 &&
                 o(o.shape(0) - 1) == it.shape(0),
             InvalidArgument, "base results are not packed ground_batch arrays");
  std::vector<grlm::GroundResult> results(std::size_t(h.shape(0)));
  for (py::ssize_t q = 0; q < h.shape(0); ++q) {
    GRLM_CHECK(h(q) <= 2 && o(q) <= o(q + 1), InvalidArgument, "bad base result " << q);
    results[q].hit = grlm::HitType(h(q));
    for (int64_t i = o(q); i < o(q + 1); ++i) {
      results[q].items.push_back(uint32_t(it(i)));
      results[q].scores.push_back(sc(i));
    }
  }
  return results;
}

}  // namespace

void BindUpdatableGrounder(py::module_& m) {
  using Snapshot = grlm::CatalogSnapshot;
  py::class_<Snapshot, std::shared_ptr<Snapshot>>(m, "CatalogSnapshot")
      .def("ground_one",
           [](const Snapshot& s, py::handle query, int k) {
             const grlm::GroundResult r = s.Ground(TermViews(query), k);
             return py::make_tuple(int(r.hit), py::cast(r.items), py::cast(r.scores));
           })
      .def(
          "ground_batch",
          [](const Snapshot& s, const py::sequence& queries, int k, int num_threads) {
            const QueryViews views(queries);
            std::vector<grlm::GroundResult> results;
            {
              py::gil_scoped_release release;
              results = s.GroundBatch(views.queries, k, num_threads);
            }
            return PackResults(results);
          },
          py::arg("queries"), py::arg("k"), py::arg("num_threads"))
      .def("merge_batch",
           [](const Snapshot& s, const py::sequence& queries, int k,
              const py::array_t<uint8_t>& hits, const py::array_t<int64_t>& offsets,
              const py::array_t<int64_t>& items, const py::array_t<double>& scores,
              int num_threads) {
             const QueryViews views(queries);
             auto base = Unpack(hits, offsets, items, scores);
             std::vector<grlm::GroundResult> results;
             {
               py::gil_scoped_release release;
               results = s.MergeBatch(views.queries, k, std::move(base), num_threads);
             }
             return PackResults(results);
           })
      .def("base_k", &Snapshot::BaseK)
      .def_property_readonly("base",
                             [](const Snapshot& s) {
                               return std::const_pointer_cast<grlm::Grounder>(s.shared_base());
                             })
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
      .def_property_readonly("pristine", &Snapshot::pristine)
      .def("memory_bytes", &Snapshot::MemoryBytes)
      .def_property_readonly("version", &Snapshot::version);

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
      .def("snapshot",
           [](const grlm::UpdatableGrounder& g) {
             return std::const_pointer_cast<Snapshot>(g.snapshot());
           })
      .def_property_readonly("compact_threshold", &grlm::UpdatableGrounder::compact_threshold);
}
