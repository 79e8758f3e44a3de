#include "relay_service.h"

#include "absl/strings/str_cat.h"
#include "application_id.h"
#include "caller_identity.h"
#include "grpc_status.h"
#include "input_validation.h"

namespace tongban::gateway {
namespace {

constexpr char kFederation[] = "tongban.v1.FederationService";
constexpr char kOriginMetadata[] = "x-tongban-origin-province";

}  // namespace

RelayServiceImpl::RelayServiceImpl(NodeCaller caller, absl::Duration budget)
    : caller_(caller), budget_(budget) {}

absl::StatusOr<std::string> RelayServiceImpl::Origin(const grpc::ServerContext& ctx,
                                                     const char* method) const {
  absl::StatusOr<Principal> who = VerifiedCaller(
      ctx, CallerKinds::kNodesOnly, absl::StrCat("/tongban.v1.FederationService/", method));
  if (!who.ok()) return who.status();
  return who->province;
}

absl::StatusOr<absl::Time> RelayServiceImpl::Deadline(const grpc::ServerContext& ctx) const {
  absl::Time deadline =
      std::min(absl::FromChrono(ctx.deadline()) - budget_, absl::Now() + absl::Seconds(30));
  if (deadline <= absl::Now()) {
    return absl::DeadlineExceededError("the caller's deadline leaves no time to relay the call");
  }
  return deadline;
}

grpc::Status RelayServiceImpl::DeliverApplication(grpc::ServerContext* ctx,
                                                  const v1::DeliverApplicationRequest* req,
                                                  v1::DeliverApplicationResponse* resp) {
  absl::StatusOr<std::string> origin = Origin(*ctx, "DeliverApplication");
  if (!origin.ok()) return ToGrpcStatus(origin.status());
  absl::StatusOr<ApplicationIdParts> id =
      ParseApplicationId(req->application().application_id(), "application.application_id");
  if (!id.ok()) return ToGrpcStatus(id.status());
  absl::StatusOr<absl::Time> deadline = Deadline(*ctx);
  if (!deadline.ok()) return ToGrpcStatus(deadline.status());
  return CallNode(
      caller_, id->handling_province, kFederation, "DeliverApplication", *deadline,
      [&](const NodeStubs& stubs, grpc::ClientContext* c, v1::DeliverApplicationResponse* r) {
        return stubs.federation->DeliverApplication(c, *req, r);
      },
      resp, [&](grpc::ClientContext* c) { c->AddMetadata(kOriginMetadata, *origin); });
}

grpc::Status RelayServiceImpl::DeliverEvent(grpc::ServerContext* ctx,
                                            const v1::DeliverEventRequest* req,
                                            v1::DeliverEventResponse* resp) {
  absl::StatusOr<std::string> origin = Origin(*ctx, "DeliverEvent");
  if (!origin.ok()) return ToGrpcStatus(origin.status());
  absl::StatusOr<ApplicationIdParts> id = ParseApplicationId(req->application_id());
  if (!id.ok()) return ToGrpcStatus(id.status());
  if (*origin != id->accepting_province && *origin != id->handling_province) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        absl::StrCat("rule party-provinces-only: province ", *origin,
                                     " is neither the accepting nor the handling province of ",
                                     req->application_id()));
  }
  const std::string& target =
      *origin == id->accepting_province ? id->handling_province : id->accepting_province;
  absl::StatusOr<absl::Time> deadline = Deadline(*ctx);
  if (!deadline.ok()) return ToGrpcStatus(deadline.status());
  return CallNode(
      caller_, target, kFederation, "DeliverEvent", *deadline,
      [&](const NodeStubs& stubs, grpc::ClientContext* c, v1::DeliverEventResponse* r) {
        return stubs.federation->DeliverEvent(c, *req, r);
      },
      resp, [&](grpc::ClientContext* c) { c->AddMetadata(kOriginMetadata, *origin); });
}

grpc::Status RelayServiceImpl::FetchGuide(grpc::ServerContext* ctx,
                                          const v1::FetchGuideRequest* req,
                                          v1::FetchGuideResponse* resp) {
  absl::StatusOr<std::string> origin = Origin(*ctx, "FetchGuide");
  if (!origin.ok()) return ToGrpcStatus(origin.status());
  absl::Status valid = ValidateProvinceCode("province_code", req->province_code());
  if (!valid.ok()) return ToGrpcStatus(valid);
  absl::StatusOr<absl::Time> deadline = Deadline(*ctx);
  if (!deadline.ok()) return ToGrpcStatus(deadline.status());
  return CallNode(
      caller_, req->province_code(), kFederation, "FetchGuide", *deadline,
      [&](const NodeStubs& stubs, grpc::ClientContext* c, v1::FetchGuideResponse* r) {
        return stubs.federation->FetchGuide(c, *req, r);
      },
      resp, [&](grpc::ClientContext* c) { c->AddMetadata(kOriginMetadata, *origin); });
}

}  // namespace tongban::gateway
