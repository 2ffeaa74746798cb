// The credit a generated term gives to catalog terms in bag mode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "grlm/term_vocab.h"

namespace grlm {

using TermCredit = std::pair<TermId, int32_t>;  // (vocabulary term, credit units)

// For a generated term g, credits every vocabulary term w with 1.0 if w == g and 0.8 if one
// contains the other as a substring (the official GRLM rule). Built once over the vocabulary:
// - the credits of every vocabulary term are computed at build time (a fine-tuned model
//   generates vocabulary terms almost always), so such a term costs one hash probe;
// - for any other g, a sorted array of all suffixes finds the terms containing g by binary
//   search, and g's own substrings are looked up in the vocabulary,
// so a query never scans the vocabulary.
class PartialCreditIndex {
 public:
  explicit PartialCreditIndex(const TermVocab& vocab);

  // Appends the credits of normalized generated term g to *out, each term once, sorted by term.
  void Credits(std::string_view g, std::vector<TermCredit>* out) const;
  // The credits of vocabulary term t (what Credits appends for it).
  std::span<const TermCredit> VocabCredits(TermId t) const;
  std::size_t MemoryBytes() const;

 private:
  // Calls found(term) for every vocabulary term that is a proper substring of g (once per
  // occurrence), hashing all substrings starting at one offset in one sweep.
  template <typename Found>
  void ForEachContainedTerm(std::string_view g, Found&& found) const;
  void ComputeCredits(std::string_view g, std::vector<TermCredit>* out) const;

  const TermVocab& vocab_;
  struct Suffix {
    TermId term;
    uint32_t offset;
  };
  std::vector<Suffix> suffixes_;  // sorted by the suffix string
  std::size_t longest_term_ = 0;  // longer substrings of g cannot be vocabulary terms
  // CSR over vocabulary terms: credits of term t are vocab_credits_[begin[t], begin[t + 1]).
  std::vector<std::size_t> vocab_credit_begin_;
  std::vector<TermCredit> vocab_credits_;
};

}  // namespace grlm
