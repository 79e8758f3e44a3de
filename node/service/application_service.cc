#include "application_service.h"


#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "application_id.h"
#include "google/protobuf/util/time_util.h"
#include "grpc_status.h"
#include "input_validation.h"
#include "page_token.h"
#include "request_id.h"
#include "structured_log.h"
#include "resident_id.h"
#include "service/application_clocks.h"
#include "service/application_events.h"
#include "service/application_ratings.h"
#include "service/rectifications.h"
#include "rating_counts.h"
#include "record_signing.h"
#include "service/callback_reply.h"
#include "service/clock_monitor.h"
#include "service/application_request_validation.h"
#include "service/licence_materials.h"
#include "service/application_state_machine.h"
#include "filing_policy.h"
#include "service/guide_precheck.h"
#include "service/application_filing.h"
#include "service/joint_procedure.h"
#include "tongban/v1/federation.pb.h"

namespace tongban::node {
namespace {

using google::protobuf::util::TimeUtil;

// The blocking-filing pool's queue is full; a retry with the same key is safe
// (it files once, or replays the filing that was made).
grpc::Status FilingQueueFull() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "node busy: too many filings waiting; retry with the same idempotency_key");
}

// The handling province alone decides an application's state.
bool DecidedHere(const v1::Application& app, const std::string& own) {
  return app.handling_province() == own;
}

std::string Method(const char* name) {
  return absl::StrCat("/tongban.v1.ApplicationService/", name);
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(t));
}

// Stable across restarts and builds: SHA-256 of the deterministic encoding.
std::string Fingerprint(const google::protobuf::Message& m) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&out);
  }
  return absl::BytesToHexString(signing::Sha256(bytes));
}

absl::Status ValidateId(const std::string& id) {
  absl::StatusOr<ApplicationIdParts> parts = ParseApplicationId(id);
  return parts.status();
}

std::string OutcomeLabel(v1::PrecheckOutcome o) {
  switch (o) {
    case v1::PRECHECK_OUTCOME_COMPLETE: return "complete";
    case v1::PRECHECK_OUTCOME_ACCEPT_WITH_DEFICIENCY: return "deficiency";
    default: return "refused";
  }
}

template <typename Response>
grpc::Status Reply(const absl::StatusOr<v1::Application>& app, Response* resp) {
  if (!app.ok()) return ToGrpcStatus(app.status());
  *resp->mutable_application() = *app;
  return grpc::Status::OK;
}

// A joint application is done through its steps' tasks, each an
// application of its own: say which to use.
absl::Status JointStepsOnly(const v1::Application& joint, absl::string_view what) {
  std::string tasks;
  for (const auto& s : joint.joint().steps()) {
    if (s.task_application_id().empty()) continue;
    absl::StrAppend(&tasks, tasks.empty() ? "" : ", ", "step ", s.step().step(), " ",
                    s.task_application_id(), " (", s.province_code(), ")");
  }
  return absl::FailedPreconditionError(absl::StrCat(
      joint.application_id(), " is a 多地联办 application: ", what,
      " its steps' tasks instead, each an application of its own",
      tasks.empty() ? std::string(" (no step has started yet)") : absl::StrCat(": ", tasks)));
}

}  // namespace

ApplicationServiceImpl::ApplicationServiceImpl(ApplicationServiceDeps deps)
    : d_(deps), own_(deps.authz->own_province()) {}

absl::StatusOr<v1::Application> ApplicationServiceImpl::WithClocks(
    absl::StatusOr<v1::Application> app) const {
  if (!app.ok()) return app;
  const absl::Time now = d_.clock->Now();
  *app->mutable_clocks() = ComputeClocks(app->handling_province(), app->events(), *d_.calendar, now);
  *app->mutable_rating() = DeriveRating(*app, now, d_.rating_default_after_days);
  if (app->has_rectification()) {
    *app->mutable_rectification() = WithOverdue(app->rectification(), now);
  }
  if (app->has_joint()) {
    absl::Status described = d_.joint->Describe(*app, now);
    if (!described.ok()) return described;
  }
  return app;
}

void ApplicationServiceImpl::OutboxWritten(const v1::Application& app) const {
  if (d_.on_outbox_written && IsCrossProvince(app)) d_.on_outbox_written();
}

absl::StatusOr<GuideResolver::GuidePtr> ApplicationServiceImpl::FileableGuide(
    const std::string& handling, const std::string& item_code) {
  absl::StatusOr<GuideResolver::GuidePtr> guide = d_.guides->Resolve(handling, item_code);
  if (!guide.ok()) return guide.status();
  absl::StatusOr<std::shared_ptr<const std::vector<v1::Alliance>>> alliances = Alliances();
  if (!alliances.ok()) return alliances.status();
  absl::Status fileable = CheckFileableFrom(**guide, own_, **alliances);
  if (!fileable.ok()) return fileable;
  return guide;
}

absl::StatusOr<GuideResolver::GuidePtr> ApplicationServiceImpl::FileableGuideInMemory(
    const std::string& handling, const std::string& item_code) {
  GuideResolver::GuidePtr guide = d_.guides->InMemory(handling, item_code);
  if (guide == nullptr) return guide;
  std::shared_ptr<const std::vector<v1::Alliance>> alliances;
  {
    absl::MutexLock lock(&alliances_mu_);
    alliances = alliances_;
  }
  if (alliances == nullptr) return GuideResolver::GuidePtr();
  absl::Status fileable = CheckFileableFrom(*guide, own_, *alliances);
  if (!fileable.ok()) return fileable;
  return guide;
}

absl::StatusOr<std::shared_ptr<const std::vector<v1::Alliance>>>
ApplicationServiceImpl::Alliances() {
  absl::MutexLock lock(&alliances_mu_);
  if (alliances_ == nullptr) {
    absl::StatusOr<std::vector<v1::Alliance>> loaded = d_.catalog->ListAlliances();
    if (!loaded.ok()) return loaded.status();
    alliances_ = std::make_shared<const std::vector<v1::Alliance>>(std::move(*loaded));
  }
  return alliances_;
}

absl::StatusOr<v1::Application> ApplicationServiceImpl::LoadForCaller(const std::string& id,
                                                                      const Caller& caller) {
  absl::Status valid = ValidateId(id);
  if (!valid.ok()) return valid;
  absl::StatusOr<v1::Application> app = d_.applications->GetApplication(id, /*with_events=*/true);
  auto not_found = [&] {
    return absl::NotFoundError(absl::StrCat("application ", id, " not found at province ", own_));
  };
  if (absl::IsNotFound(app.status())) return not_found();
  if (!app.ok()) return app.status();
  if (caller.is_citizen() && app->applicant().id_number() != caller.citizen_id) return not_found();
  // A relayed read: only a province party to the application may see it.
  if (!caller.is_citizen() && !caller.origin_province.empty() &&
      caller.origin_province != app->accepting_province() &&
      caller.origin_province != app->handling_province()) {
    return not_found();
  }
  return app;
}

