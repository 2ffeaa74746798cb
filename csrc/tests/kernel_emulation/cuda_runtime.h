// Host stand-in for <cuda_runtime.h>, used only by test_cuda_kernels_emulated: it lets the kernel
// bodies of kernels/cuda/structural_device.cuh compile with the host compiler and run one block at
// a time, each CUDA thread an std::thread, __syncthreads a std::barrier, atomics std::atomic_ref.
// Slow, but it runs the kernels' exact source (selection, sorting, merging) where no GPU is.
#pragma once

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

using cudaError_t = int;
inline constexpr cudaError_t cudaSuccess = 0;
inline constexpr cudaError_t cudaErrorInvalidValue = 1;
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
struct CUstream_st;
using cudaStream_t = CUstream_st*;

#define __global__
#define __device__
#define __host__
#define __launch_bounds__(...)
#define GRLM_PRAGMA_UNROLL
#define GRLM_DYNAMIC_SHARED(name) unsigned char* name = ::emu::shared_memory

namespace emu {
struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};
inline thread_local Dim3 thread_idx;
inline thread_local Dim3 block_idx;
inline Dim3 block_dim;
inline Dim3 grid_dim;
inline thread_local std::barrier<>* block_barrier = nullptr;
inline unsigned char* shared_memory = nullptr;

// Runs kernel() for every block of grid, blocks one after another, the threads of a block at
// once (one std::thread per CUDA thread, reused across blocks).
template <typename Kernel>
void Launch(Dim3 grid, unsigned threads, std::size_t shared_bytes, Kernel kernel) {
  grid_dim = grid;
  block_dim = Dim3{threads, 1, 1};
  std::vector<double> shared((shared_bytes + sizeof(double) - 1) / sizeof(double) + 1);
  shared_memory = reinterpret_cast<unsigned char*>(shared.data());
  std::barrier<> barrier(threads);
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      thread_idx = Dim3{t, 0, 0};
      block_barrier = &barrier;
      for (unsigned by = 0; by < grid.y; ++by) {
        for (unsigned bx = 0; bx < grid.x; ++bx) {
          // Garbage in shared memory, as on a GPU: the kernel must initialize what it reads.
          if (t == 0) std::fill(shared.begin(), shared.end(), -12345.678);
          block_idx = Dim3{bx, by, 0};
          barrier.arrive_and_wait();
          kernel();
          barrier.arrive_and_wait();
        }
      }
    });
  }
  for (auto& thread : pool) thread.join();
}
}  // namespace emu

#define threadIdx (::emu::thread_idx)
#define blockIdx (::emu::block_idx)
#define blockDim (::emu::block_dim)
#define gridDim (::emu::grid_dim)

inline void __syncthreads() { emu::block_barrier->arrive_and_wait(); }
template <typename T>
T atomicAdd(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_add(value);
}
template <typename T>
T atomicOr(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_or(value);
}
template <typename T>
T atomicCAS(T* address, T compare, T value) {
  std::atomic_ref<T>(*address).compare_exchange_strong(compare, value);
  return compare;  // the old value, whether or not it was replaced
}
inline int __ffs(unsigned value) { return value == 0 ? 0 : __builtin_ctz(value) + 1; }
template <typename T>
T __ldg(const T* address) {
  return *address;
}
using std::max;
using std::min;
