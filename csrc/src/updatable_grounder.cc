#include "grlm/updatable_grounder.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <unordered_set>
#include <utility>

#include "grlm/error.h"
#include "grlm/index_file.h"

namespace grlm {
namespace {

std::vector<std::string> TermsOf(const Catalog& catalog, uint32_t index) {
  std::vector<std::string> terms;
  const TermId* ids = catalog.ItemTerms(index);
  for (int j = 0; j < catalog.term_id_length(); ++j) {
    if (ids[j] < kPadTerm) terms.push_back(catalog.vocab().Term(ids[j]));
  }
  return terms;
}

void AddToCatalog(Catalog* catalog, std::string_view id, const std::vector<std::string>& terms) {
  std::string_view views[kMaxTermIdLength + 1];
  // One view past L is enough for AddItem to name a Term ID that is too long.
  const std::size_t n = std::min<std::size_t>(terms.size(), kMaxTermIdLength + 1);
  for (std::size_t j = 0; j < n; ++j) views[j] = terms[j];
  GRLM_CHECK(terms.size() <= std::size_t(catalog->term_id_length()), InvalidArgument,
             "item '" << id << "' has " << terms.size() << " terms; expected 1.."
                      << catalog->term_id_length());
  catalog->AddItem(id, std::span<const std::string_view>(views, n));
}

void CheckPrior(const CatalogItem& item) {
  GRLM_CHECK(!item.prior || std::isfinite(*item.prior), InvalidArgument,
             "prior of item '" << item.id << "' is not finite: " << *item.prior);
}

}  // namespace

// --- CatalogSnapshot: reading ---------------------------------------------------------------

double CatalogSnapshot::BasePrior(uint32_t index) const {
  const Catalog& c = base_->catalog();
  return c.has_priors() ? c.priors()[index] : 0.0;
}

bool CatalogSnapshot::IsTombstoned(uint32_t base_index) const {
  return std::binary_search(tombstones_.begin(), tombstones_.end(), base_index);
}

uint64_t CatalogSnapshot::Position(uint64_t key) const {
  const uint64_t base_size = base_->catalog().size();
  const auto removed_before =
      std::lower_bound(tombstones_.begin(), tombstones_.end(), key) - tombstones_.begin();
  uint64_t delta_before = 0;
  if (delta_) {
    const auto& items = delta_->items;
    delta_before = std::partition_point(items.begin(), items.end(),
                                        [&](const DeltaItem& d) { return d.key < key; }) -
                   items.begin();
  }
  return std::min(key, base_size) - uint64_t(removed_before) + delta_before;
}

int CatalogSnapshot::FullBaseK(int k) const {
  GRLM_CHECK(k >= 1, InvalidArgument, "k must be at least 1, got " << k);
  const int64_t wanted = int64_t(k) + int64_t(tombstones_.size());
  return int(std::min<int64_t>({wanted, int64_t(base_->catalog().size()), INT_MAX}));
}

int CatalogSnapshot::BaseK(int k) const {
  // Few tombstones land in one answer: a margin of k + 16 makes a second query rare, and keeps
  // the base's top-k heap small when there are many tombstones.
  const int64_t margin = std::min<int64_t>(int64_t(tombstones_.size()), int64_t(k) + 16);
  return std::min(FullBaseK(k), int(std::min<int64_t>(int64_t(k) + margin, INT_MAX)));
}

const std::string& CatalogSnapshot::ItemIdAt(std::size_t position) const {
  GRLM_CHECK(position < size(), InvalidArgument,
             "item position " << position << " out of range for " << size() << " items");
  // Delta items before the position (their positions grow with their index).
  std::size_t before = 0;
  if (delta_) {
    const auto& items = delta_->items;
    before = std::partition_point(items.begin(), items.end(),
                                  [&](const DeltaItem& d) { return Position(d.key) < position; }) -
             items.begin();
    if (before < items.size() && Position(items[before].key) == position) return items[before].id;
  }
  // Otherwise the rank-th live base item: rank plus the tombstones below it; tombstone q has
  // tombstones_[q] - q live base items below it.
  const std::size_t rank = position - before;
  std::size_t q = 0;
  for (std::size_t step = tombstones_.size(); step > 0; step /= 2) {
    while (q + step <= tombstones_.size() && tombstones_[q + step - 1] - (q + step - 1) <= rank) {
      q += step;
    }
  }
  return base_->catalog().ItemId(uint32_t(rank + q));
}

int64_t CatalogSnapshot::FindItem(std::string_view item_id) const {
  const int64_t index = base_->catalog().FindItem(item_id);
  if (index >= 0 && !IsTombstoned(uint32_t(index))) return int64_t(Position(uint64_t(index)));
  if (delta_) {
    const auto it = delta_->index_of.find(std::string(item_id));
    if (it != delta_->index_of.end()) return int64_t(Position(delta_->items[it->second].key));
  }
  return -1;
}

std::vector<std::string> CatalogSnapshot::ItemTerms(std::size_t position) const {
  const std::string& id = ItemIdAt(position);
  if (delta_) {
    const auto it = delta_->index_of.find(id);
    if (it != delta_->index_of.end()) return TermsOf(delta_->grounder->catalog(), it->second);
  }
  return TermsOf(base_->catalog(), uint32_t(base_->catalog().FindItem(id)));
}

Catalog CatalogSnapshot::BuildCatalog() const {
  const Catalog& base = base_->catalog();
  Catalog catalog(base.term_id_length());
  std::vector<double> priors;
  const std::vector<DeltaItem> no_items;
  const auto& delta = delta_ ? delta_->items : no_items;
  std::vector<TermId> new_id(base.vocab().size(), kUnknownTerm);
  std::size_t d = 0;
  std::size_t t = 0;
  // Base items and delta items merged by key (a base item's key is its index).
  for (uint32_t i = 0; i <= base.size(); ++i) {
    for (; d < delta.size() && (i == base.size() || delta[d].key < i); ++d) {
      AddToCatalog(&catalog, delta[d].id, delta[d].terms);
      priors.push_back(delta[d].prior);
    }
    if (i == base.size()) break;
    if (t < tombstones_.size() && tombstones_[t] == i) {
      ++t;
      continue;
    }
    // Base term ids translated to the new vocabulary, interned in order of first use (as a
    // catalog built item by item from strings would).
    TermId ids[kMaxTermIdLength];
    for (int j = 0; j < base.term_id_length(); ++j) {
      const TermId t = base.ItemTerms(i)[j];
      if (t >= kPadTerm) {
        ids[j] = t;
        continue;
      }
      if (new_id[t] == kUnknownTerm) new_id[t] = catalog.mutable_vocab().Intern(base.vocab().Term(t));
      ids[j] = new_id[t];
    }
    catalog.AddEncodedItem(base.ItemId(i), ids);
    priors.push_back(BasePrior(i));
  }
  if (has_priors_) catalog.SetPriors(std::move(priors));
  return catalog;
}

// --- CatalogSnapshot: grounding --------------------------------------------------------------

GroundResult CatalogSnapshot::Merge(std::span<const std::string_view> terms, int k,
                                    const GroundResult& first_base, const GroundResult& delta) const {
  // The base's answer at BaseK(k) holds its k best live items unless tombstones took more than
  // the margin and the answer was full; then ask again for k plus every tombstone.
  const GroundResult* answer = &first_base;
  GroundResult full_answer;
  const int base_k = BaseK(k);
  if (base_k < FullBaseK(k) && first_base.items.size() == std::size_t(base_k)) {
    const auto live = std::count_if(first_base.items.begin(), first_base.items.end(),
                                    [&](uint32_t item) { return !IsTombstoned(item); });
    if (live < k) {
      full_answer = base_->Ground(terms, FullBaseK(k));
      answer = &full_answer;
    }
  }
  const GroundResult& base = *answer;
  std::vector<Candidate> candidates;
  auto add_base = [&](uint32_t item, double score) {
    if (!IsTombstoned(item)) candidates.push_back({score, BasePrior(item), item});
  };
  auto add_delta = [&](const GroundResult& r) {
    for (std::size_t i = 0; i < r.items.size(); ++i) {
      const DeltaItem& d = delta_->items[r.items[i]];
      candidates.push_back({r.scores[i], d.prior, d.key});
    }
  };
  if (base.hit == HitType::kDirect) {
    for (std::size_t i = 0; i < base.items.size(); ++i) add_base(base.items[i], base.scores[i]);
  }
  const bool direct = !candidates.empty() || delta.hit == HitType::kDirect;
  if (direct) {
    if (delta.hit == HitType::kDirect) add_delta(delta);
  } else {
    if (base.hit == HitType::kDirect) {
      // Every base item of the Term ID is gone: the current catalog misses it, so the base
      // answers structurally after all.
      PreparedQuery query;
      base_->Prepare(terms, &query);
      for (const ScoredItem& s : base_->scorer().TopK(query, FullBaseK(k))) {
        add_base(s.item, s.score);
      }
    } else {
      for (std::size_t i = 0; i < base.items.size(); ++i) add_base(base.items[i], base.scores[i]);
    }
    add_delta(delta);
  }
  // Score desc, then the catalog's tie order: prior desc, position (= key) asc.
  auto before = [](const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.prior != b.prior) return a.prior > b.prior;
    return a.key < b.key;
  };
  const std::size_t n = std::min(candidates.size(), std::size_t(k));
  std::partial_sort(candidates.begin(), candidates.begin() + n, candidates.end(), before);
  GroundResult result;
  result.hit = direct ? HitType::kDirect : (n == 0 ? HitType::kNone : HitType::kStructural);
  for (std::size_t i = 0; i < n; ++i) {
    result.items.push_back(uint32_t(Position(candidates[i].key)));
    result.scores.push_back(candidates[i].score);
  }
  return result;
}