grpc::Status ApplicationServiceImpl::PrecheckApplication(grpc::ServerContext* ctx,
                                                         const v1::PrecheckApplicationRequest* req,
                                                         v1::PrecheckApplicationResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = d_.authz->Authorize(*ctx, Method("PrecheckApplication"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::Status valid = ValidatePrecheck(*req);
  if (!valid.ok()) return ToGrpcStatus(valid);
  absl::StatusOr<GuideResolver::GuidePtr> guide =
      FileableGuide(req->handling_province(), req->item_code());
  if (!guide.ok()) return ToGrpcStatus(guide.status());
  std::set<std::string> ids(req->material_ids().begin(), req->material_ids().end());
  absl::StatusOr<PrecheckResult> result = Precheck(**guide, ids, "material_ids");
  if (!result.ok()) return ToGrpcStatus(result.status());
  resp->set_outcome(result->outcome);
  for (const auto& m : result->missing_key) *resp->add_missing_key() = m;
  for (const auto& m : result->missing_deferred) *resp->add_missing_deficiency_allowed() = m;
  resp->set_supplement_days(result->supplement_days);
  resp->set_guide_version((*guide)->version());
  return grpc::Status::OK;
}

absl::Status ApplicationServiceImpl::CheckSubmission(const Caller& caller,
                                                     const v1::SubmitApplicationRequest& req) {
  absl::Status valid = ValidateSubmit(req);
  if (!valid.ok()) return valid;
  if (caller.is_citizen() && req.applicant().id_number() != caller.citizen_id) {
    return absl::PermissionDeniedError(
        "rule citizen-files-for-self: applicant.id_number must be the signed-in citizen's");
  }
  return absl::OkStatus();
}

absl::StatusOr<ApplicationServiceImpl::PreparedFiling> ApplicationServiceImpl::PrepareFiling(
    const Caller& caller, const v1::SubmitApplicationRequest& req, const v1::Guide& guide) {
  // 多地联办: the lead province's guide declares the procedure; every step's
  // province must be able to take its task (checked now, not when the
  // task is filed).
  const bool joint = guide.has_joint_procedure();
  if (!joint && req.joint_roles_size() > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "joint_roles is only for 多地联办 items; item ", req.item_code(), " at province ",
        req.handling_province(), " declares no joint procedure"));
  }
  if (joint) {
    // Another province's guide is its word, not ours: a procedure it
    // publishes malformed is refused here, never followed.
    const std::vector<std::string> problems = JointProcedureProblems(guide.joint_procedure());
    if (!problems.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "province ", req.handling_province(), "'s guide of item ", req.item_code(),
          " declares a malformed 多地联办 procedure (", problems.front(),
          "): it cannot be filed until that province corrects its guide"));
    }
    absl::Status roles = CheckJointRoles(guide.joint_procedure(), req.joint_roles(),
                                         req.handling_province(), "joint_roles");
    if (!roles.ok()) return roles;
    for (const v1::JointStep& step : guide.joint_procedure().steps()) {
      const std::string province = ProvinceOfRole(req.joint_roles(), step.role_id());
      absl::StatusOr<GuideResolver::GuidePtr> other = FileableGuide(province, req.item_code());
      if (!other.ok()) return other.status();
      const v1::JointStep* theirs = FindJointStep((*other)->joint_procedure(), step.step());
      if (theirs == nullptr || theirs->role_id() != step.role_id()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "province ", province, " cannot take step ", step.step(), " (", step.name_zh(),
            ") of item ", req.item_code(), ": its guide declares no such step for role ",
            step.role_id()));
      }
    }
  }

  // 免证办: licences released with the applicant's confirmation stand for
  // materials once they verify against the handling province's guide.
  google::protobuf::RepeatedPtrField<v1::SuppliedMaterial> materials = req.materials();
  if (req.licence_materials_size() > 0) {
    if (joint) {
      return absl::InvalidArgumentError(
          "licence_materials: 多地联办 items take uploaded materials only for now");
    }
    absl::StatusOr<std::vector<v1::SuppliedMaterial>> licensed =
        AcceptLicenceMaterials(req.licence_materials(), req.materials(), guide,
                               req.applicant().id_number(), *d_.verifier, d_.clock->Now());
    if (!licensed.ok()) return licensed.status();
    for (v1::SuppliedMaterial& m : *licensed) *materials.Add() = std::move(m);
  }
  std::set<std::string> supplied;
  for (const auto& m : materials) supplied.insert(m.material_id());
  absl::StatusOr<PrecheckResult> check = Precheck(guide, supplied, "materials");
  if (!check.ok()) return check.status();
  const bool cross = req.handling_province() != own_;
  if (check->outcome == v1::PRECHECK_OUTCOME_REFUSE) {
    d_.metrics->Submitted("refused", cross);
    return absl::FailedPreconditionError(absl::StrCat(
        "refused: key materials missing for item ", req.item_code(), " at province ",
        req.handling_province(), ": ", DescribeMaterials(check->missing_key)));
  }

  FilingParams filing;
  filing.accepting = own_;
  filing.guide = &guide;
  filing.check = &*check;
  filing.applicant = req.applicant();
  filing.materials = std::move(materials);
  filing.actor = caller.actor();
  filing.note = req.note();
  filing.now = d_.clock->Now();
  if (joint) {
    filing.handling = own_;
    filing.joint_roles = req.joint_roles();
    filing.joint = NewJointHandling(guide.joint_procedure(), req.joint_roles());
  }
  PreparedFiling prepared;
  prepared.outcome = check->outcome;
  prepared.joint = joint;
  prepared.cross = cross;
  prepared.create = NewFilingRequest(filing, *d_.calendar, d_.signer);
  prepared.create.idempotency_scope = caller.actor();
  prepared.create.idempotency_key = req.idempotency_key();
  prepared.create.request_fingerprint = Fingerprint(req);
  return prepared;
}

absl::StatusOr<v1::Application> ApplicationServiceImpl::CompleteFiling(
    const Caller& caller, const v1::SubmitApplicationRequest& req, const PreparedFiling& filing,
    CreateResult created) {
  if (filing.joint) {
    // The first stage's tasks are filed now; should that fail, the
    // coordinator's sweep files them (the joint application is durable).
    (void)d_.joint->AdvanceOrLog(created.application.application_id());
    absl::StatusOr<v1::Application> now_stored = d_.applications->GetApplication(
        created.application.application_id(), /*with_events=*/true);
    if (now_stored.ok()) created.application = std::move(*now_stored);
  }
  if (!created.replayed) {
    OutboxWritten(created.application);
    d_.metrics->Submitted(OutcomeLabel(filing.outcome), filing.cross);
    d_.metrics->Event("SUBMIT");
    d_.log->Info("application.submitted",
                 {{"id", created.application.application_id()},
                  {"item", req.item_code()},
                  {"handling", req.handling_province()},
                  {"state", StateName(created.application.state())},
                  {"by", caller.actor()}});
  }
  return std::move(created.application);
}

absl::StatusOr<v1::Application> ApplicationServiceImpl::Submit(
    const Caller& caller, const v1::SubmitApplicationRequest& req, bool* replayed,
    v1::PrecheckOutcome* outcome) {
  if (absl::Status s = CheckSubmission(caller, req); !s.ok()) return s;
  absl::StatusOr<GuideResolver::GuidePtr> resolved =
      FileableGuide(req.handling_province(), req.item_code());
  if (!resolved.ok()) return resolved.status();
  absl::StatusOr<PreparedFiling> filing = PrepareFiling(caller, req, **resolved);
  if (!filing.ok()) return filing.status();
  *outcome = filing->outcome;
  absl::StatusOr<CreateResult> created = d_.applications->CreateApplication(filing->create);
  if (!created.ok()) return created.status();
  *replayed = created->replayed;
  return CompleteFiling(caller, req, *filing, *std::move(created));
}

