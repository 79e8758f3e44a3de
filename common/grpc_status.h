// The one place absl::Status becomes grpc::Status: at the RPC edge. Codes
// map one to one (both follow google.rpc.Code).
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/support/status.h"

namespace tongban {

// A machine-readable reason an app can branch on (e.g. LICENCE_REVOKED), sent
// as the standard google.rpc.ErrorInfo{reason, domain: "tongban.v1"} in the
// status details (grpc-status-details-bin). It rides on an absl::Status as a
// payload, so it survives every hop: a node relaying another node's answer
// keeps it (FromGrpcStatus reads it back).
inline constexpr char kErrorInfoTypeUrl[] = "type.googleapis.com/google.rpc.ErrorInfo";
inline constexpr char kErrorDomain[] = "tongban.v1";

inline absl::Status WithReason(absl::Status status, absl::string_view reason) {
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(kErrorDomain);
  status.SetPayload(kErrorInfoTypeUrl, absl::Cord(info.SerializeAsString()));
  return status;
}

// The status's reason, or "" when it has none.
inline std::string ReasonOf(const absl::Status& status) {
  auto payload = status.GetPayload(kErrorInfoTypeUrl);
  if (!payload.has_value()) return "";
  google::rpc::ErrorInfo info;
  if (!info.ParseFromString(std::string(*payload))) return "";
  return info.reason();
}

// INTERNAL, UNKNOWN and DATA_LOSS carry our internals (SQL, file paths):
// callers get a generic message, the details go to the process's log.
inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  if (status.code() == absl::StatusCode::kInternal || status.code() == absl::StatusCode::kUnknown ||
      status.code() == absl::StatusCode::kDataLoss) {
    std::string detail(status.message());
    std::fprintf(stderr, "level=error event=rpc.internal_error code=%d detail=\"%s\"\n",
                 static_cast<int>(status.code()), detail.c_str());
    return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                        "internal error in the node; the operator's log has the details");
  }
  auto info = status.GetPayload(kErrorInfoTypeUrl);
  if (!info.has_value()) {
    return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                        std::string(status.message()));
  }
  google::rpc::Status rich;
  rich.set_code(static_cast<int>(status.code()));
  rich.set_message(std::string(status.message()));
  google::protobuf::Any* any = rich.add_details();
  any->set_type_url(kErrorInfoTypeUrl);
  any->set_value(std::string(*info));
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()),
                      rich.SerializeAsString());
}

inline absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  google::rpc::Status rich;
  if (!status.error_details().empty() && rich.ParseFromString(status.error_details())) {
    for (const google::protobuf::Any& any : rich.details()) {
      if (any.type_url() == kErrorInfoTypeUrl) {
        out.SetPayload(kErrorInfoTypeUrl, absl::Cord(any.value()));
        break;
      }
    }
  }
  return out;
}

}  // namespace tongban
