// TokenTrie against a brute-force reference (a list of live sequences) on random catalogs with
// collisions, prefixes, removals and additions after a bulk build.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "grlm/error.h"
#include "grlm/token_trie.h"

constexpr int32_t kEnd = 2;
using Seq = std::vector<int32_t>;

Seq RandomSeq(std::mt19937& rng) {
  // Few distinct tokens and short lengths force shared prefixes, prefixes of others, collisions.
  std::uniform_int_distribution<int> len(0, 3);
  std::uniform_int_distribution<int> tok(3, 6);
  Seq s(len(rng));
  for (auto& t : s) t = tok(rng);
  s.push_back(kEnd);
  return s;
}

// Checks every trie query and the exported arrays against the live sequences.
void CheckAgainstReference(grlm::TokenTrie& trie, const std::map<int64_t, Seq>& live) {
  CHECK(trie.num_items() == live.size());
  // Reference: allowed next tokens and items at the end of each prefix.
  std::map<Seq, std::set<int32_t>> allowed;
  std::map<Seq, std::vector<int64_t>> items_at;
  for (const auto& [item, seq] : live) {
    for (std::size_t i = 0; i < seq.size(); ++i) {
      allowed[Seq(seq.begin(), seq.begin() + i)].insert(seq[i]);
    }
    items_at[seq].push_back(item);
  }
  for (const auto& [prefix, tokens] : allowed) {
    const int32_t node = trie.Walk(prefix.data(), prefix.size());
    CHECK(node != grlm::TokenTrie::kNone);
    if (node == grlm::TokenTrie::kNone) continue;
    auto got = trie.AllowedTokens(node);
    CHECK(got == std::vector<int32_t>(tokens.begin(), tokens.end()));
  }
  for (auto& [seq, items] : items_at) {
    const int32_t node = trie.Walk(seq.data(), seq.size());
    CHECK(node != grlm::TokenTrie::kNone);
    if (node == grlm::TokenTrie::kNone) continue;
    std::sort(items.begin(), items.end());
    CHECK(trie.ItemsAt(node) == items);
    CHECK(trie.AllowedTokens(node).empty());
    for (int64_t item : items) {
      CHECK(trie.Sequence(item) == seq);
      const auto path = trie.PathNodes(item);
      CHECK(path.size() == seq.size() + 1);
      CHECK(path.front() == 0);
      CHECK(path.back() == node);
    }
  }
  // Sequences are at most 4 tokens long: a 5-token prefix is always dead.
  Seq dead = {6, 6, 6, 6, 6};
  CHECK(trie.Walk(dead.data(), dead.size()) == grlm::TokenTrie::kNone);

  // Exported arrays: following live edges from the root enumerates exactly the live sequences.
  const auto a = trie.Export();
  CHECK(a.row_ptr.size() == trie.num_nodes() + 1);
  CHECK(a.child_token.size() == a.child_node.size());
  std::map<int64_t, Seq> found;
  std::vector<std::pair<int32_t, Seq>> stack = {{0, {}}};
  while (!stack.empty()) {
    auto [node, prefix] = stack.back();
    stack.pop_back();
    for (int32_t i = a.item_ptr[node]; i < a.item_ptr[node + 1]; ++i) found[a.items[i]] = prefix;
    for (int32_t e = a.row_ptr[node]; e < a.row_ptr[node + 1]; ++e) {
      if (e > a.row_ptr[node]) CHECK(a.child_token[e - 1] < a.child_token[e]);
      if (a.live[a.child_node[e]] == 0) continue;
      Seq next = prefix;
      next.push_back(a.child_token[e]);
      stack.push_back({a.child_node[e], next});
    }
  }
  CHECK(found == live);
  CHECK(a.live[0] == int32_t(live.size()));
}

void RandomCatalog(unsigned seed) {
  std::mt19937 rng(seed);
  grlm::TokenTrie trie(kEnd);
  std::map<int64_t, Seq> live;
  // Bulk build.
  const int n = 1 + int(rng() % 40);
  std::vector<int64_t> items;
  std::vector<int32_t> tokens;
  std::vector<int64_t> offsets = {0};
  for (int i = 0; i < n; ++i) {
    Seq s = RandomSeq(rng);
    items.push_back(i * 3);  // sparse ids
    tokens.insert(tokens.end(), s.begin(), s.end());
    offsets.push_back(int64_t(tokens.size()));
    live[i * 3] = s;
  }
  trie.AddBatch(items.data(), tokens.data(), offsets.data(), items.size());
  CheckAgainstReference(trie, live);
  // Interleaved removals and additions, checked after each.
  int64_t next_item = 1000;
  for (int round = 0; round < 30; ++round) {
    if (!live.empty() && rng() % 2 == 0) {
      auto it = live.begin();
      std::advance(it, rng() % live.size());
      CHECK(trie.Remove(it->first));
      CHECK(!trie.Remove(it->first));
      CHECK(!trie.Contains(it->first));
      live.erase(it);
    } else {
      Seq s = RandomSeq(rng);
      const uint64_t version = trie.structure_version();
      const bool new_path = trie.Walk(s.data(), s.size()) == grlm::TokenTrie::kNone;
      trie.Add(next_item, s.data(), s.size());
      live[next_item++] = s;
      if (!new_path) CHECK(trie.structure_version() == version);
    }
    CheckAgainstReference(trie, live);
  }
}

