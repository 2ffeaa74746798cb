// A structural backend standing in for the GPU in the C++ tests.
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <span>
#include <vector>

#include "grlm/grounder.h"

namespace grlm_test {

// A structural backend standing in for the GPU: a second CPU scorer over the same catalog that
// counts the queries it serves and serves k up to max_k only.
class CountingBackend final : public grlm::StructuralBackend {
 public:
  CountingBackend(const grlm::Grounder& g, int max_k)
      : scorer_(g.catalog(), g.mode(), g.scorer().weights()), max_k_(max_k) {}
  grlm::ScoreMode mode() const override { return scorer_.mode(); }
  std::size_t num_items() const override { return scorer_.num_items(); }
  const grlm::Catalog* catalog() const override { return scorer_.catalog(); }
  int max_top_k() const override { return max_k_; }
  void TopKBatch(std::span<const grlm::PreparedQuery* const> queries, int k, int num_threads,
                 std::span<std::vector<grlm::ScoredItem>> results) const override {
    CHECK(k <= max_k_);
    ++calls;
    served += queries.size();
    scorer_.TopKBatch(queries, k, num_threads, results);
  }
  mutable std::atomic<int> calls{0};
  mutable std::atomic<std::size_t> served{0};

 private:
  grlm::StructuralScorer scorer_;
  int max_k_;
};

}  // namespace grlm_test
