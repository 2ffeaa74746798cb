#include "grlm/grounder.h"

#include <algorithm>
#include <exception>
#include <string>
#include <system_error>
#include <thread>

#include "grlm/error.h"

namespace grlm {

Grounder::Grounder(Catalog catalog, ScoreMode mode, std::vector<double> weights)
    : catalog_(std::make_unique<Catalog>(std::move(catalog))) {
  GRLM_CHECK(catalog_->size() > 0, InvalidArgument, "cannot ground against an empty catalog");
  direct_ = std::make_unique<DirectMap>(*catalog_);
  scorer_ = std::make_unique<StructuralScorer>(*catalog_, mode, std::move(weights));
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

GroundResult Grounder::GroundPrepared(const PreparedQuery& query, std::span<const uint32_t> direct,
                                      int k) const {
  GroundResult result;
  if (!direct.empty()) {
    FillDirect(query, direct, k, &result);
    return result;
  }
  for (const ScoredItem& scored : scorer_->TopK(query, k)) {
    result.items.push_back(scored.item);
    result.scores.push_back(scored.score);
  }
  result.hit = result.items.empty() ? HitType::kNone : HitType::kStructural;
  return result;
}

GroundResult Grounder::Ground(std::span<const std::string_view> terms, int k) const {
  GRLM_CHECK(k >= 1, InvalidArgument, "k must be at least 1, got " << k);
  PreparedQuery query;
  Prepare(terms, &query);
  return GroundPrepared(query, direct_->Find(query.ids), k);
}

std::vector<GroundResult> Grounder::GroundBatch(const std::vector<std::span<const std::string_view>>& queries,
                                                int k, int num_threads) const {
  GRLM_CHECK(k >= 1, InvalidArgument, "k must be at least 1, got " << k);
  GRLM_CHECK(num_threads >= 0, InvalidArgument, "num_threads must be >= 0, got " << num_threads);
  std::vector<GroundResult> results(queries.size());
  std::size_t threads = num_threads > 0 ? std::size_t(num_threads)
                                        : std::max(1u, std::thread::hardware_concurrency());
  threads = std::max<std::size_t>(1, std::min(threads, queries.size() / 64 + 1));
  std::vector<std::exception_ptr> errors(threads);
  // Each thread takes blocks of queries in turn; a block's direct lookups run as one batch.
  constexpr std::size_t kBlock = 16;
  auto work = [&](std::size_t t) {
    try {
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
          results[begin + i] = GroundPrepared(prepared[i], direct[i], k);
        }
      }
    } catch (...) {
      errors[t] = std::current_exception();
    }
  };
  // The calling thread does share 0; the others are started here. A thread that cannot be
  // started (a process or memory limit) must not end the process: the started ones are joined
  // (a joinable std::thread destroyed would call std::terminate) and the failure is reported.
  std::vector<std::thread> pool;
  std::string start_error;
  try {
    for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work, t);
  } catch (const std::system_error& e) {
    start_error = "cannot start worker thread " + std::to_string(pool.size() + 1) + " of " +
                  std::to_string(threads) + " (" + e.what() + "); use fewer num_threads";
  }
  if (start_error.empty()) work(0);
  for (auto& thread : pool) thread.join();
  GRLM_CHECK(start_error.empty(), ResourceError, start_error);
  for (auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  return results;
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
