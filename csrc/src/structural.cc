#include "grlm/structural.h"

#include <algorithm>

#include "best_k.h"
#include "grlm/error.h"
#include "grlm/item_score.h"
#include "max_score.h"
#include "parallel_for.h"

namespace grlm {
namespace {

// Builds a CSR posting list over term ids from (term, rank) pairs given in rank order.
template <typename ForEachPosting>
void BuildPostings(std::size_t num_terms, ForEachPosting for_each, std::vector<uint32_t>* begin,
                   std::vector<uint32_t>* ranks) {
  begin->assign(num_terms + 1, 0);
  for_each([&](TermId t, uint32_t) { ++(*begin)[t + 1]; });
  for (std::size_t t = 0; t < num_terms; ++t) (*begin)[t + 1] += (*begin)[t];
  ranks->resize(begin->back());
  std::vector<uint32_t> fill(begin->begin(), begin->end() - 1);
  for_each([&](TermId t, uint32_t rank) { (*ranks)[fill[t]++] = rank; });
}

// Bag mode's per-query credit table over the vocabulary, one per thread, all-zero between
// queries: an item's score is then one load per term of its Term ID.
std::vector<int32_t>& ThreadCreditTable(std::size_t vocab_size) {
  thread_local std::vector<int32_t> table;
  if (table.size() < vocab_size) table.assign(vocab_size, 0);
  return table;
}

// Positional bounds: list l is query position position[l]. The bound of a set of positions is
// their weights summed in increasing position, as PositionalItemScore sums them: an item matching
// a subset scores at most that (rounding is monotone and every weight positive), so the bound is
// exact in floating point too, and an item with exactly the bound is kept or dropped as the
// exhaustive scorer would.
struct PositionalBounds {
  using Set = uint32_t;  // query positions
  const double* weights;
  const int* position;
  int length;

  Set Empty() const { return 0; }
  Set With(Set set, std::size_t l) const { return set | (1u << position[l]); }
  bool CannotReach(Set set, double kth) const {
    double bound = 0.0;
    for (int j = 0; j < length; ++j) {
      if (set >> j & 1u) bound += weights[j];
    }
    return bound <= kth;
  }
  double Bound(std::size_t l) const { return weights[position[l]]; }
};

// Bag bounds, exact in integer units: list l adds units[l] per occurrence of its term, and an
// item holds that term at most max_occurrences[l] times.
struct BagBounds {
  using Set = int64_t;  // summed bounds, never above 16 positions x int32 credits
  const int32_t* units;
  const uint8_t* max_occurrences;

  Set Empty() const { return 0; }
  Set With(Set set, std::size_t l) const { return set + int64_t{units[l]} * max_occurrences[l]; }
  bool CannotReach(Set set, int32_t kth) const { return set <= kth; }
  double Bound(std::size_t l) const { return double(units[l]) * max_occurrences[l]; }
};

// The items of a catalog as the pruned search reads them: by tie rank, scored from their Term ID.
template <typename ItemScore>
struct RankedItems {
  const Catalog& catalog;
  const uint32_t* item_of_rank;  // null: ranks are item indices (no priors reorder them)
  ItemScore score;

