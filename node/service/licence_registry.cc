#include "licence_registry.h"

#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "application_id.h"
#include "grpc_status.h"
#include "input_validation.h"
#include "licence_signing.h"
#include "working_day_calendar.h"

namespace tongban::node {
namespace {

constexpr int kMaxFields = 30;

// A fetch's purpose as its records state it (the use, readable on its own).
std::string UsePurpose(const v1::LicenceUse& use) {
  return absl::StrCat("material ", use.material_id(), " of item ", use.item_code(),
                      " handled by ", use.handling_province());
}

// The metrics of a fetch step, counted once its answer is given.
auto FetchStepCounter(NodeMetrics* metrics, const char* step) {
  return [metrics, step](const auto&) {
    if (metrics != nullptr) metrics->LicenceFetchStep(step);
  };
}

absl::Status ValidateDate(absl::string_view field, absl::string_view value, bool required,
                          absl::CivilDay* out) {
  if (value.empty()) {
    if (!required) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(field, " is required (YYYY-MM-DD)"));
  }
  absl::CivilDay day;
  if (value.size() != 10 || !absl::ParseCivilTime(value, &day) ||
      absl::FormatCivilTime(day) != value) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must be a date YYYY-MM-DD, e.g. 2019-05-20; got ", Shown(value)));
  }
  *out = day;
  return absl::OkStatus();
}

absl::Status ValidateTypeCode(absl::string_view field, absl::string_view value,
                              const LicenceTypeList& types) {
  if (value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is required, e.g. MZ01 (结婚证)"));
  }
  if (types.Find(value) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " ", Shown(value),
                     " is not a licence type of the national list (ListLicenceTypes)"));
  }
  return absl::OkStatus();
}

// "<province>-d-" + 16 hex digits of `now` in microseconds + 16 random hex
// digits. Time first, so that the log's unique index on the id grows at its
// right edge like the log itself: a random id put every insert on a random
// page of that index, one more page written per disclosure at commit.
std::string NewDisclosureId(const std::string& province, absl::Time now) {
  const uint64_t micros = static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMicros(now)));
  unsigned char bytes[16];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(micros >> (56 - 8 * i));
  if (RAND_bytes(bytes + 8, 8) != 1) {
    // The id only has to be unique; a counter keeps it so if the RNG fails.
    static std::atomic<uint64_t> fallback{0};
    const uint64_t n =
        fallback.fetch_add(1) ^ static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
    for (int i = 0; i < 8; ++i) bytes[8 + i] = static_cast<unsigned char>(n >> (56 - 8 * i));
  }
  return absl::StrCat(province, "-d-",
                      signing::Hex(std::string(reinterpret_cast<char*>(bytes), sizeof(bytes))));
}

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t micros = absl::ToUnixMicros(t);
  ts.set_seconds(micros / 1000000);
  ts.set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
  return ts;
}

}  // namespace

absl::Status ValidateLicenceNumber(absl::string_view field, absl::string_view value) {
  if (value.empty() || value.size() > 40 ||
      !std::all_of(value.begin(), value.end(),
                   [](char c) { return absl::ascii_isalnum(c) || c == '-'; })) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " must be 1..40 characters of A-Z a-z 0-9 '-', e.g. J510107-2019-000123; got ",
        Shown(value)));
  }
  return absl::OkStatus();
}

absl::Status ValidateLicenceId(absl::string_view field, absl::string_view value) {
  const auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " must be <issuing province>-<type code>-<number>, e.g. "
               "510000-MZ01-J510107-2019-000123; got ",
        Shown(value)));
  };
  if (value.size() < 13 || value[6] != '-' || value[11] != '-') return bad();
  if (!ValidateProvinceCode(field, value.substr(0, 6)).ok()) return bad();
  if (!ValidateLicenceNumber(field, value.substr(12)).ok()) return bad();
  return absl::OkStatus();
}

absl::Status ValidateLicenceQuestion(const LicenceQuestion& q, const LicenceTypeList& types) {
  if (absl::Status s = ValidateTypeCode("type_code", q.type_code, types); !s.ok()) return s;
  if (absl::Status s = ValidateLicenceNumber("number", q.number); !s.ok()) return s;
  if (absl::Status s = ValidateHolderId("holder_id", types.Find(q.type_code)->holder_kind(),
                                        q.holder_id);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateText("purpose", q.purpose, 200, /*required=*/true); !s.ok()) {
    return s;
  }
  if (!q.application_id.empty()) {
    absl::StatusOr<ApplicationIdParts> parts = ParseApplicationId(q.application_id, "application_id");
    if (!parts.ok()) return parts.status();
  }
  return absl::OkStatus();
}

