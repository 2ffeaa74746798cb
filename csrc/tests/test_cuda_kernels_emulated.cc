// The CUDA kernels' own source (kernels/cuda/structural_device.cuh), compiled for the host against
// kernel_emulation/cuda_runtime.h and run block by block on CPU threads, against the CPU core's
// StructuralScorer. Runs everywhere (no GPU, no nvcc needed), so the selection, bitonic sorting,
// multi-level merging and finalization logic is checked in CI; the GPU tests then only have to
// confirm the same on a device.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "grlm/catalog.h"
#include "grlm/structural.h"
#include "grlm/term_vocab.h"
#include "structural_device.cuh"

namespace {

using grlm::ScoreMode;
using grlm::TermId;
namespace gc = grlm::cuda;

struct Case {
  grlm::Catalog catalog;
  std::vector<std::vector<std::string>> queries;
};

Case RandomCase(uint32_t seed, int n, int length, int vocab_size, int num_queries,
                bool all_equal = false) {
  std::mt19937 rng(seed);
  std::vector<std::string> words;
  for (int i = 0; i < vocab_size; ++i) words.push_back("w" + std::to_string(i));
  for (const char* w : {"hair", "hair-mask", "mask", "se", "serum", "rum"}) words.push_back(w);
  auto pick = [&](const std::vector<std::string>& from) {
    return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(rng)];
  };
  Case c{grlm::Catalog(length), {}};
  std::vector<std::vector<std::string>> item_terms;
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> terms;
    if (all_equal) {
      for (int j = 0; j < length; ++j) terms.push_back("same" + std::to_string(j));
    } else if (i > 0 && rng() % 20 == 0) {
      terms = item_terms[rng() % i];  // a collision
    } else {
      const int size = rng() % 5 == 0 ? 1 + static_cast<int>(rng() % length) : length;
      for (int j = 0; j < size; ++j) terms.push_back(pick(words));
    }
    item_terms.push_back(terms);
    std::vector<std::string_view> views(terms.begin(), terms.end());
    c.catalog.AddItem("item" + std::to_string(i), views);
  }
  std::vector<double> priors(n);
  for (auto& p : priors) p = static_cast<double>(rng() % 3);
  c.catalog.SetPriors(priors);
  std::vector<std::string> unknown = {"zzz", "hair-maskk", "erum", "w"};
  for (int q = 0; q < num_queries; ++q) {
    std::vector<std::string> query = item_terms[rng() % n];
    for (auto& t : query) {
      const int r = rng() % 10;
      if (r < 3) t = pick(words);
      if (r == 3) t = pick(unknown);
    }
    if (rng() % 5 == 0) query.resize(1 + rng() % query.size());
    c.queries.push_back(query);
  }
  return c;
}

struct Output {
  std::vector<int32_t> items;
  std::vector<double> scores;
  std::vector<int32_t> counts;
};

// Runs the kernels of one launch on emulated blocks; the same interface as cuda::CudaLauncher, so
// RunBatch's launch sequence is the one the device runs.
struct EmulatedLauncher {
  mutable int scans = 0;

  cudaError_t ScatterCredits(const gc::BatchArgs& args, bool clear) const {
    emu::Launch(emu::Dim3{static_cast<unsigned>(args.num_queries), 1, 1}, 128, 0,
                [&] { gc::device::ScatterCreditsKernel(args, clear); });
    return cudaSuccess;
  }
  cudaError_t Init(const gc::BatchArgs& args) const {
    const unsigned blocks = static_cast<unsigned>((args.num_queries * gc::kBuckets + 255) / 256);
    emu::Launch(emu::Dim3{blocks, 1, 1}, 256, 0, [&] { gc::device::InitKernel(args); });
    return cudaSuccess;
  }
  cudaError_t Scan(const gc::BatchArgs& args, gc::ScanPhase phase) const {
    ++scans;
    switch (args.length) {
      case 1:
        return ScanFor<1>(args, phase);
      case 2:
        return ScanFor<2>(args, phase);
      case 3:
        return ScanFor<3>(args, phase);
      case 5:
        return ScanFor<5>(args, phase);
      case 8:
        return ScanFor<8>(args, phase);
      default:
        throw std::runtime_error("length not instantiated in the emulation test");
    }
  }
  cudaError_t Resolve(const gc::BatchArgs& args) const {
    emu::Launch(emu::Dim3{static_cast<unsigned>(args.num_queries), 1, 1}, gc::kBuckets,
                gc::kBuckets * sizeof(uint32_t), [&] { gc::device::ResolveKernel(args); });
    return cudaSuccess;
  }
  cudaError_t Select(const gc::BatchArgs& args) const {
    emu::Launch(emu::Dim3{static_cast<unsigned>(args.num_queries), 1, 1}, gc::kSelectThreads,
                gc::SelectSharedBytes(args.k), [&] { gc::device::SelectKernel(args); });
    return cudaSuccess;
  }

