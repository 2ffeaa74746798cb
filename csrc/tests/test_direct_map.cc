#include "check.h"
#include "grlm/catalog.h"
#include "grlm/direct_map.h"

TEST(ReturnsEveryItemOfACollidingTermIdInTieOrder) {
  grlm::Catalog c(2);
  c.AddItem("a", {"x", "y"});
  c.AddItem("b", {"x", "z"});
  c.AddItem("c", {"x", "y"});
  c.SetPriors({1.0, 0.0, 2.0});
  grlm::DirectMap map(c);
  grlm::TermId q[2];
  c.EncodeQuery({"x", "y"}, q);
  auto hit = map.Find(q);
  CHECK_EQ(hit.size(), 2u);
  CHECK_EQ(hit[0], 2u);
  CHECK_EQ(hit[1], 0u);
  c.EncodeQuery({"x"}, q);
  CHECK(map.Find(q).empty());
  CHECK_EQ(map.num_groups(), 2u);
}
