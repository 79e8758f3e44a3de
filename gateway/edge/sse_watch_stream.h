// SseWatchStream: WatchMyApplication on the REST face, as Server-Sent Events
// (text/event-stream; WHATWG HTML "Server-sent events"). It is the relay's
// sink (watch_relay.h) and the HTTPS server's streamed body
// (https_server.h). Each relayed message becomes one event:
//
//   id: <sequence>
//   event: application-event | heartbeat
//   data: <the WatchMyApplicationResponse as JSON>
//
// so a browser's EventSource reconnects by itself with Last-Event-ID = the
// last sequence, which resumes the watch. A watch that ends with an error
// sends `event: error` with the usual {code, message, details} body; one
// that reaches its lifetime just ends (EventSource reconnects).
//
// At most one chunk is written at a time, and the relay reads the next
// message only when the previous one was written: the queue holds at most
// the opening `retry:` line, one message and the closing error event.
// Threads: relay callbacks on gRPC threads, Start/Cancel and write
// completions on I/O threads; `mu_` guards the state.
#pragma once

#include <deque>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "https_server.h"
#include "tongban/v1/citizen.pb.h"
#include "watch_limits.h"
#include "watch_relay.h"

namespace tongban::edge {

// Milliseconds an EventSource waits before reconnecting (the `retry:` field).
inline constexpr int kSseRetryMillis = 3000;

// One event's text for `m` (id, event, data lines, blank line).
std::string SseEventText(const v1::WatchMyApplicationResponse& m);

class SseWatchStream final : public HttpBodyStream,
                             public WatchSink,
                             public std::enable_shared_from_this<SseWatchStream> {
 public:
  // `limits` (not owned, may be null) counts the messages sent.
  explicit SseWatchStream(WatchLimits* limits) : limits_(limits) {}

  // The running relay, once CitizenApi::StartWatch returned it.
  void SetRelay(std::shared_ptr<WatchRelay> relay);
  // Waits (at most `timeout`) for the first message or the end. The end's
  // status when the watch ended before sending anything (the node refused
  // it: not found, out of range, its limit), so the REST face can answer
  // that with its HTTP status instead of a 200 stream; OK otherwise.
  grpc::Status WaitFirst(absl::Duration timeout);

  void Start(std::shared_ptr<HttpStreamWriter> writer) override;
  void Cancel() override;
  void Deliver(WatchRelay* relay, const v1::WatchMyApplicationResponse& m) override;
  void End(const grpc::Status& status) override;

 private:
  struct Chunk {
    std::string text;
    WatchRelay* answer = nullptr;  // told Next/WriteFailed once written
  };
  // Starts the next write, or ends the body once everything was written.
  void Pump();
  void OnWritten(bool ok, WatchRelay* relay);

  WatchLimits* const limits_;
  absl::Mutex mu_;
  std::shared_ptr<HttpStreamWriter> writer_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<WatchRelay> relay_ ABSL_GUARDED_BY(mu_);
  std::deque<Chunk> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;      // a write failed: the client is gone
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;   // the server asked to stop
  bool ended_ ABSL_GUARDED_BY(mu_) = false;       // the relay's End came
  bool body_ended_ ABSL_GUARDED_BY(mu_) = false;  // writer->End called
  bool delivered_ ABSL_GUARDED_BY(mu_) = false;   // a message came from the relay
  grpc::Status end_status_ ABSL_GUARDED_BY(mu_);
  // Itself, from SetRelay until End: the relay holds a plain pointer.
  std::shared_ptr<SseWatchStream> self_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tongban::edge
