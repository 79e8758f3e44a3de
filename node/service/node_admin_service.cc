#include "service/node_admin_service.h"

#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "application_id.h"
#include "google/protobuf/util/time_util.h"
#include "grpc_status.h"
#include "input_validation.h"
#include "page_token.h"
#include "service/application_events.h"
#include "tongban/v1/federation.pb.h"

namespace tongban::node {
namespace {

constexpr char kService[] = "/tongban.v1.NodeAdminService/";
// A discard reason is a note on the application's history.
constexpr size_t kMaxReasonChars = 500;

std::string Method(absl::string_view name) { return absl::StrCat(kService, name); }

void SetTime(absl::Time t, google::protobuf::Timestamp* ts) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return;
  *ts = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

absl::Status ValidateEntryId(int64_t id) {
  if (id < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("id must be an outbox entry id (1 or more), got ", id));
  }
  return absl::OkStatus();
}

// "PERMISSION_DENIED: rule x" -> "rule x" (the code is a field of its own).
std::string MessageOf(const OutboxEntry& entry) {
  absl::string_view error = entry.last_error;
  const std::string prefix = absl::StrCat(entry.dead_code, ": ");
  if (!entry.dead_code.empty() && absl::StartsWith(error, prefix)) {
    error.remove_prefix(prefix.size());
  }
  return std::string(error);
}

v1::OutboxPayloadSummary Summary(const OutboxEntry& entry) {
  v1::OutboxPayloadSummary s;
  s.set_payload_bytes(static_cast<int64_t>(entry.payload.size()));
  if (entry.kind == OutboxEntry::Kind::kDeliverApplication) {
    v1::DeliverApplicationRequest request;
    if (!request.ParseFromString(entry.payload)) {
      s.set_unreadable("the payload is not a DeliverApplicationRequest");
      return s;
    }
    s.set_item_code(request.application().item_code());
    s.set_state(request.application().state());
    s.set_events(request.application().events_size());
    return s;
  }
  v1::DeliverEventRequest request;
  if (!request.ParseFromString(entry.payload)) {
    s.set_unreadable("the payload is not a DeliverEventRequest");
    return s;
  }
  const v1::ApplicationEvent& e = request.event();
  s.set_events(1);
  s.set_event_id(e.event_id());
  s.set_action(e.action());
  s.set_state(e.state_after());
  s.set_actor(e.actor());
  *s.mutable_at() = e.at();
  return s;
}

}  // namespace

NodeAdminServiceImpl::NodeAdminServiceImpl(NodeAdminServiceDeps deps)
    : d_(std::move(deps)), authz_(Policy(d_.own_province)) {}

AuthzPolicy NodeAdminServiceImpl::Policy(const std::string& own_province) {
  std::map<std::string, Rule, std::less<>> rules;
  for (const char* name :
       {"ListOutbox", "GetOutboxEntry", "ReplayDeadLetter", "DiscardDeadLetter"}) {
    rules.emplace(Method(name), Rule::kOwnOperator);
  }
  return AuthzPolicy(own_province, std::move(rules));
}

v1::OutboxEntryInfo NodeAdminServiceImpl::Info(const OutboxEntry& entry, int64_t blocked_by) {
  v1::OutboxEntryInfo info;
  info.set_id(entry.id);
  info.set_kind(entry.kind == OutboxEntry::Kind::kDeliverApplication
                    ? v1::OUTBOX_ENTRY_KIND_DELIVER_APPLICATION
                    : v1::OUTBOX_ENTRY_KIND_DELIVER_EVENT);
  info.set_application_id(entry.application_id);
  info.set_target_province(entry.target_province);
  info.set_attempts(entry.attempts);
  SetTime(entry.created_at, info.mutable_created_at());
  info.set_last_error(entry.last_error);
  if (entry.dead()) {
    info.set_status(v1::OUTBOX_ENTRY_STATUS_DEAD_LETTER);
    v1::DeadLetter* dead = info.mutable_dead_letter();
    dead->set_code(entry.dead_code);
    dead->set_message(MessageOf(entry));
    SetTime(entry.dead_at, dead->mutable_at());
    dead->set_attempts(entry.attempts);
  } else {
    info.set_status(v1::OUTBOX_ENTRY_STATUS_PENDING);
    SetTime(entry.next_attempt_at, info.mutable_next_attempt_at());
    info.set_blocked_by(blocked_by);
  }
  return info;
}

