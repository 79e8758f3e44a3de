// Which heap allocator the process runs on, and giving its free memory back.
//
// The servers link tcmalloc (CMakeLists.txt, tongban_server_allocator): gRPC
// and protobuf allocate and free many small objects per call, which glibc's
// malloc serves at a higher CPU cost (docs/performance.md, "tcmalloc"). The
// tests and the fuzz build (ASan) keep the allocator they have; these
// functions find out at run time which one it is.
#pragma once

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

}  // namespace tongban
