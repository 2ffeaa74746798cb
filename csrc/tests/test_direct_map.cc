#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <random>
#include <string>
#include <vector>

#include "grlm/catalog.h"
#include "grlm/direct_map.h"

TEST_CASE("ReturnsEveryItemOfACollidingTermIdInTieOrder") {
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

TEST_CASE("FindsWhatAScanFindsAlsoInBatches") {
  // Random Term IDs over a small vocabulary (many collisions) and random queries, some of them
  // catalog Term IDs; Find and FindBatch (batches longer than its internal chunk) against a scan.
  std::mt19937 rng(3);
  grlm::Catalog c(3);
  for (int i = 0; i < 2000; ++i) {
    c.AddItem("i" + std::to_string(i),
              {"a" + std::to_string(rng() % 6), "b" + std::to_string(rng() % 6),
               "c" + std::to_string(rng() % 4)});
  }
  grlm::DirectMap map(c);
  std::vector<std::array<grlm::TermId, 3>> keys(300);
  for (std::size_t q = 0; q < keys.size(); ++q) {
    if (q % 2 == 0) {
      const grlm::TermId* item = c.ItemTerms(rng() % c.size());
      std::copy(item, item + 3, keys[q].begin());
    } else {
      for (auto& t : keys[q]) t = grlm::TermId(rng() % (c.vocab().size() + 2));  // unknown ids too
    }
  }
  int hits = 0;
  std::vector<const grlm::TermId*> queries;
  for (const auto& key : keys) queries.push_back(key.data());
  std::vector<std::span<const uint32_t>> batch(queries.size());
  map.FindBatch(queries, batch.data());
  for (std::size_t q = 0; q < keys.size(); ++q) {
    std::vector<uint32_t> scan;
    for (uint32_t i = 0; i < c.size(); ++i) {
      if (std::equal(keys[q].begin(), keys[q].end(), c.ItemTerms(i))) scan.push_back(i);
    }
    const auto found = map.Find(keys[q].data());
    CHECK((std::vector<uint32_t>(found.begin(), found.end()) == scan));  // no priors: index order
    CHECK((std::vector<uint32_t>(batch[q].begin(), batch[q].end()) == scan));
    hits += !scan.empty();
  }
  CHECK(hits >= 150);
}
