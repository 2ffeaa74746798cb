// Device code of the CUDA structural scorer (kernels and their __device__ helpers), kept apart from
// the launchers in structural_kernels.cu so that csrc/tests/test_cuda_kernels_emulated can compile
// the very same kernel bodies for the host and run them block by block on CPU threads. The
// pipeline is described in structural_kernels.cuh.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "grlm/item_score.h"
#include "structural_kernels.cuh"

#ifndef GRLM_PRAGMA_UNROLL
#define GRLM_PRAGMA_UNROLL _Pragma("unroll")
#endif
#ifndef GRLM_DYNAMIC_SHARED
#define GRLM_DYNAMIC_SHARED(name) extern __shared__ __align__(16) unsigned char name[]
#endif

namespace grlm::cuda::device {

// Higher key = better pair: score rank first, then lower tie rank (tie_rank < 2^rank_bits).
__device__ inline uint64_t SelectionKey(uint32_t score_rank, uint32_t tie_rank, int rank_bits) {
  const uint64_t rank_mask = (uint64_t{1} << rank_bits) - 1;
  return (static_cast<uint64_t>(score_rank) << rank_bits) | (rank_mask - tie_rank);
}

// Shared-memory hash of a block's query terms -> bitmask of the group's queries holding them:
// positional keys are (position, term) pairs, bag keys credited terms. All ones is the empty slot.
using PositionTermKey = unsigned long long;
using TermKey = unsigned int;

__device__ inline PositionTermKey MakePositionTermKey(int position, TermId term) {
  return (static_cast<PositionTermKey>(position) << 32) | term;
}

__device__ inline uint32_t HashSlot(unsigned long long key) {
  return static_cast<uint32_t>((key * 0x9E3779B97F4A7C15ull) >> (64 - kHashBits));
}

// Sets bit in the mask of key, inserting key if absent (linear probing, block-wide); the table
// must have a free slot.
template <typename Key>
__device__ inline void HashInsert(Key* keys, uint32_t* masks, Key key, uint32_t bit) {
  constexpr Key kEmpty = static_cast<Key>(~Key{0});
  for (uint32_t slot = HashSlot(key);; slot = (slot + 1) & (kHashSlots - 1)) {
    const Key seen = atomicCAS(keys + slot, kEmpty, key);
    if (seen == kEmpty || seen == key) {
      atomicOr(masks + slot, bit);
      return;
    }
  }
}

template <typename Key>
__device__ inline uint32_t HashLookup(const Key* keys, const uint32_t* masks, Key key) {
  constexpr Key kEmpty = static_cast<Key>(~Key{0});
  for (uint32_t slot = HashSlot(key);; slot = (slot + 1) & (kHashSlots - 1)) {
    const Key seen = keys[slot];
    if (seen == key) return masks[slot];
    if (seen == kEmpty) return 0;
  }
}

__global__ void ScatterCreditsKernel(const BatchArgs args, bool clear) {
  const int q = blockIdx.x;
  if (q >= args.num_queries) return;
  int32_t* row = args.dense_credit + static_cast<std::size_t>(q) * args.vocab_size;
  for (int64_t c = args.credit_offsets[q] + threadIdx.x; c < args.credit_offsets[q + 1];
       c += blockDim.x) {
    const TermId term = args.credit_terms[c];
    if (term >= args.vocab_size) continue;
    if (clear) {
      row[term] = 0;
    } else {
      atomicAdd(row + term, args.credit_units[c]);
    }
  }
}

// One thread per histogram cell zeroes it; the first num_queries threads set each query's range
// to every key a positive score can have: [2^R, 2^span) with (max score rank + 1) << R <= 2^span.
__global__ void InitKernel(const BatchArgs args) {
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < static_cast<std::size_t>(args.num_queries) * kBuckets) args.histogram[i] = 0;
  if (i >= static_cast<std::size_t>(args.num_queries)) return;
  uint64_t max_rank = args.num_levels;
  if (args.mode == ScoreMode::kBag) {
    int64_t units = 0;
    for (int64_t c = args.credit_offsets[i]; c < args.credit_offsets[i + 1]; ++c) {
      if (args.credit_terms[c] < args.vocab_size && args.credit_units[c] > 0) {
        units += args.credit_units[c];
      }
    }
    max_rank = static_cast<uint64_t>(BagUnitsUpperBound(units, args.length));
  }
  QueryState state;
  state.lo = uint64_t{1} << args.rank_bits;
  state.need = args.k;
  state.collected = 0;
  if (max_rank == 0) {
    state.hi = state.lo;
    state.shift = 0;
    state.refining = 0;
  } else {
    int span = args.rank_bits;
    for (uint64_t x = max_rank; x != 0; x >>= 1) ++span;
    state.hi = uint64_t{1} << span;
    state.shift = span > kRadixBits ? span - kRadixBits : 0;
    state.refining = 1;
  }
  args.states[i] = state;
}