absl::Status ValidateLicenceFetch(const LicenceFetch& f, const LicenceTypeList& types) {
  if (absl::Status s = ValidateTypeCode("type_code", f.type_code, types); !s.ok()) return s;
  if (absl::Status s =
          ValidateHolderId("holder_id", types.Find(f.type_code)->holder_kind(), f.holder_id);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateItemCode("use.item_code", f.use.item_code()); !s.ok()) return s;
  if (absl::Status s = ValidateProvinceCode("use.handling_province", f.use.handling_province());
      !s.ok()) {
    return s;
  }
  return ValidateMaterialId("use.material_id", f.use.material_id());
}

LicenceRegistry::LicenceRegistry(LicenceRegistryDeps deps) : d_(std::move(deps)) {}

v1::LicenceStatus LicenceRegistry::StatusAt(const v1::Licence& licence, absl::Time now) {
  if (licence.has_revocation()) return v1::LICENCE_STATUS_REVOKED;
  absl::CivilDay until;
  if (!licence.content().valid_until().empty() &&
      absl::ParseCivilTime(licence.content().valid_until(), &until) &&
      ChinaCivilDay(now) > until) {
    return v1::LICENCE_STATUS_EXPIRED;
  }
  return v1::LICENCE_STATUS_VALID;
}

absl::StatusOr<v1::Licence> LicenceRegistry::Issue(const v1::IssueLicenceRequest& req,
                                                   const std::string& officer) {
  if (absl::Status s = ValidateTypeCode("type_code", req.type_code(), *d_.types); !s.ok()) return s;
  const v1::LicenceType& type = *d_.types->Find(req.type_code());
  if (absl::Status s = ValidateLicenceNumber("number", req.number()); !s.ok()) return s;
  if (absl::Status s = ValidateHolderId("holder_id", type.holder_kind(), req.holder_id()); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateText("holder_name", req.holder_name(), 100, true); !s.ok()) return s;
  if (absl::Status s = ValidateText("issuing_authority", req.issuing_authority(), 100, true);
      !s.ok()) {
    return s;
  }
  const absl::Time now = d_.clock->Now();
  absl::CivilDay from, until;
  if (absl::Status s = ValidateDate("valid_from", req.valid_from(), true, &from); !s.ok()) return s;
  if (from > ChinaCivilDay(now)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "valid_from ", req.valid_from(), " is after today (", absl::FormatCivilTime(ChinaCivilDay(now)),
        "): a licence takes effect when it is issued or earlier"));
  }
  if (absl::Status s = ValidateDate("valid_until", req.valid_until(), false, &until); !s.ok()) {
    return s;
  }
  if (!req.valid_until().empty() && until < from) {
    return absl::InvalidArgumentError(absl::StrCat("valid_until ", req.valid_until(),
                                                   " is before valid_from ", req.valid_from()));
  }
  if (req.fields_size() > kMaxFields) {
    return absl::InvalidArgumentError(
        absl::StrCat("fields has ", req.fields_size(), " entries; at most ", kMaxFields));
  }
  std::set<std::string> names;
  for (int i = 0; i < req.fields_size(); ++i) {
    const std::string at = absl::StrCat("fields[", i, "]");
    if (absl::Status s = ValidateText(at + ".name", req.fields(i).name(), 40, true); !s.ok()) {
      return s;
    }
    if (absl::Status s = ValidateText(at + ".value", req.fields(i).value(), 500, false); !s.ok()) {
      return s;
    }
    if (!names.insert(req.fields(i).name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ".name ", Shown(req.fields(i).name()), " is given twice"));
    }
  }

  v1::Licence licence;
  v1::LicenceContent* c = licence.mutable_content();
  c->set_licence_id(signing::LicenceId(d_.own_province, req.type_code(), req.number()));
  c->set_type_code(req.type_code());
  c->set_issuing_province(d_.own_province);
  c->set_issuing_authority(req.issuing_authority());
  c->set_number(req.number());
  c->set_holder_kind(type.holder_kind());
  c->set_holder_id(req.holder_id());
  c->set_holder_name(req.holder_name());
  *c->mutable_issued_at() = ToTimestamp(now);
  c->set_valid_from(req.valid_from());
  c->set_valid_until(req.valid_until());
  *c->mutable_fields() = req.fields();
  c->set_issued_by(officer);
  if (absl::Status s = signing::SignLicence(*d_.signer, &licence); !s.ok()) return s;
  if (absl::Status s = d_.store->InsertLicences({licence}); !s.ok()) {
    if (absl::IsAlreadyExists(s)) {
      return absl::AlreadyExistsError(absl::StrCat("licence ", c->licence_id(),
                                                   " already exists: province ", d_.own_province,
                                                   " issued number ", req.number(), " of type ",
                                                   req.type_code(), " before"));
    }
    return s;
  }
  if (d_.metrics != nullptr) d_.metrics->LicenceIssued();
  licence.set_status(StatusAt(licence, now));
  return licence;
}

