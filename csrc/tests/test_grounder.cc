#include "check.h"
#include "grlm/error.h"
#include "grlm/grounder.h"

TEST(DirectThenStructural) {
  grlm::Catalog c(2);
  c.AddItem("a", {"x", "y"});
  c.AddItem("b", {"x", "z"});
  grlm::Grounder g(std::move(c));
  auto direct = g.Ground({"X", "y"}, 5);
  CHECK(direct.hit == grlm::HitType::kDirect);
  CHECK(direct.items == std::vector<uint32_t>{0});
  auto structural = g.Ground({"x", "w"}, 5);
  CHECK(structural.hit == grlm::HitType::kStructural);
  CHECK_EQ(structural.items.size(), 2u);
  auto none = g.Ground({"q", "w"}, 5);
  CHECK(none.hit == grlm::HitType::kNone);
  CHECK_THROWS(g.Ground({"x"}, 0), grlm::InvalidArgument);
  CHECK_THROWS(g.Ground({}, 1), grlm::InvalidArgument);
}

TEST(BatchEqualsSingle) {
  grlm::Catalog c(2);
  for (int i = 0; i < 500; ++i) {
    c.AddItem("i" + std::to_string(i), {"t" + std::to_string(i % 37), "u" + std::to_string(i % 11)});
  }
  grlm::Grounder g(std::move(c));
  std::vector<std::string> storage;
  for (int i = 0; i < 300; ++i) storage.push_back("t" + std::to_string(i % 41));
  std::vector<std::vector<std::string_view>> terms;
  for (int i = 0; i < 300; ++i) terms.push_back({storage[i], "u3"});
  std::vector<std::span<const std::string_view>> queries(terms.begin(), terms.end());
  auto batch = g.GroundBatch(queries, 7, 2);
  for (int i = 0; i < 300; ++i) {
    auto single = g.Ground(queries[i], 7);
    CHECK(batch[i].items == single.items);
    CHECK(batch[i].scores == single.scores);
  }
}

TEST(RejectsEmptyCatalog) { CHECK_THROWS(grlm::Grounder(grlm::Catalog(5)), grlm::InvalidArgument); }
