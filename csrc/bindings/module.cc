// The module grlm._core: the grounding core's classes here; the token trie, the CUDA scorer and the
// shared item-score functions in their own glue files. Docstrings for users live in the Python
// wrappers (python/grlm/) and the signatures in python/grlm/_core.pyi; this file converts types and
// releases the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <string_view>
#include <vector>

#include "grlm/grlm.h"
#include "py_convert.h"

namespace py = pybind11;

namespace {

using grlm_py::AsBackend;
using grlm_py::ModeName;
using grlm_py::PackResults;
using grlm_py::ParseMode;
using grlm_py::QueryViews;
using grlm_py::TermViews;
using grlm_py::Utf8View;

grlm::Grounder BuildGrounder(const py::sequence& item_ids, const py::sequence& term_ids,
                             int term_id_length, const std::string& mode,
                             std::vector<double> weights, std::optional<std::vector<double>> priors,
                             std::size_t prune_above_items) {
  if (py::len(item_ids) != py::len(term_ids)) {
    throw grlm::InvalidArgument("got " + std::to_string(py::len(item_ids)) + " item ids but " +
                                std::to_string(py::len(term_ids)) + " Term IDs");
  }
  grlm::Catalog catalog(term_id_length);
  for (std::size_t i = 0; i < py::len(item_ids); ++i) {
    catalog.AddItem(Utf8View(item_ids[i].ptr(), "an item id"), TermViews(term_ids[i]));
  }
  if (priors) catalog.SetPriors(std::move(*priors));
  return grlm::Grounder(std::move(catalog), ParseMode(mode), std::move(weights),
                        grlm::ScorerOptions{prune_above_items});
}

// Every query prepared as Grounder::Ground prepares it.
std::vector<grlm::PreparedQuery> PrepareAll(const grlm::Grounder& grounder,
                                            const QueryViews& views) {
  std::vector<grlm::PreparedQuery> prepared(views.queries.size());
  for (std::size_t q = 0; q < prepared.size(); ++q)
    grounder.Prepare(views.queries[q], &prepared[q]);
  return prepared;
}

// (ids uint32 [Q, L], credit_offsets int64 [Q + 1], credit_terms uint32, credit_units int32).
py::tuple PackPrepared(const std::vector<grlm::PreparedQuery>& prepared, int length) {
  std::size_t credits = 0;
  for (const auto& p : prepared) credits += p.bag_credits.size();
  py::array_t<uint32_t> ids({prepared.size(), static_cast<std::size_t>(length)});
  py::array_t<int64_t> offsets(prepared.size() + 1);
  py::array_t<uint32_t> terms(credits);
  py::array_t<int32_t> units(credits);
  uint32_t* id_out = ids.mutable_data();
  int64_t* off = offsets.mutable_data();
  uint32_t* term_out = terms.mutable_data();
  int32_t* unit_out = units.mutable_data();
  std::size_t c = 0;
  off[0] = 0;
  for (std::size_t q = 0; q < prepared.size(); ++q) {
    std::copy(prepared[q].ids, prepared[q].ids + length, id_out + q * length);
    for (const auto& [term, unit] : prepared[q].bag_credits) {
      term_out[c] = term;
      unit_out[c] = unit;
      ++c;
    }
    off[q + 1] = static_cast<int64_t>(c);
  }
  return py::make_tuple(ids, offsets, terms, units);
}

}  // namespace

void BindTokenTrie(py::module_& m);
void BindItemScore(py::module_& m);
void BindUpdatableGrounder(py::module_& m);

#if GRLM_WITH_CUDA
void BindCuda(py::module_& m);
#endif

