#include "heap_allocator.h"

#include <malloc.h>

#include <cstdlib>

// gperftools' C API (gperftools/malloc_extension_c.h), declared weak: null
// unless tcmalloc is linked into (or preloaded in) the process.
extern "C" {
void MallocExtension_ReleaseFreeMemory(void) __attribute__((weak));
int MallocExtension_SetNumericProperty(const char* property, size_t value) __attribute__((weak));
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

}  // namespace tongban
