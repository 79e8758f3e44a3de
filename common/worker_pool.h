// Threads that run posted tasks, with a bounded queue: a full queue is
// refused rather than grown, so a flood cannot exhaust memory. Used where
// work must leave a thread that may not block (the HTTPS edge's event loop,
// a node's gRPC callback threads).
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace tongban {

class WorkerPool {
 public:
  WorkerPool(int threads, int max_queued);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // False when the queue is full or the pool is draining.
  bool TryPost(std::function<void()> task);
  // Runs what is queued, then joins the threads; idempotent.
  void Drain();

 private:
  void Run();
  bool HasWorkOrDraining() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return draining_ || !queue_.empty();
  }
  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace tongban
