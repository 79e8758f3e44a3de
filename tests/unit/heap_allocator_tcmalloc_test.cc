// common/heap_allocator under tcmalloc, as the node and the gateway run it
// (this test is linked with tcmalloc, tongban_server_allocator): the thread
// cache bound, the heap figures, and an idle thread giving its cache back.
#include <cstddef>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "heap_allocator.h"

extern "C" int MallocExtension_GetNumericProperty(const char* property, size_t* value);

namespace tongban {
namespace {

size_t Property(const char* name) {
  size_t value = 0;
  EXPECT_NE(MallocExtension_GetNumericProperty(name, &value), 0) << name;
  return value;
}

TEST(HeapAllocatorOnTcmalloc, NamesItselfAndBoundsTheThreadCaches) {
  EXPECT_STREQ(HeapAllocatorName(), "tcmalloc");
  ConfigureHeapAllocator();
  EXPECT_EQ(Property("tcmalloc.max_total_thread_cache_bytes"),
            static_cast<size_t>(kThreadCacheBytes));
}

TEST(HeapAllocatorOnTcmalloc, ReadsTheAllocatorsOwnFigures) {
  const std::optional<HeapStats> before = ReadHeapStats();
  ASSERT_TRUE(before.has_value());
  constexpr size_t kBlock = 32 << 20;
  std::vector<char> block(kBlock, 1);
  const std::optional<HeapStats> during = ReadHeapStats();
  ASSERT_TRUE(during.has_value());
  EXPECT_GE(during->allocated - before->allocated, kBlock);
  EXPECT_EQ(during->free_thread_caches, Property("tcmalloc.thread_cache_free_bytes"));
}

// A worker fills its thread cache (frees many small objects), then waits in
// AwaitReleasingIdleCache with nothing to do: after kIdleBeforeCacheRelease
// its cache is handed back, which the process-wide figure shows.
TEST(HeapAllocatorOnTcmalloc, AnIdleWaiterGivesItsThreadCacheBack) {
  absl::Mutex mu;
  bool filled = false, go = false;
  std::thread worker([&] {
    {
      std::vector<void*> objects(20000);
      for (void*& p : objects) p = ::operator new(192);
      for (void* p : objects) ::operator delete(p);
    }
    absl::MutexLock lock(&mu);
    filled = true;
    AwaitReleasingIdleCache(mu, absl::Condition(&go));
  });
  size_t cached = 0;
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&filled));
    cached = Property("tcmalloc.thread_cache_free_bytes");
  }
  // The worker's objects: most of what the thread caches hold now.
  ASSERT_GE(cached, 64u << 10);
  // Readiness: the figure drops once the worker has released; no sleep
  // decides the outcome, the deadline only bounds a failure.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  size_t now = cached;
  while (absl::Now() < deadline) {
    now = Property("tcmalloc.thread_cache_free_bytes");
    if (now + (48u << 10) <= cached) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_LE(now + (48u << 10), cached) << "thread caches still hold " << now << " bytes";
  {
    absl::MutexLock lock(&mu);
    go = true;
  }
  worker.join();
}

}  // namespace
}  // namespace tongban
