// Gives the heap a load burst left behind back to the operating system once
// the process goes quiet (issue #14: RSS after load stays close to idle).
//
// glibc keeps freed memory in its arenas (and in the top of each heap) for
// reuse; after a burst of calls that is tens of MB that a node idle for hours
// does not need. malloc_trim(0) releases it, but walks every arena under
// their locks, so it is worth doing once per burst, not periodically under
// load: the trimmer samples the process's CPU time every `interval` and
// trims when an interval that used at least `busy_share` of a core is
// followed by one under `quiet_share`. A quiet interval also trims when the
// allocator reports at least `releasable_floor` of free pages (tcmalloc):
// threads that give their caches back after going idle (heap_allocator.h)
// and late frees refill the page heap after the burst's trim, and a node
// measured 5–6 MB of such pages kept for good.
//
// The trim is ReleaseFreeHeapMemory() (heap_allocator.h): tcmalloc's
// release of its free pages in the servers, malloc_trim(0) under glibc.
#pragma once

#include <cstdint>
#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tongban {

struct IdleTrimOptions {
  absl::Duration interval = absl::Seconds(1);
  double busy_share = 0.05;   // of one core
  double quiet_share = 0.02;  // of one core
  uint64_t releasable_floor = 1 << 20;
};

// Decides when to trim from CPU-time samples; no clock or thread of its own,
// so tests feed it samples.
class IdleTrimPolicy final {
 public:
  explicit IdleTrimPolicy(IdleTrimOptions options) : options_(options) {}
  // `cpu` = the process's CPU time (user + system) at the end of an interval
  // of length `elapsed`; `releasable` = ReleasableHeapBytes() then. True
  // when the heap should be trimmed now.
  bool Sample(absl::Duration cpu, absl::Duration elapsed, uint64_t releasable = 0);

 private:
  const IdleTrimOptions options_;
  absl::Duration last_cpu_ = absl::ZeroDuration();
  bool have_last_ = false;
  bool busy_since_trim_ = false;
};

class IdleMemoryTrimmer final {
 public:
  // `trim` defaults to ReleaseFreeHeapMemory() (heap_allocator.h);
  // `cpu_time` to getrusage(RUSAGE_SELF); `releasable` to
  // ReleasableHeapBytes().
  explicit IdleMemoryTrimmer(IdleTrimOptions options = {}, std::function<void()> trim = {},
                             std::function<absl::Duration()> cpu_time = {},
                             std::function<uint64_t()> releasable = {});
  ~IdleMemoryTrimmer();  // stops the thread
  IdleMemoryTrimmer(const IdleMemoryTrimmer&) = delete;
  IdleMemoryTrimmer& operator=(const IdleMemoryTrimmer&) = delete;

  int64_t trims() const;

 private:
  void Run();

  const IdleTrimOptions options_;
  const std::function<void()> trim_;
  const std::function<absl::Duration()> cpu_time_;
  const std::function<uint64_t()> releasable_;
  IdleTrimPolicy policy_;
  mutable absl::Mutex mu_;
  bool stopping_ = false;  // guarded by mu_
  int64_t trims_ = 0;      // guarded by mu_
  std::thread thread_;
};

}  // namespace tongban
