#include "grlm/partial_credit.h"

#include <algorithm>
#include <tuple>

#include "grlm/item_score.h"

namespace grlm {
namespace {

// Sorts credits by term and keeps each term once, with its highest credit.
void SortUnique(std::vector<TermCredit>* credits, std::size_t first) {
  std::sort(credits->begin() + first, credits->end(), [](const auto& a, const auto& b) {
    return a.first < b.first || (a.first == b.first && a.second > b.second);
  });
  credits->erase(std::unique(credits->begin() + first, credits->end(),
                             [](const auto& a, const auto& b) { return a.first == b.first; }),
                 credits->end());
}

}  // namespace

PartialCreditIndex::PartialCreditIndex(const TermVocab& vocab) : vocab_(vocab) {
  const auto& terms = vocab.terms();
  for (TermId t = 0; t < terms.size(); ++t) {
    longest_term_ = std::max(longest_term_, terms[t].size());
    for (uint32_t offset = 0; offset < terms[t].size(); ++offset) suffixes_.push_back({t, offset});
  }
  auto view = [&](const Suffix& s) { return std::string_view(terms[s.term]).substr(s.offset); };
  std::sort(suffixes_.begin(), suffixes_.end(), [&](const Suffix& a, const Suffix& b) {
    const auto va = view(a), vb = view(b);
    return va < vb || (va == vb && (a.term < b.term || (a.term == b.term && a.offset < b.offset)));
  });

  // Every vocabulary term's credits from the pairs (w, s), s a proper substring of w, found by
  // sweeping each term once: w credits s and s credits w.
  std::vector<std::tuple<TermId, TermId, int32_t>> pairs;  // (credited by, term, credit)
  for (TermId w = 0; w < terms.size(); ++w) {
    pairs.emplace_back(w, w, kBagExactCredit);
    ForEachContainedTerm(terms[w], [&](TermId s) {
      pairs.emplace_back(w, s, kBagPartialCredit);
      pairs.emplace_back(s, w, kBagPartialCredit);
    });
  }
  std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());  // s occurring twice in w
  vocab_credit_begin_.assign(terms.size() + 1, 0);
  vocab_credits_.reserve(pairs.size());
  for (const auto& [by, term, credit] : pairs) {
    ++vocab_credit_begin_[by + 1];
    vocab_credits_.emplace_back(term, credit);
  }
  for (std::size_t t = 0; t < terms.size(); ++t) {
    vocab_credit_begin_[t + 1] += vocab_credit_begin_[t];
  }
}

template <typename Found>
void PartialCreditIndex::ForEachContainedTerm(std::string_view g, Found&& found) const {
  for (std::size_t begin = 0; begin < g.size(); ++begin) {
    uint64_t state = TermVocab::kHashSeed;
    const std::size_t end = std::min(g.size(), begin + longest_term_);
    for (std::size_t stop = begin + 1; stop <= end; ++stop) {
      state = TermVocab::HashStep(state, static_cast<unsigned char>(g[stop - 1]));
      if (stop - begin == g.size()) continue;  // g itself
      const TermId t = vocab_.FindNormalizedByState(g.substr(begin, stop - begin), state);
      if (t != kUnknownTerm) found(t);
    }
  }
}

void PartialCreditIndex::ComputeCredits(std::string_view g, std::vector<TermCredit>* out) const {
  const auto& terms = vocab_.terms();
  const std::size_t first = out->size();
  // Terms containing g (g itself included): suffixes starting with g form one sorted range.
  auto lower = std::lower_bound(suffixes_.begin(), suffixes_.end(), g,
                                [&](const Suffix& s, std::string_view key) {
                                  return std::string_view(terms[s.term]).substr(s.offset) < key;
                                });
  for (auto it = lower; it != suffixes_.end(); ++it) {
    const std::string_view suffix = std::string_view(terms[it->term]).substr(it->offset);
    if (suffix.substr(0, g.size()) != g) break;
    out->emplace_back(it->term,
                      terms[it->term].size() == g.size() ? kBagExactCredit : kBagPartialCredit);
  }
  ForEachContainedTerm(g, [&](TermId t) { out->emplace_back(t, kBagPartialCredit); });
  SortUnique(out, first);
}

void PartialCreditIndex::Credits(std::string_view g, std::vector<TermCredit>* out) const {
  const TermId t = vocab_.FindNormalized(g);
  if (t == kUnknownTerm) return ComputeCredits(g, out);
  const auto credits = VocabCredits(t);
  out->insert(out->end(), credits.begin(), credits.end());
}

std::span<const TermCredit> PartialCreditIndex::VocabCredits(TermId t) const {
  const std::size_t begin = vocab_credit_begin_[t];
  return {vocab_credits_.data() + begin, vocab_credit_begin_[t + 1] - begin};
}

std::size_t PartialCreditIndex::MemoryBytes() const {
  return suffixes_.size() * sizeof(Suffix) + vocab_credit_begin_.size() * sizeof(std::size_t) +
         vocab_credits_.size() * sizeof(TermCredit);
}

}  // namespace grlm