  uint32_t ItemOf(uint32_t rank) const { return item_of_rank ? item_of_rank[rank] : rank; }
  auto ScoreOf(uint32_t item) const { return score(catalog.ItemTerms(item)); }
  void Prefetch(uint32_t rank) const { __builtin_prefetch(catalog.ItemTerms(ItemOf(rank))); }
};

template <typename ItemScore>
RankedItems<ItemScore> MakeRankedItems(const Catalog& catalog, const uint32_t* item_of_rank,
                                       ItemScore score) {
  return {catalog, item_of_rank, score};
}

}  // namespace

StructuralScorer::StructuralScorer(const Catalog& catalog, ScoreMode mode,
                                   std::vector<double> weights)
    : catalog_(catalog),
      mode_(mode),
      weights_(ResolvePositionWeights(std::move(weights), catalog.term_id_length())) {
  const int length = catalog.term_id_length();
  const std::size_t num_terms = catalog.vocab().size();
  const uint32_t n = uint32_t(catalog.size());
  // Postings in tie-rank order (see max_score.h); the inverse of tie_rank only when priors make
  // it differ from the identity.
  const auto& tie_rank = catalog.tie_rank();
  bool identity = true;
  for (uint32_t i = 0; i < n && identity; ++i) identity = tie_rank[i] == i;
  if (!identity) {
    item_of_rank_.resize(n);
    for (uint32_t i = 0; i < n; ++i) item_of_rank_[tie_rank[i]] = i;
  }
  auto for_each_ranked_item = [&](auto&& f) {
    for (uint32_t rank = 0; rank < n; ++rank) f(rank, identity ? rank : item_of_rank_[rank]);
  };
  if (mode == ScoreMode::kPositional) {
    posting_begin_.resize(length);
    posting_ranks_.resize(length);
    for (int j = 0; j < length; ++j) {
      BuildPostings(
          num_terms,
          [&](auto&& emit) {
            for_each_ranked_item([&](uint32_t rank, uint32_t item) {
              const TermId t = catalog.ItemTerms(item)[j];
              if (t < kPadTerm) emit(t, rank);
            });
          },
          &posting_begin_[j], &posting_ranks_[j]);
    }
  } else {
    posting_begin_.resize(1);
    posting_ranks_.resize(1);
    BuildPostings(
        num_terms,
        [&](auto&& emit) {
          for_each_ranked_item([&](uint32_t rank, uint32_t item) {
            ForEachBagCreditedTerm(catalog.ItemTerms(item), length,
                                   [&](TermId t) { emit(t, rank); });
          });
        },
        &posting_begin_[0], &posting_ranks_[0]);
    // The bound of a term's list: its credit times the most times one item holds the term
    // (postings of one item are adjacent, each list being in rank order).
    max_occurrences_.assign(num_terms, 0);
    const auto& ranks = posting_ranks_[0];
    for (TermId t = 0; t < num_terms; ++t) {
      for (uint32_t p = posting_begin_[0][t]; p < posting_begin_[0][t + 1];) {
        uint32_t q = p + 1;
        while (q < posting_begin_[0][t + 1] && ranks[q] == ranks[p]) ++q;
        max_occurrences_[t] = std::max<uint8_t>(max_occurrences_[t], uint8_t(q - p));
        p = q;
      }
    }
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

std::span<const uint32_t> StructuralScorer::Postings(int list, TermId term) const {
  const auto& begin = posting_begin_[list];
  return {posting_ranks_[list].data() + begin[term], begin[term + 1] - begin[term]};
}

std::vector<ScoredItem> StructuralScorer::TopK(const PreparedQuery& query, int k) const {
  GRLM_CHECK(k >= 1, InvalidArgument, "k must be at least 1, got " << k);
  const int length = catalog_.term_id_length();
  const uint32_t* item_of_rank = item_of_rank_.empty() ? nullptr : item_of_rank_.data();
  std::vector<detail::RankList> lists;
  auto add_list = [&](std::span<const uint32_t> ranks) {
    lists.push_back({ranks.data(), ranks.data() + ranks.size()});
  };
  if (mode_ == ScoreMode::kPositional) {
    int position[kMaxTermIdLength];
    for (int j = 0; j < length; ++j) {
      if (query.ids[j] >= kPadTerm) continue;
      position[lists.size()] = j;
      add_list(Postings(j, query.ids[j]));
    }
    detail::BestK<double> best(k, catalog_.tie_rank());
    // Scored by PositionalItemScore itself: bit-identical to every other backend.
    auto items = MakeRankedItems(catalog_, item_of_rank, [&](const TermId* terms) {
      return PositionalItemScore(terms, query.ids, weights_.data(), length);
    });
    detail::MaxScoreTopK(lists, PositionalBounds{weights_.data(), position, length}, items, &best);
    return best.Take([](double s) { return s; });
  }
  std::vector<int32_t> units;
  std::vector<uint8_t> max_occurrences;
  std::vector<int32_t>& credit = ThreadCreditTable(catalog_.vocab().size());
  for (auto [term, term_units] : query.bag_credits) {
    add_list(Postings(0, term));
    units.push_back(term_units);
    max_occurrences.push_back(max_occurrences_[term]);
    credit[term] = term_units;
  }
  detail::BestK<int32_t> best(k, catalog_.tie_rank());
  auto items = MakeRankedItems(catalog_, item_of_rank, [&](const TermId* terms) {
    return BagItemUnits(terms, length, [&](TermId t) { return credit[t]; });
  });
  detail::MaxScoreTopK(lists, BagBounds{units.data(), max_occurrences.data()}, items, &best);
  for (auto [term, term_units] : query.bag_credits) credit[term] = 0;
  return best.Take([](int32_t units) { return units / kBagUnitsPerPoint; });
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
  std::size_t bytes = item_of_rank_.size() * sizeof(uint32_t) + max_occurrences_.size();
  for (const auto& b : posting_begin_) bytes += b.size() * sizeof(uint32_t);
  for (const auto& r : posting_ranks_) bytes += r.size() * sizeof(uint32_t);
  for (const auto& c : credit_index_) bytes += c.MemoryBytes();
  return bytes;
}

}  // namespace grlm