 private:
  template <int kLength, ScoreMode kMode, gc::ScanPhase kPhase>
  static void LaunchScan(const gc::BatchArgs& args) {
    const unsigned groups =
        static_cast<unsigned>((args.num_queries + gc::kGroupQueries - 1) / gc::kGroupQueries);
    emu::Launch(emu::Dim3{groups, static_cast<unsigned>(args.num_chunks), 1}, gc::kScanThreads,
                gc::ScanSharedBytes(kMode, kPhase),
                [&] { gc::device::ScanKernel<kLength, kMode, kPhase>(args); });
  }
  template <int kLength>
  static cudaError_t ScanFor(const gc::BatchArgs& args, gc::ScanPhase phase) {
    const bool bag = args.mode == ScoreMode::kBag;
    if (phase == gc::ScanPhase::kCount) {
      bag ? LaunchScan<kLength, ScoreMode::kBag, gc::ScanPhase::kCount>(args)
          : LaunchScan<kLength, ScoreMode::kPositional, gc::ScanPhase::kCount>(args);
    } else {
      bag ? LaunchScan<kLength, ScoreMode::kBag, gc::ScanPhase::kCollect>(args)
          : LaunchScan<kLength, ScoreMode::kPositional, gc::ScanPhase::kCollect>(args);
    }
    return cudaSuccess;
  }
};

// CudaStructuralScorer::Impl::Run for one batch, on emulated kernels; num_sms shapes the grid.
Output RunEmulated(const grlm::Catalog& catalog, const grlm::StructuralScorer& scorer,
                   const std::vector<grlm::PreparedQuery>& queries, int k, int num_sms) {
  const int length = catalog.term_id_length();
  const std::size_t n = catalog.size();
  const uint32_t vocab = static_cast<uint32_t>(catalog.vocab().size());
  const int nq = static_cast<int>(queries.size());
  std::vector<uint32_t> item_of_rank(n);
  for (std::size_t i = 0; i < n; ++i)
    item_of_rank[catalog.tie_rank()[i]] = static_cast<uint32_t>(i);
  std::vector<TermId> ids(static_cast<std::size_t>(nq) * length);
  std::vector<int64_t> offsets(nq + 1, 0);
  std::vector<TermId> credit_terms;
  std::vector<int32_t> credit_units;
  for (int q = 0; q < nq; ++q) {
    std::copy(queries[q].ids, queries[q].ids + length, ids.begin() + q * length);
    for (auto [t, u] : queries[q].bag_credits) {
      credit_terms.push_back(t);
      credit_units.push_back(u);
    }
    offsets[q + 1] = static_cast<int64_t>(credit_terms.size());
  }
  credit_terms.push_back(0);  // never empty, like the device staging buffers
  credit_units.push_back(0);
  std::vector<int32_t> dense(static_cast<std::size_t>(nq) * std::max<uint32_t>(vocab, 1), 0);
  const bool bag = scorer.mode() == ScoreMode::kBag;
  const gc::PositionalLevels levels =
      gc::BuildPositionalLevels(bag ? std::vector<double>(length, 1.0) : scorer.weights());
  const gc::ScanPlan plan = gc::PlanScan(n, nq, num_sms);
  const int capacity = gc::CandidateCapacity(k);
  // Garbage in the workspace, as after an earlier batch: the kernels must not rely on zeros.
  std::vector<gc::QueryState> states(nq);
  for (auto& s : states) s = gc::QueryState{7, 3, 5, -2, 1, 99};
  std::vector<uint32_t> histogram(static_cast<std::size_t>(nq) * gc::kBuckets, 4242);
  std::vector<uint64_t> candidates(static_cast<std::size_t>(nq) * capacity, 31337);

  Output out;
  out.items.assign(static_cast<std::size_t>(nq) * k, 123456);
  out.scores.assign(out.items.size(), std::nan(""));
  out.counts.assign(nq, -7);
  gc::BatchArgs args;
  args.terms = catalog.terms().data();
  args.tie_rank = catalog.tie_rank().data();
  args.item_of_rank = item_of_rank.data();
  args.num_items = static_cast<uint32_t>(n);
  args.rank_bits = gc::RankBits(n);
  args.length = length;
  args.mode = scorer.mode();
  args.level_of_mask = levels.level_of_mask.data();
  args.level_score = levels.level_score.data();
  args.num_levels = static_cast<uint32_t>(levels.level_score.size() - 1);
  args.credit_offsets = offsets.data();
  args.credit_terms = credit_terms.data();
  args.credit_units = credit_units.data();
  args.dense_credit = dense.data();
  args.vocab_size = vocab;
  args.query_ids = ids.data();
  args.num_queries = nq;
  args.k = k;
  args.states = states.data();
  args.histogram = histogram.data();
  args.candidates = candidates.data();
  args.candidate_capacity = capacity;
  args.chunk_items = plan.chunk_items;
  args.num_chunks = plan.num_chunks;
  args.out_items = out.items.data();
  args.out_scores = out.scores.data();
  args.out_counts = out.counts.data();
  EmulatedLauncher launcher;
  CHECK_EQ(gc::RunBatch(args, launcher), cudaSuccess);
  for (const auto& s : states) {
    CHECK(s.refining == 0);              // the rounds settled every query
    CHECK(s.collected <= capacity - 1);  // and the collected lists fit
  }
  for (uint32_t v : histogram) CHECK_EQ(v, 0u);  // Resolve leaves the histograms clean
  if (bag) {
    for (int32_t v : dense) CHECK_EQ(v, 0);  // the table is clean for the next batch
  }
  return out;
}

