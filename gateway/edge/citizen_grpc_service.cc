#include "citizen_grpc_service.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "error_details.h"
#include "grpcpp/server_context.h"
#include "http_conventions.h"
#include "request_id.h"
#include "tongban/v1/api_options.pb.h"

namespace tongban::edge {
namespace {

// One WatchMyApplication stream on the public gRPC port: the relay's sink.
// Deliver starts the one write in flight; its completion asks the relay for
// the next message. Threads: gRPC's callback threads; `mu_` guards the
// relay pointers.
class GrpcWatch final : public grpc::ServerWriteReactor<v1::WatchMyApplicationResponse>,
                        public WatchSink {
 public:
  explicit GrpcWatch(WatchLimits* limits) : limits_(limits) {}

  // A watch refused before it started.
  void Refuse(const grpc::Status& status) { Finish(status); }

  void SetRelay(std::shared_ptr<WatchRelay> relay) {
    absl::MutexLock lock(&mu_);
    if (!ended_) relay_ = std::move(relay);
  }

  void Deliver(WatchRelay* relay, const v1::WatchMyApplicationResponse& m) override {
    {
      absl::MutexLock lock(&mu_);
      out_ = m;
      writing_for_ = relay;
    }
    if (limits_ != nullptr) limits_->MessageSent("grpc", m.heartbeat());
    StartWrite(&out_);
  }

  void OnWriteDone(bool ok) override {
    WatchRelay* relay = nullptr;
    {
      absl::MutexLock lock(&mu_);
      std::swap(relay, writing_for_);
    }
    // Valid: the relay waits for this answer before it can end.
    if (relay == nullptr) return;
    if (ok) {
      relay->Next();
    } else {
      relay->WriteFailed();
    }
  }

  void End(const grpc::Status& status) override {
    {
      absl::MutexLock lock(&mu_);
      ended_ = true;
      relay_.reset();
    }
    Finish(status.ok() ? status : WithErrorDetails(status));
  }

  void OnCancel() override {
    std::shared_ptr<WatchRelay> relay;
    {
      absl::MutexLock lock(&mu_);
      relay = relay_;
    }
    if (relay != nullptr) relay->Cancel();
  }

  void OnDone() override { delete this; }

 private:
  WatchLimits* const limits_;
  absl::Mutex mu_;
  std::shared_ptr<WatchRelay> relay_ ABSL_GUARDED_BY(mu_);
  WatchRelay* writing_for_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  v1::WatchMyApplicationResponse out_;  // the write in flight
};

}  // namespace

std::string PeerAddress(const std::string& grpc_peer) {
  absl::string_view p = grpc_peer;
  for (absl::string_view scheme : {"ipv4:", "ipv6:"}) {
    if (absl::StartsWith(p, scheme)) p.remove_prefix(scheme.size());
  }
  if (absl::StartsWith(p, "[")) {
    size_t end = p.find(']');
    return std::string(end == absl::string_view::npos ? p : p.substr(1, end - 1));
  }
  size_t colon = p.rfind(':');
  return std::string(colon == absl::string_view::npos ? p : p.substr(0, colon));
}

CitizenGrpcService::CitizenGrpcService(CitizenApi* api, const CitizenGate* gate,
                                       CallsInFlight* calls)
    : api_(api), gate_(gate), calls_(calls) {
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          v1::CitizenService::service_full_name());
  for (int i = 0; i < service->method_count(); ++i) {
    const google::protobuf::MethodDescriptor* m = service->method(i);
    if (m->options().GetExtension(v1::anonymous)) anonymous_.insert(m->name());
  }
}

template <typename Request, typename Response>
grpc::Status CitizenGrpcService::Handle(
    grpc::ServerContext* ctx, const char* method, const Request& req, Response* resp,
    grpc::Status (CitizenApi::*call)(const CitizenCaller&, const Request&, Response*)) {
  // The call's request id (x-request-id or traceparent when valid, else a
  // new one), answered in the initial metadata whatever the outcome.
  const std::string request_id = ChooseRequestId(ctx->client_metadata());
  ctx->AddInitialMetadata(kRequestIdMetadata, request_id);
  std::string authorization;
  auto found = ctx->client_metadata().find("authorization");
  if (found != ctx->client_metadata().end()) {
    authorization.assign(found->second.data(), found->second.size());
  }
  const std::string address = PeerAddress(ctx->peer());
  std::optional<CallsInFlight::Slot> slot;
  if (calls_ != nullptr && !(slot = calls_->TryAcquire(address))) {
    ctx->AddTrailingMetadata("retry-after", "1");
    return WithErrorDetails(TooManyCallsInFlight(address, calls_->per_address()));
  }
  Admission a = gate_->Admit(authorization, anonymous_.count(method) > 0, address,
                             absl::FromChrono(ctx->deadline()));
  if (!a.status.ok()) {
    if (a.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      // Seconds, like HTTP's Retry-After, for clients that look.
      ctx->AddTrailingMetadata("retry-after", RetryAfterSeconds(a.retry_after));
    }
    return WithErrorDetails(a.status);
  }
  a.caller.request_id = request_id;
  // Errors carry google.rpc.Status (with a BadRequest naming the field at
  // fault) in the grpc-status-details-bin trailer, like the REST body.
  return WithErrorDetails((api_->*call)(a.caller, req, resp));
}

