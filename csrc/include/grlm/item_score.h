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

// Bag mode: sum over the item's distinct terms t of credit_units[t], where credit_units[t] is the
// query's total credit for t over all its positions (see PartialCreditIndex). An item holding a
// term twice is credited once, as in the official code's term -> items sets.
GRLM_HOST_DEVICE inline int32_t BagItemUnits(const TermId* item, int length,
                                             const int32_t* credit_units) {
  int32_t units = 0;
  for (int j = 0; j < length; ++j) {
    const TermId term = item[j];
    if (term >= kPadTerm) continue;
    bool repeated = false;
    for (int i = 0; i < j; ++i) repeated = repeated || item[i] == term;
    if (!repeated) units += credit_units[term];
  }
  return units;
}

// Deterministic order of results: higher score first, then lower tie rank (higher prior, then
// lower item index).
GRLM_HOST_DEVICE inline bool RanksBefore(double score_a, uint32_t tie_rank_a, double score_b,
                                         uint32_t tie_rank_b) {
  return score_a > score_b || (score_a == score_b && tie_rank_a < tie_rank_b);
}

}  // namespace grlm
