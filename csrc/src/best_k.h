// The k best items seen so far by (score desc, tie rank asc): the selection at the end of every
// CPU top-k, exhaustive or pruned.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "grlm/item_score.h"
#include "grlm/structural.h"

namespace grlm::detail {

// Worst on top: most candidates are rejected by one comparison of scores, and nothing of the
// size of the catalog is allocated. Scores stay in the scorer's own type (integer units in bag
// mode) until Take.
template <typename Score>
class BestK {
 public:
  BestK(int k, const std::vector<uint32_t>& tie_rank) : k_(std::size_t(k)), rank_(tie_rank) {
    heap_.reserve(std::min<std::size_t>(k_, 64));  // one allocation for the usual k
  }

  void Offer(uint32_t item, Score score) {
    // Most candidates lose on the score alone, before any tie rank is read.
    if (heap_.size() == k_ && score < heap_.front().score) return;
    const Entry candidate{item, score};
    if (heap_.size() < k_) {
      heap_.push_back(candidate);
      std::push_heap(heap_.begin(), heap_.end(), Before{rank_});
    } else if (Before{rank_}(candidate, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), Before{rank_});
      heap_.back() = candidate;
      std::push_heap(heap_.begin(), heap_.end(), Before{rank_});
    }
  }

  // Once k items are held, an item must beat the k-th to get in.
  bool full() const { return heap_.size() == k_; }
  Score kth_score() const { return heap_.front().score; }
  uint32_t kth_tie_rank() const { return rank_[heap_.front().item]; }

  // Best first, each score converted by to_score.
  template <typename ToScore>
  std::vector<ScoredItem> Take(ToScore to_score) {
    std::sort_heap(heap_.begin(), heap_.end(), Before{rank_});
    std::vector<ScoredItem> best;
    best.reserve(heap_.size());
    for (const Entry& e : heap_) best.push_back(ScoredItem{e.item, to_score(e.score)});
    return best;
  }

 private:
  struct Entry {
    uint32_t item;
    Score score;
  };
  struct Before {
    const std::vector<uint32_t>& rank;
    bool operator()(const Entry& a, const Entry& b) const {
      // Exact for int32 units too: every int32 is a double.
      return RanksBefore(a.score, rank[a.item], b.score, rank[b.item]);
    }
  };
  std::size_t k_;
  const std::vector<uint32_t>& rank_;
  std::vector<Entry> heap_;
};

}  // namespace grlm::detail
