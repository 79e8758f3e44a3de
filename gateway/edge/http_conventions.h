// HTTP conventions of the public REST edge, independent of the HTTP library:
// gRPC status → HTTP status (the standard google.rpc mapping), the JSON
// error body {code, message, details}, CORS headers, gzip, Retry-After.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"
#include "tongban/v1/citizen.pb.h"

namespace tongban::edge {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// OK 200, INVALID_ARGUMENT/FAILED_PRECONDITION/OUT_OF_RANGE 400,
// UNAUTHENTICATED 401, PERMISSION_DENIED 403, NOT_FOUND 404,
// ALREADY_EXISTS/ABORTED 409, RESOURCE_EXHAUSTED 429, CANCELLED 499,
// UNIMPLEMENTED 501, UNAVAILABLE 503, DEADLINE_EXCEEDED 504, others 500.
int HttpStatusForGrpc(grpc::StatusCode code);
// "Not Found", ...; "Unknown" for codes without a phrase.
const char* HttpReasonPhrase(int http_status);

// code = the status name ("NOT_FOUND"); message = the status message;
// details = the field the message names first (for INVALID_ARGUMENT,
// FAILED_PRECONDITION, OUT_OF_RANGE), as its JSON path in lowerCamelCase
// ("materials[0].contentSha256"), with the message as its description.
v1::ErrorBody MakeErrorBody(const grpc::Status& status);
// The body above as proto3 JSON.
std::string ErrorBodyJson(const grpc::Status& status);

// The request headers a browser app may send cross-origin when the config
// names none: Authorization, Content-Type, Accept, Accept-Language,
// Content-Encoding, and what tracing SDKs and HTTP idempotency conventions
// add: traceparent, tracestate (W3C Trace Context), X-Request-Id,
// Idempotency-Key.
const std::vector<std::string>& DefaultCorsAllowedHeaders();
// The response headers scripts may read besides the CORS-safelisted ones:
// Retry-After (back off after 429/503), WWW-Authenticate (why a token was
// refused), X-Request-Id (to quote to support).
const std::vector<std::string>& CorsExposedHeaders();

struct CorsPolicy {
  std::vector<std::string> allowed_origins;  // exact origins, or "*" for any
  // Request headers allowed in preflights (compared case-insensitively).
  std::vector<std::string> allowed_headers = DefaultCorsAllowedHeaders();
};

// Headers for an actual (non-preflight) response to a request carrying
// `origin`; empty when there is no Origin or it is not allowed.
HttpHeaders CorsResponseHeaders(const CorsPolicy& policy, absl::string_view origin);

// The answer to a preflight (OPTIONS with Access-Control-Request-Method).
struct CorsDecision {
  enum class Refused { kNone, kOrigin, kMethod, kHeader };
  Refused refused = Refused::kNone;
  // Allowed: the preflight's headers (answer 204 with them).
  HttpHeaders headers;
  // Refused: what was refused and what is allowed, naming the origin, the
  // method or the first header refused ("CORS preflight refused: request
  // header \"x-custom\" is not allowed; allowed: ..."). Client values are
  // quoted printable and shortened, so the message is safe in a log line.
  std::string message;
  bool allowed() const { return refused == Refused::kNone; }
};
// `origin` the Origin header, `request_method` Access-Control-Request-Method
// ("" = absent: refused as kMethod), `request_headers` Access-Control-Request-
// Headers (comma-separated, "" = none).
CorsDecision CorsPreflight(const CorsPolicy& policy, absl::string_view origin,
                           absl::string_view request_method, absl::string_view request_headers);
// CorsPreflight's headers; empty when refused (kept for existing callers).
HttpHeaders CorsPreflightHeaders(const CorsPolicy& policy, absl::string_view origin,
                                 absl::string_view request_method,
                                 absl::string_view request_headers);

// OK, or INVALID_ARGUMENT naming `key` and the entry: origins are "*" or a
// serialized origin (scheme "://" host [":" port], no path, no trailing
// "/"); headers are HTTP field names (RFC 9110 tokens), "*" refused (it
// would not cover Authorization in browsers).
absl::Status ValidateCorsOrigins(absl::string_view key, const std::vector<std::string>& origins);
absl::Status ValidateCorsHeaders(absl::string_view key, const std::vector<std::string>& headers);

// True when Accept-Encoding lists gzip (or *) with a non-zero q-value.
bool AcceptsGzip(absl::string_view accept_encoding);
absl::StatusOr<std::string> Gzip(absl::string_view data);

// Whole seconds, rounded up, at least "1".
std::string RetryAfterSeconds(absl::Duration wait);

}  // namespace tongban::edge
