// Launchers of the CUDA structural scorer's kernels; see structural_kernels.cuh for the pipeline.
#include "structural_device.cuh"
#include "structural_kernels.cuh"

namespace grlm::cuda {
namespace {

template <int kLength, ScoreMode kMode, ScanPhase kPhase>
cudaError_t LaunchScan(const BatchArgs& args, cudaStream_t stream) {
  const dim3 grid((args.num_queries + kGroupQueries - 1) / kGroupQueries, args.num_chunks);
  device::ScanKernel<kLength, kMode, kPhase>
      <<<grid, kScanThreads, ScanSharedBytes(kMode, kPhase), stream>>>(args);
  return cudaGetLastError();
}

template <int kLength>
cudaError_t LaunchScanFor(const BatchArgs& args, ScanPhase phase, cudaStream_t stream) {
  const bool bag = args.mode == ScoreMode::kBag;
  if (phase == ScanPhase::kCount) {
    return bag ? LaunchScan<kLength, ScoreMode::kBag, ScanPhase::kCount>(args, stream)
               : LaunchScan<kLength, ScoreMode::kPositional, ScanPhase::kCount>(args, stream);
  }
  return bag ? LaunchScan<kLength, ScoreMode::kBag, ScanPhase::kCollect>(args, stream)
             : LaunchScan<kLength, ScoreMode::kPositional, ScanPhase::kCollect>(args, stream);
}

}  // namespace

cudaError_t CudaLauncher::ScatterCredits(const BatchArgs& args, bool clear) const {
  device::ScatterCreditsKernel<<<args.num_queries, 128, 0, stream>>>(args, clear);
  return cudaGetLastError();
}

cudaError_t CudaLauncher::Init(const BatchArgs& args) const {
  const int threads = 256;
  const std::size_t cells = static_cast<std::size_t>(args.num_queries) * kBuckets;
  device::
      InitKernel<<<static_cast<unsigned>((cells + threads - 1) / threads), threads, 0, stream>>>(
          args);
  return cudaGetLastError();
}

cudaError_t CudaLauncher::Scan(const BatchArgs& args, ScanPhase phase) const {
  switch (args.length) {
#define GRLM_LENGTH_CASE(n) \
  case n:                   \
    return LaunchScanFor<n>(args, phase, stream);
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

cudaError_t CudaLauncher::Resolve(const BatchArgs& args) const {
  device::ResolveKernel<<<args.num_queries, kBuckets, kBuckets * sizeof(uint32_t), stream>>>(args);
  return cudaGetLastError();
}

cudaError_t CudaLauncher::Select(const BatchArgs& args) const {
  const std::size_t shared = SelectSharedBytes(args.k);
  device::SelectKernel<<<args.num_queries, kSelectThreads, shared, stream>>>(args);
  return cudaGetLastError();
}

}  // namespace grlm::cuda
