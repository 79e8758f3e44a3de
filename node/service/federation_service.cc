#include "federation_service.h"

#include <optional>
#include <set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "application_id.h"
#include "google/protobuf/util/time_util.h"
#include "grpc_status.h"
#include "input_validation.h"
#include "record_signing.h"
#include "resident_id.h"
#include "service/application_clocks.h"
#include "service/application_events.h"
#include "service/application_ratings.h"
#include "service/application_request_validation.h"
#include "service/application_state_machine.h"
#include "service/callback_reply.h"
#include "service/federation_authority.h"
#include "service/guide_precheck.h"
#include "service/joint_procedure.h"
#include "service/licence_materials.h"
#include "service/rectifications.h"

namespace tongban::node {
namespace {

std::string Method(const char* name) {
  return absl::StrCat("/tongban.v1.FederationService/", name);
}

}  // namespace

FederationServiceImpl::FederationServiceImpl(const AuthzPolicy* authz,
                                             ApplicationStore* applications,
                                             CatalogStore* catalog, const Clock* clock,
                                             NodeMetrics* metrics, EventLog* log,
                                             std::string node_identity,
                                             signing::RecordSigner* signer,
                                             const signing::RecordVerifier* verifier,
                                             const WorkingDayCalendar* calendar)
    : authz_(authz),
      applications_(applications),
      catalog_(catalog),
      clock_(clock),
      metrics_(metrics),
      log_(log),
      own_(authz->own_province()),
      node_identity_(std::move(node_identity)),
      signer_(signer),
      verifier_(verifier),
      calendar_(calendar) {}

namespace {

// The role the origin province holds on an application, or PERMISSION_DENIED
// when it is neither party (it may say nothing about it).
absl::StatusOr<FederationRole> RoleOf(const std::string& origin, const ApplicationIdParts& id,
                                      const std::string& application_id) {
  if (origin == id.accepting_province) return FederationRole::kAccepting;
  if (origin == id.handling_province) return FederationRole::kHandling;
  return absl::PermissionDeniedError(absl::StrCat(
      "rule origin-must-match: origin province ", origin, " is not a party to ", application_id,
      " (accepted by ", id.accepting_province, ", handled by ", id.handling_province, ")"));
}

absl::Status ValidateEnums(const v1::ApplicationEvent& e, const std::string& field) {
  if (!v1::ApplicationState_IsValid(e.state_before())) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".state_before ", e.state_before(),
                                                   " is not a known application state"));
  }
  if (!v1::ApplicationState_IsValid(e.state_after())) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".state_after ", e.state_after(),
                                                   " is not a known application state"));
  }
  if (!v1::ApplicationAction_IsValid(e.action())) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".action ", e.action(), " is not a known application action"));
  }
  if (!v1::SpecialProcedureKind_IsValid(e.special_procedure())) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".special_procedure ", e.special_procedure(), " is not a known procedure kind"));
  }
  if (!v1::SatisfactionLevel_IsValid(e.satisfaction())) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".satisfaction ", e.satisfaction(), " is not a known satisfaction level"));
  }
  return absl::OkStatus();
}

