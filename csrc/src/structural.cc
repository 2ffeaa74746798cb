#include "grlm/structural.h"

#include <algorithm>
#include <limits>

#include "best_k.h"
#include "grlm/error.h"
#include "grlm/item_score.h"
#include "max_score.h"
#include "parallel_for.h"

namespace grlm {
namespace {

// Builds a CSR of posting lists from (list, rank) pairs given in rank order.
template <typename ForEachPosting>
void BuildPostings(std::size_t num_lists, ForEachPosting for_each, std::vector<uint32_t>* begin,
                   std::vector<uint32_t>* ranks) {
  begin->assign(num_lists + 1, 0);
  for_each([&](TermId t, uint32_t) { ++(*begin)[t + 1]; });
  for (std::size_t t = 0; t < num_lists; ++t) (*begin)[t + 1] += (*begin)[t];
  ranks->resize(begin->back());
  std::vector<uint32_t> fill(begin->begin(), begin->end() - 1);
  for_each([&](TermId t, uint32_t rank) { (*ranks)[fill[t]++] = rank; });
}

// The pruned search merges a query's lists item by item and reads each candidate's Term ID: tens
// of nanoseconds per candidate, against about one to add up a posting into a score array that
// stays in cache. So small catalogs are added up without pruning (ScorerOptions), and so is a
// query of many lists (a short bag term inside many vocabulary terms), where the merge's cost per
// item grows with their number.
constexpr std::size_t kMaxMergedLists = 32;

// Bag mode's per-query credit table over the vocabulary, one per thread, all-zero between
// queries: an item's score is then one load per term of its Term ID (the pruned search).
std::vector<int32_t>& ThreadCreditTable(std::size_t vocab_size) {
  thread_local std::vector<int32_t> table;
  if (table.size() < vocab_size) table.assign(vocab_size, 0);
  return table;
}

// Bag mode's per-thread lists of a query (a term's credit can reach many vocabulary terms, so
// their number has no small bound), reused so that a query allocates nothing here.
struct BagLists {
  std::vector<detail::RankList> lists;
  std::vector<int32_t> units;
  std::vector<uint32_t> term_index;
};

// Per-thread scratch of AddUpTopK: a dense score array kept all-zero between queries, and room
// for the list of touched ranks (one more than the catalog: the append below always writes).
template <typename Score>
struct AddUpScratch {
  std::vector<Score> scores;
  std::vector<uint32_t> touched;
};

// The top k without pruning: every posting added up in a dense array, list by list (in query
// position order in positional mode, so each double sum is accumulated in PositionalItemScore's
// order). For small catalogs, and for a query of many lists, where merging them costs more per
// item than adding them all.
template <typename Score, typename ItemOf>
void AddUpTopK(std::span<const detail::RankList> lists, const Score* add, std::size_t num_ranks,
               ItemOf item_of, detail::BestK<Score>* best) {
  thread_local AddUpScratch<Score> scratch;
  if (scratch.scores.size() < num_ranks) {
    scratch.scores.assign(num_ranks, Score(0));
    scratch.touched.resize(num_ranks + 1);
  }
  // Plain pointers: the compiler would look the thread_local up again on every append.
  Score* scores = scratch.scores.data();
  uint32_t* touched = scratch.touched.data();
  std::size_t num_touched = 0;
  // Every contribution is positive, so a zero score means "not touched yet". The append is
  // branch-free: the slot is always written and kept only on a rank's first credit.
  for (std::size_t l = 0; l < lists.size(); ++l) {
    const Score credit = add[l];
    for (const uint32_t* rank = lists[l].begin; rank != lists[l].end; ++rank) {
      touched[num_touched] = *rank;
      num_touched += scores[*rank] == Score(0);
      scores[*rank] += credit;
    }
  }
  // Most touched items lose to the k-th item on the score, or on the tie rank at an equal score
  // (ranks are tie ranks here): that test stays in this loop, and BestK sees only the others.
  Score floor = Score(0);  // every touched score is above it until k items are held
  uint32_t floor_rank = 0;
  for (std::size_t i = 0; i < num_touched; ++i) {
    const uint32_t rank = touched[i];
    const Score score = scores[rank];
    scores[rank] = Score(0);
    if (score < floor || (score == floor && rank > floor_rank)) continue;
    best->Offer(item_of(rank), score);
    if (best->full()) {
      floor = best->kth_score();
      floor_rank = best->kth_tie_rank();
    }
  }
}

// Positional bounds: list l is query position position[l]. The bound of a set of positions is
// their weights summed in increasing position, as PositionalItemScore sums them: an item matching
// a subset scores at most that (rounding is monotone and every weight positive), so the bound is
// exact in floating point too, and an item with exactly the bound is kept or dropped as the
// exhaustive scorer would.
class PositionalBounds {
 public:
  PositionalBounds(const double* weights, const int* position, int length)
      : weights_(weights), position_(position), length_(length) {}