bool ApplicationServiceImpl::TrySubmitWithoutBlocking(const Caller& caller,
                                                      const v1::SubmitApplicationRequest& req,
                                                      v1::SubmitApplicationResponse* resp,
                                                      std::function<void(grpc::Status)> done) {
  if (!d_.applications->creates_asynchronously()) return false;
  if (absl::Status s = CheckSubmission(caller, req); !s.ok()) {
    done(ToGrpcStatus(s));
    return true;
  }
  absl::StatusOr<GuideResolver::GuidePtr> guide =
      FileableGuideInMemory(req.handling_province(), req.item_code());
  if (!guide.ok()) {
    done(ToGrpcStatus(guide.status()));
    return true;
  }
  if (*guide == nullptr || (*guide)->has_joint_procedure()) return false;
  absl::StatusOr<PreparedFiling> prepared = PrepareFiling(caller, req, **guide);
  if (!prepared.ok()) {
    done(ToGrpcStatus(prepared.status()));
    return true;
  }
  CreateRequest create = std::move(prepared->create);
  // The completion runs on the store's completion thread, which answers every
  // filing in commit order: what it needs is copied, and it reads nothing (a
  // replayed joint application, whose answer needs reads, goes to the pool).
  auto filing = std::make_shared<const PreparedFiling>(*std::move(prepared));
  d_.applications->CreateApplicationAsync(
      std::move(create),
      [this, caller, &req, resp, filing, done = std::move(done),
       request_id = std::string(CurrentRequestId())](absl::StatusOr<CreateResult> created) {
        const ScopedRequestId scoped(request_id);
        if (!created.ok()) {
          done(ToGrpcStatus(created.status()));
          return;
        }
        const bool needs_reads = created->application.has_joint();
        auto complete = [this, caller, &req, resp, filing, done,
                         created = *std::move(created)]() mutable {
          const bool replayed = created.replayed;
          done(SubmitAnswer(CompleteFiling(caller, req, *filing, std::move(created)),
                            filing->outcome, replayed, resp));
        };
        if (!needs_reads) {
          complete();
        } else if (!d_.blocking_filings->TryPost(std::move(complete))) {
          done(FilingQueueFull());
        }
      });
  return true;
}

grpc::Status ApplicationServiceImpl::SubmitAnswer(absl::StatusOr<v1::Application> app,
                                                  v1::PrecheckOutcome outcome, bool replayed,
                                                  v1::SubmitApplicationResponse* resp) const {
  if (!app.ok()) return ToGrpcStatus(app.status());
  resp->set_replayed(replayed);
  // A joint application keeps no missing materials itself (its tasks do):
  // the lead province's pre-check answers.
  resp->set_precheck_outcome(app->missing_material_ids_size() > 0 ||
                                     (app->has_joint() &&
                                      outcome == v1::PRECHECK_OUTCOME_ACCEPT_WITH_DEFICIENCY)
                                 ? v1::PRECHECK_OUTCOME_ACCEPT_WITH_DEFICIENCY
                                 : v1::PRECHECK_OUTCOME_COMPLETE);
  absl::StatusOr<v1::Application> answered = WithClocks(*std::move(app));
  if (!answered.ok()) return ToGrpcStatus(answered.status());
  *resp->mutable_application() = *std::move(answered);
  return grpc::Status::OK;
}

grpc::Status ApplicationServiceImpl::SubmitApplicationNow(const grpc::ServerContextBase& ctx,
                                                          const v1::SubmitApplicationRequest& req,
                                                          v1::SubmitApplicationResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx.client_metadata()));
  absl::StatusOr<Caller> caller = d_.authz->Authorize(ctx, Method("SubmitApplication"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return SubmitAs(*caller, req, resp);
}

grpc::Status ApplicationServiceImpl::SubmitAs(const Caller& caller,
                                              const v1::SubmitApplicationRequest& req,
                                              v1::SubmitApplicationResponse* resp) {
  bool replayed = false;
  v1::PrecheckOutcome outcome = v1::PRECHECK_OUTCOME_UNSPECIFIED;
  absl::StatusOr<v1::Application> app = Submit(caller, req, &replayed, &outcome);
  return SubmitAnswer(std::move(app), outcome, replayed, resp);
}

grpc::ServerUnaryReactor* ApplicationServiceImpl::SubmitApplication(
    grpc::CallbackServerContext* ctx, const v1::SubmitApplicationRequest* req,
    v1::SubmitApplicationResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  auto finish = [reactor](grpc::Status status) { reactor->Finish(std::move(status)); };
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = d_.authz->Authorize(*ctx, Method("SubmitApplication"));
  if (!caller.ok()) return Refuse(ctx, caller.status());
  if (TrySubmitWithoutBlocking(*caller, *req, resp, finish)) return reactor;
  // A filing that must block (a guide to fetch, 多地联办, a store that writes
  // on the caller's thread) runs on the pool, as the caller already
  // authorized; the call's messages live until Finish.
  if (!d_.blocking_filings->TryPost([this, caller = *std::move(caller), req, resp, finish,
                                     id = std::string(CurrentRequestId())] {
        const ScopedRequestId scoped(id);
        finish(SubmitAs(caller, *req, resp));
      })) {
    finish(FilingQueueFull());
  }
  return reactor;
}

grpc::Status ApplicationServiceImpl::GetApplication(grpc::ServerContext* ctx,
                                                    const v1::GetApplicationRequest* req,
                                                    v1::GetApplicationResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = d_.authz->Authorize(*ctx, Method("GetApplication"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return Reply(WithClocks(LoadForCaller(req->application_id(), *caller)), resp);
}

grpc::ServerWriteReactor<v1::WatchApplicationResponse>* ApplicationServiceImpl::WatchApplication(
    grpc::CallbackServerContext* ctx, const v1::WatchApplicationRequest* req) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = d_.authz->Authorize(*ctx, Method("WatchApplication"));
  if (!caller.ok()) return ApplicationWatch::Refuse(ToGrpcStatus(caller.status()));
  absl::Status after = ValidateAfterSequence("after_sequence", req->after_sequence());
  if (!after.ok()) return ApplicationWatch::Refuse(ToGrpcStatus(after));
  if (req->heartbeat_seconds() < 0 || req->heartbeat_seconds() > kMaxWatchHeartbeatSeconds) {
    return ApplicationWatch::Refuse(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                     absl::StrCat("heartbeat_seconds must be 0 (the node's default) or 1 to ",
                                  kMaxWatchHeartbeatSeconds, ", not ", req->heartbeat_seconds())));
  }
  if (d_.watch_hub == nullptr) {
    return ApplicationWatch::Refuse(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "watching applications is not available here"));
  }
  absl::StatusOr<v1::Application> app = LoadForCaller(req->application_id(), *caller);
  if (!app.ok()) return ApplicationWatch::Refuse(ToGrpcStatus(app.status()));
  if (req->after_sequence() > app->events_size()) {
    return ApplicationWatch::Refuse(grpc::Status(
        grpc::StatusCode::OUT_OF_RANGE,
        absl::StrCat("after_sequence ", req->after_sequence(), " is beyond the ",
                     app->events_size(), " events of ", req->application_id(), " at province ",
                     own_, ": resume with a sequence this province sent")));
  }
  ApplicationWatch::Params params;
  params.application_id = req->application_id();
  params.after_sequence = req->after_sequence();
  params.heartbeat = req->heartbeat_seconds() > 0 ? absl::Seconds(req->heartbeat_seconds())
                                                  : d_.watch.default_heartbeat;
  params.max_stream = d_.watch.max_stream;
  params.poll = d_.watch.poll;
  return ApplicationWatch::Start(d_.applications, d_.watch_hub, d_.clock, d_.metrics,
                                 std::move(params));
}

