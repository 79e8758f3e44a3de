// One unary call forwarded to a province's node as bytes (grpc::ByteBuffer),
// on gRPC's callback API: no thread waits while the node works, the request's
// bytes go out as given and the node's answer comes back as it sent it
// (issue #14). The gateway's rules for node calls apply as in CallNode
// (node_call.h): an ejected or unknown province answers UNAVAILABLE at once,
// the call has a deadline, its outcome feeds outlier detection and the client
// metrics. The serving call's cancellation reaches the node's call
// (ClientContext::FromCallbackServerContext), and its request id goes along.
//
// Used by the relay (relay_service.h) and the routed reads (query_service.h).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "node_call.h"

namespace tongban::gateway {

// The province the gateway verified a call to come from, stamped on the
// node's call (relayed federation calls, a citizen's routed reads); nodes
// trust it only from the gateway's certificate.
inline constexpr char kOriginMetadata[] = "x-tongban-origin-province";

struct ForwardTarget {
  std::string province;
  const char* service;  // "tongban.v1.CatalogService", for metrics and the path
  const char* method;   // "GetGuide"
  absl::Time deadline;
  // Extra metadata on the node's call, e.g. the verified origin province.
  std::vector<std::pair<std::string, std::string>> metadata;
};

// Calls `target` with `request` and writes the node's answer to `response`;
// `done` runs once, with the node's status (or the gateway's UNAVAILABLE /
// DEADLINE_EXCEEDED when the call could not be made), on a gRPC thread or
// on this one. `request` and `response` must stay valid until `done` runs
// (a callback method's own request and response do, until Finish).
void ForwardUnary(const NodeCaller& caller, grpc::CallbackServerContext* serving,
                  ForwardTarget target, const grpc::ByteBuffer* request,
                  grpc::ByteBuffer* response, std::function<void(grpc::Status)> done);

// The message's bytes in one string: gRPC hands a message over as slices.
// INVALID_ARGUMENT when the buffer cannot be read.
absl::StatusOr<std::string> FlattenByteBuffer(const grpc::ByteBuffer& buffer);

// `buffer` followed by `field` as a length-delimited protobuf field (a
// string) — appending a field to a serialized message is what merging the
// message with one holding that field does, so an answer can gain a field
// without being parsed (e.g. GetRoutedApplicationResponse.answered_by).
// The existing slices are shared, not copied.
grpc::ByteBuffer AppendStringField(const grpc::ByteBuffer& buffer, int field_number,
                                   const std::string& value);

}  // namespace tongban::gateway