GroundResult CatalogSnapshot::Ground(std::span<const std::string_view> terms, int k) const {
  GRLM_CHECK(k >= 1, InvalidArgument, "k must be at least 1, got " << k);
  if (pristine()) return base_->Ground(terms, k);
  const GroundResult base = base_->Ground(terms, BaseK(k));
  const GroundResult delta = delta_ ? delta_->grounder->Ground(terms, k) : GroundResult{};
  return Merge(terms, k, base, delta);
}

std::vector<GroundResult> CatalogSnapshot::GroundBatch(
    const std::vector<std::span<const std::string_view>>& queries, int k, int num_threads) const {
  GRLM_CHECK(k >= 1, InvalidArgument, "k must be at least 1, got " << k);
  if (pristine()) return base_->GroundBatch(queries, k, num_threads);
  return MergeBatch(queries, k, base_->GroundBatch(queries, BaseK(k), num_threads), num_threads);
}

std::vector<GroundResult> CatalogSnapshot::MergeBatch(
    const std::vector<std::span<const std::string_view>>& queries, int k,
    std::vector<GroundResult> base_results, int num_threads) const {
  GRLM_CHECK(k >= 1, InvalidArgument, "k must be at least 1, got " << k);
  GRLM_CHECK(base_results.size() == queries.size(), InvalidArgument,
             "got " << base_results.size() << " base results for " << queries.size()
                    << " queries");
  if (pristine()) return base_results;
  std::vector<GroundResult> delta_results;
  if (delta_) delta_results = delta_->grounder->GroundBatch(queries, k, num_threads);
  const GroundResult none;
  for (std::size_t q = 0; q < queries.size(); ++q) {
    base_results[q] = Merge(queries[q], k, base_results[q], delta_ ? delta_results[q] : none);
  }
  return base_results;
}

