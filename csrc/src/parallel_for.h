// Runs work(t) for t in [0, threads) on the calling thread and threads - 1 started ones; the
// thread pool of GroundBatch and StructuralScorer::TopKBatch.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "grlm/error.h"

namespace grlm::detail {

// Threads worth starting for num_tasks tasks when num_threads are allowed (0: hardware
// concurrency): at most one per 64 tasks, so a small batch stays on the calling thread.
inline std::size_t WorkerCount(int num_threads, std::size_t num_tasks) {
  GRLM_CHECK(num_threads >= 0, InvalidArgument, "num_threads must be >= 0, got " << num_threads);
  const std::size_t threads = num_threads > 0 ? std::size_t(num_threads)
                                              : std::max(1u, std::thread::hardware_concurrency());
  return std::max<std::size_t>(1, std::min(threads, num_tasks / 64 + 1));
}

// The first exception of any worker is rethrown after all have joined.
template <typename Work>
void ParallelFor(std::size_t threads, Work&& work) {
  std::vector<std::exception_ptr> errors(threads);
  auto guarded = [&](std::size_t t) {
    try {
      work(t);
    } catch (...) {
      errors[t] = std::current_exception();
    }
  };
  // A thread that cannot be started (a process or memory limit) must not end the process: the
  // started ones are joined (a joinable std::thread destroyed would call std::terminate) and the
  // failure is reported.
  std::vector<std::thread> pool;
  std::string start_error;
  try {
    for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(guarded, t);
  } catch (const std::system_error& e) {
    start_error = "cannot start worker thread " + std::to_string(pool.size() + 1) + " of " +
                  std::to_string(threads) + " (" + e.what() + "); use fewer num_threads";
  }
  if (start_error.empty()) guarded(0);
  for (auto& thread : pool) thread.join();
  GRLM_CHECK(start_error.empty(), ResourceError, start_error);
  for (auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

}  // namespace grlm::detail
