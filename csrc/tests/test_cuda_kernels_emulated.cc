// The CUDA kernels' own source (kernels/cuda/structural_device.cuh), compiled for the host against
// kernel_emulation/cuda_runtime.h and run block by block on CPU threads, against the CPU core's
// StructuralScorer. Runs everywhere (no GPU, no nvcc needed), so the selection, bitonic sorting,
// multi-level merging and finalization logic is checked in CI; the GPU tests then only have to
// confirm the same on a device.
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "check.h"
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

template <int kLength, ScoreMode kMode>
void LaunchSelect(const gc::SelectArgs& args, int64_t groups) {
  emu::Launch(emu::Dim3{static_cast<unsigned>(groups), static_cast<unsigned>(args.num_chunks), 1},
              gc::kSelectThreads, gc::SelectSharedBytes(args.queries_per_block, args.buffer_size),
              [&] { gc::device::ScoreSelectKernel<kLength, kMode>(args); });
}

template <int kLength>
void LaunchSelectMode(const gc::SelectArgs& args, int64_t groups) {
  if (args.mode == ScoreMode::kPositional) {
    LaunchSelect<kLength, ScoreMode::kPositional>(args, groups);
  } else {
    LaunchSelect<kLength, ScoreMode::kBag>(args, groups);
  }
}

// The launch sequence of CudaStructuralScorer::Impl::Run, on emulated kernels.
Output RunEmulated(const grlm::Catalog& catalog, const grlm::StructuralScorer& scorer,
                   const std::vector<grlm::PreparedQuery>& queries, int k, int num_sms) {
  const int length = catalog.term_id_length();
  const std::size_t n = catalog.size();
  const uint32_t vocab = static_cast<uint32_t>(catalog.vocab().size());
  const int nq = static_cast<int>(queries.size());
  std::vector<uint32_t> item_of_rank(n);
  for (std::size_t i = 0; i < n; ++i) item_of_rank[catalog.tie_rank()[i]] = static_cast<uint32_t>(i);
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
  if (bag) {
    emu::Launch(emu::Dim3{static_cast<unsigned>(nq), 1, 1}, 128, 0, [&] {
      gc::device::ScatterCreditsKernel(offsets.data(), credit_terms.data(), credit_units.data(), nq,
                                       dense.data(), vocab, false);
    });
  }
  const gc::SelectPlan plan = gc::PlanSelect(n, nq, k, num_sms, 228 * 1024, 64 * 1024);
  const int64_t chunks = plan.num_chunks;
  std::vector<double> score[2];
  std::vector<uint32_t> rank[2];
  score[0].assign(static_cast<std::size_t>(nq) * chunks * k, std::nan(""));
  rank[0].assign(score[0].size(), 777);
  score[1].assign(score[0].size(), std::nan(""));
  rank[1].assign(score[0].size(), 777);

  gc::SelectArgs args;
  args.terms = catalog.terms().data();
  args.tie_rank = catalog.tie_rank().data();
  args.num_items = static_cast<uint32_t>(n);
  args.length = length;
  args.mode = scorer.mode();
  args.query_ids = ids.data();
  args.num_queries = nq;
  args.weights = scorer.weights().data();
  args.dense_credit = dense.data();
  args.vocab_size = vocab;
  args.credit_offsets = offsets.data();
  args.credit_terms = credit_terms.data();
  args.k = k;
  args.buffer_size = plan.buffer_size;
  args.queries_per_block = plan.queries_per_block;
  args.chunk_items = static_cast<uint32_t>(plan.chunk_items);
  args.num_chunks = static_cast<int>(chunks);
  args.out_score = score[0].data();
  args.out_rank = rank[0].data();
  const int64_t groups = (nq + plan.queries_per_block - 1) / plan.queries_per_block;
  switch (length) {
    case 1: LaunchSelectMode<1>(args, groups); break;
    case 2: LaunchSelectMode<2>(args, groups); break;
    case 3: LaunchSelectMode<3>(args, groups); break;
    case 5: LaunchSelectMode<5>(args, groups); break;
    case 8: LaunchSelectMode<8>(args, groups); break;
    default: throw std::runtime_error("length not instantiated in the emulation test");
  }
  int current = 0;
  for (int64_t lists = chunks; lists > 1; lists = (lists + gc::kMergeFanIn - 1) / gc::kMergeFanIn) {
    const int64_t out_groups = (lists + gc::kMergeFanIn - 1) / gc::kMergeFanIn;
    const double* in_s = score[current].data();
    const uint32_t* in_r = rank[current].data();
    double* out_s = score[1 - current].data();
    uint32_t* out_r = rank[1 - current].data();
    emu::Launch(emu::Dim3{static_cast<unsigned>(out_groups), static_cast<unsigned>(nq), 1},
                gc::kMergeThreads, 0, [&] {
                  gc::device::MergeTopKKernel(in_s, in_r, static_cast<int>(lists), k, out_s, out_r);
                });
    current = 1 - current;
  }
  Output out;
  out.items.assign(static_cast<std::size_t>(nq) * k, 123456);
  out.scores.assign(out.items.size(), std::nan(""));
  out.counts.assign(nq, -7);
  emu::Launch(emu::Dim3{static_cast<unsigned>(nq), 1, 1}, 256, 0, [&] {
    gc::device::FinalizeKernel(score[current].data(), rank[current].data(), k,
                               item_of_rank.data(), out.items.data(), out.scores.data(),
                               out.counts.data());
  });
  if (bag) {
    emu::Launch(emu::Dim3{static_cast<unsigned>(nq), 1, 1}, 128, 0, [&] {
      gc::device::ScatterCreditsKernel(offsets.data(), credit_terms.data(), credit_units.data(), nq,
                                       dense.data(), vocab, true);
    });
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

TEST(PlanCoversEveryItemOnce) {
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{255}, std::size_t{257},
                        std::size_t{1000003}}) {
    for (int64_t q : {1, 64, 1000}) {
      for (int k : {1, 10, 1024}) {
        const auto plan = gc::PlanSelect(n, q, k, 132, 228 * 1024, 64 * 1024);
        CHECK(plan.buffer_size >= k + gc::kSelectThreads);
        CHECK((plan.buffer_size & (plan.buffer_size - 1)) == 0);
        CHECK(gc::SelectSharedBytes(plan.queries_per_block, plan.buffer_size) <= 64 * 1024);
        CHECK(plan.chunk_items % gc::kSelectThreads == 0);
        CHECK(plan.num_chunks >= 1 && plan.num_chunks <= 65535);
        CHECK(static_cast<std::size_t>(plan.num_chunks * plan.chunk_items) >= n);
        CHECK(n == 0 || static_cast<std::size_t>((plan.num_chunks - 1) * plan.chunk_items) < n);
      }
    }
  }
}

