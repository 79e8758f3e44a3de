// Test harness: a small real federation on loopback — a tongban-gateway and
// a few tongban-node processes, all mTLS with the test PKI — that tests can
// kill (SIGKILL) and restart piece by piece on the same database and port.
//
// Start-up order (no port reservation races): the gateway starts first on
// port 0 with a directory that lists no node yet; the nodes start with
// --gateway=<its port>; the directory is then rewritten with the nodes'
// addresses from their ready files, and Start() waits until the gateway
// reports every node up (and, with the catalog cache, every catalog loaded).
// A restarted process gets the same gRPC port, so no directory change and no
// client reconfiguration is needed.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway_process.h"
#include "grpcpp/channel.h"
#include "node_process.h"

namespace tongban::testing {

struct FederationOptions {
  // Province codes of the nodes.
  std::vector<std::string> provinces;
  // Prefix of the temporary directory.
  std::string name = "federation";
  // GatewayConfig keys the gateway's flags do not cover.
  int directory_poll_ms = 100;
  int catalog_refresh_ms = 500;
  int eject_base_ms = 300;
  bool catalog_cache = true;
  // Serve the public edge (REST/JSON over HTTPS and public gRPC) for
  // citizens' apps, with tokens signed by the test PKI's citizen-tokens key
  // (issuer kTestTokenIssuer, audience kTestTokenAudience, kid "dev-1").
  bool public_edge = false;
  double rate_limit_per_second = 0;  // 0 = the gateway's default
  int rate_limit_burst = 0;
  std::vector<std::string> cors_allowed_origins = {"https://app.example.cn"};
  // More PublicEdgeConfig keys, text format (e.g. "watch_heartbeat_seconds: 1").
  std::vector<std::string> public_edge_extra;
  // The edge's certificate and key (default: the test PKI's gateway pair)
  // and how often the gateway checks them for a renewal (0 = its default).
  std::string edge_cert_file;
  std::string edge_key_file;
  int edge_tls_refresh_seconds = 0;
  // Extra tongban-node flags per province, used at every start of that node
  // (e.g. {"310000", {"--extension_approvers=officer-02"}}); SetNodeFlags
  // replaces them for the next restart.
  std::map<std::string, std::vector<std::string>> node_flags;
  // Provinces whose nodes store in PostgreSQL (province -> libpq conninfo of
  // a database of their own) instead of a SQLite file, and how many replicas
  // of such a node serve that one database (default 1). The gateway's
  // directory lists a replicated province as one "ipv4:a,b,c" target that it
  // balances round robin, as it would a Kubernetes headless Service's name.
  std::map<std::string, std::string> postgres;
  std::map<std::string, int> replicas;
  int postgres_outbox_lease_seconds = 0;  // 0 = the node's default
};

inline constexpr char kTestTokenIssuer[] = "https://id.tongban.dev";
inline constexpr char kTestTokenAudience[] = "tongban-public-api";
// A citizen token for `citizen` from the test PKI's token key (issuer
// kTestTokenIssuer, audience kTestTokenAudience, kid "dev-1"), valid for an
// hour; "" and a test failure when it cannot be minted.
std::string TestCitizenToken(const std::string& citizen);

class Federation final {
 public:
  explicit Federation(FederationOptions options);
  // SIGKILLs whatever still runs, then deletes the working directory
  // (databases, logs) unless KeepWorkdir() was called.
  ~Federation();
  Federation(const Federation&) = delete;
  Federation& operator=(const Federation&) = delete;

  // Starts everything and waits (at most 60 s) until the gateway sees every
  // node up. False with *error (including the logs' tails) on failure.
  bool Start(std::string* error);

  const std::string& workdir() const { return workdir_; }
  // Keep the working directory for a post-mortem (call when a test failed).
  void KeepWorkdir() { keep_workdir_ = true; }
  const std::vector<std::string>& provinces() const { return options_.provinces; }
  // Stable across restarts.
  std::string gateway_address() const;
  // One replica's address, or for a replicated province the "ipv4:a,b,c"
  // target of all its replicas (FastChannel balances it round robin).
  std::string node_address(const std::string& province) const;
  int replica_count(const std::string& province) const;
  // Changes with each restart (metrics listen on port 0). node_ means replica 0.
  std::string node_metrics_address(const std::string& province) const;
  std::string replica_metrics_address(const std::string& province, int replica) const;
  std::string gateway_metrics_address() const;
  // The public edge ("" without FederationOptions::public_edge); change with
  // each gateway restart.
  std::string https_address() const;
  std::string public_grpc_address() const;
  bool node_running(const std::string& province) const;
  bool gateway_running() const;

