// Device code of the CUDA structural scorer (kernels and their __device__ helpers), kept apart from
// the launchers in structural_kernels.cu so that csrc/tests/kernel_emulation can compile the very
// same kernel bodies for the host and run them block by block on CPU threads.
#pragma once

#include <cstddef>
#include <cstdint>

#include "grlm/item_score.h"
#include "structural_kernels.cuh"

#ifndef GRLM_PRAGMA_UNROLL
#define GRLM_PRAGMA_UNROLL _Pragma("unroll")
#endif
#ifndef GRLM_DYNAMIC_SHARED
#define GRLM_DYNAMIC_SHARED(name) extern __shared__ __align__(16) unsigned char name[]
#endif

namespace grlm::cuda::device {

constexpr double kSentinelScore = -1.0;
constexpr uint32_t kSentinelRank = 0xFFFFFFFFu;

__global__ void ScatterCreditsKernel(const int64_t* __restrict__ credit_offsets,
                                     const TermId* __restrict__ credit_terms,
                                     const int32_t* __restrict__ credit_units, int num_queries,
                                     int32_t* __restrict__ dense, uint32_t vocab_size, bool clear) {
  const int q = blockIdx.x;
  if (q >= num_queries) return;
  const int64_t begin = credit_offsets[q];
  const int64_t end = credit_offsets[q + 1];
  int32_t* row = dense + static_cast<std::size_t>(q) * vocab_size;
  for (int64_t c = begin + threadIdx.x; c < end; c += blockDim.x) {
    const TermId term = credit_terms[c];
    if (term >= vocab_size) continue;
    if (clear) {
      row[term] = 0;
    } else {
      atomicAdd(row + term, credit_units[c]);
    }
  }
}

// Bitonic sort of n (a power of two) (score, rank) pairs into RanksBefore order, block-wide.
__device__ void BitonicSortBest(double* score, uint32_t* rank, int n) {
  for (int size = 2; size <= n; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int idx = threadIdx.x; idx < (n >> 1); idx += blockDim.x) {
        const int i = 2 * stride * (idx / stride) + idx % stride;
        const int j = i + stride;
        const double si = score[i], sj = score[j];
        const uint32_t ri = rank[i], rj = rank[j];
        const bool best_first = (i & size) == 0;
        const bool swap = best_first ? RanksBefore(sj, rj, si, ri) : RanksBefore(si, ri, sj, rj);
        if (swap) {
          score[i] = sj;
          score[j] = si;
          rank[i] = rj;
          rank[j] = ri;
        }
      }
      __syncthreads();
    }
  }
}

