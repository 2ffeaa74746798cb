// Python glue of the CUDA structural scorer (compiled only when grlm_cuda is): the class
// _core.CudaStructuralScorer, query preparation from term strings, and grounding batches whose
// structural misses run on the GPU. Docstrings for users live in python/grlm/ground/cuda.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "grlm/grlm.h"
#include "py_convert.h"

namespace py = pybind11;

namespace {

using Ids = py::array_t<uint32_t, py::array::c_style | py::array::forcecast>;
using Offsets = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
using Units = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;

// All queries' prepared forms, encoded exactly as Grounder::Ground does.
std::vector<grlm::PreparedQuery> Prepare(const grlm::Grounder& grounder,
                                         const std::vector<std::span<const std::string_view>>& queries) {
  std::vector<grlm::PreparedQuery> prepared(queries.size());
  for (std::size_t q = 0; q < queries.size(); ++q) grounder.Prepare(queries[q], &prepared[q]);
  return prepared;
}

// (ids uint32 [Q, L], credit_offsets int64 [Q + 1], credit_terms uint32, credit_units int32).
py::tuple PackPrepared(const std::vector<grlm::PreparedQuery>& prepared, int length) {
  std::size_t credits = 0;
  for (const auto& p : prepared) credits += p.bag_credits.size();
  Ids ids({prepared.size(), static_cast<std::size_t>(length)});
  Offsets offsets(prepared.size() + 1);
  py::array_t<uint32_t> terms(credits);
  Units units(credits);
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

// Grounder::GroundBatch with the structural top-k of all direct misses in one GPU batch.
std::vector<grlm::GroundResult> GroundBatchCuda(
    const grlm::Grounder& grounder, grlm::CudaStructuralScorer& scorer,
    const std::vector<std::span<const std::string_view>>& queries, int k) {
  GRLM_CHECK(k >= 1, InvalidArgument, "k must be at least 1, got " << k);
  GRLM_CHECK(k <= grlm::CudaStructuralScorer::kMaxTopK, InvalidArgument,
             "the CUDA backend returns at most " << grlm::CudaStructuralScorer::kMaxTopK
                                                 << " items per query, got k=" << k);
  const std::vector<grlm::PreparedQuery> prepared = Prepare(grounder, queries);
  std::vector<grlm::GroundResult> results(queries.size());
  std::vector<grlm::PreparedQuery> misses;
  std::vector<std::size_t> miss_index;
  for (std::size_t q = 0; q < queries.size(); ++q) {
    if (!grounder.GroundDirect(prepared[q], k, &results[q])) {
      misses.push_back(prepared[q]);
      miss_index.push_back(q);
    }
  }
  if (!misses.empty()) {
    const auto top = scorer.TopK(misses, k);
    for (std::size_t m = 0; m < misses.size(); ++m) {
      auto& result = results[miss_index[m]];
      for (const grlm::ScoredItem& scored : top[m]) {
        result.items.push_back(scored.item);
        result.scores.push_back(scored.score);
      }
      result.hit = result.items.empty() ? grlm::HitType::kNone : grlm::HitType::kStructural;
    }
  }
  return results;
}

template <typename T>
const T* OptionalData(const std::optional<py::array_t<T, py::array::c_style | py::array::forcecast>>& a) {
  return a ? a->data() : nullptr;
}

}  // namespace

void BindCuda(py::module_& m) {
  static py::object cuda_error = py::module_::import("grlm.errors").attr("CudaError");
  // Registered after the core's translator, so it is tried first.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const grlm::CudaError& e) {
      PyErr_SetString(cuda_error.ptr(), e.what());
    }
  });

  m.def("cuda_device_count", &grlm::CudaDeviceCount);
  m.def("cuda_runtime_status", &grlm::CudaRuntimeStatus);

  py::class_<grlm::CudaStructuralScorer>(m, "CudaStructuralScorer")
      .def(py::init([](const grlm::Grounder& grounder, int device) {
             py::gil_scoped_release release;
             return std::make_unique<grlm::CudaStructuralScorer>(
                 grounder.catalog(), grounder.mode(), grounder.scorer().weights(), device);
           }),
           py::arg("grounder"), py::arg("device"), py::keep_alive<1, 2>())
      .def(py::init([](const Ids& terms, const py::array_t<uint32_t, py::array::c_style |
                                                                         py::array::forcecast>&
                                                     tie_rank,
                       std::size_t vocab_size, const std::string& mode,
                       std::vector<double> weights, int device) {
             if (terms.ndim() != 2) {
               throw grlm::InvalidArgument("terms must be a 2-D array [items, L], got " +
                                           std::to_string(terms.ndim()) + " dimensions");
             }
             if (tie_rank.ndim() != 1 || tie_rank.shape(0) != terms.shape(0)) {
               throw grlm::InvalidArgument("tie_rank must be a 1-D array of one rank per item");
             }
             const grlm::ScoreMode score_mode = grlm_py::ParseMode(mode);
             py::gil_scoped_release release;
             return std::make_unique<grlm::CudaStructuralScorer>(
                 terms.data(), terms.shape(0), static_cast<int>(terms.shape(1)), tie_rank.data(),
                 vocab_size, score_mode, std::move(weights), device);
           }),
           py::arg("terms"), py::arg("tie_rank"), py::arg("vocab_size"), py::arg("mode"),
           py::arg("weights"), py::arg("device"))
      .def(
          "top_k",
          [](grlm::CudaStructuralScorer& s, const Ids& ids, int k,
             const std::optional<Offsets>& credit_offsets,
             const std::optional<Ids>& credit_terms, const std::optional<Units>& credit_units) {
            const int length = s.term_id_length();
            if (ids.ndim() != 2 || ids.shape(1) != length) {
              throw grlm::InvalidArgument("query ids must have shape [Q, " +
                                          std::to_string(length) + "]");
            }
            const std::size_t nq = ids.shape(0);
            grlm::CudaQueryBatch batch;
            batch.num_queries = static_cast<int64_t>(nq);
            batch.ids = ids.data();
            if (s.mode() == grlm::ScoreMode::kBag) {
              if (!credit_offsets || !credit_terms || !credit_units) {
                throw grlm::InvalidArgument(
                    "bag mode needs credit_offsets, credit_terms and credit_units");
              }
              if (credit_offsets->ndim() != 1 ||
                  static_cast<std::size_t>(credit_offsets->shape(0)) != nq + 1) {
                throw grlm::InvalidArgument("credit_offsets must have Q + 1 entries");
              }
              const int64_t total = nq == 0 ? 0 : credit_offsets->data()[nq];
              if (credit_terms->size() < total || credit_units->size() < total) {
                throw grlm::InvalidArgument("credit_terms/credit_units shorter than credit_offsets[-1]");
              }
              batch.credit_offsets = OptionalData(credit_offsets);
              batch.credit_terms = OptionalData(credit_terms);
              batch.credit_units = OptionalData(credit_units);
            }
            if (k < 1 || k > grlm::CudaStructuralScorer::kMaxTopK) {
              throw grlm::InvalidArgument("k must be in 1.." +
                                          std::to_string(grlm::CudaStructuralScorer::kMaxTopK) +
                                          ", got " + std::to_string(k));
            }
            py::array_t<int32_t> items({nq, static_cast<std::size_t>(k)});
            py::array_t<double> scores({nq, static_cast<std::size_t>(k)});
            py::array_t<int32_t> counts(nq);
            grlm::CudaTopKOutput out{items.mutable_data(), scores.mutable_data(),
                                     counts.mutable_data()};
            {
              py::gil_scoped_release release;
              s.TopKHost(batch, k, out);
            }
            return py::make_tuple(items, scores, counts);
          },
          py::arg("ids"), py::arg("k"), py::arg("credit_offsets") = py::none(),
          py::arg("credit_terms") = py::none(), py::arg("credit_units") = py::none())
      .def(
          "top_k_device",
          [](grlm::CudaStructuralScorer& s, int64_t num_queries, int k, uintptr_t ids,
             uintptr_t items, uintptr_t scores, uintptr_t counts, uintptr_t stream,
             uintptr_t credit_offsets, uintptr_t credit_terms, uintptr_t credit_units) {
            grlm::CudaQueryBatch batch;
            batch.num_queries = num_queries;
            batch.ids = reinterpret_cast<const grlm::TermId*>(ids);
            batch.credit_offsets = reinterpret_cast<const int64_t*>(credit_offsets);
            batch.credit_terms = reinterpret_cast<const grlm::TermId*>(credit_terms);
            batch.credit_units = reinterpret_cast<const int32_t*>(credit_units);
            grlm::CudaTopKOutput out{reinterpret_cast<int32_t*>(items),
                                     reinterpret_cast<double*>(scores),
                                     reinterpret_cast<int32_t*>(counts)};
            py::gil_scoped_release release;
            s.TopKDevice(batch, k, out, reinterpret_cast<grlm::CudaStream>(stream));
          },
          py::arg("num_queries"), py::arg("k"), py::arg("ids"), py::arg("items"),
          py::arg("scores"), py::arg("counts"), py::arg("stream"), py::arg("credit_offsets") = 0,
          py::arg("credit_terms") = 0, py::arg("credit_units") = 0)
      .def("refresh",
           [](grlm::CudaStructuralScorer& s) {
             py::gil_scoped_release release;
             s.Refresh();
           })
      .def_property_readonly("mode",
                             [](const grlm::CudaStructuralScorer& s) {
                               return s.mode() == grlm::ScoreMode::kBag ? "bag" : "positional";
                             })
      .def_property_readonly("term_id_length", &grlm::CudaStructuralScorer::term_id_length)
      .def_property_readonly("num_items", &grlm::CudaStructuralScorer::num_items)
      .def_property_readonly("device", &grlm::CudaStructuralScorer::device)
      .def("device_memory_bytes", &grlm::CudaStructuralScorer::DeviceMemoryBytes);

  m.def(
      "prepare_queries",
      [](const grlm::Grounder& grounder, const py::sequence& queries) {
        const grlm_py::QueryViews views(queries);
        std::vector<grlm::PreparedQuery> prepared;
        {
          py::gil_scoped_release release;
          prepared = Prepare(grounder, views.queries);
        }
        return PackPrepared(prepared, grounder.catalog().term_id_length());
      },
      py::arg("grounder"), py::arg("queries"));

  // The CPU core's structural top-k alone (no direct mapping): the oracle of the GPU tests.
  m.def(
      "structural_top_k_cpu",
      [](const grlm::Grounder& grounder, const py::sequence& queries, int k) {
        const grlm_py::QueryViews views(queries);
        std::vector<grlm::GroundResult> results(views.queries.size());
        {
          py::gil_scoped_release release;
          const auto prepared = Prepare(grounder, views.queries);
          for (std::size_t q = 0; q < prepared.size(); ++q) {
            for (const grlm::ScoredItem& s : grounder.scorer().TopK(prepared[q], k)) {
              results[q].items.push_back(s.item);
              results[q].scores.push_back(s.score);
            }
            results[q].hit = results[q].items.empty() ? grlm::HitType::kNone
                                                      : grlm::HitType::kStructural;
          }
        }
        return grlm_py::PackResults(results);
      },
      py::arg("grounder"), py::arg("queries"), py::arg("k"));

  // The shared __host__ __device__ scoring functions of item_score.h, for the host-side tests.
  m.def("item_score_positional", [](const Ids& item, const Ids& query,
                                    const std::vector<double>& weights) {
    if (item.ndim() != 1 || query.ndim() != 1 || item.shape(0) != query.shape(0) ||
        static_cast<std::size_t>(item.shape(0)) != weights.size()) {
      throw grlm::InvalidArgument("item, query and weights must have the same length");
    }
    return grlm::PositionalItemScore(item.data(), query.data(), weights.data(),
                                     static_cast<int>(item.shape(0)));
  });
  m.def("item_score_bag_units", [](const Ids& item, const Units& credit_table) {
    if (item.ndim() != 1 || credit_table.ndim() != 1) {
      throw grlm::InvalidArgument("item and credit_table must be 1-D");
    }
    for (py::ssize_t j = 0; j < item.shape(0); ++j) {
      const grlm::TermId t = item.data()[j];
      if (t < grlm::kPadTerm && t >= credit_table.shape(0)) {
        throw grlm::InvalidArgument("item term " + std::to_string(t) + " outside the credit table");
      }
    }
    return grlm::BagItemUnits(item.data(), static_cast<int>(item.shape(0)), credit_table.data());
  });
  m.def("ranks_before", &grlm::RanksBefore);
  m.attr("bag_units_per_point") = grlm::kBagUnitsPerPoint;

  m.def(
      "ground_batch_cuda",
      [](const grlm::Grounder& grounder, grlm::CudaStructuralScorer& scorer,
         const py::sequence& queries, int k) {
        const grlm_py::QueryViews views(queries);
        std::vector<grlm::GroundResult> results;
        {
          py::gil_scoped_release release;
          results = GroundBatchCuda(grounder, scorer, views.queries, k);
        }
        return grlm_py::PackResults(results);
      },
      py::arg("grounder"), py::arg("scorer"), py::arg("queries"), py::arg("k"));
}
