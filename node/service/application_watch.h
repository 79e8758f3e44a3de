// ApplicationWatch: one WatchApplication stream (docs/protocol.md, "Watching
// an application"), on gRPC's callback API so that no thread waits for a
// client. It holds a resume point, never a queue of messages: whenever it
// may write (its previous write completed) it sends the next event after
// the last one sent, read from the store, and only one write is ever in
// flight. A reader slower than the application's history grows therefore
// costs nothing but that resume point; it catches up from the store.
//
// Its hub (application_watch_hub.h) runs it when the application is written
// here, when its write completed with more to send, and every tick
// (heartbeat, end of the stream's lifetime, polling of a shared store).
//
// Threads: Run on the hub's thread; OnWriteDone, OnCancel and OnDone on
// gRPC's callback threads; `mu_` guards the stream's state across them.
// StartWrite and Finish are called without `mu_` held.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clock.h"
#include "grpcpp/support/server_callback.h"
#include "service/application_watch_hub.h"
#include "service/node_metrics.h"
#include "store/application_store.h"
#include "tongban/v1/application.pb.h"

namespace tongban::node {

// The node's watch settings (config `watch`, node_config.proto).
struct WatchOptions {
  absl::Duration default_heartbeat = absl::Seconds(15);
  absl::Duration max_stream = absl::Seconds(3600);
  // Re-read the store at least this often (several replicas on one
  // database); InfiniteDuration = only when woken and at heartbeats.
  absl::Duration poll = absl::InfiniteDuration();
};

inline constexpr int kMaxWatchHeartbeatSeconds = 300;

class ApplicationWatch final : public grpc::ServerWriteReactor<v1::WatchApplicationResponse>,
                               public WatchSubscriber {
 public:
  struct Params {
    std::string application_id;
    int64_t after_sequence = 0;
    absl::Duration heartbeat = absl::Seconds(15);
    absl::Duration max_stream = absl::Seconds(3600);
    absl::Duration poll = absl::InfiniteDuration();
  };

  // Starts the stream of an application the caller was authorized to read.
  // Pointers are not owned and must outlive the stream; `metrics` may be
  // null. When the hub is full the stream finishes RESOURCE_EXHAUSTED.
  static grpc::ServerWriteReactor<v1::WatchApplicationResponse>* Start(ApplicationStore* store,
                                                                       ApplicationWatchHub* hub,
                                                                       const Clock* clock,
                                                                       NodeMetrics* metrics,
                                                                       Params params);

  // A stream refused before it started: finishes with `status` at once.
  static grpc::ServerWriteReactor<v1::WatchApplicationResponse>* Refuse(grpc::Status status);

  void Run(absl::Time now, bool changed) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  ApplicationWatch(ApplicationStore* store, ApplicationWatchHub* hub, const Clock* clock,
                   NodeMetrics* metrics, Params params);
  // Reads the events after the last one queued into `pending_`. False when
  // the stream must end (`*end` set).
  bool ReadLocked(grpc::Status* end) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fills `out_` with the next pending event (or a heartbeat) and marks the
  // write in flight; the caller calls StartWrite(&out_) after unlocking.
  void PrepareEventLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PrepareHeartbeatLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks the stream finished; false if it already was. The caller calls
  // Finish after unlocking.
  bool FinishingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ApplicationStore* const store_;
  ApplicationWatchHub* const hub_;
  const Clock* const clock_;
  NodeMetrics* const metrics_;
  const Params p_;
  const absl::Time end_at_;
  // Counted in the open-watches gauge; set in Start before any callback.
  bool subscribed_ = false;

  absl::Mutex mu_;
  int64_t last_sent_ ABSL_GUARDED_BY(mu_);  // sequence of the last event written (or resumed from)
  int64_t last_queued_ ABSL_GUARDED_BY(mu_);  // sequence of the last event in pending_
  // Events read and not yet written, with their sequences: at most the
  // application's history after the resume point, and read only when the
  // previous ones were written.
  std::deque<std::pair<int64_t, v1::ApplicationEvent>> pending_ ABSL_GUARDED_BY(mu_);
  v1::ApplicationState state_ ABSL_GUARDED_BY(mu_) = v1::APPLICATION_STATE_UNSPECIFIED;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool reread_ ABSL_GUARDED_BY(mu_) = false;  // changed while a write was in flight
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time next_heartbeat_ ABSL_GUARDED_BY(mu_);
  absl::Time next_poll_ ABSL_GUARDED_BY(mu_);
  // The message being written: one at a time, untouched until OnWriteDone.
  v1::WatchApplicationResponse out_;
};

}  // namespace tongban::node