// Fields of an event authored elsewhere, before anything is believed.
absl::Status ValidateEventFields(const v1::ApplicationEvent& e, const std::string& author,
                                 const std::string& field) {
  absl::Status s = ValidateEnums(e, field);
  if (!s.ok()) return s;
  absl::string_view n = e.event_id();
  int number = 0;
  if (!absl::ConsumePrefix(&n, author + "-") || n.empty() || n.size() > 6 || n[0] == '0' ||
      !absl::SimpleAtoi(n, &number) || number <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".event_id \"", e.event_id().substr(0, 40), "\" must be \"", author,
        "-<n>\" (n counting the events ", author, " authored)"));
  }
  if (e.province_code() != author) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".province_code must be ", author));
  }
  if (!e.has_at()) return absl::InvalidArgumentError(absl::StrCat(field, ".at is required"));
  s = ValidateText(absl::StrCat(field, ".note"), e.note(), kMaxNoteChars, false);
  if (s.ok()) s = ValidateText(absl::StrCat(field, ".actor"), e.actor(), 200, false);
  if (s.ok()) s = ValidateSuppliedMaterials(absl::StrCat(field, ".materials"), e.materials(), false);
  if (s.ok() && e.material_ids_size() > 100) {
    s = absl::InvalidArgumentError(absl::StrCat(field, ".material_ids holds at most 100 ids"));
  }
  // Time-limit fields: the clocks ignore values outside the rules anyway
  // (application_clocks.h); malformed ones are refused here, never stored.
  if (s.ok() && (e.time_limits().legal_days() < 0 || e.time_limits().promised_days() < 0 ||
                 e.time_limits().legal_days() > 3650 || e.time_limits().promised_days() > 3650)) {
    s = absl::InvalidArgumentError(
        absl::StrCat(field, ".time_limits days must be 0 to 3650 working days"));
  }
  const bool starts = e.action() == v1::APPLICATION_ACTION_START_SPECIAL_PROCEDURE;
  if (s.ok() && starts != (e.special_procedure() != v1::SPECIAL_PROCEDURE_KIND_UNSPECIFIED)) {
    s = absl::InvalidArgumentError(absl::StrCat(
        field, ".special_procedure is required for START_SPECIAL_PROCEDURE and only there"));
  }
  const bool extends = e.action() == v1::APPLICATION_ACTION_EXTEND_TIME_LIMIT;
  if (s.ok() && (extends ? e.extension_days() < 1 || e.extension_days() > kMaxExtensionDays
                         : e.extension_days() != 0)) {
    s = absl::InvalidArgumentError(absl::StrCat(
        field, ".extension_days must be 1 to ", kMaxExtensionDays,
        " for EXTEND_TIME_LIMIT and 0 otherwise"));
  }
  const bool rates = e.action() == v1::APPLICATION_ACTION_RATE;
  if (s.ok() && (rates ? !IsKnownLevel(e.satisfaction())
                       : e.satisfaction() != v1::SATISFACTION_LEVEL_UNSPECIFIED)) {
    s = absl::InvalidArgumentError(
        absl::StrCat(field, ".satisfaction must be 1 to 5 for RATE and unset otherwise"));
  }
  if (s.ok() && e.has_joint_step()) {
    s = absl::InvalidArgumentError(absl::StrCat(
        field, ".joint_step: JOINT_STEP records stay at the accepting node and never travel"));
  }
  if (s.ok() && rates && e.state_before() != e.state_after()) {
    s = absl::InvalidArgumentError(absl::StrCat(field, ": RATE does not change the state"));
  }
  return s;
}

// A handling-province event mirrored at the accepting node must describe a
// legal step of the state machine: a garbage state is refused, not stored.
absl::Status CheckMirroredTransition(const v1::ApplicationEvent& e) {
  const v1::ApplicationState before = e.state_before(), after = e.state_after();
  if (after == v1::APPLICATION_STATE_UNSPECIFIED) {
    return absl::InvalidArgumentError("event.state_after is required");
  }
  if (e.action() == v1::APPLICATION_ACTION_DELIVER) {
    if (after == v1::APPLICATION_STATE_RECEIVED ||
        after == v1::APPLICATION_STATE_PENDING_SUPPLEMENT || after == before) {
      return absl::OkStatus();
    }
  } else if (after == before) {
    return absl::OkStatus();  // an action recorded without effect
  } else {
    absl::StatusOr<v1::ApplicationState> next = NextState(before, e.action());
    if (next.ok() && (*next == after || (e.action() == v1::APPLICATION_ACTION_SUPPLEMENT &&
                                          SupplementOutcome(before, true) == after))) {
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "event ", e.event_id(), ": ", ActionName(e.action()), " cannot take an application from ",
      StateName(before), " to ", StateName(after)));
}

void AddOrReplaceMaterials(const google::protobuf::RepeatedPtrField<v1::SuppliedMaterial>& added,
                           v1::Application* app) {
  for (const auto& m : added) {
    bool replaced = false;
    for (auto& have : *app->mutable_materials()) {
      if (have.material_id() == m.material_id()) have = m, replaced = true;
    }
    if (!replaced) *app->add_materials() = m;
  }
  google::protobuf::RepeatedPtrField<std::string> still;
  for (const std::string& missing : app->missing_material_ids()) {
    bool now_supplied = false;
    for (const auto& m : added) now_supplied |= m.material_id() == missing;
    if (!now_supplied) *still.Add() = missing;
  }
  app->mutable_missing_material_ids()->Swap(&still);
}

}  // namespace

