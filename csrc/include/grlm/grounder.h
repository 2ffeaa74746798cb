// Elastic Identifier Grounding: direct mapping first, structural mapping on a miss. The policy
// is written here once; the structural top-k runs on the Grounder's CPU scorer or on a
// StructuralBackend the caller passes (CudaStructuralScorer).
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
#include "grlm/structural_backend.h"
#include "grlm/types.h"

namespace grlm {

struct GroundResult {
  HitType hit = HitType::kNone;
  std::vector<uint32_t> items;  // best first
  std::vector<double> scores;   // structural score of each item under the grounder's mode
};

class Grounder {
 public:
  // weights: positional-mode weights; empty means DefaultPositionWeights. options: how the CPU
  // scorer searches (answers never depend on it).
  Grounder(Catalog catalog, ScoreMode mode = ScoreMode::kPositional,
           std::vector<double> weights = {}, ScorerOptions options = {});

  // Grounds one generated Term ID (1..L raw terms). A direct hit returns every item with exactly
  // that Term ID (at most k, tie order); otherwise the structural top-k; kNone when no item
  // shares a credited term. Throws InvalidArgument on a bad Term ID or k < 1.
  // backend: where the structural top-k runs (nullptr: scorer()). It must be built over this
  // Grounder's catalog in its mode; a k above backend->max_top_k() runs on scorer() instead
  // (same results: every backend returns StructuralScorer's lists).
  GroundResult Ground(std::span<const std::string_view> terms, int k,
                      const StructuralBackend* backend = nullptr) const;
  GroundResult Ground(std::initializer_list<std::string_view> terms, int k,
                      const StructuralBackend* backend = nullptr) const {
    return Ground(std::span<const std::string_view>(terms.begin(), terms.size()), k, backend);
  }
  // Encodes a generated Term ID and prepares it for scoring (both steps of Ground before any
  // lookup); for backends that score prepared queries elsewhere, e.g. on the GPU.
  void Prepare(std::span<const std::string_view> terms, PreparedQuery* query) const;
  // Direct mapping of a prepared query: on a hit, fills *result (at most k items, tie order,
  // with their scores) and returns true.
  bool GroundDirect(const PreparedQuery& query, int k, GroundResult* result) const;

  // Grounds many Term IDs on up to num_threads threads (0: hardware concurrency): queries are
  // prepared and looked up directly in parallel, then the structural top-k of all direct misses
  // is one backend->TopKBatch call (one GPU batch on the CUDA backend). backend as for Ground.
  std::vector<GroundResult> GroundBatch(
      const std::vector<std::span<const std::string_view>>& queries, int k, int num_threads = 0,
      const StructuralBackend* backend = nullptr) const;
  // The structural top-k alone (no direct mapping) of prepared queries, on backend as chosen by
  // Ground (an oracle for tests of other backends).
  std::vector<std::vector<ScoredItem>> StructuralTopK(
      std::span<const PreparedQuery* const> queries, int k, int num_threads = 0,
      const StructuralBackend* backend = nullptr) const;

  const Catalog& catalog() const { return *catalog_; }
  const DirectMap& direct_map() const { return *direct_; }
  const StructuralScorer& scorer() const { return *scorer_; }
  ScoreMode mode() const { return scorer_->mode(); }
  std::size_t MemoryBytes() const;

 private:
  // The backend that serves k: backend when given and k fits it, else the CPU scorer. Throws
  // InvalidArgument for a backend over another catalog or mode.
  const StructuralBackend& BackendFor(const StructuralBackend* backend, int k) const;
  void FillDirect(const PreparedQuery& query, std::span<const uint32_t> direct, int k,
                  GroundResult* result) const;

  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<DirectMap> direct_;
  std::unique_ptr<StructuralScorer> scorer_;
};

}  // namespace grlm
