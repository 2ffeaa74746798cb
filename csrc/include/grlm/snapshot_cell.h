// One immutable snapshot of a changing object, shared between readers and published by writers
// (read-copy-update over a std::shared_ptr<const T>). Used by TokenTrie and UpdatableGrounder.
//
// Readers copy the pointer under a mutex held for that copy only and then work on an object that
// never changes; a writer builds the next snapshot off to the side and swaps it in. A reader never
// waits for a change in progress, never sees half of one, and keeps its snapshot alive while it
// uses it. Writers serialize among themselves on a lock of their own (not this one).
#pragma once

#include <memory>
#include <mutex>
#include <utility>

namespace grlm {

template <typename T>
class SnapshotCell {
 public:
  SnapshotCell() = default;
  explicit SnapshotCell(std::shared_ptr<const T> initial) : snapshot_(std::move(initial)) {}
  SnapshotCell(const SnapshotCell&) = delete;
  SnapshotCell& operator=(const SnapshotCell&) = delete;

  // The pointer is copied under a mutex, not through std::atomic<std::shared_ptr>: libstdc++ 12
  // unlocks it with a relaxed store after a load, a data race that ThreadSanitizer reports, and a
  // plain mutex is simpler to trust.
  std::shared_ptr<const T> Load() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return snapshot_;
  }

  void Publish(std::shared_ptr<const T> next) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      snapshot_.swap(next);
    }
    // next now holds the previous snapshot: freed here, outside the lock, when no reader holds it.
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const T> snapshot_;
};

}  // namespace grlm
