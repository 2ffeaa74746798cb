#include <doctest/doctest.h>
#include <sys/resource.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "counting_backend.h"
#include "grlm/error.h"
#include "grlm/grounder.h"
#include "grlm/position_weights.h"

namespace {

using grlm_test::CountingBackend;

grlm::Catalog SmallCatalog(int n) {
  grlm::Catalog c(2);
  for (int i = 0; i < n; ++i) {
    c.AddItem("i" + std::to_string(i),
              {"t" + std::to_string(i % 37), "u" + std::to_string(i % 11)});
  }
  return c;
}

}  // namespace

TEST_CASE("DirectThenStructural") {
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
  CHECK_THROWS_AS(g.Ground({"x"}, 0), grlm::InvalidArgument);
  CHECK_THROWS_AS(g.Ground({}, 1), grlm::InvalidArgument);
}

TEST_CASE("BatchEqualsSingle") {
  // Direct hits (some colliding), structural hits and misses, in batches that are not multiples of
  // a thread's block, on 1 to 3 threads, in both modes.
  for (auto mode : {grlm::ScoreMode::kPositional, grlm::ScoreMode::kBag}) {
    grlm::Catalog c(2);
    for (int i = 0; i < 500; ++i) {
      c.AddItem("i" + std::to_string(i),
                {"t" + std::to_string(i % 37), "u" + std::to_string(i % 11)});
    }
    grlm::Grounder g(std::move(c), mode);
    std::vector<std::string> storage;
    for (int i = 0; i < 301; ++i) {
      storage.push_back((i % 5 == 0 ? "x" : "t") + std::to_string(i % 41));
    }
    std::vector<std::vector<std::string_view>> terms;
    for (int i = 0; i < 301; ++i) terms.push_back({storage[i], i % 3 ? "u3" : "v"});
    std::vector<std::span<const std::string_view>> queries(terms.begin(), terms.end());
    for (int threads : {1, 2, 3}) {
      auto batch = g.GroundBatch(queries, 7, threads);
      CHECK_EQ(batch.size(), queries.size());
      for (std::size_t i = 0; i < queries.size(); ++i) {
        auto single = g.Ground(queries[i], 7);
        CHECK(batch[i].hit == single.hit);
        CHECK(batch[i].items == single.items);
        CHECK(batch[i].scores == single.scores);
      }
    }
    std::vector<std::string_view> empty_term{""};
    queries[250] = empty_term;
    CHECK_THROWS_AS(g.GroundBatch(queries, 7, 2), grlm::InvalidArgument);
  }
}

// GroundBatch sends all direct misses of a batch to the backend in one call, and only those;
// results equal the CPU scorer's. A k above the backend's max_top_k runs on the CPU scorer.
TEST_CASE("BackendServesTheMissesOfABatchInOneCall") {
  for (auto mode : {grlm::ScoreMode::kPositional, grlm::ScoreMode::kBag}) {
    grlm::Grounder g(SmallCatalog(300), mode);
    std::vector<std::vector<std::string_view>> terms = {{"t1", "u1"}, {"t1", "zz"}, {"x", "u3"},
                                                        {"q", "w"},   {"t5", "u5"}, {"t40", "u4"}};
    std::vector<std::span<const std::string_view>> queries(terms.begin(), terms.end());
    CountingBackend backend(g, 5);
    for (int threads : {1, 2}) {
      backend.calls = 0;
      backend.served = 0;
      const auto want = g.GroundBatch(queries, 5, threads);
      const auto got = g.GroundBatch(queries, 5, threads, &backend);
      CHECK_EQ(backend.calls.load(), 1);
      CHECK_EQ(backend.served.load(), 4u);  // t1/u1 and t5/u5 are direct hits
      for (std::size_t i = 0; i < queries.size(); ++i) {
        CHECK(got[i].hit == want[i].hit);
        CHECK(got[i].items == want[i].items);
        CHECK(got[i].scores == want[i].scores);
        const auto single = g.Ground(queries[i], 5, &backend);
        CHECK(single.items == want[i].items);
      }
    }
    backend.calls = 0;
    const auto wide = g.GroundBatch(queries, 6, 1, &backend);  // above max_top_k: CPU scorer
    CHECK_EQ(backend.calls.load(), 0);
    CHECK(wide[2].items == g.GroundBatch(queries, 6, 1)[2].items);
    CHECK(g.Ground(queries[2], 6, &backend).items == wide[2].items);
    CHECK_EQ(backend.calls.load(), 0);
  }
}