PYBIND11_MODULE(_core, m) {
  m.doc() = "Compiled grounding core of grlm (see grlm.ground for the documented API).";

  py::module_ errors = py::module_::import("grlm.errors");
  static py::object invalid_input = errors.attr("InvalidInputError");
  static py::object index_file_error = errors.attr("IndexFileError");
  static py::object resource_error = errors.attr("ResourceError");
  static py::object grlm_error = errors.attr("GrlmError");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const grlm::InvalidArgument& e) {
      grlm_py::SetError(invalid_input, e.what());
    } catch (const grlm::IndexFileError& e) {
      grlm_py::SetError(index_file_error, e.what());
    } catch (const grlm::ResourceError& e) {
      grlm_py::SetError(resource_error, e.what());
    } catch (const grlm::Error& e) {
      grlm_py::SetError(grlm_error, e.what());
    }
  });

  m.attr("cuda_compiled") = bool(GRLM_WITH_CUDA);
  m.attr("max_term_id_length") = grlm::kMaxTermIdLength;
  m.attr("MAX_TOP_K") = grlm::kMaxTopK;
  m.attr("DEFAULT_PRUNE_ABOVE_ITEMS") = grlm::ScorerOptions{}.prune_above_items;
  m.def("default_position_weights", &grlm::DefaultPositionWeights, py::arg("length"));
  BindItemScore(m);

  // Opaque: a backend is only passed back to the grounding calls (CatalogSnapshot).
  py::class_<grlm::StructuralBackend>(m, "StructuralBackend");
  m.def("normalize_term",
        [](py::handle term) { return grlm::TermVocab::Normalize(Utf8View(term.ptr(), "a term")); });

  // Held by shared_ptr: an UpdatableGrounder shares the grounder as its base segment.
  py::class_<grlm::Grounder, std::shared_ptr<grlm::Grounder>>(m, "Grounder")
      .def(py::init(&BuildGrounder), py::arg("item_ids"), py::arg("term_ids"),
           py::arg("term_id_length"), py::arg("mode"), py::arg("weights"), py::arg("priors"),
           py::arg("prune_above_items") = grlm::ScorerOptions{}.prune_above_items)
      .def_static("load",
                  [](const std::string& path) {
                    py::gil_scoped_release release;
                    return grlm::LoadIndex(path);
                  })
      .def("save",
           [](const grlm::Grounder& g, const std::string& path) {
             py::gil_scoped_release release;
             grlm::SaveIndex(g, path);
           })
      // The structural top-k alone, packed like ground_batch: the oracle of the backend tests.
      .def(
          "structural_top_k",
          [](const grlm::Grounder& g, const py::sequence& queries, int k, int num_threads,
             const py::object& backend) {
            const QueryViews views(queries);
            std::vector<grlm::GroundResult> results(views.queries.size());
            {
              py::gil_scoped_release release;
              const std::vector<grlm::PreparedQuery> prepared = PrepareAll(g, views);
              std::vector<const grlm::PreparedQuery*> pointers;
              for (const auto& p : prepared) pointers.push_back(&p);
              auto top = g.StructuralTopK(pointers, k, num_threads, AsBackend(backend));
              for (std::size_t q = 0; q < top.size(); ++q) {
                for (const grlm::ScoredItem& s : top[q]) {
                  results[q].items.push_back(s.item);
                  results[q].scores.push_back(s.score);
                }
                results[q].hit = top[q].empty() ? grlm::HitType::kNone : grlm::HitType::kStructural;
              }
            }
            return PackResults(results);
          },
          py::arg("queries"), py::arg("k"), py::arg("num_threads") = 0,
          py::arg("backend") = py::none())
      .def(
          "prepare_queries",
          [](const grlm::Grounder& g, const py::sequence& queries) {
            const QueryViews views(queries);
            std::vector<grlm::PreparedQuery> prepared;
            {
              py::gil_scoped_release release;
              prepared = PrepareAll(g, views);
            }
            return PackPrepared(prepared, g.catalog().term_id_length());
          },
          py::arg("queries"))
      .def_property_readonly("num_items",
                             [](const grlm::Grounder& g) { return g.catalog().size(); })
      .def_property_readonly("term_id_length",
                             [](const grlm::Grounder& g) { return g.catalog().term_id_length(); })
      .def_property_readonly("mode", [](const grlm::Grounder& g) { return ModeName(g.mode()); })
      .def_property_readonly("weights",
                             [](const grlm::Grounder& g) { return g.scorer().weights(); })
      .def_property_readonly("item_ids",
                             [](const grlm::Grounder& g) { return g.catalog().item_ids(); })
      .def_property_readonly("vocab",
                             [](const grlm::Grounder& g) { return g.catalog().vocab().terms(); })
      .def_property_readonly("priors",
                             [](const grlm::Grounder& g) -> std::optional<std::vector<double>> {
                               if (!g.catalog().has_priors()) return std::nullopt;
                               return g.catalog().priors();
                             })
      .def_property_readonly("num_direct_groups",
                             [](const grlm::Grounder& g) { return g.direct_map().num_groups(); })
      .def("term_matrix",
           [](const grlm::Grounder& g) {
             const auto& c = g.catalog();
             py::array_t<uint32_t> out({c.size(), std::size_t(c.term_id_length())});
             std::copy(c.terms().begin(), c.terms().end(), out.mutable_data());
             return out;
           })
      .def("tie_rank",
           [](const grlm::Grounder& g) {
             const auto& r = g.catalog().tie_rank();
             return py::array_t<uint32_t>(r.size(), r.data());
           })
      .def("item_index",
           [](const grlm::Grounder& g, const std::string& id) { return g.catalog().FindItem(id); })
      .def("item_terms",
           [](const grlm::Grounder& g, uint32_t index) {
             const auto& c = g.catalog();
             if (index >= c.size())
               throw py::index_error("item index " + std::to_string(index) + " out of range");
             std::vector<std::string> terms;
             for (int j = 0; j < c.term_id_length(); ++j) {
               const grlm::TermId t = c.ItemTerms(index)[j];
               if (t < grlm::kPadTerm) terms.push_back(c.vocab().Term(t));
             }
             return terms;
           })
      .def("memory_bytes", &grlm::Grounder::MemoryBytes);

  BindTokenTrie(m);
  BindUpdatableGrounder(m);
#if GRLM_WITH_CUDA
  BindCuda(m);
#endif
}
