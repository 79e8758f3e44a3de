// Test support: authors federation records as a province would — a filing
// with its signed SUBMIT event, and follow-up events with the right event id,
// hash-chain link and signature — using that province's node key from the
// test PKI. Tests then alter what they send to check each refusal.
//
//   RecordAuthor hunan("430000");
//   v1::DeliverApplicationRequest d = hunan.Filing(id, item, applicant, materials);
//   v1::DeliverEventRequest e = hunan.Event(stored_app, APPLICATION_ACTION_WITHDRAW,
//                                           state, state);
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "record_signing.h"
#include "tongban/v1/application.pb.h"
#include "tongban/v1/federation.pb.h"

namespace tongban::testing {

class RecordAuthor {
 public:
  // Signs with CertsDir()/<identity_dir> (default: province/<province>/node).
  explicit RecordAuthor(std::string province, std::string identity_dir = "");
  // Signs with the given key and certificate files (e.g. of a PKI copy).
  RecordAuthor(std::string province, const std::string& key_file, const std::string& cert_file);

  const std::string& province() const { return province_; }

  // A DeliverApplication request for a new filing: filing record, SUBMIT
  // event <province>-1 chained to it and signed. `state` is what the
  // accepting side claims (the handling node must ignore it).
  v1::DeliverApplicationRequest Filing(const std::string& application_id,
                                       const std::string& item_code, const v1::Applicant& applicant,
                                       const std::vector<v1::SuppliedMaterial>& materials,
                                       v1::ApplicationState state = v1::APPLICATION_STATE_RECEIVED);

  // The next event this province authors on `app` (as the receiver stores
  // it, with filing and events): id <province>-<n+1>, previous_hash linked to
  // this province's last event in `app`, signed.
  v1::DeliverEventRequest Event(const v1::Application& app, v1::ApplicationAction action,
                                v1::ApplicationState before, v1::ApplicationState after,
                                const std::vector<v1::SuppliedMaterial>& materials = {});

  // Re-signs `event` after a test changed it (a valid signature over
  // whatever the test wrote, so the check under test is the only one left).
  void Resign(const std::string& application_id, v1::ApplicationEvent* event);

 private:
  std::string province_;
  std::unique_ptr<signing::RecordSigner> signer_;
};

}  // namespace tongban::testing