// --- UpdatableGrounder: writing ---------------------------------------------------------------

UpdatableGrounder::UpdatableGrounder(std::shared_ptr<const Grounder> base,
                                     std::size_t compact_threshold)
    : compact_threshold_(compact_threshold) {
  GRLM_CHECK(base != nullptr, InvalidArgument, "the base grounder is null");
  GRLM_CHECK(compact_threshold >= 1, InvalidArgument, "compact_threshold must be at least 1");
  auto state = std::make_shared<CatalogSnapshot>();
  state->next_key_ = base->catalog().size();
  state->has_priors_ = base->catalog().has_priors();
  state->base_ = std::move(base);
  snapshot_.Publish(std::move(state));
}

std::shared_ptr<const CatalogSnapshot::Delta> UpdatableGrounder::BuildDelta(
    std::vector<CatalogSnapshot::DeltaItem> items, const CatalogSnapshot& state) {
  if (items.empty()) return nullptr;
  std::sort(items.begin(), items.end(),
            [](const auto& a, const auto& b) { return a.key < b.key; });
  const Grounder& base = *state.base_;
  Catalog catalog(base.catalog().term_id_length());
  std::vector<double> priors;
  for (const auto& item : items) {
    AddToCatalog(&catalog, item.id, item.terms);
    priors.push_back(item.prior);
  }
  if (state.has_priors_) catalog.SetPriors(std::move(priors));
  auto delta = std::make_shared<CatalogSnapshot::Delta>();
  delta->index_of.reserve(items.size());
  for (uint32_t d = 0; d < items.size(); ++d) delta->index_of.emplace(items[d].id, d);
  delta->grounder =
      std::make_unique<const Grounder>(std::move(catalog), base.mode(), base.scorer().weights());
  delta->items = std::move(items);
  return delta;
}

