#include "structured_log.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "request_id.h"

namespace tongban {
namespace {

// The innermost ScopedRequestId's id on this thread (owned by the scope).
thread_local const std::string* current_request_id = nullptr;

void AppendValue(std::string* out, absl::string_view value) {
  bool quote = value.empty();
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    quote |= c == ' ' || c == '"' || c == '=' || u < 0x20 || u == 0x7F;
  }
  if (!quote) {
    out->append(value.data(), value.size());
    return;
  }
  out->push_back('"');
  for (char c : value) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '\t') {
      out->append("\\t");
    } else if (c == '\r') {
      out->append("\\r");
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      // No raw control bytes: a hostile value must not rewrite the terminal or fake a line.
      absl::StrAppend(out, "\\x", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

}  // namespace

EventLog::EventLog(std::string component, FILE* out)
    : component_(std::move(component)), out_(out) {}

std::string EventLog::Format(absl::string_view level, absl::string_view event,
                             std::initializer_list<LogField> fields) const {
  std::string line = absl::StrCat(
      "ts=", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
      " level=", level, " component=", component_, " event=", event);
  bool named_request_id = false;
  for (const LogField& f : fields) {
    absl::StrAppend(&line, " ", f.first, "=");
    AppendValue(&line, f.second);
    named_request_id |= f.first == "request_id";
  }
  if (current_request_id != nullptr && !named_request_id) {
    absl::StrAppend(&line, " request_id=");
    AppendValue(&line, *current_request_id);
  }
  line.push_back('\n');
  return line;
}

void EventLog::Write(absl::string_view level, absl::string_view event,
                     std::initializer_list<LogField> fields) {
  std::string line = Format(level, event, fields);
  absl::MutexLock lock(&mu_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

void EventLog::Info(absl::string_view event, std::initializer_list<LogField> fields) {
  Write("info", event, fields);
}
void EventLog::Warn(absl::string_view event, std::initializer_list<LogField> fields) {
  Write("warn", event, fields);
}
void EventLog::Error(absl::string_view event, std::initializer_list<LogField> fields) {
  Write("error", event, fields);
}

ScopedRequestId::ScopedRequestId(absl::string_view id)
    : id_(IsValidRequestId(id) ? std::string(id) : std::string()), previous_(current_request_id) {
  current_request_id = id_.empty() ? nullptr : &id_;
}

ScopedRequestId::~ScopedRequestId() { current_request_id = previous_; }

absl::string_view CurrentRequestId() {
  return current_request_id == nullptr ? absl::string_view() : *current_request_id;
}

}  // namespace tongban