grpc::Status ApplicationServiceImpl::ListApplicationsByApplicant(
    grpc::ServerContext* ctx, const v1::ListApplicationsByApplicantRequest* req,
    v1::ListApplicationsByApplicantResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = d_.authz->Authorize(*ctx, Method("ListApplicationsByApplicant"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  // A citizen always lists their own: the stamp wins over the field.
  std::string applicant = caller->is_citizen() ? caller->citizen_id : req->applicant_id_number();
  absl::Status s = ValidateResidentId("applicant_id_number", applicant);
  int limit = 0;
  if (s.ok()) s = ValidatePageSize("page_size", req->page_size(), &limit);
  if (!s.ok()) return ToGrpcStatus(s);
  const std::string list = absl::StrCat("by-applicant:", applicant,
                                        req->accepted_here_only() ? ":accepted-here" : "");
  absl::StatusOr<std::string> cursor = DecodePageToken("page_token", list, req->page_token());
  if (!cursor.ok()) return ToGrpcStatus(cursor.status());
  absl::StatusOr<Page<v1::Application>> page = d_.applications->ListByApplicant(
      applicant, *cursor, limit, req->accepted_here_only() ? own_ : std::string());
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (auto& a : page->items) *resp->add_applications() = std::move(a);
  if (!page->next_cursor.empty()) {
    resp->set_next_page_token(EncodePageToken(list, page->next_cursor));
  }
  return grpc::Status::OK;
}

grpc::Status ApplicationServiceImpl::ListApplicationsByState(
    grpc::ServerContext* ctx, const v1::ListApplicationsByStateRequest* req,
    v1::ListApplicationsByStateResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = d_.authz->Authorize(*ctx, Method("ListApplicationsByState"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (req->state() == v1::APPLICATION_STATE_UNSPECIFIED ||
      !v1::ApplicationState_IsValid(req->state())) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        "state is required: one of the ApplicationState values other than UNSPECIFIED"));
  }
  int limit = 0;
  absl::Status s = ValidatePageSize("page_size", req->page_size(), &limit);
  if (!s.ok()) return ToGrpcStatus(s);
  const std::string list = absl::StrCat("by-state:", req->state());
  absl::StatusOr<std::string> cursor = DecodePageToken("page_token", list, req->page_token());
  if (!cursor.ok()) return ToGrpcStatus(cursor.status());
  absl::StatusOr<Page<v1::Application>> page =
      d_.applications->ListByState(req->state(), *cursor, limit);
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (auto& a : page->items) *resp->add_applications() = std::move(a);
  if (!page->next_cursor.empty()) {
    resp->set_next_page_token(EncodePageToken(list, page->next_cursor));
  }
  return grpc::Status::OK;
}

absl::StatusOr<v1::Application> ApplicationServiceImpl::Supplement(
    const Caller& caller, const v1::SupplementMaterialsRequest& req) {
  absl::Status s = ValidateSuppliedMaterials("materials", req.materials(), /*required=*/true);
  if (s.ok()) s = ValidateText("note", req.note(), kMaxNoteChars, false);
  if (!s.ok()) return s;
  absl::StatusOr<v1::Application> current = LoadForCaller(req.application_id(), caller);
  if (!current.ok()) return current.status();
  if (current->has_joint()) return JointStepsOnly(*current, "supplement");
  absl::StatusOr<GuideResolver::GuidePtr> resolved =
      d_.guides->Resolve(current->handling_province(), current->item_code());
  if (!resolved.ok()) return resolved.status();
  // A 多地联办 task's clocks count against its step.
  const v1::Guide task_guide = WithStepLimits(**resolved, current->filing());
  const v1::Guide* guide = &task_guide;
  std::set<std::string> added;
  for (const auto& m : req.materials()) added.insert(m.material_id());
  // Reuses the pre-check's check that every id is a material of the guide.
  absl::StatusOr<PrecheckResult> known = Precheck(*guide, added, "materials");
  if (!known.ok()) return known.status();

  const absl::Time now = d_.clock->Now();
  std::vector<v1::SuppliedMaterial> materials(req.materials().begin(), req.materials().end());
  return d_.applications->MutateApplication(
      req.application_id(), [&](v1::Application& app) -> absl::StatusOr<Mutation> {
        absl::StatusOr<v1::ApplicationState> next =
            NextState(app.state(), v1::APPLICATION_ACTION_SUPPLEMENT);
        if (!next.ok()) return next.status();
        // Replace materials of the same id, add the others.
        for (const auto& m : materials) {
          bool replaced = false;
          for (auto& have : *app.mutable_materials()) {
            if (have.material_id() == m.material_id()) have = m, replaced = true;
          }
          if (!replaced) *app.add_materials() = m;
        }
        google::protobuf::RepeatedPtrField<std::string> still;
        for (const std::string& id : app.missing_material_ids()) {
          if (added.count(id) == 0) *still.Add() = id;
        }
        app.mutable_missing_material_ids()->Swap(&still);
        v1::ApplicationState before = app.state();
        // Only the handling province decides the state: at an accepting
        // window the supplement is recorded and relayed, and the state
        // follows the handling node's answer (its own SUPPLEMENT event).
        if (DecidedHere(app, own_)) {
          app.set_state(SupplementOutcome(before, app.missing_material_ids_size() > 0));
          if (app.state() != v1::APPLICATION_STATE_PENDING_SUPPLEMENT) {
            app.clear_supplement_deadline();
          }
        }
        *app.mutable_updated_at() = ToProto(now);
        v1::ApplicationEvent e = MakeEvent(app, own_, v1::APPLICATION_ACTION_SUPPLEMENT, before,
                                           app.state(), caller.actor(), now, req.note());
        // Completing a pre-acceptance 补正 here is 受理 (clocks start).
        StampTimeLimits(app, *guide, &e);
        for (const auto& m : materials) {
          e.add_material_ids(m.material_id());
          *e.add_materials() = m;
        }
        absl::Status sealed = SealEvent(app, d_.signer, &e);
        if (!sealed.ok()) return sealed;
        Mutation mutation;
        mutation.outbox = EventOutbox(app, own_, e, materials);
        mutation.events.push_back(std::move(e));
        return mutation;
      });
}

grpc::Status ApplicationServiceImpl::SupplementMaterials(grpc::ServerContext* ctx,
                                                         const v1::SupplementMaterialsRequest* req,
                                                         v1::SupplementMaterialsResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = d_.authz->Authorize(*ctx, Method("SupplementMaterials"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<v1::Application> app = Supplement(*caller, *req);
  if (app.ok()) d_.metrics->Event("SUPPLEMENT");
  if (app.ok()) OutboxWritten(*app);
  if (app.ok()) d_.joint->TaskChanged(*app);
  return Reply(WithClocks(std::move(app)), resp);
}

absl::StatusOr<v1::Application> ApplicationServiceImpl::Transition(
    const Caller& caller, const std::string& id, v1::ApplicationAction action,
    const std::string& note, const v1::Guide* guide, const v1::DecideApplicationRequest* decision) {
  const absl::Time now = d_.clock->Now();
  absl::StatusOr<v1::Application> app = d_.applications->MutateApplication(
      id, [&](v1::Application& app) -> absl::StatusOr<Mutation> {
        absl::StatusOr<v1::ApplicationState> next = NextState(app.state(), action);
        if (!next.ok()) return next.status();
        if (IsTimeLimitAction(action)) {
          // Checked against the clocks as they stand, inside the transaction.
          absl::Status ok = CheckClockAction(
              ComputeClocks(app.handling_province(), app.events(), *d_.calendar, now), action,
              app.events(), app.handling_province());
          if (!ok.ok()) return ok;
        }
        if (action == v1::APPLICATION_ACTION_TERMINATE &&
            app.state() == v1::APPLICATION_STATE_PENDING_SUPPLEMENT &&
            app.has_supplement_deadline() && now < FromProto(app.supplement_deadline())) {
          return absl::FailedPreconditionError(absl::StrCat(
              "cannot TERMINATE before the supplement deadline ",
              TimeUtil::ToString(app.supplement_deadline()), " has passed"));
        }
        v1::ApplicationState before = app.state();
        // An applicant's WITHDRAW at the accepting window is relayed; the
        // handling node decides whether it still applies (see Supplement).
        if (DecidedHere(app, own_)) {
          app.set_state(*next);
          if (IsTerminal(*next)) app.clear_supplement_deadline();
        }
        *app.mutable_updated_at() = ToProto(now);
        v1::ApplicationEvent e =
            MakeEvent(app, own_, action, before, app.state(), caller.actor(), now, note);
        if (guide != nullptr) StampTimeLimits(app, *guide, &e);
        if (decision != nullptr && action == v1::APPLICATION_ACTION_START_SPECIAL_PROCEDURE) {
          e.set_special_procedure(decision->special_procedure());
        }
        if (decision != nullptr && action == v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT) {
          e.set_extension_days(decision->extension_days());
        }
        absl::Status sealed = SealEvent(app, d_.signer, &e);
        if (!sealed.ok()) return sealed;
        Mutation mutation;
        mutation.outbox = EventOutbox(app, own_, e);
        mutation.events.push_back(std::move(e));
        return mutation;
      });
  if (app.ok()) {
    OutboxWritten(*app);
    d_.joint->TaskChanged(*app);
    d_.metrics->Event(ActionName(action));
    d_.log->Info("application.transition", {{"id", id},
                                            {"action", ActionName(action)},
                                            {"state", StateName(app->state())},
                                            {"by", caller.actor()}});
  }
  return app;
}

absl::StatusOr<v1::Application> ApplicationServiceImpl::WithdrawJoint(const Caller& caller,
                                                                     const std::string& id,
                                                                     const std::string& reason) {
  const absl::Time now = d_.clock->Now();
  absl::StatusOr<v1::Application> joint = d_.applications->MutateApplication(
      id, [&](v1::Application& app) -> absl::StatusOr<Mutation> {
        Mutation m;
        if (IsTerminal(app.state())) {
          return absl::FailedPreconditionError(absl::StrCat(
              "cannot WITHDRAW ", id, ": it is ", StateName(app.state()), " already"));
        }
        if (app.joint().withdrawn()) return m;  // again: withdraw the tasks still open
        const v1::ApplicationState before = app.state();
        app.mutable_joint()->set_withdrawn(true);
        app.set_state(DeriveJointState(app.joint()));
        *app.mutable_updated_at() = ToProto(now);
        v1::ApplicationEvent e = MakeEvent(app, own_, v1::APPLICATION_ACTION_WITHDRAW, before,
                                           app.state(), caller.actor(), now, reason);
        absl::Status sealed = SealEvent(app, d_.signer, &e);
        if (!sealed.ok()) return sealed;
        m.events.push_back(std::move(e));
        return m;
      });
  if (!joint.ok()) return joint;
  // Each open task is withdrawn as its own application (a cross-province
  // one at its handling province, which decides whether it still applies).
  for (const auto& s : joint->joint().steps()) {
    if (s.task_application_id().empty()) continue;
    absl::StatusOr<v1::Application> task =
        d_.applications->GetApplication(s.task_application_id(), /*with_events=*/true);
    if (!task.ok()) return task.status();
    if (IsTerminal(task->state())) continue;
    bool asked = false;
    for (const auto& e : task->events()) {
      asked |= e.action() == v1::APPLICATION_ACTION_WITHDRAW && e.province_code() == own_;
    }
    if (asked) continue;
    absl::StatusOr<v1::Application> withdrawn =
        Transition(caller, s.task_application_id(), v1::APPLICATION_ACTION_WITHDRAW, reason);
    if (!withdrawn.ok() && !absl::IsFailedPrecondition(withdrawn.status())) {
      return withdrawn.status();
    }
  }
  absl::Status advanced = d_.joint->Advance(id);
  if (!advanced.ok()) return advanced;
  return d_.applications->GetApplication(id, /*with_events=*/true);
}

grpc::Status ApplicationServiceImpl::WithdrawApplication(grpc::ServerContext* ctx,
                                                         const v1::WithdrawApplicationRequest* req,
                                                         v1::WithdrawApplicationResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = d_.authz->Authorize(*ctx, Method("WithdrawApplication"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::Status valid = ValidateText("reason", req->reason(), kMaxNoteChars, false);
  if (!valid.ok()) return ToGrpcStatus(valid);
  absl::StatusOr<v1::Application> current = LoadForCaller(req->application_id(), *caller);
  if (!current.ok()) return ToGrpcStatus(current.status());
  if (current->has_joint()) {
    return Reply(WithClocks(WithdrawJoint(*caller, req->application_id(), req->reason())), resp);
  }
  return Reply(WithClocks(Transition(*caller, req->application_id(),
                                     v1::APPLICATION_ACTION_WITHDRAW, req->reason())),
               resp);
}

grpc::Status ApplicationServiceImpl::DecideApplication(grpc::ServerContext* ctx,
                                                       const v1::DecideApplicationRequest* req,
                                                       v1::DecideApplicationResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = d_.authz->Authorize(*ctx, Method("DecideApplication"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (!IsOfficerDecision(req->action())) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        "action must be one of ACCEPT, REJECT, START_REVIEW, REQUEST_MATERIALS, APPROVE, DENY, "
        "TERMINATE, START_SPECIAL_PROCEDURE, END_SPECIAL_PROCEDURE, EXTEND_TIME_LIMIT"));
  }
  const v1::ApplicationAction action = req->action();
  const bool note_required = action == v1::APPLICATION_ACTION_REJECT ||
                             action == v1::APPLICATION_ACTION_REQUEST_MATERIALS ||
                             action == v1::APPLICATION_ACTION_DENY ||
                             action == v1::APPLICATION_ACTION_START_SPECIAL_PROCEDURE ||
                             action == v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT;
  absl::Status valid = ValidateText(
      note_required ? absl::StrCat("note (required for ", ActionName(action), ")")
                    : std::string("note"),
      req->note(), kMaxNoteChars, note_required);
  if (!valid.ok()) return ToGrpcStatus(valid);
  const bool starts_procedure = action == v1::APPLICATION_ACTION_START_SPECIAL_PROCEDURE;
  if (starts_procedure != (req->special_procedure() != v1::SPECIAL_PROCEDURE_KIND_UNSPECIFIED) ||
      !v1::SpecialProcedureKind_IsValid(req->special_procedure())) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        starts_procedure
            ? "special_procedure is required for START_SPECIAL_PROCEDURE: one of the "
              "SpecialProcedureKind values other than UNSPECIFIED"
            : "special_procedure is only for START_SPECIAL_PROCEDURE"));
  }
  const bool extends = action == v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT;
  if (extends && (req->extension_days() < 1 || req->extension_days() > kMaxExtensionDays)) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("extension_days must be 1 to ", kMaxExtensionDays,
                     " working days for EXTEND_TIME_LIMIT (行政许可法 第四十二条)")));
  }
  if (!extends && req->extension_days() != 0) {
    return ToGrpcStatus(
        absl::InvalidArgumentError("extension_days is only for EXTEND_TIME_LIMIT"));
  }
  if (extends) {
    absl::Status approver = d_.authz->CheckExtensionApprover(*caller);
    if (!approver.ok()) return ToGrpcStatus(approver);
  }
  absl::StatusOr<v1::Application> current = LoadForCaller(req->application_id(), *caller);
  if (!current.ok()) return ToGrpcStatus(current.status());
  if (current->handling_province() != own_) {
    return ToGrpcStatus(absl::PermissionDeniedError(absl::StrCat(
        "rule decisions-by-handling-province: ", req->application_id(),
        " is decided by officers of province ", current->handling_province(), ", not ", own_)));
  }
  if (current->has_joint()) return ToGrpcStatus(JointStepsOnly(*current, "decide"));
  // This province's guide: its limits (a 多地联办 task's: its step's) are
  // fixed on the event that starts the clocks.
  absl::StatusOr<v1::Guide> guide = d_.catalog->GetGuide(own_, current->item_code());
  if (!guide.ok() && !absl::IsNotFound(guide.status())) return ToGrpcStatus(guide.status());
  if (guide.ok()) *guide = WithStepLimits(std::move(*guide), current->filing());
  return Reply(WithClocks(Transition(*caller, req->application_id(), action, req->note(),
                                     guide.ok() ? &*guide : nullptr, req)),
               resp);
}

