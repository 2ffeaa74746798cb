// Dynamic pruning of a structural top-k: MaxScore (Turtle & Flood, 1995) over posting lists in
// tie-rank order, every candidate scored exactly from its own Term ID.
//
// A query's posting lists are split into essential ones, which are read, and non-essential ones,
// whose items are never enumerated. Once k items are held, a set of lists may leave the essential
// ones when an item found only in them cannot enter the top k: its score is at most the set's
// bound, and it ranks after the k-th item on a tie, because the lists are read in tie-rank order
// (every held item ranks before every item not reached yet). The set only grows, as the k-th
// score rises. A list that runs out leaves for free: no item not reached yet is in it.
//
// Candidates are scored by the caller's exact item score (the catalog's forward index: the item's
// own Term ID), so a non-essential list is never probed either, and an item in several essential
// lists is met once, in the merge, and scored once. What is pruned is only the set of items
// looked at; every score is computed as the exhaustive scorer computes it, bit for bit.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "best_k.h"

namespace grlm::detail {

// One posting list of a query: tie ranks in increasing order; in bag mode a rank is repeated once
// per credited occurrence of the list's term in the item.
struct RankList {
  const uint32_t* begin;
  const uint32_t* end;
};

// Bounds: what the lists can add to one item's score.
//   Set Empty() const; Set With(Set, std::size_t list) const;
//   bool CannotReach(Set, Score kth) const  (every item found only in the lists of the set scores
//     at most kth);
//   double Bound(std::size_t list) const  (the most list adds to one item, for the order only).
// Items: uint32_t ItemOf(uint32_t rank) const; Score ScoreOf(uint32_t item) const;
//   void Prefetch(uint32_t rank) const.
template <typename Score, typename Bounds, typename Items>
void MaxScoreTopK(std::span<const RankList> lists, const Bounds& bounds, const Items& items,
                  BestK<Score>* best) {
  // Lists leave the essential set in this order: most postings per unit of bound first (the
  // greedy answer to "drop the most reading for the least score"), so what is left to read is
  // short lists of high weight.
  std::vector<uint32_t> leave_order;
  leave_order.reserve(lists.size());
  for (uint32_t l = 0; l < lists.size(); ++l) {
    if (lists[l].begin != lists[l].end) leave_order.push_back(l);
  }
  auto cost = [&](uint32_t l) { return double(lists[l].end - lists[l].begin) / bounds.Bound(l); };
  std::sort(leave_order.begin(), leave_order.end(),
            [&](uint32_t a, uint32_t b) { return cost(a) > cost(b); });

  struct Cursor {
    const uint32_t* next;
    const uint32_t* end;
    uint32_t list;
  };
  std::vector<Cursor> essential;
  essential.reserve(leave_order.size());
  for (uint32_t l : leave_order) essential.push_back({lists[l].begin, lists[l].end, l});
  typename Bounds::Set non_essential = bounds.Empty();
  bool planned = false;
  Score planned_kth{};

  // The k-th score rose: move every list that can leave, in leave order, out of the essential
  // set. A list that cannot leave now may later, so every essential list is tried each time.
  auto replan = [&] {
    const Score kth = best->kth_score();
    for (uint32_t l : leave_order) {
      auto it = std::find_if(essential.begin(), essential.end(),
                             [&](const Cursor& c) { return c.list == l; });
      if (it == essential.end()) continue;  // already left, or ran out
      const auto with = bounds.With(non_essential, l);
      if (bounds.CannotReach(with, kth)) {
        non_essential = with;
        *it = essential.back();
        essential.pop_back();
      }
    }
    planned = true;
    planned_kth = kth;
  };

  // Far enough ahead for the item's Term ID to arrive before it is scored.
  constexpr std::ptrdiff_t kPrefetchAhead = 8;
  while (!essential.empty()) {
    uint32_t rank = UINT32_MAX;
    for (const Cursor& c : essential) rank = std::min(rank, *c.next);
    for (std::size_t i = 0; i < essential.size();) {
      Cursor& c = essential[i];
      if (*c.next == rank) {
        do ++c.next;
        while (c.next != c.end && *c.next == rank);  // bag mode: the item's other occurrences
        if (c.end - c.next > kPrefetchAhead) items.Prefetch(c.next[kPrefetchAhead]);
        if (c.next == c.end) {
          c = essential.back();
          essential.pop_back();
          continue;
        }
      }
      ++i;
    }
    const uint32_t item = items.ItemOf(rank);
    best->Offer(item, items.ScoreOf(item));
    if (best->full() && (!planned || best->kth_score() > planned_kth)) replan();
  }
}

}  // namespace grlm::detail