absl::Status FederationServiceImpl::Deliver(const Caller& caller, const v1::Application& app,
                                            v1::DeliverApplicationResponse* resp) {
  absl::StatusOr<ApplicationIdParts> id = ParseApplicationId(app.application_id(),
                                                             "application.application_id");
  if (!id.ok()) return id.status();
  if (id->accepting_province != app.accepting_province() ||
      id->handling_province != app.handling_province()) {
    return absl::InvalidArgumentError(
        "application.accepting_province / handling_province disagree with application_id");
  }
  if (app.handling_province() != own_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this node serves province ", own_, "; application ", app.application_id(),
        " is handled by ", app.handling_province()));
  }
  absl::StatusOr<FederationRole> role = RoleOf(caller.origin_province, *id, app.application_id());
  if (!role.ok()) return role.status();
  absl::StatusOr<const AuthorityRule*> rule =
      FindAuthority("DeliverApplication", v1::APPLICATION_ACTION_UNSPECIFIED, *role);
  if (!rule.ok()) return rule.status();

  // Only the filing and the accepting node's signed SUBMIT event are read;
  // everything else the handling node derives itself.
  const v1::ApplicationFiling& filing = app.filing();
  if (!app.has_filing() || filing.application_id() != app.application_id() ||
      filing.accepting_province() != id->accepting_province ||
      filing.handling_province() != id->handling_province) {
    return absl::InvalidArgumentError(
        "application.filing is required and must name the application's id and provinces");
  }
  absl::Status s = ValidateItemCode("application.filing.item_code", filing.item_code());
  if (s.ok()) s = ValidateApplicant("application.filing.applicant", filing.applicant());
  if (s.ok()) {
    s = ValidateSuppliedMaterials("application.filing.materials", filing.materials(), false,
                                  /*licences_allowed=*/true);
  }
  if (s.ok() && !filing.has_filed_at()) {
    s = absl::InvalidArgumentError("application.filing.filed_at is required");
  }
  if (s.ok() && filing.joint_roles_size() > 0) {
    s = absl::InvalidArgumentError(
        "application.filing.joint_roles: a 多地联办 application stays at its accepting province; "
        "only its tasks are delivered");
  }
  if (s.ok() && app.events_size() == 0) {
    s = absl::InvalidArgumentError("application.events must start with the signed SUBMIT event");
  }
  if (!s.ok()) return s;
  const v1::ApplicationEvent& submit = app.events(0);
  s = ValidateEventFields(submit, id->accepting_province, "application.events[0]");
  if (s.ok() && (submit.action() != v1::APPLICATION_ACTION_SUBMIT ||
                 submit.event_id() != id->accepting_province + "-1")) {
    s = absl::InvalidArgumentError(absl::StrCat("application.events[0] must be the SUBMIT event ",
                                                id->accepting_province, "-1"));
  }
  if (s.ok() && submit.previous_hash() != signing::FilingHash(filing)) {
    s = absl::InvalidArgumentError(
        "application.events[0].previous_hash does not match the filing: the filing was altered");
  }
  if (!s.ok()) return s;
  const absl::Time now = clock_->Now();
  s = verifier_->VerifyEvent(app.application_id(), submit, now, signing::VerifyMode::kReceiving);
  if (!s.ok()) return s;

  absl::StatusOr<v1::Guide> guide = catalog_->GetGuide(own_, filing.item_code());
  if (absl::IsNotFound(guide.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "item ", filing.item_code(), " is not in the catalog of province ", own_,
        ": add it (or fix the accepting province's item code), then replay the delivery"));
  }
  if (!guide.ok()) return guide.status();
  if (filing.has_joint_task()) {
    s = CheckDeliveredTask(filing, *guide);
    if (!s.ok()) return s;
  }
  // 免证办: a licence stands for a material only if its issuer signed it,
  // the applicant holds it, it is valid, and this province's own guide takes
  // its type for that material; the accepting node's word is not enough.
  // Validity is judged at filing time: a delivery retried for days must not
  // turn a licence valid at acceptance into a refusal.
  s = CheckFiledLicences("application.filing.materials", filing.materials(), *guide,
                         filing.applicant().id_number(), *verifier_,
                         absl::FromUnixSeconds(filing.filed_at().seconds()));
  if (!s.ok()) return s;

  // Re-run the pre-check against this province's own guide; ids the guide
  // does not know are kept and named for the officer, not trusted.
  std::set<std::string> known, unknown;
  for (const auto& m : filing.materials()) {
    bool in_guide = false;
    for (const auto& r : guide->materials()) in_guide |= r.material_id() == m.material_id();
    (in_guide ? known : unknown).insert(m.material_id());
  }
  absl::StatusOr<PrecheckResult> check = Precheck(*guide, known, "application.filing.materials");
  if (!check.ok()) return check.status();
  std::vector<std::string> notes;
  if (check->outcome == v1::PRECHECK_OUTCOME_REFUSE) {
    notes.push_back(absl::StrCat("pre-check at ", own_, ": key materials missing: ",
                                 DescribeMaterials(check->missing_key),
                                 "; the officer decides (REJECT or REQUEST_MATERIALS)"));
  }
  if (!unknown.empty()) {
    notes.push_back(absl::StrCat("materials not in ", own_, "'s guide: ",
                                 absl::StrJoin(unknown, ", ")));
  }

  v1::Application incoming;
  incoming.set_application_id(app.application_id());
  incoming.set_accepting_province(id->accepting_province);
  incoming.set_handling_province(own_);
  incoming.set_item_code(filing.item_code());
  incoming.set_item_name_zh(guide->item().name_zh());
  *incoming.mutable_applicant() = filing.applicant();
  *incoming.mutable_materials() = filing.materials();
  const bool deficient = check->outcome == v1::PRECHECK_OUTCOME_ACCEPT_WITH_DEFICIENCY;
  for (const auto& m : check->missing_deferred) incoming.add_missing_material_ids(m.material_id());
  incoming.set_state(deficient ? v1::APPLICATION_STATE_PENDING_SUPPLEMENT
                               : v1::APPLICATION_STATE_RECEIVED);
  if (deficient) {
    *incoming.mutable_supplement_deadline() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
        absl::ToUnixNanos(SupplementDeadline(*calendar_, now, check->supplement_days)));
  }
  incoming.set_guide_version(guide->version());
  *incoming.mutable_created_at() = filing.filed_at();
  incoming.set_forwarding(v1::FORWARDING_STATE_DELIVERED);
  *incoming.mutable_filing() = filing;
  *incoming.add_events() = submit;

  v1::ApplicationEvent delivered;
  absl::StatusOr<InsertResult> inserted = applications_->InsertForeignApplication(
      incoming, [&](v1::Application& stored) -> absl::StatusOr<Mutation> {
        delivered = MakeEvent(stored, own_, v1::APPLICATION_ACTION_DELIVER,
                              v1::APPLICATION_STATE_UNSPECIFIED, stored.state(), node_identity_,
                              now, absl::StrJoin(notes, "; "));
        // 容缺受理 here starts the clocks against this province's guide
        // (a 多地联办 task's: against its step).
        StampTimeLimits(stored, WithStepLimits(*guide, filing), &delivered);
        absl::Status sealed = SealEvent(stored, signer_, &delivered);
        if (!sealed.ok()) return sealed;
        *stored.mutable_updated_at() =
            google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
        Mutation m;
        m.outbox = EventOutbox(stored, own_, delivered);
        m.events.push_back(delivered);
        return m;
      });
  if (!inserted.ok()) return inserted.status();
  if (inserted->already_present &&
      signing::FilingHash(inserted->application.filing()) != signing::FilingHash(filing)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a different filing of ", app.application_id(),
        " is already stored here: the accepting province sent two filings under one id"));
  }
  if (!inserted->already_present && on_outbox_written_) on_outbox_written_();
  resp->set_already_delivered(inserted->already_present);
  if (inserted->already_present) {
    for (const auto& e : inserted->application.events()) {
      if (e.action() == v1::APPLICATION_ACTION_DELIVER && e.province_code() == own_) {
        *resp->mutable_delivered_event() = e;
      }
    }
  } else {
    *resp->mutable_delivered_event() = delivered;
  }
  metrics_->Received("application", inserted->already_present);
  log_->Info("federation.application_received",
             {{"id", app.application_id()},
              {"from", caller.origin_province},
              {"state", StateName(inserted->application.state())},
              {"duplicate", inserted->already_present ? "true" : "false"}});
  return absl::OkStatus();
}