TEST_CASE("RejectsABackendOverAnotherCatalog") {
  grlm::Grounder g(SmallCatalog(300));
  grlm::Grounder other(SmallCatalog(301));
  grlm::Grounder bag(SmallCatalog(300), grlm::ScoreMode::kBag);
  CountingBackend wrong_size(other, 10);
  CountingBackend wrong_mode(bag, 10);
  std::vector<std::string_view> query = {"x", "u3"};
  std::vector<std::span<const std::string_view>> queries = {query};
  CHECK_THROWS_AS(g.Ground(query, 3, &wrong_size), grlm::InvalidArgument);
  CHECK_THROWS_AS(g.GroundBatch(queries, 3, 1, &wrong_mode), grlm::InvalidArgument);
  CHECK_THROWS_AS(g.GroundBatch(queries, 0, 1), grlm::InvalidArgument);
  CHECK_THROWS_AS(g.GroundBatch(queries, 3, -1), grlm::InvalidArgument);
}

TEST_CASE("PositionWeightsAreDefinedAndCheckedOnce") {
  CHECK(grlm::DefaultPositionWeights(3) == (std::vector<double>{1.0, 0.5, 1.0 / 3}));
  CHECK_THROWS_AS(grlm::DefaultPositionWeights(0), grlm::InvalidArgument);
  CHECK_THROWS_AS(grlm::DefaultPositionWeights(grlm::kMaxTermIdLength + 1), grlm::InvalidArgument);
  CHECK(grlm::ResolvePositionWeights({}, 2) == grlm::DefaultPositionWeights(2));
  CHECK(grlm::ResolvePositionWeights({2.0, 1.0}, 2) == (std::vector<double>{2.0, 1.0}));
  CHECK_THROWS_AS(grlm::ResolvePositionWeights({1.0}, 2), grlm::InvalidArgument);
  CHECK_THROWS_AS(grlm::ResolvePositionWeights({1.0, 0.0}, 2), grlm::InvalidArgument);
  CHECK_THROWS_AS(grlm::ResolvePositionWeights({1.0, std::nan("")}, 2), grlm::InvalidArgument);
  CHECK_THROWS_AS(grlm::Grounder(SmallCatalog(3), grlm::ScoreMode::kPositional, {1.0, -1.0}),
                  grlm::InvalidArgument);
}

TEST_CASE("RejectsEmptyCatalog") {
  CHECK_THROWS_AS(grlm::Grounder(grlm::Catalog(5)), grlm::InvalidArgument);
}

// A worker thread that cannot start is an exception, not std::terminate: under an address-space
// limit too low for the threads' stacks, GroundBatch throws ResourceError and the process goes
// on. Sanitizer runtimes need far more address space than any such limit, so they skip it.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GRLM_TEST_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GRLM_TEST_UNDER_SANITIZER 1
#endif
#endif
#if defined(__linux__) && !defined(GRLM_TEST_UNDER_SANITIZER)
TEST_CASE("ThreadStartFailureIsAnException") {
  grlm::Catalog c(2);
  for (int i = 0; i < 50; ++i) c.AddItem("i" + std::to_string(i), {"x", "t" + std::to_string(i)});
  grlm::Grounder g(std::move(c));
  const std::vector<std::string_view> query = {"x", "q"};
  std::vector<std::span<const std::string_view>> queries(64 * 300, query);
  rlimit old{};
  getrlimit(RLIMIT_AS, &old);
  std::ifstream status("/proc/self/status");
  std::string line;
  std::size_t vm_kb = 0;
  while (std::getline(status, line)) {
    if (line.rfind("VmSize:", 0) == 0) vm_kb = std::stoul(line.substr(7));
  }
  rlimit low = old;
  low.rlim_cur = vm_kb * 1024 + (32u << 20);  // room for a few 8 MB stacks, not for 200
  CHECK(setrlimit(RLIMIT_AS, &low) == 0);
  bool thrown = false;
  try {
    g.GroundBatch(queries, 3, 200);
  } catch (const grlm::ResourceError& e) {
    thrown = std::string(e.what()).find("thread") != std::string::npos;
  }
  setrlimit(RLIMIT_AS, &old);
  CHECK(thrown);
  CHECK_EQ(g.GroundBatch(queries, 3, 2).size(), queries.size());
}
#endif
