// The credit a generated term gives to catalog terms in bag mode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "grlm/term_vocab.h"

namespace grlm {

// For a generated term g, credits every vocabulary term w with 1.0 if w == g and 0.8 if one
// contains the other as a substring (the official GRLM rule). Built once over the vocabulary:
// a sorted array of all suffixes finds the terms containing g by binary search, and g's own
// substrings are looked up in the vocabulary, so a query never scans the vocabulary. Works for
// generated terms outside the vocabulary too.
class PartialCreditIndex {
 public:
  explicit PartialCreditIndex(const TermVocab& vocab);

  // Appends (term, credit units) pairs for normalized generated term g to *out, each term once.
  void Credits(std::string_view g, std::vector<std::pair<TermId, int32_t>>* out) const;
  std::size_t MemoryBytes() const;

 private:
  const TermVocab& vocab_;
  struct Suffix {
    TermId term;
    uint32_t offset;
  };
  std::vector<Suffix> suffixes_;  // sorted by the suffix string
  std::size_t longest_term_ = 0;  // longer substrings of g cannot be vocabulary terms
};

}  // namespace grlm
