// A grounder whose catalog changes online: items are added, removed and given new Term IDs
// without rebuilding the index, and every answer equals that of a Grounder built from scratch on
// the current catalog.
//
// Layout: a built base segment (an immutable Grounder) with tombstones over it (base items
// removed or given a new Term ID), then a few small delta segments, each an immutable Grounder
// over the items one change added or changed, with its own tombstones (built, as a compaction's
// new base, with the base's mode, weights and scorer options). Delta segments merge as
// in a log-structured index: after a change, the two newest merge while the older holds at most
// twice the newer's live items, so an item is rebuilt O(log n) times and most changes build
// only their own items. Compact() folds everything into a new base; it runs by itself when the
// delta items plus the tombstones pass compact_threshold.
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
// Writers run one at a time. A change copies the tombstones and builds a segment of its own
// items (sometimes merged with the newest ones): O(pending changes) at worst, independent of the
// base's size. A compaction (explicit or automatic) rebuilds the whole index, seconds at a
// million items, while holding the writer lock: other writers wait for it, readers keep
// answering from the previous snapshot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
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
  // backend: where the base segment's structural top-k runs (nullptr: its CPU scorer), as for
  // Grounder::Ground: it must be built over base(). Delta segments and the merge run on the CPU.
  GroundResult Ground(std::span<const std::string_view> terms, int k,
                      const StructuralBackend* backend = nullptr) const;
  GroundResult Ground(std::initializer_list<std::string_view> terms, int k,
                      const StructuralBackend* backend = nullptr) const {
    return Ground(std::span<const std::string_view>(terms.begin(), terms.size()), k, backend);
  }
  using Queries = std::vector<std::span<const std::string_view>>;
  // Ground of every query; the base segment's misses are one backend->TopKBatch call (one GPU
  // batch on the CUDA backend), as in Grounder::GroundBatch.
  std::vector<GroundResult> GroundBatch(const Queries& queries, int k, int num_threads = 0,
                                        const StructuralBackend* backend = nullptr) const;

  std::size_t size() const { return size_; }
  // Id of the item at position (0 <= position < size()); throws InvalidArgument otherwise.
  const std::string& ItemIdAt(std::size_t position) const;
  // Position of item_id in the current order, or -1.
  int64_t FindItem(std::string_view item_id) const;
  // The raw (normalized) terms of the item at position.
  std::vector<std::string> ItemTerms(std::size_t position) const;
  // The ids of the current catalog, in order (O(N)).
  std::vector<std::string> ItemIds() const;
  // The current catalog, in order, as a Grounder built from scratch would hold it.
  Catalog BuildCatalog() const;

  const Grounder& base() const { return *base_; }
  // Whether backend was built over this snapshot's base segment (a compaction gives the next
  // snapshots a new base, which needs a backend of its own).
  bool ScoresBase(const StructuralBackend& backend) const {
    return backend.catalog() == &base_->catalog();
  }
  // Live items in delta segments.
  std::size_t delta_size() const;
  // Tombstones over the base and over delta segments.
  std::size_t num_tombstones() const;
  std::size_t num_delta_segments() const { return segments_.size(); }
  // Delta items (live or not) plus base tombstones: what compaction would fold in.
  std::size_t pending() const;
  // True when the answers are the base's own (no delta, no tombstones).
  bool pristine() const { return tombstones_.empty() && segments_.empty(); }
  bool has_priors() const { return has_priors_; }
  // Approximate bytes held by the base and delta segments.
  std::size_t MemoryBytes() const;
  // Increments on every published change, compactions included.
  uint64_t version() const { return version_; }

 private:
  friend class UpdatableGrounder;

  // An item of a delta segment. key orders the current catalog: a base item's key is its base
  // index (kept by an item given a new Term ID), an added item's is base size + a counter.
  struct DeltaItem {
    std::string id;
    std::vector<std::string> terms;
    double prior = 0.0;
    uint64_t key = 0;
  };
  // A delta segment: items sorted by key; grounder's index d is items[d]. Never changes; shared
  // by every snapshot that holds it.
  struct Segment {
    std::vector<DeltaItem> items;
    std::unique_ptr<const Grounder> grounder;
    std::unordered_map<std::string, uint32_t> index_of;
  };
  // A delta segment in this snapshot, with the indices of its items removed or changed since
  // (sorted).
  struct SegmentState {
    std::shared_ptr<const Segment> segment;
    std::vector<uint32_t> dead;
    std::size_t live() const { return segment->items.size() - dead.size(); }
  };
  // Where a live item is: segment 0 is the base, s > 0 is segments_[s - 1].
  struct Location {
    std::size_t segment;
    uint32_t index;
  };
  // A result item with what orders it in the current catalog.
  struct Candidate {
    double score;
    double prior;
    uint64_t key;
  };

  std::size_t num_segments() const { return 1 + segments_.size(); }
  const Grounder& SegmentGrounder(std::size_t s) const;
  const std::vector<uint32_t>& Dead(std::size_t s) const;
  uint64_t Key(std::size_t s, uint32_t index) const;
  double Prior(std::size_t s, uint32_t index) const;
  bool IsDead(std::size_t s, uint32_t index) const;
  // k plus min(tombstones, k + 16), and k plus every tombstone, capped by the segment's size.
  int FirstK(std::size_t s, int k) const;
  int FullK(std::size_t s, int k) const;
  std::optional<Location> Locate(std::string_view item_id) const;
  // Calls visit(location) for every live item, in the current order.
  void ForEachLive(const std::function<void(Location)>& visit) const;
  uint64_t Position(uint64_t key) const;
  // The answer from every segment's answer at FirstK (answers[s] for segment s). A segment
  // whose answer lost more items to tombstones than FirstK's margin is asked again at FullK
  // (the base on backend).
  GroundResult Merge(std::span<const std::string_view> terms, int k,
                     std::span<const GroundResult> answers, const StructuralBackend* backend) const;

  std::shared_ptr<const Grounder> base_;
  std::vector<uint32_t> tombstones_;    // sorted base indices
  std::vector<SegmentState> segments_;  // oldest first
  std::size_t size_ = 0;                // live items
  uint64_t next_key_ = 0;               // key of the next added item
  bool has_priors_ = false;
  uint64_t version_ = 0;
};

