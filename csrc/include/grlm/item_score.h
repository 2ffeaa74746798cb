// The score of one catalog item against one query, written once for the CPU core, its tests and
// the CUDA kernel. Both modes are exact and order-independent where it matters, so every backend
// returns bit-identical scores and therefore identical tie-breaking.
#pragma once

#include <cstdint>

#include "grlm/types.h"

namespace grlm {

// Bag mode works in integer units so sums do not depend on their order: a credit of 1.0 is 5
// units and 0.8 is 4; position j weighs kBagWeightScale / (j + 1), exact for every j < 16
// because 720720 = lcm(1..16). score = units / kBagUnitsPerPoint.
inline constexpr int32_t kBagExactCredit = 5;
inline constexpr int32_t kBagPartialCredit = 4;
inline constexpr int32_t kBagWeightScale = 720720;
inline constexpr double kBagUnitsPerPoint = 5.0 * 720720.0;

GRLM_HOST_DEVICE inline int32_t BagPositionWeightUnits(int position) {
  return kBagWeightScale / (position + 1);
}

// Positional mode: sum_j weights[j] * [query[j] == item[j]], accumulated in increasing j.
// Unknown and padding query terms match nothing.
GRLM_HOST_DEVICE inline double PositionalItemScore(const TermId* item, const TermId* query,
                                                   const double* weights, int length) {
  double score = 0.0;
  for (int j = 0; j < length; ++j) {
    if (query[j] < kPadTerm && item[j] == query[j]) score += weights[j];
  }
  return score;
}

// Bag mode's credit rule, as in the official GRLM code, which indexes a Term ID under each of its
// terms once per occurrence (`for word in tid: word_to_keys[word].append(key)`): every
// non-padding position of an item takes the query's credit for its term, so an item holding a
// term twice is credited twice. f(term) is called once per credited position; the CPU index posts
// an item under these terms and BagItemUnits sums over them, so both follow this one loop.
template <typename F>
GRLM_HOST_DEVICE inline void ForEachBagCreditedTerm(const TermId* item, int length, F&& f) {
  for (int j = 0; j < length; ++j) {
    if (item[j] < kPadTerm) f(item[j]);
  }
}

// Bag mode: an item's units, credit_of(t) being the query's total credit for term t over all its
// positions (see PartialCreditIndex), summed over the item's credited positions.
template <typename CreditOf>
GRLM_HOST_DEVICE inline int32_t BagItemUnits(const TermId* item, int length, CreditOf credit_of) {
  int32_t units = 0;
  ForEachBagCreditedTerm(item, length, [&](TermId term) { units += credit_of(term); });
  return units;
}

// The credits of one query as a dense table over term ids (the CUDA kernel's layout).
struct DenseCredits {
  const int32_t* units;
  GRLM_HOST_DEVICE int32_t operator()(TermId term) const { return units[term]; }
};

GRLM_HOST_DEVICE inline int32_t BagItemUnits(const TermId* item, int length,
                                             const int32_t* credit_units) {
  return BagItemUnits(item, length, DenseCredits{credit_units});
}

// An upper bound of BagItemUnits over every item, given the sum of a query's positive credits:
// each of an item's positions takes at most that sum (saturated to int32).
GRLM_HOST_DEVICE inline int64_t BagUnitsUpperBound(int64_t positive_credit_sum, int length) {
  const int64_t bound = positive_credit_sum * length;
  return bound < INT32_MAX ? bound : int64_t{INT32_MAX};
}

// Deterministic order of results: higher score first, then lower tie rank (higher prior, then
// lower item index).
GRLM_HOST_DEVICE inline bool RanksBefore(double score_a, uint32_t tie_rank_a, double score_b,
                                         uint32_t tie_rank_b) {
  return score_a > score_b || (score_a == score_b && tie_rank_a < tie_rank_b);
}

}  // namespace grlm
