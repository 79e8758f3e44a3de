// Helpers of the certs.* tests: a private copy of the test PKI (the shared
// one under build/test-certs is never modified), the certs/ scripts, nodes
// started on that copy with a config file, and channels built like the
// production ones (tongban::MakeChannelCredentials: files re-read every
// second, optional CRL directory).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "grpcpp/channel.h"
#include "grpcpp/support/status.h"
#include "node_process.h"

namespace tongban::testing::certs {

// Copies CertsDir() to a fresh temporary directory; returns the copy's path
// ("" on failure). With only_province, the other 30 provinces' leaves are left
// out (a CA rotation re-issues every leaf: 134 in the full PKI, 6 then).
std::string CopyPki(const std::string& prefix, const std::string& only_province = "");

// Runs a shell command; its exit code, stdout+stderr into *output.
int Shell(const std::string& command, std::string* output = nullptr);

// Path of a script in the repository's certs/ directory.
std::string Script(const std::string& name);
std::string TongbanctlBinary();

// TLS files of an identity directory of `pki` ("province/440000/node", ...).
struct Tls {
  std::string cert;
  std::string key;
  std::string ca;
  std::string crl_dir;  // empty = no revocation check
};
Tls TlsAt(const std::string& pki, const std::string& identity_dir, const std::string& crl_dir = "");

// A channel with the production client credentials (MakeChannelCredentials,
// 1 s refresh) and a connection of its own.
std::shared_ptr<grpc::Channel> WatchingChannel(const std::string& address, const Tls& tls);

// GetCatalogInfo on `channel` (5 s deadline). *server_serial (optional):
// serial (hex) of the certificate the server presented on this call.
grpc::Status CatalogInfo(grpc::Channel* channel, std::string* server_serial = nullptr);

// Serial (hex, upper case) of the first certificate of a PEM file; "" on error.
std::string SerialOfFile(const std::string& path);

// Starts tongban-node for `province` with its certificate from `pki` and a
// config file holding the tls keys below; `crl_dir` empty = none.
struct NodeTls {
  int refresh_interval_seconds = 1;
  int max_connection_age_seconds = 0;
  std::string crl_dir;
  bool demo_catalog = false;  // load node/demo_catalog (for tests that file)
};
inline NodeTls RecyclingAfter(int max_connection_age_seconds) {
  NodeTls tls;
  tls.max_connection_age_seconds = max_connection_age_seconds;
  return tls;
}
inline NodeTls WithCrl(const std::string& crl_dir) {
  NodeTls tls;
  tls.crl_dir = crl_dir;
  return tls;
}
std::unique_ptr<NodeProcess> StartNode(const std::string& pki, const std::string& workdir,
                                       const NodeTls& tls, const std::string& province = "440000");

// Polls `condition` every 100 ms until true or `timeout`.
bool WaitFor(std::chrono::milliseconds timeout, const std::function<bool()>& condition);

}  // namespace tongban::testing::certs
