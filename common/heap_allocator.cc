#include "heap_allocator.h"

#include <malloc.h>

#include <cstdlib>

// gperftools' C API (gperftools/malloc_extension_c.h), declared weak: null
// unless tcmalloc is linked into (or preloaded in) the process.
extern "C" {
void MallocExtension_ReleaseFreeMemory(void) __attribute__((weak));
int MallocExtension_SetNumericProperty(const char* property, size_t value) __attribute__((weak));
int MallocExtension_GetNumericProperty(const char* property, size_t* value) __attribute__((weak));
void MallocExtension_MarkThreadIdle(void) __attribute__((weak));
}

namespace tongban {

void ConfigureHeapAllocator() {
  if (MallocExtension_SetNumericProperty == nullptr) return;
  if (std::getenv("TCMALLOC_MAX_TOTAL_THREAD_CACHE_BYTES") != nullptr) return;
  MallocExtension_SetNumericProperty("tcmalloc.max_total_thread_cache_bytes", kThreadCacheBytes);
}

const char* HeapAllocatorName() {
  return MallocExtension_ReleaseFreeMemory != nullptr ? "tcmalloc" : "glibc";
}

void ReleaseFreeHeapMemory() {
  if (MallocExtension_ReleaseFreeMemory != nullptr) {
    MallocExtension_ReleaseFreeMemory();
    return;
  }
  malloc_trim(0);
}

uint64_t ReleasableHeapBytes() {
  size_t free_pages = 0;
  if (MallocExtension_GetNumericProperty == nullptr ||
      MallocExtension_GetNumericProperty("tcmalloc.pageheap_free_bytes", &free_pages) == 0) {
    return 0;
  }
  return free_pages;
}

void AwaitReleasingIdleCache(absl::Mutex& mu, const absl::Condition& cond) {
  if (MallocExtension_MarkThreadIdle == nullptr) {
    mu.Await(cond);
    return;
  }
  if (mu.AwaitWithTimeout(cond, kIdleBeforeCacheRelease)) return;
  mu.Unlock();
  MallocExtension_MarkThreadIdle();
  mu.Lock();
  mu.Await(cond);
}

std::optional<HeapStats> ReadHeapStats() {
  HeapStats stats;
  if (MallocExtension_GetNumericProperty != nullptr) {
    auto get = [](const char* property, uint64_t* out) {
      size_t v = 0;
      if (MallocExtension_GetNumericProperty(property, &v) == 0) return false;
      *out = v;
      return true;
    };
    uint64_t central = 0, transfer = 0;
    if (!get("generic.current_allocated_bytes", &stats.allocated) ||
        !get("tcmalloc.pageheap_free_bytes", &stats.free_pages) ||
        !get("tcmalloc.pageheap_unmapped_bytes", &stats.released) ||
        !get("tcmalloc.central_cache_free_bytes", &central) ||
        !get("tcmalloc.transfer_cache_free_bytes", &transfer) ||
        !get("tcmalloc.thread_cache_free_bytes", &stats.free_thread_caches)) {
      return std::nullopt;
    }
    stats.free_central_caches = central + transfer;
    return stats;
  }
  // glibc: mmapped chunks (hblkhd) are allocated and go back on free.
  const struct mallinfo2 info = mallinfo2();
  stats.allocated = info.uordblks + info.hblkhd;
  stats.free_pages = info.fordblks;
  return stats;
}

}  // namespace tongban
