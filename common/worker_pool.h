// Threads that run posted tasks, with a bounded queue: a full queue is
// refused rather than grown, so a flood cannot exhaust memory. Used where
// work must leave a thread that may not block (the HTTPS edge's event loop,
// a node's gRPC callback threads).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

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
  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool draining_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace tongban
