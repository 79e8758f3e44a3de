// common/worker_pool: posted tasks run on the pool's threads; a full queue
// and a draining pool refuse instead of growing; Drain runs what was queued.
#include "worker_pool.h"

#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace tongban {
namespace {

TEST(WorkerPool, RunsTasksOnItsOwnThreads) {
  WorkerPool pool(2, 8);
  absl::Notification ran;
  std::thread::id where;
  ASSERT_TRUE(pool.TryPost([&] {
    where = std::this_thread::get_id();
    ran.Notify();
  }));
  ran.WaitForNotification();
  EXPECT_NE(where, std::this_thread::get_id());
}

TEST(WorkerPool, RefusesWhenItsQueueIsFullAndAcceptsAgainOnceItDrainsBelow) {
  WorkerPool pool(1, 2);
  absl::Notification started, release;
  ASSERT_TRUE(pool.TryPost([&] {
    started.Notify();
    release.WaitForNotification();
  }));
  started.WaitForNotification();  // the one thread is busy: the rest queue
  absl::Mutex mu;
  int ran = 0;
  auto count = [&] {
    absl::MutexLock lock(&mu);
    ++ran;
  };
  EXPECT_TRUE(pool.TryPost(count));
  EXPECT_TRUE(pool.TryPost(count));
  EXPECT_FALSE(pool.TryPost(count)) << "a third queued task exceeds max_queued = 2";
  release.Notify();
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(+[](int* n) { return *n == 2; }, &ran));
  }
  absl::Notification last;
  EXPECT_TRUE(pool.TryPost([&] { last.Notify(); }));
  last.WaitForNotification();
}

TEST(WorkerPool, DrainRunsWhatWasQueuedThenRefusesNewTasks) {
  WorkerPool pool(1, 16);
  absl::Notification release;
  ASSERT_TRUE(pool.TryPost([&] { release.WaitForNotification(); }));
  int ran = 0;  // only the pool's one thread writes it; read after Drain joined it
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(pool.TryPost([&] { ++ran; }));
  std::thread drain([&] { pool.Drain(); });
  release.Notify();
  drain.join();
  EXPECT_EQ(ran, 5);
  EXPECT_FALSE(pool.TryPost([] {}));
  pool.Drain();  // idempotent
}

}  // namespace
}  // namespace tongban