template <int kLength, ScoreMode kMode>
__global__ void __launch_bounds__(kSelectThreads)
    ScoreSelectKernel(const SelectArgs args) {
  GRLM_DYNAMIC_SHARED(shared_raw);
  const int qb = args.queries_per_block;
  const int buffer = args.buffer_size;
  const int k = args.k;
  const int q_begin = blockIdx.x * qb;
  const int nq = min(qb, args.num_queries - q_begin);
  const int chunk = blockIdx.y;

  // Layout mirrors SelectSharedBytes: doubles first, then 32-bit words.
  double* buf_score = reinterpret_cast<double*>(shared_raw);
  double* thr_score = buf_score + static_cast<std::size_t>(qb) * buffer;
  double* weights = thr_score + qb;
  uint32_t* buf_rank = reinterpret_cast<uint32_t*>(weights + kMaxTermIdLength);
  uint32_t* thr_rank = buf_rank + static_cast<std::size_t>(qb) * buffer;
  int* new_count = reinterpret_cast<int*>(thr_rank + qb);
  TermId* query_terms = reinterpret_cast<TermId*>(new_count + qb);
  uint32_t* filter = query_terms + qb * kMaxTermIdLength;

  for (int i = threadIdx.x; i < qb * buffer; i += blockDim.x) {
    buf_score[i] = kSentinelScore;
    buf_rank[i] = kSentinelRank;
  }
  for (int i = threadIdx.x; i < kFilterWords; i += blockDim.x) filter[i] = 0;
  const int tid = threadIdx.x;
  if (tid < qb) {
    thr_score[tid] = kSentinelScore;
    thr_rank[tid] = kSentinelRank;
    new_count[tid] = 0;
  }
  if (tid < kLength) {
    weights[tid] = kMode == ScoreMode::kPositional ? args.weights[tid] : 0.0;
  }
  for (int i = threadIdx.x; i < nq * kLength; i += blockDim.x) {
    query_terms[i] = args.query_ids[static_cast<std::size_t>(q_begin) * kLength + i];
  }
  __syncthreads();
  if constexpr (kMode == ScoreMode::kPositional) {
    for (int i = threadIdx.x; i < nq * kLength; i += blockDim.x) {
      const TermId term = query_terms[i];
      if (term < kPadTerm) atomicOr(filter + ((term & kFilterMask) >> 5), 1u << (term & 31));
    }
  } else {
    const int64_t begin = args.credit_offsets[q_begin];
    const int64_t end = args.credit_offsets[q_begin + nq];
    for (int64_t c = begin + threadIdx.x; c < end; c += blockDim.x) {
      const TermId term = args.credit_terms[c];
      if (term < args.vocab_size) {
        atomicOr(filter + ((term & kFilterMask) >> 5), 1u << (term & 31));
      }
    }
  }
  __syncthreads();

  const uint32_t item_begin = chunk * args.chunk_items;
  const uint32_t item_end = static_cast<uint32_t>(
      min(static_cast<uint64_t>(args.num_items), static_cast<uint64_t>(item_begin) + args.chunk_items));
  for (uint32_t tile = item_begin; tile < item_end; tile += kSelectThreads) {
    const uint32_t item = tile + threadIdx.x;
    TermId terms[kLength];
    bool candidate = false;
    uint32_t rank = kSentinelRank;
    if (item < item_end) {
      const TermId* row = args.terms + static_cast<std::size_t>(item) * kLength;
GRLM_PRAGMA_UNROLL
      for (int j = 0; j < kLength; ++j) {
        terms[j] = __ldg(row + j);
        if (terms[j] < kPadTerm &&
            (filter[(terms[j] & kFilterMask) >> 5] >> (terms[j] & 31) & 1u)) {
          candidate = true;
        }
      }
    }
    if (candidate) {
      // Only items that can score read their tie rank: the scan's bytes are the term matrix.
      rank = __ldg(args.tie_rank + item);
      for (int qi = 0; qi < nq; ++qi) {
        double score;
        if constexpr (kMode == ScoreMode::kPositional) {
          score = PositionalItemScore(terms, query_terms + qi * kLength, weights, kLength);
        } else {
          const int32_t* credit =
              args.dense_credit + static_cast<std::size_t>(q_begin + qi) * args.vocab_size;
          score = static_cast<double>(BagItemUnits(terms, kLength, credit)) / kBagUnitsPerPoint;
        }
        if (score > 0.0 && RanksBefore(score, rank, thr_score[qi], thr_rank[qi])) {
          const int slot = k + atomicAdd(new_count + qi, 1);
          buf_score[qi * buffer + slot] = score;
          buf_rank[qi * buffer + slot] = rank;
        }
      }
    }
    __syncthreads();
    // Sort a query's buffer when another tile might not fit; every thread takes the same branches.
    const bool last_tile = tile + kSelectThreads >= item_end;
    for (int qi = 0; qi < nq; ++qi) {
      const int count = new_count[qi];
      if (count == 0 || (!last_tile && count <= buffer - k - kSelectThreads)) continue;
      double* score = buf_score + qi * buffer;
      uint32_t* rank_of = buf_rank + qi * buffer;
      BitonicSortBest(score, rank_of, buffer);
      for (int i = k + threadIdx.x; i < buffer; i += blockDim.x) {
        score[i] = kSentinelScore;
        rank_of[i] = kSentinelRank;
      }
      if (threadIdx.x == 0) {
        thr_score[qi] = score[k - 1];
        thr_rank[qi] = rank_of[k - 1];
        new_count[qi] = 0;
      }
      __syncthreads();
    }
    // Every thread must have read new_count before any thread appends to it in the next tile:
    // otherwise a slow thread could see a later count and take a flush the others skipped.
    __syncthreads();
  }

  for (int qi = 0; qi < nq; ++qi) {
    const std::size_t out = (static_cast<std::size_t>(q_begin + qi) * args.num_chunks + chunk) * k;
    for (int i = threadIdx.x; i < k; i += blockDim.x) {
      args.out_score[out + i] = buf_score[qi * buffer + i];
      args.out_rank[out + i] = buf_rank[qi * buffer + i];
    }
  }
}

