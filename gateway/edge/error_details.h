// The standard rich error model on the public API (google.rpc, as Google
// APIs, grpc-gateway and Envoy use it): a non-OK status becomes a
// google.rpc.Status with the same code and message and, when the status is
// about the request's content (INVALID_ARGUMENT, FAILED_PRECONDITION,
// OUT_OF_RANGE) and its message starts with the field at fault, a
// google.rpc.BadRequest naming that field. The public gRPC face sends it in
// the standard grpc-status-details-bin trailer (WithErrorDetails); the REST
// error body carries the same violations (as JSON field paths) and the
// ErrorInfo reason a node attached (ErrorBody.error_info).
//
//   grpc::Status s = api->Call(...);
//   return WithErrorDetails(s);   // gRPC: details attached
//   google::rpc::Status rich = RichStatus(s, FieldPathStyle::kJsonNames);  // REST
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/support/status.h"

namespace tongban::edge {

// How a field path is spelled: as in the .proto ("materials[0].content_sha256",
// what gRPC clients see) or as in proto3 JSON ("materials[0].contentSha256",
// what REST clients send).
enum class FieldPathStyle { kProtoNames, kJsonNames };

// The field a status is about, or "" when it names none or its code is not
// about the request's content. Services start messages with the field path
// ("materials[0].content_sha256 \"xyz\" is not ...", "item_code is required"),
// the REST binding with "query parameter pageSize: ..." / "path parameter
// ...". A plain first word counts only when it is a top-level field of a
// CitizenService request ("applicant is required"), so English ("token
// expired", "refused: ...") is never taken for a field: a missed field only
// leaves the violations empty, a wrong one would make an app highlight a
// field that does not exist.
std::string FieldAtFault(const grpc::Status& status, FieldPathStyle style);

// google.rpc.Status of `status`: code, message (invalid UTF-8 replaced by
// U+FFFD), the details `status` already carries (its error_details parsed
// as a google.rpc.Status: e.g. the node's google.rpc.ErrorInfo reason, kept
// as sent) and, when none of them is a BadRequest and FieldAtFault names a
// field, one google.rpc.BadRequest (packed in an Any) with that field and
// the message as its description. An OK status gives code 0 and nothing else.
google::rpc::Status RichStatus(const grpc::Status& status, FieldPathStyle style);

// `status` with RichStatus(status, kProtoNames) serialized as its binary
// details (grpc-status-details-bin): the details it already carries (a
// node's ErrorInfo) are kept, a BadRequest is added when a field is at
// fault. OK, and details that are not a google.rpc.Status, are returned
// unchanged.
grpc::Status WithErrorDetails(const grpc::Status& status);

// proto field path → JSON field path, segment by segment as protoc derives
// json_name (underscores dropped, the next character upper-cased).
std::string JsonFieldPath(absl::string_view proto_path);

// `s` with every invalid UTF-8 sequence replaced by U+FFFD (status messages
// quote client input; proto3 strings and JSON must be UTF-8).
std::string ValidUtf8(absl::string_view s);

}  // namespace tongban::edge
