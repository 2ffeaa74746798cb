// Python glue of the CUDA structural scorer (compiled only when grlm_cuda is): the class
// _core.CudaStructuralScorer, a StructuralBackend that _core.CatalogSnapshot's grounding calls
// accept.
// Conversions only; docstrings for users live in python/grlm/ground/cuda.py.
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

template <typename T>
const T* OptionalData(
    const std::optional<py::array_t<T, py::array::c_style | py::array::forcecast>>& a) {
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
      grlm_py::SetError(cuda_error, e.what());
    }
  });

  m.def("cuda_device_count", &grlm::CudaDeviceCount);
  m.def("cuda_runtime_status", &grlm::CudaRuntimeStatus);

  py::class_<grlm::CudaStructuralScorer, grlm::StructuralBackend>(m, "CudaStructuralScorer")
      // The GPU scorer of a catalog snapshot's base segment (keeping the snapshot, and so the
      // base's catalog, alive): the backend of that snapshot's grounding calls.
      .def(py::init([](const grlm::CatalogSnapshot& snapshot, int device) {
             const grlm::Grounder& base = snapshot.base();
             py::gil_scoped_release release;
             return std::make_unique<grlm::CudaStructuralScorer>(base.catalog(), base.mode(),
                                                                 base.scorer().weights(), device);
           }),
           py::arg("snapshot"), py::arg("device"), py::keep_alive<1, 2>())
      .def(py::init(
               [](const Ids& terms,
                  const py::array_t<uint32_t, py::array::c_style | py::array::forcecast>& tie_rank,
                  std::size_t vocab_size, const std::string& mode, std::vector<double> weights,
                  int device) {
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
                     terms.data(), terms.shape(0), static_cast<int>(terms.shape(1)),
                     tie_rank.data(), vocab_size, score_mode, std::move(weights), device);
               }),
           py::arg("terms"), py::arg("tie_rank"), py::arg("vocab_size"), py::arg("mode"),
           py::arg("weights"), py::arg("device"))
      .def(
          "top_k",
          [](grlm::CudaStructuralScorer& s, const Ids& ids, int k,
             const std::optional<Offsets>& credit_offsets, const std::optional<Ids>& credit_terms,
             const std::optional<Units>& credit_units) {
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
                throw grlm::InvalidArgument(
                    "credit_terms/credit_units shorter than credit_offsets[-1]");
              }
              batch.credit_offsets = OptionalData(credit_offsets);
              batch.credit_terms = OptionalData(credit_terms);
              batch.credit_units = OptionalData(credit_units);
            }
            if (k < 1 || k > grlm::kMaxTopK) {
              throw grlm::InvalidArgument("k must be in 1.." + std::to_string(grlm::kMaxTopK) +
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
          py::arg("num_queries"), py::arg("k"), py::arg("ids"), py::arg("items"), py::arg("scores"),
          py::arg("counts"), py::arg("stream"), py::arg("credit_offsets") = 0,
          py::arg("credit_terms") = 0, py::arg("credit_units") = 0)
      .def("refresh",
           [](grlm::CudaStructuralScorer& s) {
             py::gil_scoped_release release;
             s.Refresh();
           })
      .def_property_readonly(
          "mode", [](const grlm::CudaStructuralScorer& s) { return grlm_py::ModeName(s.mode()); })
      .def_property_readonly("term_id_length", &grlm::CudaStructuralScorer::term_id_length)
      .def_property_readonly("num_items", &grlm::CudaStructuralScorer::num_items)
      .def_property_readonly("device", &grlm::CudaStructuralScorer::device)
      .def("device_memory_bytes", &grlm::CudaStructuralScorer::DeviceMemoryBytes);
}
