// How a handler hands an absl::StatusOr answer to gRPC: finishing a callback
// call (FinishWith, for the store's or the gateway's completion) or filling a
// synchronous handler's response (Answered).
#pragma once

#include <functional>
#include <utility>

#include "absl/status/statusor.h"
#include "grpc_status.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"

namespace tongban::node {

// A completion that finishes `reactor`'s call with the answer, written to
// `resp` (the call's response, which lives until the call is done).
template <typename Answer>
std::function<void(absl::StatusOr<Answer>)> FinishWith(grpc::ServerUnaryReactor* reactor,
                                                       Answer* resp) {
  return [reactor, resp](absl::StatusOr<Answer> answer) {
    if (!answer.ok()) {
      reactor->Finish(ToGrpcStatus(answer.status()));
      return;
    }
    *resp = *std::move(answer);
    reactor->Finish(grpc::Status::OK);
  };
}

// A callback call refused before any work: finished at once.
inline grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* ctx,
                                        const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

template <typename Answer>
grpc::Status Answered(absl::StatusOr<Answer> answer, Answer* resp) {
  if (!answer.ok()) return ToGrpcStatus(answer.status());
  *resp = *std::move(answer);
  return grpc::Status::OK;
}

}  // namespace tongban::node
