// LicenceStore: the durable register of the 电子证照 this node's province
// issued (each kept whole, signed, as a serialized v1::Licence) and the
// append-only log of every disclosure of them (docs/licences.md). Every write
// returns only after its transaction committed, so a disclosure is recorded
// before the answer it logs leaves the node.
//
// The store keeps records as given: signing, validation and deciding a
// licence's status are the service's business (node/service/licence_service.h).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tongban/v1/licence.pb.h"

namespace tongban::node {

// Which licences ListLicences returns; empty fields match everything.
struct LicenceFilter {
  std::string holder_id;
  std::string type_code;
  // Stored revocation state: true = revoked only, false = not revoked only;
  // unset = both. (EXPIRED is derived from dates by the service.)
  std::optional<bool> revoked;
};

// Which disclosures ListDisclosures returns; empty fields match everything.
struct DisclosureFilter {
  std::string holder_id;
  std::string licence_id;
  std::string requester_province;
};

// A disclosure with the store's position of it (increasing in append order,
// never reused), which pages are cut by.
struct StoredDisclosure {
  int64_t sequence = 0;
  v1::LicenceDisclosure disclosure;
};

class LicenceStore {
 public:
  virtual ~LicenceStore() = default;

  // True when the store holds no licence (demo seeding runs then).
  virtual absl::StatusOr<bool> IsEmpty() = 0;

  // Stores new licences in one transaction. ALREADY_EXISTS naming the
  // licence_id when one of them (or an earlier licence) has its
  // content.licence_id; nothing is stored then.
  virtual absl::Status InsertLicences(const std::vector<v1::Licence>& licences) = 0;

  // Replaces the stored licence of licence.content().licence_id (its
  // revocation). NOT_FOUND when there is none.
  virtual absl::Status UpdateLicence(const v1::Licence& licence) = 0;

  // One licence; NOT_FOUND naming the id when there is none.
  virtual absl::StatusOr<v1::Licence> GetLicence(const std::string& licence_id) = 0;

  // Licences matching the filter in licence_id order, starting after
  // `after_licence_id` (empty = from the start), at most `limit`.
  virtual absl::StatusOr<std::vector<v1::Licence>> ListLicences(
      const LicenceFilter& filter, const std::string& after_licence_id, int limit) = 0;

  // Appends one signed disclosure record; returns its sequence.
  // ALREADY_EXISTS when its disclosure_id is stored already.
  virtual absl::StatusOr<int64_t> AppendDisclosure(const v1::LicenceDisclosure& disclosure) = 0;

  // AppendDisclosure for callers on gRPC's callback API: `done` gets its
  // result once the record is durable (or refused), possibly on another
  // thread; it must be cheap and must not call back into this store. This
  // default appends on the calling thread, which it blocks meanwhile (the
  // PostgreSQL store: one round trip); SQLite's group commit does not block.
  using AppendDone = std::function<void(absl::StatusOr<int64_t>)>;
  virtual void AppendDisclosureAsync(const v1::LicenceDisclosure& disclosure, AppendDone done) {
    done(AppendDisclosure(disclosure));
  }

  // Disclosures matching the filter, newest first (decreasing sequence),
  // starting below `before_sequence` (0 = from the newest), at most `limit`.
  virtual absl::StatusOr<std::vector<StoredDisclosure>> ListDisclosures(
      const DisclosureFilter& filter, int64_t before_sequence, int limit) = 0;
};

}  // namespace tongban::node
