// FederationService of a node: what other provinces deliver through the
// gateway — forwarded applications (handling side), history events (both
// sides), guide look-ups. Only the gateway may call it, and the origin
// province it stamps must be the province the delivery claims to come from.
// What that province may say is FederationAuthorityTable()
// (service/federation_authority.h); every record is checked against its
// author's signature and hash chain before anything is written.
#pragma once

#include <functional>
#include <string>

#include "clock.h"
#include "record_signing.h"
#include "service/authz_policy.h"
#include "service/catalog_service.h"
#include "service/licence_registry.h"
#include "service/node_metrics.h"
#include "store/application_store.h"
#include "store/catalog_store.h"
#include "structured_log.h"
#include "tongban/v1/federation.grpc.pb.h"
#include "working_day_calendar.h"

namespace tongban::node {

// The licence calls (电子证照, the federation's highest-volume exchange) run on
// gRPC's callback API: the answer leaves when its disclosure record commits,
// with no thread waiting on the commit (issue #13's cost of a check).
// FetchGuide (another province's precheck of a filing) answers on the
// callback API too, with the bytes CatalogService keeps for GetGuide.
using FederationServiceBase = v1::FederationService::WithCallbackMethod_CheckLicence<
    v1::FederationService::WithCallbackMethod_FetchLicencePreview<
        v1::FederationService::WithCallbackMethod_ReleaseLicence<
            v1::FederationService::WithRawCallbackMethod_FetchGuide<
                v1::FederationService::Service>>>>;

class FederationServiceImpl final : public FederationServiceBase {
 public:
  // Pointers are not owned and must outlive the service. `node_identity` is
  // this node's SPIFFE id, recorded as the actor of DELIVER events. `signer`
  // signs this node's events; `verifier` checks every received one (federation
  // CA and CRL) before anything is written.
  FederationServiceImpl(const AuthzPolicy* authz, ApplicationStore* applications,
                        CatalogStore* catalog, const Clock* clock, NodeMetrics* metrics,
                        EventLog* log, std::string node_identity, signing::RecordSigner* signer,
                        const signing::RecordVerifier* verifier,
                        const WorkingDayCalendar* calendar);

  // Optional: called after a committed write that added outbox entries (the
  // DELIVER event going back), so the forwarder sends it at once. Set before
  // the service is registered.
  void set_on_outbox_written(std::function<void()> hook) { on_outbox_written_ = std::move(hook); }
  // Called (on the handler's thread) after a delivered event changed an
  // application here, with the application as stored (多地联办 tasks).
  void set_on_application_changed(std::function<void(const v1::Application&)> hook) {
    on_application_changed_ = std::move(hook);
  }
  // Working days the handling province has to rectify a 差评 it receives
  // (config rating.rectification_working_days). Set before serving.
  void set_rectification_working_days(int days) { rectification_working_days_ = days; }

  grpc::Status DeliverApplication(grpc::ServerContext* ctx,
                                  const v1::DeliverApplicationRequest* req,
                                  v1::DeliverApplicationResponse* resp) override;
  grpc::Status DeliverEvent(grpc::ServerContext* ctx, const v1::DeliverEventRequest* req,
                            v1::DeliverEventResponse* resp) override;
  grpc::ServerUnaryReactor* FetchGuide(grpc::CallbackServerContext* ctx,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  // FetchGuide's answer (a serialized FetchGuideResponse), for FetchGuide
  // itself and for callers without a callback context.
  grpc::Status FetchGuideNow(const grpc::ServerContextBase& ctx, const v1::FetchGuideRequest& req,
                             std::shared_ptr<const std::string>* answer);
  // Another province's officer checks one of this province's licences; the
  // asking province is the gateway's stamp, never a field of the request.
  grpc::ServerUnaryReactor* CheckLicence(grpc::CallbackServerContext* ctx,
                                         const v1::CheckLicenceRequest* req,
                                         v1::VerifyLicenceResponse* resp) override;
  // 免证办 asked by another province's node for its applicant: a preview
  // with a grant, then the holder's decision on it.
  grpc::ServerUnaryReactor* FetchLicencePreview(grpc::CallbackServerContext* ctx,
                                                const v1::FetchLicencePreviewRequest* req,
                                                v1::PreviewLicenceResponse* resp) override;
  grpc::ServerUnaryReactor* ReleaseLicence(grpc::CallbackServerContext* ctx,
                                           const v1::ReleaseLicenceRequest* req,
                                           v1::ConfirmLicenceResponse* resp) override;

  // The same three answered on the calling thread, for callers without a
  // callback context (the fuzzer); same checks, same records.
  grpc::Status CheckLicenceNow(const grpc::ServerContextBase& ctx,
                               const v1::CheckLicenceRequest& req, v1::VerifyLicenceResponse* resp);
  grpc::Status FetchLicencePreviewNow(const grpc::ServerContextBase& ctx,
                                      const v1::FetchLicencePreviewRequest& req,
                                      v1::PreviewLicenceResponse* resp);
  grpc::Status ReleaseLicenceNow(const grpc::ServerContextBase& ctx,
                                 const v1::ReleaseLicenceRequest& req,
                                 v1::ConfirmLicenceResponse* resp);

  // This province's licence register (电子证照). Set before serving; without
  // it CheckLicence answers UNAVAILABLE.
  void set_licences(LicenceRegistry* licences) { licences_ = licences; }
  // Where FetchGuide takes this province's guides from: the answers
  // CatalogService keeps (dropped when an officer amends the item). Without
  // it FetchGuide reads the store each time. Set before serving.
  void set_guide_answers(std::function<absl::StatusOr<OwnGuideAnswer>(const std::string&)> source) {
    guide_answers_ = std::move(source);
  }

 private:
  absl::Status Deliver(const Caller& caller, const v1::Application& app,
                       v1::DeliverApplicationResponse* resp);
  absl::Status ApplyEvent(const Caller& caller, const v1::DeliverEventRequest& req,
                          bool* duplicate);
  // A licence call authorised and validated into what the register answers.
  absl::StatusOr<LicenceQuestion> CheckQuestion(const grpc::ServerContextBase& ctx,
                                                const v1::CheckLicenceRequest& req);
  absl::StatusOr<LicenceFetch> PreviewFetch(const grpc::ServerContextBase& ctx,
                                            const v1::FetchLicencePreviewRequest& req);
  // The verified origin province of a ReleaseLicence.
  absl::StatusOr<std::string> ReleaseOrigin(const grpc::ServerContextBase& ctx,
                                            const v1::ReleaseLicenceRequest& req);

  const AuthzPolicy* authz_;
  ApplicationStore* applications_;
  CatalogStore* catalog_;
  const Clock* clock_;
  NodeMetrics* metrics_;
  EventLog* log_;
  const std::string own_;
  const std::string node_identity_;
  signing::RecordSigner* signer_;
  const signing::RecordVerifier* verifier_;
  const WorkingDayCalendar* calendar_;  // 容缺 deadlines in working days
  std::function<void()> on_outbox_written_;
  std::function<void(const v1::Application&)> on_application_changed_;
  int rectification_working_days_ = 5;
  LicenceRegistry* licences_ = nullptr;
  std::function<absl::StatusOr<OwnGuideAnswer>(const std::string&)> guide_answers_;
};

}  // namespace tongban::node
