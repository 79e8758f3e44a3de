// ApplicationService of a node: filing (无差别受理 with the 容缺 pre-check
// against the handling province's guide), follow-up, officers' decisions
// through the state machine, and the 办不成事 queue. A cross-province
// application is stored together with its outbox entry in one transaction;
// every later event on it gets an outbox entry to the other province.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"

#include "clock.h"
#include "record_signing.h"
#include "service/application_watch.h"
#include "service/application_watch_hub.h"
#include "service/authz_policy.h"
#include "service/guide_resolver.h"
#include "service/joint_coordinator.h"
#include "service/node_metrics.h"
#include "store/application_store.h"
#include "store/catalog_store.h"
#include "structured_log.h"
#include "tongban/v1/application.grpc.pb.h"
#include "worker_pool.h"
#include "working_day_calendar.h"

namespace tongban::node {

struct ApplicationServiceDeps {
  const AuthzPolicy* authz = nullptr;
  // 多地联办: files and follows the tasks of joint applications.
  JointCoordinator* joint = nullptr;
  ApplicationStore* applications = nullptr;
  CatalogStore* catalog = nullptr;
  GuideResolver* guides = nullptr;
  const Clock* clock = nullptr;
  NodeMetrics* metrics = nullptr;
  EventLog* log = nullptr;
  // Signs this node's events on cross-province applications.
  signing::RecordSigner* signer = nullptr;
  // Checks licences filed as materials (免证办); required.
  const signing::RecordVerifier* verifier = nullptr;
  // Working days: time-limit clocks and 容缺 supplement deadlines.
  const WorkingDayCalendar* calendar = nullptr;
  // Optional: called (on the handler's thread) after a committed write that
  // added outbox entries, so the forwarder sends them at once.
  std::function<void()> on_outbox_written;
  // 好差评 (config rating.default_after_days): days after the decision
  // during which the applicant may rate; unrated cases then count as 3.
  int rating_default_after_days = 7;
  // Working days to rectify a 差评 (config rating.rectification_working_days).
  int rectification_working_days = 5;
  // Live watches (WatchApplication); without a hub the RPC answers
  // UNAVAILABLE. Not owned.
  ApplicationWatchHub* watch_hub = nullptr;
  WatchOptions watch;
  // Filings that cannot finish without blocking (a guide not in memory, a
  // 多地联办 item, a store without asynchronous writes) run here, off gRPC's
  // callback threads; a full queue answers UNAVAILABLE. Required.
  WorkerPool* blocking_filings = nullptr;
};

// WatchApplication runs on gRPC's callback API (a stream must not hold a
// thread of the synchronous pool), and so does SubmitApplication (the
// highest-volume write: no thread waits for its group commit); every other
// method is synchronous.
class ApplicationServiceImpl final
    : public v1::ApplicationService::WithCallbackMethod_SubmitApplication<
          v1::ApplicationService::WithCallbackMethod_WatchApplication<
              v1::ApplicationService::Service>> {
 public:
  // Everything in `deps` is required, not owned, and must outlive the service.
  explicit ApplicationServiceImpl(ApplicationServiceDeps deps);

  grpc::Status PrecheckApplication(grpc::ServerContext* ctx,
                                   const v1::PrecheckApplicationRequest* req,
                                   v1::PrecheckApplicationResponse* resp) override;
  grpc::ServerUnaryReactor* SubmitApplication(grpc::CallbackServerContext* ctx,
                                              const v1::SubmitApplicationRequest* req,
                                              v1::SubmitApplicationResponse* resp) override;
  // The same filing on the calling thread, which it may block (the fuzzer's
  // entry; the callback method's way for filings that must block).
  grpc::Status SubmitApplicationNow(const grpc::ServerContextBase& ctx,
                                    const v1::SubmitApplicationRequest& req,
                                    v1::SubmitApplicationResponse* resp);
  grpc::Status GetApplication(grpc::ServerContext* ctx, const v1::GetApplicationRequest* req,
                              v1::GetApplicationResponse* resp) override;
  grpc::Status ListApplicationsByApplicant(grpc::ServerContext* ctx,
                                           const v1::ListApplicationsByApplicantRequest* req,
                                           v1::ListApplicationsByApplicantResponse* resp) override;
  grpc::Status ListApplicationsByState(grpc::ServerContext* ctx,
                                       const v1::ListApplicationsByStateRequest* req,
                                       v1::ListApplicationsByStateResponse* resp) override;
  grpc::Status SupplementMaterials(grpc::ServerContext* ctx,
                                   const v1::SupplementMaterialsRequest* req,
                                   v1::SupplementMaterialsResponse* resp) override;
  grpc::Status WithdrawApplication(grpc::ServerContext* ctx,
                                   const v1::WithdrawApplicationRequest* req,
                                   v1::WithdrawApplicationResponse* resp) override;
  grpc::Status DecideApplication(grpc::ServerContext* ctx, const v1::DecideApplicationRequest* req,
                                 v1::DecideApplicationResponse* resp) override;
  grpc::Status EscalateApplication(grpc::ServerContext* ctx,
                                   const v1::EscalateApplicationRequest* req,
                                   v1::EscalateApplicationResponse* resp) override;
  grpc::Status ListEscalations(grpc::ServerContext* ctx, const v1::ListEscalationsRequest* req,
                               v1::ListEscalationsResponse* resp) override;
  grpc::Status ResolveEscalation(grpc::ServerContext* ctx,
                                 const v1::ResolveEscalationRequest* req,
                                 v1::ResolveEscalationResponse* resp) override;
  grpc::Status ListOverdueApplications(grpc::ServerContext* ctx,
                                       const v1::ListOverdueApplicationsRequest* req,
                                       v1::ListOverdueApplicationsResponse* resp) override;

  grpc::Status RateApplication(grpc::ServerContext* ctx, const v1::RateApplicationRequest* req,
                               v1::RateApplicationResponse* resp) override;
  grpc::Status RecordRectificationFollowUp(grpc::ServerContext* ctx,
                                           const v1::RecordRectificationFollowUpRequest* req,
                                           v1::RecordRectificationFollowUpResponse* resp) override;
  grpc::Status CloseRectification(grpc::ServerContext* ctx,
                                  const v1::CloseRectificationRequest* req,
                                  v1::CloseRectificationResponse* resp) override;
  grpc::Status ListRectifications(grpc::ServerContext* ctx,
                                  const v1::ListRectificationsRequest* req,
                                  v1::ListRectificationsResponse* resp) override;
  grpc::Status GetRatingStats(grpc::ServerContext* ctx, const v1::GetRatingStatsRequest* req,
                              v1::GetRatingStatsResponse* resp) override;
  // The same callers and rules as GetApplication; see application_watch.h.
  grpc::ServerWriteReactor<v1::WatchApplicationResponse>* WatchApplication(
      grpc::CallbackServerContext* ctx, const v1::WatchApplicationRequest* req) override;

  // The node itself flags an application to the 办不成事 queue (ClockMonitor's
  // auto-escalation of overdue cases); the actor is the node's SPIFFE id.
  absl::Status EscalateAsNode(const std::string& application_id, const std::string& reason);

 private:
  // The guide of the handling province, checked for filing from here.
  absl::StatusOr<GuideResolver::GuidePtr> FileableGuide(const std::string& handling,
                                                        const std::string& item_code);
  // FileableGuide from memory only: nullptr when that would need a read (a
  // guide not in memory or due for revalidation, the alliances not loaded).
  absl::StatusOr<GuideResolver::GuidePtr> FileableGuideInMemory(const std::string& handling,
                                                                const std::string& item_code);
  // Loads an application the caller may see; NOT_FOUND for a citizen's
  // request about someone else's (so ids cannot be probed).
  absl::StatusOr<v1::Application> LoadForCaller(const std::string& id, const Caller& caller);
  // Applies one officer or applicant action under the store's write
  // transaction. `guide` (this province's, when it handles the application)
  // supplies the time limits if the action starts the clocks; `decision`
  // carries a time-limit action's kind or days.
  absl::StatusOr<v1::Application> Transition(const Caller& caller, const std::string& id,
                                             v1::ApplicationAction action,
                                             const std::string& note,
                                             const v1::Guide* guide = nullptr,
                                             const v1::DecideApplicationRequest* decision = nullptr);
  // WITHDRAW of a joint application: no further step starts, and every open
  // task is withdrawn (each as its own application).
  absl::StatusOr<v1::Application> WithdrawJoint(const Caller& caller, const std::string& id,
                                                const std::string& reason);
  absl::StatusOr<v1::Application> Rate(const Caller& caller, const v1::RateApplicationRequest& req);
  // Changes the open rectification of an application handled here with
  // `change` under the write transaction.
  absl::StatusOr<v1::Rectification> MutateRectification(
      const Caller& caller, const std::string& id,
      const std::function<absl::Status(v1::Rectification&)>& change);
  // `app` with its clocks (docs/time-limits.md) and its rating
  // (docs/ratings.md) derived now.
  absl::StatusOr<v1::Application> WithClocks(absl::StatusOr<v1::Application> app) const;
  // A filing between its guide and its write, and what its completion needs.
  struct PreparedFiling {
    CreateRequest create;
    v1::PrecheckOutcome outcome = v1::PRECHECK_OUTCOME_UNSPECIFIED;
    bool joint = false;
    bool cross = false;
  };
  // Input and who may file it, before any look-up.
  absl::Status CheckSubmission(const Caller& caller, const v1::SubmitApplicationRequest& req);
  // The guide's rules, licences and pre-check; the store's request. Blocks
  // only for a 多地联办 item (every step's province's guide).
  absl::StatusOr<PreparedFiling> PrepareFiling(const Caller& caller,
                                               const v1::SubmitApplicationRequest& req,
                                               const v1::Guide& guide);
  // After the write: a joint application's first stage (which blocks),
  // metrics and the log line; the application as answered.
  absl::StatusOr<v1::Application> CompleteFiling(const Caller& caller,
                                                 const v1::SubmitApplicationRequest& req,
                                                 const PreparedFiling& filing,
                                                 CreateResult created);
  absl::StatusOr<v1::Application> Submit(const Caller& caller,
                                         const v1::SubmitApplicationRequest& req, bool* replayed,
                                         v1::PrecheckOutcome* outcome);
  // Submit, answered (SubmitApplicationNow and the pool's way).
  grpc::Status SubmitAs(const Caller& caller, const v1::SubmitApplicationRequest& req,
                        v1::SubmitApplicationResponse* resp);
  // SubmitApplication's answer from Submit's result.
  grpc::Status SubmitAnswer(absl::StatusOr<v1::Application> app, v1::PrecheckOutcome outcome,
                            bool replayed, v1::SubmitApplicationResponse* resp) const;
  // Files without blocking this thread: false, with nothing done, when the
  // filing would block; otherwise `done` gets the answer (written to
  // `resp`), on this thread, the store's completion thread or the pool.
  bool TrySubmitWithoutBlocking(const Caller& caller, const v1::SubmitApplicationRequest& req,
                                v1::SubmitApplicationResponse* resp,
                                std::function<void(grpc::Status)> done);
  absl::StatusOr<v1::Application> Supplement(const Caller& caller,
                                             const v1::SupplementMaterialsRequest& req);
  absl::StatusOr<v1::Escalation> Escalate(const Caller& caller,
                                          const v1::EscalateApplicationRequest& req);
  absl::StatusOr<v1::Escalation> Resolve(const Caller& caller,
                                         const v1::ResolveEscalationRequest& req);

  // Calls d_.on_outbox_written when `app` is cross-province (its writes carry outbox entries).
  void OutboxWritten(const v1::Application& app) const;

  // The alliances, read once: they change only when a catalog is seeded, at
  // start-up, and every submission needs them.
  absl::StatusOr<std::shared_ptr<const std::vector<v1::Alliance>>> Alliances();

  ApplicationServiceDeps d_;
  absl::Mutex alliances_mu_;
  std::shared_ptr<const std::vector<v1::Alliance>> alliances_;  // guarded by alliances_mu_
  const std::string own_;
};

}  // namespace tongban::node
