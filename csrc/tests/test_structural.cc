#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "grlm/catalog.h"
#include "grlm/item_score.h"
#include "grlm/structural.h"

namespace {
grlm::PreparedQuery Prepare(const grlm::StructuralScorer& s, const grlm::Catalog& c,
                            std::vector<std::string_view> terms) {  // NOLINT
  grlm::TermId ids[grlm::kMaxTermIdLength];
  c.EncodeQuery(terms, ids);
  grlm::PreparedQuery q;
  s.Prepare(terms, ids, &q);
  return q;
}
}  // namespace

TEST_CASE("PositionalScoresWeightedMatches") {
  grlm::Catalog c(3);
  c.AddItem("a", {"x", "y", "z"});
  c.AddItem("b", {"x", "q", "z"});
  c.AddItem("c", {"w", "y", "x"});
  grlm::StructuralScorer s(c, grlm::ScoreMode::kPositional, {});
  auto top = s.TopK(Prepare(s, c, {"x", "y", "r"}), 10);
  CHECK_EQ(top.size(), 3u);
  CHECK_EQ(top[0].item, 0u);
  CHECK_EQ(top[0].score, 1.0 + 0.5);
  CHECK_EQ(top[1].item, 1u);  // 1.0 beats c's 0.5
  CHECK_EQ(top[2].item, 2u);
  CHECK_EQ(s.TopK(Prepare(s, c, {"x", "y", "r"}), 1).size(), 1u);
  CHECK(s.TopK(Prepare(s, c, {"nothing"}), 5).empty());
}

// The official GRLM code indexes a Term ID under each term once per occurrence, so an item
// holding a term twice is credited twice (before issue 15: once).
TEST_CASE("BagCreditsEveryOccurrenceOfAnItemTerm") {
  grlm::Catalog c(2);
  c.AddItem("a", {"hair-mask", "hair-mask"});
  c.AddItem("b", {"mask", "serum"});
  grlm::StructuralScorer s(c, grlm::ScoreMode::kBag, {});
  const auto q = Prepare(s, c, {"hair-mask", "serum"});
  auto top = s.TopK(q, 5);
  CHECK_EQ(top.size(), 2u);
  CHECK_EQ(top[0].item, 0u);  // 1.0 * 1, twice = 2.0 beats 0.8 * 1 + 1.0 * 0.5 = 1.3
  CHECK_EQ(top[0].score, 2.0);
  CHECK_EQ(top[1].item, 1u);
  CHECK_EQ(top[1].score, (4 * 720720 + 5 * 360360) / grlm::kBagUnitsPerPoint);
  CHECK_EQ(s.Score(q, 0), 2.0);
  // A substring credit is taken once per occurrence too: "mask" is in "hair-mask" (0.8 each).
  auto partial = s.TopK(Prepare(s, c, {"mask"}), 5);
  CHECK_EQ(partial.size(), 2u);
  CHECK_EQ(partial[0].item, 0u);
  CHECK_EQ(partial[0].score, 2 * 4 * 720720 / grlm::kBagUnitsPerPoint);
  CHECK_EQ(partial[1].score, 1.0);
}

TEST_CASE("ScoreMatchesTheSharedItemFunction") {
  grlm::Catalog c(3);
  c.AddItem("a", {"x", "y", "z"});
  c.AddItem("b", {"y", "x"});
  grlm::StructuralScorer s(c, grlm::ScoreMode::kPositional, {0.7, 0.2, 0.1});
  auto q = Prepare(s, c, {"y", "x", "z"});
  for (auto scored : s.TopK(q, 5)) {
    CHECK_EQ(scored.score,
             grlm::PositionalItemScore(c.ItemTerms(scored.item), q.ids, s.weights().data(), 3));
    CHECK_EQ(scored.score, s.Score(q, scored.item));
  }
}

