// Test harness: runs a real tongban-gateway process on loopback with real
// mTLS certificates, the way tests/integration/node_process.h runs a node:
// fork/exec, wait for the ready file (written once it serves), stop or kill.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace tongban::testing {

struct GatewayOptions {
  // gRPC listen address; port 0 = pick one (a restart passes the old port).
  std::string listen = "127.0.0.1:0";
  std::string metrics_listen = "127.0.0.1:0";
  // FederationDirectory text file (required).
  std::string directory_file;
  // GatewayConfig text file for the keys flags do not cover (poll, refresh,
  // ejection periods); empty = none.
  std::string config_file;
  // Default: the gateway's certificate under CertsDir().
  std::string cert_dir = "gateway";
  bool catalog_cache = true;
  std::vector<std::string> extra_flags;
  // Run through a launcher (e.g. tests/images/run-in-image.sh ROOTFS BINDS,
  // the binary inside a container image): these words go before the binary.
  std::vector<std::string> launcher;
  // The binary; empty = the one this build made.
  std::string binary;
};

class GatewayProcess final {
 public:
  // Starts the gateway and waits (at most 30 s) until it serves or exits.
  // `workdir` is created; the log is <workdir>/gateway.log.
  static std::unique_ptr<GatewayProcess> Start(const GatewayOptions& options,
                                               const std::string& workdir);
  ~GatewayProcess();  // kills if still running

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& grpc_address() const { return grpc_address_; }
  const std::string& metrics_address() const { return metrics_address_; }
  // The public edge's listeners ("" when the config enables no edge).
  const std::string& https_address() const { return https_address_; }
  const std::string& public_grpc_address() const { return public_grpc_address_; }
  const std::string& log_path() const { return log_path_; }
  std::string ReadLog() const;

  // SIGTERM and wait; the exit status (WEXITSTATUS) or -1.
  int Terminate();
  // SIGKILL and wait.
  void Kill();
  // Waits for an exit; its exit code.
  int WaitExit();

 private:
  pid_t pid_ = -1;
  std::string grpc_address_;
  std::string metrics_address_;
  std::string https_address_;
  std::string public_grpc_address_;
  std::string log_path_;
};

// The port of "host:port" (0 when malformed).
int PortOf(const std::string& address);

}  // namespace tongban::testing