// Runs one case both ways; returns the number of (query, item) results compared.
std::size_t Compare(const Case& c, ScoreMode mode, int k, int num_sms) {
  grlm::StructuralScorer scorer(c.catalog, mode, {});
  std::vector<grlm::PreparedQuery> prepared(c.queries.size());
  for (std::size_t q = 0; q < c.queries.size(); ++q) {
    std::vector<std::string> normalized;
    for (const auto& t : c.queries[q]) normalized.push_back(grlm::TermVocab::Normalize(t));
    std::vector<std::string_view> views(normalized.begin(), normalized.end());
    grlm::TermId ids[grlm::kMaxTermIdLength];
    c.catalog.EncodeQuery(views, ids);
    scorer.Prepare(views, ids, &prepared[q]);
  }
  const Output out = RunEmulated(c.catalog, scorer, prepared, k, num_sms);
  std::size_t compared = 0;
  for (std::size_t q = 0; q < prepared.size(); ++q) {
    const auto want = scorer.TopK(prepared[q], k);
    CHECK_EQ(out.counts[q], static_cast<int32_t>(want.size()));
    for (int i = 0; i < k; ++i) {
      const std::size_t slot = q * k + i;
      if (i < static_cast<int>(want.size())) {
        CHECK_EQ(out.items[slot], static_cast<int32_t>(want[i].item));
        CHECK_EQ(out.scores[slot], want[i].score);
        ++compared;
      } else {
        CHECK_EQ(out.items[slot], -1);
        CHECK_EQ(out.scores[slot], 0.0);
      }
    }
  }
  return compared;
}

}  // namespace

TEST_CASE("PlanCoversEveryItemOnce") {
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{255}, std::size_t{257},
                        std::size_t{1000003}, std::size_t{3000000000}}) {
    for (int q : {1, 64, 1000}) {
      for (int sms : {1, 132}) {
        const auto plan = gc::PlanScan(n, q, sms);
        CHECK(plan.chunk_items % gc::kScanThreads == 0);
        CHECK(plan.num_chunks >= 1);
        CHECK(plan.num_chunks <= 65535);
        CHECK(static_cast<std::size_t>(plan.num_chunks) * plan.chunk_items >= n);
        CHECK((n == 0 || static_cast<std::size_t>(plan.num_chunks - 1) * plan.chunk_items < n));
      }
    }
  }
}

