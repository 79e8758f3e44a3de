// CitizenApi: what the public CitizenService does, whichever way it is
// reached (gRPC or REST). Catalog questions are answered like the federation
// queries (cache, fan-out); application calls go to the nodes with the
// verified citizen id stamped (x-tongban-citizen-id), and the nodes enforce
// the citizen's rules (own applications only; another's answers NOT_FOUND).
// Authentication and rate limiting happen before, in CitizenGate. Every call
// logs one line, event=citizen.call with method, code, ms and request_id
// (never the citizen id), and its node calls carry the request id.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"
#include "node_call.h"
#include "query_service.h"
#include "structured_log.h"
#include "tongban/v1/citizen.pb.h"
#include "watch_limits.h"
#include "watch_relay.h"

namespace tongban::edge {

// Who is calling, until when, and what the transport said about the call.
struct CitizenCaller {
  std::string citizen_id;  // "" = anonymous (catalog routes only)
  absl::Time deadline = absl::InfiniteFuture();
  // The call's request id (ChooseRequestId, request_id.h): on the gateway's
  // "citizen.call" log line and passed to nodes (x-request-id) for theirs.
  // "" or invalid = none.
  std::string request_id;
  // The Idempotency-Key header (REST): SubmitMyApplication's idempotency
  // key when the body has none; a body key that differs is refused. "" = none.
  std::string idempotency_key;
};

struct CitizenApiOptions {
  absl::Duration node_deadline = absl::Milliseconds(500);  // each node of a fan-out
  // Where each call's "citizen.call" line goes (not owned; must outlive the
  // API). nullptr = the API's own EventLog("gateway") on stderr.
  EventLog* log = nullptr;
  // WatchMyApplication: the open streams' limits and metrics (not owned;
  // null = watching is unavailable), the heartbeat asked of the node and
  // each stream's lifetime.
  WatchLimits* watches = nullptr;
  int watch_heartbeat_seconds = 15;
  absl::Duration watch_max_stream = absl::Minutes(30);
};

// SubmitMyApplication's idempotency key: the body's, else the caller's
// Idempotency-Key header (CitizenCaller::idempotency_key, the raw value:
// a bare key or a structured-field string "key"); INVALID_ARGUMENT
// naming idempotency_key when both are set and differ. The node validates
// the key itself (and refuses an empty one).
absl::StatusOr<std::string> IdempotencyKeyOf(const CitizenCaller& caller,
                                             const v1::SubmitMyApplicationRequest& req);

// 免证办 requests, as the edge checks them before routing (the issuing
// node checks the rest: type code, use, the grant's signature): the
// fields naming the province to call, and the presence of `use` / `grant`.
absl::Status ValidatePreviewMyLicence(const v1::PreviewMyLicenceRequest& req);
absl::Status ValidateConfirmMyLicence(const v1::ConfirmMyLicenceRequest& req);
absl::Status ValidateListMyLicenceDisclosures(const v1::ListMyLicenceDisclosuresRequest& req);
// SubmitMyApplicationRequest.licence_materials: at most 50 (the accepting
// node checks each licence).
inline constexpr int kMaxLicenceMaterialsPerRequest = 50;
absl::Status ValidateLicenceMaterialCount(int count);

class CitizenApi {
 public:
  // Pointers are not owned and must outlive the API.
  CitizenApi(gateway::NodeCaller nodes, gateway::QueryServiceImpl* queries,
             CitizenApiOptions options);

  grpc::Status SearchGuides(const CitizenCaller& caller, const v1::SearchGuidesRequest& req,
                            v1::SearchGuidesResponse* resp);
  grpc::Status FindWhereToFile(const CitizenCaller& caller, const v1::FindWhereToFileRequest& req,
                               v1::FindWhereToFileResponse* resp);
  grpc::Status GetItemGuide(const CitizenCaller& caller, const v1::GetItemGuideRequest& req,
                            v1::GetItemGuideResponse* resp);
  // 电子证照 directory for the signed-in citizen (the holder is the token's
  // citizen): FederationQueryService.FindLicenceEvidence's answer.
  grpc::Status FindLicenceEvidence(const CitizenCaller& caller,
                                   const v1::FindMyLicenceEvidenceRequest& req,
                                   v1::FindMyLicenceEvidenceResponse* resp);
  // 免证办 (docs/licences.md), each at the issuing province's node with the
  // citizen stamped (the node answers for the token's citizen only); the
  // node's typed refusals (google.rpc.ErrorInfo in the status details) are
  // passed on unchanged.
  grpc::Status PreviewMyLicence(const CitizenCaller& caller, const v1::PreviewMyLicenceRequest& req,
                                v1::PreviewLicenceResponse* resp);
  grpc::Status ConfirmMyLicence(const CitizenCaller& caller, const v1::ConfirmMyLicenceRequest& req,
                                v1::ConfirmLicenceResponse* resp);
  grpc::Status ListMyLicenceDisclosures(const CitizenCaller& caller,
                                        const v1::ListMyLicenceDisclosuresRequest& req,
                                        v1::ListLicenceDisclosuresResponse* resp);
  grpc::Status CheckMaterials(const CitizenCaller& caller, const v1::CheckMaterialsRequest& req,
                              v1::CheckMaterialsResponse* resp);
  grpc::Status SubmitMyApplication(const CitizenCaller& caller,
                                   const v1::SubmitMyApplicationRequest& req,
                                   v1::SubmitMyApplicationResponse* resp);
  grpc::Status ListMyApplications(const CitizenCaller& caller,
                                  const v1::ListMyApplicationsRequest& req,
                                  v1::ListMyApplicationsResponse* resp);
  grpc::Status GetMyApplication(const CitizenCaller& caller, const v1::GetMyApplicationRequest& req,
                                v1::GetMyApplicationResponse* resp);
  grpc::Status SupplementMyMaterials(const CitizenCaller& caller,
                                     const v1::SupplementMyMaterialsRequest& req,
                                     v1::SupplementMyMaterialsResponse* resp);
  grpc::Status WithdrawMyApplication(const CitizenCaller& caller,
                                     const v1::WithdrawMyApplicationRequest& req,
                                     v1::WithdrawMyApplicationResponse* resp);
  // Routed to the accepting province's node, which records the rating and
  // forwards it to the handling province (docs/ratings.md).
  grpc::Status RateMyApplication(const CitizenCaller& caller,
                                 const v1::RateMyApplicationRequest& req,
                                 v1::RateMyApplicationResponse* resp);
  // WatchMyApplication, for either face: checks the call, takes a place in
  // the watch limits and starts relaying the accepting province's
  // WatchApplication stream to `sink` (watch_relay.h). A status other than
  // OK means nothing was started, and the face answers it; on OK `*relay`
  // is the running watch, which ends through sink->End.
  grpc::Status StartWatch(const CitizenCaller& caller, const v1::WatchMyApplicationRequest& req,
                          WatchSink* sink, std::shared_ptr<WatchRelay>* relay);
  const CitizenApiOptions& options() const { return options_; }

 private:
  absl::Time NodeDeadline(const CitizenCaller& caller) const;
  // Runs `body` with the caller's request id in scope (log lines, node
  // metadata) and logs the call's outcome.
  template <typename Body>
  grpc::Status Logged(const CitizenCaller& caller, const char* method, Body body);

  const gateway::NodeCaller nodes_;
  gateway::QueryServiceImpl* const queries_;
  const CitizenApiOptions options_;
  std::unique_ptr<EventLog> own_log_;  // when options_.log is nullptr
  EventLog* const log_;
};

}  // namespace tongban::edge
