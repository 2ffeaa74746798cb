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
// exact lookups, with one probe instead of L node visits. Items sharing a Term ID are returned in tie order
// (prior desc, then index asc).
class DirectMap {
 public:
  explicit DirectMap(const Catalog& catalog);

  // Items whose Term ID equals the encoded query (L ids); empty when none.
  std::span<const uint32_t> Find(const TermId* query) const;
  std::size_t num_groups() const { return group_begin_.size() - 1; }
  std::size_t MemoryBytes() const;

 private:
  uint64_t KeyHash(const TermId* key) const;
  bool KeyEquals(const TermId* key, uint32_t group) const;

  const Catalog& catalog_;
  std::vector<uint32_t> group_begin_;  // CSR offsets into items_
  std::vector<uint32_t> items_;
  FlatHashIndex group_of_;  // key hash -> group; a group's key is its first item's Term ID
};

}  // namespace grlm
