// Interning of term strings to dense TermIds.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "grlm/flat_hash.h"
#include "grlm/types.h"

namespace grlm {

// Maps normalized term strings to dense ids 0..size()-1, in order of first insertion.
//
// Normalization (the only one in grlm): trim ASCII whitespace at both ends, collapse every inner
// run of ASCII whitespace to one space, lowercase ASCII letters. Hyphens, inner spaces and
// non-ASCII characters are kept ("Hair-Mask" -> "hair-mask", " water  Bottle" -> "water bottle").
// A term must be valid UTF-8 and non-empty after normalization.
class TermVocab {
 public:
  // Returns the normalized form of raw; throws InvalidArgument when it is empty or not UTF-8.
  static std::string Normalize(std::string_view raw);
  // Normalizes into *out (reusing its buffer) and returns a view of the result, which is raw
  // itself when raw is already normalized. Throws like Normalize.
  static std::string_view NormalizeInto(std::string_view raw, std::string* out);

  // Id of raw's normalized form, adding it when new. Throws InvalidArgument when the normalized
  // form is longer than kMaxTermBytes.
  TermId Intern(std::string_view raw);
  // Id of raw's normalized form, or kUnknownTerm.
  TermId Find(std::string_view raw) const;
  // Id of an already normalized term, or kUnknownTerm.
  TermId FindNormalized(std::string_view normalized) const;

  // The term hash in incremental form (FNV-1a over the bytes), so that all substrings of a string
  // starting at one offset are hashed in one sweep: state = HashStep(state, byte) from kHashSeed.
  static constexpr uint64_t kHashSeed = 1469598103934665603ull;
  static uint64_t HashStep(uint64_t state, unsigned char byte) {
    return (state ^ byte) * 1099511628211ull;
  }
  // FindNormalized for a term whose bytes fold to hash_state.
  TermId FindNormalizedByState(std::string_view normalized, uint64_t hash_state) const;

  const std::string& Term(TermId id) const { return terms_[id]; }
  const std::vector<std::string>& terms() const { return terms_; }
  std::size_t size() const { return terms_.size(); }
  std::size_t MemoryBytes() const;

 private:
  static uint64_t HashState(std::string_view s);
  std::vector<std::string> terms_;
  FlatHashIndex ids_;
};

}  // namespace grlm
