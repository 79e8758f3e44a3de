#include "tls_credentials.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <vector>

#include "absl/strings/str_cat.h"
#include "x509_files.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"

namespace tongban {
namespace {

constexpr unsigned kDefaultRefreshSeconds = 60;

unsigned RefreshSeconds(const v1::TlsFiles& files) {
  return files.refresh_interval_seconds() == 0 ? kDefaultRefreshSeconds
                                               : files.refresh_interval_seconds();
}

std::shared_ptr<grpc::experimental::FileWatcherCertificateProvider> Provider(
    const v1::TlsFiles& files) {
  return std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      files.key_file(), files.cert_file(), files.ca_file(), RefreshSeconds(files));
}

using x509::OneLine;
using x509::UnixTime;
using x509::UtcText;
using x509::X509Ptr;

// The first certificate of a PEM file, with an error naming the file.
absl::StatusOr<X509Ptr> ReadCert(const std::string& path) {
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    std::fclose(f);
  } else {
    return absl::NotFoundError(absl::StrCat("cannot open certificate file ", path));
  }
  std::vector<X509Ptr> certs = x509::ReadCertificates(path);
  if (certs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " holds no PEM certificate"));
  }
  return std::move(certs.front());
}

absl::Status CheckKey(const std::string& path, X509* cert, const std::string& cert_path) {
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    std::fclose(f);
  } else {
    return absl::NotFoundError(absl::StrCat("cannot open key file ", path));
  }
  x509::KeyPtr key = x509::ReadPrivateKey(path);
  if (key == nullptr) return absl::InvalidArgumentError(absl::StrCat(path, " holds no PEM private key"));
  if (X509_check_private_key(cert, key.get()) != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key ", path, " does not belong to certificate ", cert_path,
        " (replace key and certificate together, atomically: docs/operations.md)"));
  }
  return absl::OkStatus();
}

struct CrlDeleter {
  void operator()(X509_CRL* c) const { X509_CRL_free(c); }
};
using CrlPtr = std::unique_ptr<X509_CRL, CrlDeleter>;


bool IsDirectory(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

}  // namespace

