#include "grlm/grounder.h"

#include <algorithm>
#include <utility>

#include "grlm/error.h"
#include "parallel_for.h"

namespace grlm {

Grounder::Grounder(Catalog catalog, ScoreMode mode, std::vector<double> weights,
                   ScorerOptions options)
    : catalog_(std::make_unique<Catalog>(std::move(catalog))) {
  GRLM_CHECK(catalog_->size() > 0, InvalidArgument, "cannot ground against an empty catalog");
  direct_ = std::make_unique<DirectMap>(*catalog_);
  scorer_ = std::make_unique<StructuralScorer>(*catalog_, mode, std::move(weights), options);
}

void Grounder::Prepare(std::span<const std::string_view> terms, PreparedQuery* query) const {
  TermId ids[kMaxTermIdLength];
  catalog_->EncodeQuery(terms, ids);
  if (scorer_->mode() != ScoreMode::kBag) {
    scorer_->Prepare({}, ids, query);
    return;
  }
  // Bag mode reads the strings of unknown terms (their substring credits are computed per query;
  // a known term's were computed at build time). The buffers outlive the views.
  std::string buffers[kMaxTermIdLength];
  std::string_view normalized[kMaxTermIdLength];
  for (std::size_t j = 0; j < terms.size(); ++j) {
    if (ids[j] == kUnknownTerm) normalized[j] = TermVocab::NormalizeInto(terms[j], &buffers[j]);
  }
  scorer_->Prepare({normalized, terms.size()}, ids, query);
}

void Grounder::FillDirect(const PreparedQuery& query, std::span<const uint32_t> direct, int k,
                          GroundResult* result) const {
  result->hit = HitType::kDirect;
  const std::size_t n = std::min(direct.size(), std::size_t(k));
  result->items.assign(direct.begin(), direct.begin() + n);
  // Every item of a direct hit carries the query's Term ID, so they all have its score.
  result->scores.assign(n, scorer_->ScoreTerms(query, query.ids));
}

bool Grounder::GroundDirect(const PreparedQuery& query, int k, GroundResult* result) const {
  const auto direct = direct_->Find(query.ids);
  if (direct.empty()) return false;
  FillDirect(query, direct, k, result);
  return true;
}

namespace {

void FillStructural(std::vector<ScoredItem> top, GroundResult* result) {
  result->items.reserve(top.size());
  result->scores.reserve(top.size());
  for (const ScoredItem& scored : top) {
    result->items.push_back(scored.item);
    result->scores.push_back(scored.score);
  }
  result->hit = result->items.empty() ? HitType::kNone : HitType::kStructural;
}

}  // namespace

const StructuralBackend& Grounder::BackendFor(const StructuralBackend* backend, int k) const {
  GRLM_CHECK(k >= 1, InvalidArgument, "k must be at least 1, got " << k);
  if (backend == nullptr || backend == scorer_.get()) return *scorer_;
  GRLM_CHECK(backend->catalog() == nullptr || backend->catalog() == catalog_.get(), InvalidArgument,
             "the structural backend is not over this catalog (it was built from another one, "
             "e.g. the base of a catalog before a compaction)");
  GRLM_CHECK(backend->mode() == mode() && backend->num_items() == catalog_->size(), InvalidArgument,
             "the structural backend (" << backend->num_items() << " items, mode "
                                        << int(backend->mode()) << ") is not over this catalog ("
                                        << catalog_->size() << " items, mode " << int(mode())
                                        << ")");
  return k <= backend->max_top_k() ? *backend : *scorer_;
}

GroundResult Grounder::Ground(std::span<const std::string_view> terms, int k,
                              const StructuralBackend* backend) const {
  const StructuralBackend& structural = BackendFor(backend, k);
  PreparedQuery query;
  Prepare(terms, &query);
  GroundResult result;
  if (GroundDirect(query, k, &result)) return result;
  const PreparedQuery* queries[] = {&query};
  std::vector<ScoredItem> top;
  structural.TopKBatch(queries, k, 1, {&top, 1});
  FillStructural(std::move(top), &result);
  return result;
}

std::vector<GroundResult> Grounder::GroundBatch(
    const std::vector<std::span<const std::string_view>>& queries, int k, int num_threads,
    const StructuralBackend* backend) const {
  const StructuralBackend& structural = BackendFor(backend, k);
  const std::size_t threads = detail::WorkerCount(num_threads, queries.size());
  std::vector<GroundResult> results(queries.size());
  // The CPU scorer scores a miss where it is found (one parallel phase); another backend gets
  // every miss of the batch in one call: per thread, (query index, prepared form).
  const bool score_inline = &structural == scorer_.get();
  std::vector<std::vector<std::pair<std::size_t, PreparedQuery>>> thread_misses(threads);
  // Each thread takes blocks of queries in turn; a block's direct lookups run as one batch. A
  // thread's block buffers are reused (so are their bag credit vectors, for the direct hits).
  constexpr std::size_t kBlock = 16;
  detail::ParallelFor(threads, [&](std::size_t t) {
    PreparedQuery prepared[kBlock];
    const TermId* keys[kBlock];
    std::span<const uint32_t> direct[kBlock];
    for (std::size_t begin = t * kBlock; begin < queries.size(); begin += threads * kBlock) {
      const std::size_t size = std::min(kBlock, queries.size() - begin);
      for (std::size_t i = 0; i < size; ++i) {
        Prepare(queries[begin + i], &prepared[i]);
        keys[i] = prepared[i].ids;
      }
      direct_->FindBatch({keys, size}, direct);
      for (std::size_t i = 0; i < size; ++i) {
        if (direct[i].empty() && score_inline) {
          FillStructural(scorer_->TopK(prepared[i], k), &results[begin + i]);
        } else if (direct[i].empty()) {
          thread_misses[t].emplace_back(begin + i, std::move(prepared[i]));
        } else {
          FillDirect(prepared[i], direct[i], k, &results[begin + i]);
        }
      }
    }
  });
  std::vector<const PreparedQuery*> misses;
  std::vector<std::size_t> miss_index;
  for (const auto& list : thread_misses) {
    for (const auto& [index, query] : list) {
      misses.push_back(&query);
      miss_index.push_back(index);
    }
  }
  std::vector<std::vector<ScoredItem>> top(misses.size());
  if (!misses.empty()) structural.TopKBatch(misses, k, int(threads), top);
  for (std::size_t m = 0; m < misses.size(); ++m) {
    FillStructural(std::move(top[m]), &results[miss_index[m]]);
  }
  return results;
}

std::vector<std::vector<ScoredItem>> Grounder::StructuralTopK(
    std::span<const PreparedQuery* const> queries, int k, int num_threads,
    const StructuralBackend* backend) const {
  const StructuralBackend& structural = BackendFor(backend, k);
  std::vector<std::vector<ScoredItem>> top(queries.size());
  if (!queries.empty()) structural.TopKBatch(queries, k, num_threads, top);
  return top;
}

std::size_t Grounder::MemoryBytes() const {
  const auto& c = *catalog_;
  std::size_t bytes = c.terms().size() * sizeof(TermId) + c.tie_rank().size() * sizeof(uint32_t) +
                      c.priors().size() * sizeof(double);
  for (const auto& id : c.item_ids()) bytes += sizeof(std::string) + id.capacity() + 48;
  bytes += c.vocab().MemoryBytes();
  return bytes + direct_->MemoryBytes() + scorer_->MemoryBytes();
}

}  // namespace grlm
