// Positional mode's position weights: the defaults and their validation, for every backend.
// Header-only so the CUDA library (linked before the core) needs no symbol of the core.
#pragma once

#include <cmath>
#include <vector>

#include "grlm/error.h"
#include "grlm/types.h"

namespace grlm {

// Default positional weights w_j = 1 / (j + 1) for Term IDs of `length` terms (1..16).
inline std::vector<double> DefaultPositionWeights(int length) {
  GRLM_CHECK(length >= 1 && length <= kMaxTermIdLength, InvalidArgument,
             "term_id_length must be in 1.." << kMaxTermIdLength << ", got " << length);
  std::vector<double> weights(length);
  for (int j = 0; j < length; ++j) weights[j] = 1.0 / (j + 1);
  return weights;
}

// The weights a scorer uses: the defaults for empty `weights`, otherwise `weights` after checking
// that there is one positive finite weight per position.
inline std::vector<double> ResolvePositionWeights(std::vector<double> weights, int length) {
  if (weights.empty()) return DefaultPositionWeights(length);
  GRLM_CHECK(static_cast<int>(weights.size()) == length, InvalidArgument,
             "got " << weights.size() << " position weights for Term IDs of length " << length);
  for (double w : weights) {
    GRLM_CHECK(std::isfinite(w) && w > 0, InvalidArgument,
               "position weights must be positive and finite, got " << w);
  }
  return weights;
}

}  // namespace grlm