absl::StatusOr<v1::Escalation> ApplicationServiceImpl::Escalate(
    const Caller& caller, const v1::EscalateApplicationRequest& req) {
  absl::Status valid = ValidateText("reason", req.reason(), kMaxNoteChars, /*required=*/true);
  if (!valid.ok()) return valid;
  absl::StatusOr<v1::Application> current = LoadForCaller(req.application_id(), caller);
  if (!current.ok()) return current.status();
  const absl::Time now = d_.clock->Now();
  v1::Escalation escalation;
  absl::StatusOr<v1::Application> app = d_.applications->MutateApplication(
      req.application_id(), [&](v1::Application& app) -> absl::StatusOr<Mutation> {
        if (app.escalated()) {
          return absl::AlreadyExistsError(absl::StrCat(
              "application ", app.application_id(), " is already in the 办不成事 queue"));
        }
        app.set_escalated(true);
        *app.mutable_updated_at() = ToProto(now);
        escalation.set_application_id(app.application_id());
        escalation.set_reason(req.reason());
        escalation.set_raised_by(caller.actor());
        *escalation.mutable_raised_at() = ToProto(now);
        escalation.set_application_state(app.state());
        escalation.set_item_code(app.item_code());
        v1::ApplicationEvent e = MakeEvent(app, own_, v1::APPLICATION_ACTION_ESCALATE, app.state(),
                                           app.state(), caller.actor(), now, req.reason());
        absl::Status sealed = SealEvent(app, d_.signer, &e);
        if (!sealed.ok()) return sealed;
        Mutation mutation;
        mutation.escalation = escalation;
        mutation.outbox = EventOutbox(app, own_, e);
        mutation.events.push_back(std::move(e));
        return mutation;
      });
  if (!app.ok()) return app.status();
  OutboxWritten(*app);
  d_.metrics->Event("ESCALATE");
  d_.log->Warn("application.escalated", {{"id", req.application_id()}, {"by", caller.actor()}});
  return escalation;
}

