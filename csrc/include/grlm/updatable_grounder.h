// A grounder whose catalog changes online: items are added, removed and given new Term IDs
// without rebuilding the index, and every answer equals that of a Grounder built from scratch on
// the current catalog.
//
// Layout: a built base segment (an immutable Grounder), tombstones over it (base items removed or
// given a new Term ID) and a small delta segment (a Grounder over the items added or changed
// since the base was built, rebuilt on each change). Compact() folds tombstones and delta into a
// new base; it runs by itself when the delta plus the tombstones pass compact_threshold.
//
// The current catalog's order is a Python dict's: an item given a new Term ID keeps its
// position, a removed item disappears, an added item goes last (in the order of the call).
// Answers list items by their position in that order. Ties are broken as in Grounder: (prior
// desc, position asc). Items added without a prior get 0; giving one to a catalog without
// priors gives every other item the prior 0 (the same tie order as none).
//
// Threads: readers work on an immutable CatalogSnapshot (grlm/snapshot_cell.h, the scheme of
// TokenTrie); a change is built off to the side and published by a pointer swap, so a query sees
// the catalog before a change or after it, never half of it, and never waits for a writer.
// Writers run one at a time. A change copies the tombstones and rebuilds the delta segment:
// O(compact_threshold), independent of the base's size. A compaction (explicit or automatic)
// rebuilds the whole index, seconds at a million items, while holding the writer lock: other
// writers wait for it, readers keep answering from the previous snapshot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "grlm/grounder.h"
#include "grlm/snapshot_cell.h"

namespace grlm {

// One item of a catalog change: its id, its Term ID (1..L raw terms) and optionally its prior.
struct CatalogItem {
  std::string id;
  std::vector<std::string> terms;
  std::optional<double> prior;
};

// One immutable state of an UpdatableGrounder's catalog. Thread-safe; never changes.
class CatalogSnapshot {
 public:
  // Grounder::Ground on the current catalog; items are positions in the current order.
  GroundResult Ground(std::span<const std::string_view> terms, int k) const;
  GroundResult Ground(std::initializer_list<std::string_view> terms, int k) const {
    return Ground(std::span<const std::string_view>(terms.begin(), terms.size()), k);
  }
  std::vector<GroundResult> GroundBatch(const std::vector<std::span<const std::string_view>>& queries,
                                        int k, int num_threads = 0) const;
  // For a base segment scored elsewhere (e.g. on the GPU): base_results[q] must equal
  // base().Ground(queries[q], BaseK(k)). Returns GroundBatch's answers.
  std::vector<GroundResult> MergeBatch(const std::vector<std::span<const std::string_view>>& queries,
                                       int k, std::vector<GroundResult> base_results,
                                       int num_threads = 0) const;
  // The k the base segment is asked for first: k plus a margin for tombstones. A query whose
  // answer then holds fewer than k live base items (more tombstones hit than the margin) asks
  // the base again for k plus every tombstone, which is always enough.
  int BaseK(int k) const;

  std::size_t size() const { return base_->catalog().size() - tombstones_.size() + delta_size(); }
  // Id of the item at position (0 <= position < size()); throws InvalidArgument otherwise.
  const std::string& ItemIdAt(std::size_t position) const;
  // Position of item_id in the current order, or -1.
  int64_t FindItem(std::string_view item_id) const;
  // The raw (normalized) terms of the item at position.
  std::vector<std::string> ItemTerms(std::size_t position) const;
  // The current catalog, in order, as a Grounder built from scratch would hold it.
  Catalog BuildCatalog() const;

  const Grounder& base() const { return *base_; }
  std::shared_ptr<const Grounder> shared_base() const { return base_; }
  std::size_t delta_size() const { return delta_ ? delta_->items.size() : 0; }
  std::size_t num_tombstones() const { return tombstones_.size(); }
  // True when the answers are the base's own (no delta, no tombstones).
  bool pristine() const { return tombstones_.empty() && delta_size() == 0; }
  bool has_priors() const { return has_priors_; }
  // Increments on every published change, compactions included.
  uint64_t version() const { return version_; }

 private:
  friend class UpdatableGrounder;