CrlDirectoryCheck CheckCrlDirectory(const std::string& crl_directory, const std::string& ca_file,
                                    int64_t now, int64_t warn_seconds) {
  CrlDirectoryCheck check;
  if (!IsDirectory(crl_directory)) {
    check.problems.push_back(absl::StrCat(
        "CRL directory ", crl_directory,
        " does not exist: gRPC would check no certificate for revocation (it ignores a missing "
        "CRL), so a revoked certificate would be accepted"));
    return check;
  }
  std::vector<X509Ptr> cas = x509::ReadCertificates(ca_file);
  if (cas.empty()) {
    check.problems.push_back(absl::StrCat("CA bundle ", ca_file, " holds no PEM certificate"));
    return check;
  }
  for (const X509Ptr& ca : cas) {
    CrlDirectoryCheck::CaCrl entry;
    const X509_NAME* subject = X509_get_subject_name(ca.get());
    entry.ca_subject = OneLine(subject);
    int ok = 0;
    unsigned long hash = X509_NAME_hash_ex(subject, nullptr, nullptr, &ok);
    char name[32];
    auto file_for = [&](int k) {
      std::snprintf(name, sizeof(name), "%08lx.r%d", hash, k);
      return absl::StrCat(crl_directory, "/", name);
    };
    entry.expected_file = file_for(0);
    EVP_PKEY* ca_key = X509_get0_pubkey(ca.get());
    // As OpenSSL's hash_dir lookup: suffixes 0, 1, ... until one is missing
    // or does not load.
    X509_CRL* best = nullptr;
    int64_t best_last_update = 0;
    int64_t newest_next_update = 0;
    bool any_signed = false;
    bool not_yet_valid = false;
    std::vector<CrlPtr> crls;
    for (int k = 0;; ++k) {
      std::string path = file_for(k);
      if (!Exists(path)) break;
      FILE* f = std::fopen(path.c_str(), "r");
      X509_CRL* crl = f == nullptr ? nullptr : PEM_read_X509_CRL(f, nullptr, nullptr, nullptr);
      if (f != nullptr) std::fclose(f);
      if (crl == nullptr) {
        check.problems.push_back(absl::StrCat(
            path, " is not a readable PEM CRL: OpenSSL stops at it, so it and any later .r<n> "
            "of this CA are ignored"));
        break;
      }
      crls.emplace_back(crl);
      // Another CA whose name hashes alike: not this CA's CRL.
      if (X509_NAME_cmp(X509_CRL_get_issuer(crl), subject) != 0) continue;
      if (X509_CRL_verify(crl, ca_key) != 1) {
        check.problems.push_back(absl::StrCat(
            path, " names CA '", entry.ca_subject,
            "' as issuer but is not signed by its key: a verifier that picks it refuses every "
            "certificate of that CA"));
        continue;
      }
      any_signed = true;
      int64_t last_update = UnixTime(X509_CRL_get0_lastUpdate(crl));
      int64_t next_update = UnixTime(X509_CRL_get0_nextUpdate(crl));
      if (next_update > newest_next_update) newest_next_update = next_update;
      if (last_update > now) {
        not_yet_valid = true;
        continue;
      }
      if (next_update != 0 && next_update <= now) continue;
      if (best == nullptr || last_update > best_last_update) {
        best = crl;
        best_last_update = last_update;
        entry.file = path;
        entry.next_update = next_update;
        STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);
        entry.revoked_count = revoked == nullptr ? 0 : sk_X509_REVOKED_num(revoked);
      }
    }
    if (!any_signed) {
      check.problems.push_back(absl::StrCat(
          "no CRL of CA '", entry.ca_subject, "' in ", crl_directory, " (expected ",
          entry.expected_file,
          "): gRPC ignores a missing CRL, so certificates of this CA would not be checked for "
          "revocation; publish one with certs/revoke.sh --refresh-crl"));
    } else if (best == nullptr) {
      check.problems.push_back(
          not_yet_valid && newest_next_update > now
              ? absl::StrCat("the CRLs of CA '", entry.ca_subject, "' in ", crl_directory,
                             " are not valid yet (lastUpdate in the future: clock skew?): every "
                             "certificate of this CA would be refused")
              : absl::StrCat("the newest CRL of CA '", entry.ca_subject, "' in ", crl_directory,
                             " expired at ", UtcText(newest_next_update),
                             ": every certificate of this CA would be refused; publish a fresh "
                             "one with certs/revoke.sh --refresh-crl"));
    } else if (warn_seconds > 0 && entry.next_update != 0 &&
               entry.next_update - now < warn_seconds) {
      check.problems.push_back(absl::StrCat(
          "the CRL of CA '", entry.ca_subject, "' (", entry.file, ") expires at ",
          UtcText(entry.next_update),
          ": refresh it before then (certs/revoke.sh --refresh-crl), an expired CRL makes every "
          "certificate of this CA be refused"));
    }
    check.cas.push_back(std::move(entry));
  }
  return check;
}

void SetMaxConnectionAge(const v1::TlsFiles& files, grpc::ServerBuilder* builder) {
  int64_t seconds = files.max_connection_age_seconds() == 0 ? 3600 : files.max_connection_age_seconds();
  builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, static_cast<int>(seconds * 1000));
  builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, kMaxConnectionAgeGraceMs);
}

absl::Status CheckTlsFiles(const v1::TlsFiles& files) {
  if (files.cert_file().empty() || files.key_file().empty() || files.ca_file().empty()) {
    return absl::InvalidArgumentError(
        "tls.cert_file, tls.key_file and tls.ca_file are all required (mTLS is not optional)");
  }
  absl::StatusOr<X509Ptr> cert = ReadCert(files.cert_file());
  if (!cert.ok()) return cert.status();
  absl::StatusOr<X509Ptr> ca = ReadCert(files.ca_file());
  if (!ca.ok()) return ca.status();
  absl::Status key = CheckKey(files.key_file(), cert->get(), files.cert_file());
  if (!key.ok()) return key;
  if (files.max_connection_age_seconds() > 2592000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tls.max_connection_age_seconds is ", files.max_connection_age_seconds(),
        ": must be at most 2592000 (30 days; 0 = 3600)"));
  }
  if (!files.crl_directory().empty()) {
    // gRPC 1.51 accepts every certificate whose CA has no CRL in the
    // directory (and silently so when the directory is missing), and refuses
    // every certificate of a CA whose CRL expired: neither should be found
    // at the first handshake.
    CrlDirectoryCheck crls =
        CheckCrlDirectory(files.crl_directory(), files.ca_file(), std::time(nullptr), 0);
    if (!crls.problems.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("tls.crl_directory: ", crls.problems.front()));
    }
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const v1::TlsFiles& files) {
  grpc::experimental::TlsServerCredentialsOptions options(Provider(files));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!files.crl_directory().empty()) options.set_crl_directory(files.crl_directory());
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ServerCredentials> MakePublicServerCredentials(const std::string& cert_file,
                                                                     const std::string& key_file,
                                                                     unsigned refresh_seconds) {
  grpc::experimental::TlsServerCredentialsOptions options(
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(key_file, cert_file,
                                                                           refresh_seconds));
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  return grpc::experimental::TlsServerCredentials(options);
}