  // SIGKILL (and reap) one process; the node functions act on every replica
  // of the province.
  void KillNode(const std::string& province);
  void KillReplica(const std::string& province, int replica);
  // SIGTERM one replica and wait until it exits, as a rolling upgrade stops
  // a pod (the node answers NOT_SERVING, finishes in-flight calls, sends
  // GOAWAY); its exit code (-1 when it was not running).
  int StopReplica(const std::string& province, int replica);
  // SIGSTOP / SIGCONT one node (NodeProcess::Freeze).
  void FreezeNode(const std::string& province);
  void ThawNode(const std::string& province);
  void KillGateway();
  // Starts a killed process again on the same database / port; waits for
  // its ready file. False with *error when it did not come up.
  bool RestartNode(const std::string& province, std::string* error);
  bool RestartReplica(const std::string& province, int replica, std::string* error);
  bool RestartGateway(std::string* error);
  // Replaces the extra flags of `province`'s node (FederationOptions::node_flags;
  // a node of this federation, after Start) from its next restart on, e.g. to restart it "later" with
  // --test_only_clock_offset_seconds.
  void SetNodeFlags(const std::string& province, std::vector<std::string> flags);
  // Rewrites the gateway's directory to list only `provinces` (nodes of this
  // federation); the gateway picks it up within directory_poll_ms.
  bool RewriteDirectory(const std::vector<std::string>& provinces, std::string* error);
  // True unless RewriteDirectory left a province out.
  bool directory_complete() const;
  // SIGKILLs everything (also done by the destructor).
  void KillAll();

  // Every log file written so far (all incarnations), oldest first per process.
  std::vector<std::string> AllLogPaths() const;
  // The running gateway's process id (-1 when none).
  pid_t GatewayPid() const;
  // The last `bytes` of every current log, for failure messages.
  std::string LogTails(size_t bytes = 2000) const;

  // Waits until GetFederationStatus lists every node, all up (and, with the
  // catalog cache, with a loaded catalog version), within `timeout`.
  bool WaitAllUp(std::chrono::milliseconds timeout, std::string* last_seen = nullptr) const;

 private:
  // One node process (one replica of its province).
  struct Node {
    std::unique_ptr<NodeProcess> process;
    std::string base_dir;   // <workdir>/<province>[-replica-<n>]
    std::string listen;     // 127.0.0.1:<port> once known
    int incarnation = 0;
    std::vector<std::string> flags;  // extra flags (FederationOptions::node_flags)
  };
  bool StartProcesses(std::string* error);
  bool StartNodeLocked(const std::string& province, int replica, std::string* error);
  std::string NodeAddressLocked(const std::string& province) const;
  Node* ReplicaLocked(const std::string& province, int replica);
  void ForEachReplicaLocked(const std::string& province, const std::function<void(Node&)>& fn);
  const Node* ReplicaLocked(const std::string& province, int replica) const;
  bool StartGateway(std::string* error);
  bool WriteDirectory(const std::vector<std::string>& provinces, std::string* error);

  const FederationOptions options_;
  const std::string workdir_;
  std::string directory_file_;
  std::string config_file_;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<Node>> nodes_;  // replicas; guarded by mu_
  std::unique_ptr<GatewayProcess> gateway_;  // guarded by mu_
  std::string gateway_listen_;               // guarded by mu_
  int gateway_incarnation_ = 0;              // guarded by mu_
  bool directory_complete_ = false;          // guarded by mu_
  std::vector<std::string> log_paths_;       // guarded by mu_
  std::atomic<bool> keep_workdir_{false};
};

// An mTLS channel presenting the identity under CertsDir()/`identity_dir`
// ("province/430000/officer/officer-01", "province/430000/node", "gateway"),
// reconnecting quickly (100 ms .. 1 s) after the server restarts.
std::shared_ptr<grpc::Channel> FastChannel(const std::string& address,
                                           const std::string& identity_dir);

// The connection flags of a tongbanctl node command (outbox, overdue) against
// `province`'s node, presenting the identity under CertsDir()/`identity_dir`.
std::vector<std::string> TongbanctlNodeFlags(const Federation& federation,
                                             const std::string& province,
                                             const std::string& identity_dir);

// For a fixture's TearDown: after a failed test (`failed`), prints every
// process's log tail and keeps the work dir for a post-mortem. Null-safe.
void KeepForPostMortem(Federation* federation, bool failed);
// Expects every node still running: a refused message must never cost a
// node its life. Null-safe.
void ExpectEveryNodeRunning(const Federation* federation);

// Polls `condition` every `interval` until it holds or `timeout` passes;
// true when it held. The condition runs at least once.
bool WaitUntil(std::chrono::milliseconds timeout, const std::function<bool()>& condition,
               std::chrono::milliseconds interval = std::chrono::milliseconds(50));

// A deadline `ms` milliseconds from now, for ClientContext::set_deadline.
inline std::chrono::system_clock::time_point DeadlineIn(int ms) {
  return std::chrono::system_clock::now() + std::chrono::milliseconds(ms);
}

}  // namespace tongban::testing
