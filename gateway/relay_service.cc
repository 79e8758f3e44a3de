#include "relay_service.h"

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "application_id.h"
#include "caller_identity.h"
#include "grpc_server_metrics.h"
#include "grpc_status.h"
#include "grpcpp/generic/generic_stub.h"
#include "input_validation.h"
#include "request_id.h"
#include "wire_route_key.h"

namespace tongban::gateway {
namespace {

constexpr char kFederation[] = "tongban.v1.FederationService";
constexpr char kOriginMetadata[] = "x-tongban-origin-province";

// The request's bytes in one piece: gRPC hands over a message as slices.
absl::StatusOr<std::string> Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) {
    return absl::InvalidArgumentError("the request could not be read");
  }
  std::string bytes;
  bytes.reserve(buffer.Length());
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return bytes;
}

// One relayed call in flight: what must live until the target answers.
struct RelayCall {
  std::shared_ptr<const NodeStubs> stubs;  // keeps the channel alive
  std::unique_ptr<grpc::ClientContext> client;
  grpc::GenericStub* generic = nullptr;
  std::string province;
  const char* method = nullptr;
  absl::Time started;
};

}  // namespace

RelayServiceImpl::RelayServiceImpl(NodeCaller caller, absl::Duration budget)
    : caller_(caller), budget_(budget) {}

grpc::ServerUnaryReactor* RelayServiceImpl::Relay(grpc::CallbackServerContext* ctx,
                                                  const char* method,
                                                  const grpc::ByteBuffer* request,
                                                  grpc::ByteBuffer* response, const Route& route) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const auto refuse = [reactor](const absl::Status& s) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  };
  absl::StatusOr<Principal> who =
      VerifiedCaller(*ctx, CallerKinds::kNodesOnly, absl::StrCat("/", kFederation, "/", method));
  if (!who.ok()) return refuse(who.status());
  absl::StatusOr<std::string> bytes = Flatten(*request);
  if (!bytes.ok()) return refuse(bytes.status());
  absl::StatusOr<std::string> target = route(who->province, *bytes);
  if (!target.ok()) return refuse(target.status());

  const absl::Time deadline =
      std::min(absl::FromChrono(ctx->deadline()) - budget_, absl::Now() + absl::Seconds(30));
  if (deadline <= absl::Now()) {
    return refuse(
        absl::DeadlineExceededError("the caller's deadline leaves no time to relay the call"));
  }
  absl::Status admitted = caller_.pool->Admit(*target);
  std::shared_ptr<const NodeStubs> stubs = caller_.pool->Get(*target);
  if (!admitted.ok() || stubs == nullptr) {
    // UNAVAILABLE also for "no node in the directory": a routing gap is not
    // an answer from the province; the calling node retries.
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 absl::StrCat("province ", *target, ": ", admitted.message())));
    return reactor;
  }

  auto call = std::make_shared<RelayCall>();
  call->stubs = stubs;
  // Cancellation of the calling node's call reaches the target's.
  call->client = grpc::ClientContext::FromCallbackServerContext(*ctx);
  call->client->set_deadline(absl::ToChronoTime(deadline));
  call->client->AddMetadata(kOriginMetadata, who->province);
  if (std::string id = RequestIdOfCall(ctx->client_metadata()); !id.empty()) {
    call->client->AddMetadata("x-request-id", id);
  }
  call->generic = stubs->generic.get();
  call->province = *target;
  call->method = method;
  call->started = absl::Now();
  caller_.metrics->ClientStarted(kFederation, method, *target);
  NodeCaller caller = caller_;
  call->generic->UnaryCall(
      call->client.get(), absl::StrCat("/", kFederation, "/", method), grpc::StubOptions(), request,
      response, [call, caller, reactor](grpc::Status s) {
        caller.metrics->ClientHandled(kFederation, call->method, call->province,
                                      GrpcCodeName(s.error_code()),
                                      absl::ToDoubleSeconds(absl::Now() - call->started));
        caller.pool->Report(call->province, s.error_code(), s.error_message());
        reactor->Finish(s);
      });
  return reactor;
}

grpc::ServerUnaryReactor* RelayServiceImpl::DeliverApplication(grpc::CallbackServerContext* ctx,
                                                               const grpc::ByteBuffer* request,
                                                               grpc::ByteBuffer* response) {
  return Relay(ctx, "DeliverApplication", request, response,
               [](const std::string&, const std::string& bytes) -> absl::StatusOr<std::string> {
                 absl::StatusOr<std::string> id = ReadStringField(bytes, {1, 1});
                 if (!id.ok()) return id.status();
                 absl::StatusOr<ApplicationIdParts> parts =
                     ParseApplicationId(*id, "application.application_id");
                 if (!parts.ok()) return parts.status();
                 return parts->handling_province;
               });
}

grpc::ServerUnaryReactor* RelayServiceImpl::DeliverEvent(grpc::CallbackServerContext* ctx,
                                                         const grpc::ByteBuffer* request,
                                                         grpc::ByteBuffer* response) {
  return Relay(
      ctx, "DeliverEvent", request, response,
      [](const std::string& origin, const std::string& bytes) -> absl::StatusOr<std::string> {
        absl::StatusOr<std::string> id = ReadStringField(bytes, {1});
        if (!id.ok()) return id.status();
        absl::StatusOr<ApplicationIdParts> parts = ParseApplicationId(*id);
        if (!parts.ok()) return parts.status();
        if (origin != parts->accepting_province && origin != parts->handling_province) {
          return absl::PermissionDeniedError(
              absl::StrCat("rule party-provinces-only: province ", origin,
                           " is neither the accepting nor the handling province of ", *id));
        }
        return origin == parts->accepting_province ? parts->handling_province
                                                   : parts->accepting_province;
      });
}

grpc::ServerUnaryReactor* RelayServiceImpl::FetchGuide(grpc::CallbackServerContext* ctx,
                                                       const grpc::ByteBuffer* request,
                                                       grpc::ByteBuffer* response) {
  return Relay(ctx, "FetchGuide", request, response,
               [](const std::string&, const std::string& bytes) -> absl::StatusOr<std::string> {
                 absl::StatusOr<std::string> province = ReadStringField(bytes, {1});
                 if (!province.ok()) return province.status();
                 absl::Status valid = ValidateProvinceCode("province_code", *province);
                 if (!valid.ok()) return valid;
                 return *province;
               });
}

}  // namespace tongban::gateway
