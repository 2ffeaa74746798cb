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

const Grounder& CatalogSnapshot::SegmentGrounder(std::size_t s) const {
  return s == 0 ? *base_ : *segments_[s - 1].segment->grounder;
}

const std::vector<uint32_t>& CatalogSnapshot::Dead(std::size_t s) const {
  return s == 0 ? tombstones_ : segments_[s - 1].dead;
}

uint64_t CatalogSnapshot::Key(std::size_t s, uint32_t index) const {
  return s == 0 ? index : segments_[s - 1].segment->items[index].key;
}

double CatalogSnapshot::Prior(std::size_t s, uint32_t index) const {
  if (s > 0) return segments_[s - 1].segment->items[index].prior;
  const Catalog& c = base_->catalog();
  return c.has_priors() ? c.priors()[index] : 0.0;
}

bool CatalogSnapshot::IsDead(std::size_t s, uint32_t index) const {
  const auto& dead = Dead(s);
  return std::binary_search(dead.begin(), dead.end(), index);
}

int CatalogSnapshot::FullK(std::size_t s, int k) const {
  GRLM_CHECK(k >= 1, InvalidArgument, "k must be at least 1, got " << k);
  const int64_t wanted = int64_t(k) + int64_t(Dead(s).size());
  return int(std::min<int64_t>({wanted, int64_t(SegmentGrounder(s).catalog().size()), INT_MAX}));
}

int CatalogSnapshot::FirstK(std::size_t s, int k) const {
  // Few tombstones land in one answer: a margin of k + 16 makes a second query rare, and keeps
  // the segment's top-k heap small when there are many tombstones.
  const int64_t margin = std::min<int64_t>(int64_t(Dead(s).size()), int64_t(k) + 16);
  return std::min(FullK(s, k), int(std::min<int64_t>(int64_t(k) + margin, INT_MAX)));
}

std::size_t CatalogSnapshot::delta_size() const {
  std::size_t n = 0;
  for (const auto& seg : segments_) n += seg.live();
  return n;
}

std::size_t CatalogSnapshot::num_tombstones() const {
  std::size_t n = tombstones_.size();
  for (const auto& seg : segments_) n += seg.dead.size();
  return n;
}

std::size_t CatalogSnapshot::pending() const {
  std::size_t n = tombstones_.size();
  for (const auto& seg : segments_) n += seg.segment->items.size();
  return n;
}

std::size_t CatalogSnapshot::MemoryBytes() const {
  std::size_t bytes = base_->MemoryBytes() + tombstones_.capacity() * sizeof(uint32_t);
  for (const auto& seg : segments_) {
    bytes += seg.segment->grounder->MemoryBytes() + seg.dead.capacity() * sizeof(uint32_t);
    for (const auto& item : seg.segment->items) {
      bytes += sizeof(DeltaItem) + item.id.capacity();
      for (const auto& term : item.terms) bytes += sizeof(std::string) + term.capacity();
    }
  }
  return bytes;
}

std::optional<CatalogSnapshot::Location> CatalogSnapshot::Locate(std::string_view item_id) const {
  const int64_t index = base_->catalog().FindItem(item_id);
  if (index >= 0 && !IsDead(0, uint32_t(index))) return Location{0, uint32_t(index)};
  const std::string id(item_id);
  for (std::size_t s = segments_.size(); s >= 1; --s) {
    const auto& index_of = segments_[s - 1].segment->index_of;
    const auto it = index_of.find(id);
    if (it != index_of.end() && !IsDead(s, it->second)) return Location{s, it->second};
  }
  return std::nullopt;
}

uint64_t CatalogSnapshot::Position(uint64_t key) const {
  // Live items with a smaller key: in the base, then in each delta segment.
  const uint64_t base_size = base_->catalog().size();
  uint64_t before =
      std::min(key, base_size) -
      uint64_t(std::lower_bound(tombstones_.begin(), tombstones_.end(), key) - tombstones_.begin());
  for (const auto& seg : segments_) {
    const auto& items = seg.segment->items;
    const auto below_key = [&](const DeltaItem& d) { return d.key < key; };
    const auto below =
        uint32_t(std::partition_point(items.begin(), items.end(), below_key) - items.begin());
    before += below - uint64_t(std::lower_bound(seg.dead.begin(), seg.dead.end(), below) -
                               seg.dead.begin());
  }
  return before;
}

