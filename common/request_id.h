// Request ids: every public call gets one id, answered to the client
// (X-Request-Id header over REST, x-request-id initial metadata over gRPC)
// and written in the gateway's and the nodes' log lines for that call, so
// an app's support ticket leads to every line of its call.
//
// The id is the client's X-Request-Id when it is valid, else the trace-id of
// a valid W3C traceparent (what browser tracing SDKs send), else a new
// random one. The gateway passes it to nodes as `x-request-id` metadata;
// nodes believe it only when valid, so a hostile value never reaches a log
// line. ScopedRequestId (structured_log.h) puts it on the lines a thread
// writes while serving the call.
#pragma once

#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "grpcpp/support/string_ref.h"

namespace grpc {
class ClientContext;
}  // namespace grpc

namespace tongban {

// The gRPC metadata key (and, case aside, the HTTP header) of request ids.
inline constexpr char kRequestIdMetadata[] = "x-request-id";
inline constexpr char kTraceparentMetadata[] = "traceparent";
inline constexpr size_t kMaxRequestIdLength = 128;

// 1..128 characters of printable ASCII other than space, '"', '\\' and ','
// (a comma would mean two header values folded into one).
bool IsValidRequestId(absl::string_view id);

// The trace-id (32 lowercase hex) of a valid W3C traceparent: version "00",
// "00-<trace-id>-<parent-id>-<flags>", trace-id and parent-id lowercase hex
// and not all zeros, flags 2 hex digits. "" when it is not one.
std::string TraceIdOfTraceparent(absl::string_view traceparent);

// 32 lowercase hex digits of a random 128-bit value.
std::string NewRequestId();

// `x_request_id` when valid, else the trace-id of a valid `traceparent`,
// else NewRequestId(). Pass "" for an absent header.
std::string ChooseRequestId(absl::string_view x_request_id, absl::string_view traceparent);

using GrpcMetadata = std::multimap<grpc::string_ref, grpc::string_ref>;
// ChooseRequestId over a public call's client metadata (x-request-id, traceparent).
std::string ChooseRequestId(const GrpcMetadata& client_metadata);
// The valid x-request-id of an incoming call (from the gateway), or "" —
// never generated: a node's own lines without one are not part of a call.
std::string RequestIdOfCall(const GrpcMetadata& client_metadata);

// Adds the current thread's request id (CurrentRequestId(), structured_log.h)
// to an outgoing call as x-request-id metadata; nothing outside a scope.
void PropagateRequestId(grpc::ClientContext* ctx);

}  // namespace tongban
