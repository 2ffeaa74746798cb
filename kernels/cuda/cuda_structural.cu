// CudaStructuralScorer: device copy of the catalog, workspace, and the launch sequence of one
// batch.
#include <cuda_runtime.h>

#include <algorithm>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>

#include "grlm/cuda_structural.h"
#include "structural_kernels.cuh"

#define GRLM_CUDA_CHECK(expr)                                               \
  do {                                                                      \
    const cudaError_t grlm_cuda_status_ = (expr);                           \
    GRLM_CHECK(grlm_cuda_status_ == cudaSuccess, CudaError,                 \
               #expr << ": " << cudaGetErrorName(grlm_cuda_status_) << " (" \
                     << cudaGetErrorString(grlm_cuda_status_) << ")");      \
  } while (0)

namespace grlm {
namespace {

// Dense bag credit table: at most this many bytes (rows of vocab_size int32 each).
constexpr std::size_t kDenseCreditBudget = std::size_t{256} << 20;
// Queries per internal sub-batch (bounds the workspace: 16 KiB of candidates per query at k =
// 1024).
constexpr int64_t kMaxSubBatch = 4096;

// Grows-only device buffer; its old contents are dropped on growth.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (data_ != nullptr) cudaFree(data_);
  }
  // Returns true when it had to reallocate.
  bool Reserve(std::size_t count) {
    if (count <= capacity_ && data_ != nullptr) return false;
    if (data_ != nullptr) {
      // Work enqueued earlier may still read the old buffer.
      GRLM_CUDA_CHECK(cudaDeviceSynchronize());
      GRLM_CUDA_CHECK(cudaFree(data_));
      data_ = nullptr;
      capacity_ = 0;
    }
    const std::size_t n = std::max<std::size_t>(count, 1);
    GRLM_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), n * sizeof(T)));
    capacity_ = n;
    return true;
  }
  void Release() {
    if (data_ != nullptr) cudaFree(data_);
    data_ = nullptr;
    capacity_ = 0;
  }
  T* get() const { return data_; }
  std::size_t bytes() const { return capacity_ * sizeof(T); }

 private:
  T* data_ = nullptr;
  std::size_t capacity_ = 0;
};

// Makes `device` current for the scope and restores the previous device.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    GRLM_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) GRLM_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceScope() { cudaSetDevice(previous_); }

 private:
  int previous_ = 0;
};

// Bag mode ignores the weights (its position weights are BagPositionWeightUnits).
std::vector<double> CheckedWeights(ScoreMode mode, std::vector<double> weights, int length) {
  if (mode != ScoreMode::kPositional) return std::vector<double>(length, 0.0);
  return ResolvePositionWeights(std::move(weights), length);
}

}  // namespace

int CudaDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // a non-sticky error: clear it so later calls start clean
    return 0;
  }
  return count;
}

std::string CudaRuntimeStatus() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  cudaGetLastError();
  int driver = 0;
  cudaDriverGetVersion(&driver);
  std::ostringstream out;
  out << "CUDA runtime " << CUDART_VERSION / 1000 << "." << CUDART_VERSION % 1000 / 10
      << " (static), driver " << driver / 1000 << "." << driver % 1000 / 10 << ": ";
  if (status == cudaSuccess) {
    out << count << " device(s)";
  } else {
    out << cudaGetErrorName(status) << " (" << cudaGetErrorString(status) << ")";
  }
  return out.str();
}

struct CudaStructuralScorer::Impl {
  const Catalog* catalog = nullptr;
  ScoreMode mode = ScoreMode::kPositional;
  std::vector<double> weights;
  int device = 0;
  int length = 0;
  std::size_t num_items = 0;
  std::size_t vocab_size = 0;
  int num_sms = 1;
  cudaStream_t host_stream = nullptr;

