// How a handler hands an absl::StatusOr answer to gRPC: finishing a callback
// call (FinishWith, for the store's or the gateway's completion), answering a
// raw callback call with bytes kept serialized (AnswerWithKeptBytes) or
// filling a synchronous handler's response (Answered).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "grpc_server_metrics.h"
#include "grpc_status.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/byte_buffer.h"
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

// A raw (ByteBuffer) callback method whose answers are kept serialized:
// parses `request` as a `Request` (INVALID_ARGUMENT naming `full_method` when
// it is not one), then `answer(req, &kept)` gives the status and, when OK,
// the serialized response, which is finished without re-encoding.
template <typename Request, typename AnswerFn>
grpc::ServerUnaryReactor* AnswerWithKeptBytes(grpc::CallbackServerContext* ctx,
                                              const grpc::ByteBuffer* request,
                                              grpc::ByteBuffer* response,
                                              const std::string& full_method, AnswerFn answer) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Request req;
  grpc::ByteBuffer bytes(*request);  // shares the slices; parsing consumes the copy
  if (!grpc::SerializationTraits<Request>::Deserialize(&bytes, &req).ok()) {
    reactor->Finish(UnparsedRequestStatus(full_method.c_str()));
    return reactor;
  }
  std::shared_ptr<const std::string> kept;
  grpc::Status status = answer(req, &kept);
  if (status.ok()) {
    grpc::Slice slice(*kept);
    *response = grpc::ByteBuffer(&slice, 1);
  }
  reactor->Finish(status);
  return reactor;
}

template <typename Answer>
grpc::Status Answered(absl::StatusOr<Answer> answer, Answer* resp) {
  if (!answer.ok()) return ToGrpcStatus(answer.status());
  *resp = *std::move(answer);
  return grpc::Status::OK;
}

}  // namespace tongban::node
