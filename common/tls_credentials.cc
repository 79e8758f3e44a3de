#include "tls_credentials.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/security/tls_certificate_provider.h"
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

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

absl::StatusOr<X509Ptr> ReadCert(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat("cannot open certificate file ", path));
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (cert == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(path, " holds no PEM certificate"));
  }
  return X509Ptr(cert);
}

absl::Status CheckKey(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat("cannot open key file ", path));
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (key == nullptr) return absl::InvalidArgumentError(absl::StrCat(path, " holds no PEM private key"));
  EVP_PKEY_free(key);
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckTlsFiles(const v1::TlsFiles& files) {
  if (files.cert_file().empty() || files.key_file().empty() || files.ca_file().empty()) {
    return absl::InvalidArgumentError(
        "tls.cert_file, tls.key_file and tls.ca_file are all required (mTLS is not optional)");
  }
  absl::StatusOr<X509Ptr> cert = ReadCert(files.cert_file());
  if (!cert.ok()) return cert.status();
  absl::StatusOr<X509Ptr> ca = ReadCert(files.ca_file());
  if (!ca.ok()) return ca.status();
  return CheckKey(files.key_file());
}

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const v1::TlsFiles& files) {
  grpc::experimental::TlsServerCredentialsOptions options(Provider(files));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!files.crl_directory().empty()) options.set_crl_directory(files.crl_directory());
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const v1::TlsFiles& files) {
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(Provider(files));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  if (!files.crl_directory().empty()) options.set_crl_directory(files.crl_directory());
  return grpc::experimental::TlsCredentials(options);
}

absl::StatusOr<std::string> ReadCertificateUri(const std::string& cert_file) {
  absl::StatusOr<X509Ptr> cert = ReadCert(cert_file);
  if (!cert.ok()) return cert.status();
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert->get(), NID_subject_alt_name, nullptr, nullptr));
  std::vector<std::string> uris;
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                      ASN1_STRING_length(uri));
  }
  GENERAL_NAMES_free(names);
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
