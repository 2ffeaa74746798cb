#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "counting_backend.h"
#include "grlm/error.h"
#include "grlm/index_file.h"
#include "grlm/updatable_grounder.h"

namespace {

using Terms = std::vector<std::string>;

// The oracle: the catalog as an ordered list (dict semantics), grounded by a Grounder built from
// scratch.
struct Model {
  std::vector<std::pair<std::string, Terms>> items;
  std::vector<double> priors;
  bool has_priors = false;

  int Find(const std::string& id) const {
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (items[i].first == id) return int(i);
    }
    return -1;
  }
  grlm::Grounder Build(int length, grlm::ScoreMode mode) const {
    grlm::Catalog c(length);
    for (const auto& [id, terms] : items) {
      std::vector<std::string_view> views(terms.begin(), terms.end());
      c.AddItem(id, std::span<const std::string_view>(views));
    }
    if (has_priors) c.SetPriors(priors);
    return grlm::Grounder(std::move(c), mode);
  }
};

std::shared_ptr<const grlm::Grounder> Base(const Model& m, int length, grlm::ScoreMode mode) {
  return std::make_shared<const grlm::Grounder>(m.Build(length, mode));
}

Terms RandomTerms(std::mt19937& rng, int length) {
  // A tiny vocabulary with substrings of each other: ties, shared Term IDs and bag credits.
  static const char* kWords[] = {"a", "ab", "abc", "b", "bc", "c"};
  Terms terms(1 + rng() % length);
  for (auto& t : terms) t = kWords[rng() % 6];
  return terms;
}