TEST_CASE("PositionalLevelsOrderMaskScoresExactly") {
  // 0.5 + 0.25 == 0.75: masks {1, 2} and {3} share a level; mask 0 is level 0.
  const std::vector<double> weights = {1.0, 0.5, 0.25, 0.75};
  const auto levels = gc::BuildPositionalLevels(weights);
  CHECK_EQ(levels.level_of_mask.size(), 16u);
  CHECK_EQ(levels.level_of_mask[0], 0u);
  CHECK_EQ(levels.level_score[0], 0.0);
  CHECK_EQ(levels.level_of_mask[0b0110], levels.level_of_mask[0b1000]);
  for (uint32_t a = 0; a < 16; ++a) {
    TermId query[4] = {0, 1, 2, 3}, item[4];
    for (int j = 0; j < 4; ++j) item[j] = (a >> j & 1u) ? query[j] : grlm::kPadTerm;
    const double score = grlm::PositionalItemScore(item, query, weights.data(), 4);
    CHECK_EQ(levels.level_score[levels.level_of_mask[a]], score);
    for (uint32_t b = 0; b < 16; ++b) {
      for (int j = 0; j < 4; ++j) item[j] = (b >> j & 1u) ? query[j] : grlm::kPadTerm;
      const double other = grlm::PositionalItemScore(item, query, weights.data(), 4);
      CHECK_EQ(levels.level_of_mask[a] < levels.level_of_mask[b], score < other);
    }
  }
}

TEST_CASE("LastRoundBucketsFitTheTieCapacity") {
  for (uint64_t max_rank : {uint64_t{1}, uint64_t{31}, uint64_t{65535}, uint64_t{INT32_MAX}}) {
    for (int rank_bits : {0, 1, 7, 20, 31}) {
      int shift = gc::FirstShift(rank_bits + gc::BitLength(max_rank));
      const int rounds = gc::SelectionRounds(max_rank, rank_bits);
      for (int r = 1; r < rounds; ++r) {
        CHECK((uint64_t{1} << shift) > static_cast<uint64_t>(gc::kTieCapacity));  // still needed
        shift = shift > gc::kRadixBits ? shift - gc::kRadixBits : 0;
      }
      CHECK((uint64_t{1} << shift) <= static_cast<uint64_t>(gc::kTieCapacity));
    }
  }
  CHECK_EQ(gc::SelectionRounds(31, 20), 2);  // 1M items, L = 5 positional: shifts 17, 9
  CHECK_EQ(gc::RankBits(0), 0);
  CHECK_EQ(gc::RankBits(1), 0);
  CHECK_EQ(gc::RankBits(2), 1);
  CHECK_EQ(gc::RankBits(1000000), 20);
}

TEST_CASE("PositionalManyChunksAndGroups") {
  // 1000 items over 40 "SMs": several chunks per group; 40 queries: two groups, one partial.
  const Case c = RandomCase(1, 1000, 5, 30, 40);
  CHECK(Compare(c, ScoreMode::kPositional, 10, 40) > 0);
}

TEST_CASE("BagManyChunks") {
  const Case c = RandomCase(2, 1000, 5, 30, 12);
  CHECK(Compare(c, ScoreMode::kBag, 10, 40) > 0);
}

TEST_CASE("BagGroupWithMoreCreditsThanTheHashHolds") {
  // "w" is a substring of every "w<i>" term, so each query credits ~400 terms: the group's
  // credits overflow the hash and the block scores every query for items passing the filter.
  Case c = RandomCase(11, 2000, 5, 400, 33);
  for (auto& query : c.queries) query[0] = "w";
  grlm::StructuralScorer scorer(c.catalog, ScoreMode::kBag, {});
  std::size_t credits = 0;
  for (const auto& query : c.queries) {
    std::vector<std::string_view> views(query.begin(), query.end());
    grlm::TermId ids[grlm::kMaxTermIdLength];
    c.catalog.EncodeQuery(views, ids);
    grlm::PreparedQuery prepared;
    scorer.Prepare(views, ids, &prepared);
    credits += prepared.bag_credits.size();
  }
  CHECK(credits / c.queries.size() * gc::kGroupQueries > gc::kHashSlots / 2);
  CHECK(Compare(c, ScoreMode::kBag, 10, 3) > 0);
}