  DeviceBuffer<TermId> terms;
  DeviceBuffer<uint32_t> tie_rank;
  DeviceBuffer<uint32_t> item_of_rank;
  // Positional score ranks (cuda::PositionalLevels).
  DeviceBuffer<uint32_t> level_of_mask;
  DeviceBuffer<double> level_score;
  uint32_t num_levels = 0;
  DeviceBuffer<int32_t> dense_credit;
  std::size_t dense_rows = 0;
  bool dense_dirty = false;
  // Selection workspace of one sub-batch.
  DeviceBuffer<cuda::QueryState> states;
  DeviceBuffer<uint32_t> histogram;
  DeviceBuffer<uint64_t> candidates;
  // Staging of TopKHost.
  DeviceBuffer<TermId> query_ids;
  DeviceBuffer<int64_t> credit_offsets;
  DeviceBuffer<TermId> credit_terms;
  DeviceBuffer<int32_t> credit_units;
  DeviceBuffer<int32_t> out_items;
  DeviceBuffer<double> out_scores;
  DeviceBuffer<int32_t> out_counts;
  std::mutex mutex;

  void Init(int requested_device, ScoreMode score_mode, int term_id_length,
            std::vector<double> position_weights) {
    GRLM_CHECK(term_id_length >= 1 && term_id_length <= kMaxTermIdLength, InvalidArgument,
               "term_id_length must be in 1.." << kMaxTermIdLength << ", got " << term_id_length);
    GRLM_CHECK(score_mode == ScoreMode::kPositional || score_mode == ScoreMode::kBag,
               InvalidArgument, "unknown score mode " << static_cast<int>(score_mode));
    mode = score_mode;
    length = term_id_length;
    weights = CheckedWeights(mode, std::move(position_weights), length);
    const int count = CudaDeviceCount();
    GRLM_CHECK(count > 0, CudaError,
               "no CUDA device is visible (no GPU or no driver): " << CudaRuntimeStatus());
    if (requested_device < 0) {
      GRLM_CUDA_CHECK(cudaGetDevice(&device));
    } else {
      GRLM_CHECK(requested_device < count, CudaError,
                 "CUDA device " << requested_device << " requested, " << count << " visible");
      device = requested_device;
    }
    DeviceScope scope(device);
    GRLM_CUDA_CHECK(cudaDeviceGetAttribute(&num_sms, cudaDevAttrMultiProcessorCount, device));
    GRLM_CUDA_CHECK(cudaStreamCreateWithFlags(&host_stream, cudaStreamNonBlocking));
    if (mode == ScoreMode::kPositional) {
      const cuda::PositionalLevels levels = cuda::BuildPositionalLevels(weights);
      num_levels = static_cast<uint32_t>(levels.level_score.size() - 1);
      level_of_mask.Reserve(levels.level_of_mask.size());
      level_score.Reserve(levels.level_score.size());
      GRLM_CUDA_CHECK(cudaMemcpy(level_of_mask.get(), levels.level_of_mask.data(),
                                 levels.level_of_mask.size() * sizeof(uint32_t),
                                 cudaMemcpyHostToDevice));
      GRLM_CUDA_CHECK(cudaMemcpy(level_score.get(), levels.level_score.data(),
                                 levels.level_score.size() * sizeof(double),
                                 cudaMemcpyHostToDevice));
    }
  }

  ~Impl() {
    if (host_stream != nullptr) {
      cudaStreamSynchronize(host_stream);
      cudaStreamDestroy(host_stream);
    }
  }

