// Kernels of the CUDA structural scorer: raw pointers, sizes and a stream in, a cudaError_t out.
// No torch, no pybind11; the device copy of the catalog and the workspace live in
// cuda_structural.cu.
//
// Top-k by radix selection over unique 64-bit keys. Every (query, item) pair with a positive score
// gets the key (score rank << R) | (2^R - 1 - tie rank), R = the bits of the largest tie rank, and
// the score rank is an integer that
// orders scores exactly: the bag units in bag mode, and in positional mode the level of the match
// mask's score among all distinct mask scores (scorer-wide tables, since the weights are). Keys
// are unique and order pairs exactly like grlm::RanksBefore, so the top-k keys are the top-k list.
//
// One batch of Q queries (groups of kGroupQueries per block) goes through:
//   1. (bag mode) ScatterCredits: each query's sparse credits into its row of a dense table.
//   2. Init: each query's key range [lo, hi) = every possible positive key; histograms zeroed.
//   3. Rounds of Scan<kCount> + Resolve: the scan streams the term matrix once, scores every item
//      against the group's refining queries (positional: a shared hash of (position, term) ->
//      query bitmask, so an item costs L lookups whatever the group size; bag mode: credited term
//      -> query bitmask behind a bitmap filter) and counts each query's keys in kBuckets buckets of
//      its range; Resolve keeps the bucket holding the k-th key as the new range. A query stops
//      refining once that bucket holds at most kTieCapacity keys; blocks whose queries all stopped
//      return at once, so the rounds left cost a near-empty launch.
//   4. Scan<kCollect>: every key >= lo (fewer than k + kTieCapacity per query) is appended to the
//      query's candidate list.
//   5. Select: one block per query keeps the keys at or above the k-th key's bucket of one more
//      radix round over its list, sorts them and writes (item index, score) pairs.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "grlm/item_score.h"
#include "grlm/types.h"