void UpdatableGrounder::AddItems(std::span<const CatalogItem> items) {
  std::lock_guard<std::mutex> lock(write_mutex_);
  const auto current = snapshot_.Load();
  auto next = std::make_shared<CatalogSnapshot>(*current);
  auto delta = current->delta_ ? current->delta_->items : std::vector<CatalogSnapshot::DeltaItem>{};
  std::unordered_set<std::string_view> seen;
  for (const CatalogItem& item : items) {
    GRLM_CHECK(seen.insert(item.id).second, InvalidArgument,
               "item '" << item.id << "' is listed twice");
    GRLM_CHECK(current->FindItem(item.id) < 0, InvalidArgument,
               "item '" << item.id << "' is already in the catalog (update it instead)");
    CheckPrior(item);
    if (item.prior) next->has_priors_ = true;
    delta.push_back({item.id, item.terms, item.prior.value_or(0.0), next->next_key_++});
  }
  if (items.empty()) return;
  next->delta_ = BuildDelta(std::move(delta), *next);
  Publish(std::move(next));
}

void UpdatableGrounder::RemoveItems(std::span<const std::string> item_ids) {
  std::lock_guard<std::mutex> lock(write_mutex_);
  const auto current = snapshot_.Load();
  auto next = std::make_shared<CatalogSnapshot>(*current);
  const Catalog& base = current->base_->catalog();
  std::unordered_set<std::string_view> seen;
  std::unordered_set<std::string_view> removed_from_delta;
  for (const std::string& id : item_ids) {
    GRLM_CHECK(seen.insert(id).second, InvalidArgument, "item '" << id << "' is listed twice");
    const int64_t index = base.FindItem(id);
    if (index >= 0 && !current->IsTombstoned(uint32_t(index))) {
      next->tombstones_.push_back(uint32_t(index));
    } else if (current->delta_ && current->delta_->index_of.count(id)) {
      removed_from_delta.insert(id);
    } else {
      GRLM_CHECK(false, InvalidArgument, "item '" << id << "' is not in the catalog");
    }
  }
  GRLM_CHECK(item_ids.size() < current->size(), InvalidArgument,
             "removing these " << item_ids.size() << " items would leave the catalog empty; "
                               << "a grounder needs at least one item (add the new ones first)");
  if (item_ids.empty()) return;
  std::sort(next->tombstones_.begin(), next->tombstones_.end());
  if (!removed_from_delta.empty()) {
    std::vector<CatalogSnapshot::DeltaItem> kept;
    for (const auto& d : current->delta_->items) {
      if (!removed_from_delta.count(d.id)) kept.push_back(d);
    }
    next->delta_ = BuildDelta(std::move(kept), *next);
  }
  Publish(std::move(next));
}

