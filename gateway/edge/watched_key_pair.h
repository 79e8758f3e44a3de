// The HTTPS edge's certificate and key, re-read when their files change, so
// a renewed certificate (e.g. swapped in by certs/issue.sh or cert-manager)
// serves new connections without a restart, as the mTLS certificates do.
// Installed as the TLS context's certificate callback: every handshake uses
// the pair current at that moment.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "x509_files.h"

namespace tongban::edge {

class WatchedKeyPair {
 public:
  // FAILED_PRECONDITION naming the file when the chain or key cannot be read
  // or do not match. `refresh`: how often a handshake checks the files.
  static absl::StatusOr<std::unique_ptr<WatchedKeyPair>> Load(std::string cert_file,
                                                              std::string key_file,
                                                              absl::Duration refresh);

  // Makes `ctx` present the current pair on every handshake.
  void Install(SSL_CTX* ctx);

 private:
  struct Pair {
    std::vector<x509::X509Ptr> chain;  // leaf first
    x509::KeyPtr key;
  };
  WatchedKeyPair(std::string cert_file, std::string key_file, absl::Duration refresh)
      : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)), refresh_(refresh) {}
  static absl::StatusOr<std::shared_ptr<const Pair>> Read(const std::string& cert_file,
                                                          const std::string& key_file);
  // A fingerprint of both files' metadata: changes when either is replaced.
  std::string Stamp() const;
  // The pair to present now, re-read when due and the files changed; a
  // broken replacement keeps the previous pair.
  std::shared_ptr<const Pair> Current();
  static int OnCertificate(SSL* ssl, void* self);

  const std::string cert_file_;
  const std::string key_file_;
  const absl::Duration refresh_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const Pair> pair_;  // guarded by mu_
  std::string stamp_;                 // guarded by mu_
  absl::Time checked_;                // guarded by mu_
};

}  // namespace tongban::edge
