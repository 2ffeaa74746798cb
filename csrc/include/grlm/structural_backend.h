// Where a Grounder's structural top-k runs: its own CPU StructuralScorer, or another backend over
// the same catalog (CudaStructuralScorer). Grounder::Ground and GroundBatch are written once
// against this interface.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "grlm/types.h"

namespace grlm {

class Catalog;
struct PreparedQuery;
struct ScoredItem;

class StructuralBackend {
 public:
  virtual ~StructuralBackend() = default;

  virtual ScoreMode mode() const = 0;
  virtual std::size_t num_items() const = 0;
  // The catalog the backend was built from (it must outlive the backend), or nullptr for one
  // built from raw arrays. A Grounder refuses a backend built from another catalog: after a
  // compaction, a backend of the old base would otherwise pass a size check.
  virtual const Catalog* catalog() const = 0;
  // The largest k TopKBatch serves; a Grounder serves a larger k with its CPU scorer.
  virtual int max_top_k() const = 0;
  // results[q] = the top-k of queries[q] by (score desc, tie rank asc), scores > 0 only, for
  // queries prepared by the Grounder of this catalog. num_threads: host threads a CPU backend may
  // use (0: hardware concurrency). Thread-safe.
  virtual void TopKBatch(std::span<const PreparedQuery* const> queries, int k, int num_threads,
                         std::span<std::vector<ScoredItem>> results) const = 0;
};

}  // namespace grlm
