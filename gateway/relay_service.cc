#include "relay_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "application_id.h"
#include "caller_identity.h"
#include "forwarded_call.h"
#include "grpc_status.h"
#include "input_validation.h"
#include "wire_route_key.h"

namespace tongban::gateway {
namespace {

constexpr char kFederation[] = "tongban.v1.FederationService";

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
  absl::StatusOr<std::string> bytes = FlattenByteBuffer(*request);
  if (!bytes.ok()) return refuse(bytes.status());
  absl::StatusOr<std::string> target = route(who->province, *bytes);
  if (!target.ok()) return refuse(target.status());

  ForwardTarget forward{*target, kFederation, method,
                        std::min(absl::FromChrono(ctx->deadline()) - budget_,
                                 absl::Now() + absl::Seconds(30)),
                        {{kOriginMetadata, who->province}}};
  ForwardUnary(caller_, ctx, std::move(forward), request, response,
               [reactor](grpc::Status s) { reactor->Finish(s); });
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

absl::StatusOr<std::string> RelayServiceImpl::IssuingProvince(const std::string& origin,
                                                              const std::string& bytes) {
  absl::StatusOr<std::string> province = ReadStringField(bytes, {1});
  if (!province.ok()) return province.status();
  absl::Status valid = ValidateProvinceCode("issuing_province", *province);
  if (!valid.ok()) return valid;
  if (*province == origin) {
    return absl::InvalidArgumentError(absl::StrCat(
        "issuing_province ", *province,
        " is the asking province: its node answers its own applicants without the gateway"));
  }
  return *province;
}

grpc::ServerUnaryReactor* RelayServiceImpl::CheckLicence(grpc::CallbackServerContext* ctx,
                                                         const grpc::ByteBuffer* request,
                                                         grpc::ByteBuffer* response) {
  return Relay(ctx, "CheckLicence", request, response, &IssuingProvince);
}

grpc::ServerUnaryReactor* RelayServiceImpl::FetchLicencePreview(grpc::CallbackServerContext* ctx,
                                                                const grpc::ByteBuffer* request,
                                                                grpc::ByteBuffer* response) {
  return Relay(ctx, "FetchLicencePreview", request, response, &IssuingProvince);
}

grpc::ServerUnaryReactor* RelayServiceImpl::ReleaseLicence(grpc::CallbackServerContext* ctx,
                                                           const grpc::ByteBuffer* request,
                                                           grpc::ByteBuffer* response) {
  return Relay(ctx, "ReleaseLicence", request, response, &IssuingProvince);
}

}  // namespace tongban::gateway
