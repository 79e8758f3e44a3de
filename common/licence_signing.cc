#include "licence_signing.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/timestamp.pb.h"

namespace tongban::signing {
namespace {

// InfinitePast for an unset timestamp: VerifySignature's "has no time".
absl::Time TimeOf(bool has, const google::protobuf::Timestamp& ts) {
  if (!has) return absl::InfinitePast();
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

// SHA-256(context + deterministic record without `signature`), copying the
// record only when it carries a signature.
template <typename Record>
std::string UnsignedDigest(const char* context, const Record& record) {
  if (!record.has_signature()) return Sha256(absl::StrCat(context, DeterministicBytes(record)));
  Record copy = record;
  copy.clear_signature();
  return Sha256(absl::StrCat(context, DeterministicBytes(copy)));
}

}  // namespace

std::string LicenceId(std::string_view issuing_province, std::string_view type_code,
                      std::string_view number) {
  // absl::string_view is not std::string_view in this Abseil build.
  auto view = [](std::string_view s) { return absl::string_view(s.data(), s.size()); };
  return absl::StrCat(view(issuing_province), "-", view(type_code), "-", view(number));
}

std::string LicenceContentDigest(const v1::LicenceContent& content) {
  return Sha256(absl::StrCat(kLicenceContentContext, DeterministicBytes(content)));
}

std::string LicenceRevocationDigest(const v1::LicenceRevocation& revocation) {
  return UnsignedDigest(kLicenceRevocationContext, revocation);
}

std::string LicenceDisclosureDigest(const v1::LicenceDisclosure& disclosure) {
  return UnsignedDigest(kLicenceDisclosureContext, disclosure);
}

std::string LicenceGrantDigest(const v1::LicenceGrant& grant) {
  return UnsignedDigest(kLicenceGrantContext, grant);
}

absl::Status SignLicence(RecordSigner& signer, v1::Licence* licence) {
  const v1::LicenceContent& c = licence->content();
  std::string expected_id = LicenceId(c.issuing_province(), c.type_code(), c.number());
  if (c.licence_id() != expected_id) {
    return absl::InvalidArgumentError(absl::StrCat("licence ", absl::CHexEscape(c.licence_id()),
                                                   ": the id does not match its content (",
                                                   absl::CHexEscape(expected_id), "); not signed"));
  }
  v1::RecordSignature sig;
  absl::Status s = signer.SignDigest(c.issuing_province(), LicenceContentDigest(c), &sig);
  if (!s.ok()) return s;
  *licence->mutable_signature() = std::move(sig);
  return absl::OkStatus();
}

absl::Status SignRevocation(RecordSigner& signer, const std::string& issuing_province,
                            v1::LicenceRevocation* revocation) {
  v1::RecordSignature sig;
  absl::Status s = signer.SignDigest(issuing_province, LicenceRevocationDigest(*revocation), &sig);
  if (!s.ok()) return s;
  *revocation->mutable_signature() = std::move(sig);
  return absl::OkStatus();
}

absl::Status SignDisclosure(RecordSigner& signer, v1::LicenceDisclosure* disclosure) {
  v1::RecordSignature sig;
  absl::Status s =
      signer.SignDigest(disclosure->issuing_province(), LicenceDisclosureDigest(*disclosure), &sig);
  if (!s.ok()) return s;
  *disclosure->mutable_signature() = std::move(sig);
  return absl::OkStatus();
}

absl::Status SignGrant(RecordSigner& signer, v1::LicenceGrant* grant) {
  v1::RecordSignature sig;
  absl::Status s = signer.SignDigest(grant->issuing_province(), LicenceGrantDigest(*grant), &sig);
  if (!s.ok()) return s;
  *grant->mutable_signature() = std::move(sig);
  return absl::OkStatus();
}

absl::Status VerifyLicence(const RecordVerifier& verifier, const v1::Licence& licence,
                           absl::Time now, VerifyMode mode) {
  if (!licence.has_content()) return absl::PermissionDeniedError("licence: no content");
  const v1::LicenceContent& c = licence.content();
  const std::string what = absl::StrCat("licence ", absl::CHexEscape(c.licence_id()));
  std::string expected_id = LicenceId(c.issuing_province(), c.type_code(), c.number());
  if (c.licence_id() != expected_id) {
    return absl::PermissionDeniedError(absl::StrCat(what, ": the id does not match its content (",
                                                    absl::CHexEscape(expected_id), ")"));
  }
  absl::Status s =
      verifier.VerifySignature(licence.signature(), c.issuing_province(), LicenceContentDigest(c),
                               TimeOf(c.has_issued_at(), c.issued_at()), mode, now, what);
  if (!s.ok()) return s;
  if (!licence.has_revocation()) return absl::OkStatus();
  const v1::LicenceRevocation& r = licence.revocation();
  if (r.licence_id() != c.licence_id()) {
    return absl::PermissionDeniedError(
        absl::StrCat(what, ": revocation is of licence ", absl::CHexEscape(r.licence_id())));
  }
  return verifier.VerifySignature(r.signature(), c.issuing_province(), LicenceRevocationDigest(r),
                                  TimeOf(r.has_at(), r.at()), mode, now,
                                  absl::StrCat(what, ": revocation"));
}

absl::Status VerifyDisclosure(const RecordVerifier& verifier,
                              const v1::LicenceDisclosure& disclosure, absl::Time now,
                              VerifyMode mode) {
  return verifier.VerifySignature(
      disclosure.signature(), disclosure.issuing_province(), LicenceDisclosureDigest(disclosure),
      TimeOf(disclosure.has_at(), disclosure.at()), mode, now,
      absl::StrCat("disclosure ", absl::CHexEscape(disclosure.disclosure_id())));
}

absl::Status VerifyGrant(const RecordVerifier& verifier, const v1::LicenceGrant& grant,
                         absl::Time now) {
  return verifier.VerifySignature(grant.signature(), grant.issuing_province(),
                                  LicenceGrantDigest(grant), now, VerifyMode::kReceiving, now,
                                  absl::StrCat("grant ", absl::CHexEscape(grant.grant_id())));
}

}  // namespace tongban::signing
