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

struct CorsPolicy {
  std::vector<std::string> allowed_origins;  // exact origins, or "*" for any
};
// Headers for an actual (non-preflight) response to a request carrying
// `origin`; empty when there is no Origin or it is not allowed.
HttpHeaders CorsResponseHeaders(const CorsPolicy& policy, absl::string_view origin);
// Headers for a preflight (OPTIONS with Access-Control-Request-Method);
// empty when the origin, method or a requested header is not allowed.
HttpHeaders CorsPreflightHeaders(const CorsPolicy& policy, absl::string_view origin,
                                 absl::string_view request_method,
                                 absl::string_view request_headers);

// True when Accept-Encoding lists gzip (or *) with a non-zero q-value.
bool AcceptsGzip(absl::string_view accept_encoding);
absl::StatusOr<std::string> Gzip(absl::string_view data);

// Whole seconds, rounded up, at least "1".
std::string RetryAfterSeconds(absl::Duration wait);

}  // namespace tongban::edge