void UpdatableGrounder::UpdateItems(std::span<const CatalogItem> items) {
  std::lock_guard<std::mutex> lock(write_mutex_);
  const auto current = snapshot_.Load();
  auto next = std::make_shared<CatalogSnapshot>(*current);
  const Catalog& base = current->base_->catalog();
  auto delta = current->delta_ ? current->delta_->items : std::vector<CatalogSnapshot::DeltaItem>{};
  std::unordered_set<std::string_view> seen;
  for (const CatalogItem& item : items) {
    GRLM_CHECK(seen.insert(item.id).second, InvalidArgument,
               "item '" << item.id << "' is listed twice");
    CheckPrior(item);
    if (item.prior) next->has_priors_ = true;
    const int64_t index = base.FindItem(item.id);
    if (index >= 0 && !current->IsTombstoned(uint32_t(index))) {
      next->tombstones_.push_back(uint32_t(index));
      const double prior = item.prior.value_or(current->BasePrior(uint32_t(index)));
      delta.push_back({item.id, item.terms, prior, uint64_t(index)});
    } else if (current->delta_ && current->delta_->index_of.count(item.id)) {
      auto& d = delta[current->delta_->index_of.at(item.id)];
      d.terms = item.terms;
      if (item.prior) d.prior = *item.prior;
    } else {
      GRLM_CHECK(false, InvalidArgument, "item '" << item.id << "' is not in the catalog (add it)");
    }
  }
  if (items.empty()) return;
  std::sort(next->tombstones_.begin(), next->tombstones_.end());
  next->delta_ = BuildDelta(std::move(delta), *next);
  Publish(std::move(next));
}

std::shared_ptr<CatalogSnapshot> UpdatableGrounder::Compacted(const CatalogSnapshot& state) const {
  auto next = std::make_shared<CatalogSnapshot>();
  const Grounder& base = *state.base_;
  next->base_ = std::make_shared<const Grounder>(state.BuildCatalog(), base.mode(),
                                                 base.scorer().weights());
  next->next_key_ = next->base_->catalog().size();
  next->has_priors_ = state.has_priors_;
  next->version_ = state.version_;
  return next;
}

void UpdatableGrounder::Publish(std::shared_ptr<CatalogSnapshot> next) {
  if (next->delta_size() + next->num_tombstones() > compact_threshold_) next = Compacted(*next);
  ++next->version_;
  snapshot_.Publish(std::move(next));
}

void UpdatableGrounder::Compact() {
  std::lock_guard<std::mutex> lock(write_mutex_);
  const auto current = snapshot_.Load();
  if (current->pristine()) return;
  auto next = Compacted(*current);
  ++next->version_;
  snapshot_.Publish(std::move(next));
}

void UpdatableGrounder::Save(const std::string& path) {
  std::lock_guard<std::mutex> lock(write_mutex_);
  auto current = snapshot_.Load();
  if (!current->pristine()) {
    auto next = Compacted(*current);
    ++next->version_;
    snapshot_.Publish(next);
    current = std::move(next);
  }
  SaveIndex(*current->base_, path);
}

}  // namespace grlm