absl::StatusOr<v1::Licence> LicenceRegistry::Revoke(const std::string& licence_id,
                                                    const std::string& reason,
                                                    const std::string& officer) {
  if (absl::Status s = ValidateLicenceId("licence_id", licence_id); !s.ok()) return s;
  if (absl::Status s = ValidateText("reason", reason, 500, true); !s.ok()) return s;
  absl::StatusOr<v1::Licence> licence = Get(licence_id);
  if (!licence.ok()) return licence.status();
  if (licence->has_revocation()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "licence ", licence_id, " is already revoked (by ", licence->revocation().revoked_by(),
        ": ", licence->revocation().reason(), ")"));
  }
  const absl::Time now = d_.clock->Now();
  v1::LicenceRevocation* r = licence->mutable_revocation();
  r->set_licence_id(licence_id);
  *r->mutable_at() = ToTimestamp(now);
  r->set_reason(reason);
  r->set_revoked_by(officer);
  if (absl::Status s = signing::SignRevocation(*d_.signer, d_.own_province, r); !s.ok()) return s;
  licence->clear_status();
  // Two officers revoking at once both pass the check above; the second
  // write replaces the first revocation with an equally valid one.
  if (absl::Status s = d_.store->UpdateLicence(*licence); !s.ok()) return s;
  if (d_.metrics != nullptr) d_.metrics->LicenceRevoked();
  licence->set_status(v1::LICENCE_STATUS_REVOKED);
  return *std::move(licence);
}

absl::StatusOr<v1::Licence> LicenceRegistry::Get(const std::string& licence_id) {
  if (absl::Status s = ValidateLicenceId("licence_id", licence_id); !s.ok()) return s;
  if (licence_id.compare(0, 6, d_.own_province) != 0) {
    return absl::NotFoundError(absl::StrCat("licence ", licence_id, " is not a licence of province ",
                                            d_.own_province, ": ask its issuing province"));
  }
  absl::StatusOr<v1::Licence> licence = d_.store->GetLicence(licence_id);
  if (!licence.ok()) return licence.status();
  licence->set_status(StatusAt(*licence, d_.clock->Now()));
  return licence;
}

absl::StatusOr<LicenceRegistry::Page> LicenceRegistry::List(const LicenceFilter& filter,
                                                            v1::LicenceStatus status,
                                                            const std::string& after_licence_id,
                                                            int limit) {
  LicenceFilter f = filter;
  if (status == v1::LICENCE_STATUS_REVOKED) f.revoked = true;
  if (status == v1::LICENCE_STATUS_VALID || status == v1::LICENCE_STATUS_EXPIRED) f.revoked = false;
  // One more than a page tells whether another page follows.
  absl::StatusOr<std::vector<v1::Licence>> rows =
      d_.store->ListLicences(f, after_licence_id, limit + 1);
  if (!rows.ok()) return rows.status();
  const bool more = static_cast<int>(rows->size()) > limit;
  if (more) rows->pop_back();
  Page page;
  // Read before the licences are moved out below.
  if (more) page.next_after = rows->back().content().licence_id();
  const absl::Time now = d_.clock->Now();
  for (v1::Licence& licence : *rows) {
    licence.set_status(StatusAt(licence, now));
    if (status != v1::LICENCE_STATUS_UNSPECIFIED && licence.status() != status) continue;
    page.licences.push_back(std::move(licence));
  }
  return page;
}

