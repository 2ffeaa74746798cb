#include "grlm/catalog.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "grlm/error.h"
#include "utf8.h"

namespace grlm {

Catalog::Catalog(int term_id_length) : length_(term_id_length) {
  GRLM_CHECK(term_id_length >= 1 && term_id_length <= kMaxTermIdLength, InvalidArgument,
             "term_id_length must be in 1.." << kMaxTermIdLength << ", got " << term_id_length);
}

uint32_t Catalog::AddItem(std::string_view item_id, std::span<const std::string_view> terms) {
  GRLM_CHECK(!terms.empty() && int(terms.size()) <= length_, InvalidArgument,
             "item '" << item_id << "' has " << terms.size() << " terms; expected 1.." << length_);
  TermId ids[kMaxTermIdLength];
  for (int j = 0; j < length_; ++j) {
    if (j >= int(terms.size())) {
      ids[j] = kPadTerm;
      continue;
    }
    try {
      ids[j] = vocab_.Intern(terms[j]);
    } catch (const InvalidArgument& e) {
      GRLM_CHECK(false, InvalidArgument,
                 "item '" << item_id << "', term " << j << ": " << e.what());
    }
  }
  return AddEncodedItem(item_id, ids);
}

uint32_t Catalog::AddEncodedItem(std::string_view item_id, const TermId* terms) {
  GRLM_CHECK(!item_id.empty(), InvalidArgument, "item id is empty");
  GRLM_CHECK(IsValidUtf8(item_id), InvalidArgument, "item id is not valid UTF-8");
  GRLM_CHECK(item_ids_.size() < kPadTerm, InvalidArgument, "catalog is full");
  const auto index = uint32_t(item_ids_.size());
  GRLM_CHECK(index_of_.emplace(std::string(item_id), index).second, InvalidArgument,
             "duplicate item id '" << item_id << "'");
  item_ids_.emplace_back(item_id);
  terms_.insert(terms_.end(), terms, terms + length_);
  if (!priors_.empty()) priors_.push_back(0.0);
  tie_rank_.push_back(index);  // with no priors (or prior 0) the new item ranks last
  if (!priors_.empty()) RecomputeTieRank();
  return index;
}

void Catalog::SetPriors(std::vector<double> priors) {
  GRLM_CHECK(priors.size() == size(), InvalidArgument,
             "got " << priors.size() << " priors for " << size() << " items");
  for (std::size_t i = 0; i < priors.size(); ++i) {
    GRLM_CHECK(std::isfinite(priors[i]), InvalidArgument,
               "prior of item '" << item_ids_[i] << "' is not finite: " << priors[i]);
  }
  priors_ = std::move(priors);
  RecomputeTieRank();
}

void Catalog::RecomputeTieRank() {
  std::vector<uint32_t> order(size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return priors_[a] > priors_[b]; });
  tie_rank_.assign(size(), 0);
  for (uint32_t rank = 0; rank < order.size(); ++rank) tie_rank_[order[rank]] = rank;
}

void Catalog::EncodeQuery(std::span<const std::string_view> terms, TermId* out) const {
  GRLM_CHECK(!terms.empty(), InvalidArgument, "Term ID is empty");
  GRLM_CHECK(
      int(terms.size()) <= length_, InvalidArgument,
      "Term ID has " << terms.size() << " terms; the catalog's Term IDs have at most " << length_);
  std::string buffer;
  for (int j = 0; j < length_; ++j) {
    if (j >= int(terms.size())) {
      out[j] = kPadTerm;
      continue;
    }
    try {
      out[j] = vocab_.FindNormalized(TermVocab::NormalizeInto(terms[j], &buffer));
    } catch (const InvalidArgument& e) {
      GRLM_CHECK(false, InvalidArgument, "term " << j << " of the Term ID: " << e.what());
    }
  }
}

int64_t Catalog::FindItem(std::string_view item_id) const {
  auto it = index_of_.find(std::string(item_id));
  return it == index_of_.end() ? -1 : int64_t(it->second);
}

}  // namespace grlm