  // An item of the delta segment. key orders the current catalog: a base item's key is its base
  // index (kept by an item given a new Term ID), an added item's is base size + a counter.
  struct DeltaItem {
    std::string id;
    std::vector<std::string> terms;
    double prior = 0.0;
    uint64_t key = 0;
  };
  // The delta segment: items sorted by key; grounder's index d is items[d].
  struct Delta {
    std::vector<DeltaItem> items;
    std::unique_ptr<const Grounder> grounder;
    std::unordered_map<std::string, uint32_t> index_of;
  };
  // A result item with what orders it in the current catalog.
  struct Candidate {
    double score;
    double prior;
    uint64_t key;
  };

  double BasePrior(uint32_t index) const;
  bool IsTombstoned(uint32_t base_index) const;
  uint64_t Position(uint64_t key) const;
  // k plus every tombstone (capped by the base's size).
  int FullBaseK(int k) const;
  // The answer from the base's answer at BaseK(k) and the delta's at k.
  GroundResult Merge(std::span<const std::string_view> terms, int k, const GroundResult& base,
                     const GroundResult& delta) const;

  std::shared_ptr<const Grounder> base_;
  std::vector<uint32_t> tombstones_;      // sorted base indices
  std::shared_ptr<const Delta> delta_;    // null when empty; shared by snapshots it did not change
  uint64_t next_key_ = 0;                 // key of the next added item
  bool has_priors_ = false;
  uint64_t version_ = 0;
};

class UpdatableGrounder {
 public:
  // Default compaction threshold (delta items + tombstones): a change costs O(threshold) (the
  // delta segment is rebuilt), a query about as much on top of the base's cost.
  static constexpr std::size_t kDefaultCompactThreshold = 1024;

  // base: the grounder of the initial catalog (shared, never changed).
  explicit UpdatableGrounder(std::shared_ptr<const Grounder> base,
                             std::size_t compact_threshold = kDefaultCompactThreshold);

  // Each call is all-or-nothing: on an error (InvalidArgument naming the item) nothing changes.
  // Adds new items (an id already present, or twice in the call, is an error).
  void AddItems(std::span<const CatalogItem> items);
  // Removes items (an unknown id, or one listed twice, is an error; so is emptying the catalog,
  // since a Grounder needs at least one item).
  void RemoveItems(std::span<const std::string> item_ids);
  // Gives present items a new Term ID (and a new prior when one is given; else the item keeps its
  // own); they keep their position.
  void UpdateItems(std::span<const CatalogItem> items);
  // Folds delta and tombstones into a new base (a full rebuild); a no-op when already compact.
  void Compact();
  // Writes the current catalog as an index file (SaveIndex); compacts first.
  void Save(const std::string& path);

  std::shared_ptr<const CatalogSnapshot> snapshot() const { return snapshot_.Load(); }
  GroundResult Ground(std::span<const std::string_view> terms, int k) const {
    return snapshot()->Ground(terms, k);
  }
  GroundResult Ground(std::initializer_list<std::string_view> terms, int k) const {
    return snapshot()->Ground(terms, k);
  }
  std::vector<GroundResult> GroundBatch(const std::vector<std::span<const std::string_view>>& queries,
                                        int k, int num_threads = 0) const {
    return snapshot()->GroundBatch(queries, k, num_threads);
  }
  std::size_t compact_threshold() const { return compact_threshold_; }

 private:
  // Publishes next, compacting it first when it passed the threshold. Holds write_mutex_.
  void Publish(std::shared_ptr<CatalogSnapshot> next);
  std::shared_ptr<CatalogSnapshot> Compacted(const CatalogSnapshot& state) const;
  // The delta segment of items (any order; sorted by key here), or null when there are none.
  static std::shared_ptr<const CatalogSnapshot::Delta> BuildDelta(
      std::vector<CatalogSnapshot::DeltaItem> items, const CatalogSnapshot& state);

  const std::size_t compact_threshold_;
  SnapshotCell<CatalogSnapshot> snapshot_;
  std::mutex write_mutex_;  // one change at a time; readers never take it
};

}  // namespace grlm
