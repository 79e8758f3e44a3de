#include "federation_service.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "application_id.h"
#include "google/protobuf/util/time_util.h"
#include "grpc_status.h"
#include "input_validation.h"
#include "resident_id.h"
#include "service/application_events.h"
#include "service/application_request_validation.h"
#include "service/application_state_machine.h"

namespace tongban::node {
namespace {

std::string Method(const char* name) {
  return absl::StrCat("/tongban.v1.FederationService/", name);
}

bool IsApplicantAction(v1::ApplicationAction a) {
  return a == v1::APPLICATION_ACTION_SUPPLEMENT || a == v1::APPLICATION_ACTION_WITHDRAW;
}

}  // namespace

FederationServiceImpl::FederationServiceImpl(const AuthzPolicy* authz,
                                             ApplicationStore* applications,
                                             CatalogStore* catalog, const Clock* clock,
                                             NodeMetrics* metrics, EventLog* log,
                                             std::string node_identity)
    : authz_(authz),
      applications_(applications),
      catalog_(catalog),
      clock_(clock),
      metrics_(metrics),
      log_(log),
      own_(authz->own_province()),
      node_identity_(std::move(node_identity)) {}

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
  if (caller.origin_province != app.accepting_province()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "rule origin-must-match: origin province ", caller.origin_province,
        " may not deliver an application accepted by ", app.accepting_province()));
  }
  absl::Status s = ValidateItemCode("application.item_code", app.item_code());
  if (s.ok()) s = ValidateApplicant("application.applicant", app.applicant());
  if (s.ok()) s = ValidateSuppliedMaterials("application.materials", app.materials(), false);
  if (s.ok() && (app.events_size() == 0 || app.events_size() > 1000)) {
    s = absl::InvalidArgumentError("application.events must hold its history (1 to 1000 events)");
  }
  if (s.ok() && (app.state() == v1::APPLICATION_STATE_UNSPECIFIED ||
                 !v1::ApplicationState_IsValid(app.state()))) {
    s = absl::InvalidArgumentError("application.state is required");
  }
  if (!s.ok()) return s;

  v1::Application incoming = app;
  incoming.set_forwarding(v1::FORWARDING_STATE_DELIVERED);
  const absl::Time now = clock_->Now();
  v1::ApplicationEvent delivered;
  absl::StatusOr<InsertResult> inserted = applications_->InsertForeignApplication(
      incoming, [&](v1::Application& stored) -> absl::StatusOr<Mutation> {
        delivered = MakeEvent(stored, own_, v1::APPLICATION_ACTION_DELIVER, stored.state(),
                              stored.state(), node_identity_, now, "");
        *stored.mutable_updated_at() =
            google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
        Mutation m;
        m.outbox = EventOutbox(stored, own_, delivered);
        m.events.push_back(delivered);
        return m;
      });
  if (!inserted.ok()) return inserted.status();
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
  if (!v1::ApplicationAction_IsValid(event.action()) ||
      event.action() == v1::APPLICATION_ACTION_UNSPECIFIED ||
      event.action() == v1::APPLICATION_ACTION_SUBMIT) {
    return absl::InvalidArgumentError("event.action must be a follow-up action");
  }
  absl::Status s = ValidateText("event.note", event.note(), kMaxNoteChars, false);
  if (s.ok()) s = ValidateSuppliedMaterials("materials", req.materials(), false);
  if (!s.ok()) return s;

  const bool handling_here = id->handling_province == own_;
  absl::StatusOr<v1::Application> result = applications_->MutateApplication(
      req.application_id(), [&](v1::Application& app) -> absl::StatusOr<Mutation> {
        Mutation m;
        for (const auto& e : app.events()) {
          if (e.event_id() == event.event_id()) {
            *duplicate = true;
            return m;  // already applied: a retried delivery
          }
        }
        v1::ApplicationEvent recorded = event;
        if (handling_here && IsApplicantAction(event.action())) {
          // The handling province decides the state: an applicant's action
          // from the accepting window is re-checked against the state here.
          absl::StatusOr<v1::ApplicationState> next = NextState(app.state(), event.action());
          if (next.ok()) {
            for (const auto& mat : req.materials()) *app.add_materials() = mat;
            google::protobuf::RepeatedPtrField<std::string> still;
            for (const std::string& missing : app.missing_material_ids()) {
              bool added = false;
              for (const auto& mat : req.materials()) added |= mat.material_id() == missing;
              if (!added) *still.Add() = missing;
            }
            app.mutable_missing_material_ids()->Swap(&still);
            v1::ApplicationState after =
                event.action() == v1::APPLICATION_ACTION_SUPPLEMENT
                    ? SupplementOutcome(app.state(), app.missing_material_ids_size() > 0)
                    : *next;
            recorded.set_state_before(app.state());
            recorded.set_state_after(after);
            app.set_state(after);
          } else {
            recorded.set_state_before(app.state());
            recorded.set_state_after(app.state());
            recorded.set_note(absl::StrCat(event.note(), " [not applied at ", own_, ": ",
                                           next.status().message(), "]"));
          }
        } else {
          // The accepting side mirrors the handling province's state.
          if (event.action() == v1::APPLICATION_ACTION_DELIVER) {
            app.set_forwarding(v1::FORWARDING_STATE_DELIVERED);
          }
          if (event.state_after() != v1::APPLICATION_STATE_UNSPECIFIED) {
            app.set_state(event.state_after());
          }
          for (const auto& mat : req.materials()) *app.add_materials() = mat;
        }
        if (event.action() == v1::APPLICATION_ACTION_ESCALATE) app.set_escalated(true);
        if (event.action() == v1::APPLICATION_ACTION_RESOLVE_ESCALATION) app.set_escalated(false);
        *app.mutable_updated_at() = event.at();
        m.events.push_back(recorded);
        return m;
      });
  if (absl::IsNotFound(result.status())) {
    return absl::NotFoundError(absl::StrCat("application ", req.application_id(),
                                            " is not known at province ", own_,
                                            " (deliver the application before its events)"));
  }
  return result.status();
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

grpc::Status FederationServiceImpl::FetchGuide(grpc::ServerContext* ctx,
                                               const v1::FetchGuideRequest* req,
                                               v1::FetchGuideResponse* resp) {
  absl::StatusOr<Caller> caller = authz_->Authorize(*ctx, Method("FetchGuide"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::Status s = ValidateProvinceCode("province_code", req->province_code());
  if (s.ok()) s = ValidateItemCode("item_code", req->item_code());
  if (!s.ok()) return ToGrpcStatus(s);
  if (req->province_code() != own_) {
    return ToGrpcStatus(absl::FailedPreconditionError(absl::StrCat(
        "this node serves province ", own_, ", not ", req->province_code())));
  }
  absl::StatusOr<v1::Guide> guide = catalog_->GetGuide(own_, req->item_code());
  if (absl::IsNotFound(guide.status())) {
    return ToGrpcStatus(absl::NotFoundError(absl::StrCat(
        "item ", req->item_code(), " is not in the catalog of province ", own_)));
  }
  if (!guide.ok()) return ToGrpcStatus(guide.status());
  if (req->cached_version() == guide->version()) {
    resp->set_not_modified(true);
  } else {
    *resp->mutable_guide() = std::move(*guide);
  }
  return grpc::Status::OK;
}

}  // namespace tongban::node