  void Clear() { positions_ = 0; }
  bool CanLeave(std::size_t l, double kth) const {
    const uint32_t positions = positions_ | (1u << position_[l]);
    double bound = 0.0;
    for (int j = 0; j < length_; ++j) {
      if (positions >> j & 1u) bound += weights_[j];
    }
    return bound <= kth;
  }
  void Leave(std::size_t l) { positions_ |= 1u << position_[l]; }
  double Bound(std::size_t l) const { return weights_[position_[l]]; }

 private:
  const double* weights_;
  const int* position_;
  int length_;
  uint32_t positions_ = 0;  // of the non-essential lists
};

// Bag bounds, exact in integer units: list l adds units[l] to each of its items (its term's
// credit times the number of times they hold it). An item is in at most one list of a term, so
// the non-essential set adds at most, per term, the largest units of its lists there.
class BagBounds {
 public:
  // term_index[l]: the query's credited term of list l, numbered from 0.
  BagBounds(const int32_t* units, const uint32_t* term_index, std::size_t num_terms)
      : units_(units), term_index_(term_index), term_max_(num_terms, 0) {}

  void Clear() {
    std::fill(term_max_.begin(), term_max_.end(), 0);
    sum_ = 0;
  }
  bool CanLeave(std::size_t l, int32_t kth) const { return SumWith(l) <= kth; }
  void Leave(std::size_t l) {
    sum_ = SumWith(l);
    int32_t& max = term_max_[term_index_[l]];
    max = std::max(max, units_[l]);
  }
  double Bound(std::size_t l) const { return units_[l]; }

 private:
  int64_t SumWith(std::size_t l) const {
    const int32_t max = term_max_[term_index_[l]];
    return units_[l] > max ? sum_ - max + units_[l] : sum_;
  }

  const int32_t* units_;
  const uint32_t* term_index_;
  std::vector<int32_t> term_max_;
  int64_t sum_ = 0;  // no overflow, whatever the number of terms
};

// The item of a tie rank; item_of_rank null: ranks are item indices (no priors reorder them).
uint32_t ItemOfRank(const uint32_t* item_of_rank, uint32_t rank) {
  return item_of_rank ? item_of_rank[rank] : rank;
}

// The items of a catalog as the pruned search reads them: by tie rank, scored from their Term ID.
template <typename ItemScore>
struct RankedItems {
  const Catalog& catalog;
  const uint32_t* item_of_rank;
  ItemScore score;