bool SameAnswers(const grlm::UpdatableGrounder& live, const Model& m, int length,
                 grlm::ScoreMode mode, std::mt19937& rng) {
  const grlm::Grounder fresh = m.Build(length, mode);
  const auto snap = live.snapshot();
  if (snap->size() != m.items.size()) return false;
  const auto ids = snap->ItemIds();
  if (ids.size() != m.items.size()) return false;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] != m.items[i].first) return false;
  }
  for (std::size_t i = 0; i < m.items.size(); ++i) {
    if (snap->ItemIdAt(i) != m.items[i].first) return false;
    if (snap->FindItem(m.items[i].first) != int64_t(i)) return false;
  }
  std::vector<Terms> queries;
  for (int q = 0; q < 30; ++q) queries.push_back(RandomTerms(rng, length));
  queries.push_back({"zzz"});
  std::vector<std::vector<std::string_view>> views;
  for (const auto& q : queries) views.emplace_back(q.begin(), q.end());
  std::vector<std::span<const std::string_view>> spans(views.begin(), views.end());
  for (int k : {1, 2, 3, 7, 50}) {
    const auto batch = snap->GroundBatch(spans, k, 2);
    for (std::size_t q = 0; q < spans.size(); ++q) {
      const auto want = fresh.Ground(spans[q], k);
      const auto got = snap->Ground(spans[q], k);
      if (got.hit != want.hit || got.items != want.items || got.scores != want.scores) return false;
      if (batch[q].items != want.items || batch[q].hit != want.hit) return false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE("RandomChangesMatchAFreshGrounder") {
  for (auto mode : {grlm::ScoreMode::kPositional, grlm::ScoreMode::kBag}) {
    for (int seed = 0; seed < 12; ++seed) {
      std::mt19937 rng(seed);
      const int length = 3;
      Model m;
      m.has_priors = seed % 3 == 0;
      for (int i = 0; i < 12; ++i) {
        m.items.emplace_back("i" + std::to_string(i), RandomTerms(rng, length));
        m.priors.push_back(double(rng() % 3));
      }
      // Small thresholds compact often; a large one lets delta segments pile up and merge.
      const std::size_t threshold = seed % 3 == 1 ? 100000 : 1 + seed % 9;
      grlm::UpdatableGrounder live(Base(m, length, mode), threshold);
      int next_id = 100;
      std::size_t most_segments = 0;
      for (int step = 0; step < 60; ++step) {
        const int op = rng() % 6;
        if (op == 0 || op == 4) {
          std::vector<grlm::CatalogItem> items(1 + (op == 4 ? rng() % 4 : 0));
          for (auto& item : items) {
            item = {"n" + std::to_string(next_id++), RandomTerms(rng, length), {}};
            if (m.has_priors) item.prior = double(rng() % 3);
            m.items.emplace_back(item.id, item.terms);
            m.priors.push_back(item.prior.value_or(0.0));
          }
          live.AddItems(items);
        } else if (op == 1 && m.items.size() > 1) {
          const int i = int(rng() % m.items.size());
          const std::string id = m.items[i].first;
          live.RemoveItems({&id, 1});
          m.items.erase(m.items.begin() + i);
          m.priors.erase(m.priors.begin() + i);
        } else if (op == 2) {
          const int i = int(rng() % m.items.size());
          grlm::CatalogItem item{m.items[i].first, RandomTerms(rng, length), {}};
          live.UpdateItems({&item, 1});
          m.items[i].second = item.terms;
        } else if (op == 5) {
          // Upsert one present and one new item: a dict's assignment.
          const int i = int(rng() % m.items.size());
          std::vector<grlm::CatalogItem> items = {
              {m.items[i].first, RandomTerms(rng, length), {}},
              {"n" + std::to_string(next_id++), RandomTerms(rng, length), {}}};
          live.UpsertItems(items);
          m.items[i].second = items[0].terms;
          m.items.emplace_back(items[1].id, items[1].terms);
          m.priors.push_back(0.0);
        } else {
          live.Compact();
          CHECK(live.snapshot()->pristine());
        }
        most_segments = std::max(most_segments, live.snapshot()->num_delta_segments());
        CHECK(live.snapshot()->num_delta_segments() <= grlm::UpdatableGrounder::kMaxDeltaSegments);
        if (step % 3 == 0 || threshold < 100) CHECK(SameAnswers(live, m, length, mode, rng));
      }
      CHECK(SameAnswers(live, m, length, mode, rng));
      if (threshold == 100000) CHECK(most_segments >= 2);
    }
  }
}

TEST_CASE("ManyTombstonesInADeltaSegment") {
  // A delta segment whose first answer runs out of live items is asked again, as the base is.
  for (auto mode : {grlm::ScoreMode::kPositional, grlm::ScoreMode::kBag}) {
    std::mt19937 rng(11);
    Model m;
    for (int i = 0; i < 10; ++i) m.items.emplace_back("i" + std::to_string(i), RandomTerms(rng, 3));
    grlm::UpdatableGrounder live(Base(m, 3, mode), 100000);
    std::vector<grlm::CatalogItem> added;
    for (int i = 0; i < 150; ++i) {
      added.push_back({"n" + std::to_string(i), RandomTerms(rng, 3), {}});
      m.items.emplace_back(added.back().id, added.back().terms);
    }
    live.AddItems(added);
    for (int round = 0; round < 4; ++round) {
      std::vector<std::string> ids;
      for (int r = 0; r < 25; ++r) {
        const int i = 10 + int(rng() % (m.items.size() - 10));
        ids.push_back(m.items[i].first);
        m.items.erase(m.items.begin() + i);
      }
      live.RemoveItems(ids);
      CHECK_EQ(live.snapshot()->num_delta_segments(), 1u);
      CHECK(SameAnswers(live, m, 3, mode, rng));
    }
  }
}

TEST_CASE("ReaddingARemovedItemAppendsIt") {
  Model m;
  m.items = {{"a", {"x"}}, {"b", {"x"}}, {"c", {"x"}}};
  grlm::UpdatableGrounder live(Base(m, 1, grlm::ScoreMode::kPositional));
  const std::string a = "a";
  live.RemoveItems({&a, 1});
  grlm::CatalogItem again{"a", {"x"}, {}};
  live.AddItems({&again, 1});
  const auto r = live.Ground({"x"}, 5);
  CHECK(r.hit == grlm::HitType::kDirect);
  CHECK(r.items == (std::vector<uint32_t>{0, 1, 2}));
  CHECK_EQ(live.snapshot()->ItemIdAt(2), std::string("a"));
  // An updated item keeps its position.
  grlm::CatalogItem b{"b", {"y"}, {}};
  live.UpdateItems({&b, 1});
  CHECK_EQ(live.snapshot()->FindItem("b"), 0);
  CHECK(live.Ground({"y"}, 5).items == std::vector<uint32_t>{0});
}

TEST_CASE("BadChangesLeaveTheCatalogUnchanged") {
  Model m;
  m.items = {{"a", {"x", "y"}}, {"b", {"x", "z"}}};
  grlm::UpdatableGrounder live(Base(m, 2, grlm::ScoreMode::kPositional));
  const auto before = live.snapshot();
  std::vector<grlm::CatalogItem> adds = {{"c", {"q"}, {}}, {"a", {"x"}, {}}};
  CHECK_THROWS_AS(live.AddItems(adds), grlm::InvalidArgument);  // a exists
  adds = {{"c", {"q"}, {}}, {"c", {"r"}, {}}};
  CHECK_THROWS_AS(live.AddItems(adds), grlm::InvalidArgument);  // listed twice
  adds = {{"c", {"q"}, {}}, {"d", {"1", "2", "3"}, {}}};
  CHECK_THROWS_AS(live.AddItems(adds), grlm::InvalidArgument);  // longer than L
  adds = {{"c", {"q"}, {}}, {"d", {}, {}}};
  CHECK_THROWS_AS(live.AddItems(adds), grlm::InvalidArgument);  // empty Term ID
  adds = {{"c", {"q"}, {}}, {"d", {"  "}, {}}};
  CHECK_THROWS_AS(live.AddItems(adds), grlm::InvalidArgument);  // empty term
  adds = {{"c", {"q"}, std::numeric_limits<double>::infinity()}};
  CHECK_THROWS_AS(live.AddItems(adds), grlm::InvalidArgument);  // prior
  std::vector<std::string> removes = {"a", "nope"};
  CHECK_THROWS_AS(live.RemoveItems(removes), grlm::InvalidArgument);  // unknown
  removes = {"a", "b"};
  CHECK_THROWS_AS(live.RemoveItems(removes), grlm::InvalidArgument);  // would empty the catalog
  std::vector<grlm::CatalogItem> updates = {{"a", {"q"}, {}}, {"nope", {"q"}, {}}};
  CHECK_THROWS_AS(live.UpdateItems(updates), grlm::InvalidArgument);  // unknown
  CHECK(live.snapshot() == before);
  try {
    live.RemoveItems(std::vector<std::string>{"nope"});
  } catch (const grlm::InvalidArgument& e) {
    CHECK(std::string(e.what()).find("'nope'") != std::string::npos);
  }
}

TEST_CASE("SaveWritesTheCurrentCatalog") {
  Model m;
  m.items = {{"a", {"x", "y"}}, {"b", {"x", "z"}}};
  grlm::UpdatableGrounder live(Base(m, 2, grlm::ScoreMode::kBag));
  std::vector<grlm::CatalogItem> adds = {{"c", {"x", "w"}, 2.0}};
  live.AddItems(adds);
  live.RemoveItems(std::vector<std::string>{"a"});
  const std::string path = "test_updatable_grounder.idx";
  live.Save(path);
  const grlm::Grounder loaded = grlm::LoadIndex(path);
  std::remove(path.c_str());
  CHECK(loaded.catalog().item_ids() == (std::vector<std::string>{"b", "c"}));
  CHECK(loaded.catalog().priors() == (std::vector<double>{0.0, 2.0}));
  CHECK(loaded.mode() == grlm::ScoreMode::kBag);
  CHECK(loaded.Ground({"x"}, 2).items == live.Ground({"x"}, 2).items);
}

TEST_CASE("ReadersSeeWholeChangesWhileAWriterRuns") {
  // Each change swaps a pair of items' Term IDs in one call (remove both + add both): a reader
  // must always see exactly one item for "p" and one for "q", never zero or two.
  Model m;
  for (int i = 0; i < 200; ++i) m.items.push_back({"f" + std::to_string(i), {"filler", "t"}});
  m.items.push_back({"x", {"p"}});
  m.items.push_back({"y", {"q"}});
  grlm::UpdatableGrounder live(Base(m, 2, grlm::ScoreMode::kPositional), 16);
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::atomic<long> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      const std::string_view p[] = {"p"};
      const std::string_view q[] = {"q"};
      while (!stop.load()) {
        const auto snap = live.snapshot();
        const auto a = snap->Ground(p, 5);
        const auto b = snap->Ground(q, 5);
        if (a.items.size() != 1 || b.items.size() != 1 || a.items == b.items) ++bad;
        if (snap->ItemIdAt(a.items.at(0)) == snap->ItemIdAt(b.items.at(0))) ++bad;
        ++reads;
      }
    });
  }
  // At least 300 changes, and on until the readers have read alongside them (a busy machine may
  // start the readers late); bounded either way.
  for (int step = 0; step < 300 || (reads.load() < 200 && step < 100000); ++step) {
    const auto snap = live.snapshot();
    const std::string holder_p = snap->ItemIdAt(snap->Ground({"p"}, 1).items[0]);
    const std::string holder_q = snap->ItemIdAt(snap->Ground({"q"}, 1).items[0]);
    std::vector<grlm::CatalogItem> swap = {{holder_p, {"q"}, {}}, {holder_q, {"p"}, {}}};
    live.UpdateItems(swap);
    if (step % 50 == 0) live.Compact();
  }
  stop = true;
  for (auto& t : readers) t.join();
  CHECK_EQ(bad.load(), 0);
  CHECK(reads.load() > 0);
}