namespace grlm::cuda {

inline constexpr int kScanThreads = 256;
inline constexpr int kGroupQueries = 32;  // one bit per query of a block in a uint32 mask
inline constexpr int kRadixBits = 8;
inline constexpr int kBuckets = 1 << kRadixBits;  // also Resolve's block size
inline constexpr int kTieCapacity = 1024;
static_assert(kTieCapacity >= kBuckets);  // SelectionRounds' shifts stay >= 0
inline constexpr int kSelectThreads = 256;
// Per-block hash of the group's query terms -> bitmask of the queries holding them: (position,
// term) in positional mode, credited terms in bag mode. At least twice the most entries a
// positional block inserts (kGroupQueries x kMaxTermIdLength), so probes stay short; bag mode
// uses it only while the group's credits fill at most half of it.
inline constexpr int kHashBits = 10;
inline constexpr int kHashSlots = 1 << kHashBits;
static_assert(kHashSlots >= 2 * kGroupQueries * kMaxTermIdLength);
// Bag mode's per-block filter over credited term ids (hashed by the low bits), checked before the
// hash: an item none of whose terms is set scores 0 for every query of the block.
inline constexpr int kFilterWords = 1024;
inline constexpr uint32_t kFilterMask = kFilterWords * 32 - 1;

// A query's selection state, in device memory.
struct QueryState {
  uint64_t lo = 0;        // every key >= lo is collected at the end
  uint64_t hi = 0;        // [lo, hi): the keys still split into buckets while refining
  int32_t shift = 0;      // bucket of a key in [lo, hi): (key - lo) >> shift, < kBuckets
  int32_t need = 0;       // how many keys of [lo, hi) belong to the top-k
  int32_t refining = 0;   // 1 while [lo, hi) may hold more than kTieCapacity keys
  int32_t collected = 0;  // keys appended by the collect scan
};

enum class ScanPhase { kCount, kCollect };

// Everything one sub-batch's kernels read and write; device pointers.
struct BatchArgs {
  // Catalog.
  const TermId* terms = nullptr;  // num_items x length, row-major
  const uint32_t* tie_rank = nullptr;
  const uint32_t* item_of_rank = nullptr;
  uint32_t num_items = 0;
  int rank_bits = 0;  // RankBits(num_items): the low bits of a key hold the inverted tie rank
  int length = 0;     // 1..kMaxTermIdLength
  ScoreMode mode = ScoreMode::kPositional;
  // Positional mode: score rank of each match mask (0 for mask 0) and the score of each rank.
  const uint32_t* level_of_mask = nullptr;  // 2^length
  const double* level_score = nullptr;      // num_levels + 1
  uint32_t num_levels = 0;
  // Bag mode: the queries' sparse credits (CSR) and their dense table (row q: q * vocab_size).
  const int64_t* credit_offsets = nullptr;
  const TermId* credit_terms = nullptr;
  const int32_t* credit_units = nullptr;
  int32_t* dense_credit = nullptr;
  uint32_t vocab_size = 0;
  // Queries.
  const TermId* query_ids = nullptr;  // num_queries x length
  int num_queries = 0;
  int k = 1;
  // Workspace.
  QueryState* states = nullptr;    // num_queries
  uint32_t* histogram = nullptr;   // num_queries x kBuckets
  uint64_t* candidates = nullptr;  // num_queries x candidate_capacity
  int candidate_capacity = 0;      // CandidateCapacity(k)
  // Scan grid: blockIdx.x = query group, blockIdx.y = chunk of chunk_items items.
  uint32_t chunk_items = 0;
  int num_chunks = 1;
  // Output rows start at q * k.
  int32_t* out_items = nullptr;
  double* out_scores = nullptr;
  int32_t* out_counts = nullptr;
};

// A collected list holds fewer than k + kTieCapacity keys: those above the k-th key's final
// bucket (< k) plus that bucket (<= kTieCapacity).
GRLM_HOST_DEVICE inline int CandidateCapacity(int k) { return k + kTieCapacity; }

// Select's sort size: the capacity rounded up to a power of two.
GRLM_HOST_DEVICE inline int SortCapacity(int k) {
  int size = 1;
  while (size < CandidateCapacity(k)) size <<= 1;
  return size;
}

// Select sorts a list of at most this many keys as it is; a longer one first goes through one
// more radix round in shared memory.
inline constexpr int kSortDirectly = 64;
static_assert(kSelectThreads == kBuckets);  // Select's round: one bucket per thread

// Dynamic shared memory of one Select block: the sort buffer, bucket counts, the cut, a counter.
inline std::size_t SelectSharedBytes(int k) {
  return SortCapacity(k) * sizeof(uint64_t) + kBuckets * sizeof(uint32_t) + sizeof(uint64_t) +
         sizeof(int32_t);
}

// Number of bits of x (0 for 0).
inline int BitLength(uint64_t x) {
  int bits = 0;
  for (; x != 0; x >>= 1) ++bits;
  return bits;
}

// Bits of the largest tie rank of a catalog of num_items items.
inline int RankBits(std::size_t num_items) { return num_items > 1 ? BitLength(num_items - 1) : 0; }

// First round's bucket shift for keys below 2^span: kRadixBits fewer than the range's bits.
inline int FirstShift(int span) { return span > kRadixBits ? span - kRadixBits : 0; }

// Refining rounds that settle every query whose keys lie below (max_score_rank + 1) << rank_bits:
// each round removes kRadixBits from the shift, and a round whose buckets are at most
// kTieCapacity keys wide is the last one needed (the k-th key's bucket then fits a list).
inline int SelectionRounds(uint64_t max_score_rank, int rank_bits) {
  int rounds = 1;
  for (int shift = FirstShift(rank_bits + BitLength(max_score_rank));
       (uint64_t{1} << shift) > static_cast<uint64_t>(kTieCapacity); shift -= kRadixBits) {
    ++rounds;
  }
  return rounds;
}

// Dynamic shared memory of one Scan block.
inline std::size_t ScanSharedBytes(ScoreMode mode, ScanPhase phase) {
  std::size_t bytes = kGroupQueries * (2 * sizeof(uint64_t) + sizeof(int32_t)) + sizeof(uint32_t);
  bytes = (bytes + 15) / 16 * 16;
  bytes += mode == ScoreMode::kPositional
               ? kHashSlots * (sizeof(unsigned long long) + sizeof(uint32_t))
               : kFilterWords * sizeof(uint32_t) + kHashSlots * 2 * sizeof(uint32_t);
  if (phase == ScanPhase::kCount) bytes += kGroupQueries * kBuckets * sizeof(uint32_t);
  return bytes;
}

// Chunks of items per query group: about four blocks per SM in all, chunk_items a multiple of
// kScanThreads.
struct ScanPlan {
  uint32_t chunk_items = kScanThreads;
  int num_chunks = 1;
};

inline ScanPlan PlanScan(std::size_t num_items, int num_queries, int num_sms) {
  auto ceil_div = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  const int64_t items = num_items > 0 ? static_cast<int64_t>(num_items) : 1;
  const int64_t groups = ceil_div(num_queries > 0 ? num_queries : 1, kGroupQueries);
  int64_t chunks = ceil_div(4 * static_cast<int64_t>(num_sms > 0 ? num_sms : 1), groups);
  const int64_t max_chunks = ceil_div(items, kScanThreads);
  chunks = chunks < 1 ? 1 : (chunks > max_chunks ? max_chunks : chunks);
  chunks = chunks > 65535 ? 65535 : chunks;
  ScanPlan plan;
  plan.chunk_items =
      static_cast<uint32_t>(ceil_div(ceil_div(items, chunks), kScanThreads) * kScanThreads);
  plan.num_chunks = static_cast<int>(ceil_div(items, plan.chunk_items));
  return plan;
}

// Positional mode's score ranks, scorer-wide: level_of_mask[m] is the rank (1 = lowest) of match
// mask m's score among the distinct positive mask scores, level_score[rank] that score (0.0 at
// rank 0). Scores come from PositionalItemScore itself, so they are the CPU core's bit for bit.
struct PositionalLevels {
  std::vector<uint32_t> level_of_mask;
  std::vector<double> level_score;
};

inline PositionalLevels BuildPositionalLevels(const std::vector<double>& weights) {
  const int length = static_cast<int>(weights.size());
  const uint32_t masks = uint32_t{1} << length;
  std::vector<double> score_of_mask(masks);
  TermId query[kMaxTermIdLength], item[kMaxTermIdLength];
  for (int j = 0; j < length; ++j) query[j] = static_cast<TermId>(j);
  for (uint32_t m = 0; m < masks; ++m) {
    for (int j = 0; j < length; ++j) item[j] = (m >> j & 1u) ? query[j] : kPadTerm;
    score_of_mask[m] = PositionalItemScore(item, query, weights.data(), length);
  }
  PositionalLevels levels;
  levels.level_score = score_of_mask;
  std::sort(levels.level_score.begin(), levels.level_score.end());
  levels.level_score.erase(std::unique(levels.level_score.begin(), levels.level_score.end()),
                           levels.level_score.end());
  if (levels.level_score.front() != 0.0) levels.level_score.insert(levels.level_score.begin(), 0.0);
  levels.level_of_mask.resize(masks);
  for (uint32_t m = 0; m < masks; ++m) {
    levels.level_of_mask[m] = static_cast<uint32_t>(
        std::lower_bound(levels.level_score.begin(), levels.level_score.end(), score_of_mask[m]) -
        levels.level_score.begin());
  }
  return levels;
}

// The kernels, launched on a stream. Each returns cudaGetLastError() of its launch.
struct CudaLauncher {
  cudaStream_t stream = nullptr;
  // Adds (clear = false) or zeroes (clear = true) the queries' credits in the dense table.
  cudaError_t ScatterCredits(const BatchArgs& args, bool clear) const;
  cudaError_t Init(const BatchArgs& args) const;
  cudaError_t Scan(const BatchArgs& args, ScanPhase phase) const;
  cudaError_t Resolve(const BatchArgs& args) const;
  cudaError_t Select(const BatchArgs& args) const;
};

// The launch sequence of one sub-batch, written once for the device (CudaLauncher) and the CPU
// emulation test (which passes a launcher running the same kernel bodies on host threads).
template <typename Launcher>
cudaError_t RunBatch(const BatchArgs& args, const Launcher& launcher) {
  if (args.num_queries <= 0) return cudaSuccess;
  if (args.k < 1 || args.k > kMaxTopK || args.length < 1 || args.length > kMaxTermIdLength ||
      args.candidate_capacity != CandidateCapacity(args.k) || args.num_chunks < 1 ||
      args.chunk_items % kScanThreads != 0 || args.rank_bits != RankBits(args.num_items)) {
    return cudaErrorInvalidValue;
  }
  const bool bag = args.mode == ScoreMode::kBag;
  const int rounds =
      SelectionRounds(bag ? uint64_t{INT32_MAX} : uint64_t{args.num_levels}, args.rank_bits);
  cudaError_t status = bag ? launcher.ScatterCredits(args, false) : cudaSuccess;
  if (status == cudaSuccess) status = launcher.Init(args);
  for (int round = 0; round < rounds && status == cudaSuccess; ++round) {
    status = launcher.Scan(args, ScanPhase::kCount);
    if (status == cudaSuccess) status = launcher.Resolve(args);
  }
  if (status == cudaSuccess) status = launcher.Scan(args, ScanPhase::kCollect);
  if (status == cudaSuccess) status = launcher.Select(args);
  if (status == cudaSuccess && bag) status = launcher.ScatterCredits(args, true);
  return status;
}

}  // namespace grlm::cuda