template <typename Answer>
absl::StatusOr<Answer> LicenceRegistry::Give(Logged<Answer> logged) {
  if (logged.record.has_value()) {
    if (absl::Status s = signing::SignDisclosure(*d_.signer, &*logged.record); !s.ok()) return s;
    absl::StatusOr<int64_t> stored = d_.store->AppendDisclosure(*logged.record);
    if (!stored.ok()) return stored.status();
  }
  if (logged.answer.ok() && logged.count) logged.count(*logged.answer);
  return std::move(logged.answer);
}

template <typename Answer>
void LicenceRegistry::GiveAsync(Logged<Answer> logged, Done<Answer> done) {
  if (!logged.record.has_value()) {
    done(std::move(logged.answer));
    return;
  }
  if (absl::Status s = signing::SignDisclosure(*d_.signer, &*logged.record); !s.ok()) {
    done(s);
    return;
  }
  const v1::LicenceDisclosure record = *std::move(logged.record);
  logged.record.reset();
  // shared_ptr: std::function needs a copyable callback.
  auto pending = std::make_shared<Logged<Answer>>(std::move(logged));
  d_.store->AppendDisclosureAsync(
      record, [pending, done = std::move(done)](absl::StatusOr<int64_t> stored) {
        if (!stored.ok()) {
          done(stored.status());
          return;
        }
        if (pending->answer.ok() && pending->count) pending->count(*pending->answer);
        done(std::move(pending->answer));
      });
}

absl::StatusOr<v1::VerifyLicenceResponse> LicenceRegistry::Check(const LicenceQuestion& q) {
  return Give(DecideCheck(q));
}

void LicenceRegistry::CheckAsync(const LicenceQuestion& q, Done<v1::VerifyLicenceResponse> done) {
  GiveAsync(DecideCheck(q), std::move(done));
}

absl::StatusOr<v1::PreviewLicenceResponse> LicenceRegistry::Preview(const LicenceFetch& f) {
  return Give(DecidePreview(f));
}

void LicenceRegistry::PreviewAsync(const LicenceFetch& f, Done<v1::PreviewLicenceResponse> done) {
  GiveAsync(DecidePreview(f), std::move(done));
}

absl::StatusOr<v1::ConfirmLicenceResponse> LicenceRegistry::Release(
    const v1::LicenceGrant& grant, bool confirm, const std::string& requester_province,
    const std::string& requester) {
  return Give(DecideRelease(grant, confirm, requester_province, requester));
}

void LicenceRegistry::ReleaseAsync(const v1::LicenceGrant& grant, bool confirm,
                                   const std::string& requester_province,
                                   const std::string& requester,
                                   Done<v1::ConfirmLicenceResponse> done) {
  GiveAsync(DecideRelease(grant, confirm, requester_province, requester), std::move(done));
}

v1::LicenceDisclosure LicenceRegistry::NewRecord(v1::DisclosureKind kind,
                                                const std::string& type_code,
                                                const std::string& holder_id,
                                                const std::string& requester_province,
                                                const std::string& requester,
                                                absl::Time now) const {
  v1::LicenceDisclosure record;
  record.set_disclosure_id(NewDisclosureId(d_.own_province, now));
  record.set_issuing_province(d_.own_province);
  record.set_kind(kind);
  record.set_type_code(type_code);
  record.set_holder_id(holder_id);
  record.set_requester_province(requester_province);
  record.set_requester(requester);
  *record.mutable_at() = ToTimestamp(now);
  return record;
}