// Loads item's terms and tie rank when item < end.
template <int kLength>
__device__ inline void LoadItem(const BatchArgs& args, uint32_t item, uint32_t end, TermId* terms,
                                uint32_t* tie_rank) {
  if (item >= end) return;
  const TermId* row = args.terms + static_cast<std::size_t>(item) * kLength;
  GRLM_PRAGMA_UNROLL
  for (int j = 0; j < kLength; ++j) terms[j] = __ldg(row + j);
  *tie_rank = __ldg(args.tie_rank + item);
}

// Streams a chunk of items for a group of queries: counts keys into buckets (kCount) or appends
// keys >= lo to the candidate lists (kCollect). Shared layout mirrors ScanSharedBytes.
template <int kLength, ScoreMode kMode, ScanPhase kPhase>
__global__ void __launch_bounds__(kScanThreads) ScanKernel(const BatchArgs args) {
  constexpr bool kCount = kPhase == ScanPhase::kCount;
  constexpr bool kPositional = kMode == ScoreMode::kPositional;
  GRLM_DYNAMIC_SHARED(shared_raw);
  uint64_t* lo = reinterpret_cast<uint64_t*>(shared_raw);
  uint64_t* hi = lo + kGroupQueries;
  int32_t* shift = reinterpret_cast<int32_t*>(hi + kGroupQueries);
  uint32_t* active = reinterpret_cast<uint32_t*>(shift + kGroupQueries);
  std::size_t offset = kGroupQueries * (2 * sizeof(uint64_t) + sizeof(int32_t)) + sizeof(uint32_t);
  offset = (offset + 15) / 16 * 16;
  // Positional: (position, term) keys, then masks. Bag: the term filter, term keys, masks.
  using Key = std::conditional_t<kPositional, PositionTermKey, TermKey>;
  uint32_t* filter = reinterpret_cast<uint32_t*>(shared_raw + offset);
  Key* hash_keys = reinterpret_cast<Key*>(kPositional ? filter : filter + kFilterWords);
  uint32_t* hash_masks = reinterpret_cast<uint32_t*>(hash_keys + kHashSlots);
  uint32_t* bucket_count = hash_masks + kHashSlots;  // kCount only

  const int tid = threadIdx.x;
  const int q_begin = blockIdx.x * kGroupQueries;
  const int group_size = min(kGroupQueries, args.num_queries - q_begin);
  if (tid == 0) *active = 0;
  __syncthreads();
  if (tid < group_size) {
    const QueryState state = args.states[q_begin + tid];
    lo[tid] = state.lo;
    hi[tid] = state.hi;
    shift[tid] = state.shift;
    if (!kCount || state.refining) atomicOr(active, 1u << tid);
  }
  __syncthreads();
  const uint32_t active_mask = *active;
  if (active_mask == 0) return;  // every query of the group is settled: nothing to do

  // Bag mode uses the hash while the group's credits fit it at half load; past that, every
  // query of the group is scored for an item that passes the filter.
  bool use_hash = true;
  if constexpr (!kPositional) {
    use_hash =
        args.credit_offsets[q_begin + group_size] - args.credit_offsets[q_begin] <= kHashSlots / 2;
    for (int i = tid; i < kFilterWords; i += kScanThreads) filter[i] = 0;
  }
  if (use_hash) {
    for (int i = tid; i < kHashSlots; i += kScanThreads) {
      hash_keys[i] = static_cast<Key>(~Key{0});
      hash_masks[i] = 0;
    }
  }
  if constexpr (kCount) {
    for (int i = tid; i < group_size * kBuckets; i += kScanThreads) bucket_count[i] = 0;
  }
  __syncthreads();

  if constexpr (kPositional) {
    for (int i = tid; i < group_size * kLength; i += kScanThreads) {
      const int qi = i / kLength;
      const int j = i - qi * kLength;
      const TermId term = args.query_ids[static_cast<std::size_t>(q_begin) * kLength + i];
      if ((active_mask >> qi & 1u) && term < kPadTerm) {
        HashInsert(hash_keys, hash_masks, MakePositionTermKey(j, term), 1u << qi);
      }
    }
  } else {
    for (int qi = 0; qi < group_size; ++qi) {
      if (!(active_mask >> qi & 1u)) continue;
      for (int64_t c = args.credit_offsets[q_begin + qi] + tid;
           c < args.credit_offsets[q_begin + qi + 1]; c += kScanThreads) {
        const TermId term = args.credit_terms[c];
        if (term >= args.vocab_size) continue;  // no item holds it
        atomicOr(filter + ((term & kFilterMask) >> 5), 1u << (term & 31));
        if (use_hash) HashInsert(hash_keys, hash_masks, term, 1u << qi);
      }
    }
  }
  __syncthreads();

  const uint32_t item_begin = blockIdx.y * args.chunk_items;
  const uint32_t item_end = static_cast<uint32_t>(min(
      static_cast<uint64_t>(args.num_items), static_cast<uint64_t>(item_begin) + args.chunk_items));
  // The next item's row and tie rank are loaded while the current one is scored: the scan is
  // bound by memory latency, not bandwidth, so keeping two items in flight per thread pays.
  TermId next_terms[kLength];
  uint32_t next_rank = 0;
  LoadItem<kLength>(args, item_begin + tid, item_end, next_terms, &next_rank);
  for (uint32_t item = item_begin + tid; item < item_end; item += kScanThreads) {
    TermId terms[kLength];
    GRLM_PRAGMA_UNROLL
    for (int j = 0; j < kLength; ++j) terms[j] = next_terms[j];
    const uint32_t tie_rank = next_rank;
    LoadItem<kLength>(args, item + kScanThreads, item_end, next_terms, &next_rank);
    uint32_t match[kLength];  // positional: the group's queries holding terms[j] at position j
    uint32_t candidates = 0;  // queries of the group that may score above 0
    GRLM_PRAGMA_UNROLL
    for (int j = 0; j < kLength; ++j) {
      if constexpr (kPositional) {
        match[j] = terms[j] < kPadTerm
                       ? HashLookup(hash_keys, hash_masks, MakePositionTermKey(j, terms[j]))
                       : 0u;
        candidates |= match[j];
      } else if (terms[j] < kPadTerm &&
                 (filter[(terms[j] & kFilterMask) >> 5] >> (terms[j] & 31) & 1u)) {
        candidates |= use_hash ? HashLookup(hash_keys, hash_masks, terms[j]) : active_mask;
      }
    }
    candidates &= active_mask;
    if (candidates == 0) continue;
    do {
      const int qi = __ffs(candidates) - 1;
      candidates &= candidates - 1;
      uint32_t score_rank;
      if constexpr (kPositional) {
        uint32_t mask = 0;
        GRLM_PRAGMA_UNROLL
        for (int j = 0; j < kLength; ++j) mask |= (match[j] >> qi & 1u) << j;
        score_rank = __ldg(args.level_of_mask + mask);
      } else {
        const int32_t units =
            BagItemUnits(terms, kLength,
                         DenseCredits{args.dense_credit +
                                      static_cast<std::size_t>(q_begin + qi) * args.vocab_size});
        if (units <= 0) continue;
        score_rank = static_cast<uint32_t>(units);
      }
      const uint64_t key = SelectionKey(score_rank, tie_rank, args.rank_bits);
      if (key < lo[qi]) continue;
      if constexpr (kCount) {
        if (key >= hi[qi]) continue;  // above the range: counted by an earlier round
        atomicAdd(bucket_count + qi * kBuckets + ((key - lo[qi]) >> shift[qi]), 1u);
      } else {
        const int q = q_begin + qi;
        const int slot = atomicAdd(&args.states[q].collected, 1);
        if (slot < args.candidate_capacity) {
          args.candidates[static_cast<std::size_t>(q) * args.candidate_capacity + slot] = key;
        }
      }
    } while (candidates != 0);
  }

  if constexpr (kCount) {
    __syncthreads();
    uint32_t* histogram = args.histogram + static_cast<std::size_t>(q_begin) * kBuckets;
    for (int i = tid; i < group_size * kBuckets; i += kScanThreads) {
      if (bucket_count[i] != 0) atomicAdd(histogram + i, bucket_count[i]);
    }
  }
}

