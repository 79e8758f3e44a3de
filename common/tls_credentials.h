// mTLS credentials for every process of the federation, built from watched
// files (FileWatcherCertificateProvider), so a renewed certificate, key or
// CA bundle is used for new connections without a restart.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/server_builder.h"
#include "tongban/v1/node_config.pb.h"

namespace tongban {

// Checks that the files exist and parse (certificate, key, CA), that the key
// belongs to the certificate, and, when crl_directory is set, that it holds a
// usable CRL of every CA in the bundle (CheckCrlDirectory), so a mistake fails
// at start-up with a message naming the file instead of at the first handshake
// or, worse, silently (gRPC 1.51 skips revocation for a CA without a CRL).
absl::Status CheckTlsFiles(const v1::TlsFiles& files);

// What a hashed CRL directory gives a gRPC 1.51 / OpenSSL 3.0 process for each
// CA of a bundle. OpenSSL reads <dir>/<issuer-hash>.r0, .r1, ... up to the
// first missing (or unreadable) suffix and, of the CRLs of an issuer, uses the
// newest one that is currently valid.
struct CrlDirectoryCheck {
  struct CaCrl {
    std::string ca_subject;    // one-line subject of the CA
    std::string expected_file; // <dir>/<hash>.r0
    std::string file;          // the CRL a verifier would use; empty = none
    int64_t next_update = 0;   // of that CRL (Unix seconds; 0 = none)
    int revoked_count = 0;     // entries in that CRL
  };
  std::vector<CaCrl> cas;
  // Each problem is one sentence naming the file and the consequence.
  std::vector<std::string> problems;
};
// Problems: the directory is missing; a CA has no CRL (fail-open); the CRLs of
// a CA are all expired or not yet valid (every peer of that CA is refused); a
// file does not parse (later suffixes are ignored) or is not signed by its CA;
// with warn_seconds > 0, the usable CRL expires within warn_seconds.
CrlDirectoryCheck CheckCrlDirectory(const std::string& crl_directory, const std::string& ca_file,
                                    int64_t now_unix, int64_t warn_seconds);

// Server side: recycles client connections after tls.max_connection_age_seconds
// (GRPC_ARG_MAX_CONNECTION_AGE_MS, grace kMaxConnectionAgeGraceMs), so every
// long-lived connection is re-authenticated with current certificates and CRLs.
inline constexpr int kMaxConnectionAgeGraceMs = 30000;
void SetMaxConnectionAge(const v1::TlsFiles& files, grpc::ServerBuilder* builder);

// Server side: requires a client certificate and verifies it against the CA
// bundle (and the CRL directory when set).
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const v1::TlsFiles& files);

// The public edge's gRPC port: presents `cert_file` (re-read every
// `refresh_seconds`, so a renewal needs no restart) and asks clients for no
// certificate: citizens' apps authenticate with a token instead.
std::shared_ptr<grpc::ServerCredentials> MakePublicServerCredentials(const std::string& cert_file,
                                                                     const std::string& key_file,
                                                                     unsigned refresh_seconds);

// Called with one sentence naming the expected and the presented identity
// when a server's certificate is refused by the identity check below.
using ServerRefusedCallback = std::function<void(const std::string& message)>;

// Client side of federation dials: presents our certificate, verifies the
// server's chain (and CRL) and then that its certificate carries exactly one
// URI SAN, equal to `expected_server_spiffe_id` (e.g.
// "spiffe://tongban/province/310000"). DNS names and IPs prove only where a
// server listens, not which province it speaks for: a node serving another
// province's certificate at a directory entry's address fails the handshake
// (calls get UNAVAILABLE) and `on_refused` is told why. One certificate
// provider (one file watcher) serves every channel made by a factory.
class ChannelCredentialsFactory final {
 public:
  explicit ChannelCredentialsFactory(const v1::TlsFiles& files,
                                     ServerRefusedCallback on_refused = nullptr);
  std::shared_ptr<grpc::ChannelCredentials> For(const std::string& expected_server_spiffe_id) const;

 private:
  v1::TlsFiles files_;
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider_;
  ServerRefusedCallback on_refused_;
};

// One channel's credentials with the identity check (ChannelCredentialsFactory).
std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(
    const v1::TlsFiles& files, const std::string& expected_server_spiffe_id,
    ServerRefusedCallback on_refused = nullptr);

// Client side without an identity check: presents our certificate, verifies
// the server's chain (and CRL) and host name only. For tools and tests that
// dial any federation member; federation dials use the overload above.
std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const v1::TlsFiles& files);

// The refusal message of the server-identity check for a server certificate
// with `uri_sans` (empty string = accepted). Exposed for tests.
std::string ServerIdentityMismatch(const std::string& expected_server_spiffe_id,
                                   const std::vector<std::string>& uri_sans);

// The single URI SAN of a PEM certificate file (e.g. "spiffe://tongban/province/440000").
absl::StatusOr<std::string> ReadCertificateUri(const std::string& cert_file);

// notAfter of a PEM certificate file, as Unix seconds.
absl::StatusOr<int64_t> ReadCertificateNotAfter(const std::string& cert_file);

}  // namespace tongban