absl::StatusOr<int64_t> NodeAdminServiceImpl::BlockingDeadLetter(const std::string& application_id,
                                                                  int64_t entry_id) {
  OutboxFilter filter;
  filter.status = OutboxFilter::Status::kDeadLetter;
  filter.application_id = application_id;
  auto dead = d_.applications->ListOutboxEntries(filter, "", 2);
  if (!dead.ok()) return dead.status();
  for (const OutboxEntry& e : dead->items) {
    if (e.id != entry_id) return e.id;
  }
  return 0;
}

grpc::Status NodeAdminServiceImpl::ListOutbox(grpc::ServerContext* ctx,
                                              const v1::ListOutboxRequest* req,
                                              v1::ListOutboxResponse* resp) {
  absl::StatusOr<Caller> caller = authz_.Authorize(*ctx, Method("ListOutbox"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  OutboxFilter filter;
  switch (req->status()) {
    case v1::OUTBOX_ENTRY_STATUS_UNSPECIFIED: filter.status = OutboxFilter::Status::kAny; break;
    case v1::OUTBOX_ENTRY_STATUS_PENDING: filter.status = OutboxFilter::Status::kPending; break;
    case v1::OUTBOX_ENTRY_STATUS_DEAD_LETTER:
      filter.status = OutboxFilter::Status::kDeadLetter;
      break;
    default:
      return ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat("status ", static_cast<int>(req->status()),
                       " is not an OutboxEntryStatus (PENDING, DEAD_LETTER or unset)")));
  }
  if (!req->application_id().empty()) {
    auto parsed = ParseApplicationId(req->application_id(), "application_id");
    if (!parsed.ok()) return ToGrpcStatus(parsed.status());
    filter.application_id = req->application_id();
  }
  if (!req->target_province().empty()) {
    absl::Status s = ValidateProvinceCode("target_province", req->target_province());
    if (!s.ok()) return ToGrpcStatus(s);
    filter.target_province = req->target_province();
  }
  int page_size = 0;
  if (absl::Status s = ValidatePageSize("page_size", req->page_size(), &page_size); !s.ok()) {
    return ToGrpcStatus(s);
  }
  // The token names the filter, so a page of one listing cannot continue another.
  const std::string list = absl::StrCat("outbox:", static_cast<int>(filter.status), ":",
                                        filter.application_id, ":", filter.target_province);
  absl::StatusOr<std::string> cursor = DecodePageToken("page_token", list, req->page_token());
  if (!cursor.ok()) return ToGrpcStatus(cursor.status());

  auto page = d_.applications->ListOutboxEntries(filter, *cursor, page_size);
  if (!page.ok()) return ToGrpcStatus(page.status());
  std::map<std::string, int64_t> blocking;  // per application on this page
  for (const OutboxEntry& entry : page->items) {
    int64_t blocked_by = 0;
    if (!entry.dead()) {
      auto it = blocking.find(entry.application_id);
      if (it == blocking.end()) {
        auto found = BlockingDeadLetter(entry.application_id, entry.id);
        if (!found.ok()) return ToGrpcStatus(found.status());
        it = blocking.emplace(entry.application_id, *found).first;
      }
      blocked_by = it->second;
    }
    *resp->add_entries() = Info(entry, blocked_by);
  }
  if (!page->next_cursor.empty()) {
    resp->set_next_page_token(EncodePageToken(list, page->next_cursor));
  }
  auto stats = d_.applications->GetOutboxStats();
  if (!stats.ok()) return ToGrpcStatus(stats.status());
  resp->set_pending(stats->depth);
  resp->set_dead_letters(stats->dead_letters);
  resp->set_blocked(stats->blocked);
  return grpc::Status::OK;
}

