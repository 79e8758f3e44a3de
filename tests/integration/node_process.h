// Test harness: runs a real tongban-node process on loopback (port 0) with
// real mTLS certificates, waits for its ready file (written once it serves),
// and stops or kills it. Also builds mTLS channels for any test identity.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "grpcpp/channel.h"

namespace tongban::testing {

// Directory of the test PKI (certs/gen-dev-certs.sh --with-test-certs), set by CMake.
std::string CertsDir();

// Paths of one identity's files under CertsDir(), e.g. "province/440000/node",
// "province/440000/officer/officer-01", "gateway", "test/expired-officer".
struct Identity {
  std::string cert;
  std::string key;
  std::string ca;  // the federation CA unless overridden
};
Identity IdentityAt(const std::string& relative_dir);

// An mTLS channel to `address` presenting `identity` (nullptr identity = no
// client certificate, server still verified).
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, const Identity* identity);

struct NodeOptions {
  std::string province = "440000";
  std::string cert_dir;            // default province/<province>/node
  std::string database_path;       // default <workdir>/node.db
  // Non-empty: the store is this PostgreSQL database (a config file with
  // postgres { conninfo } instead of --database), e.g. one of several
  // replicas of a province on one database.
  std::string postgres_conninfo;
  int postgres_outbox_lease_seconds = 0;  // 0 = the node's default
  bool demo_catalog = true;
  std::vector<std::string> extra_flags;
  // Run through a launcher (e.g. tests/images/run-in-image.sh ROOTFS BINDS,
  // the binary inside a container image): these words go before the binary.
  std::vector<std::string> launcher;
  // The binary; empty = the one this build made.
  std::string binary;
};

class NodeProcess final {
 public:
  // Starts the node and waits until it serves (or exits). `workdir` is created.
  static std::unique_ptr<NodeProcess> Start(const NodeOptions& options, const std::string& workdir);
  ~NodeProcess();  // kills if still running

  bool running() const { return pid_ > 0; }
  const std::string& grpc_address() const { return grpc_address_; }
  const std::string& metrics_address() const { return metrics_address_; }
  // The plaintext health listener, when started with --health_listen.
  const std::string& health_address() const { return health_address_; }
  const std::string& log_path() const { return log_path_; }
  std::string ReadLog() const;

  // SIGTERM and wait; returns the exit status (WEXITSTATUS) or -1.
  int Terminate();
  // SIGKILL and wait.
  void Kill();
  // SIGSTOP / SIGCONT: a frozen node keeps its connections and port but
  // answers nothing (a hung process, as a client sees it).
  void Freeze();
  void Thaw();
  // Waits for an exit that happens on its own (e.g. refused start); exit code.
  int WaitExit();

 private:
  pid_t pid_ = -1;
  std::string grpc_address_;
  std::string metrics_address_;
  std::string health_address_;
  std::string log_path_;
};

// GET http://<address><path> over a plain socket; the body, or "" on failure.
std::string HttpGet(const std::string& address, const std::string& path);

// Value of an exposition-format sample line "name{labels} value" whose text
// before the value equals `series` exactly; -1 when absent.
double MetricValue(const std::string& exposition, const std::string& series);

// A fresh temporary directory under the build tree.
std::string MakeTempDir(const std::string& prefix);

}  // namespace tongban::testing
