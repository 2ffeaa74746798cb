// Kernels of the CUDA structural scorer; see structural_kernels.cuh for the pipeline.
#include "structural_kernels.cuh"

#include "structural_device.cuh"

namespace grlm::cuda {
namespace {

using device::FinalizeKernel;
using device::MergeTopKKernel;
using device::ScatterCreditsKernel;
using device::ScoreSelectKernel;

template <int kLength, ScoreMode kMode>
cudaError_t LaunchSelectFor(const SelectArgs& args, cudaStream_t stream) {
  const int groups = (args.num_queries + args.queries_per_block - 1) / args.queries_per_block;
  const dim3 grid(groups, args.num_chunks);
  const std::size_t shared = SelectSharedBytes(args.queries_per_block, args.buffer_size);
  ScoreSelectKernel<kLength, kMode><<<grid, kSelectThreads, shared, stream>>>(args);
  return cudaGetLastError();
}

template <int kLength>
cudaError_t ConfigureFor(std::size_t max_shared_bytes) {
  const int bytes = static_cast<int>(max_shared_bytes);
  cudaError_t err = cudaFuncSetAttribute(ScoreSelectKernel<kLength, ScoreMode::kPositional>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (err != cudaSuccess) return err;
  return cudaFuncSetAttribute(ScoreSelectKernel<kLength, ScoreMode::kBag>,
                              cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

// Calls fn.template operator()<L>() for the runtime length 1..kMaxTermIdLength.
template <typename Fn>
cudaError_t DispatchLength(int length, Fn&& fn) {
  switch (length) {
#define GRLM_LENGTH_CASE(n) \
  case n:                   \
    return fn.template operator()<n>();
    GRLM_LENGTH_CASE(1)
    GRLM_LENGTH_CASE(2)
    GRLM_LENGTH_CASE(3)
    GRLM_LENGTH_CASE(4)
    GRLM_LENGTH_CASE(5)
    GRLM_LENGTH_CASE(6)
    GRLM_LENGTH_CASE(7)
    GRLM_LENGTH_CASE(8)
    GRLM_LENGTH_CASE(9)
    GRLM_LENGTH_CASE(10)
    GRLM_LENGTH_CASE(11)
    GRLM_LENGTH_CASE(12)
    GRLM_LENGTH_CASE(13)
    GRLM_LENGTH_CASE(14)
    GRLM_LENGTH_CASE(15)
    GRLM_LENGTH_CASE(16)
#undef GRLM_LENGTH_CASE
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace

cudaError_t LaunchScatterCredits(const int64_t* credit_offsets, const TermId* credit_terms,
                                 const int32_t* credit_units, int num_queries, int32_t* dense,
                                 uint32_t vocab_size, bool clear, cudaStream_t stream) {
  if (num_queries <= 0) return cudaSuccess;
  ScatterCreditsKernel<<<num_queries, 128, 0, stream>>>(credit_offsets, credit_terms,
                                                        credit_units, num_queries, dense,
                                                        vocab_size, clear);
  return cudaGetLastError();
}

cudaError_t ConfigureSelectKernels(std::size_t max_shared_bytes) {
  cudaError_t status = cudaSuccess;
  for (int length = 1; length <= kMaxTermIdLength && status == cudaSuccess; ++length) {
    status = DispatchLength(length, [&]<int kLength>() { return ConfigureFor<kLength>(max_shared_bytes); });
  }
  return status;
}

cudaError_t LaunchScoreSelect(const SelectArgs& args, cudaStream_t stream) {
  if (args.num_queries <= 0) return cudaSuccess;
  if (args.k < 1 || args.k > kMaxTopK || args.queries_per_block < 1 ||
      args.queries_per_block > kMaxQueriesPerBlock || args.buffer_size < args.k + kSelectThreads ||
      args.chunk_items % kSelectThreads != 0 || args.num_chunks < 1) {
    return cudaErrorInvalidValue;
  }
  return DispatchLength(args.length, [&]<int kLength>() {
    return args.mode == ScoreMode::kPositional
               ? LaunchSelectFor<kLength, ScoreMode::kPositional>(args, stream)
               : LaunchSelectFor<kLength, ScoreMode::kBag>(args, stream);
  });
}

cudaError_t LaunchMergeTopK(const double* in_score, const uint32_t* in_rank, int num_queries,
                            int num_lists, int k, double* out_score, uint32_t* out_rank,
                            cudaStream_t stream) {
  if (num_queries <= 0) return cudaSuccess;
  const dim3 grid((num_lists + kMergeFanIn - 1) / kMergeFanIn, num_queries);
  MergeTopKKernel<<<grid, kMergeThreads, 0, stream>>>(in_score, in_rank, num_lists, k, out_score,
                                                       out_rank);
  return cudaGetLastError();
}

cudaError_t LaunchFinalize(const double* in_score, const uint32_t* in_rank, int num_queries, int k,
                           const uint32_t* item_of_rank, int32_t* out_items, double* out_scores,
                           int32_t* out_counts, cudaStream_t stream) {
  if (num_queries <= 0) return cudaSuccess;
  FinalizeKernel<<<num_queries, 256, 0, stream>>>(in_score, in_rank, k, item_of_rank, out_items,
                                                   out_scores, out_counts);
  return cudaGetLastError();
}

}  // namespace grlm::cuda
