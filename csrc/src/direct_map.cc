#include "grlm/direct_map.h"

#include <algorithm>
#include <numeric>

#include "grlm/error.h"

namespace grlm {

uint64_t DirectMap::KeyHash(const TermId* key) const {
  uint64_t h = 0x9E3779B97F4A7C15ull;
  for (int j = 0; j < length_; ++j) h = MixHash(h ^ key[j]);
  return h;
}

DirectMap::DirectMap(const Catalog& catalog) : length_(catalog.term_id_length()) {
  // Items in tie order, each assigned to the group of its Term ID (groups numbered by first
  // appearance), then laid out group by group: each group stays in tie order.
  std::vector<uint32_t> order(catalog.size());
  std::iota(order.begin(), order.end(), 0u);
  const auto& rank = catalog.tie_rank();
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return rank[a] < rank[b]; });
  FlatHashIndex group_index;         // key hash -> group, while building
  std::vector<uint32_t> first_item;  // a group's key is its first item's Term ID
  std::vector<uint32_t> group_size;
  std::vector<uint32_t> group_of_item(catalog.size());
  for (uint32_t item : order) {
    const TermId* key = catalog.ItemTerms(item);
    const auto next = uint32_t(first_item.size());
    const uint32_t group = group_index.Insert(KeyHash(key), next, [&](uint32_t g) {
      return std::equal(key, key + length_, catalog.ItemTerms(first_item[g]));
    });
    if (group == next) {
      first_item.push_back(item);
      group_size.push_back(0);
    }
    group_of_item[item] = group;
    ++group_size[group];
  }
  const std::size_t size = first_item.size() * (std::size_t(length_) + 1) + catalog.size();
  GRLM_CHECK(size < FlatHashIndex::kEmpty, InvalidArgument,
             "catalog too large for the direct index");
  records_.reserve(size);
  std::vector<uint32_t> fill(first_item.size());  // where each group's next item goes
  for (uint32_t g = 0; g < first_item.size(); ++g) {
    const auto offset = uint32_t(records_.size());
    const TermId* key = catalog.ItemTerms(first_item[g]);
    records_.insert(records_.end(), key, key + length_);
    records_.push_back(group_size[g]);
    fill[g] = uint32_t(records_.size());
    records_.resize(records_.size() + group_size[g]);
    record_of_.Insert(KeyHash(key), offset, [](uint32_t) { return false; });  // keys are distinct
  }
  for (uint32_t item : order) records_[fill[group_of_item[item]]++] = item;
}

std::span<const uint32_t> DirectMap::Find(const TermId* query) const {
  const uint32_t offset = record_of_.Find(KeyHash(query), [&](uint32_t record) {
    return std::equal(query, query + length_, records_.data() + record);
  });
  if (offset == FlatHashIndex::kEmpty) return {};
  const uint32_t* count = records_.data() + offset + length_;
  return {count + 1, *count};
}

void DirectMap::FindBatch(std::span<const TermId* const> queries,
                          std::span<const uint32_t>* out) const {
  constexpr std::size_t kChunk = 32;  // enough lookups in flight to hide the misses
  uint64_t hashes[kChunk];
  for (std::size_t begin = 0; begin < queries.size(); begin += kChunk) {
    const std::size_t size = std::min(kChunk, queries.size() - begin);
    for (std::size_t i = 0; i < size; ++i) {
      hashes[i] = KeyHash(queries[begin + i]);
      record_of_.PrefetchSlot(hashes[i]);
    }
    for (std::size_t i = 0; i < size; ++i) {
      const uint32_t record = record_of_.FirstCandidate(hashes[i]);
      if (record != FlatHashIndex::kEmpty) __builtin_prefetch(records_.data() + record);
    }
    for (std::size_t i = 0; i < size; ++i) out[begin + i] = Find(queries[begin + i]);
  }
}

std::size_t DirectMap::MemoryBytes() const {
  return records_.size() * sizeof(uint32_t) + record_of_.MemoryBytes();
}

}  // namespace grlm
