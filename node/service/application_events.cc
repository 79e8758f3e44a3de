#include "application_events.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "record_signing.h"
#include "tongban/v1/federation.pb.h"

namespace tongban::node {

bool IsCrossProvince(const v1::Application& a) {
  return a.accepting_province() != a.handling_province();
}

std::string NextEventId(const v1::Application& application, const std::string& province,
                        bool local_record) {
  const std::string prefix = province + "-";
  int n = 0;
  for (const v1::ApplicationEvent& e : application.events()) {
    if (absl::StartsWith(e.event_id(), prefix) && signing::IsLocalRecord(e) == local_record) ++n;
  }
  return absl::StrCat(prefix, local_record ? "local-" : "", n + 1);
}

v1::ApplicationEvent MakeEvent(const v1::Application& application, const std::string& province,
                               v1::ApplicationAction action, v1::ApplicationState before,
                               v1::ApplicationState after, const std::string& actor,
                               absl::Time at, const std::string& note) {
  v1::ApplicationEvent e;
  e.set_action(action);
  e.set_event_id(NextEventId(application, province, signing::IsLocalRecord(e)));
  e.set_state_before(before);
  e.set_state_after(after);
  e.set_actor(actor);
  e.set_province_code(province);
  *e.mutable_at() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(at));
  e.set_note(note);
  return e;
}

std::vector<OutboxEntry> EventOutbox(const v1::Application& application,
                                     const std::string& own_province,
                                     const v1::ApplicationEvent& event,
                                     const std::vector<v1::SuppliedMaterial>& materials) {
  if (!IsCrossProvince(application)) return {};
  v1::DeliverEventRequest request;
  request.set_application_id(application.application_id());
  *request.mutable_event() = event;
  for (const v1::SuppliedMaterial& m : materials) *request.add_materials() = m;
  // Receivers read the signed copy in the event; the request field stays for
  // nodes of the previous version.
  if (materials.empty()) *request.mutable_materials() = event.materials();
  OutboxEntry entry;
  entry.kind = OutboxEntry::Kind::kDeliverEvent;
  entry.application_id = application.application_id();
  entry.target_province = application.accepting_province() == own_province
                              ? application.handling_province()
                              : application.accepting_province();
  entry.payload = request.SerializeAsString();
  return {entry};
}

absl::Status SealEvent(const v1::Application& application, signing::RecordSigner* signer,
                       v1::ApplicationEvent* event) {
  if (signing::IsLocalRecord(*event)) return absl::OkStatus();  // never leaves this node
  event->set_previous_hash(signing::PreviousHashFor(application.filing(), application.events(),
                                                    event->province_code()));
  if (!IsCrossProvince(application)) return absl::OkStatus();
  return signer->SignEvent(application.application_id(), event);
}

OutboxEntry ApplicationDelivery(const v1::Application& application) {
  v1::DeliverApplicationRequest deliver;
  *deliver.mutable_application() = application;
  OutboxEntry entry;
  entry.kind = OutboxEntry::Kind::kDeliverApplication;
  entry.application_id = application.application_id();
  entry.target_province = application.handling_province();
  entry.payload = deliver.SerializeAsString();
  return entry;
}

v1::ApplicationFiling FilingOf(const v1::Application& application) {
  v1::ApplicationFiling f;
  f.set_application_id(application.application_id());
  f.set_accepting_province(application.accepting_province());
  f.set_handling_province(application.handling_province());
  f.set_item_code(application.item_code());
  *f.mutable_applicant() = application.applicant();
  *f.mutable_materials() = application.materials();
  *f.mutable_filed_at() = application.created_at();
  f.set_guide_version(application.guide_version());
  return f;
}

}  // namespace tongban::node