  void Upload(const TermId* item_terms, std::size_t items, const uint32_t* ranks,
              std::size_t vocab) {
    GRLM_CHECK(items <= static_cast<std::size_t>(INT32_MAX), InvalidArgument,
               "the CUDA scorer holds at most 2^31 - 1 items, got " << items);
    GRLM_CHECK(vocab < kPadTerm, InvalidArgument, "vocabulary too large: " << vocab);
    GRLM_CHECK(items == 0 || (item_terms != nullptr && ranks != nullptr), InvalidArgument,
               "null term matrix or tie ranks");
    const std::size_t cells = items * length;
    for (std::size_t c = 0; c < cells; ++c) {
      GRLM_CHECK(item_terms[c] < vocab || item_terms[c] == kPadTerm, InvalidArgument,
                 "item " << c / length << " has term id " << item_terms[c]
                         << " outside the vocabulary of " << vocab << " terms");
    }
    std::vector<uint32_t> inverse(items, kPadTerm);
    for (std::size_t i = 0; i < items; ++i) {
      GRLM_CHECK(ranks[i] < items && inverse[ranks[i]] == kPadTerm, InvalidArgument,
                 "tie ranks must be a permutation of 0..N-1; item " << i << " has " << ranks[i]);
      inverse[ranks[i]] = static_cast<uint32_t>(i);
    }
    DeviceScope scope(device);
    GRLM_CUDA_CHECK(cudaDeviceSynchronize());
    terms.Reserve(cells);
    tie_rank.Reserve(items);
    item_of_rank.Reserve(items);
    if (cells > 0) {
      GRLM_CUDA_CHECK(
          cudaMemcpy(terms.get(), item_terms, cells * sizeof(TermId), cudaMemcpyHostToDevice));
      GRLM_CUDA_CHECK(
          cudaMemcpy(tie_rank.get(), ranks, items * sizeof(uint32_t), cudaMemcpyHostToDevice));
      GRLM_CUDA_CHECK(cudaMemcpy(item_of_rank.get(), inverse.data(), items * sizeof(uint32_t),
                                 cudaMemcpyHostToDevice));
    }
    if (vocab != vocab_size) {
      dense_credit.Release();
      dense_rows = 0;
      dense_dirty = false;
    }
    num_items = items;
    vocab_size = vocab;
  }

  void UploadCatalog() {
    GRLM_CHECK(catalog != nullptr, InvalidArgument,
               "Refresh() needs a scorer constructed from a Catalog");
    GRLM_CHECK(catalog->tie_rank().size() == catalog->size(), InvalidArgument,
               "catalog tie ranks are stale: " << catalog->tie_rank().size() << " for "
                                               << catalog->size() << " items");
    Upload(catalog->terms().data(), catalog->size(), catalog->tie_rank().data(),
           catalog->vocab().size());
  }

  void SyncCatalog() {
    if (catalog != nullptr &&
        (catalog->size() != num_items || catalog->vocab().size() != vocab_size)) {
      UploadCatalog();
    }
  }

  // Rows of the dense credit table per sub-batch, allocating (zeroed) as needed.
  int64_t PrepareDense(int64_t sub_batch) {
    const std::size_t row_bytes = std::max<std::size_t>(vocab_size, 1) * sizeof(int32_t);
    const int64_t rows = std::clamp<int64_t>(kDenseCreditBudget / row_bytes, 1, sub_batch);
    if (static_cast<std::size_t>(rows) > dense_rows || dense_dirty) {
      const std::size_t want = std::max<std::size_t>(rows, dense_rows);
      dense_credit.Reserve(want * std::max<std::size_t>(vocab_size, 1));
      GRLM_CUDA_CHECK(cudaMemset(dense_credit.get(), 0, dense_credit.bytes()));
      GRLM_CUDA_CHECK(cudaDeviceSynchronize());
      dense_rows = want;
      dense_dirty = false;
    }
    return rows;
  }

