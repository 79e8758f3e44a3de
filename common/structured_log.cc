#include "structured_log.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tongban {
namespace {

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

EventLog::EventLog(std::string component, FILE* out) : component_(std::move(component)), out_(out) {}

std::string EventLog::Format(absl::string_view level, absl::string_view event,
                             std::initializer_list<LogField> fields) const {
  std::string line = absl::StrCat(
      "ts=", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
      " level=", level, " component=", component_, " event=", event);
  for (const LogField& f : fields) {
    absl::StrAppend(&line, " ", f.first, "=");
    AppendValue(&line, f.second);
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

}  // namespace tongban
