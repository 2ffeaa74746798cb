// Structural mapping: score the whole catalog against a generated Term ID, keep the top k.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "grlm/catalog.h"
#include "grlm/partial_credit.h"
#include "grlm/position_weights.h"
#include "grlm/structural_backend.h"
#include "grlm/types.h"

namespace grlm {

struct ScoredItem {
  uint32_t item;
  double score;
};

// A generated Term ID prepared for scoring: its encoded ids and, for bag mode, the total credit
// units it gives each credited vocabulary term (sorted by term id).
struct PreparedQuery {
  TermId ids[kMaxTermIdLength];
  std::vector<TermCredit> bag_credits;
};

// How the CPU scorer searches; its answers never depend on it.
struct ScorerOptions {
  // Catalogs of more items than this are searched with dynamic pruning (src/max_score.h); smaller
  // ones add every posting up in a score array that stays in cache, which is faster there
  // (Beauty's 12,101 items: 2x in bag mode). 0 prunes every catalog (the exactness tests).
  std::size_t prune_above_items = std::size_t{1} << 16;
};

// Inverted indexes from terms to items, so a query touches only the items that share a credited
// term with it, and of those only the ones that can still enter the top k (dynamic pruning,
// src/max_score.h; the answers are those of scoring every such item). Items with score 0 are
// never returned, so fewer than k results mean fewer than k items share anything with the query.
// The CPU StructuralBackend of a Grounder.
class StructuralScorer final : public StructuralBackend {
 public:
  // weights: the position weights of positional mode (L positive finite values; empty means
  // DefaultPositionWeights).
  StructuralScorer(const Catalog& catalog, ScoreMode mode, std::vector<double> weights,
                   ScorerOptions options = {});

  // normalized: the query's normalized terms (read by bag mode only, for terms the vocabulary
  // does not know); ids: its encoding by Catalog::EncodeQuery.
  void Prepare(std::span<const std::string_view> normalized, const TermId* ids,
               PreparedQuery* query) const;
  // Top-k items by (score desc, tie rank asc), scores > 0 only. Thread-safe.
  std::vector<ScoredItem> TopK(const PreparedQuery& query, int k) const;
  // TopK of every query, on up to num_threads threads (0: hardware concurrency).
  void TopKBatch(std::span<const PreparedQuery* const> queries, int k, int num_threads,
                 std::span<std::vector<ScoredItem>> results) const override;
  // The score of one item (used for direct hits and by tests).
  double Score(const PreparedQuery& query, uint32_t item) const;
  // The score of an item whose (encoded, padded) Term ID is terms.
  double ScoreTerms(const PreparedQuery& query, const TermId* terms) const;

  ScoreMode mode() const override { return mode_; }
  std::size_t num_items() const override { return catalog_.size(); }
  const Catalog* catalog() const override { return &catalog_; }
  int max_top_k() const override { return INT32_MAX; }
  const std::vector<double>& weights() const { return weights_; }
  const ScorerOptions& options() const { return options_; }
  std::size_t MemoryBytes() const;

 private:
  // Positional: the items holding term at position csr; bag (csr 0): the items of a group.
  std::span<const uint32_t> Postings(int csr, uint32_t list) const;

  const Catalog& catalog_;
  ScoreMode mode_;
  std::vector<double> weights_;
  ScorerOptions options_;
  bool add_up_;  // every query added up, without pruning (a small catalog, see ScorerOptions)
  // Positional: one CSR per position j over term ids. Bag: one CSR over groups, a group being a
  // term and the number of times its items hold it (ForEachBagCreditedTerm credits each time);
  // term t's groups are [bag_groups_begin_[t], bag_groups_begin_[t + 1]). Lists hold tie ranks,
  // ascending, so the pruned search meets items in the order that breaks ties.
  std::vector<std::vector<uint32_t>> posting_begin_;
  std::vector<std::vector<uint32_t>> posting_ranks_;
  std::vector<uint32_t> bag_groups_begin_;
  std::vector<uint8_t> bag_group_times_;
  std::vector<uint32_t> item_of_rank_;  // the inverse of tie_rank; empty when it is identity
  std::vector<PartialCreditIndex> credit_index_;  // one element in bag mode, none otherwise
};

}  // namespace grlm
