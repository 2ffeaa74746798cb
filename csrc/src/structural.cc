#include "grlm/structural.h"

#include <algorithm>

#include "grlm/error.h"
#include "grlm/item_score.h"
#include "parallel_for.h"

namespace grlm {
namespace {

// Builds a CSR posting list over term ids from (term, item) pairs given in item order.
template <typename ForEachPosting>
void BuildPostings(std::size_t num_terms, ForEachPosting for_each, std::vector<uint32_t>* begin,
                   std::vector<uint32_t>* items) {
  begin->assign(num_terms + 1, 0);
  for_each([&](TermId t, uint32_t) { ++(*begin)[t + 1]; });
  for (std::size_t t = 0; t < num_terms; ++t) (*begin)[t + 1] += (*begin)[t];
  items->resize(begin->back());
  std::vector<uint32_t> fill(begin->begin(), begin->end() - 1);
  for_each([&](TermId t, uint32_t item) { (*items)[fill[t]++] = item; });
}

// Per-thread scratch: a dense score array kept all-zero between queries, and room for the list of
// touched items (one more than the catalog, see Collect).
template <typename Score>
struct Scratch {
  std::vector<Score> scores;
  std::vector<uint32_t> touched;
};

template <typename Score>
Scratch<Score>& ThreadScratch(std::size_t size) {
  thread_local Scratch<Score> scratch;
  if (scratch.scores.size() < size) {
    scratch.scores.assign(size, Score(0));
    scratch.touched.resize(size + 1);
  }
  return scratch;
}

// The k best items seen so far by (score desc, tie rank asc), worst on top: most candidates are
// rejected by one comparison of scores, and nothing of the size of the catalog is allocated.
// Scores stay in the scorer's own type (integer units in bag mode) until Take.
template <typename Score>
class BestK {
 public:
  BestK(int k, const std::vector<uint32_t>& tie_rank) : k_(std::size_t(k)), rank_(tie_rank) {}

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

}  // namespace

StructuralScorer::StructuralScorer(const Catalog& catalog, ScoreMode mode,
                                   std::vector<double> weights)
    : catalog_(catalog),
      mode_(mode),
      weights_(ResolvePositionWeights(std::move(weights), catalog.term_id_length())) {
  const int length = catalog.term_id_length();
  const std::size_t num_terms = catalog.vocab().size();
  const std::size_t n = catalog.size();
  if (mode == ScoreMode::kPositional) {
    posting_begin_.resize(length);
    posting_items_.resize(length);
    for (int j = 0; j < length; ++j) {
      BuildPostings(
          num_terms,
          [&](auto&& emit) {
            for (uint32_t i = 0; i < n; ++i) {
              const TermId t = catalog.ItemTerms(i)[j];
              if (t < kPadTerm) emit(t, i);
            }
          },
          &posting_begin_[j], &posting_items_[j]);
    }
  } else {
    posting_begin_.resize(1);
    posting_items_.resize(1);
    BuildPostings(
        num_terms,
        [&](auto&& emit) {
          for (uint32_t i = 0; i < n; ++i) {
            ForEachBagCreditedTerm(catalog.ItemTerms(i), length, [&](TermId t) { emit(t, i); });
          }
        },
        &posting_begin_[0], &posting_items_[0]);
    credit_index_.emplace_back(catalog.vocab());
  }
}

void StructuralScorer::Prepare(std::span<const std::string_view> normalized, const TermId* ids,
                               PreparedQuery* query) const {
  const int length = catalog_.term_id_length();
  std::copy(ids, ids + length, query->ids);
  query->bag_credits.clear();
  if (mode_ != ScoreMode::kBag) return;
  std::vector<TermCredit> unknown_term_credits;
  for (std::size_t j = 0; j < normalized.size(); ++j) {
    // A known term's credits were computed at build time; only an unknown one needs its string.
    std::span<const TermCredit> credits;
    if (ids[j] < kPadTerm) {
      credits = credit_index_[0].VocabCredits(ids[j]);
    } else {
      unknown_term_credits.clear();
      credit_index_[0].Credits(normalized[j], &unknown_term_credits);
      credits = unknown_term_credits;
    }
    const int32_t weight = BagPositionWeightUnits(int(j));
    for (auto [term, credit] : credits) query->bag_credits.emplace_back(term, credit * weight);
  }
  // Sum the credits of each term over all positions (integers: the order does not matter).
  auto& c = query->bag_credits;
  std::sort(c.begin(), c.end());
  std::size_t out = 0;
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (out > 0 && c[out - 1].first == c[i].first) {
      c[out - 1].second += c[i].second;
    } else {
      c[out++] = c[i];
    }
  }
  c.resize(out);
}

template <typename Score, typename ForEachPosting, typename ToScore>
std::vector<ScoredItem> StructuralScorer::Collect(ForEachPosting for_each_posting, ToScore to_score,
                                                  int k) const {
  auto& scratch = ThreadScratch<Score>(catalog_.size());
  // Plain pointers: the compiler would look the thread_local up again on every append.
  Score* scores = scratch.scores.data();
  uint32_t* touched = scratch.touched.data();
  std::size_t num_touched = 0;
  // Every contribution is positive, so a zero score means "not touched yet". The append is
  // branch-free: the slot is always written and kept only on an item's first credit.
  for_each_posting([&](std::span<const uint32_t> items, Score add) {
    for (uint32_t item : items) {
      touched[num_touched] = item;
      num_touched += scores[item] == Score(0);
      scores[item] += add;
    }
  });
  BestK<Score> best(k, catalog_.tie_rank());
  for (std::size_t i = 0; i < num_touched; ++i) {
    best.Offer(touched[i], scores[touched[i]]);
    scores[touched[i]] = Score(0);
  }
  return best.Take(to_score);
}

std::span<const uint32_t> StructuralScorer::Postings(int list, TermId term) const {
  const auto& begin = posting_begin_[list];
  return {posting_items_[list].data() + begin[term], begin[term + 1] - begin[term]};
}

std::vector<ScoredItem> StructuralScorer::TopK(const PreparedQuery& query, int k) const {
  GRLM_CHECK(k >= 1, InvalidArgument, "k must be at least 1, got " << k);
  if (mode_ == ScoreMode::kPositional) {
    // Positions in increasing j: each item's double sum is accumulated in the same order as
    // PositionalItemScore, so the scores are bit-identical to it.
    auto for_each = [&](auto&& add) {
      for (int j = 0; j < catalog_.term_id_length(); ++j) {
        if (query.ids[j] < kPadTerm) add(Postings(j, query.ids[j]), weights_[j]);
      }
    };
    return Collect<double>(for_each, [](double s) { return s; }, k);
  }
  auto for_each = [&](auto&& add) {
    for (auto [term, units] : query.bag_credits) add(Postings(0, term), units);
  };
  return Collect<int32_t>(for_each, [](int32_t units) { return units / kBagUnitsPerPoint; }, k);
}

void StructuralScorer::TopKBatch(std::span<const PreparedQuery* const> queries, int k,
                                 int num_threads,
                                 std::span<std::vector<ScoredItem>> results) const {
  GRLM_CHECK(results.size() == queries.size(), InvalidArgument,
             "got " << results.size() << " result slots for " << queries.size() << " queries");
  const std::size_t threads = detail::WorkerCount(num_threads, queries.size());
  if (threads == 1) {  // a single Ground call: no thread pool
    for (std::size_t q = 0; q < queries.size(); ++q) results[q] = TopK(*queries[q], k);
    return;
  }
  detail::ParallelFor(threads, [&](std::size_t t) {
    for (std::size_t q = t; q < queries.size(); q += threads) results[q] = TopK(*queries[q], k);
  });
}

double StructuralScorer::Score(const PreparedQuery& query, uint32_t item) const {
  return ScoreTerms(query, catalog_.ItemTerms(item));
}

double StructuralScorer::ScoreTerms(const PreparedQuery& query, const TermId* terms) const {
  const int length = catalog_.term_id_length();
  if (mode_ == ScoreMode::kPositional) {
    return PositionalItemScore(terms, query.ids, weights_.data(), length);
  }
  const auto& credits = query.bag_credits;
  const int32_t units = BagItemUnits(terms, length, [&](TermId term) {
    auto it = std::lower_bound(credits.begin(), credits.end(), TermCredit(term, INT32_MIN));
    return it != credits.end() && it->first == term ? it->second : 0;
  });
  return units / kBagUnitsPerPoint;
}

std::size_t StructuralScorer::MemoryBytes() const {
  std::size_t bytes = 0;
  for (const auto& b : posting_begin_) bytes += b.size() * sizeof(uint32_t);
  for (const auto& i : posting_items_) bytes += i.size() * sizeof(uint32_t);
  for (const auto& c : credit_index_) bytes += c.MemoryBytes();
  return bytes;
}

}  // namespace grlm