  // The launch sequence on device pointers; out rows start at q * k.
  void Run(const CudaQueryBatch& batch, int k, const CudaTopKOutput& out, cudaStream_t stream) {
    GRLM_CHECK(k >= 1 && k <= kMaxTopK, InvalidArgument,
               "k must be in 1.." << kMaxTopK << ", got " << k);
    GRLM_CHECK(batch.num_queries >= 0, InvalidArgument,
               "num_queries must be >= 0, got " << batch.num_queries);
    if (batch.num_queries == 0) return;
    GRLM_CHECK(batch.ids != nullptr, InvalidArgument, "null query ids");
    GRLM_CHECK(out.items != nullptr && out.scores != nullptr && out.counts != nullptr,
               InvalidArgument, "null output array");
    const bool bag = mode == ScoreMode::kBag;
    GRLM_CHECK(!bag || (batch.credit_offsets != nullptr && batch.credit_terms != nullptr &&
                        batch.credit_units != nullptr),
               InvalidArgument,
               "bag mode needs the queries' credits (credit_offsets, credit_terms, credit_units)");
    int64_t sub_batch = std::min(batch.num_queries, kMaxSubBatch);
    if (bag) sub_batch = PrepareDense(sub_batch);

    const cuda::ScanPlan plan = cuda::PlanScan(num_items, static_cast<int>(sub_batch), num_sms);
    const int capacity = cuda::CandidateCapacity(k);
    states.Reserve(sub_batch);
    histogram.Reserve(static_cast<std::size_t>(sub_batch) * cuda::kBuckets);
    candidates.Reserve(static_cast<std::size_t>(sub_batch) * capacity);
    for (int64_t q0 = 0; q0 < batch.num_queries; q0 += sub_batch) {
      const int nq = static_cast<int>(std::min(sub_batch, batch.num_queries - q0));
      cuda::BatchArgs args;
      args.terms = terms.get();
      args.tie_rank = tie_rank.get();
      args.item_of_rank = item_of_rank.get();
      args.num_items = static_cast<uint32_t>(num_items);
      args.rank_bits = cuda::RankBits(num_items);
      args.length = length;
      args.mode = mode;
      args.level_of_mask = level_of_mask.get();
      args.level_score = level_score.get();
      args.num_levels = num_levels;
      if (bag) {
        args.credit_offsets = batch.credit_offsets + q0;
        args.credit_terms = batch.credit_terms;
        args.credit_units = batch.credit_units;
        args.dense_credit = dense_credit.get();
        args.vocab_size = static_cast<uint32_t>(vocab_size);
        dense_dirty = true;  // until the batch's last kernel has cleared the table again
      }
      args.query_ids = batch.ids + q0 * length;
      args.num_queries = nq;
      args.k = k;
      args.states = states.get();
      args.histogram = histogram.get();
      args.candidates = candidates.get();
      args.candidate_capacity = capacity;
      args.chunk_items = plan.chunk_items;
      args.num_chunks = plan.num_chunks;
      args.out_items = out.items + q0 * k;
      args.out_scores = out.scores + q0 * k;
      args.out_counts = out.counts + q0;
      GRLM_CUDA_CHECK(cuda::RunBatch(args, cuda::CudaLauncher{stream}));
      if (bag) dense_dirty = false;
    }
  }

  std::size_t Bytes() const {
    std::size_t total =
        terms.bytes() + tie_rank.bytes() + item_of_rank.bytes() + level_of_mask.bytes() +
        level_score.bytes() + dense_credit.bytes() + states.bytes() + histogram.bytes() +
        candidates.bytes() + query_ids.bytes() + credit_offsets.bytes() + credit_terms.bytes() +
        credit_units.bytes() + out_items.bytes() + out_scores.bytes() + out_counts.bytes();
    return total;
  }
};

CudaStructuralScorer::CudaStructuralScorer(const Catalog& catalog, ScoreMode mode,
                                           std::vector<double> weights, int device)
    : impl_(std::make_unique<Impl>()) {
  impl_->Init(device, mode, catalog.term_id_length(), std::move(weights));
  impl_->catalog = &catalog;
  impl_->UploadCatalog();
}

CudaStructuralScorer::CudaStructuralScorer(const TermId* terms, std::size_t num_items,
                                           int term_id_length, const uint32_t* tie_rank,
                                           std::size_t vocab_size, ScoreMode mode,
                                           std::vector<double> weights, int device)
    : impl_(std::make_unique<Impl>()) {
  impl_->Init(device, mode, term_id_length, std::move(weights));
  impl_->Upload(terms, num_items, tie_rank, vocab_size);
}