LicenceRegistry::Logged<v1::VerifyLicenceResponse> LicenceRegistry::DecideCheck(
    const LicenceQuestion& q) {
  Logged<v1::VerifyLicenceResponse> out;
  const absl::Time now = d_.clock->Now();
  v1::LicenceDisclosure record = NewRecord(v1::DISCLOSURE_KIND_CHECK, q.type_code, q.holder_id,
                                           q.requester_province, q.requester, now);
  record.set_number(q.number);
  record.set_purpose(q.purpose);
  record.set_application_id(q.application_id);

  v1::VerifyLicenceResponse answer;
  absl::StatusOr<v1::Licence> licence =
      d_.store->GetLicence(signing::LicenceId(d_.own_province, q.type_code, q.number));
  if (!licence.ok() && !absl::IsNotFound(licence.status())) {
    out.answer = licence.status();
    return out;
  }
  // Another holder's licence answers as no licence at all: a check must not
  // tell whether a number exists.
  if (licence.ok() && licence->content().holder_id() == q.holder_id) {
    answer.set_matched(true);
    answer.set_status(StatusAt(*licence, now));
    answer.set_valid_until(licence->content().valid_until());
    record.set_matched(true);
    record.set_status(answer.status());
    record.set_licence_id(licence->content().licence_id());
  }
  answer.set_disclosure_id(record.disclosure_id());
  out.record = std::move(record);
  out.answer = std::move(answer);
  if (d_.metrics != nullptr) {
    out.count = [metrics = d_.metrics, relayed = q.requester_province != d_.own_province](
                    const v1::VerifyLicenceResponse& a) { metrics->LicenceChecked(relayed, a); };
  }
  return out;
}

LicenceRegistry::Logged<v1::PreviewLicenceResponse> LicenceRegistry::DecidePreview(
    const LicenceFetch& f) {
  Logged<v1::PreviewLicenceResponse> out;
  const absl::Time now = d_.clock->Now();
  v1::LicenceDisclosure record = NewRecord(v1::DISCLOSURE_KIND_PREVIEW, f.type_code, f.holder_id,
                                           f.requester_province, f.requester, now);
  record.set_purpose(UsePurpose(f.use));
  *record.mutable_use() = f.use;

  LicenceFilter filter;
  filter.holder_id = f.holder_id;
  filter.type_code = f.type_code;
  absl::StatusOr<std::vector<v1::Licence>> held = d_.store->ListLicences(filter, "", 100);
  if (!held.ok()) {
    out.answer = held.status();
    return out;
  }
  const v1::Licence* chosen = nullptr;  // the newest valid one
  const v1::Licence* revoked = nullptr;
  const v1::Licence* expired = nullptr;
  for (const v1::Licence& licence : *held) {
    switch (StatusAt(licence, now)) {
      case v1::LICENCE_STATUS_VALID:
        if (chosen == nullptr ||
            licence.content().valid_from() > chosen->content().valid_from()) {
          chosen = &licence;
        }
        break;
      case v1::LICENCE_STATUS_REVOKED: revoked = &licence; break;
      default: expired = &licence; break;
    }
  }
  if (chosen == nullptr) {
    // Recorded too: the holder may ask who looked for their licences.
    out.record = std::move(record);
    const std::string& name = d_.types->Find(f.type_code)->name_zh();
    if (revoked != nullptr) {
      out.answer = WithReason(
          absl::FailedPreconditionError(absl::StrCat(
              "the applicant's ", name, " (", f.type_code, ") ", revoked->content().licence_id(),
              " was revoked by province ", d_.own_province, ": ", revoked->revocation().reason(),
              "; supply the material as an upload or ask the issuing authority")),
          kReasonLicenceRevoked);
      return out;
    }
    if (expired != nullptr) {
      out.answer = WithReason(
          absl::FailedPreconditionError(absl::StrCat(
              "the applicant's ", name, " (", f.type_code, ") ", expired->content().licence_id(),
              " expired on ", expired->content().valid_until(),
              "; renew it with the issuing authority or supply the material as an upload")),
          kReasonLicenceExpired);
      return out;
    }
    out.answer =
        WithReason(absl::NotFoundError(absl::StrCat(
                       "province ", d_.own_province, " holds no ", name, " (", f.type_code,
                       ") of this applicant; check the issuing province or upload the material")),
                   kReasonLicenceNotFound);
    return out;
  }
  v1::LicenceGrant grant;
  grant.set_grant_id(absl::StrCat(d_.own_province, "-g-",
                                  record.disclosure_id().substr(d_.own_province.size() + 3)));
  grant.set_issuing_province(d_.own_province);
  grant.set_licence_id(chosen->content().licence_id());
  grant.set_holder_id(f.holder_id);
  grant.set_requester_province(f.requester_province);
  *grant.mutable_use() = f.use;
  *grant.mutable_expires_at() = ToTimestamp(now + d_.grant_lifetime);
  if (absl::Status s = signing::SignGrant(*d_.signer, &grant); !s.ok()) {
    out.answer = s;
    return out;
  }

  record.set_number(chosen->content().number());
  record.set_licence_id(chosen->content().licence_id());
  record.set_matched(true);
  record.set_status(v1::LICENCE_STATUS_VALID);
  record.set_grant_id(grant.grant_id());
  out.record = std::move(record);

  v1::PreviewLicenceResponse answer;
  v1::LicencePreview* preview = answer.mutable_preview();
  *preview->mutable_content() = chosen->content();
  preview->set_status(v1::LICENCE_STATUS_VALID);
  preview->set_type_name_zh(d_.types->Find(f.type_code)->name_zh());
  *preview->mutable_grant() = std::move(grant);
  out.answer = std::move(answer);
  out.count = FetchStepCounter(d_.metrics, "preview");
  return out;
}

