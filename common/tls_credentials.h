// mTLS credentials for every process of the federation, built from watched
// files (FileWatcherCertificateProvider), so a renewed certificate, key or
// CA bundle is used for new connections without a restart.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "tongban/v1/node_config.pb.h"

namespace tongban {

// Checks that the files exist and parse (certificate, key, CA), so a bad
// path fails at start-up with a message naming the file instead of at the
// first handshake.
absl::Status CheckTlsFiles(const v1::TlsFiles& files);

// Server side: requires a client certificate and verifies it against the CA
// bundle (and the CRL directory when set).
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const v1::TlsFiles& files);

// Client side: presents our certificate, verifies the server's chain and name.
std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const v1::TlsFiles& files);

// The single URI SAN of a PEM certificate file (e.g. "spiffe://tongban/province/440000").
absl::StatusOr<std::string> ReadCertificateUri(const std::string& cert_file);

// notAfter of a PEM certificate file, as Unix seconds.
absl::StatusOr<int64_t> ReadCertificateNotAfter(const std::string& cert_file);

}  // namespace tongban
