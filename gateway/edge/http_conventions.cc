#include "http_conventions.h"

#include <zlib.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "error_details.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/error_details.pb.h"

namespace tongban::edge {
namespace {

// google.rpc.Code names, as grpc-gateway and Google APIs put them in error
// bodies. (GrpcCodeName in common/grpc_call_series.h spells them the Go
// way, "NotFound", and lives in the library that pulls in prometheus-cpp.)
const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      // A status from a peer may carry any integer; it is not a code we know.
      return "UNKNOWN";
  }
}

bool IsOws(char c) { return c == ' ' || c == '\t'; }

absl::string_view TrimOws(absl::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}

bool OriginAllowed(const CorsPolicy& policy, absl::string_view origin, bool* any) {
  *any = false;
  if (origin.empty()) return false;
  for (const std::string& allowed : policy.allowed_origins) {
    if (allowed == "*") {
      *any = true;
      return true;
    }
  }
  // Exact, case-sensitive: browsers send the serialized origin, and CORS
  // compares Access-Control-Allow-Origin with it byte for byte.
  return std::find(policy.allowed_origins.begin(), policy.allowed_origins.end(), origin) !=
         policy.allowed_origins.end();
}

constexpr char kAllowedMethods[] = "GET, POST";

// RFC 9110 §5.6.2 tchar.
bool IsTchar(char c) {
  return absl::ascii_isalnum(c) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

bool IsToken(absl::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), IsTchar); }

// A client's value quoted for a message: printable ASCII kept, anything else
// as '?', at most 64 characters (then "...").
std::string Quoted(absl::string_view value) {
  constexpr size_t kMax = 64;
  std::string out = "\"";
  for (size_t i = 0; i < value.size() && i < kMax; ++i) {
    char c = value[i];
    out.push_back(c >= 0x20 && c < 0x7F && c != '"' && c != '\\' ? c : '?');
  }
  if (value.size() > kMax) out.append("...");
  out.push_back('"');
  return out;
}

// An HTTP qvalue (RFC 9110 §12.4.2: "0", "0.5", "1.000"), or -1 when malformed.
double ParseQValue(absl::string_view v) {
  if (v.empty() || v.size() > 5 || (v[0] != '0' && v[0] != '1')) return -1;
  if (v.size() > 1 && v[1] != '.') return -1;
  for (size_t i = 2; i < v.size(); ++i) {
    if (!absl::ascii_isdigit(v[i]) || (v[0] == '1' && v[i] != '0')) return -1;
  }
  double q = 0;
  if (!absl::SimpleAtod(v, &q)) return -1;
  return q;
}

constexpr size_t kZlibChunk = 64 * 1024;

}  // namespace

int HttpStatusForGrpc(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::CANCELLED:
      return 499;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    default:  // UNKNOWN, INTERNAL, DATA_LOSS and codes outside 0..16
      return 500;
  }
}