namespace {

// Chain, CRL and our own certificate, as every client of the federation uses them.
grpc::experimental::TlsChannelCredentialsOptions ClientOptions(
    const v1::TlsFiles& files,
    std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider) {
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(std::move(provider));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  if (!files.crl_directory().empty()) options.set_crl_directory(files.crl_directory());
  return options;
}

// Runs after gRPC verified the chain (and CRL): the server must name the
// identity we meant to reach. Synchronous: it only compares strings.
class ServerIdentityVerifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  ServerIdentityVerifier(std::string expected, ServerRefusedCallback on_refused)
      : expected_(std::move(expected)), on_refused_(std::move(on_refused)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/, grpc::Status* sync_status) override {
    std::vector<std::string> uris;
    for (const grpc::string_ref& uri : request->uri_names()) uris.emplace_back(uri.data(), uri.size());
    std::string mismatch = ServerIdentityMismatch(expected_, uris);
    if (mismatch.empty()) {
      *sync_status = grpc::Status::OK;
    } else {
      if (on_refused_) on_refused_(mismatch);
      *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED, mismatch);
    }
    return true;
  }
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  const std::string expected_;
  const ServerRefusedCallback on_refused_;
};

}  // namespace

std::string ServerIdentityMismatch(const std::string& expected_server_spiffe_id,
                                   const std::vector<std::string>& uri_sans) {
  if (uri_sans.size() == 1 && uri_sans.front() == expected_server_spiffe_id) return "";
  std::string presented;
  if (uri_sans.empty()) {
    presented = "no URI SAN";
  } else {
    presented = uri_sans.size() == 1 ? "URI SAN " : "several URI SANs (ambiguous): ";
    for (size_t i = 0; i < uri_sans.size(); ++i) {
      absl::StrAppend(&presented, i == 0 ? "" : ", ", uri_sans[i].substr(0, 200));
    }
  }
  return absl::StrCat("server certificate refused: expected exactly one URI SAN ",
                      expected_server_spiffe_id, ", the server presented ", presented);
}

ChannelCredentialsFactory::ChannelCredentialsFactory(const v1::TlsFiles& files,
                                                     ServerRefusedCallback on_refused)
    : files_(files), provider_(Provider(files)), on_refused_(std::move(on_refused)) {}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFactory::For(
    const std::string& expected_server_spiffe_id) const {
  grpc::experimental::TlsChannelCredentialsOptions options = ClientOptions(files_, provider_);
  // Takes the place of gRPC's default host-name verifier: which province a
  // server speaks for is its URI SAN, the address it listens at proves nothing.
  options.set_certificate_verifier(
      grpc::experimental::ExternalCertificateVerifier::Create<ServerIdentityVerifier>(
          expected_server_spiffe_id, on_refused_));
  return grpc::experimental::TlsCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(
    const v1::TlsFiles& files, const std::string& expected_server_spiffe_id,
    ServerRefusedCallback on_refused) {
  return ChannelCredentialsFactory(files, std::move(on_refused)).For(expected_server_spiffe_id);
}

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const v1::TlsFiles& files) {
  return grpc::experimental::TlsCredentials(ClientOptions(files, Provider(files)));
}

absl::StatusOr<std::string> ReadCertificateUri(const std::string& cert_file) {
  absl::StatusOr<X509Ptr> cert = ReadCert(cert_file);
  if (!cert.ok()) return cert.status();
  std::vector<std::string> uris = x509::UriSans(cert->get());
  if (uris.size() != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        cert_file, " must carry exactly one URI SAN (a spiffe://tongban/... identity), it has ",
        uris.size()));
  }
  return uris[0];
}

absl::StatusOr<int64_t> ReadCertificateNotAfter(const std::string& cert_file) {
  absl::StatusOr<X509Ptr> cert = ReadCert(cert_file);
  if (!cert.ok()) return cert.status();
  struct tm tm_after {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert->get()), &tm_after) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(cert_file, ": unreadable notAfter"));
  }
  return static_cast<int64_t>(timegm(&tm_after));
}

}  // namespace tongban
