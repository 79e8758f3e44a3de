#include "rest_routes.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/api/annotations.pb.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/util/json_util.h"
#include "input_validation.h"
#include "proto_json_writer.h"
#include "tongban/v1/api_options.pb.h"

namespace tongban::edge {
namespace {

namespace pb = google::protobuf;

// A parameter name as the client wrote it, for messages that name it
// without quotes: field names are plain ASCII, so anything else (and
// anything long) is shown quoted instead.
std::string ParamName(absl::string_view name) {
  bool plain = !name.empty() && name.size() <= 40;
  for (char c : name) plain &= absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-';
  return plain ? std::string(name) : Shown(name);
}

// RFC 3986 unreserved characters: all a literal template segment may hold,
// so a literal never needs percent-encoding to be matched.
bool IsUnreserved(char c) {
  return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

bool IsIdentifier(absl::string_view s) {
  if (s.empty() || absl::ascii_isdigit(s[0])) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX-decoding; nullopt on a malformed escape. In the query string '+' is
// a space (application/x-www-form-urlencoded); in the path it is itself.
std::optional<std::string> PercentDecode(absl::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool IsUtf8(absl::string_view s) { return Utf8Length(s) >= 0; }

std::string Describe(const RestRoute& route) {
  return absl::StrCat(route.http_method, " ", route.path);
}

absl::Status RouteError(const pb::MethodDescriptor& method, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(method.full_name(), ": ", what));
}

// The method's options with the extensions of the generated pool known,
// also when `method` comes from a pool (a descriptor set read at run time)
// whose MethodOptions kept them as unknown fields.
pb::MethodOptions KnownOptions(const pb::MethodDescriptor& method) {
  pb::MethodOptions options;
  options.ParseFromString(method.options().SerializeAsString());
  return options;
}

absl::Status ParseTemplate(const pb::MethodDescriptor& method, RestRoute* route) {
  const std::string& path = route->path;
  auto bad = [&](absl::string_view why) {
    return RouteError(method, absl::StrCat("path template ", Shown(path), " ", why));
  };
  if (path.size() < 2 || path[0] != '/') return bad("must start with '/' and name a resource");
  std::vector<std::string> parts = absl::StrSplit(absl::string_view(path).substr(1), '/');
  std::set<std::string> bound;
  for (size_t i = 0; i < parts.size(); ++i) {
    absl::string_view part = parts[i];
    if (i + 1 == parts.size()) {
      // The ":verb" suffix: after the variable's '}' or the literal's text.
      size_t from = part.empty() || part[0] != '{' ? 0 : part.find('}');
      size_t colon = from == absl::string_view::npos ? from : part.find(':', from);
      if (colon != absl::string_view::npos) {
        route->verb = std::string(part.substr(colon + 1));
        part = part.substr(0, colon);
        if (route->verb.empty()) return bad("has an empty :verb");
        for (char c : route->verb) {
          if (!absl::ascii_isalnum(c) && c != '_' && c != '-') {
            return bad("has a :verb that is not [A-Za-z0-9_-]");
          }
        }
      }
    }
    if (part.empty()) return bad("has an empty segment (\"//\" or a trailing '/')");
    PathSegment segment;
    if (part.front() == '{' || part.back() == '}') {
      if (part.size() < 3 || part.front() != '{' || part.back() != '}') {
        return bad("has a variable that is not a whole segment {name}");
      }
      segment.variable = true;
      segment.text = std::string(part.substr(1, part.size() - 2));
      if (!IsIdentifier(segment.text)) return bad("has a variable that is not a field name");
      const pb::FieldDescriptor* field = method.input_type()->FindFieldByName(segment.text);
      if (field == nullptr || field->is_repeated() ||
          field->type() != pb::FieldDescriptor::TYPE_STRING) {
        return bad(absl::StrCat("binds {", segment.text,
                                "}, which is not a singular string field of ",
                                method.input_type()->full_name()));
      }
      if (!bound.insert(segment.text).second) {
        return bad(absl::StrCat("binds {", segment.text, "} twice"));
      }
    } else {
      for (char c : part) {
        if (!IsUnreserved(c)) {
          return bad("has a literal segment with characters outside [A-Za-z0-9._~-]");
        }
      }
      segment.text = std::string(part);
    }
    route->segments.push_back(std::move(segment));
  }
  return absl::OkStatus();
}

absl::StatusOr<RestRoute> ParseRoute(const pb::MethodDescriptor& method) {
  const pb::MethodOptions options = KnownOptions(method);
  if (!options.HasExtension(google::api::http)) {
    return RouteError(method, "has no (google.api.http) option: every public method needs one");
  }
  const google::api::HttpRule& rule = options.GetExtension(google::api::http);
  RestRoute route;
  route.method = &method;
  switch (rule.pattern_case()) {
    case google::api::HttpRule::kGet:
      route.http_method = "GET";
      route.path = rule.get();
      break;
    case google::api::HttpRule::kPost:
      route.http_method = "POST";
      route.path = rule.post();
      break;
    case google::api::HttpRule::kCustom:
      route.http_method = rule.custom().kind();
      route.path = rule.custom().path();
      break;
    case google::api::HttpRule::kPut:
    case google::api::HttpRule::kDelete:
    case google::api::HttpRule::kPatch:
      return RouteError(method,
                        "put, delete and patch bindings are not supported: use get or post");
    case google::api::HttpRule::PATTERN_NOT_SET:
      return RouteError(method, "its (google.api.http) option names no pattern (get or post)");
  }
  if (rule.additional_bindings_size() > 0) {
    return RouteError(method, "additional_bindings are not supported: one route per method");
  }
  if (!rule.response_body().empty()) {
    return RouteError(method, "response_body is not supported: the answer is the whole response");
  }
  route.anonymous = options.GetExtension(tongban::v1::anonymous);
  route.success_status = options.HasExtension(tongban::v1::success_status)
                             ? options.GetExtension(tongban::v1::success_status)
                             : 200;
  if (route.path.empty()) {
    return RouteError(method, "its (google.api.http) option has no path");
  }
  if (route.http_method != "GET" && route.http_method != "POST") {
    return RouteError(method, absl::StrCat("HTTP method ", Shown(route.http_method),
                                           " is not supported: use \"GET\" or \"POST\""));
  }
  if (rule.body() != "" && rule.body() != "*") {
    return RouteError(method, absl::StrCat("body ", Shown(rule.body()),
                                           " is not supported: use \"*\" or leave it empty"));
  }
  route.has_body = rule.body() == "*";
  if (route.has_body && route.http_method == "GET") {
    return RouteError(method, "a GET route cannot have a body");
  }
  if (route.success_status < 200 || route.success_status > 299) {
    return RouteError(
        method, absl::StrCat("success_status ", route.success_status, " is not a 2xx status"));
  }
  if (absl::Status s = ParseTemplate(method, &route); !s.ok()) return s;
  if (!route.has_body) {
    // Without a body every field not in the path comes from the query
    // string, which carries scalars only.
    std::set<std::string> in_path;
    for (const PathSegment& s : route.segments) {
      if (s.variable) in_path.insert(s.text);
    }
    const pb::Descriptor& input = *method.input_type();
    for (int i = 0; i < input.field_count(); ++i) {
      const pb::FieldDescriptor& field = *input.field(i);
      if (in_path.count(field.name()) == 0 &&
          field.cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        return RouteError(method, absl::StrCat("field ", field.name(), " of ", input.full_name(),
                                               " is a message or map, which a query string cannot "
                                               "carry: give the route body \"*\""));
      }
    }
  }
  return route;
}

// Whether some request path matches both routes.
bool Overlaps(const RestRoute& a, const RestRoute& b) {
  if (a.http_method != b.http_method || a.verb != b.verb ||
      a.segments.size() != b.segments.size()) {
    return false;
  }
  for (size_t i = 0; i < a.segments.size(); ++i) {
    const PathSegment& x = a.segments[i];
    const PathSegment& y = b.segments[i];
    if (!x.variable && !y.variable && x.text != y.text) return false;
  }
  return true;
}

struct RequestPath {
  std::vector<std::string> segments;  // percent-decoded
  bool has_verb = false;
  std::string verb;
};

// Splits on '/' first and decodes each segment after, so an encoded '/'
// stays inside its segment; likewise the verb is the text after the last
// unencoded ':' of the last segment.
std::optional<RequestPath> SplitRequestPath(absl::string_view path) {
  if (path.empty() || path[0] != '/') return std::nullopt;
  std::vector<absl::string_view> raw = absl::StrSplit(path.substr(1), '/');
  RequestPath out;
  absl::string_view& last = raw.back();
  size_t colon = last.rfind(':');
  if (colon != absl::string_view::npos) {
    std::optional<std::string> verb = PercentDecode(last.substr(colon + 1), false);
    if (!verb) return std::nullopt;
    out.has_verb = true;
    out.verb = std::move(*verb);
    last = last.substr(0, colon);
  }
  for (absl::string_view segment : raw) {
    std::optional<std::string> decoded = PercentDecode(segment, false);
    if (!decoded) return std::nullopt;
    out.segments.push_back(std::move(*decoded));
  }
  return out;
}

bool Matches(const RestRoute& route, const RequestPath& path, PathParams* params) {
  if (path.segments.size() != route.segments.size()) return false;
  if (path.has_verb != !route.verb.empty() || path.verb != route.verb) return false;
  params->clear();
  for (size_t i = 0; i < path.segments.size(); ++i) {
    const PathSegment& want = route.segments[i];
    const std::string& got = path.segments[i];
    if (want.variable) {
      if (got.empty()) return false;
      params->emplace_back(want.text, got);
    } else if (got != want.text) {
      return false;
    }
  }
  return true;
}

absl::Status ParseJsonBody(absl::string_view body, pb::Message* request) {
  size_t start = 0;
  while (start < body.size() && absl::ascii_isspace(body[start])) ++start;
  if (start == body.size()) {
    request->Clear();  // an empty body is {}
    return absl::OkStatus();
  }
  if (body[start] != '{') return absl::InvalidArgumentError("request body: expected a JSON object");
  if (!IsUtf8(body)) return absl::InvalidArgumentError("request body: not valid UTF-8");
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  pb::util::Status status =
      pb::util::JsonStringToMessage(pb::StringPiece(body.data(), body.size()), request, options);
  if (!status.ok()) {
    // Only the first line: the parser appends an excerpt of the input and a
    // caret, which do not belong in a one-line error message.
    absl::string_view message(status.message().data(), status.message().size());
    message = absl::StripTrailingAsciiWhitespace(message.substr(0, message.find('\n')));
    // "colour: Cannot find field." says little to an app developer.
    constexpr absl::string_view kUnknown = ": Cannot find field.";
    if (absl::EndsWith(message, kUnknown)) {
      absl::string_view field = message.substr(0, message.size() - kUnknown.size());
      return absl::InvalidArgumentError(absl::StrCat(
          "request body: \"", field, "\" is not a field of ", request->GetDescriptor()->full_name(),
          " (names are lowerCamelCase or as in the proto; see /openapi.json)"));
    }
    return absl::InvalidArgumentError(absl::StrCat("request body: ", message));
  }
  return absl::OkStatus();
}

// Integer text in decimal, no sign for unsigned types, no spaces or '+'.
template <typename T>
absl::Status ParseInteger(absl::string_view name, absl::string_view text, const char* type_name,
                          T* out) {
  absl::string_view digits = text;
  if (std::numeric_limits<T>::is_signed && !digits.empty() && digits[0] == '-') {
    digits.remove_prefix(1);
  }
  bool ok = !digits.empty();
  for (char c : digits) ok &= absl::ascii_isdigit(c);
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat("query parameter ", name, ": ", Shown(text),
                                                   std::numeric_limits<T>::is_signed
                                                       ? " is not an integer"
                                                       : " is not a non-negative integer"));
  }
  using Wide = std::conditional_t<std::numeric_limits<T>::is_signed, int64_t, uint64_t>;
  Wide wide;
  if (!absl::SimpleAtoi(text, &wide) || wide < static_cast<Wide>(std::numeric_limits<T>::min()) ||
      wide > static_cast<Wide>(std::numeric_limits<T>::max())) {
    return absl::InvalidArgumentError(absl::StrCat("query parameter ", name, ": ", Shown(text),
                                                   " is out of range for ", type_name));
  }
  *out = static_cast<T>(wide);
  return absl::OkStatus();
}

absl::Status ParseFloating(absl::string_view name, absl::string_view text, bool is_float,
                           double* out) {
  // proto3 JSON spells the special values "NaN", "Infinity", "-Infinity".
  if (text == "NaN") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return absl::OkStatus();
  }
  if (text == "Infinity" || text == "-Infinity") {
    *out = text[0] == '-' ? -HUGE_VAL : HUGE_VAL;
    return absl::OkStatus();
  }
  // Plain decimal or exponent notation only: SimpleAtod would also take
  // "inf", "nan" and hex floats, which proto3 JSON does not.
  bool numeric = !text.empty();
  for (char c : text) {
    numeric &= absl::ascii_isdigit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
  }
  double value = 0;
  if (!numeric || !absl::SimpleAtod(text, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("query parameter ", name, ": ", Shown(text), " is not a number"));
  }
  if (std::isinf(value) || (is_float && std::fabs(value) > FLT_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat("query parameter ", name, ": ", Shown(text),
                                                   " is out of range for ",
                                                   is_float ? "float" : "double"));
  }
  *out = value;
  return absl::OkStatus();
}

// Sets (or, for a repeated field, adds) one query parameter's value.
absl::Status SetScalar(absl::string_view name, const pb::FieldDescriptor& field,
                       absl::string_view text, pb::Message* request) {
  const pb::Reflection& r = *request->GetReflection();
  const bool rep = field.is_repeated();
  switch (field.cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_STRING: {
      std::string value(text);
      if (field.type() == pb::FieldDescriptor::TYPE_BYTES) {
        // proto3 JSON: standard or URL-safe base64.
        if (!absl::Base64Unescape(text, &value) && !absl::WebSafeBase64Unescape(text, &value)) {
          return absl::InvalidArgumentError(
              absl::StrCat("query parameter ", name, ": ", Shown(text), " is not base64"));
        }
      } else if (!IsUtf8(text)) {
        return absl::InvalidArgumentError(
            absl::StrCat("query parameter ", name, " is not valid UTF-8"));
      }
      rep ? r.AddString(request, &field, std::move(value))
          : r.SetString(request, &field, std::move(value));
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_INT32: {
      int32_t v = 0;
      if (absl::Status s = ParseInteger(name, text, "int32", &v); !s.ok()) return s;
      rep ? r.AddInt32(request, &field, v) : r.SetInt32(request, &field, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_INT64: {
      int64_t v = 0;
      if (absl::Status s = ParseInteger(name, text, "int64", &v); !s.ok()) return s;
      rep ? r.AddInt64(request, &field, v) : r.SetInt64(request, &field, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v = 0;
      if (absl::Status s = ParseInteger(name, text, "uint32", &v); !s.ok()) return s;
      rep ? r.AddUInt32(request, &field, v) : r.SetUInt32(request, &field, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v = 0;
      if (absl::Status s = ParseInteger(name, text, "uint64", &v); !s.ok()) return s;
      rep ? r.AddUInt64(request, &field, v) : r.SetUInt64(request, &field, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_BOOL: {
      if (text != "true" && text != "false") {
        return absl::InvalidArgumentError(absl::StrCat("query parameter ", name, ": ", Shown(text),
                                                       " is not a boolean (true or false)"));
      }
      rep ? r.AddBool(request, &field, text == "true") : r.SetBool(request, &field, text == "true");
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
    case pb::FieldDescriptor::CPPTYPE_FLOAT: {
      const bool is_float = field.cpp_type() == pb::FieldDescriptor::CPPTYPE_FLOAT;
      double v = 0;
      if (absl::Status s = ParseFloating(name, text, is_float, &v); !s.ok()) return s;
      if (is_float) {
        rep ? r.AddFloat(request, &field, static_cast<float>(v))
            : r.SetFloat(request, &field, static_cast<float>(v));
      } else {
        rep ? r.AddDouble(request, &field, v) : r.SetDouble(request, &field, v);
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      const pb::EnumValueDescriptor* value = field.enum_type()->FindValueByName(std::string(text));
      if (value == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("query parameter ", name, ": ", Shown(text),
                                                       " is not a value of ",
                                                       field.enum_type()->full_name()));
      }
      rep ? r.AddEnum(request, &field, value) : r.SetEnum(request, &field, value);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "query parameter ", name, " is a message field, which the query string cannot carry"));
}

const pb::FieldDescriptor* FindQueryField(const pb::Descriptor& message, absl::string_view name) {
  for (int i = 0; i < message.field_count(); ++i) {
    const pb::FieldDescriptor* field = message.field(i);
    if (field->name() == name || field->json_name() == name) return field;
  }
  return nullptr;
}

absl::Status BindQuery(const RestRoute& route, const PathParams& path_params,
                       absl::string_view query_string, pb::Message* request) {
  const pb::Descriptor& type = *request->GetDescriptor();
  std::set<const pb::FieldDescriptor*> seen;
  for (absl::string_view pair : absl::StrSplit(query_string, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    std::optional<std::string> key = PercentDecode(kv.first, true);
    std::optional<std::string> value = PercentDecode(kv.second, true);
    if (!key || !value) {
      return absl::InvalidArgumentError(absl::StrCat(
          "query string: ", Shown(pair), " has a malformed percent-escape (expected %XX)"));
    }
    const std::string name = ParamName(*key);
    if (route.has_body) {
      return absl::InvalidArgumentError(absl::StrCat("query parameter ", name,
                                                     " is not accepted: ", Describe(route),
                                                     " takes its fields in the JSON body"));
    }
    const pb::FieldDescriptor* field = FindQueryField(type, *key);
    if (field == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("query parameter ", name, " is not a field of ", type.full_name()));
    }
    for (const auto& [bound, unused] : path_params) {
      if (bound == field->name()) {
        return absl::InvalidArgumentError(absl::StrCat("query parameter ", name,
                                                       " is bound by the path of ", Describe(route),
                                                       ": leave it out of the query string"));
      }
    }
    if (!seen.insert(field).second && !field->is_repeated()) {
      return absl::InvalidArgumentError(
          absl::StrCat("query parameter ", name, " is given more than once"));
    }
    if (absl::Status s = SetScalar(name, *field, *value, request); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status BindPath(const RestRoute& route, const PathParams& path_params, pb::Message* request) {
  const pb::Reflection& r = *request->GetReflection();
  for (const auto& [name, value] : path_params) {
    const pb::FieldDescriptor* field = request->GetDescriptor()->FindFieldByName(name);
    if (field == nullptr || field->is_repeated() ||
        field->type() != pb::FieldDescriptor::TYPE_STRING) {
      return absl::InternalError(absl::StrCat(Describe(route), " binds ", name,
                                              ", which is not a string field of ",
                                              request->GetDescriptor()->full_name()));
    }
    if (!IsUtf8(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("path parameter ", name, " is not valid UTF-8"));
    }
    // The body may repeat a path-bound field, but only with the same value.
    std::string in_body = r.GetString(*request, field);
    if (route.has_body && !in_body.empty() && in_body != value) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " in the path and ", field->json_name(), " in the body differ"));
    }
    r.SetString(request, field, value);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RestRouteTable> RestRouteTable::ForService(const pb::ServiceDescriptor& service) {
  RestRouteTable table;
  for (int i = 0; i < service.method_count(); ++i) {
    absl::StatusOr<RestRoute> route = ParseRoute(*service.method(i));
    if (!route.ok()) return route.status();
    for (const RestRoute& other : table.routes_) {
      if (Overlaps(*route, other)) {
        return RouteError(*route->method,
                          absl::StrCat(Describe(*route), " collides with ", Describe(other), " of ",
                                       other.method->full_name()));
      }
    }
    table.routes_.push_back(*std::move(route));
  }
  return table;
}

RestRouteTable::Match RestRouteTable::Find(absl::string_view http_method,
                                           absl::string_view path) const {
  Match match;
  std::optional<RequestPath> request_path = SplitRequestPath(path);
  if (!request_path) return match;
  std::vector<std::string> allowed;
  for (const RestRoute& route : routes_) {
    PathParams params;
    if (!Matches(route, *request_path, &params)) continue;
    if (route.http_method == http_method) {
      match.route = &route;
      match.path_params = std::move(params);
      return match;
    }
    allowed.push_back(route.http_method);
  }
  std::sort(allowed.begin(), allowed.end());
  allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
  match.allowed_methods = std::move(allowed);
  return match;
}

absl::Status BindRequest(const RestRoute& route, const PathParams& path_params,
                         absl::string_view query_string, absl::string_view body,
                         pb::Message* request) {
  if (route.method == nullptr ||
      route.method->input_type()->full_name() != request->GetDescriptor()->full_name()) {
    return absl::InternalError(absl::StrCat("BindRequest: ", request->GetDescriptor()->full_name(),
                                            " is not the request of ", Describe(route)));
  }
  request->Clear();
  if (route.has_body) {
    if (absl::Status s = ParseJsonBody(body, request); !s.ok()) return s;
  } else if (!body.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        Describe(route), " takes no request body: send the fields as query parameters"));
  }
  if (absl::Status s = BindQuery(route, path_params, query_string, request); !s.ok()) return s;
  return BindPath(route, path_params, request);
}

absl::StatusOr<std::string> ResponseJson(const pb::Message& message) {
  std::string json;
  json.reserve(1024);
  absl::Status ours = AppendProtoJson(message, &json);
  if (ours.ok()) return json;
  if (ours.code() != absl::StatusCode::kUnimplemented) {
    return absl::InternalError(absl::StrCat("response JSON of ",
                                            message.GetDescriptor()->full_name(), ": ",
                                            ours.message()));
  }
  // A type the fast printer leaves to protobuf (docs in proto_json_writer.h).
  pb::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = false;
  json.clear();
  pb::util::Status status = pb::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("response JSON of ", message.GetDescriptor()->full_name(), ": ",
                     absl::string_view(status.message().data(), status.message().size())));
  }
  return json;
}

}  // namespace tongban::edge