TEST_CASE("RandomCatalogsWithRemovalsAndAdditions") {
  for (unsigned seed = 0; seed < 200; ++seed) RandomCatalog(seed);
}

TEST_CASE("ErrorsAndEmptyTrie") {
  grlm::TokenTrie trie(kEnd);
  Seq good = {5, kEnd};
  Seq no_end = {5, 6};
  Seq inner_end = {5, kEnd, 6, kEnd};
  Seq negative = {-4, kEnd};
  CHECK_THROWS_AS(trie.Add(0, no_end.data(), no_end.size()), grlm::InvalidArgument);
  CHECK_THROWS_AS(trie.Add(0, inner_end.data(), inner_end.size()), grlm::InvalidArgument);
  CHECK_THROWS_AS(trie.Add(0, negative.data(), negative.size()), grlm::InvalidArgument);
  CHECK_THROWS_AS(trie.Add(0, good.data(), 0), grlm::InvalidArgument);
  CHECK_THROWS_AS(trie.Add(-1, good.data(), good.size()), grlm::InvalidArgument);
  trie.Add(0, good.data(), good.size());
  CHECK_THROWS_AS(trie.Add(0, good.data(), good.size()), grlm::InvalidArgument);
  int64_t items[2] = {1, 1};
  int32_t tokens[4] = {5, kEnd, 6, kEnd};
  int64_t offsets[3] = {0, 2, 4};
  CHECK_THROWS_AS(trie.AddBatch(items, tokens, offsets, 2), grlm::InvalidArgument);
  CHECK(trie.num_items() == 1);  // nothing added by the failed batch
  CHECK_THROWS_AS(grlm::TokenTrie bad(-1), grlm::InvalidArgument);
  CHECK_THROWS_AS(trie.AllowedTokens(99), grlm::InvalidArgument);
  // Removing the last item empties the root.
  CHECK(trie.Remove(0));
  CHECK(trie.AllowedTokens(0).empty());
  CHECK(trie.Walk(good.data(), 1) == grlm::TokenTrie::kNone);
}

// Readers walk stable items while a writer adds, removes and exports others: every reader sees
// a complete snapshot, so a stable item is always found (run under TSan by sanitize.sh).
TEST_CASE("ReadersAlongsideAWriter") {
  grlm::TokenTrie trie(kEnd);
  constexpr int kStable = 500;
  std::vector<int64_t> items;
  std::vector<int32_t> tokens;
  std::vector<int64_t> offsets = {0};
  for (int i = 0; i < kStable; ++i) {
    items.push_back(i);
    tokens.insert(tokens.end(), {3 + i % 4, 100 + i, kEnd});
    offsets.push_back(int64_t(tokens.size()));
  }
  trie.AddBatch(items.data(), tokens.data(), offsets.data(), items.size());
  std::atomic<bool> stop = false;
  std::atomic<int> wrong = 0;
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      for (int i = r; !stop; i = (i + 7) % kStable) {
        const int32_t* seq = tokens.data() + 3 * i;
        const int32_t node = trie.Walk(seq, 3);
        if (node == grlm::TokenTrie::kNone) {
          ++wrong;
          continue;
        }
        const auto at = trie.ItemsAt(node);
        if (std::find(at.begin(), at.end(), i) == at.end()) ++wrong;
        if (trie.AllowedTokens(trie.Walk(seq, 1)).empty()) ++wrong;
      }
    });
  }
  for (int n = 0; n < 300; ++n) {
    const int32_t seq[] = {7, 100000 + n, kEnd};
    trie.Add(kStable + n, seq, 3);
    if (n % 3 == 0) trie.Export();
    if (n > 0) CHECK(trie.Remove(kStable + n - 1));
  }
  stop = true;
  for (auto& t : readers) t.join();
  CHECK_EQ(wrong.load(), 0);
  CHECK_EQ(trie.num_items(), std::size_t(kStable + 1));
}
