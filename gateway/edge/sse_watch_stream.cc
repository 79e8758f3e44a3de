#include "sse_watch_stream.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "http_conventions.h"
#include "rest_routes.h"

namespace tongban::edge {

std::string SseEventText(const v1::WatchMyApplicationResponse& m) {
  absl::StatusOr<std::string> json = ResponseJson(m);
  std::string data = json.ok() ? *json : "{}";
  // A data line ends at a line break: continue the value on new data lines.
  data = absl::StrReplaceAll(data, {{"\r\n", "\ndata: "}, {"\n", "\ndata: "}, {"\r", "\ndata: "}});
  return absl::StrCat("id: ", m.sequence(),
                      "\nevent: ", m.heartbeat() ? "heartbeat" : "application-event",
                      "\ndata: ", data, "\n\n");
}

void SseWatchStream::SetRelay(std::shared_ptr<WatchRelay> relay) {
  absl::MutexLock lock(&mu_);
  if (ended_) return;
  relay_ = std::move(relay);
  // The relay calls this sink until its End, whatever the HTTP side does.
  self_ = shared_from_this();
}

grpc::Status SseWatchStream::WaitFirst(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto first = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return delivered_ || ended_; };
  mu_.AwaitWithTimeout(absl::Condition(&first), timeout);
  return ended_ && !delivered_ ? end_status_ : grpc::Status::OK;
}

void SseWatchStream::Start(std::shared_ptr<HttpStreamWriter> writer) {
  {
    absl::MutexLock lock(&mu_);
    writer_ = std::move(writer);
    queue_.push_front(Chunk{absl::StrCat("retry: ", kSseRetryMillis, "\n\n"), nullptr});
  }
  Pump();
}

void SseWatchStream::Cancel() {
  std::shared_ptr<WatchRelay> relay;
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    relay = relay_;
  }
  if (relay != nullptr) relay->Cancel();
}

void SseWatchStream::Deliver(WatchRelay* relay, const v1::WatchMyApplicationResponse& m) {
  std::string text = SseEventText(m);
  {
    absl::MutexLock lock(&mu_);
    delivered_ = true;
    if (!failed_) {
      queue_.push_back(Chunk{std::move(text), relay});
      relay = nullptr;
    }
  }
  if (relay != nullptr) return relay->WriteFailed();
  if (limits_ != nullptr) limits_->MessageSent("sse", m.heartbeat());
  Pump();
}

void SseWatchStream::End(const grpc::Status& status) {
  std::shared_ptr<SseWatchStream> self;  // let go after this call
  {
    absl::MutexLock lock(&mu_);
    self = std::move(self_);
    ended_ = true;
    end_status_ = status;
    relay_.reset();
    if (!status.ok() && !failed_ && !cancelled_) {
      queue_.push_back(
          Chunk{absl::StrCat("event: error\ndata: ", ErrorBodyJson(status), "\n\n"), nullptr});
    }
  }
  Pump();
}

void SseWatchStream::Pump() {
  std::shared_ptr<HttpStreamWriter> writer;
  Chunk next;
  bool end = false;
  {
    absl::MutexLock lock(&mu_);
    if (writer_ == nullptr || writing_ || body_ended_) return;
    if (!queue_.empty() && !failed_) {
      next = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
    } else if (ended_) {
      body_ended_ = true;
      end = true;
    } else {
      return;
    }
    writer = writer_;
  }
  if (end) return writer->End();
  WatchRelay* answer = next.answer;
  // The HTTPS server always calls `done`, so the relay always gets its answer.
  writer->Write(std::move(next.text),
                [self = shared_from_this(), answer](bool ok) { self->OnWritten(ok, answer); });
}

void SseWatchStream::OnWritten(bool ok, WatchRelay* relay) {
  std::vector<WatchRelay*> failed;  // queued messages that will never be written
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      failed_ = true;
      for (Chunk& c : queue_) {
        if (c.answer != nullptr) failed.push_back(c.answer);
      }
      queue_.clear();
    }
  }
  if (relay != nullptr) {
    if (ok) {
      relay->Next();
    } else {
      relay->WriteFailed();
    }
  }
  for (WatchRelay* r : failed) r->WriteFailed();
  Pump();
}

}  // namespace tongban::edge
