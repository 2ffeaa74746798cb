// Direct mapping: exact Term ID -> every item carrying it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "grlm/catalog.h"
#include "grlm/flat_hash.h"

namespace grlm {

// Hash index keyed by the full interned (padded) term sequence; equivalent to a term trie for
// exact lookups, with one probe instead of L node visits. Items sharing a Term ID are returned in
// tie order (prior desc, then index asc).
class DirectMap {
 public:
  explicit DirectMap(const Catalog& catalog);

  // Items whose Term ID equals the encoded query (L ids); empty when none.
  std::span<const uint32_t> Find(const TermId* query) const;
  // Find for each query of a batch, out[i] for queries[i]; the lookups' cache misses overlap
  // (slots, then records, are prefetched for the whole batch before any is compared).
  void FindBatch(std::span<const TermId* const> queries, std::span<const uint32_t>* out) const;
  std::size_t num_groups() const { return record_of_.size(); }
  std::size_t MemoryBytes() const;

 private:
  uint64_t KeyHash(const TermId* key) const;

  int length_;
  // One record per distinct Term ID: its L term ids, its item count, then its items. A lookup
  // reads the hash slot and the record, nothing else (two cache misses on a large catalog).
  std::vector<uint32_t> records_;
  FlatHashIndex record_of_;  // key hash -> offset of the record in records_
};

}  // namespace grlm