grpc::Status FederationServiceImpl::DeliverApplication(grpc::ServerContext* ctx,
                                                       const v1::DeliverApplicationRequest* req,
                                                       v1::DeliverApplicationResponse* resp) {
  absl::StatusOr<Caller> caller = authz_->Authorize(*ctx, Method("DeliverApplication"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (!req->has_application()) {
    return ToGrpcStatus(absl::InvalidArgumentError("application is required"));
  }
  return ToGrpcStatus(Deliver(*caller, req->application(), resp));
}

absl::Status FederationServiceImpl::ApplyEvent(const Caller& caller,
                                               const v1::DeliverEventRequest& req,
                                               bool* duplicate) {
  absl::StatusOr<ApplicationIdParts> id = ParseApplicationId(req.application_id());
  if (!id.ok()) return id.status();
  if (id->accepting_province != own_ && id->handling_province != own_) {
    return absl::FailedPreconditionError(absl::StrCat("this node serves province ", own_,
                                                      "; application ", req.application_id(),
                                                      " is not accepted or handled here"));
  }
  if (id->accepting_province == id->handling_province) {
    return absl::InvalidArgumentError(absl::StrCat(
        "application ", req.application_id(), " is not a cross-province application"));
  }
  const std::string other =
      id->accepting_province == own_ ? id->handling_province : id->accepting_province;
  const v1::ApplicationEvent& event = req.event();
  if (caller.origin_province != other || event.province_code() != other ||
      !absl::StartsWith(event.event_id(), other + "-")) {
    return absl::PermissionDeniedError(absl::StrCat(
        "rule origin-must-match: events of ", req.application_id(),
        " arriving here must come from province ", other, " (origin ", caller.origin_province,
        ", event province ", event.province_code(), ", event_id ", event.event_id(), ")"));
  }
  absl::Status s = ValidateEnums(event, "event");
  if (!s.ok()) return s;
  const FederationRole author = other == id->accepting_province ? FederationRole::kAccepting
                                                                 : FederationRole::kHandling;
  absl::StatusOr<const AuthorityRule*> rule = FindAuthority("DeliverEvent", event.action(), author);
  if (!rule.ok()) return rule.status();
  const AuthorityEffect effect = (*rule)->effect;
  s = ValidateEventFields(event, other, "event");
  if (s.ok() && effect == AuthorityEffect::kMirrorHandlingState) s = CheckMirroredTransition(event);
  if (!s.ok()) return s;
  const absl::Time now = clock_->Now();
  s = verifier_->VerifyEvent(req.application_id(), event, now, signing::VerifyMode::kReceiving);
  if (!s.ok()) return s;

  // An applicant's action may complete a pre-acceptance 补正 here, which
  // starts the clocks against this province's guide (read before the write
  // transaction).
  std::optional<v1::Guide> own_guide;
  if (effect == AuthorityEffect::kApplyApplicantAction) {
    absl::StatusOr<v1::Application> current =
        applications_->GetApplication(req.application_id(), /*with_events=*/false);
    if (current.ok()) {
      absl::StatusOr<v1::Guide> g = catalog_->GetGuide(own_, current->item_code());
      if (g.ok()) {
        own_guide = WithStepLimits(std::move(*g), current->filing());
      } else if (!absl::IsNotFound(g.status())) {
        return g.status();
      }
    }
  }
  v1::ApplicationEvent result;  // the handling node's own record of an applicant action
  absl::StatusOr<v1::Application> stored = applications_->MutateApplication(
      req.application_id(), [&](v1::Application& app) -> absl::StatusOr<Mutation> {
        Mutation m;
        for (const auto& e : app.events()) {
          if (e.event_id() != event.event_id()) continue;
          if (signing::EventChainHash(e) != signing::EventChainHash(event)) {
            return absl::InvalidArgumentError(absl::StrCat(
                "event ", event.event_id(), " of ", req.application_id(),
                " was already delivered with different content"));
          }
          *duplicate = true;
          return m;  // already applied: a retried delivery
        }
        absl::Status linked = signing::CheckChainLink(app.filing(), app.events(), event);
        if (!linked.ok()) return linked;
        m.events.push_back(event);  // stored as its author signed it
        switch (effect) {
          case AuthorityEffect::kApplyApplicantAction: {
            // The handling province decides: the action is re-checked
            // against the state here and the outcome is this node's event.
            const v1::ApplicationState before = app.state();
            absl::StatusOr<v1::ApplicationState> next = NextState(before, event.action());
            std::string note;
            if (next.ok()) {
              if (event.action() == v1::APPLICATION_ACTION_SUPPLEMENT) {
                AddOrReplaceMaterials(event.materials(), &app);
                app.set_state(SupplementOutcome(before, app.missing_material_ids_size() > 0));
              } else {
                app.set_state(*next);
              }
              if (app.state() != v1::APPLICATION_STATE_PENDING_SUPPLEMENT) {
                app.clear_supplement_deadline();
              }
              note = absl::StrCat("applied ", event.event_id(), " from the accepting window");
            } else {
              note = absl::StrCat("not applied ", event.event_id(), ": ", next.status().message());
            }
            v1::Application before_result = app;
            *before_result.add_events() = event;
            result = MakeEvent(before_result, own_, event.action(), before, app.state(),
                               node_identity_, now, note);
            if (own_guide.has_value()) StampTimeLimits(before_result, *own_guide, &result);
            absl::Status sealed = SealEvent(before_result, signer_, &result);
            if (!sealed.ok()) return sealed;
            m.outbox = EventOutbox(app, own_, result);
            m.events.push_back(result);
            break;
          }
          case AuthorityEffect::kMirrorHandlingState:
            if (event.action() == v1::APPLICATION_ACTION_DELIVER) {
              app.set_forwarding(v1::FORWARDING_STATE_DELIVERED);
            }
            AddOrReplaceMaterials(event.materials(), &app);
            app.set_state(event.state_after());
            if (app.state() != v1::APPLICATION_STATE_PENDING_SUPPLEMENT) {
              app.clear_supplement_deadline();
              app.clear_missing_material_ids();
            }
            break;
          case AuthorityEffect::kRecordRating: {
            // Re-checked against this node's own copy (its own state, its
            // own history); the accepting province's window applies, not ours.
            absl::Status ratable = CheckRatable(app, now, 0, /*check_window=*/false);
            if (!ratable.ok()) {
              return absl::FailedPreconditionError(absl::StrCat(
                  "rule ", kRatingRule, ": event ", event.event_id(), " refused: ",
                  absl::StripPrefix(ratable.message(),
                                    absl::StrCat("rule ", kRatingRule, ": "))));
            }
            // A 差评 opens the rectification here, in the same transaction
            // that stores the rating; the deadline counts from its arrival.
            if (IsPoorRating(event.satisfaction())) {
              *app.mutable_rectification() = OpenRectification(
                  app, event, now, *calendar_, rectification_working_days_);
            }
            break;
          }
          case AuthorityEffect::kFlagEscalation:
            app.set_escalated(event.action() == v1::APPLICATION_ACTION_ESCALATE);
            break;
          case AuthorityEffect::kStoreFiling:
            return absl::InternalError("DeliverEvent cannot store a filing");
        }
        *app.mutable_updated_at() = event.at();
        return m;
      });
  if (absl::IsNotFound(stored.status())) {
    return absl::NotFoundError(absl::StrCat("application ", req.application_id(),
                                            " is not known at province ", own_,
                                            " (deliver the application before its events)"));
  }
  if (stored.ok() && !result.event_id().empty() && on_outbox_written_) on_outbox_written_();
  if (stored.ok() && !*duplicate && on_application_changed_) on_application_changed_(*stored);
  return stored.status();
}

grpc::Status FederationServiceImpl::DeliverEvent(grpc::ServerContext* ctx,
                                                 const v1::DeliverEventRequest* req,
                                                 v1::DeliverEventResponse* resp) {
  absl::StatusOr<Caller> caller = authz_->Authorize(*ctx, Method("DeliverEvent"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (!req->has_event()) return ToGrpcStatus(absl::InvalidArgumentError("event is required"));
  bool duplicate = false;
  absl::Status s = ApplyEvent(*caller, *req, &duplicate);
  if (!s.ok()) return ToGrpcStatus(s);
  resp->set_already_delivered(duplicate);
  metrics_->Received("event", duplicate);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* FederationServiceImpl::FetchGuide(grpc::CallbackServerContext* ctx,
                                                            const grpc::ByteBuffer* request,
                                                            grpc::ByteBuffer* response) {
  return AnswerWithKeptBytes<v1::FetchGuideRequest>(
      ctx, request, response, Method("FetchGuide"),
      [this, ctx](const v1::FetchGuideRequest& req, std::shared_ptr<const std::string>* answer) {
        return FetchGuideNow(*ctx, req, answer);
      });
}

grpc::Status FederationServiceImpl::FetchGuideNow(const grpc::ServerContextBase& ctx,
                                                  const v1::FetchGuideRequest& req,
                                                  std::shared_ptr<const std::string>* answer) {
  absl::StatusOr<Caller> caller = authz_->Authorize(ctx, Method("FetchGuide"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::Status s = ValidateProvinceCode("province_code", req.province_code());
  if (s.ok()) s = ValidateItemCode("item_code", req.item_code());
  if (!s.ok()) return ToGrpcStatus(s);
  if (req.province_code() != own_) {
    return ToGrpcStatus(absl::FailedPreconditionError(absl::StrCat(
        "this node serves province ", own_, ", not ", req.province_code())));
  }
  OwnGuideAnswer kept;
  if (guide_answers_) {
    absl::StatusOr<OwnGuideAnswer> from_memory = guide_answers_(req.item_code());
    if (!from_memory.ok()) return ToGrpcStatus(from_memory.status());
    kept = *std::move(from_memory);
  } else {
    absl::StatusOr<v1::Guide> guide = catalog_->GetGuide(own_, req.item_code());
    if (absl::IsNotFound(guide.status())) {
      return ToGrpcStatus(absl::NotFoundError(absl::StrCat(
          "item ", req.item_code(), " is not in the catalog of province ", own_)));
    }
    if (!guide.ok()) return ToGrpcStatus(guide.status());
    kept.version = guide->version();
    v1::FetchGuideResponse full;
    *full.mutable_guide() = *std::move(guide);
    kept.bytes = std::make_shared<const std::string>(full.SerializeAsString());
  }
  if (req.cached_version() == kept.version) {
    static const auto* const kNotModified = [] {
      v1::FetchGuideResponse r;
      r.set_not_modified(true);
      return new std::shared_ptr<const std::string>(
          std::make_shared<const std::string>(r.SerializeAsString()));
    }();
    *answer = *kNotModified;
  } else {
    *answer = std::move(kept.bytes);
  }
  return grpc::Status::OK;
}

}  // namespace tongban::node

namespace tongban::node {

absl::StatusOr<LicenceQuestion> FederationServiceImpl::CheckQuestion(
    const grpc::ServerContextBase& ctx, const v1::CheckLicenceRequest& req) {
  absl::StatusOr<Caller> caller = authz_->Authorize(ctx, Method("CheckLicence"));
  if (!caller.ok()) return caller.status();
  if (absl::Status s = ValidateProvinceCode("issuing_province", req.issuing_province()); !s.ok()) {
    return s;
  }
  if (req.issuing_province() != own_) {
    return absl::FailedPreconditionError(
        absl::StrCat("this node serves province ", own_, ", not ", req.issuing_province()));
  }
  if (licences_ == nullptr) return absl::UnavailableError("this node keeps no licence register");
  if (absl::Status s = ValidateText("requester", req.requester(), 200, true); !s.ok()) return s;
  LicenceQuestion question{req.type_code(), req.number(),         req.holder_id(),
                           req.purpose(),   req.application_id(), caller->origin_province,
                           req.requester()};
  if (absl::Status s = ValidateLicenceQuestion(question, licences_->types()); !s.ok()) return s;
  return question;
}

grpc::ServerUnaryReactor* FederationServiceImpl::CheckLicence(grpc::CallbackServerContext* ctx,
                                                              const v1::CheckLicenceRequest* req,
                                                              v1::VerifyLicenceResponse* resp) {
  absl::StatusOr<LicenceQuestion> question = CheckQuestion(*ctx, *req);
  if (!question.ok()) return Refuse(ctx, question.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  licences_->CheckAsync(*question, FinishWith(reactor, resp));
  return reactor;
}

grpc::Status FederationServiceImpl::CheckLicenceNow(const grpc::ServerContextBase& ctx,
                                                    const v1::CheckLicenceRequest& req,
                                                    v1::VerifyLicenceResponse* resp) {
  absl::StatusOr<LicenceQuestion> question = CheckQuestion(ctx, req);
  if (!question.ok()) return ToGrpcStatus(question.status());
  return Answered(licences_->Check(*question), resp);
}

absl::StatusOr<LicenceFetch> FederationServiceImpl::PreviewFetch(
    const grpc::ServerContextBase& ctx, const v1::FetchLicencePreviewRequest& req) {
  absl::StatusOr<Caller> caller = authz_->Authorize(ctx, Method("FetchLicencePreview"));
  if (!caller.ok()) return caller.status();
  if (req.issuing_province() != own_) {
    return absl::FailedPreconditionError(
        absl::StrCat("this node serves province ", own_, ", not ", Shown(req.issuing_province())));
  }
  if (licences_ == nullptr) return absl::UnavailableError("this node keeps no licence register");
  if (absl::Status s = ValidateText("requester", req.requester(), 200, true); !s.ok()) return s;
  LicenceFetch fetch{req.type_code(), req.holder_id(), req.use(), caller->origin_province,
                     req.requester()};
  if (absl::Status s = ValidateLicenceFetch(fetch, licences_->types()); !s.ok()) return s;
  return fetch;
}

grpc::ServerUnaryReactor* FederationServiceImpl::FetchLicencePreview(
    grpc::CallbackServerContext* ctx, const v1::FetchLicencePreviewRequest* req,
    v1::PreviewLicenceResponse* resp) {
  absl::StatusOr<LicenceFetch> fetch = PreviewFetch(*ctx, *req);
  if (!fetch.ok()) return Refuse(ctx, fetch.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  licences_->PreviewAsync(*fetch, FinishWith(reactor, resp));
  return reactor;
}

grpc::Status FederationServiceImpl::FetchLicencePreviewNow(
    const grpc::ServerContextBase& ctx, const v1::FetchLicencePreviewRequest& req,
    v1::PreviewLicenceResponse* resp) {
  absl::StatusOr<LicenceFetch> fetch = PreviewFetch(ctx, req);
  if (!fetch.ok()) return ToGrpcStatus(fetch.status());
  return Answered(licences_->Preview(*fetch), resp);
}

absl::StatusOr<std::string> FederationServiceImpl::ReleaseOrigin(
    const grpc::ServerContextBase& ctx, const v1::ReleaseLicenceRequest& req) {
  absl::StatusOr<Caller> caller = authz_->Authorize(ctx, Method("ReleaseLicence"));
  if (!caller.ok()) return caller.status();
  if (req.issuing_province() != own_ || req.grant().issuing_province() != own_) {
    return absl::FailedPreconditionError(absl::StrCat("this node serves province ", own_,
                                                      "; the grant is of ",
                                                      Shown(req.grant().issuing_province())));
  }
  if (licences_ == nullptr) return absl::UnavailableError("this node keeps no licence register");
  if (absl::Status s = ValidateText("requester", req.requester(), 200, true); !s.ok()) return s;
  return caller->origin_province;
}

grpc::ServerUnaryReactor* FederationServiceImpl::ReleaseLicence(
    grpc::CallbackServerContext* ctx, const v1::ReleaseLicenceRequest* req,
    v1::ConfirmLicenceResponse* resp) {
  absl::StatusOr<std::string> origin = ReleaseOrigin(*ctx, *req);
  if (!origin.ok()) return Refuse(ctx, origin.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  licences_->ReleaseAsync(req->grant(), req->confirm(), *origin, req->requester(),
                          FinishWith(reactor, resp));
  return reactor;
}

grpc::Status FederationServiceImpl::ReleaseLicenceNow(const grpc::ServerContextBase& ctx,
                                                      const v1::ReleaseLicenceRequest& req,
                                                      v1::ConfirmLicenceResponse* resp) {
  absl::StatusOr<std::string> origin = ReleaseOrigin(ctx, req);
  if (!origin.ok()) return ToGrpcStatus(origin.status());
  return Answered(licences_->Release(req.grant(), req.confirm(), *origin, req.requester()), resp);
}

}  // namespace tongban::node
