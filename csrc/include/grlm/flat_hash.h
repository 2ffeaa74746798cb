// Open-addressing hash table from 64-bit key hashes to uint32 values, with linear probing and
// caller-side key comparison. One contiguous slot array keeps a lookup at about one cache miss,
// which node-based std::unordered_map cannot (bucket -> node -> key).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace grlm {

class FlatHashIndex {
 public:
  static constexpr uint32_t kEmpty = 0xFFFFFFFFu;

  // The value stored for hash h whose key satisfies equals(value), or kEmpty.
  template <typename Equals>
  uint32_t Find(uint64_t h, Equals&& equals) const {
    if (slots_.empty()) return kEmpty;
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.value == kEmpty) return kEmpty;
      if (slot.hash == h && equals(slot.value)) return slot.value;
    }
  }

  // Stores value for hash h unless a value with an equal key is there; returns the value now
  // stored for that key.
  template <typename Equals>
  uint32_t Insert(uint64_t h, uint32_t value, Equals&& equals) {
    if ((size_ + 1) * 2 > slots_.size()) Rehash(slots_.empty() ? 16 : slots_.size() * 2);
    std::size_t i = h & mask_;
    for (;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.value == kEmpty) break;
      if (slot.hash == h && equals(slot.value)) return slot.value;
    }
    slots_[i] = {h, value};
    ++size_;
    return value;
  }

  // The value in the slot where a lookup of hash h starts (kEmpty if none), without comparing
  // keys: a hint for batch lookups that prefetch what the real lookup will read.
  uint32_t FirstCandidate(uint64_t h) const {
    return slots_.empty() ? kEmpty : slots_[h & mask_].value;
  }
  void PrefetchSlot(uint64_t h) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[h & mask_]);
  }

  std::size_t size() const { return size_; }
  std::size_t MemoryBytes() const { return slots_.size() * sizeof(Slot); }

 private:
  struct Slot {
    uint64_t hash;
    uint32_t value;
  };
  void Rehash(std::size_t capacity) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{0, kEmpty});
    mask_ = capacity - 1;
    for (const Slot& slot : old) {
      if (slot.value == kEmpty) continue;
      std::size_t i = slot.hash & mask_;
      while (slots_[i].value != kEmpty) i = (i + 1) & mask_;
      slots_[i] = slot;
    }
  }
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

// 64-bit mixing (splitmix64 finalizer): low bits choose the slot, so they must be well mixed.
inline uint64_t MixHash(uint64_t h) {
  h ^= h >> 30;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 27;
  h *= 0x94D049BB133111EBull;
  return h ^ (h >> 31);
}

}  // namespace grlm
