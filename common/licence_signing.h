// Signed 电子证照 records (docs/licences.md): a licence's content, its
// revocation and every disclosure of it are signed by the issuing province's
// node with its mTLS key, as events are (common/record_signing.h).
//
//   content digest      SHA-256("tongban.v1.LicenceContent\n" +
//                       deterministic LicenceContent)
//   revocation digest   SHA-256("tongban.v1.LicenceRevocation\n" +
//                       deterministic LicenceRevocation without `signature`)
//   disclosure digest   SHA-256("tongban.v1.LicenceDisclosure\n" +
//                       deterministic LicenceDisclosure without `signature`)
//
// The signer certificate must name the issuing province. Nothing here throws;
// every failure is an absl::Status.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "record_signing.h"
#include "tongban/v1/licence.pb.h"

namespace tongban::signing {

// Domain separation prefixes of the licence signing inputs.
inline constexpr char kLicenceContentContext[] = "tongban.v1.LicenceContent\n";
inline constexpr char kLicenceRevocationContext[] = "tongban.v1.LicenceRevocation\n";
inline constexpr char kLicenceDisclosureContext[] = "tongban.v1.LicenceDisclosure\n";
inline constexpr char kLicenceGrantContext[] = "tongban.v1.LicenceGrant\n";

// "<issuing province>-<type_code>-<number>", e.g. 510000-MZ01-J510107-2019-000123.
std::string LicenceId(std::string_view issuing_province, std::string_view type_code,
                      std::string_view number);

// The 32-byte signing digests (SHA-256 of context + deterministic bytes); the
// revocation's and the disclosure's ignore their `signature` field.
std::string LicenceContentDigest(const v1::LicenceContent& content);
std::string LicenceRevocationDigest(const v1::LicenceRevocation& revocation);
std::string LicenceDisclosureDigest(const v1::LicenceDisclosure& disclosure);
std::string LicenceGrantDigest(const v1::LicenceGrant& grant);

// Fills licence->signature over licence->content (every content field must be
// final before). INVALID_ARGUMENT when content.licence_id is not
// LicenceId(issuing_province, type_code, number); FAILED_PRECONDITION when
// content.issuing_province is not the signer's province (RecordSigner::
// SignDigest). Only `signature` is written, and only on success.
absl::Status SignLicence(RecordSigner& signer, v1::Licence* licence);

// Fills revocation->signature; `issuing_province` is the province of the
// licence revoked (FAILED_PRECONDITION when not the signer's). Only
// `signature` is written, and only on success.
absl::Status SignRevocation(RecordSigner& signer, const std::string& issuing_province,
                            v1::LicenceRevocation* revocation);

// Fills disclosure->signature (province = disclosure->issuing_province). Only
// `signature` is written, and only on success.
absl::Status SignDisclosure(RecordSigner& signer, v1::LicenceDisclosure* disclosure);

// Fills grant->signature (province = grant->issuing_province). Only
// `signature` is written, and only on success.
absl::Status SignGrant(RecordSigner& signer, v1::LicenceGrant* grant);

// OK, or PERMISSION_DENIED "licence <licence_id>: <reason>": the content is
// missing; content.licence_id is not "<issuing_province>-<type_code>-<number>";
// the content signature does not verify for content.issuing_province
// (RecordVerifier::VerifySignature; in kHistorical mode at content.issued_at);
// or, when the licence is revoked, the revocation names another licence or its
// signature does not verify for the same province ("licence <id>: revocation:
// <reason>"; in kHistorical mode at revocation.at). `status` is derived when
// read and is not checked.
absl::Status VerifyLicence(const RecordVerifier& verifier, const v1::Licence& licence,
                           absl::Time now, VerifyMode mode);

// OK, or PERMISSION_DENIED "disclosure <disclosure_id>: <reason>" when its
// signature does not verify for disclosure.issuing_province (in kHistorical
// mode at disclosure.at).
absl::Status VerifyDisclosure(const RecordVerifier& verifier,
                              const v1::LicenceDisclosure& disclosure, absl::Time now,
                              VerifyMode mode);

// OK, or PERMISSION_DENIED "grant <grant_id>: <reason>" when its signature
// does not verify for grant.issuing_province now (kReceiving: a grant is
// live for minutes). Expiry is the caller's business.
absl::Status VerifyGrant(const RecordVerifier& verifier, const v1::LicenceGrant& grant,
                         absl::Time now);

}  // namespace tongban::signing