grpc::Status CitizenGrpcService::SearchGuides(grpc::ServerContext* ctx,
                                              const v1::SearchGuidesRequest* req,
                                              v1::SearchGuidesResponse* resp) {
  return Handle(ctx, "SearchGuides", *req, resp, &CitizenApi::SearchGuides);
}
grpc::Status CitizenGrpcService::FindWhereToFile(grpc::ServerContext* ctx,
                                                 const v1::FindWhereToFileRequest* req,
                                                 v1::FindWhereToFileResponse* resp) {
  return Handle(ctx, "FindWhereToFile", *req, resp, &CitizenApi::FindWhereToFile);
}
grpc::Status CitizenGrpcService::GetItemGuide(grpc::ServerContext* ctx,
                                              const v1::GetItemGuideRequest* req,
                                              v1::GetItemGuideResponse* resp) {
  return Handle(ctx, "GetItemGuide", *req, resp, &CitizenApi::GetItemGuide);
}
grpc::Status CitizenGrpcService::FindLicenceEvidence(grpc::ServerContext* ctx,
                                                     const v1::FindMyLicenceEvidenceRequest* req,
                                                     v1::FindMyLicenceEvidenceResponse* resp) {
  return Handle(ctx, "FindLicenceEvidence", *req, resp, &CitizenApi::FindLicenceEvidence);
}
grpc::Status CitizenGrpcService::PreviewMyLicence(grpc::ServerContext* ctx,
                                                  const v1::PreviewMyLicenceRequest* req,
                                                  v1::PreviewLicenceResponse* resp) {
  return Handle(ctx, "PreviewMyLicence", *req, resp, &CitizenApi::PreviewMyLicence);
}
grpc::Status CitizenGrpcService::ConfirmMyLicence(grpc::ServerContext* ctx,
                                                  const v1::ConfirmMyLicenceRequest* req,
                                                  v1::ConfirmLicenceResponse* resp) {
  return Handle(ctx, "ConfirmMyLicence", *req, resp, &CitizenApi::ConfirmMyLicence);
}
grpc::Status CitizenGrpcService::ListMyLicenceDisclosures(
    grpc::ServerContext* ctx, const v1::ListMyLicenceDisclosuresRequest* req,
    v1::ListLicenceDisclosuresResponse* resp) {
  return Handle(ctx, "ListMyLicenceDisclosures", *req, resp, &CitizenApi::ListMyLicenceDisclosures);
}
grpc::Status CitizenGrpcService::CheckMaterials(grpc::ServerContext* ctx,
                                                const v1::CheckMaterialsRequest* req,
                                                v1::CheckMaterialsResponse* resp) {
  return Handle(ctx, "CheckMaterials", *req, resp, &CitizenApi::CheckMaterials);
}
grpc::Status CitizenGrpcService::SubmitMyApplication(grpc::ServerContext* ctx,
                                                     const v1::SubmitMyApplicationRequest* req,
                                                     v1::SubmitMyApplicationResponse* resp) {
  return Handle(ctx, "SubmitMyApplication", *req, resp, &CitizenApi::SubmitMyApplication);
}
grpc::Status CitizenGrpcService::ListMyApplications(grpc::ServerContext* ctx,
                                                    const v1::ListMyApplicationsRequest* req,
                                                    v1::ListMyApplicationsResponse* resp) {
  return Handle(ctx, "ListMyApplications", *req, resp, &CitizenApi::ListMyApplications);
}
grpc::Status CitizenGrpcService::GetMyApplication(grpc::ServerContext* ctx,
                                                  const v1::GetMyApplicationRequest* req,
                                                  v1::GetMyApplicationResponse* resp) {
  return Handle(ctx, "GetMyApplication", *req, resp, &CitizenApi::GetMyApplication);
}
grpc::Status CitizenGrpcService::SupplementMyMaterials(grpc::ServerContext* ctx,
                                                       const v1::SupplementMyMaterialsRequest* req,
                                                       v1::SupplementMyMaterialsResponse* resp) {
  return Handle(ctx, "SupplementMyMaterials", *req, resp, &CitizenApi::SupplementMyMaterials);
}
grpc::Status CitizenGrpcService::WithdrawMyApplication(grpc::ServerContext* ctx,
                                                       const v1::WithdrawMyApplicationRequest* req,
                                                       v1::WithdrawMyApplicationResponse* resp) {
  return Handle(ctx, "WithdrawMyApplication", *req, resp, &CitizenApi::WithdrawMyApplication);
}
grpc::Status CitizenGrpcService::RateMyApplication(grpc::ServerContext* ctx,
                                                   const v1::RateMyApplicationRequest* req,
                                                   v1::RateMyApplicationResponse* resp) {
  return Handle(ctx, "RateMyApplication", *req, resp, &CitizenApi::RateMyApplication);
}

grpc::ServerWriteReactor<v1::WatchMyApplicationResponse>* CitizenGrpcService::WatchMyApplication(
    grpc::CallbackServerContext* ctx, const v1::WatchMyApplicationRequest* req) {
  auto* watch = new GrpcWatch(api_->options().watches);
  const std::string request_id = ChooseRequestId(ctx->client_metadata());
  ctx->AddInitialMetadata(kRequestIdMetadata, request_id);
  std::string authorization;
  auto found = ctx->client_metadata().find("authorization");
  if (found != ctx->client_metadata().end()) {
    authorization.assign(found->second.data(), found->second.size());
  }
  Admission a = gate_->Admit(authorization, /*anonymous=*/false, PeerAddress(ctx->peer()),
                             absl::FromChrono(ctx->deadline()));
  if (!a.status.ok()) {
    if (a.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ctx->AddTrailingMetadata("retry-after", RetryAfterSeconds(a.retry_after));
    }
    watch->Refuse(WithErrorDetails(a.status));
    return watch;
  }
  a.caller.request_id = request_id;
  std::shared_ptr<WatchRelay> relay;
  grpc::Status started = api_->StartWatch(a.caller, *req, watch, &relay);
  if (!started.ok()) {
    watch->Refuse(WithErrorDetails(started));
    return watch;
  }
  watch->SetRelay(std::move(relay));
  return watch;
}

}  // namespace tongban::edge
