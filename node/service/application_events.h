// Building blocks shared by the application and federation services: new
// history events and the outbox entries that carry them to the other
// province of a cross-province application.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "store/application_store.h"
#include "tongban/v1/application.pb.h"

namespace tongban::signing {
class RecordSigner;  // common/record_signing.h
}  // namespace tongban::signing

namespace tongban::node {

// "<province>-<n>", n = 1 + events of `application` already authored by
// `province`; a local record (signing::IsLocalRecord) is "<province>-local-<n>"
// and counted apart, so the shared numbering has no gaps.
std::string NextEventId(const v1::Application& application, const std::string& province,
                        bool local_record = false);

v1::ApplicationEvent MakeEvent(const v1::Application& application, const std::string& province,
                               v1::ApplicationAction action, v1::ApplicationState before,
                               v1::ApplicationState after, const std::string& actor,
                               absl::Time at, const std::string& note);

// The outbox entry that delivers `event` (and the materials it added) to the
// other province of a cross-province application; none for a local one.
std::vector<OutboxEntry> EventOutbox(const v1::Application& application,
                                     const std::string& own_province,
                                     const v1::ApplicationEvent& event,
                                     const std::vector<v1::SuppliedMaterial>& materials = {});

// The outbox entry that delivers `application`, as stored here, to its
// handling province (the receiver reads the filing record and the signed
// SUBMIT event and re-derives everything else).
OutboxEntry ApplicationDelivery(const v1::Application& application);

bool IsCrossProvince(const v1::Application& application);

// Links `event` into `application`'s hash chain of the event's province
// (previous_hash: the chain hash of that province's latest event in
// `application.events()`, or the filing hash for its first) and, for a
// cross-province application, signs it with this node's key. Call it on the
// application as it is before `event` is appended.
absl::Status SealEvent(const v1::Application& application, signing::RecordSigner* signer,
                       v1::ApplicationEvent* event);

// The filing record of a new application (set once, at filing).
v1::ApplicationFiling FilingOf(const v1::Application& application);

}  // namespace tongban::node
