// Kernels of the CUDA structural scorer: raw pointers, sizes and a stream in, a cudaError_t out.
// No torch, no pybind11; the orchestration lives in cuda_structural.cu.
//
// One batch of Q encoded queries goes through four steps:
//   1. (bag mode) ScatterCredits adds each query's sparse (term, units) credits into its row of a
//      dense, zeroed int32 table over the vocabulary; ClearCredits zeroes the same cells afterwards.
//   2. ScoreSelect: a block owns a chunk of items and a group of queries. It streams the chunk one
//      tile of kSelectThreads items at a time (one item per thread, its terms in registers), scores
//      every item against every query of the group with the shared __host__ __device__ functions of
//      grlm/item_score.h, and keeps each query's running top-k in shared memory (a sorted top-k
//      plus a buffer of new candidates better than the current k-th, bitonic-sorted when full).
//      It writes one sorted top-k list per (query, chunk).
//   3. MergeTopK merges up to kMergeFanIn sorted lists per query into one (rank of every element
//      by binary search in the other lists), repeated until one list per query is left.
//   4. Finalize turns (score, tie rank) pairs into (item index, score) and counts the results.
// Order everywhere is grlm::RanksBefore: score desc, tie rank asc. Items with score 0 are never
// candidates; unused slots hold the sentinel (score -1, tie rank 0xFFFFFFFF).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "grlm/types.h"

namespace grlm::cuda {

inline constexpr int kSelectThreads = 256;  // also the tile of items streamed per step
inline constexpr int kMergeThreads = 256;
inline constexpr int kMergeFanIn = 16;
inline constexpr int kMaxTopK = 1024;
inline constexpr int kMaxQueriesPerBlock = 32;
// Per-block filter over term ids (hashed by the low bits): an item none of whose terms is set
// cannot score above 0 for any query of the block and is skipped. Only ever a filter: a set bit
// still goes through the exact scoring.
inline constexpr int kFilterWords = 1024;
inline constexpr uint32_t kFilterMask = kFilterWords * 32 - 1;

// Capacity of one query's shared-memory candidate buffer: the top-k plus room for one more tile
// of new candidates, rounded up to a power of two for the bitonic sort.
inline int SelectBufferSize(int k) {
  int size = 1;
  while (size < k + kSelectThreads) size <<= 1;
  return size;
}

// Dynamic shared memory of ScoreSelect for queries_per_block queries and buffer size B.
inline std::size_t SelectSharedBytes(int queries_per_block, int buffer_size) {
  const std::size_t qb = static_cast<std::size_t>(queries_per_block);
  const std::size_t doubles = qb * buffer_size + qb + kMaxTermIdLength;
  const std::size_t words = qb * buffer_size + qb + qb + qb * kMaxTermIdLength + kFilterWords;
  return doubles * sizeof(double) + words * sizeof(uint32_t);
}

// How one sub-batch is cut: queries per block, item chunks per query, and the buffer size.
struct SelectPlan {
  int buffer_size = 0;
  int queries_per_block = 1;
  int64_t num_chunks = 1;
  int64_t chunk_items = kSelectThreads;
};

// Enough blocks for about two waves over the device (groups of queries x chunks of items), each
// chunk a multiple of the tile; shared_budget bounds one block's shared memory.
inline SelectPlan PlanSelect(std::size_t num_items, int64_t num_queries, int k, int num_sms,
                             int shared_per_sm, std::size_t shared_budget) {
  auto ceil_div = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  SelectPlan plan;
  plan.buffer_size = SelectBufferSize(k);
  while (plan.queries_per_block < kMaxQueriesPerBlock &&
         SelectSharedBytes(plan.queries_per_block + 1, plan.buffer_size) <= shared_budget) {
    ++plan.queries_per_block;
  }
  const std::size_t shared = SelectSharedBytes(plan.queries_per_block, plan.buffer_size);
  int64_t blocks_per_sm = static_cast<int64_t>(shared_per_sm) / static_cast<int64_t>(shared + 1024);
  blocks_per_sm = blocks_per_sm < 1 ? 1 : (blocks_per_sm > 8 ? 8 : blocks_per_sm);
  const int64_t target_blocks = 2 * static_cast<int64_t>(num_sms) * blocks_per_sm;
  const int64_t groups = ceil_div(num_queries, plan.queries_per_block);
  const int64_t items = static_cast<int64_t>(num_items);
  int64_t max_chunks = ceil_div(items, kSelectThreads);
  max_chunks = max_chunks < 1 ? 1 : (max_chunks > 65535 ? 65535 : max_chunks);
  int64_t chunks = ceil_div(target_blocks, groups);
  chunks = chunks < 1 ? 1 : (chunks > max_chunks ? max_chunks : chunks);
  plan.chunk_items = ceil_div(ceil_div(items > 0 ? items : 1, chunks), kSelectThreads) * kSelectThreads;
  plan.num_chunks = items > 0 ? ceil_div(items, plan.chunk_items) : 1;
  return plan;
}

struct SelectArgs {
  const TermId* terms = nullptr;       // num_items x length, row-major
  const uint32_t* tie_rank = nullptr;  // num_items
  uint32_t num_items = 0;
  int length = 0;  // L, 1..kMaxTermIdLength
  ScoreMode mode = ScoreMode::kPositional;
  const TermId* query_ids = nullptr;  // num_queries x length
  int num_queries = 0;
  const double* weights = nullptr;  // positional: length values
  // Bag mode: dense credit table, row q at dense_credit + q * vocab_size, and the queries' sparse
  // credits (CSR, offsets relative to credit_terms) used for the per-block filter.
  const int32_t* dense_credit = nullptr;
  uint32_t vocab_size = 0;
  const int64_t* credit_offsets = nullptr;
  const TermId* credit_terms = nullptr;
  int k = 1;
  int buffer_size = 0;        // SelectBufferSize(k)
  int queries_per_block = 1;  // <= kMaxQueriesPerBlock
  uint32_t chunk_items = 0;   // a multiple of kSelectThreads
  int num_chunks = 1;
  double* out_score = nullptr;  // [num_queries][num_chunks][k]
  uint32_t* out_rank = nullptr;
};

// Adds credits of queries [0, num_queries) into rows of dense (vocab_size columns); credits to
// terms >= vocab_size are dropped (no item holds them). clear=true writes zeros instead.
cudaError_t LaunchScatterCredits(const int64_t* credit_offsets, const TermId* credit_terms,
                                 const int32_t* credit_units, int num_queries, int32_t* dense,
                                 uint32_t vocab_size, bool clear, cudaStream_t stream);

// Sets the shared-memory limit of every ScoreSelect instance; call once per device.
cudaError_t ConfigureSelectKernels(std::size_t max_shared_bytes);

cudaError_t LaunchScoreSelect(const SelectArgs& args, cudaStream_t stream);

// Merges groups of kMergeFanIn consecutive sorted lists of k: in [q][num_lists][k] ->
// out [q][ceil(num_lists / kMergeFanIn)][k].
cudaError_t LaunchMergeTopK(const double* in_score, const uint32_t* in_rank, int num_queries,
                            int num_lists, int k, double* out_score, uint32_t* out_rank,
                            cudaStream_t stream);

// in [q][k] sorted -> items (item_of_rank of the tie rank, -1 when empty), scores (0.0 when
// empty), counts; output row q starts at q * k.
cudaError_t LaunchFinalize(const double* in_score, const uint32_t* in_rank, int num_queries, int k,
                           const uint32_t* item_of_rank, int32_t* out_items, double* out_scores,
                           int32_t* out_counts, cudaStream_t stream);

}  // namespace grlm::cuda
