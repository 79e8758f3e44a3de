// WatchRelay: one citizen's WatchMyApplication, relayed from the accepting
// province's node (its WatchApplication stream; docs/public-api.md, "Live
// status"). The gateway keeps no state of its own: the node holds the
// history and the resume point is the sequence the client last received,
// so any replica can serve a resumed watch after a restart.
//
// Flow control: the relay reads one message from the node, hands it to its
// sink (the gRPC stream or the Server-Sent Events response) and reads the
// next only when the sink says it was written (Next). So a watch holds at
// most one message at the gateway, and a slow reader backs up to the node,
// which holds a resume point and catches up from its store.
//
// Threads: OnReadDone/OnDone on gRPC's callback threads; Next and Cancel
// from any thread. The sink's Deliver and End are called on gRPC threads;
// End exactly once, last.
#pragma once

#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/client_callback.h"
#include "node_call.h"
#include "tongban/v1/application.pb.h"
#include "tongban/v1/citizen.pb.h"
#include "watch_limits.h"

namespace tongban::edge {

class WatchRelay;

// Where a relayed watch's messages go.
class WatchSink {
 public:
  virtual ~WatchSink() = default;
  // Sends `m` to the client, then calls relay->Next() once it was written
  // or relay->WriteFailed() when it could not be: exactly one of them. Until
  // then the relay reads nothing more and cannot end (not even when
  // cancelled), so `relay` stays valid for that call (even before Start
  // returned it), and End does not come while a write is in flight.
  virtual void Deliver(WatchRelay* relay, const v1::WatchMyApplicationResponse& m) = 0;
  // The watch ended: OK when its lifetime ran out (the client resumes from
  // its last sequence), else why. Called once; nothing follows.
  virtual void End(const grpc::Status& status) = 0;
};

struct WatchRelayParams {
  std::string citizen_id;
  std::string request_id;
  std::string application_id;
  std::string accepting_province;
  int64_t after_sequence = 0;
  int heartbeat_seconds = 15;
  absl::Duration max_stream = absl::Minutes(30);
};

class WatchRelay final : public grpc::ClientReadReactor<v1::WatchApplicationResponse> {
 public:
  // Starts relaying to `sink` (not owned; must stay valid until its End
  // returned). The relay owns `slot` until it is done. UNAVAILABLE when the
  // accepting node cannot be called now (ejected or not in the directory).
  static absl::StatusOr<std::shared_ptr<WatchRelay>> Start(gateway::NodeCaller nodes,
                                                           WatchRelayParams params,
                                                           WatchLimits::Slot slot, WatchSink* sink);

  // The last message delivered was written: read the next one.
  void Next();
  // The last message delivered could not be written: the client is gone.
  // End follows.
  void WriteFailed();
  // The client went away: end the node's stream; End follows (after the
  // sink answered a delivery in flight).
  void Cancel();
  // The gateway drains: like Cancel, but the watch ends with OK (the client
  // resumes, at another replica).
  void Drain();

  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

  // Use Start.
  WatchRelay(gateway::NodeCaller nodes, WatchRelayParams params, WatchLimits::Slot slot,
             WatchSink* sink);

 private:
  const gateway::NodeCaller nodes_;
  const WatchRelayParams p_;
  WatchLimits::Slot slot_;
  WatchSink* const sink_;
  std::shared_ptr<const gateway::NodeStubs> stubs_;  // keeps the channel during the call
  grpc::ClientContext ctx_;
  v1::WatchApplicationRequest request_;
  v1::WatchApplicationResponse in_;  // the read in flight
  absl::Time started_;
  // Keeps the relay alive until gRPC is done with it (reset in OnDone).
  std::shared_ptr<WatchRelay> self_;
  absl::Mutex mu_;
  // Ends reads (once): the hold on the call goes, so it can finish. True
  // when the caller must call RemoveHold (after unlocking).
  bool EndReadsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  bool read_outstanding_ ABSL_GUARDED_BY(mu_) = false;
  bool delivery_pending_ ABSL_GUARDED_BY(mu_) = false;  // the sink has not answered
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_ended_ ABSL_GUARDED_BY(mu_) = false;  // the hold is removed
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

// What the client sees when the relay ended with `node_status`: OK for the
// end of the stream's lifetime (the gateway's deadline or the node's own
// end), NOT_FOUND in the words GetMyApplication uses, the rest as it is.
grpc::Status WatchEndStatus(const grpc::Status& node_status, const std::string& application_id);

}  // namespace tongban::edge