grpc::Status NodeAdminServiceImpl::GetOutboxEntry(grpc::ServerContext* ctx,
                                                  const v1::GetOutboxEntryRequest* req,
                                                  v1::GetOutboxEntryResponse* resp) {
  absl::StatusOr<Caller> caller = authz_.Authorize(*ctx, Method("GetOutboxEntry"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (absl::Status s = ValidateEntryId(req->id()); !s.ok()) return ToGrpcStatus(s);
  auto entry = d_.applications->GetOutboxEntry(req->id());
  if (!entry.ok()) return ToGrpcStatus(entry.status());
  int64_t blocked_by = 0;
  if (!entry->dead()) {
    auto found = BlockingDeadLetter(entry->application_id, entry->id);
    if (!found.ok()) return ToGrpcStatus(found.status());
    blocked_by = *found;
  }
  *resp->mutable_entry() = Info(*entry, blocked_by);
  *resp->mutable_payload() = Summary(*entry);
  return grpc::Status::OK;
}

grpc::Status NodeAdminServiceImpl::ReplayDeadLetter(grpc::ServerContext* ctx,
                                                    const v1::ReplayDeadLetterRequest* req,
                                                    v1::ReplayDeadLetterResponse* resp) {
  absl::StatusOr<Caller> caller = authz_.Authorize(*ctx, Method("ReplayDeadLetter"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (absl::Status s = ValidateEntryId(req->id()); !s.ok()) return ToGrpcStatus(s);
  auto replayed = d_.applications->ReplayDeadLetter(req->id(), d_.clock->Now());
  if (!replayed.ok()) return ToGrpcStatus(replayed.status());
  d_.log->Info("outbox.dead_letter_replayed", {{"id", absl::StrCat(replayed->id)},
                                               {"application", replayed->application_id},
                                               {"target", replayed->target_province},
                                               {"by", caller->actor()}});
  if (d_.on_outbox_written) d_.on_outbox_written();
  *resp->mutable_entry() = Info(*replayed, 0);
  return grpc::Status::OK;
}

grpc::Status NodeAdminServiceImpl::DiscardDeadLetter(grpc::ServerContext* ctx,
                                                     const v1::DiscardDeadLetterRequest* req,
                                                     v1::DiscardDeadLetterResponse* resp) {
  absl::StatusOr<Caller> caller = authz_.Authorize(*ctx, Method("DiscardDeadLetter"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (absl::Status s = ValidateEntryId(req->id()); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status s = ValidateText("reason", req->reason(), kMaxReasonChars, /*required=*/true);
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  const std::string actor = caller->actor();
  const absl::Time now = d_.clock->Now();
  const int64_t id = req->id();
  v1::ApplicationEvent recorded;
  MutateFn record = [&](v1::Application& app) -> absl::StatusOr<Mutation> {
    v1::ApplicationEvent e =
        MakeEvent(app, d_.own_province, v1::APPLICATION_ACTION_DISCARD_DELIVERY, app.state(),
                  app.state(), actor, now,
                  absl::StrCat("discarded outbox entry ", id, ": ", req->reason()));
    if (d_.seal_event) {
      if (absl::Status s = d_.seal_event(app, &e); !s.ok()) return s;
    }
    recorded = e;
    Mutation m;  // no outbox entry: a local decision, not forwarded
    m.events.push_back(std::move(e));
    return m;
  };
  auto discarded = d_.applications->DiscardDeadLetter(id, record);
  if (!discarded.ok()) return ToGrpcStatus(discarded.status());
  d_.log->Warn("outbox.dead_letter_discarded", {{"id", absl::StrCat(discarded->id)},
                                                {"application", discarded->application_id},
                                                {"target", discarded->target_province},
                                                {"code", discarded->dead_code},
                                                {"event", recorded.event_id()},
                                                {"by", actor},
                                                {"reason", req->reason()}});
  // The application's next entry (if any) is free to go.
  if (d_.on_outbox_written) d_.on_outbox_written();
  *resp->mutable_discarded() = Info(*discarded, 0);
  *resp->mutable_event() = recorded;
  return grpc::Status::OK;
}

}  // namespace tongban::node