class UpdatableGrounder {
 public:
  // Default compaction threshold (delta items + tombstones, CatalogSnapshot::pending).
  static constexpr std::size_t kDefaultCompactThreshold = 1024;
  // More delta segments than this merge regardless of their sizes (bounds a query's cost).
  static constexpr std::size_t kMaxDeltaSegments = 12;

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
  // UpdateItems for the items present, AddItems for the others, as one change.
  void UpsertItems(std::span<const CatalogItem> items);
  // Folds delta and tombstones into a new base (a full rebuild); a no-op when already compact.
  void Compact();
  // Writes the current catalog as an index file (SaveIndex); compacts first.
  void Save(const std::string& path);
  // The current catalog as one built index (its vocabulary, term matrix and tie ranks); compacts
  // first.
  std::shared_ptr<const Grounder> Index();

  std::shared_ptr<const CatalogSnapshot> snapshot() const { return snapshot_.Load(); }
  GroundResult Ground(std::span<const std::string_view> terms, int k) const {
    return snapshot()->Ground(terms, k);
  }
  GroundResult Ground(std::initializer_list<std::string_view> terms, int k) const {
    return snapshot()->Ground(terms, k);
  }
  std::vector<GroundResult> GroundBatch(const CatalogSnapshot::Queries& queries, int k,
                                        int num_threads = 0) const {
    return snapshot()->GroundBatch(queries, k, num_threads);
  }
  std::size_t compact_threshold() const { return compact_threshold_; }

 private:
  void PutItems(std::span<const CatalogItem> items, bool may_add, bool may_replace);
  // Publishes next, compacting it first when it passed the threshold. Holds write_mutex_.
  void Publish(std::shared_ptr<CatalogSnapshot> next);
  std::shared_ptr<CatalogSnapshot> Compacted(const CatalogSnapshot& state) const;
  // Compacts the current snapshot unless it is pristine, and returns it. Holds write_mutex_.
  std::shared_ptr<const CatalogSnapshot> CompactLocked();
  // Appends a segment of items (any order) to state and merges the newest segments as needed.
  static void AddSegment(CatalogSnapshot* state, std::vector<CatalogSnapshot::DeltaItem> items);
  // Drops segments without live items and recounts state's size.
  static void Tidy(CatalogSnapshot* state);
  static std::shared_ptr<const CatalogSnapshot::Segment> BuildSegment(
      std::vector<CatalogSnapshot::DeltaItem> items, const Grounder& base, bool has_priors);
  static std::vector<CatalogSnapshot::DeltaItem> LiveItems(
      const CatalogSnapshot::SegmentState& state);

  const std::size_t compact_threshold_;
  SnapshotCell<CatalogSnapshot> snapshot_;
  std::mutex write_mutex_;  // one change at a time; readers never take it
};

}  // namespace grlm
