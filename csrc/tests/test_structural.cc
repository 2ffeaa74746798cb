#include "check.h"
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

TEST(PositionalScoresWeightedMatches) {
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

TEST(BagCreditsSubstringsOncePerItemTerm) {
  grlm::Catalog c(2);
  c.AddItem("a", {"hair-mask", "hair-mask"});
  c.AddItem("b", {"mask", "serum"});
  grlm::StructuralScorer s(c, grlm::ScoreMode::kBag, {});
  auto top = s.TopK(Prepare(s, c, {"hair-mask", "serum"}), 5);
  CHECK_EQ(top.size(), 2u);
  CHECK_EQ(top[0].item, 1u);  // 0.8 * 1 + 1.0 * 0.5 = 1.3 beats 1.0 (duplicate counted once)
  CHECK_EQ(top[0].score, (4 * 720720 + 5 * 360360) / grlm::kBagUnitsPerPoint);
  CHECK_EQ(top[1].score, 1.0);
}

TEST(ScoreMatchesTheSharedItemFunction) {
  grlm::Catalog c(3);
  c.AddItem("a", {"x", "y", "z"});
  c.AddItem("b", {"y", "x"});
  grlm::StructuralScorer s(c, grlm::ScoreMode::kPositional, {0.7, 0.2, 0.1});
  auto q = Prepare(s, c, {"y", "x", "z"});
  for (auto scored : s.TopK(q, 5)) {
    CHECK_EQ(scored.score, grlm::PositionalItemScore(c.ItemTerms(scored.item), q.ids, s.weights().data(), 3));
    CHECK_EQ(scored.score, s.Score(q, scored.item));
  }
}
