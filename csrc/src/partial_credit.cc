#include "grlm/partial_credit.h"

#include <algorithm>

#include "grlm/item_score.h"

namespace grlm {

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
}

void PartialCreditIndex::Credits(std::string_view g,
                                 std::vector<std::pair<TermId, int32_t>>* out) const {
  const auto& terms = vocab_.terms();
  const std::size_t first = out->size();
  // Terms containing g (g itself included): suffixes starting with g form one sorted range.
  auto lower = std::lower_bound(suffixes_.begin(), suffixes_.end(), g, [&](const Suffix& s, std::string_view key) {
    return std::string_view(terms[s.term]).substr(s.offset) < key;
  });
  for (auto it = lower; it != suffixes_.end(); ++it) {
    const std::string_view suffix = std::string_view(terms[it->term]).substr(it->offset);
    if (suffix.substr(0, g.size()) != g) break;
    out->emplace_back(it->term, terms[it->term].size() == g.size() ? kBagExactCredit : kBagPartialCredit);
  }
  // Terms contained in g: look up every proper substring of g.
  for (std::size_t begin = 0; begin < g.size(); ++begin) {
    for (std::size_t length = 1; length <= longest_term_ && begin + length <= g.size(); ++length) {
      if (length == g.size()) continue;
      const TermId t = vocab_.FindNormalized(g.substr(begin, length));
      if (t != kUnknownTerm) out->emplace_back(t, kBagPartialCredit);
    }
  }
  // Each term once: a term found twice (e.g. several occurrences) keeps its highest credit.
  std::sort(out->begin() + first, out->end(), [](const auto& a, const auto& b) {
    return a.first < b.first || (a.first == b.first && a.second > b.second);
  });
  out->erase(std::unique(out->begin() + first, out->end(),
                         [](const auto& a, const auto& b) { return a.first == b.first; }),
             out->end());
}

std::size_t PartialCreditIndex::MemoryBytes() const { return suffixes_.size() * sizeof(Suffix); }

}  // namespace grlm
