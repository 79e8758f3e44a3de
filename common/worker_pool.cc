#include "worker_pool.h"

#include "heap_allocator.h"

namespace tongban {

WorkerPool::WorkerPool(int threads, int max_queued) : max_queued_(static_cast<size_t>(max_queued)) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

WorkerPool::~WorkerPool() { Drain(); }

bool WorkerPool::TryPost(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (draining_ || queue_.size() >= max_queued_) return false;
  queue_.push_back(std::move(task));
  return true;
}

void WorkerPool::Drain() {
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void WorkerPool::Run() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      AwaitReleasingIdleCache(mu_, absl::Condition(this, &WorkerPool::HasWorkOrDraining));
      if (queue_.empty()) return;  // draining and nothing left
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace tongban