// counts[b] becomes the sum of counts[b..kBuckets), block-wide (kBuckets threads, thread b owns b;
// the counts must be visible to every thread on entry).
__device__ inline void SuffixSums(uint32_t* counts) {
  const int b = threadIdx.x;
  for (int stride = 1; stride < kBuckets; stride <<= 1) {
    const uint32_t add = b + stride < kBuckets ? counts[b + stride] : 0u;
    __syncthreads();
    counts[b] += add;
    __syncthreads();
  }
}

// One block of kBuckets threads per query: keeps the bucket holding the k-th key as the new range
// and zeroes the histogram row for the next round.
__global__ void __launch_bounds__(kBuckets) ResolveKernel(const BatchArgs args) {
  GRLM_DYNAMIC_SHARED(shared_raw);
  uint32_t* suffix = reinterpret_cast<uint32_t*>(shared_raw);  // keys in buckets >= b
  const int q = blockIdx.x;
  const QueryState state = args.states[q];
  if (!state.refining) return;
  const int b = threadIdx.x;
  uint32_t* row = args.histogram + static_cast<std::size_t>(q) * kBuckets;
  const uint32_t count = row[b];
  row[b] = 0;
  suffix[b] = count;
  __syncthreads();
  SuffixSums(suffix);
  const uint32_t need = static_cast<uint32_t>(state.need);
  if (suffix[0] < need) {
    // The range holds fewer keys than the top-k still needs (fewer than k items score): all in.
    if (b == 0) args.states[q].refining = 0;
    return;
  }
  const uint32_t above = b + 1 < kBuckets ? suffix[b + 1] : 0u;
  if (suffix[b] >= need && above < need) {  // exactly one bucket holds the k-th key
    QueryState next = state;
    next.lo = state.lo + (static_cast<uint64_t>(b) << state.shift);
    const uint64_t end = next.lo + (uint64_t{1} << state.shift);
    next.hi = end < state.hi ? end : state.hi;
    next.need = static_cast<int32_t>(need - above);
    next.refining = count > static_cast<uint32_t>(kTieCapacity) ? 1 : 0;
    next.shift = state.shift > kRadixBits ? state.shift - kRadixBits : 0;
    args.states[q] = next;
  }
}

