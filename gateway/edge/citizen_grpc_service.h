// The public gRPC face of CitizenService: takes the bearer token from the
// "authorization" metadata, passes CitizenGate, then calls CitizenApi. It
// is served on its own TLS listener (no client certificate), never on the
// gateway's mTLS port. Every error carries the standard google.rpc.Status
// (error_details.h) in the grpc-status-details-bin trailer.
#pragma once

#include <set>
#include <string>

#include "calls_in_flight.h"
#include "citizen_api.h"
#include "citizen_gate.h"
#include "tongban/v1/citizen.grpc.pb.h"

namespace tongban::edge {

// WatchMyApplication runs on gRPC's callback API (a watch must not hold a
// thread of the synchronous pool); the other methods are synchronous.
class CitizenGrpcService final : public v1::CitizenService::WithCallbackMethod_WatchMyApplication<
                                     v1::CitizenService::Service> {
 public:
  // Pointers are not owned and must outlive the service; `calls` may be
  // null (no per-address limit on calls in flight).
  CitizenGrpcService(CitizenApi* api, const CitizenGate* gate, CallsInFlight* calls = nullptr);

  grpc::Status SearchGuides(grpc::ServerContext* ctx, const v1::SearchGuidesRequest* req,
                            v1::SearchGuidesResponse* resp) override;
  grpc::Status FindWhereToFile(grpc::ServerContext* ctx, const v1::FindWhereToFileRequest* req,
                               v1::FindWhereToFileResponse* resp) override;
  grpc::Status GetItemGuide(grpc::ServerContext* ctx, const v1::GetItemGuideRequest* req,
                            v1::GetItemGuideResponse* resp) override;
  grpc::Status FindLicenceEvidence(grpc::ServerContext* ctx,
                                   const v1::FindMyLicenceEvidenceRequest* req,
                                   v1::FindMyLicenceEvidenceResponse* resp) override;
  grpc::Status PreviewMyLicence(grpc::ServerContext* ctx, const v1::PreviewMyLicenceRequest* req,
                                v1::PreviewLicenceResponse* resp) override;
  grpc::Status ConfirmMyLicence(grpc::ServerContext* ctx, const v1::ConfirmMyLicenceRequest* req,
                                v1::ConfirmLicenceResponse* resp) override;
  grpc::Status ListMyLicenceDisclosures(grpc::ServerContext* ctx,
                                        const v1::ListMyLicenceDisclosuresRequest* req,
                                        v1::ListLicenceDisclosuresResponse* resp) override;
  grpc::Status CheckMaterials(grpc::ServerContext* ctx, const v1::CheckMaterialsRequest* req,
                              v1::CheckMaterialsResponse* resp) override;
  grpc::Status SubmitMyApplication(grpc::ServerContext* ctx,
                                   const v1::SubmitMyApplicationRequest* req,
                                   v1::SubmitMyApplicationResponse* resp) override;
  grpc::Status ListMyApplications(grpc::ServerContext* ctx,
                                  const v1::ListMyApplicationsRequest* req,
                                  v1::ListMyApplicationsResponse* resp) override;
  grpc::Status GetMyApplication(grpc::ServerContext* ctx, const v1::GetMyApplicationRequest* req,
                                v1::GetMyApplicationResponse* resp) override;
  grpc::Status SupplementMyMaterials(grpc::ServerContext* ctx,
                                     const v1::SupplementMyMaterialsRequest* req,
                                     v1::SupplementMyMaterialsResponse* resp) override;
  grpc::Status WithdrawMyApplication(grpc::ServerContext* ctx,
                                     const v1::WithdrawMyApplicationRequest* req,
                                     v1::WithdrawMyApplicationResponse* resp) override;
  grpc::Status RateMyApplication(grpc::ServerContext* ctx, const v1::RateMyApplicationRequest* req,
                                 v1::RateMyApplicationResponse* resp) override;
  // Not counted as a call in flight (watches have their own limits,
  // public_edge.max_watches_per_citizen and max_watches).
  grpc::ServerWriteReactor<v1::WatchMyApplicationResponse>* WatchMyApplication(
      grpc::CallbackServerContext* ctx, const v1::WatchMyApplicationRequest* req) override;

 private:
  template <typename Request, typename Response>
  grpc::Status Handle(grpc::ServerContext* ctx, const char* method, const Request& req,
                      Response* resp,
                      grpc::Status (CitizenApi::*call)(const CitizenCaller&, const Request&,
                                                       Response*));

  CitizenApi* const api_;
  const CitizenGate* const gate_;
  CallsInFlight* const calls_;
  std::set<std::string> anonymous_;  // methods callable without a token
};

// "ipv4:127.0.0.1:5555" / "ipv6:[::1]:5555" → the address without the port.
std::string PeerAddress(const std::string& grpc_peer);

}  // namespace tongban::edge
