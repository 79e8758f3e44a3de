#include "record_author.h"

#include <cstdlib>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/time_util.h"
#include "node_process.h"

namespace tongban::testing {
namespace {

google::protobuf::Timestamp Now() {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(absl::Now()));
}

}  // namespace

RecordAuthor::RecordAuthor(std::string province, std::string identity_dir)
    : RecordAuthor(province,
                   IdentityAt(identity_dir.empty() ? absl::StrCat("province/", province, "/node")
                                                   : identity_dir)
                       .key,
                   IdentityAt(identity_dir.empty() ? absl::StrCat("province/", province, "/node")
                                                   : identity_dir)
                       .cert) {}

RecordAuthor::RecordAuthor(std::string province, const std::string& key_file,
                           const std::string& cert_file)
    : province_(std::move(province)) {
  auto signer = signing::RecordSigner::Create(key_file, cert_file);
  if (!signer.ok()) {
    std::cerr << "RecordAuthor: " << signer.status() << "\n";
    std::abort();  // test set-up error: the PKI is missing
  }
  signer_ = *std::move(signer);
}

v1::DeliverApplicationRequest RecordAuthor::Filing(
    const std::string& application_id, const std::string& item_code,
    const v1::Applicant& applicant, const std::vector<v1::SuppliedMaterial>& materials,
    v1::ApplicationState state) {
  v1::DeliverApplicationRequest req;
  v1::Application* app = req.mutable_application();
  const std::string handling = application_id.substr(10, 6);
  app->set_application_id(application_id);
  app->set_accepting_province(province_);
  app->set_handling_province(handling);
  app->set_item_code(item_code);
  *app->mutable_applicant() = applicant;
  for (const auto& m : materials) *app->add_materials() = m;
  app->set_state(state);
  app->set_forwarding(v1::FORWARDING_STATE_PENDING);
  *app->mutable_created_at() = Now();
  v1::ApplicationFiling* f = app->mutable_filing();
  f->set_application_id(application_id);
  f->set_accepting_province(province_);
  f->set_handling_province(handling);
  f->set_item_code(item_code);
  *f->mutable_applicant() = applicant;
  for (const auto& m : materials) *f->add_materials() = m;
  *f->mutable_filed_at() = app->created_at();
  f->set_guide_version(1);
  v1::ApplicationEvent* submit = app->add_events();
  submit->set_event_id(absl::StrCat(province_, "-1"));
  submit->set_action(v1::APPLICATION_ACTION_SUBMIT);
  submit->set_state_after(state);
  submit->set_actor(absl::StrCat("spiffe://tongban/province/", province_, "/officer/officer-01"));
  submit->set_province_code(province_);
  *submit->mutable_at() = app->created_at();
  for (const auto& m : materials) submit->add_material_ids(m.material_id());
  submit->set_previous_hash(signing::FilingHash(*f));
  Resign(application_id, submit);
  return req;
}

v1::DeliverEventRequest RecordAuthor::Event(const v1::Application& app,
                                            v1::ApplicationAction action,
                                            v1::ApplicationState before,
                                            v1::ApplicationState after,
                                            const std::vector<v1::SuppliedMaterial>& materials) {
  int n = 0;
  for (const auto& e : app.events()) n += absl::StartsWith(e.event_id(), province_ + "-") ? 1 : 0;
  v1::DeliverEventRequest req;
  req.set_application_id(app.application_id());
  v1::ApplicationEvent* e = req.mutable_event();
  e->set_event_id(absl::StrCat(province_, "-", n + 1));
  e->set_action(action);
  e->set_state_before(before);
  e->set_state_after(after);
  e->set_actor(absl::StrCat("spiffe://tongban/province/", province_, "/officer/officer-01"));
  e->set_province_code(province_);
  *e->mutable_at() = Now();
  for (const auto& m : materials) {
    e->add_material_ids(m.material_id());
    *e->add_materials() = m;
  }
  e->set_previous_hash(signing::PreviousHashFor(app.filing(), app.events(), province_));
  Resign(app.application_id(), e);
  return req;
}

void RecordAuthor::Resign(const std::string& application_id, v1::ApplicationEvent* event) {
  event->clear_signature();
  absl::Status s = signer_->SignEvent(application_id, event);
  if (!s.ok()) {
    std::cerr << "RecordAuthor: " << s << "\n";
    std::abort();
  }
}

}  // namespace tongban::testing