grpc::Status ApplicationServiceImpl::EscalateApplication(grpc::ServerContext* ctx,
                                                         const v1::EscalateApplicationRequest* req,
                                                         v1::EscalateApplicationResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = d_.authz->Authorize(*ctx, Method("EscalateApplication"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<v1::Escalation> e = Escalate(*caller, *req);
  if (!e.ok()) return ToGrpcStatus(e.status());
  *resp->mutable_escalation() = std::move(*e);
  return grpc::Status::OK;
}

grpc::Status ApplicationServiceImpl::ListEscalations(grpc::ServerContext* ctx,
                                                     const v1::ListEscalationsRequest* req,
                                                     v1::ListEscalationsResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = d_.authz->Authorize(*ctx, Method("ListEscalations"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  int limit = 0;
  absl::Status s = ValidatePageSize("page_size", req->page_size(), &limit);
  if (!s.ok()) return ToGrpcStatus(s);
  const std::string list = absl::StrCat("escalations:", req->include_resolved());
  absl::StatusOr<std::string> cursor = DecodePageToken("page_token", list, req->page_token());
  if (!cursor.ok()) return ToGrpcStatus(cursor.status());
  absl::StatusOr<Page<v1::Escalation>> page =
      d_.applications->ListEscalations(req->include_resolved(), *cursor, limit);
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (auto& e : page->items) *resp->add_escalations() = std::move(e);
  if (!page->next_cursor.empty()) {
    resp->set_next_page_token(EncodePageToken(list, page->next_cursor));
  }
  return grpc::Status::OK;
}

absl::StatusOr<v1::Escalation> ApplicationServiceImpl::Resolve(
    const Caller& caller, const v1::ResolveEscalationRequest& req) {
  absl::Status valid = ValidateText("resolution", req.resolution(), kMaxNoteChars, true);
  if (!valid.ok()) return valid;
  absl::StatusOr<v1::Application> current = LoadForCaller(req.application_id(), caller);
  if (!current.ok()) return current.status();
  const absl::Time now = d_.clock->Now();
  v1::Escalation escalation;
  absl::StatusOr<v1::Application> app = d_.applications->MutateApplication(
      req.application_id(), [&](v1::Application& app) -> absl::StatusOr<Mutation> {
        if (!app.escalated()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "application ", app.application_id(), " has no open 办不成事 escalation"));
        }
        app.set_escalated(false);
        *app.mutable_updated_at() = ToProto(now);
        // The open entry's reason and origin are kept; the store upserts by application id.
        escalation.set_application_id(app.application_id());
        escalation.set_resolved(true);
        escalation.set_resolution(req.resolution());
        escalation.set_application_state(app.state());
        escalation.set_item_code(app.item_code());
        for (auto it = app.events().rbegin(); it != app.events().rend(); ++it) {
          if (it->action() == v1::APPLICATION_ACTION_ESCALATE) {
            escalation.set_reason(it->note());
            escalation.set_raised_by(it->actor());
            *escalation.mutable_raised_at() = it->at();
            break;
          }
        }
        v1::ApplicationEvent e =
            MakeEvent(app, own_, v1::APPLICATION_ACTION_RESOLVE_ESCALATION, app.state(),
                      app.state(), caller.actor(), now, req.resolution());
        absl::Status sealed = SealEvent(app, d_.signer, &e);
        if (!sealed.ok()) return sealed;
        Mutation mutation;
        mutation.escalation = escalation;
        mutation.outbox = EventOutbox(app, own_, e);
        mutation.events.push_back(std::move(e));
        return mutation;
      });
  if (!app.ok()) return app.status();
  OutboxWritten(*app);
  d_.metrics->Event("RESOLVE_ESCALATION");
  return escalation;
}

grpc::Status ApplicationServiceImpl::ResolveEscalation(grpc::ServerContext* ctx,
                                                       const v1::ResolveEscalationRequest* req,
                                                       v1::ResolveEscalationResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = d_.authz->Authorize(*ctx, Method("ResolveEscalation"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<v1::Escalation> e = Resolve(*caller, *req);
  if (!e.ok()) return ToGrpcStatus(e.status());
  *resp->mutable_escalation() = std::move(*e);
  return grpc::Status::OK;
}

}  // namespace tongban::node

namespace tongban::node {

absl::Status ApplicationServiceImpl::EscalateAsNode(const std::string& application_id,
                                                    const std::string& reason) {
  Caller node;
  node.principal.kind = Principal::Kind::kNode;
  node.principal.province = own_;
  node.principal.spiffe_id = NodeSpiffeId(own_);
  v1::EscalateApplicationRequest req;
  req.set_application_id(application_id);
  req.set_reason(reason);
  return Escalate(node, req).status();
}

grpc::Status ApplicationServiceImpl::ListOverdueApplications(
    grpc::ServerContext* ctx, const v1::ListOverdueApplicationsRequest* req,
    v1::ListOverdueApplicationsResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = d_.authz->Authorize(*ctx, Method("ListOverdueApplications"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (!v1::ClockKind_IsValid(req->clock())) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        "clock must be CLOCK_KIND_LEGAL, CLOCK_KIND_PROMISED or UNSPECIFIED (either)"));
  }
  int limit = 0;
  absl::Status s = ValidatePageSize("page_size", req->page_size(), &limit);
  if (!s.ok()) return ToGrpcStatus(s);
  const std::string list = absl::StrCat("overdue:", req->clock());
  absl::StatusOr<std::string> cursor = DecodePageToken("page_token", list, req->page_token());
  if (!cursor.ok()) return ToGrpcStatus(cursor.status());
  // Computed on demand over the open applications handled here (officers
  // ask rarely; the gauges use ClockMonitor's periodic refresh). Ordered by
  // application id, so the cursor is simply the last id of the page.
  std::vector<v1::Application> overdue;
  s = ForEachOpenHandledApplication(
      d_.applications, own_, *d_.calendar, d_.clock->Now(), [&](v1::Application& app) {
        const v1::ApplicationClocks& c = app.clocks();
        const bool legal = c.legal_overdue(), promised = c.promised_overdue();
        const bool match = req->clock() == v1::CLOCK_KIND_LEGAL      ? legal
                           : req->clock() == v1::CLOCK_KIND_PROMISED ? promised
                                                                      : legal || promised;
        if (match && app.application_id() > *cursor) {
          app.clear_events();
          overdue.push_back(std::move(app));
        }
        return absl::OkStatus();
      });
  if (!s.ok()) return ToGrpcStatus(s);
  std::sort(overdue.begin(), overdue.end(), [](const v1::Application& a, const v1::Application& b) {
    return a.application_id() < b.application_id();
  });
  const size_t n = std::min(overdue.size(), static_cast<size_t>(limit));
  for (size_t i = 0; i < n; ++i) *resp->add_applications() = std::move(overdue[i]);
  if (overdue.size() > n) {
    resp->set_next_page_token(
        EncodePageToken(list, resp->applications(static_cast<int>(n) - 1).application_id()));
  }
  return grpc::Status::OK;
}

}  // namespace tongban::node

namespace tongban::node {

absl::StatusOr<v1::Application> ApplicationServiceImpl::Rate(
    const Caller& caller, const v1::RateApplicationRequest& req) {
  absl::Status valid = ValidateRating(req.level(), req.comment());
  if (!valid.ok()) return valid;
  absl::StatusOr<v1::Application> current = LoadForCaller(req.application_id(), caller);
  if (!current.ok()) return current.status();
  // The applicant rates where they filed: the accepting province records it
  // and forwards it (docs/protocol.md, rule ratings-by-accepting-province).
  if (current->accepting_province() != own_) {
    return absl::PermissionDeniedError(absl::StrCat(
        "rule ", kRatingRule, ": ", req.application_id(), " is rated at province ",
        current->accepting_province(), " (where it was filed), not ", own_));
  }
  const absl::Time now = d_.clock->Now();
  const auto level = static_cast<v1::SatisfactionLevel>(req.level());
  absl::StatusOr<v1::Application> app = d_.applications->MutateApplication(
      req.application_id(), [&](v1::Application& app) -> absl::StatusOr<Mutation> {
        // Checked inside the transaction: two concurrent ratings, one wins.
        absl::Status ratable =
            CheckRatable(app, now, d_.rating_default_after_days, /*check_window=*/true);
        if (!ratable.ok()) return ratable;
        *app.mutable_updated_at() = ToProto(now);
        v1::ApplicationEvent e = MakeEvent(app, own_, v1::APPLICATION_ACTION_RATE, app.state(),
                                           app.state(), caller.actor(), now, req.comment());
        e.set_satisfaction(level);
        absl::Status sealed = SealEvent(app, d_.signer, &e);
        if (!sealed.ok()) return sealed;
        // Filed and handled here: this node is the handling one, so a 差评
        // opens its rectification now (a cross-province one opens when the
        // rating reaches the handling node).
        if (DecidedHere(app, own_) && IsPoorRating(level)) {
          *app.mutable_rectification() =
              OpenRectification(app, e, now, *d_.calendar, d_.rectification_working_days);
        }
        Mutation mutation;
        mutation.outbox = EventOutbox(app, own_, e);
        mutation.events.push_back(std::move(e));
        return mutation;
      });
  if (!app.ok()) return app.status();
  OutboxWritten(*app);
  d_.metrics->Event("RATE");
  d_.log->Info("application.rated", {{"id", req.application_id()},
                                     {"level", absl::StrCat(req.level())},
                                     {"by", caller.actor()}});
  return app;
}

grpc::Status ApplicationServiceImpl::RateApplication(grpc::ServerContext* ctx,
                                                     const v1::RateApplicationRequest* req,
                                                     v1::RateApplicationResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = d_.authz->Authorize(*ctx, Method("RateApplication"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  return Reply(WithClocks(Rate(*caller, *req)), resp);
}

}  // namespace tongban::node

namespace tongban::node {

absl::StatusOr<v1::Rectification> ApplicationServiceImpl::MutateRectification(
    const Caller& caller, const std::string& id,
    const std::function<absl::Status(v1::Rectification&)>& change) {
  absl::StatusOr<v1::Application> current = LoadForCaller(id, caller);
  if (!current.ok()) return current.status();
  if (current->handling_province() != own_) {
    return absl::PermissionDeniedError(absl::StrCat(
        "rule rectification-by-handling-province: the rectification of ", id,
        " is kept by province ", current->handling_province(), ", not ", own_));
  }
  const absl::Time now = d_.clock->Now();
  v1::Rectification out;
  absl::StatusOr<v1::Application> app = d_.applications->MutateApplication(
      id, [&](v1::Application& app) -> absl::StatusOr<Mutation> {
        absl::Status open = CheckRectificationOpen(app);
        if (!open.ok()) return open;
        absl::Status changed = change(*app.mutable_rectification());
        if (!changed.ok()) return changed;
        *app.mutable_updated_at() = ToProto(now);
        out = app.rectification();
        return Mutation{};
      });
  if (!app.ok()) return app.status();
  return WithOverdue(std::move(out), now);
}

grpc::Status ApplicationServiceImpl::RecordRectificationFollowUp(
    grpc::ServerContext* ctx, const v1::RecordRectificationFollowUpRequest* req,
    v1::RecordRectificationFollowUpResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = d_.authz->Authorize(*ctx, Method("RecordRectificationFollowUp"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::Status valid = ValidateText("note", req->note(), kMaxNoteChars, /*required=*/true);
  if (!valid.ok()) return ToGrpcStatus(valid);
  const absl::Time now = d_.clock->Now();
  absl::StatusOr<v1::Rectification> r = MutateRectification(
      *caller, req->application_id(), [&](v1::Rectification& rect) {
        v1::RectificationFollowUp* f = rect.add_follow_ups();
        f->set_note(req->note());
        f->set_officer(caller->actor());
        *f->mutable_at() = ToProto(now);
        return absl::OkStatus();
      });
  if (!r.ok()) return ToGrpcStatus(r.status());
  d_.log->Info("rectification.follow_up", {{"id", req->application_id()}, {"by", caller->actor()}});
  *resp->mutable_rectification() = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status ApplicationServiceImpl::CloseRectification(grpc::ServerContext* ctx,
                                                        const v1::CloseRectificationRequest* req,
                                                        v1::CloseRectificationResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = d_.authz->Authorize(*ctx, Method("CloseRectification"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::Status valid = ValidateRectificationClose(req->outcome(), req->note());
  if (!valid.ok()) return ToGrpcStatus(valid);
  const absl::Time now = d_.clock->Now();
  absl::StatusOr<v1::Rectification> r = MutateRectification(
      *caller, req->application_id(), [&](v1::Rectification& rect) {
        // 回访 first: a rectification is closed only after the applicant was
        // contacted (checked here, inside the transaction).
        if (rect.follow_ups_size() == 0) {
          return absl::FailedPreconditionError(absl::StrCat(
              "the rectification of ", req->application_id(),
              " has no 回访 yet: record a follow-up (RecordRectificationFollowUp) before "
              "closing it"));
        }
        rect.set_closed(true);
        rect.set_outcome(req->outcome());
        rect.set_outcome_note(req->note());
        rect.set_closed_by(caller->actor());
        *rect.mutable_closed_at() = ToProto(now);
        return absl::OkStatus();
      });
  if (!r.ok()) return ToGrpcStatus(r.status());
  d_.log->Info("rectification.closed",
               {{"id", req->application_id()},
                {"outcome", v1::RectificationOutcome_Name(req->outcome())},
                {"by", caller->actor()}});
  *resp->mutable_rectification() = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status ApplicationServiceImpl::ListRectifications(grpc::ServerContext* ctx,
                                                        const v1::ListRectificationsRequest* req,
                                                        v1::ListRectificationsResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = d_.authz->Authorize(*ctx, Method("ListRectifications"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  int limit = 0;
  absl::Status s = ValidatePageSize("page_size", req->page_size(), &limit);
  if (!s.ok()) return ToGrpcStatus(s);
  const std::string list = absl::StrCat("rectifications:", req->overdue_only());
  absl::StatusOr<std::string> cursor = DecodePageToken("page_token", list, req->page_token());
  if (!cursor.ok()) return ToGrpcStatus(cursor.status());
  const absl::Time now = d_.clock->Now();
  absl::StatusOr<Page<v1::Application>> page = d_.applications->ListOpenRectifications(
      req->overdue_only() ? now : absl::InfiniteFuture(), *cursor, limit);
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (const v1::Application& a : page->items) {
    *resp->add_rectifications() = WithOverdue(a.rectification(), now);
  }
  if (!page->next_cursor.empty()) {
    resp->set_next_page_token(EncodePageToken(list, page->next_cursor));
  }
  return grpc::Status::OK;
}

grpc::Status ApplicationServiceImpl::GetRatingStats(grpc::ServerContext* ctx,
                                                    const v1::GetRatingStatsRequest* req,
                                                    v1::GetRatingStatsResponse* resp) {
  const ScopedRequestId request_id(RequestIdOfCall(ctx->client_metadata()));
  absl::StatusOr<Caller> caller = d_.authz->Authorize(*ctx, Method("GetRatingStats"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  // Timestamps outside about 1685..2255 are refused before any conversion
  // (their nanoseconds would not fit an int64).
  auto valid_time = [](const google::protobuf::Timestamp& t) {
    return t.seconds() >= -9000000000LL && t.seconds() <= 9000000000LL && t.nanos() >= 0 &&
           t.nanos() < 1000000000;
  };
  if (!req->has_from() || !req->has_to() || !valid_time(req->from()) || !valid_time(req->to()) ||
      FromProto(req->to()) <= FromProto(req->from())) {
    return ToGrpcStatus(
        absl::InvalidArgumentError("from and to are required, with from before to"));
  }
  if (!req->item_code().empty()) {
    absl::Status s = ValidateItemCode("item_code", req->item_code());
    if (!s.ok()) return ToGrpcStatus(s);
  }
  const absl::Time from = FromProto(req->from()), to = FromProto(req->to());
  const absl::Time now = d_.clock->Now();
  // Counted where the application is handled, so a federation-wide sum
  // counts each application once. A scan of the finished applications
  // (reports are rare; docs/ratings.md names the cost).
  std::map<std::string, v1::RatingCounts> items;
  v1::RatingCounts total;
  for (v1::ApplicationState state : {v1::APPLICATION_STATE_APPROVED, v1::APPLICATION_STATE_DENIED}) {
    std::string cursor;
    do {
      absl::StatusOr<Page<v1::Application>> page = d_.applications->ListByState(state, cursor, 200);
      if (!page.ok()) return ToGrpcStatus(page.status());
      for (const v1::Application& listed : page->items) {
        if (listed.handling_province() != own_) continue;
        if (!req->item_code().empty() && listed.item_code() != req->item_code()) continue;
        absl::StatusOr<v1::Application> app =
            d_.applications->GetApplication(listed.application_id(), /*with_events=*/true);
        if (absl::IsNotFound(app.status())) continue;
        if (!app.ok()) return ToGrpcStatus(app.status());
        std::optional<absl::Time> finished = FinishedAt(*app);
        if (!finished.has_value() || *finished < from || *finished >= to) continue;
        const v1::ApplicationRating rating = DeriveRating(*app, now, d_.rating_default_after_days);
        CountRating(rating, &total);
        CountRating(rating, &items[app->item_code()]);
      }
      cursor = page->next_cursor;
    } while (!cursor.empty());
  }
  resp->set_province_code(own_);
  FinishRatingCounts(&total);
  *resp->mutable_total() = std::move(total);
  for (auto& [code, counts] : items) {
    v1::ItemRatingStats* item = resp->add_items();
    item->set_item_code(code);
    *item->mutable_counts() = std::move(counts);
  }
  return grpc::Status::OK;
}

}  // namespace tongban::node