TEST_CASE("ManyTombstonesAskTheBaseAgain") {
  // More tombstones than the base's FirstK margin, most of them on the best answers: the first
  // base answer runs out of live items and the base is asked for k plus every tombstone.
  for (auto mode : {grlm::ScoreMode::kPositional, grlm::ScoreMode::kBag}) {
    std::mt19937 rng(7);
    Model m;
    for (int i = 0; i < 300; ++i) {
      m.items.emplace_back("i" + std::to_string(i), RandomTerms(rng, 3));
    }
    grlm::UpdatableGrounder live(Base(m, 3, mode), /*compact_threshold=*/100000);
    for (int round = 0; round < 6; ++round) {
      std::vector<std::string> ids;
      for (int r = 0; r < 30; ++r) {
        const int i = int(rng() % m.items.size());
        ids.push_back(m.items[i].first);
        m.items.erase(m.items.begin() + i);
      }
      live.RemoveItems(ids);
      CHECK(live.snapshot()->num_tombstones() > 16u + 7u);
      CHECK(SameAnswers(live, m, 3, mode, rng));
    }
  }
}

TEST_CASE("ABackendScoresTheBaseSegment") {
  // The base segment's structural top-k on a backend (the GPU's place), the delta segments and
  // the merge on the CPU: the answers are the CPU's. After a compaction replaced the base, the
  // old base's backend is refused, not used on the new catalog of the same size.
  for (auto mode : {grlm::ScoreMode::kPositional, grlm::ScoreMode::kBag}) {
    std::mt19937 rng(11);
    Model m;
    for (int i = 0; i < 200; ++i)
      m.items.emplace_back("i" + std::to_string(i), RandomTerms(rng, 3));
    grlm::UpdatableGrounder live(Base(m, 3, mode), /*compact_threshold=*/100000);
    std::vector<std::string> gone;
    for (int i = 0; i < 40; ++i) gone.push_back("i" + std::to_string(i * 5));
    live.RemoveItems(gone);
    live.AddItems(std::vector<grlm::CatalogItem>{{"new", {"ab", "c"}, std::nullopt}});
    const auto snap = live.snapshot();
    grlm_test::CountingBackend backend(snap->base(), /*max_k=*/40);
    std::vector<Terms> queries;
    for (int q = 0; q < 40; ++q) queries.push_back(RandomTerms(rng, 3));
    std::vector<std::vector<std::string_view>> views;
    for (const auto& q : queries) views.emplace_back(q.begin(), q.end());
    const grlm::CatalogSnapshot::Queries spans(views.begin(), views.end());
    for (int k : {1, 3, 10, 100}) {
      const auto want = snap->GroundBatch(spans, k, 2);
      const auto got = snap->GroundBatch(spans, k, 2, &backend);
      for (std::size_t q = 0; q < spans.size(); ++q) {
        CHECK(got[q].items == want[q].items);
        CHECK(got[q].scores == want[q].scores);
        CHECK(got[q].hit == want[q].hit);
        const auto one = snap->Ground(spans[q], k, &backend);
        CHECK(one.items == want[q].items);
      }
    }
    CHECK(backend.calls.load() > 0);
    live.UpdateItems(std::vector<grlm::CatalogItem>{{"i1", {"a", "b"}, std::nullopt}});
    live.Compact();
    CHECK_THROWS_AS(live.snapshot()->GroundBatch(spans, 3, 1, &backend), grlm::InvalidArgument);
  }
}