// Number of entries of the sorted list (score, rank)[0, n) that rank before (x_score, x_rank),
// or before-or-equal when or_equal: ties between lists go to the lower list index, so the output
// positions of all elements are distinct.
__device__ int CountBefore(const double* score, const uint32_t* rank, int n, double x_score,
                           uint32_t x_rank, bool or_equal) {
  int lo = 0, hi = n;
  while (lo < hi) {
    const int mid = (lo + hi) >> 1;
    const bool before = or_equal ? !RanksBefore(x_score, x_rank, score[mid], rank[mid])
                                 : RanksBefore(score[mid], rank[mid], x_score, x_rank);
    if (before) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

__global__ void __launch_bounds__(kMergeThreads)
    MergeTopKKernel(const double* __restrict__ in_score, const uint32_t* __restrict__ in_rank,
                    int num_lists, int k, double* __restrict__ out_score,
                    uint32_t* __restrict__ out_rank) {
  const int group = blockIdx.x;
  const int q = blockIdx.y;
  const int num_groups = gridDim.x;
  const int first = group * kMergeFanIn;
  const int m = min(kMergeFanIn, num_lists - first);
  const std::size_t base = (static_cast<std::size_t>(q) * num_lists + first) * k;
  const double* score = in_score + base;
  const uint32_t* rank = in_rank + base;
  const std::size_t out = (static_cast<std::size_t>(q) * num_groups + group) * k;
  for (int e = threadIdx.x; e < m * k; e += blockDim.x) {
    const int list = e / k;
    const int i = e - list * k;
    const double s = score[e];
    const uint32_t r = rank[e];
    int position = i;
    for (int other = 0; other < m && position < k; ++other) {
      if (other == list) continue;
      position += CountBefore(score + other * k, rank + other * k, k, s, r, other < list);
    }
    if (position < k) {
      out_score[out + position] = s;
      out_rank[out + position] = r;
    }
  }
}

__global__ void FinalizeKernel(const double* __restrict__ in_score,
                               const uint32_t* __restrict__ in_rank, int k,
                               const uint32_t* __restrict__ item_of_rank,
                               int32_t* __restrict__ out_items, double* __restrict__ out_scores,
                               int32_t* __restrict__ out_counts) {
  const int q = blockIdx.x;
  const std::size_t row = static_cast<std::size_t>(q) * k;
  for (int i = threadIdx.x; i < k; i += blockDim.x) {
    const double s = in_score[row + i];
    const bool valid = s > 0.0;
    out_items[row + i] = valid ? static_cast<int32_t>(item_of_rank[in_rank[row + i]]) : -1;
    out_scores[row + i] = valid ? s : 0.0;
    // Valid entries form a prefix: the count is written by its last element (or by 0 if none).
    if (valid && (i + 1 == k || !(in_score[row + i + 1] > 0.0))) out_counts[q] = i + 1;
    if (i == 0 && !valid) out_counts[q] = 0;
  }
}

}  // namespace grlm::cuda::device
