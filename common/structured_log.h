// One line per event, logfmt (key=value), so operators can grep by hand and
// log shippers can parse without a schema:
//   ts=2026-11-25T03:04:05.123Z level=info component=node event=application.submitted id=...
// Values with spaces, quotes or '=' are quoted; UTF-8 is written as is.
#pragma once

#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace tongban {

using LogField = std::pair<absl::string_view, absl::string_view>;

class EventLog final {
 public:
  // `out` is not owned (stderr by default).
  explicit EventLog(std::string component, FILE* out = stderr);

  void Info(absl::string_view event, std::initializer_list<LogField> fields = {});
  void Warn(absl::string_view event, std::initializer_list<LogField> fields = {});
  void Error(absl::string_view event, std::initializer_list<LogField> fields = {});

  // Formats one line without writing it (for tests).
  std::string Format(absl::string_view level, absl::string_view event,
                     std::initializer_list<LogField> fields) const;

 private:
  void Write(absl::string_view level, absl::string_view event,
             std::initializer_list<LogField> fields);

  const std::string component_;
  FILE* const out_;
  absl::Mutex mu_;  // serialises whole lines on out_
};

// Marks the lines this thread logs, while the scope lives, as part of one
// call: EventLog adds request_id=<id> to each (unless the line names a
// request_id itself). For handlers that serve a call on one thread (sync
// gRPC handlers, CitizenApi): construct it first thing with the call's id.
// An invalid id (IsValidRequestId, request_id.h) or "" marks nothing (not
// even with an outer scope's id), so a hostile value cannot reach a log
// line. Scopes nest; not movable.
class ScopedRequestId final {
 public:
  explicit ScopedRequestId(absl::string_view id);
  ~ScopedRequestId();
  ScopedRequestId(const ScopedRequestId&) = delete;
  ScopedRequestId& operator=(const ScopedRequestId&) = delete;

 private:
  std::string id_;
  const std::string* previous_;
};

// The request id of the innermost ScopedRequestId on this thread; "" outside one.
absl::string_view CurrentRequestId();

}  // namespace tongban
