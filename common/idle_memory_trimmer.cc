#include "idle_memory_trimmer.h"

#include <sys/resource.h>

#include "heap_allocator.h"

namespace tongban {
namespace {

absl::Duration ProcessCpuTime() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return absl::DurationFromTimeval(usage.ru_utime) + absl::DurationFromTimeval(usage.ru_stime);
}

}  // namespace

bool IdleTrimPolicy::Sample(absl::Duration cpu, absl::Duration elapsed, uint64_t releasable) {
  if (!have_last_ || elapsed <= absl::ZeroDuration()) {
    have_last_ = true;
    last_cpu_ = cpu;
    return false;
  }
  const double share = absl::FDivDuration(cpu - last_cpu_, elapsed);
  last_cpu_ = cpu;
  if (share >= options_.busy_share) {
    busy_since_trim_ = true;
    return false;
  }
  const bool pages_came_back =
      options_.releasable_floor > 0 && releasable >= options_.releasable_floor;
  if (share < options_.quiet_share && (busy_since_trim_ || pages_came_back)) {
    busy_since_trim_ = false;
    return true;
  }
  return false;
}

IdleMemoryTrimmer::IdleMemoryTrimmer(IdleTrimOptions options, std::function<void()> trim,
                                     std::function<absl::Duration()> cpu_time,
                                     std::function<uint64_t()> releasable)
    : options_(options),
      trim_(trim ? std::move(trim) : ReleaseFreeHeapMemory),
      cpu_time_(cpu_time ? std::move(cpu_time) : ProcessCpuTime),
      releasable_(releasable ? std::move(releasable) : ReleasableHeapBytes),
      policy_(options) {
  thread_ = std::thread([this] { Run(); });
}

IdleMemoryTrimmer::~IdleMemoryTrimmer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

int64_t IdleMemoryTrimmer::trims() const {
  absl::MutexLock lock(&mu_);
  return trims_;
}

void IdleMemoryTrimmer::Run() {
  absl::Time last = absl::Now();
  policy_.Sample(cpu_time_(), absl::ZeroDuration());
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.interval);
      if (stopping_) return;
    }
    const absl::Time now = absl::Now();
    const bool trim = policy_.Sample(cpu_time_(), now - last, releasable_());
    last = now;
    if (!trim) continue;
    trim_();
    absl::MutexLock lock(&mu_);
    ++trims_;
  }
}

}  // namespace tongban