CudaStructuralScorer::~CudaStructuralScorer() = default;

void CudaStructuralScorer::Refresh() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->UploadCatalog();
}

void CudaStructuralScorer::TopKDevice(const CudaQueryBatch& batch, int k, const CudaTopKOutput& out,
                                      CudaStream stream) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  DeviceScope scope(impl_->device);
  impl_->SyncCatalog();
  impl_->Run(batch, k, out, stream);
}

void CudaStructuralScorer::TopKHost(const CudaQueryBatch& batch, int k,
                                    const CudaTopKOutput& out) const {
  GRLM_CHECK(k >= 1 && k <= kMaxTopK, InvalidArgument,
             "k must be in 1.." << kMaxTopK << ", got " << k);
  GRLM_CHECK(batch.num_queries >= 0, InvalidArgument,
             "num_queries must be >= 0, got " << batch.num_queries);
  if (batch.num_queries == 0) return;
  const bool bag = impl_->mode == ScoreMode::kBag;
  const std::size_t nq = static_cast<std::size_t>(batch.num_queries);
  GRLM_CHECK(batch.ids != nullptr, InvalidArgument, "null query ids");
  GRLM_CHECK(out.items != nullptr && out.scores != nullptr && out.counts != nullptr,
             InvalidArgument, "null output array");
  int64_t num_credits = 0;
  if (bag) {
    GRLM_CHECK(batch.credit_offsets != nullptr, InvalidArgument,
               "bag mode needs the queries' credits (credit_offsets, credit_terms, credit_units)");
    GRLM_CHECK(batch.credit_offsets[0] == 0, InvalidArgument,
               "credit_offsets[0] must be 0, got " << batch.credit_offsets[0]);
    for (std::size_t q = 0; q < nq; ++q) {
      GRLM_CHECK(batch.credit_offsets[q + 1] >= batch.credit_offsets[q], InvalidArgument,
                 "credit_offsets must be non-decreasing; query " << q);
    }
    num_credits = batch.credit_offsets[nq];
    GRLM_CHECK(num_credits == 0 || (batch.credit_terms != nullptr && batch.credit_units != nullptr),
               InvalidArgument, "null credit_terms or credit_units");
  }

  std::lock_guard<std::mutex> lock(impl_->mutex);
  DeviceScope scope(impl_->device);
  impl_->SyncCatalog();
  Impl& m = *impl_;
  cudaStream_t stream = m.host_stream;
  const std::size_t id_count = nq * m.length;
  m.query_ids.Reserve(id_count);
  m.out_items.Reserve(nq * k);
  m.out_scores.Reserve(nq * k);
  m.out_counts.Reserve(nq);
  GRLM_CUDA_CHECK(cudaMemcpyAsync(m.query_ids.get(), batch.ids, id_count * sizeof(TermId),
                                  cudaMemcpyHostToDevice, stream));
  CudaQueryBatch device_batch;
  device_batch.num_queries = batch.num_queries;
  device_batch.ids = m.query_ids.get();
  if (bag) {
    m.credit_offsets.Reserve(nq + 1);
    m.credit_terms.Reserve(num_credits);
    m.credit_units.Reserve(num_credits);
    GRLM_CUDA_CHECK(cudaMemcpyAsync(m.credit_offsets.get(), batch.credit_offsets,
                                    (nq + 1) * sizeof(int64_t), cudaMemcpyHostToDevice, stream));
    if (num_credits > 0) {
      GRLM_CUDA_CHECK(cudaMemcpyAsync(m.credit_terms.get(), batch.credit_terms,
                                      num_credits * sizeof(TermId), cudaMemcpyHostToDevice,
                                      stream));
      GRLM_CUDA_CHECK(cudaMemcpyAsync(m.credit_units.get(), batch.credit_units,
                                      num_credits * sizeof(int32_t), cudaMemcpyHostToDevice,
                                      stream));
    }
    device_batch.credit_offsets = m.credit_offsets.get();
    device_batch.credit_terms = m.credit_terms.get();
    device_batch.credit_units = m.credit_units.get();
  }
  CudaTopKOutput device_out{m.out_items.get(), m.out_scores.get(), m.out_counts.get()};
  m.Run(device_batch, k, device_out, stream);
  GRLM_CUDA_CHECK(cudaMemcpyAsync(out.items, device_out.items, nq * k * sizeof(int32_t),
                                  cudaMemcpyDeviceToHost, stream));
  GRLM_CUDA_CHECK(cudaMemcpyAsync(out.scores, device_out.scores, nq * k * sizeof(double),
                                  cudaMemcpyDeviceToHost, stream));
  GRLM_CUDA_CHECK(cudaMemcpyAsync(out.counts, device_out.counts, nq * sizeof(int32_t),
                                  cudaMemcpyDeviceToHost, stream));
  GRLM_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void CudaStructuralScorer::TopKBatch(std::span<const PreparedQuery* const> queries, int k,
                                     int /*num_threads*/,
                                     std::span<std::vector<ScoredItem>> results) const {
  GRLM_CHECK(results.size() == queries.size(), InvalidArgument,
             "got " << results.size() << " result slots for " << queries.size() << " queries");
  const int length = impl_->length;
  const std::size_t nq = queries.size();
  std::vector<TermId> ids(nq * length);
  std::vector<int64_t> offsets(nq + 1, 0);
  std::vector<TermId> credit_terms;
  std::vector<int32_t> credit_units;
  for (std::size_t q = 0; q < nq; ++q) {
    std::copy(queries[q]->ids, queries[q]->ids + length, ids.begin() + q * length);
    for (const auto& [term, units] : queries[q]->bag_credits) {
      credit_terms.push_back(term);
      credit_units.push_back(units);
    }
    offsets[q + 1] = static_cast<int64_t>(credit_terms.size());
  }
  CudaQueryBatch batch;
  batch.num_queries = static_cast<int64_t>(nq);
  batch.ids = ids.data();
  batch.credit_offsets = offsets.data();
  batch.credit_terms = credit_terms.data();
  batch.credit_units = credit_units.data();
  const std::size_t slots = nq * static_cast<std::size_t>(std::max(k, 0));
  std::vector<int32_t> items(slots);
  std::vector<double> scores(slots);
  std::vector<int32_t> counts(nq);
  TopKHost(batch, k, CudaTopKOutput{items.data(), scores.data(), counts.data()});
  for (std::size_t q = 0; q < nq; ++q) {
    results[q].clear();
    results[q].reserve(counts[q]);
    for (int i = 0; i < counts[q]; ++i) {
      results[q].push_back(ScoredItem{static_cast<uint32_t>(items[q * k + i]), scores[q * k + i]});
    }
  }
}

std::vector<std::vector<ScoredItem>> CudaStructuralScorer::TopK(
    const std::vector<PreparedQuery>& queries, int k) const {
  std::vector<const PreparedQuery*> pointers;
  pointers.reserve(queries.size());
  for (const PreparedQuery& query : queries) pointers.push_back(&query);
  std::vector<std::vector<ScoredItem>> results(queries.size());
  TopKBatch(pointers, k, 0, results);
  return results;
}

ScoreMode CudaStructuralScorer::mode() const { return impl_->mode; }
int CudaStructuralScorer::term_id_length() const { return impl_->length; }
std::size_t CudaStructuralScorer::num_items() const { return impl_->num_items; }
const Catalog* CudaStructuralScorer::catalog() const { return impl_->catalog; }
int CudaStructuralScorer::device() const { return impl_->device; }
std::size_t CudaStructuralScorer::DeviceMemoryBytes() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->Bytes();
}

}  // namespace grlm
