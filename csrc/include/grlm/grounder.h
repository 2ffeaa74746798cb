// Elastic Identifier Grounding: direct mapping first, structural mapping on a miss.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "grlm/catalog.h"
#include "grlm/direct_map.h"
#include "grlm/structural.h"
#include "grlm/types.h"

namespace grlm {

struct GroundResult {
  HitType hit = HitType::kNone;
  std::vector<uint32_t> items;  // best first
  std::vector<double> scores;   // structural score of each item under the grounder's mode
};

class Grounder {
 public:
  // weights: positional-mode weights; empty means DefaultPositionWeights.
  Grounder(Catalog catalog, ScoreMode mode = ScoreMode::kPositional, std::vector<double> weights = {});

  // Grounds one generated Term ID (1..L raw terms). A direct hit returns every item with exactly
  // that Term ID (at most k, tie order); otherwise the structural top-k; kNone when no item
  // shares a credited term. Throws InvalidArgument on a bad Term ID or k < 1.
  GroundResult Ground(std::span<const std::string_view> terms, int k) const;
  GroundResult Ground(std::initializer_list<std::string_view> terms, int k) const {
    return Ground(std::span<const std::string_view>(terms.begin(), terms.size()), k);
  }
  // Encodes a generated Term ID and prepares it for scoring (both steps of Ground before any
  // lookup); for backends that score prepared queries elsewhere, e.g. on the GPU.
  void Prepare(std::span<const std::string_view> terms, PreparedQuery* query) const;
  // Direct mapping of a prepared query: on a hit, fills *result (at most k items, tie order,
  // with their scores) and returns true.
  bool GroundDirect(const PreparedQuery& query, int k, GroundResult* result) const;

  // Grounds many Term IDs on up to num_threads threads (0: hardware concurrency).
  std::vector<GroundResult> GroundBatch(const std::vector<std::span<const std::string_view>>& queries,
                                        int k, int num_threads = 0) const;

  const Catalog& catalog() const { return *catalog_; }
  const DirectMap& direct_map() const { return *direct_; }
  const StructuralScorer& scorer() const { return *scorer_; }
  ScoreMode mode() const { return scorer_->mode(); }
  std::size_t MemoryBytes() const;

 private:
  // Ground for a prepared query whose direct lookup returned direct.
  GroundResult GroundPrepared(const PreparedQuery& query, std::span<const uint32_t> direct,
                              int k) const;
  void FillDirect(const PreparedQuery& query, std::span<const uint32_t> direct, int k,
                  GroundResult* result) const;

  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<DirectMap> direct_;
  std::unique_ptr<StructuralScorer> scorer_;
};

}  // namespace grlm
