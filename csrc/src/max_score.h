// Dynamic pruning of a structural top-k: MaxScore (Turtle & Flood, 1995) over posting lists in
// tie-rank order, every candidate scored exactly from its own Term ID.
//
// A query's posting lists are split into essential ones, which are read, and non-essential ones,
// whose items are never enumerated. Once k items are held, a set of lists may leave the essential
// ones when an item found only in them cannot enter the top k: its score is at most the set's
// bound, and it ranks after the k-th item on a tie, because the lists are read in tie-rank order
// (every held item ranks before every item not reached yet). The split is chosen again each
// time the k-th score rises, so more lists leave. A list that runs out leaves for free: no item
// not reached yet is in it.
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

// One posting list of a query: tie ranks in increasing order, each at most once, and every item
// in it gets the same score from it.
struct RankList {
  const uint32_t* begin;
  const uint32_t* end;
};

// Bounds: the bound of the non-essential set, which it keeps.
//   void Clear()  (every list essential);
//   bool CanLeave(std::size_t list, Score kth) const  (with the list non-essential too, every item
//     found only in non-essential lists would score at most kth);
//   void Leave(std::size_t list);
//   double Bound(std::size_t list) const  (the most the list adds to one item; for the order).
// Items: uint32_t ItemOf(uint32_t rank) const; Score ScoreOf(uint32_t item) const;
//   void Prefetch(uint32_t rank) const.
template <typename Score, typename Bounds, typename Items>
void MaxScoreTopK(std::span<const RankList> lists, Bounds& bounds, const Items& items,
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

  // Each list's next unread posting; a list out of the essential set keeps the place where it
  // left, and catches up (one binary search) if it comes back.
  std::vector<const uint32_t*> next(lists.size());
  for (uint32_t l = 0; l < lists.size(); ++l) next[l] = lists[l].begin;
  std::vector<uint32_t> essential = leave_order;
  uint32_t resume = 0;  // every rank below it has been met
  bool planned = false;
  Score planned_kth{};

  // The k-th score rose: choose the essential set again. The split is chosen afresh rather than
  // grown, since lists that left early, at a low k-th score, could keep a long list in. A list
  // may leave only with all those that left before it in this pass (their bounds add up); items
  // passed while a list was out were out of reach then, and so are now.
  auto replan = [&] {
    const Score kth = best->kth_score();
    bounds.Clear();
    essential.clear();
    for (uint32_t l : leave_order) {
      if (next[l] == lists[l].end) continue;  // ran out: holds nothing not met yet
      if (bounds.CanLeave(l, kth)) {
        bounds.Leave(l);
        continue;
      }
      next[l] = std::lower_bound(next[l], lists[l].end, resume);
      if (next[l] != lists[l].end) essential.push_back(l);
    }
    planned = true;
    planned_kth = kth;
  };

  // Far enough ahead for the item's Term ID to arrive before it is scored.
  constexpr std::ptrdiff_t kPrefetchAhead = 8;
  while (!essential.empty()) {
    uint32_t rank = UINT32_MAX;
    for (uint32_t l : essential) rank = std::min(rank, *next[l]);
    for (std::size_t i = 0; i < essential.size();) {
      const uint32_t l = essential[i];
      if (*next[l] == rank) {  // a rank is at most once in a list
        ++next[l];
        if (lists[l].end - next[l] > kPrefetchAhead) items.Prefetch(next[l][kPrefetchAhead]);
        if (next[l] == lists[l].end) {
          essential[i] = essential.back();
          essential.pop_back();
          continue;
        }
      }
      ++i;
    }
    resume = rank + 1;
    const uint32_t item = items.ItemOf(rank);
    const Score score = items.ScoreOf(item);
    // Held items rank before this one: it needs a score above the k-th to get in (and this
    // saves BestK reading tie ranks).
    if (best->full() && score <= best->kth_score()) continue;
    best->Offer(item, score);
    if (best->full() && (!planned || best->kth_score() > planned_kth)) {
      replan();
    }
  }
}

}  // namespace grlm::detail
