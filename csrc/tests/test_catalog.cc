#include <doctest/doctest.h>

#include "grlm/catalog.h"
#include "grlm/error.h"

using grlm::Catalog;

TEST_CASE("PadsShortTermIds") {
  Catalog c(3);
  c.AddItem("a", {"x", "y"});
  CHECK_EQ(c.ItemTerms(0)[2], grlm::kPadTerm);
  CHECK_EQ(c.FindItem("a"), 0);
  CHECK_EQ(c.FindItem("b"), -1);
}

TEST_CASE("RejectsBadItems") {
  Catalog c(2);
  c.AddItem("a", {"x"});
  CHECK_THROWS_AS(c.AddItem("a", {"y"}), grlm::InvalidArgument);
  CHECK_THROWS_AS(c.AddItem("b", {}), grlm::InvalidArgument);
  CHECK_THROWS_AS(c.AddItem("b", {"x", "y", "z"}), grlm::InvalidArgument);
  CHECK_THROWS_AS(c.AddItem("b", {"x", " "}), grlm::InvalidArgument);
  CHECK_THROWS_AS(Catalog(0), grlm::InvalidArgument);
  CHECK_THROWS_AS(Catalog(17), grlm::InvalidArgument);
}

TEST_CASE("TieRankFollowsPriorThenIndex") {
  Catalog c(1);
  c.AddItem("a", {"x"});
  c.AddItem("b", {"x"});
  c.AddItem("c", {"x"});
  CHECK(c.tie_rank() == (std::vector<uint32_t>{0, 1, 2}));
  c.SetPriors({1.0, 5.0, 1.0});
  CHECK(c.tie_rank() == (std::vector<uint32_t>{1, 0, 2}));
  CHECK_THROWS_AS(c.SetPriors({1.0}), grlm::InvalidArgument);
}

TEST_CASE("EncodesQueries") {
  Catalog c(3);
  c.AddItem("a", {"x", "y", "z"});
  grlm::TermId ids[3];
  c.EncodeQuery({"X", "w"}, ids);
  CHECK_EQ(ids[0], 0u);
  CHECK_EQ(ids[1], grlm::kUnknownTerm);
  CHECK_EQ(ids[2], grlm::kPadTerm);
  CHECK_THROWS_AS(c.EncodeQuery({}, ids), grlm::InvalidArgument);
  CHECK_THROWS_AS(c.EncodeQuery({"a", "b", "c", "d"}, ids), grlm::InvalidArgument);
}