const char* HttpReasonPhrase(int http_status) {
  switch (http_status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";  // RFC 9110; "Payload Too Large" before
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 499:
      return "Client Closed Request";  // nginx's, used by grpc-gateway for CANCELLED
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

v1::ErrorBody MakeErrorBody(const grpc::Status& status) {
  // The same content as the public gRPC face's grpc-status-details-bin
  // (error_details.h), with JSON field paths.
  v1::ErrorBody body;
  body.set_code(CodeName(status.error_code()));
  google::rpc::Status rich = RichStatus(status, FieldPathStyle::kJsonNames);
  body.set_message(ValidUtf8(status.error_message()));
  for (const google::protobuf::Any& any : rich.details()) {
    google::rpc::ErrorInfo info;
    if (any.Is<google::rpc::ErrorInfo>() && any.UnpackTo(&info)) {
      if (!body.has_error_info()) {
        body.mutable_error_info()->set_reason(ValidUtf8(info.reason()));
        body.mutable_error_info()->set_domain(ValidUtf8(info.domain()));
      }
      continue;
    }
    google::rpc::BadRequest bad;
    if (!any.UnpackTo(&bad)) continue;
    for (const auto& v : bad.field_violations()) {
      v1::FieldViolation* out = body.add_details();
      out->set_field(v.field());
      out->set_description(v.description());
    }
  }
  return body;
}

std::string ErrorBodyJson(const grpc::Status& status) {
  v1::ErrorBody body = MakeErrorBody(status);
  google::protobuf::util::JsonPrintOptions options;
  // Clients get every key, "details": [] included, without checking for absence.
  options.always_print_primitive_fields = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(body, &json, options).ok()) {
    // Cannot happen with valid UTF-8; still answer a body of the same shape.
    body.clear_message();
    body.clear_details();
    json.clear();
    (void)google::protobuf::util::MessageToJsonString(body, &json, options);
  }
  return json;
}

const std::vector<std::string>& DefaultCorsAllowedHeaders() {
  static const auto* const headers = new std::vector<std::string>{
      "Authorization", "Content-Type", "Accept",       "Accept-Language", "Content-Encoding",
      "traceparent",   "tracestate",   "X-Request-Id", "Idempotency-Key"};
  return *headers;
}

const std::vector<std::string>& CorsExposedHeaders() {
  static const auto* const headers =
      new std::vector<std::string>{"Retry-After", "WWW-Authenticate", "X-Request-Id"};
  return *headers;
}

HttpHeaders CorsResponseHeaders(const CorsPolicy& policy, absl::string_view origin) {
  bool any = false;
  if (!OriginAllowed(policy, origin, &any)) return {};
  HttpHeaders headers;
  headers.emplace_back("Access-Control-Allow-Origin", any ? "*" : std::string(origin));
  // Scripts may read only safelisted response headers unless told: apps need
  // Retry-After to back off after 429 and 503, WWW-Authenticate to see why a
  // token was refused, X-Request-Id to quote to support.
  headers.emplace_back("Access-Control-Expose-Headers", absl::StrJoin(CorsExposedHeaders(), ", "));
  if (!any) headers.emplace_back("Vary", "Origin");
  // No Access-Control-Allow-Credentials: apps send bearer tokens, not
  // cookies, so a page of another site can never ride on a citizen's session.
  return headers;
}

CorsDecision CorsPreflight(const CorsPolicy& policy, absl::string_view origin,
                           absl::string_view request_method, absl::string_view request_headers) {
  CorsDecision d;
  auto refuse = [&d](CorsDecision::Refused what, std::string message) {
    d.refused = what;
    d.message = absl::StrCat("CORS preflight refused: ", message);
    return d;
  };
  bool any = false;
  if (!OriginAllowed(policy, origin, &any)) {
    if (origin.empty())
      return refuse(CorsDecision::Refused::kOrigin, "the Origin header is missing");
    return refuse(CorsDecision::Refused::kOrigin,
                  absl::StrCat("origin ", Quoted(origin),
                               " is not allowed (public_edge.cors_allowed_origins)"));
  }
  // Methods are case-sensitive; browsers upper-case the standard ones.
  if (request_method.empty()) {
    return refuse(CorsDecision::Refused::kMethod,
                  "Access-Control-Request-Method is missing (not a preflight)");
  }
  if (request_method != "GET" && request_method != "POST") {
    return refuse(CorsDecision::Refused::kMethod,
                  absl::StrCat("method ", Quoted(request_method),
                               " is not allowed; allowed: ", kAllowedMethods));
  }
  for (absl::string_view name : absl::StrSplit(request_headers, ',')) {
    name = TrimOws(name);
    if (name.empty()) continue;  // "a, ,b" and an absent list
    bool known = false;
    for (const std::string& allowed : policy.allowed_headers) {
      known |= absl::EqualsIgnoreCase(name, allowed);
    }
    if (!known) {
      return refuse(CorsDecision::Refused::kHeader,
                    absl::StrCat("request header ", Quoted(name), " is not allowed; allowed: ",
                                 absl::StrJoin(policy.allowed_headers, ", "),
                                 " (public_edge.cors_allowed_headers)"));
    }
  }
  d.headers.emplace_back("Access-Control-Allow-Origin", any ? "*" : std::string(origin));
  d.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
  d.headers.emplace_back("Access-Control-Allow-Headers",
                         absl::StrJoin(policy.allowed_headers, ", "));
  d.headers.emplace_back("Access-Control-Max-Age", "600");
  d.headers.emplace_back("Vary", "Origin");
  return d;
}

HttpHeaders CorsPreflightHeaders(const CorsPolicy& policy, absl::string_view origin,
                                 absl::string_view request_method,
                                 absl::string_view request_headers) {
  return CorsPreflight(policy, origin, request_method, request_headers).headers;
}

absl::Status ValidateCorsOrigins(absl::string_view key, const std::vector<std::string>& origins) {
  for (size_t i = 0; i < origins.size(); ++i) {
    absl::string_view o = origins[i];
    if (o == "*") continue;
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(key, "[", i, "] ", Quoted(o), " ", why,
                                                     ": write an origin as a browser sends it, "
                                                     "e.g. \"https://app.example.cn\", or \"*\""));
    };
    absl::string_view rest = o;
    if (!absl::ConsumePrefix(&rest, "https://") && !absl::ConsumePrefix(&rest, "http://")) {
      return bad("does not start with https:// or http:// (lower case)");
    }
    absl::string_view host = rest;
    absl::string_view port;
    if (absl::StartsWith(rest, "[")) {  // IPv6 literal
      size_t close = rest.find(']');
      if (close == absl::string_view::npos) return bad("has an unclosed [");
      host = rest.substr(0, close + 1);
      rest.remove_prefix(close + 1);
      if (!rest.empty()) {
        if (!absl::ConsumePrefix(&rest, ":")) return bad("has a path or text after the host");
        if (rest.empty()) return bad("has an empty port");
        port = rest;
      }
      for (char c : host.substr(1, host.size() - 2)) {
        if (!absl::ascii_isxdigit(c) && c != ':' && c != '.') return bad("is not an IPv6 literal");
        if (absl::ascii_isupper(c)) return bad("is not lower case");
      }
    } else {
      size_t colon = rest.find(':');
      if (colon != absl::string_view::npos) {
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
        if (port.empty()) return bad("has an empty port");
      }
      if (host.empty()) return bad("has no host");
      for (char c : host) {
        if (absl::ascii_isupper(c))
          return bad("is not lower case (browsers send hosts in lower case)");
        if (c == '/') return bad("has a path or a trailing /");
        if (!absl::ascii_isalnum(c) && c != '-' && c != '.') return bad("has an invalid host");
      }
    }
    if (!port.empty()) {
      int n = 0;
      if (port.size() > 5 ||
          !std::all_of(port.begin(), port.end(), [](char c) { return absl::ascii_isdigit(c); }) ||
          !absl::SimpleAtoi(port, &n) || n < 1 || n > 65535) {
        return bad(absl::StrContains(port, '/') ? "has a path or a trailing /"
                                                : "has an invalid port");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateCorsHeaders(absl::string_view key, const std::vector<std::string>& headers) {
  for (size_t i = 0; i < headers.size(); ++i) {
    if (headers[i] == "*") {
      return absl::InvalidArgumentError(
          absl::StrCat(key, "[", i,
                       "] is \"*\": list the header names (a wildcard does not "
                       "cover Authorization in browsers)"));
    }
    if (!IsToken(headers[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, "[", i, "] ", Quoted(headers[i]), " is not an HTTP header name"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (absl::EqualsIgnoreCase(headers[i], headers[j])) {
        return absl::InvalidArgumentError(
            absl::StrCat(key, "[", i, "] ", Quoted(headers[i]), " is listed twice"));
      }
    }
  }
  return absl::OkStatus();
}

bool AcceptsGzip(absl::string_view accept_encoding) {
  // RFC 9110 §12.5.3: an explicit gzip (or its alias x-gzip) decides; else "*"
  // decides; else gzip is not acceptable. q=0 means "not acceptable".
  double gzip_q = -1;
  double star_q = -1;
  for (absl::string_view element : absl::StrSplit(accept_encoding, ',')) {
    std::vector<absl::string_view> parts = absl::StrSplit(element, ';');
    absl::string_view coding = TrimOws(parts[0]);
    double q = 1;
    for (size_t i = 1; i < parts.size(); ++i) {
      absl::string_view param = TrimOws(parts[i]);
      size_t eq = param.find('=');
      if (eq == absl::string_view::npos) continue;
      if (!absl::EqualsIgnoreCase(TrimOws(param.substr(0, eq)), "q")) continue;
      q = ParseQValue(TrimOws(param.substr(eq + 1)));
    }
    if (q < 0) continue;  // a malformed q-value: ignore the element, do not guess
    if (absl::EqualsIgnoreCase(coding, "gzip") || absl::EqualsIgnoreCase(coding, "x-gzip")) {
      gzip_q = std::max(gzip_q, q);
    } else if (coding == "*") {
      star_q = std::max(star_q, q);
    }
  }
  if (gzip_q >= 0) return gzip_q > 0;
  return star_q > 0;
}

namespace {

// deflateInit2 allocates and clears ~268 KB of state (window 32 KB x 2,
// hash chains, pending buffer): more than compressing a 1-2 KB answer costs.
// Streams are kept here and reused with deflateReset; a few suffice, since
// only as many answers are compressed at once as there are cores busy.
class DeflateStreams {
 public:
  ~DeflateStreams() {
    for (z_stream* zs : idle_) {
      deflateEnd(zs);
      delete zs;
    }
  }
  // A stream ready for a new gzip member, or null if zlib cannot start one.
  z_stream* Take() {
    {
      absl::MutexLock lock(&mu_);
      if (!idle_.empty()) {
        z_stream* zs = idle_.back();
        idle_.pop_back();
        return zs;
      }
    }
    auto* zs = new z_stream{};
    // windowBits 15 + 16: gzip wrapper (RFC 1952), as Content-Encoding: gzip means.
    if (deflateInit2(zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
      delete zs;
      return nullptr;
    }
    return zs;
  }
  void Give(z_stream* zs) {
    if (deflateReset(zs) == Z_OK) {
      absl::MutexLock lock(&mu_);
      if (idle_.size() < kKeep) {
        idle_.push_back(zs);
        return;
      }
    }
    deflateEnd(zs);
    delete zs;
  }

 private:
  static constexpr size_t kKeep = 8;
  absl::Mutex mu_;
  std::vector<z_stream*> idle_;  // guarded by mu_
};

DeflateStreams& Streams() {
  static auto* streams = new DeflateStreams();  // lives as long as the process
  return *streams;
}

}  // namespace

absl::StatusOr<std::string> Gzip(absl::string_view data) {
  z_stream* zs = Streams().Take();
  if (zs == nullptr) return absl::InternalError("gzip: zlib could not start a deflate stream");
  std::string out;
  size_t in_pos = 0;
  int rc = Z_OK;
  // Answers fit in one call (avail_in is 32-bit; bodies are far below), and
  // deflateBound sizes the output once instead of growing it by 64 KB.
  if (data.size() <= kZlibChunk) {
    out.resize(deflateBound(zs, static_cast<uLong>(data.size())));
    zs->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs->avail_in = static_cast<uInt>(data.size());
    zs->next_out = reinterpret_cast<Bytef*>(out.data());
    zs->avail_out = static_cast<uInt>(out.size());
    rc = deflate(zs, Z_FINISH);
    out.resize(out.size() - zs->avail_out);
    in_pos = data.size();
  }
  while (rc == Z_OK || rc == Z_BUF_ERROR) {
    // Larger input: feed at most kZlibChunk at a time.
    if (zs->avail_in == 0 && in_pos < data.size()) {
      size_t n = std::min(kZlibChunk, data.size() - in_pos);
      zs->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + in_pos));
      zs->avail_in = static_cast<uInt>(n);
      in_pos += n;
    }
    size_t old_size = out.size();
    out.resize(old_size + kZlibChunk);
    zs->next_out = reinterpret_cast<Bytef*>(&out[old_size]);
    zs->avail_out = static_cast<uInt>(kZlibChunk);
    rc = deflate(zs, in_pos == data.size() ? Z_FINISH : Z_NO_FLUSH);
    out.resize(old_size + kZlibChunk - zs->avail_out);
  }
  Streams().Give(zs);
  if (rc != Z_STREAM_END) {
    return absl::InternalError(absl::StrCat("gzip: deflate failed (zlib error ", rc, ")"));
  }
  return out;
}

std::string RetryAfterSeconds(absl::Duration wait) {
  // Rounded up: a client that waits the advertised time must not be early.
  int64_t seconds = absl::ToInt64Seconds(absl::Ceil(wait, absl::Seconds(1)));
  return absl::StrCat(std::max<int64_t>(seconds, 1));
}

}  // namespace tongban::edge
