// ApplicationWatchHub: who watches which application at this node, and the
// one thread that moves every open watch stream forward.
//
// A WatchApplication stream (application_watch.h) subscribes here for its
// application. Writes tell the hub which application changed (Notify, called
// by NotifyingApplicationStore after each committed write); the hub marks
// that application's subscribers changed and queues them. Its thread runs a
// queued subscriber's Run: the subscriber reads what it needs from the
// store and starts at most one write. Every `tick` each subscriber also runs
// (heartbeats, the stream lifetime, polling), and a subscriber whose write
// completed asks to run again with Wake.
//
// So nothing is queued per event: a subscriber holds a resume point, and
// catches up from the store whenever it may write again. A slow reader
// costs one subscriber entry, never a growing buffer.
//
// Thread-safety: every method may be called from any thread. Run is called
// on the hub's thread only, never for two subscribers at once, and never
// after Unsubscribe returned.
#pragma once

#include <deque>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clock.h"

namespace tongban::node {

// One open stream, as the hub sees it.
class WatchSubscriber {
 public:
  virtual ~WatchSubscriber() = default;
  // On the hub's thread. `changed`: the application was written at this
  // node since the last Run (or this is the first Run). Must not block on
  // the client (it may read the store).
  virtual void Run(absl::Time now, bool changed) = 0;
};

class ApplicationWatchHub final {
 public:
  // At most `max_watches` subscribers at once; every subscriber runs at
  // least every `tick`. `clock` is not owned and must outlive the hub.
  ApplicationWatchHub(const Clock* clock, int max_watches,
                      absl::Duration tick = absl::Milliseconds(500));
  // Stops the thread; subscribers must have unsubscribed.
  ~ApplicationWatchHub();
  ApplicationWatchHub(const ApplicationWatchHub&) = delete;
  ApplicationWatchHub& operator=(const ApplicationWatchHub&) = delete;

  // Adds `s` (not owned) as a watcher of `application_id` and queues its
  // first Run (changed = true). False when max_watches streams are open.
  bool Subscribe(const std::string& application_id, WatchSubscriber* s);
  // Removes `s`. When it returns, `s` is not running and will not run
  // again (called from Run itself, it returns at once).
  void Unsubscribe(WatchSubscriber* s);
  // The application changed here: its subscribers run with changed = true.
  void Notify(const std::string& application_id);
  // Queues `s` to run soon (changed = false unless a Notify came).
  void Wake(WatchSubscriber* s);

  int open() const;
  int max_watches() const { return max_watches_; }

 private:
  struct Entry {
    std::string application_id;
    bool changed = false;
    bool queued = false;
  };
  void Loop();
  void QueueLocked(WatchSubscriber* s, Entry& e);

  const Clock* const clock_;
  const int max_watches_;
  const absl::Duration tick_;
  mutable absl::Mutex mu_;
  // Subscribers by application id.
  std::unordered_map<std::string, std::set<WatchSubscriber*>> by_application_;  // guarded by mu_
  std::unordered_map<WatchSubscriber*, Entry> entries_;                         // guarded by mu_
  std::deque<WatchSubscriber*> ready_;                                          // guarded by mu_
  WatchSubscriber* running_ = nullptr;                                          // guarded by mu_
  bool stop_ = false;                                                           // guarded by mu_
  std::thread thread_;
  std::thread::id thread_id_;  // set before the thread runs anything
};

}  // namespace tongban::node
