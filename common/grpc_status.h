// The one place absl::Status becomes grpc::Status: at the RPC edge. Codes
// map one to one (both follow google.rpc.Code).
#pragma once

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace tongban {

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
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

inline absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace tongban
