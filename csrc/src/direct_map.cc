#include "grlm/direct_map.h"

#include <algorithm>
#include <numeric>

namespace grlm {

std::size_t DirectMap::KeyHash::operator()(const TermId* key) const noexcept {
  uint64_t h = 0x9E3779B97F4A7C15ull;
  for (int j = 0; j < length; ++j) {
    h ^= key[j];
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  return std::size_t(h);
}

bool DirectMap::KeyEqual::operator()(const TermId* a, const TermId* b) const noexcept {
  return std::equal(a, a + length, b);
}

DirectMap::DirectMap(const Catalog& catalog)
    : catalog_(catalog),
      group_of_(catalog.size() * 2 + 1, KeyHash{catalog.term_id_length()},
                KeyEqual{catalog.term_id_length()}) {
  // Items in tie order, then grouped by Term ID with a stable pass: each group stays in tie order.
  std::vector<uint32_t> order(catalog.size());
  std::iota(order.begin(), order.end(), 0u);
  const auto& rank = catalog.tie_rank();
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return rank[a] < rank[b]; });
  std::vector<uint32_t> group_size;
  std::vector<uint32_t> group_of_item(catalog.size());
  for (uint32_t item : order) {
    auto [it, inserted] = group_of_.emplace(catalog.ItemTerms(item), uint32_t(group_size.size()));
    if (inserted) group_size.push_back(0);
    group_of_item[item] = it->second;
    ++group_size[it->second];
  }
  group_begin_.assign(group_size.size() + 1, 0);
  std::partial_sum(group_size.begin(), group_size.end(), group_begin_.begin() + 1);
  items_.resize(catalog.size());
  std::vector<uint32_t> fill(group_begin_.begin(), group_begin_.end() - 1);
  for (uint32_t item : order) items_[fill[group_of_item[item]]++] = item;
}

std::span<const uint32_t> DirectMap::Find(const TermId* query) const {
  auto it = group_of_.find(query);
  if (it == group_of_.end()) return {};
  const uint32_t g = it->second;
  return {items_.data() + group_begin_[g], group_begin_[g + 1] - group_begin_[g]};
}

std::size_t DirectMap::MemoryBytes() const {
  // Node-based map: key pointer + value + next pointer + bucket slot per group.
  return (group_begin_.size() + items_.size()) * sizeof(uint32_t) +
         group_of_.size() * (sizeof(void*) * 3 + sizeof(uint32_t)) +
         group_of_.bucket_count() * sizeof(void*);
}

}  // namespace grlm