TEST(PositionalManyChunksAndMergeLevels) {
  // 1000 items over 40 "SMs": one tile per chunk, 4 chunks per query group, 2 query groups.
  const Case c = RandomCase(1, 1000, 5, 30, 12);
  CHECK(Compare(c, ScoreMode::kPositional, 10, 40) > 0);
}

TEST(BagManyChunks) {
  const Case c = RandomCase(2, 1000, 5, 30, 12);
  CHECK(Compare(c, ScoreMode::kBag, 10, 40) > 0);
}

TEST(MoreThanSixteenChunksNeedTwoMergeLevels) {
  const Case c = RandomCase(3, 9000, 3, 200, 2);
  const auto plan = gc::PlanSelect(9000, 2, 7, 400, 228 * 1024, 64 * 1024);
  CHECK(plan.num_chunks > gc::kMergeFanIn);
  CHECK(Compare(c, ScoreMode::kPositional, 7, 400) > 0);
}

TEST(LongChunksSortMidwayAndFilterByThreshold) {
  // A tiny vocabulary: nearly every item scores, so the buffer overflows after the first tile,
  // is sorted, and later tiles only add items beating the k-th (score, then tie rank).
  const Case c = RandomCase(4, 6000, 5, 2, 2);
  const auto plan = gc::PlanSelect(6000, 2, 10, 1, 228 * 1024, 64 * 1024);
  CHECK(plan.chunk_items >= 3 * gc::kSelectThreads);
  for (ScoreMode mode : {ScoreMode::kPositional, ScoreMode::kBag}) {
    CHECK(Compare(c, mode, 10, 1) > 0);
    CHECK(Compare(c, mode, 100, 1) > 0);
  }
}

TEST(LargeKSortsMidwayAndReturnsFewerThanK) {
  const Case dense = RandomCase(5, 9000, 5, 1, 2);
  const auto plan = gc::PlanSelect(9000, 2, 1024, 1, 228 * 1024, 64 * 1024);
  CHECK(plan.chunk_items >= 5 * gc::kSelectThreads);
  CHECK(Compare(dense, ScoreMode::kPositional, 1024, 1) > 0);
  const Case sparse = RandomCase(6, 3000, 5, 300, 2);  // fewer than k items score
  CHECK(Compare(sparse, ScoreMode::kBag, 1024, 1) > 0);
}

TEST(KOneManyQueryGroups) {
  const Case c = RandomCase(7, 700, 8, 20, 19);
  CHECK(Compare(c, ScoreMode::kPositional, 1, 2) > 0);
  CHECK(Compare(c, ScoreMode::kBag, 1, 2) > 0);
}

TEST(AllScoresEqualTiesByPriorThenIndex) {
  const Case c = RandomCase(8, 3000, 3, 10, 1, /*all_equal=*/true);
  CHECK(Compare(c, ScoreMode::kPositional, 37, 1) > 0);
  CHECK(Compare(c, ScoreMode::kBag, 300, 1) > 0);
}

TEST(ALaterTileReplacesOnlyTheKth) {
  // Equal scores everywhere; priors put items 0, 1, 2 first (10, 9, 7) and item 300, in the
  // second tile of the first chunk, between them (8): it must replace only the k-th.
  const Case base = RandomCase(10, 3072, 2, 10, 0, /*all_equal=*/true);
  Case c{base.catalog, {{"same0", "same1"}}};
  std::vector<double> priors(3072, 0.0);
  priors[0] = 10;
  priors[1] = 9;
  priors[2] = 7;
  priors[300] = 8;
  c.catalog.SetPriors(priors);
  const auto plan = gc::PlanSelect(3072, 1, 3, 1, 228 * 1024, 64 * 1024);
  CHECK(plan.chunk_items >= 512);
  CHECK_EQ(Compare(c, ScoreMode::kPositional, 3, 1), 3u);
}

TEST(SingleItemSingleTerm) {
  const Case c = RandomCase(9, 1, 1, 3, 5);
  Compare(c, ScoreMode::kPositional, 5, 1);
  Compare(c, ScoreMode::kBag, 5, 1);
}
