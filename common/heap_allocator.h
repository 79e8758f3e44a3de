// Which heap allocator the process runs on, and giving its free memory back.
//
// The servers link tcmalloc (CMakeLists.txt, tongban_server_allocator): gRPC
// and protobuf allocate and free many small objects per call, which glibc's
// malloc serves at a higher CPU cost (docs/performance.md, "tcmalloc"). The
// tests and the fuzz build (ASan) keep the allocator they have; these
// functions find out at run time which one it is.
#pragma once

#include <cstdint>
#include <optional>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tongban {

// Called first thing in main(): bounds tcmalloc's per-thread caches to
// kThreadCacheBytes in all (its default is 32 MB), so that what a burst of
// calls leaves in them stays small (a node after filings: 1.22× idle VmRSS
// instead of 1.40×); the environment's TCMALLOC_MAX_TOTAL_THREAD_CACHE_BYTES,
// when set, wins. Does nothing under glibc.
inline constexpr long kThreadCacheBytes = 4L << 20;
void ConfigureHeapAllocator();

// "tcmalloc" or "glibc" (tongban_build_info's `allocator` label).
const char* HeapAllocatorName();

// Returns the allocator's free pages to the operating system: tcmalloc's
// ReleaseFreeMemory, or glibc's malloc_trim(0).
void ReleaseFreeHeapMemory();

// Free pages ReleaseFreeHeapMemory would hand back now: tcmalloc's page heap
// free bytes. 0 under glibc, whose free chunks malloc_trim releases without
// the count going down, so it cannot tell whether a trim is still owed.
uint64_t ReleasableHeapBytes();

// Waits on `mu` (held by the caller) until `cond` holds, like mu.Await. A
// thread that has waited kIdleBeforeCacheRelease without work first gives
// its allocator cache back (tcmalloc's MarkThreadIdle; nothing under glibc),
// then waits on. Why: tcmalloc keeps up to about 0.5 MB of free objects per
// thread whatever the total bound, and a node has some 45 threads, most of
// them idle after a burst (measured: 9.7 MB in thread caches after the
// bench's load, against 1.4 MB idle). A thread that gets work within the
// bound keeps its cache, so a busy pool pays nothing.
inline constexpr absl::Duration kIdleBeforeCacheRelease = absl::Milliseconds(500);
void AwaitReleasingIdleCache(absl::Mutex& mu, const absl::Condition& cond)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

// Where the heap's bytes are, as the allocator counts them: what the program
// holds, what is free but still resident, and (tcmalloc) what was handed back
// to the kernel. VmRSS alone cannot tell a leak from an allocator keeping
// free memory; these can (exported as tongban_heap_bytes, HeapMetrics).
struct HeapStats {
  uint64_t allocated = 0;            // held by the program
  uint64_t free_thread_caches = 0;   // tcmalloc: the per-thread free lists
  uint64_t free_central_caches = 0;  // tcmalloc: the central and transfer free lists
  uint64_t free_pages = 0;           // free pages still mapped (glibc: free chunks)
  uint64_t released = 0;             // tcmalloc: free pages returned to the kernel
};
// nullopt when the allocator offers no statistics.
std::optional<HeapStats> ReadHeapStats();

}  // namespace tongban
