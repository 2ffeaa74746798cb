// Structural mapping on an NVIDIA GPU: the catalog's term matrix lives on the device and a batch of
// encoded queries is scored against every item in one launch sequence, with the per-query top-k
// selected on the device. Scores and lists are identical to StructuralScorer's (same
// __host__ __device__ scoring functions of item_score.h, same RanksBefore order).
//
// The header compiles in every build; where grlm was built without CUDA (GRLM_WITH_CUDA=0),
// CudaCompiled() is false and constructing a CudaStructuralScorer throws CudaError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "grlm/catalog.h"
#include "grlm/error.h"
#include "grlm/structural.h"
#include "grlm/structural_backend.h"
#include "grlm/types.h"

#ifndef GRLM_WITH_CUDA
#define GRLM_WITH_CUDA 0
#endif

// cudaStream_t without including the CUDA headers (it is `CUstream_st*` in cuda_runtime.h).
struct CUstream_st;

namespace grlm {

using CudaStream = CUstream_st*;

// The CUDA backend failed (no device, out of memory, launch failure) or is not compiled in.
class CudaError : public Error {
 public:
  using Error::Error;
};

// Whether this build contains the CUDA kernels.
inline constexpr bool CudaCompiled() { return GRLM_WITH_CUDA != 0; }

// Number of CUDA devices usable by this process: 0 without a driver, without a GPU, or in a build
// without CUDA. Never throws.
int CudaDeviceCount();
// One line for diagnostics: runtime and driver versions, and the device count or the error that
// hides the devices (e.g. cudaErrorInsufficientDriver when the driver predates the runtime).
std::string CudaRuntimeStatus();

// A batch of encoded queries, all pointers on the host (TopKHost) or on the device (TopKDevice).
struct CudaQueryBatch {
  int64_t num_queries = 0;
  // num_queries x term_id_length ids from Catalog::EncodeQuery (kUnknownTerm, kPadTerm allowed).
  const TermId* ids = nullptr;
  // Bag mode only, CSR: query q credits credit_units[c] units to vocabulary term credit_terms[c]
  // for c in [credit_offsets[q], credit_offsets[q + 1]) (PreparedQuery::bag_credits). Credits
  // of one term are summed; terms outside the uploaded vocabulary are ignored (no item has them).
  const int64_t* credit_offsets = nullptr;  // num_queries + 1, non-decreasing, [0] = 0
  const TermId* credit_terms = nullptr;
  const int32_t* credit_units = nullptr;
};

// Per-query top-k, row q at offset q * k: items best first (-1 past the end), their scores (0.0
// past the end) and the number of results (items with score > 0, at most k).
struct CudaTopKOutput {
  int32_t* items = nullptr;   // num_queries x k
  double* scores = nullptr;   // num_queries x k
  int32_t* counts = nullptr;  // num_queries
};

// A StructuralBackend: Grounder::Ground/GroundBatch(..., &scorer) run their structural top-k here.
class CudaStructuralScorer final : public StructuralBackend {
 public:
  // Uploads catalog's term matrix and tie ranks to `device` (-1: the current device). The catalog
  // must outlive the scorer; a change of its size or vocabulary size is uploaded again on the next
  // call, other in-place changes (SetPriors) after Refresh(). weights: positional weights (L
  // positive finite values; empty means 1 / (j + 1)); ignored in bag mode.
  CudaStructuralScorer(const Catalog& catalog, ScoreMode mode, std::vector<double> weights = {},
                       int device = -1);
  // Without a Catalog (C++ serving stacks): terms is num_items x term_id_length row-major (item
  // terms < vocab_size or kPadTerm), tie_rank a permutation of 0..num_items-1 (lower wins ties).
  // The arrays are copied to the device; they need not outlive the constructor.
  CudaStructuralScorer(const TermId* terms, std::size_t num_items, int term_id_length,
                       const uint32_t* tie_rank, std::size_t vocab_size, ScoreMode mode,
                       std::vector<double> weights = {}, int device = -1);
  ~CudaStructuralScorer();
  CudaStructuralScorer(const CudaStructuralScorer&) = delete;
  CudaStructuralScorer& operator=(const CudaStructuralScorer&) = delete;