const std::string& CatalogSnapshot::ItemIdAt(std::size_t position) const {
  GRLM_CHECK(position < size(), InvalidArgument,
             "item position " << position << " out of range for " << size() << " items");
  if (pristine()) return base_->catalog().ItemId(uint32_t(position));
  // The live key with `position` live keys below it: the smallest key whose successor has more.
  uint64_t low = 0;
  uint64_t high = next_key_;  // Position(high) == size() > position
  while (low < high) {
    const uint64_t mid = low + (high - low) / 2;
    if (Position(mid + 1) > position) {
      high = mid;
    } else {
      low = mid + 1;
    }
  }
  const uint64_t key = low;
  if (key < base_->catalog().size() && !IsDead(0, uint32_t(key))) {
    return base_->catalog().ItemId(uint32_t(key));
  }
  for (std::size_t s = 1; s < num_segments(); ++s) {
    const auto& items = segments_[s - 1].segment->items;
    const auto it = std::partition_point(items.begin(), items.end(),
                                         [&](const DeltaItem& d) { return d.key < key; });
    if (it != items.end() && it->key == key && !IsDead(s, uint32_t(it - items.begin()))) {
      return it->id;
    }
  }
  GRLM_CHECK(false, Error, "no live item has key " << key);  // unreachable: an invariant
}

int64_t CatalogSnapshot::FindItem(std::string_view item_id) const {
  const auto where = Locate(item_id);
  return where ? int64_t(Position(Key(where->segment, where->index))) : -1;
}

std::vector<std::string> CatalogSnapshot::ItemTerms(std::size_t position) const {
  const auto where = Locate(ItemIdAt(position));
  return TermsOf(SegmentGrounder(where->segment).catalog(), where->index);
}