LicenceRegistry::Logged<v1::ConfirmLicenceResponse> LicenceRegistry::DecideRelease(
    const v1::LicenceGrant& grant, bool confirm, const std::string& requester_province,
    const std::string& requester) {
  Logged<v1::ConfirmLicenceResponse> out;
  const absl::Time now = d_.clock->Now();
  if (grant.issuing_province() != d_.own_province) {
    out.answer = absl::PermissionDeniedError(
        absl::StrCat("grant ", Shown(grant.grant_id()), " is not of province ", d_.own_province));
    return out;
  }
  if (absl::Status s = signing::VerifyGrant(*d_.verifier, grant, now); !s.ok()) {
    out.answer = s;
    return out;
  }
  if (grant.requester_province() != requester_province) {
    out.answer = absl::PermissionDeniedError(
        absl::StrCat("grant ", grant.grant_id(), " was issued to province ",
                     grant.requester_province(), ", not to ", requester_province));
    return out;
  }
  if (!grant.has_expires_at() || absl::FromUnixSeconds(grant.expires_at().seconds()) < now) {
    out.answer = WithReason(absl::FailedPreconditionError(absl::StrCat(
                                "grant ", grant.grant_id(), " expired; preview the licence again")),
                            kReasonGrantExpired);
    return out;
  }
  absl::StatusOr<v1::Licence> licence = d_.store->GetLicence(grant.licence_id());
  if (!licence.ok()) {
    out.answer = licence.status();
    return out;
  }

  v1::LicenceDisclosure record =
      NewRecord(confirm ? v1::DISCLOSURE_KIND_RELEASE : v1::DISCLOSURE_KIND_DECLINE,
                licence->content().type_code(), grant.holder_id(), requester_province, requester,
                now);
  record.set_number(licence->content().number());
  record.set_licence_id(grant.licence_id());
  record.set_purpose(UsePurpose(grant.use()));
  *record.mutable_use() = grant.use();
  record.set_grant_id(grant.grant_id());
  record.set_matched(true);
  const v1::LicenceStatus status = StatusAt(*licence, now);
  record.set_status(status);
  v1::ConfirmLicenceResponse answer;
  if (!confirm) {
    out.record = std::move(record);
    answer.set_declined(true);
    out.answer = std::move(answer);
    out.count = FetchStepCounter(d_.metrics, "decline");
    return out;
  }
  if (status != v1::LICENCE_STATUS_VALID) {
    // Nothing leaves: the attempt is logged as a DECLINE carrying the status
    // that stopped it.
    record.set_kind(v1::DISCLOSURE_KIND_DECLINE);
    out.record = std::move(record);
    out.answer = WithReason(
        absl::FailedPreconditionError(
            absl::StrCat("licence ", grant.licence_id(), " is ",
                         status == v1::LICENCE_STATUS_REVOKED ? "revoked" : "expired",
                         " since the preview; nothing was released")),
        status == v1::LICENCE_STATUS_REVOKED ? kReasonLicenceRevoked : kReasonLicenceExpired);
    return out;
  }
  out.record = std::move(record);
  licence->set_status(status);
  *answer.mutable_licence() = *std::move(licence);
  out.answer = std::move(answer);
  out.count = FetchStepCounter(d_.metrics, "release");
  return out;
}

absl::StatusOr<std::vector<StoredDisclosure>> LicenceRegistry::ListDisclosures(
    const DisclosureFilter& filter, int64_t before_sequence, int limit) {
  return d_.store->ListDisclosures(filter, before_sequence, limit);
}

}  // namespace tongban::node
