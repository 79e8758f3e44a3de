#include "error_details.h"

#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"
#include "google/rpc/error_details.pb.h"
#include "tongban/v1/citizen.pb.h"

namespace tongban::edge {
namespace {

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
// The length of the field path at the start of `s` ("materials[0].content_sha256"):
// segments [a-z][a-z0-9_]* (or [A-Za-z][A-Za-z0-9_]* when `json_names`, for
// parameter names a client spelled), each with an optional [N], joined by
// '.', and followed by a space, ':' or the end. 0 when there is none.
size_t FieldPathLength(absl::string_view s, bool json_names) {
  auto starts_segment = [&](char c) {
    return IsLower(c) || (json_names && absl::ascii_isupper(c));
  };
  auto in_segment = [&](char c) { return starts_segment(c) || absl::ascii_isdigit(c) || c == '_'; };
  size_t i = 0;
  while (true) {
    if (i >= s.size() || !starts_segment(s[i])) return 0;
    while (i < s.size() && in_segment(s[i])) ++i;
    if (i < s.size() && s[i] == '[') {
      size_t digits = ++i;
      while (i < s.size() && absl::ascii_isdigit(s[i])) ++i;
      if (i == digits || i >= s.size() || s[i] != ']') return 0;
      ++i;
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      continue;
    }
    break;
  }
  if (i < s.size() && s[i] != ' ' && s[i] != ':') return 0;
  return i;
}

// The top-level fields of CitizenService's requests ("applicant", "note", ...).
const absl::flat_hash_set<std::string>& RequestFieldNames() {
  static const auto* const names = [] {
    auto* set = new absl::flat_hash_set<std::string>();
    const google::protobuf::ServiceDescriptor* service =
        v1::ErrorBody::descriptor()->file()->FindServiceByName("CitizenService");
    for (int m = 0; service != nullptr && m < service->method_count(); ++m) {
      const google::protobuf::Descriptor* input = service->method(m)->input_type();
      for (int f = 0; f < input->field_count(); ++f) set->insert(input->field(f)->name());
    }
    return set;
  }();
  return *names;
}

bool AboutContent(grpc::StatusCode code) {
  // A NOT_FOUND or PERMISSION_DENIED message naming a field is not a fault
  // of that field.
  return code == grpc::StatusCode::INVALID_ARGUMENT ||
         code == grpc::StatusCode::FAILED_PRECONDITION || code == grpc::StatusCode::OUT_OF_RANGE;
}

}  // namespace

std::string JsonFieldPath(absl::string_view proto_path) {
  std::string out;
  out.reserve(proto_path.size());
  bool upper_next = false;
  for (char c : proto_path) {
    if (c == '_') {
      upper_next = true;
    } else {
      out.push_back(upper_next ? absl::ascii_toupper(c) : c);
      upper_next = false;
    }
  }
  return out;
}

std::string ValidUtf8(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80             ? 1
                 : (c & 0xE0) == 0xC0 ? 2
                 : (c & 0xF0) == 0xE0 ? 3
                 : (c & 0xF8) == 0xF0 ? 4
                                      : 0;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    bool ok = len != 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      ok = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong encodings, surrogates and values past U+10FFFF are invalid too.
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (ok && (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
    if (ok) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

std::string FieldAtFault(const grpc::Status& status, FieldPathStyle style) {
  if (!AboutContent(status.error_code())) return "";
  const std::string text = status.error_message();  // returned by value
  absl::string_view message = text;
  for (absl::string_view prefix : {"query parameter ", "path parameter "}) {
    if (absl::ConsumePrefix(&message, prefix)) {
      // Spelled by the client (JSON or proto name): as given, or as JSON.
      absl::string_view name = message.substr(0, FieldPathLength(message, /*json_names=*/true));
      return style == FieldPathStyle::kJsonNames ? JsonFieldPath(name) : std::string(name);
    }
  }
  absl::string_view path = message.substr(0, FieldPathLength(message, /*json_names=*/false));
  if (path.empty()) return "";
  if (path.find_first_of("_.[") == absl::string_view::npos && !RequestFieldNames().contains(path)) {
    return "";
  }
  return style == FieldPathStyle::kJsonNames ? JsonFieldPath(path) : std::string(path);
}

google::rpc::Status RichStatus(const grpc::Status& status, FieldPathStyle style) {
  google::rpc::Status rich;
  rich.set_code(static_cast<int32_t>(status.error_code()));
  if (status.ok()) return rich;
  rich.set_message(ValidUtf8(status.error_message()));
  // What the node (or the gateway, common/grpc_status.h) already attached:
  // an ErrorInfo reason an app branches on, kept as sent.
  bool has_bad_request = false;
  if (!status.error_details().empty()) {
    google::rpc::Status sent;
    if (sent.ParseFromString(status.error_details())) {
      for (const google::protobuf::Any& any : sent.details()) {
        has_bad_request |= any.Is<google::rpc::BadRequest>();
        *rich.add_details() = any;
      }
    }
  }
  const std::string field = has_bad_request ? "" : FieldAtFault(status, style);
  if (!field.empty()) {
    google::rpc::BadRequest bad_request;
    google::rpc::BadRequest::FieldViolation* violation = bad_request.add_field_violations();
    violation->set_field(ValidUtf8(field));
    violation->set_description(rich.message());
    rich.add_details()->PackFrom(bad_request);
  }
  return rich;
}

grpc::Status WithErrorDetails(const grpc::Status& status) {
  if (status.ok()) return status;
  google::rpc::Status sent;
  if (!status.error_details().empty() && !sent.ParseFromString(status.error_details())) {
    return status;  // not a google.rpc.Status: not ours to rewrite
  }
  return grpc::Status(status.error_code(), status.error_message(),
                      RichStatus(status, FieldPathStyle::kProtoNames).SerializeAsString());
}

}  // namespace tongban::edge