TEST_CASE("DenseScoresNeedSeveralRounds") {
  // A tiny vocabulary: nearly every item scores, so the k-th key's bucket is refined again.
  const Case c = RandomCase(4, 6000, 5, 2, 3);
  for (ScoreMode mode : {ScoreMode::kPositional, ScoreMode::kBag}) {
    CHECK(Compare(c, mode, 10, 1) > 0);
    CHECK(Compare(c, mode, 100, 3) > 0);
  }
}

TEST_CASE("LargeKAndFewerThanKResults") {
  const Case dense = RandomCase(5, 9000, 5, 1, 2);
  CHECK(Compare(dense, ScoreMode::kPositional, 1024, 1) > 0);
  const Case sparse = RandomCase(6, 3000, 5, 300, 2);  // fewer than k items score
  CHECK(Compare(sparse, ScoreMode::kBag, 1024, 1) > 0);
}

TEST_CASE("KOneManyQueryGroups") {
  const Case c = RandomCase(7, 700, 8, 20, 70);
  CHECK(Compare(c, ScoreMode::kPositional, 1, 2) > 0);
  CHECK(Compare(c, ScoreMode::kBag, 1, 2) > 0);
}

TEST_CASE("AllScoresEqualTiesByPriorThenIndex") {
  const Case c = RandomCase(8, 3000, 3, 10, 1, /*all_equal=*/true);
  CHECK(Compare(c, ScoreMode::kPositional, 37, 1) > 0);
  CHECK(Compare(c, ScoreMode::kBag, 300, 1) > 0);
}

TEST_CASE("PriorsDecideTiesAcrossChunks") {
  // Equal scores everywhere; priors put items 0, 1, 2 first (10, 9, 7) and item 2900, in the
  // last chunk, between them (8).
  const Case base = RandomCase(10, 3072, 2, 10, 0, /*all_equal=*/true);
  Case c{base.catalog, {{"same0", "same1"}}};
  std::vector<double> priors(3072, 0.0);
  priors[0] = 10;
  priors[1] = 9;
  priors[2] = 7;
  priors[2900] = 8;
  c.catalog.SetPriors(priors);
  CHECK_EQ(Compare(c, ScoreMode::kPositional, 3, 4), 3u);
}

TEST_CASE("SingleItemSingleTerm") {
  const Case c = RandomCase(9, 1, 1, 3, 5);
  Compare(c, ScoreMode::kPositional, 5, 1);
  Compare(c, ScoreMode::kBag, 5, 1);
}

TEST_CASE("NoItems") {
  Case c{grlm::Catalog(3), {{"a", "b", "c"}}};
  c.catalog.SetPriors({});
  CHECK_EQ(Compare(c, ScoreMode::kPositional, 4, 2), 0u);
  CHECK_EQ(Compare(c, ScoreMode::kBag, 4, 2), 0u);
}

TEST_CASE("BagItemsHoldingATermSeveralTimes") {
  // Credited once per occurrence (the official rule): an item of one term repeated L times
  // scores L times that term's credit, above the sum of the query's credits, so the kernel's key
  // range must reach past that sum. Items 0..3 hold "mask" 4, 3, 2 and 1 times.
  Case c{grlm::Catalog(5), {{"mask"}, {"mask", "hair-mask"}, {"hair", "mask", "mask", "x"}}};
  c.catalog.AddItem("m4", {"mask", "mask", "mask", "mask"});
  c.catalog.AddItem("m3", {"mask", "serum", "mask", "mask"});
  c.catalog.AddItem("m2", {"hair-mask", "mask", "mask"});
  c.catalog.AddItem("m1", {"hair", "mask", "gel", "oil"});
  for (int i = 0; i < 300; ++i) c.catalog.AddItem("f" + std::to_string(i), {"oil", "gel"});
  c.catalog.SetPriors(std::vector<double>(c.catalog.size(), 0.0));
  CHECK(Compare(c, ScoreMode::kBag, 4, 2) > 0);
  grlm::StructuralScorer scorer(c.catalog, ScoreMode::kBag, {});
  std::vector<std::string_view> query = {"mask"};
  grlm::TermId ids[grlm::kMaxTermIdLength];
  c.catalog.EncodeQuery(query, ids);
  grlm::PreparedQuery prepared;
  scorer.Prepare(query, ids, &prepared);
  const auto top = scorer.TopK(prepared, 4);
  CHECK_EQ(top.size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) CHECK_EQ(top[i].item, i);
  CHECK_EQ(top[0].score, 4.0);
}