// Sorts n (a power of two) keys into descending order, block-wide.
__device__ inline void BitonicSortDescending(uint64_t* keys, int n) {
  for (int size = 2; size <= n; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int idx = threadIdx.x; idx < (n >> 1); idx += blockDim.x) {
        const int i = 2 * stride * (idx / stride) + idx % stride;
        const int j = i + stride;
        const uint64_t a = keys[i], b = keys[j];
        const bool descending = (i & size) == 0;
        if ((a < b) == descending && a != b) {
          keys[i] = b;
          keys[j] = a;
        }
      }
      __syncthreads();
    }
  }
}

// One block per query (kBuckets threads): the collected list is mostly the k-th key's bucket, of
// which only `need` keys are wanted, so one more radix round over the list (counts in shared
// memory) finds a cut that keeps those and the keys above; only the kept keys are sorted. Writes
// the top k as (item, score), -1 and 0.0 past the end, and the count.
__global__ void __launch_bounds__(kSelectThreads) SelectKernel(const BatchArgs args) {
  GRLM_DYNAMIC_SHARED(shared_raw);
  uint64_t* keys = reinterpret_cast<uint64_t*>(shared_raw);
  uint32_t* suffix = reinterpret_cast<uint32_t*>(keys + SortCapacity(args.k));
  uint64_t* cut = reinterpret_cast<uint64_t*>(suffix + kBuckets);
  int32_t* kept = reinterpret_cast<int32_t*>(cut + 1);
  const int q = blockIdx.x;
  const int b = threadIdx.x;
  const QueryState state = args.states[q];
  const int collected = min(state.collected, args.candidate_capacity);
  const uint64_t* list = args.candidates + static_cast<std::size_t>(q) * args.candidate_capacity;
  suffix[b] = 0;
  if (b == 0) {
    *cut = state.lo;
    *kept = 0;
  }
  __syncthreads();
  if (collected > kSortDirectly) {
    // [lo, hi) is the k-th key's bucket (or, with fewer than k results, every key): its keys
    // fall into buckets of (key - lo) >> shift < kBuckets, as in Resolve.
    for (int i = b; i < collected; i += kSelectThreads) {
      const uint64_t key = list[i];
      if (key >= state.lo && key < state.hi) {
        atomicAdd(suffix + ((key - state.lo) >> state.shift), 1u);
      }
    }
    __syncthreads();
    SuffixSums(suffix);
    const uint32_t need = static_cast<uint32_t>(state.need);
    const uint32_t above = b + 1 < kBuckets ? suffix[b + 1] : 0u;
    if (suffix[0] >= need && suffix[b] >= need && above < need) {
      *cut = state.lo + (static_cast<uint64_t>(b) << state.shift);
    }
    __syncthreads();
  }
  const uint64_t lowest = *cut;
  for (int i = b; i < collected; i += kSelectThreads) {
    const uint64_t key = list[i];
    if (key >= lowest) keys[atomicAdd(kept, 1)] = key;
  }
  __syncthreads();
  const int num_kept = *kept;
  int n = 1;
  while (n < num_kept) n <<= 1;
  for (int i = num_kept + b; i < n; i += kSelectThreads) keys[i] = 0;
  __syncthreads();
  BitonicSortDescending(keys, n);
  const int count = min(num_kept, args.k);
  const std::size_t out = static_cast<std::size_t>(q) * args.k;
  for (int i = threadIdx.x; i < args.k; i += blockDim.x) {
    if (i < count) {
      const uint64_t rank_mask = (uint64_t{1} << args.rank_bits) - 1;
      const uint32_t score_rank = static_cast<uint32_t>(keys[i] >> args.rank_bits);
      const uint32_t tie_rank = static_cast<uint32_t>(rank_mask - (keys[i] & rank_mask));
      args.out_items[out + i] = static_cast<int32_t>(args.item_of_rank[tie_rank]);
      args.out_scores[out + i] =
          args.mode == ScoreMode::kPositional
              ? args.level_score[score_rank]
              : static_cast<double>(static_cast<int32_t>(score_rank)) / kBagUnitsPerPoint;
    } else {
      args.out_items[out + i] = -1;
      args.out_scores[out + i] = 0.0;
    }
  }
  if (threadIdx.x == 0) args.out_counts[q] = count;
}

}  // namespace grlm::cuda::device
