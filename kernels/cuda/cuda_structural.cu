// CudaStructuralScorer: device copy of the catalog, workspace, and the launch sequence of one batch.
#include "grlm/cuda_structural.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>

#include "structural_kernels.cuh"

#define GRLM_CUDA_CHECK(expr)                                                               \
  do {                                                                                      \
    const cudaError_t grlm_cuda_status_ = (expr);                                           \
    GRLM_CHECK(grlm_cuda_status_ == cudaSuccess, CudaError,                                 \
               #expr << ": " << cudaGetErrorName(grlm_cuda_status_) << " ("                 \
                     << cudaGetErrorString(grlm_cuda_status_) << ")");                      \
  } while (0)

namespace grlm {
namespace {

// Shared memory one ScoreSelect block may use: small enough for three blocks per SM on
// sm_80/sm_90, large enough for two queries of k = 1024 or ten of k <= 256.
constexpr std::size_t kSelectSharedBudget = 64 * 1024;
// Dense bag credit table: at most this many bytes (rows of vocab_size int32 each).
constexpr std::size_t kDenseCreditBudget = std::size_t{256} << 20;
// Queries per internal sub-batch (bounds the grid's y dimension and the workspace).
constexpr int64_t kMaxSubBatch = 8192;

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

std::vector<double> CheckedWeights(ScoreMode mode, std::vector<double> weights, int length) {
  if (mode != ScoreMode::kPositional) return std::vector<double>(length, 0.0);
  if (weights.empty()) {
    for (int j = 0; j < length; ++j) weights.push_back(1.0 / (j + 1));
  }
  GRLM_CHECK(static_cast<int>(weights.size()) == length, InvalidArgument,
             "positional weights: expected " << length << " values, got " << weights.size());
  for (double w : weights) {
    GRLM_CHECK(std::isfinite(w) && w > 0.0, InvalidArgument,
               "positional weights must be positive and finite, got " << w);
  }
  return weights;
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

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
  int shared_per_sm = 0;
  cudaStream_t host_stream = nullptr;

  DeviceBuffer<TermId> terms;
  DeviceBuffer<uint32_t> tie_rank;
  DeviceBuffer<uint32_t> item_of_rank;
  DeviceBuffer<double> weights_device;
  DeviceBuffer<int32_t> dense_credit;
  std::size_t dense_rows = 0;
  bool dense_dirty = false;
  DeviceBuffer<double> cand_score[2];
  DeviceBuffer<uint32_t> cand_rank[2];
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
    GRLM_CUDA_CHECK(cudaDeviceGetAttribute(&shared_per_sm,
                                           cudaDevAttrMaxSharedMemoryPerMultiprocessor, device));
    int shared_optin = 0;
    GRLM_CUDA_CHECK(
        cudaDeviceGetAttribute(&shared_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    GRLM_CHECK(static_cast<std::size_t>(shared_optin) >= kSelectSharedBudget, CudaError,
               "device " << device << " offers " << shared_optin
                         << " bytes of shared memory per block, need " << kSelectSharedBudget);
    GRLM_CUDA_CHECK(cuda::ConfigureSelectKernels(kSelectSharedBudget));
    GRLM_CUDA_CHECK(cudaStreamCreateWithFlags(&host_stream, cudaStreamNonBlocking));
    weights_device.Reserve(length);
    GRLM_CUDA_CHECK(cudaMemcpy(weights_device.get(), weights.data(), length * sizeof(double),
                               cudaMemcpyHostToDevice));
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
      GRLM_CUDA_CHECK(cudaMemcpy(terms.get(), item_terms, cells * sizeof(TermId),
                                 cudaMemcpyHostToDevice));
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
    GRLM_CHECK(k >= 1 && k <= kMaxTopK, InvalidArgument, "k must be in 1.." << kMaxTopK
                                                                             << ", got " << k);
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

    for (int64_t q0 = 0; q0 < batch.num_queries; q0 += sub_batch) {
      const int nq = static_cast<int>(std::min(sub_batch, batch.num_queries - q0));
      const cuda::SelectPlan plan = cuda::PlanSelect(num_items, nq, k, num_sms, shared_per_sm,
                                                     kSelectSharedBudget);
      const int64_t chunks = plan.num_chunks;
      const std::size_t lists0 = static_cast<std::size_t>(nq) * chunks * k;
      const std::size_t lists1 =
          static_cast<std::size_t>(nq) * CeilDiv(chunks, cuda::kMergeFanIn) * k;
      cand_score[0].Reserve(lists0);
      cand_rank[0].Reserve(lists0);
      if (chunks > 1) {
        cand_score[1].Reserve(lists1);
        cand_rank[1].Reserve(lists1);
      }

      const int64_t* offsets = bag ? batch.credit_offsets + q0 : nullptr;
      if (bag) {
        dense_dirty = true;
        GRLM_CUDA_CHECK(cuda::LaunchScatterCredits(offsets, batch.credit_terms,
                                                   batch.credit_units, nq, dense_credit.get(),
                                                   static_cast<uint32_t>(vocab_size), false,
                                                   stream));
      }

      cuda::SelectArgs args;
      args.terms = terms.get();
      args.tie_rank = tie_rank.get();
      args.num_items = static_cast<uint32_t>(num_items);
      args.length = length;
      args.mode = mode;
      args.query_ids = batch.ids + q0 * length;
      args.num_queries = nq;
      args.weights = weights_device.get();
      args.dense_credit = dense_credit.get();
      args.vocab_size = static_cast<uint32_t>(vocab_size);
      args.credit_offsets = offsets;
      args.credit_terms = batch.credit_terms;
      args.k = k;
      args.buffer_size = plan.buffer_size;
      args.queries_per_block = plan.queries_per_block;
      args.chunk_items = static_cast<uint32_t>(plan.chunk_items);
      args.num_chunks = static_cast<int>(chunks);
      args.out_score = cand_score[0].get();
      args.out_rank = cand_rank[0].get();
      GRLM_CUDA_CHECK(cuda::LaunchScoreSelect(args, stream));

      int current = 0;
      for (int64_t lists = chunks; lists > 1; lists = CeilDiv(lists, cuda::kMergeFanIn)) {
        GRLM_CUDA_CHECK(cuda::LaunchMergeTopK(
            cand_score[current].get(), cand_rank[current].get(), nq, static_cast<int>(lists), k,
            cand_score[1 - current].get(), cand_rank[1 - current].get(), stream));
        current = 1 - current;
      }
      GRLM_CUDA_CHECK(cuda::LaunchFinalize(cand_score[current].get(), cand_rank[current].get(), nq,
                                           k, item_of_rank.get(), out.items + q0 * k,
                                           out.scores + q0 * k, out.counts + q0, stream));
      if (bag) {
        GRLM_CUDA_CHECK(cuda::LaunchScatterCredits(offsets, batch.credit_terms,
                                                   batch.credit_units, nq, dense_credit.get(),
                                                   static_cast<uint32_t>(vocab_size), true,
                                                   stream));
        dense_dirty = false;
      }
    }
  }

  std::size_t Bytes() const {
    std::size_t total = terms.bytes() + tie_rank.bytes() + item_of_rank.bytes() +
                        weights_device.bytes() + dense_credit.bytes() + query_ids.bytes() +
                        credit_offsets.bytes() + credit_terms.bytes() + credit_units.bytes() +
                        out_items.bytes() + out_scores.bytes() + out_counts.bytes();
    for (int i = 0; i < 2; ++i) total += cand_score[i].bytes() + cand_rank[i].bytes();
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

void CudaStructuralScorer::TopKDevice(const CudaQueryBatch& batch, int k,
                                      const CudaTopKOutput& out, CudaStream stream) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  DeviceScope scope(impl_->device);
  impl_->SyncCatalog();
  impl_->Run(batch, k, out, stream);
}

void CudaStructuralScorer::TopKHost(const CudaQueryBatch& batch, int k,
                                    const CudaTopKOutput& out) {
  GRLM_CHECK(k >= 1 && k <= kMaxTopK, InvalidArgument, "k must be in 1.." << kMaxTopK
                                                                           << ", got " << k);
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

std::vector<std::vector<ScoredItem>> CudaStructuralScorer::TopK(
    const std::vector<PreparedQuery>& queries, int k) {
  const int length = impl_->length;
  const std::size_t nq = queries.size();
  std::vector<TermId> ids(nq * length);
  std::vector<int64_t> offsets(nq + 1, 0);
  std::vector<TermId> credit_terms;
  std::vector<int32_t> credit_units;
  for (std::size_t q = 0; q < nq; ++q) {
    std::copy(queries[q].ids, queries[q].ids + length, ids.begin() + q * length);
    for (const auto& [term, units] : queries[q].bag_credits) {
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
  std::vector<std::vector<ScoredItem>> results(nq);
  for (std::size_t q = 0; q < nq; ++q) {
    results[q].reserve(counts[q]);
    for (int i = 0; i < counts[q]; ++i) {
      results[q].push_back(ScoredItem{static_cast<uint32_t>(items[q * k + i]), scores[q * k + i]});
    }
  }
  return results;
}

ScoreMode CudaStructuralScorer::mode() const { return impl_->mode; }
int CudaStructuralScorer::term_id_length() const { return impl_->length; }
std::size_t CudaStructuralScorer::num_items() const { return impl_->num_items; }
int CudaStructuralScorer::device() const { return impl_->device; }
std::size_t CudaStructuralScorer::DeviceMemoryBytes() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->Bytes();
}

}  // namespace grlm