// Bag-mode top-k against a brute force over every item, on catalogs with few terms (many equal
// scores, decided by priors), substring credits, repeated item terms and every k.
TEST_CASE("BagTopKEqualsBruteForceWithTies") {
  std::mt19937 rng(7);
  const std::vector<std::string> words = {"hair", "hair-mask", "mask",  "serum",      "se",
                                          "oil",  "face-oil",  "cream", "hand-cream", "gel"};
  for (int round = 0; round < 40; ++round) {
    const int length = 1 + static_cast<int>(rng() % 5);
    grlm::Catalog c(length);
    const int n = 1 + static_cast<int>(rng() % 300);
    const int vocab = 1 + static_cast<int>(rng() % words.size());
    for (int i = 0; i < n; ++i) {
      std::vector<std::string_view> terms;
      for (int j = 0; j < length; ++j) terms.push_back(words[rng() % vocab]);
      c.AddItem("i" + std::to_string(i), terms);
    }
    std::vector<double> priors(n);
    for (auto& p : priors) p = static_cast<double>(rng() % 3);
    c.SetPriors(priors);
    grlm::StructuralScorer s(c, grlm::ScoreMode::kBag, {});
    std::vector<std::string_view> query;
    for (int j = 0; j < length; ++j) query.push_back(words[rng() % words.size()]);
    const auto q = Prepare(s, c, query);
    std::vector<grlm::ScoredItem> all;
    for (uint32_t i = 0; i < static_cast<uint32_t>(n); ++i) {
      if (s.Score(q, i) > 0) all.push_back({i, s.Score(q, i)});
    }
    const auto& rank = c.tie_rank();
    std::sort(all.begin(), all.end(), [&](const auto& a, const auto& b) {
      return grlm::RanksBefore(a.score, rank[a.item], b.score, rank[b.item]);
    });
    for (int k : {1, 2, 3, 7, 50, 400}) {
      const auto top = s.TopK(q, k);
      CHECK_EQ(top.size(), std::min<std::size_t>(k, all.size()));
      for (std::size_t i = 0; i < top.size(); ++i) {
        CHECK_EQ(top[i].item, all[i].item);
        CHECK_EQ(top[i].score, all[i].score);
      }
    }
  }
}

// Dynamic pruning (src/max_score.h) against a brute force over every item, in both modes, on
// catalogs where a set of lists' bound often equals the k-th score: few terms, long lists,
// equal or rounding position weights (0.1 each), priors with few values or none. Small catalogs
// are added up without pruning by default: prune_above_items 0 prunes them.
TEST_CASE("PrunedTopKEqualsBruteForceAtTheKthScore") {
  std::mt19937 rng(21);
  const std::vector<std::string> words = {"a", "ab", "abc", "b", "bc", "hair", "hair-mask", "mask"};
  for (int round = 0; round < 200; ++round) {
    const int length = 1 + static_cast<int>(rng() % 5);
    grlm::Catalog c(length);
    const int n = 1 + static_cast<int>(rng() % 2000);
    const int vocab = 1 + static_cast<int>(rng() % words.size());
    for (int i = 0; i < n; ++i) {
      std::vector<std::string_view> terms;
      const int size = 1 + static_cast<int>(rng() % length);
      for (int j = 0; j < size; ++j) terms.push_back(words[rng() % vocab]);
      c.AddItem("i" + std::to_string(i), terms);
    }
    if (rng() % 2) {
      std::vector<double> priors(n);
      for (auto& p : priors) p = static_cast<double>(rng() % 3);
      c.SetPriors(priors);
    }
    const auto mode = rng() % 2 ? grlm::ScoreMode::kBag : grlm::ScoreMode::kPositional;
    std::vector<double> weights;  // default 1 / (j + 1)
    if (rng() % 3 == 1) weights.assign(length, 1.0);
    if (rng() % 3 == 2) weights.assign(length, 0.1);
    grlm::StructuralScorer s(c, mode,
                             mode == grlm::ScoreMode::kBag ? std::vector<double>{} : weights,
                             grlm::ScorerOptions{.prune_above_items = 0});
    std::vector<std::string_view> query;
    for (int j = 0; j < length; ++j) query.push_back(words[rng() % words.size()]);
    const auto q = Prepare(s, c, query);
    std::vector<grlm::ScoredItem> all;
    for (uint32_t i = 0; i < static_cast<uint32_t>(n); ++i) {
      if (s.Score(q, i) > 0) all.push_back({i, s.Score(q, i)});
    }
    const auto& rank = c.tie_rank();
    std::sort(all.begin(), all.end(), [&](const auto& a, const auto& b) {
      return grlm::RanksBefore(a.score, rank[a.item], b.score, rank[b.item]);
    });
    for (int k : {1, 2, 5, 10, 100, 5000}) {
      const auto top = s.TopK(q, k);
      REQUIRE_EQ(top.size(), std::min<std::size_t>(k, all.size()));
      for (std::size_t i = 0; i < top.size(); ++i) {
        CHECK_EQ(top[i].item, all[i].item);
        CHECK_EQ(top[i].score, all[i].score);
      }
    }
  }
}
