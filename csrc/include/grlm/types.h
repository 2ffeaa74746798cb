// Basic types shared by every part of the core, host and device.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define GRLM_HOST_DEVICE __host__ __device__
#else
#define GRLM_HOST_DEVICE
#endif

namespace grlm {

// Dense id of an interned term.
using TermId = uint32_t;

// A query term that is not in the vocabulary: it matches no catalog term exactly.
inline constexpr TermId kUnknownTerm = 0xFFFFFFFFu;
// Fills the positions past the end of a Term ID shorter than the catalog's length.
inline constexpr TermId kPadTerm = 0xFFFFFFFEu;
// Largest number of terms in one Term ID.
inline constexpr int kMaxTermIdLength = 16;
// Longest catalog term, in bytes after normalization (a keyword, not a text). Bag mode's
// substring index costs up to the square of a term's length to build, so without a bound one
// long term (or a small damaged index file) could stall a build for hours. Generated terms may
// be longer: they cost time linear in their length.
inline constexpr std::size_t kMaxTermBytes = 256;
// Largest k of the CUDA structural scorer: its on-device selection keeps k + 1024 candidate keys
// per query in shared memory. Grounder serves a larger k with its CPU scorer.
inline constexpr int kMaxTopK = 1024;

// Scoring of structural mapping.
enum class ScoreMode : uint8_t {
  // The paper: sum of position weights w_j over positions j where the terms are equal.
  kPositional = 0,
  // The official GRLM code: every generated term credits every item containing an equal (1.0)
  // or substring-related (0.8) term, weighted 1/(j+1) by the generated term's position.
  kBag = 1,
};

// Which path of Elastic Identifier Grounding produced a result.
enum class HitType : uint8_t { kNone = 0, kDirect = 1, kStructural = 2 };

}  // namespace grlm