void CatalogSnapshot::ForEachLive(const std::function<void(Location)>& visit) const {
  // Live delta items in key order, merged with the live base items (a base item's key is its
  // index).
  std::vector<std::pair<uint64_t, Location>> delta;
  for (std::size_t s = 1; s < num_segments(); ++s) {
    const auto& items = segments_[s - 1].segment->items;
    for (uint32_t d = 0; d < items.size(); ++d) {
      if (!IsDead(s, d)) delta.push_back({items[d].key, Location{s, d}});
    }
  }
  std::sort(delta.begin(), delta.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const uint32_t base_size = uint32_t(base_->catalog().size());
  std::size_t d = 0;
  std::size_t t = 0;
  for (uint32_t i = 0; i <= base_size; ++i) {
    for (; d < delta.size() && (i == base_size || delta[d].first < i); ++d) visit(delta[d].second);
    if (i == base_size) break;
    if (t < tombstones_.size() && tombstones_[t] == i) {
      ++t;
      continue;
    }
    visit(Location{0, i});
  }
}

std::vector<std::string> CatalogSnapshot::ItemIds() const {
  std::vector<std::string> ids;
  ids.reserve(size());
  ForEachLive([&](Location where) {
    ids.push_back(where.segment == 0 ? base_->catalog().ItemId(where.index)
                                     : segments_[where.segment - 1].segment->items[where.index].id);
  });
  return ids;
}

Catalog CatalogSnapshot::BuildCatalog() const {
  const Catalog& base = base_->catalog();
  Catalog catalog(base.term_id_length());
  std::vector<double> priors;
  priors.reserve(size());
  // Base term ids are translated to the new vocabulary, interned in order of first use (as a
  // catalog built item by item from strings would).
  std::vector<TermId> new_id(base.vocab().size(), kUnknownTerm);
  ForEachLive([&](Location where) {
    priors.push_back(Prior(where.segment, where.index));
    if (where.segment > 0) {
      const DeltaItem& item = segments_[where.segment - 1].segment->items[where.index];
      AddToCatalog(&catalog, item.id, item.terms);
      return;
    }
    TermId ids[kMaxTermIdLength];
    for (int j = 0; j < base.term_id_length(); ++j) {
      const TermId term = base.ItemTerms(where.index)[j];
      if (term >= kPadTerm) {
        ids[j] = term;
        continue;
      }
      if (new_id[term] == kUnknownTerm) {
        new_id[term] = catalog.mutable_vocab().Intern(base.vocab().Term(term));
      }
      ids[j] = new_id[term];
    }
    catalog.AddEncodedItem(base.ItemId(where.index), ids);
  });
  if (has_priors_) catalog.SetPriors(std::move(priors));
  return catalog;
}

// --- CatalogSnapshot: grounding --------------------------------------------------------------

GroundResult CatalogSnapshot::Merge(std::span<const std::string_view> terms, int k,
                                    std::span<const GroundResult> answers,
                                    const StructuralBackend* backend) const {
  // A segment's answer at FirstK holds its k best live items unless tombstones took more than
  // the margin and the answer was full; then the segment is asked again at FullK.
  std::vector<GroundResult> again(num_segments());
  std::vector<const GroundResult*> answer(num_segments());
  for (std::size_t s = 0; s < num_segments(); ++s) {
    answer[s] = &answers[s];
    const int first = FirstK(s, k);
    if (first == FullK(s, k) || answers[s].items.size() != std::size_t(first)) continue;
    const auto live = std::count_if(answers[s].items.begin(), answers[s].items.end(),
                                    [&](uint32_t item) { return !IsDead(s, item); });
    if (live < k) {
      again[s] = SegmentGrounder(s).Ground(terms, FullK(s, k), s == 0 ? backend : nullptr);
      answer[s] = &again[s];
    }
  }
  std::vector<Candidate> candidates;
  auto add = [&](std::size_t s, uint32_t item, double score) {
    if (!IsDead(s, item)) candidates.push_back({score, Prior(s, item), Key(s, item)});
  };
  // A direct hit: every live item with the Term ID, whichever segment holds it.
  for (std::size_t s = 0; s < num_segments(); ++s) {
    if (answer[s]->hit != HitType::kDirect) continue;
    for (std::size_t i = 0; i < answer[s]->items.size(); ++i) {
      add(s, answer[s]->items[i], answer[s]->scores[i]);
    }
  }
  const bool direct = !candidates.empty();
  if (!direct) {
    for (std::size_t s = 0; s < num_segments(); ++s) {
      if (answer[s]->hit == HitType::kDirect) {
        // Every item of the Term ID in this segment is gone: the current catalog misses it, so
        // the segment answers structurally after all.
        PreparedQuery query;
        SegmentGrounder(s).Prepare(terms, &query);
        for (const ScoredItem& scored : SegmentGrounder(s).scorer().TopK(query, FullK(s, k))) {
          add(s, scored.item, scored.score);
        }
      } else {
        for (std::size_t i = 0; i < answer[s]->items.size(); ++i) {
          add(s, answer[s]->items[i], answer[s]->scores[i]);
        }
      }
    }
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

GroundResult CatalogSnapshot::Ground(std::span<const std::string_view> terms, int k,
                                     const StructuralBackend* backend) const {
  GRLM_CHECK(k >= 1, InvalidArgument, "k must be at least 1, got " << k);
  if (pristine()) return base_->Ground(terms, k, backend);
  std::vector<GroundResult> answers(num_segments());
  answers[0] = base_->Ground(terms, FirstK(0, k), backend);
  for (std::size_t s = 1; s < num_segments(); ++s) {
    answers[s] = SegmentGrounder(s).Ground(terms, FirstK(s, k));
  }
  return Merge(terms, k, answers, backend);
}

std::vector<GroundResult> CatalogSnapshot::GroundBatch(const Queries& queries, int k,
                                                       int num_threads,
                                                       const StructuralBackend* backend) const {
  GRLM_CHECK(k >= 1, InvalidArgument, "k must be at least 1, got " << k);
  if (pristine()) return base_->GroundBatch(queries, k, num_threads, backend);
  // Each segment grounds the whole batch (the base's misses in one backend call), then each
  // query's answers merge.
  std::vector<std::vector<GroundResult>> by_segment(num_segments());
  by_segment[0] = base_->GroundBatch(queries, FirstK(0, k), num_threads, backend);
  for (std::size_t s = 1; s < num_segments(); ++s) {
    by_segment[s] = SegmentGrounder(s).GroundBatch(queries, FirstK(s, k), num_threads);
  }
  std::vector<GroundResult> results(queries.size());
  std::vector<GroundResult> answers(num_segments());
  for (std::size_t q = 0; q < queries.size(); ++q) {
    for (std::size_t s = 0; s < num_segments(); ++s) answers[s] = std::move(by_segment[s][q]);
    results[q] = Merge(queries[q], k, answers, backend);
  }
  return results;
}

// --- UpdatableGrounder: writing ---------------------------------------------------------------

UpdatableGrounder::UpdatableGrounder(std::shared_ptr<const Grounder> base,
                                     std::size_t compact_threshold)
    : compact_threshold_(compact_threshold) {
  GRLM_CHECK(base != nullptr, InvalidArgument, "the base grounder is null");
  GRLM_CHECK(compact_threshold >= 1, InvalidArgument, "compact_threshold must be at least 1");
  auto state = std::make_shared<CatalogSnapshot>();
  state->next_key_ = base->catalog().size();
  state->size_ = base->catalog().size();
  state->has_priors_ = base->catalog().has_priors();
  state->base_ = std::move(base);
  snapshot_.Publish(std::move(state));
}

std::shared_ptr<const CatalogSnapshot::Segment> UpdatableGrounder::BuildSegment(
    std::vector<CatalogSnapshot::DeltaItem> items, const Grounder& base, bool has_priors) {
  std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  Catalog catalog(base.catalog().term_id_length());
  std::vector<double> priors;
  for (const auto& item : items) {
    AddToCatalog(&catalog, item.id, item.terms);
    priors.push_back(item.prior);
  }
  if (has_priors) catalog.SetPriors(std::move(priors));
  auto segment = std::make_shared<CatalogSnapshot::Segment>();
  segment->index_of.reserve(items.size());
  for (uint32_t d = 0; d < items.size(); ++d) segment->index_of.emplace(items[d].id, d);
  segment->grounder = std::make_unique<const Grounder>(
      std::move(catalog), base.mode(), base.scorer().weights(), base.scorer().options());
  segment->items = std::move(items);
  return segment;
}

std::vector<CatalogSnapshot::DeltaItem> UpdatableGrounder::LiveItems(
    const CatalogSnapshot::SegmentState& state) {
  std::vector<CatalogSnapshot::DeltaItem> live;
  const auto& items = state.segment->items;
  for (uint32_t d = 0; d < items.size(); ++d) {
    if (!std::binary_search(state.dead.begin(), state.dead.end(), d)) live.push_back(items[d]);
  }
  return live;
}

void UpdatableGrounder::Tidy(CatalogSnapshot* state) {
  auto& segments = state->segments_;
  segments.erase(std::remove_if(segments.begin(), segments.end(),
                                [](const auto& seg) { return seg.live() == 0; }),
                 segments.end());
  std::size_t size = state->base_->catalog().size() - state->tombstones_.size();
  for (const auto& seg : segments) size += seg.live();
  state->size_ = size;
}

void UpdatableGrounder::AddSegment(CatalogSnapshot* state,
                                   std::vector<CatalogSnapshot::DeltaItem> items) {
  auto& segments = state->segments_;
  if (!items.empty()) {
    segments.push_back({BuildSegment(std::move(items), *state->base_, state->has_priors_), {}});
  }
  Tidy(state);
  // Merge the two newest while the older is at most twice the newer (live items), or while
  // there are too many: each item is rebuilt O(log n) times.
  while (segments.size() >= 2) {
    const auto& older = segments[segments.size() - 2];
    const auto& newer = segments.back();
    if (older.live() > 2 * newer.live() && segments.size() <= kMaxDeltaSegments) break;
    auto merged = LiveItems(older);
    auto newest = LiveItems(newer);
    merged.insert(merged.end(), std::make_move_iterator(newest.begin()),
                  std::make_move_iterator(newest.end()));
    segments.pop_back();
    segments.back() = {BuildSegment(std::move(merged), *state->base_, state->has_priors_), {}};
  }
}

void UpdatableGrounder::AddItems(std::span<const CatalogItem> items) {
  PutItems(items, /*may_add=*/true, /*may_replace=*/false);
}

void UpdatableGrounder::UpdateItems(std::span<const CatalogItem> items) {
  PutItems(items, /*may_add=*/false, /*may_replace=*/true);
}

void UpdatableGrounder::UpsertItems(std::span<const CatalogItem> items) {
  PutItems(items, /*may_add=*/true, /*may_replace=*/true);
}

void UpdatableGrounder::PutItems(std::span<const CatalogItem> items, bool may_add,
                                 bool may_replace) {
  std::lock_guard<std::mutex> lock(write_mutex_);
  const auto current = snapshot_.Load();
  auto next = std::make_shared<CatalogSnapshot>(*current);
  std::vector<CatalogSnapshot::DeltaItem> put;
  std::unordered_set<std::string_view> seen;
  for (const CatalogItem& item : items) {
    GRLM_CHECK(seen.insert(item.id).second, InvalidArgument,
               "item '" << item.id << "' is listed twice");
    CheckPrior(item);
    const auto where = current->Locate(item.id);
    GRLM_CHECK(where || may_add, InvalidArgument,
               "item '" << item.id << "' is not in the catalog (add it)");
    GRLM_CHECK(!where || may_replace, InvalidArgument,
               "item '" << item.id << "' is already in the catalog (update it instead)");
    if (item.prior) next->has_priors_ = true;
    if (!where) {
      put.push_back({item.id, item.terms, item.prior.value_or(0.0), next->next_key_++});
      continue;
    }
    // The old version dies; the new one keeps its key (its position) and, unless given, its prior.
    auto& dead = where->segment == 0 ? next->tombstones_ : next->segments_[where->segment - 1].dead;
    dead.insert(std::lower_bound(dead.begin(), dead.end(), where->index), where->index);
    put.push_back({item.id, item.terms,
                   item.prior.value_or(current->Prior(where->segment, where->index)),
                   current->Key(where->segment, where->index)});
  }
  if (items.empty()) return;
  AddSegment(next.get(), std::move(put));
  Publish(std::move(next));
}

void UpdatableGrounder::RemoveItems(std::span<const std::string> item_ids) {
  std::lock_guard<std::mutex> lock(write_mutex_);
  const auto current = snapshot_.Load();
  auto next = std::make_shared<CatalogSnapshot>(*current);
  std::unordered_set<std::string_view> seen;
  for (const std::string& id : item_ids) {
    GRLM_CHECK(seen.insert(id).second, InvalidArgument, "item '" << id << "' is listed twice");
    const auto where = current->Locate(id);
    GRLM_CHECK(where, InvalidArgument, "item '" << id << "' is not in the catalog");
    auto& dead = where->segment == 0 ? next->tombstones_ : next->segments_[where->segment - 1].dead;
    dead.insert(std::lower_bound(dead.begin(), dead.end(), where->index), where->index);
  }
  GRLM_CHECK(item_ids.size() < current->size(), InvalidArgument,
             "removing these " << item_ids.size() << " items would leave the catalog empty; "
                               << "a grounder needs at least one item (add the new ones first)");
  if (item_ids.empty()) return;
  AddSegment(next.get(), {});
  Publish(std::move(next));
}

std::shared_ptr<CatalogSnapshot> UpdatableGrounder::Compacted(const CatalogSnapshot& state) const {
  auto next = std::make_shared<CatalogSnapshot>();
  const Grounder& base = *state.base_;
  next->base_ = std::make_shared<const Grounder>(state.BuildCatalog(), base.mode(),
                                                 base.scorer().weights(), base.scorer().options());
  next->next_key_ = next->base_->catalog().size();
  next->size_ = next->base_->catalog().size();
  next->has_priors_ = state.has_priors_;
  next->version_ = state.version_;
  return next;
}

void UpdatableGrounder::Publish(std::shared_ptr<CatalogSnapshot> next) {
  if (next->pending() > compact_threshold_) next = Compacted(*next);
  ++next->version_;
  snapshot_.Publish(std::move(next));
}

std::shared_ptr<const CatalogSnapshot> UpdatableGrounder::CompactLocked() {
  auto current = snapshot_.Load();
  if (current->pristine()) return current;
  auto next = Compacted(*current);
  ++next->version_;
  snapshot_.Publish(next);
  return next;
}

void UpdatableGrounder::Compact() {
  std::lock_guard<std::mutex> lock(write_mutex_);
  CompactLocked();
}

void UpdatableGrounder::Save(const std::string& path) {
  std::lock_guard<std::mutex> lock(write_mutex_);
  SaveIndex(CompactLocked()->base(), path);
}

std::shared_ptr<const Grounder> UpdatableGrounder::Index() {
  std::lock_guard<std::mutex> lock(write_mutex_);
  return CompactLocked()->base_;
}

}  // namespace grlm