  // Uploads the catalog again (constructed from a Catalog only).
  void Refresh();

  // Host arrays in, host arrays out; blocks until done. Thread-safe (calls are serialized).
  // Throws InvalidArgument on k outside 1..kMaxTopK or malformed credits, CudaError on a CUDA
  // failure.
  void TopKHost(const CudaQueryBatch& batch, int k, const CudaTopKOutput& out) const;
  // Device arrays in and out, enqueued on stream (nullptr: the legacy default stream) and
  // asynchronous (the host returns once the work is enqueued). The scorer's workspace is reused
  // across calls, so calls on one scorer must not overlap on different streams. Bag-mode credit
  // arrays are device memory too and are not validated (they are never read out of bounds of
  // the dense table: terms >= the vocabulary size are ignored).
  void TopKDevice(const CudaQueryBatch& batch, int k, const CudaTopKOutput& out, CudaStream stream);
  // Convenience mirroring StructuralScorer::TopK for a batch of prepared queries.
  std::vector<std::vector<ScoredItem>> TopK(const std::vector<PreparedQuery>& queries, int k) const;
  // StructuralBackend: one TopKHost call for all queries (num_threads is not used).
  void TopKBatch(std::span<const PreparedQuery* const> queries, int k, int num_threads,
                 std::span<std::vector<ScoredItem>> results) const override;
  int max_top_k() const override { return kMaxTopK; }

  ScoreMode mode() const override;
  int term_id_length() const;
  std::size_t num_items() const override;
  const Catalog* catalog() const override;
  int device() const;
  // Device memory held now (catalog, credit table, workspace), in bytes.
  std::size_t DeviceMemoryBytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

#if !GRLM_WITH_CUDA
struct CudaStructuralScorer::Impl {};

inline int CudaDeviceCount() { return 0; }
inline std::string CudaRuntimeStatus() { return "grlm was built without CUDA"; }

namespace detail {
[[noreturn]] inline void ThrowCudaNotCompiled() {
  throw CudaError("grlm was built without CUDA (GRLM_CUDA=OFF or no nvcc at build time)");
}
}  // namespace detail

inline CudaStructuralScorer::CudaStructuralScorer(const Catalog&, ScoreMode, std::vector<double>,
                                                  int) {
  detail::ThrowCudaNotCompiled();
}
inline CudaStructuralScorer::CudaStructuralScorer(const TermId*, std::size_t, int, const uint32_t*,
                                                  std::size_t, ScoreMode, std::vector<double>,
                                                  int) {
  detail::ThrowCudaNotCompiled();
}
inline CudaStructuralScorer::~CudaStructuralScorer() = default;
inline void CudaStructuralScorer::Refresh() { detail::ThrowCudaNotCompiled(); }
inline void CudaStructuralScorer::TopKHost(const CudaQueryBatch&, int,
                                           const CudaTopKOutput&) const {
  detail::ThrowCudaNotCompiled();
}
inline void CudaStructuralScorer::TopKDevice(const CudaQueryBatch&, int, const CudaTopKOutput&,
                                             CudaStream) {
  detail::ThrowCudaNotCompiled();
}
inline std::vector<std::vector<ScoredItem>> CudaStructuralScorer::TopK(
    const std::vector<PreparedQuery>&, int) const {
  detail::ThrowCudaNotCompiled();
}
inline void CudaStructuralScorer::TopKBatch(std::span<const PreparedQuery* const>, int, int,
                                            std::span<std::vector<ScoredItem>>) const {
  detail::ThrowCudaNotCompiled();
}
inline ScoreMode CudaStructuralScorer::mode() const { detail::ThrowCudaNotCompiled(); }
inline int CudaStructuralScorer::term_id_length() const { detail::ThrowCudaNotCompiled(); }
inline std::size_t CudaStructuralScorer::num_items() const { detail::ThrowCudaNotCompiled(); }
inline const Catalog* CudaStructuralScorer::catalog() const { detail::ThrowCudaNotCompiled(); }
inline int CudaStructuralScorer::device() const { detail::ThrowCudaNotCompiled(); }
inline std::size_t CudaStructuralScorer::DeviceMemoryBytes() const {
  detail::ThrowCudaNotCompiled();
}
#endif

}  // namespace grlm