  uint32_t ItemOf(uint32_t rank) const { return ItemOfRank(item_of_rank, rank); }
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
                                   std::vector<double> weights, ScorerOptions options)
    : catalog_(catalog),
      mode_(mode),
      weights_(ResolvePositionWeights(std::move(weights), catalog.term_id_length())),
      options_(options),
      add_up_(catalog.size() <= options.prune_above_items) {
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
    // One list per term and number of times an item holds it (almost always one list: once), so
    // every item of a list gets the same credit from it and the list's bound is exact. A group
    // key is term * length + times - 1.
    auto for_each_held_term = [&](auto&& f) {
      for_each_ranked_item([&](uint32_t rank, uint32_t item) {
        const TermId* terms = catalog.ItemTerms(item);
        for (int j = 0; j < length; ++j) {
          if (terms[j] >= kPadTerm || std::find(terms, terms + j, terms[j]) != terms + j) continue;
          const auto times = uint32_t(std::count(terms + j, terms + length, terms[j]));
          f(std::size_t(terms[j]) * length + times - 1, rank);
        }
      });
    };
    std::vector<uint32_t> group_of_key(num_terms * length, 0);
    for_each_held_term([&](std::size_t key, uint32_t) { group_of_key[key] = 1; });
    bag_groups_begin_.assign(num_terms + 1, 0);
    uint32_t num_groups = 0;
    for (std::size_t t = 0; t < num_terms; ++t) {
      for (int times = 1; times <= length; ++times) {
        uint32_t& group = group_of_key[t * length + times - 1];
        if (group == 0) continue;
        group = num_groups++;
        bag_group_times_.push_back(uint8_t(times));
      }
      bag_groups_begin_[t + 1] = num_groups;
    }
    posting_begin_.resize(1);
    posting_ranks_.resize(1);
    BuildPostings(
        num_groups,
        [&](auto&& emit) {
          for_each_held_term(
              [&](std::size_t key, uint32_t rank) { emit(group_of_key[key], rank); });
        },
        &posting_begin_[0], &posting_ranks_[0]);
    credit_index_.emplace_back(catalog.vocab());
  }
}

void StructuralScorer::Prepare(std::span<const std::string_view> normalized, const TermId* ids,
                               PreparedQuery* query) const {
  const int length = catalog_.term_id_length();
  std::copy(ids, ids + length, query->ids);
  query->bag_credits.clear();
  if (mode_ != ScoreMode::kBag) return;
  // Each term's credits are sorted by vocabulary term, each term once, so the query's sum over
  // its terms is a merge of those runs (integers: the order of the sum does not matter).
  const std::size_t num_terms = normalized.size();
  GRLM_CHECK(num_terms <= std::size_t(length), InvalidArgument,
             "a query of " << num_terms << " terms for Term IDs of " << length);
  std::vector<TermCredit> unknown_term_credits;  // the runs of terms the vocabulary lacks
  std::size_t unknown_end[kMaxTermIdLength];
  for (std::size_t j = 0; j < num_terms; ++j) {
    // A known term's credits were computed at build time; only an unknown one needs its string.
    if (ids[j] >= kPadTerm) credit_index_[0].Credits(normalized[j], &unknown_term_credits);
    unknown_end[j] = unknown_term_credits.size();
  }
  std::span<const TermCredit> runs[kMaxTermIdLength];
  std::size_t total = 0;
  for (std::size_t j = 0; j < num_terms; ++j) {
    const std::size_t begin = j == 0 ? 0 : unknown_end[j - 1];
    runs[j] = ids[j] < kPadTerm ? credit_index_[0].VocabCredits(ids[j])
                                : std::span<const TermCredit>(unknown_term_credits.data() + begin,
                                                              unknown_end[j] - begin);
    total += runs[j].size();
  }
  auto& c = query->bag_credits;
  c.reserve(total);
  std::size_t next[kMaxTermIdLength] = {};
  while (true) {
    TermId term = std::numeric_limits<TermId>::max();  // above every vocabulary term
    for (std::size_t j = 0; j < num_terms; ++j) {
      if (next[j] < runs[j].size()) term = std::min(term, runs[j][next[j]].first);
    }
    if (term == std::numeric_limits<TermId>::max()) break;
    int32_t units = 0;
    for (std::size_t j = 0; j < num_terms; ++j) {
      if (next[j] < runs[j].size() && runs[j][next[j]].first == term) {
        units += runs[j][next[j]++].second * BagPositionWeightUnits(int(j));
      }
    }
    c.emplace_back(term, units);
  }
}

std::span<const uint32_t> StructuralScorer::Postings(int csr, uint32_t list) const {
  const auto& begin = posting_begin_[csr];
  return {posting_ranks_[csr].data() + begin[list], begin[list + 1] - begin[list]};
}

std::vector<ScoredItem> StructuralScorer::TopK(const PreparedQuery& query, int k) const {
  GRLM_CHECK(k >= 1, InvalidArgument, "k must be at least 1, got " << k);
  const int length = catalog_.term_id_length();
  const uint32_t* item_of_rank = item_of_rank_.empty() ? nullptr : item_of_rank_.data();
  auto list_of = [](std::span<const uint32_t> ranks) {
    return detail::RankList{ranks.data(), ranks.data() + ranks.size()};
  };
  if (mode_ == ScoreMode::kPositional) {
    detail::RankList lists[kMaxTermIdLength];
    int position[kMaxTermIdLength];
    std::size_t num_lists = 0;
    for (int j = 0; j < length; ++j) {
      if (query.ids[j] >= kPadTerm) continue;
      position[num_lists] = j;
      lists[num_lists++] = list_of(Postings(j, query.ids[j]));
    }
    detail::BestK<double> best(k, catalog_.tie_rank());
    // Scored by PositionalItemScore itself: bit-identical to every other backend.
    auto items = MakeRankedItems(catalog_, item_of_rank, [&](const TermId* terms) {
      return PositionalItemScore(terms, query.ids, weights_.data(), length);
    });
    if (add_up_) {
      double add[kMaxTermIdLength];
      for (std::size_t l = 0; l < num_lists; ++l) add[l] = weights_[position[l]];
      AddUpTopK<double>(
          {lists, num_lists}, add, catalog_.size(),
          [&](uint32_t r) { return ItemOfRank(item_of_rank, r); }, &best);
    } else {
      PositionalBounds bounds(weights_.data(), position, length);
      detail::MaxScoreTopK<double>({lists, num_lists}, bounds, items, &best);
    }
    return best.Take([](double s) { return s; });
  }
  thread_local BagLists scratch;
  BagLists& bag = scratch;
  bag.lists.clear();
  bag.units.clear();
  bag.term_index.clear();
  const auto& credits = query.bag_credits;
  for (uint32_t i = 0; i < credits.size(); ++i) {
    const auto [term, term_units] = credits[i];
    for (uint32_t g = bag_groups_begin_[term]; g < bag_groups_begin_[term + 1]; ++g) {
      bag.lists.push_back(list_of(Postings(0, g)));
      bag.units.push_back(term_units * bag_group_times_[g]);  // at most 16 x a term's credit
      bag.term_index.push_back(i);
    }
  }
  detail::BestK<int32_t> best(k, catalog_.tie_rank());
  if (add_up_ || bag.lists.size() > kMaxMergedLists) {
    AddUpTopK<int32_t>(
        bag.lists, bag.units.data(), catalog_.size(),
        [&](uint32_t r) { return ItemOfRank(item_of_rank, r); }, &best);
    return best.Take([](int32_t units) { return units / kBagUnitsPerPoint; });
  }
  // The pruned search scores each candidate from its Term ID, through a dense credit table.
  std::vector<int32_t>& credit = ThreadCreditTable(catalog_.vocab().size());
  for (auto [term, term_units] : credits) credit[term] = term_units;
  auto items = MakeRankedItems(catalog_, item_of_rank, [&](const TermId* terms) {
    return BagItemUnits(terms, length, [&](TermId t) { return credit[t]; });
  });
  BagBounds bounds(bag.units.data(), bag.term_index.data(), credits.size());
  detail::MaxScoreTopK<int32_t>(bag.lists, bounds, items, &best);
  for (auto [term, term_units] : credits) credit[term] = 0;
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
  std::size_t bytes = item_of_rank_.size() * sizeof(uint32_t) +
                      bag_groups_begin_.size() * sizeof(uint32_t) + bag_group_times_.size();
  for (const auto& b : posting_begin_) bytes += b.size() * sizeof(uint32_t);
  for (const auto& r : posting_ranks_) bytes += r.size() * sizeof(uint32_t);
  for (const auto& c : credit_index_) bytes += c.MemoryBytes();
  return bytes;
}

}  // namespace grlm
