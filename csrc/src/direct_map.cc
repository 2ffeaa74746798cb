#include "grlm/direct_map.h"

#include <algorithm>
#include <numeric>

namespace grlm {

uint64_t DirectMap::KeyHash(const TermId* key) const {
  uint64_t h = 0x9E3779B97F4A7C15ull;
  for (int j = 0; j < catalog_.term_id_length(); ++j) h = MixHash(h ^ key[j]);
  return h;
}

bool DirectMap::KeyEquals(const TermId* key, uint32_t group) const {
  const TermId* first = catalog_.ItemTerms(items_[group_begin_[group]]);
  return std::equal(key, key + catalog_.term_id_length(), first);
}

DirectMap::DirectMap(const Catalog& catalog) : catalog_(catalog) {
  // Items in tie order, each assigned to the group of its Term ID (groups numbered by first
  // appearance), then laid out group by group: each group stays in tie order.
  std::vector<uint32_t> order(catalog.size());
  std::iota(order.begin(), order.end(), 0u);
  const auto& rank = catalog.tie_rank();
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return rank[a] < rank[b]; });
  std::vector<uint32_t> group_size;
  std::vector<uint32_t> group_of_item(catalog.size());
  std::vector<uint32_t> first_item;  // while building, a group's key is its first item's
  for (uint32_t item : order) {
    const TermId* key = catalog.ItemTerms(item);
    const auto next = uint32_t(group_size.size());
    const uint32_t group = group_of_.Insert(KeyHash(key), next, [&](uint32_t g) {
      return std::equal(key, key + catalog.term_id_length(), catalog.ItemTerms(first_item[g]));
    });
    if (group == next) {
      group_size.push_back(0);
      first_item.push_back(item);
    }
    group_of_item[item] = group;
    ++group_size[group];
  }
  group_begin_.assign(group_size.size() + 1, 0);
  std::partial_sum(group_size.begin(), group_size.end(), group_begin_.begin() + 1);
  items_.resize(catalog.size());
  std::vector<uint32_t> fill(group_begin_.begin(), group_begin_.end() - 1);
  for (uint32_t item : order) items_[fill[group_of_item[item]]++] = item;
}

std::span<const uint32_t> DirectMap::Find(const TermId* query) const {
  const uint32_t g = group_of_.Find(KeyHash(query), [&](uint32_t group) { return KeyEquals(query, group); });
  if (g == FlatHashIndex::kEmpty) return {};
  return {items_.data() + group_begin_[g], group_begin_[g + 1] - group_begin_[g]};
}

std::size_t DirectMap::MemoryBytes() const {
  return (group_begin_.size() + items_.size()) * sizeof(uint32_t) + group_of_.MemoryBytes();
}

}  // namespace grlm
