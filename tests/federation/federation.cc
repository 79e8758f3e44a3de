#include "federation.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/time/clock.h"
#include "citizen_token.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "replica_service_config.h"
#include "tongban/v1/gateway.grpc.pb.h"

namespace tongban::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes `content` to a temporary name and renames it, so a reader (the
// gateway's directory watcher) never sees half a file.
bool WriteAtomically(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
    if (!out.good()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \r\n");
  return s.substr(b, e - b + 1);
}

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// The alliances of the demo catalog as FederationDirectory text (they are
// catalog facts: the same whatever subset of provinces runs).
std::string AlliancesText() {
  std::istringstream in(ReadFile(std::string(TONGBAN_DEMO_CATALOG_DIR) + "/alliances.tsv"));
  std::string line;
  std::map<std::string, size_t> column;
  std::string out;
  while (std::getline(in, line)) {
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cells = Split(line, '\t');
    for (auto& c : cells) c = Trim(c);
    if (column.empty()) {
      for (size_t i = 0; i < cells.size(); ++i) column[cells[i]] = i;
      continue;
    }
    auto cell = [&](const char* name) {
      auto it = column.find(name);
      return it == column.end() || it->second >= cells.size() ? std::string()
                                                              : cells[it->second];
    };
    out += "alliances {\n  alliance_id: " + Quote(cell("alliance_id")) +
           "\n  name_zh: " + Quote(cell("name_zh")) + "\n  name_en: " + Quote(cell("name_en")) +
           "\n";
    for (const std::string& m : Split(cell("members"), ',')) {
      if (!Trim(m).empty()) out += "  member_provinces: " + Quote(Trim(m)) + "\n";
    }
    out += "}\n";
  }
  return out;
}

std::string Tail(const std::string& s, size_t bytes) {
  return s.size() <= bytes ? s : "..." + s.substr(s.size() - bytes);
}

}  // namespace

std::shared_ptr<grpc::Channel> FastChannel(const std::string& address,
                                           const std::string& identity_dir) {
  Identity id = IdentityAt(identity_dir);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(id.ca);
  ssl.pem_cert_chain = ReadFile(id.cert);
  ssl.pem_private_key = ReadFile(id.key);
  grpc::ChannelArguments args;
  // A connection of its own (identities never share one), and quick
  // reconnects after the server was killed and restarted.
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  if (address.rfind("ipv4:", 0) == 0) {
    // The replicas of one province (Federation::node_address): every call
    // to the next one that is serving, as the gateway does, all checked
    // against the name their certificates share.
    args.SetServiceConfigJSON(kReplicaServiceConfig);
    args.SetString(GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, "localhost");
  }
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args);
}

void KeepForPostMortem(Federation* federation, bool failed) {
  if (!failed || federation == nullptr) return;
  std::printf("%s\n", federation->LogTails(3000).c_str());
  federation->KeepWorkdir();
  std::printf("kept %s for a post-mortem\n", federation->workdir().c_str());
}

void ExpectEveryNodeRunning(const Federation* federation) {
  if (federation == nullptr) return;
  for (const std::string& p : federation->provinces()) {
    EXPECT_TRUE(federation->node_running(p)) << p << " died";
  }
}

bool WaitUntil(std::chrono::milliseconds timeout, const std::function<bool()>& condition,
               std::chrono::milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

Federation::Federation(FederationOptions options)
    : options_(std::move(options)), workdir_(MakeTempDir(options_.name)) {
  directory_file_ = workdir_ + "/directory.textproto";
  config_file_ = workdir_ + "/gateway.textproto";
}

Federation::~Federation() {
  KillAll();
  if (!keep_workdir_.load() && !workdir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(workdir_, ignored);
  }
}

void Federation::KillAll() {
  std::lock_guard<std::mutex> lock(mu_);
  if (gateway_ != nullptr) gateway_->Kill();
  for (auto& [province, replicas] : nodes_) {
    for (Node& node : replicas) {
      if (node.process != nullptr) node.process->Kill();
    }
  }
}

Federation::Node* Federation::ReplicaLocked(const std::string& province, int replica) {
  auto it = nodes_.find(province);
  if (it == nodes_.end() || replica < 0 || replica >= static_cast<int>(it->second.size())) {
    return nullptr;
  }
  return &it->second[static_cast<size_t>(replica)];
}

const Federation::Node* Federation::ReplicaLocked(const std::string& province,
                                                  int replica) const {
  return const_cast<Federation*>(this)->ReplicaLocked(province, replica);
}

std::string Federation::NodeAddressLocked(const std::string& province) const {
  auto it = nodes_.find(province);
  if (it == nodes_.end() || it->second.empty()) return "";
  if (it->second.size() == 1) return it->second.front().listen;
  std::string target = "ipv4:";
  for (const Node& node : it->second) {
    if (node.listen.empty()) return "";
    target += (target.size() > 5 ? "," : "") + node.listen;
  }
  return target;
}

bool Federation::WriteDirectory(const std::vector<std::string>& provinces, std::string* error) {
  std::string text = "# Written by tests/federation/federation.cc\n";
  for (const std::string& province : provinces) {
    const std::string address = NodeAddressLocked(province);
    if (address.empty()) {
      *error = "no node " + province + " in this federation";
      return false;
    }
    text += "nodes { province_code: " + Quote(province) + " address: " + Quote(address) +
            " server_name: \"localhost\" }\n";
  }
  text += AlliancesText();
  if (!WriteAtomically(directory_file_, text)) {
    *error = "cannot write " + directory_file_;
    return false;
  }
  directory_complete_ = provinces.size() == options_.provinces.size();
  return true;
}

bool Federation::RewriteDirectory(const std::vector<std::string>& provinces, std::string* error) {
  std::lock_guard<std::mutex> lock(mu_);
  return WriteDirectory(provinces, error);
}

bool Federation::directory_complete() const {
  std::lock_guard<std::mutex> lock(mu_);
  return directory_complete_;
}

bool Federation::StartGateway(std::string* error) {
  GatewayOptions g;
  g.listen = gateway_listen_.empty() ? "127.0.0.1:0" : gateway_listen_;
  g.directory_file = directory_file_;
  g.config_file = config_file_;
  g.catalog_cache = options_.catalog_cache;
  std::string dir = workdir_ + "/gateway-" + std::to_string(++gateway_incarnation_);
  gateway_ = GatewayProcess::Start(g, dir);
  log_paths_.push_back(gateway_->log_path());
  if (!gateway_->running()) {
    *error = "the gateway did not start:\n" + Tail(gateway_->ReadLog(), 4000);
    return false;
  }
  gateway_listen_ = gateway_->grpc_address();
  return true;
}

bool Federation::StartNodeLocked(const std::string& province, int replica, std::string* error) {
  Node& node = *ReplicaLocked(province, replica);
  if (node.base_dir.empty()) {
    node.base_dir = workdir_ + "/" + province +
                    (replica == 0 ? "" : "-replica-" + std::to_string(replica));
    mkdir(node.base_dir.c_str(), 0755);
    auto flags = options_.node_flags.find(province);
    if (flags != options_.node_flags.end()) node.flags = flags->second;
  }
  NodeOptions o;
  o.province = province;
  o.database_path = node.base_dir + "/node.db";
  if (auto pg = options_.postgres.find(province); pg != options_.postgres.end()) {
    o.postgres_conninfo = pg->second;
    o.postgres_outbox_lease_seconds = options_.postgres_outbox_lease_seconds;
  }
  o.extra_flags.push_back("--gateway=" + gateway_listen_);
  for (const std::string& f : node.flags) o.extra_flags.push_back(f);
  // The harness listens on port 0; a later --listen wins (absl flags).
  if (!node.listen.empty()) o.extra_flags.push_back("--listen=" + node.listen);
  std::string dir = node.base_dir + "/run-" + std::to_string(++node.incarnation);
  node.process = NodeProcess::Start(o, dir);
  {
    // Start() of several nodes runs in parallel during Federation::Start.
    static std::mutex paths_mu;
    std::lock_guard<std::mutex> l(paths_mu);
    log_paths_.push_back(node.process->log_path());
  }
  if (!node.process->running()) {
    *error = "node " + province + " (replica " + std::to_string(replica) +
             ") did not start:\n" + Tail(node.process->ReadLog(), 4000);
    return false;
  }
  node.listen = node.process->grpc_address();
  return true;
}

bool Federation::Start(std::string* error) {
  if (!StartProcesses(error)) return false;
  std::string seen;
  if (!WaitAllUp(std::chrono::seconds(60), &seen)) {
    *error = "the gateway did not report every node up within 60 s; last status:\n" + seen +
             "\n" + LogTails();
    return false;
  }
  return true;
}

bool Federation::StartProcesses(std::string* error) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string config = "# Written by tests/federation/federation.cc\n";
  config += "directory_poll_ms: " + std::to_string(options_.directory_poll_ms) + "\n";
  config += "catalog_refresh_ms: " + std::to_string(options_.catalog_refresh_ms) + "\n";
  config += "eject_base_ms: " + std::to_string(options_.eject_base_ms) + "\n";
  if (options_.public_edge) {
    const std::string certs = CertsDir();
    config += "public_edge {\n  https_address: \"127.0.0.1:0\"\n  grpc_address: \"127.0.0.1:0\"\n";
    const std::string cert = options_.edge_cert_file.empty() ? certs + "/gateway/cert.pem"
                                                             : options_.edge_cert_file;
    const std::string key = options_.edge_key_file.empty() ? certs + "/gateway/key.pem"
                                                           : options_.edge_key_file;
    config += "  cert_file: \"" + cert + "\"\n";
    config += "  key_file: \"" + key + "\"\n";
    if (options_.edge_tls_refresh_seconds > 0) {
      config += "  tls_refresh_seconds: " + std::to_string(options_.edge_tls_refresh_seconds) + "\n";
    }
    config += "  tokens { issuer: \"" + std::string(kTestTokenIssuer) + "\" audience: \"" +
              kTestTokenAudience + "\" keys { kid: \"dev-1\" public_key_file: \"" + certs +
              "/citizen-tokens/public-key.pem\" } }\n";
    if (options_.rate_limit_per_second > 0) {
      config += "  rate_limit_per_second: " + std::to_string(options_.rate_limit_per_second) + "\n";
    }
    if (options_.rate_limit_burst > 0) {
      config += "  rate_limit_burst: " + std::to_string(options_.rate_limit_burst) + "\n";
    }
    for (const std::string& o : options_.cors_allowed_origins) {
      config += "  cors_allowed_origins: \"" + o + "\"\n";
    }
    for (const std::string& line : options_.public_edge_extra) config += "  " + line + "\n";
    config += "}\n";
  }
  if (!WriteAtomically(config_file_, config)) {
    *error = "cannot write " + config_file_;
    return false;
  }
  if (!WriteDirectory({}, error)) return false;
  if (!StartGateway(error)) return false;

  // Nodes in parallel (each seeds the demo catalog at first start; the
  // replicas of a province race for its migrations and seeding as they
  // would in a rollout).
  for (const std::string& p : options_.provinces) {
    auto n = options_.replicas.find(p);
    nodes_[p].resize(n == options_.replicas.end() ? 1 : static_cast<size_t>(std::max(1, n->second)));
  }
  std::map<std::string, std::string> errors;
  std::vector<std::thread> starters;
  std::mutex errors_mu;
  for (const std::string& p : options_.provinces) {
    for (int r = 0; r < static_cast<int>(nodes_[p].size()); ++r) {
      starters.emplace_back([&, p, r] {
        std::string e;
        // Each thread touches only its own replica entry (created above).
        if (!StartNodeLocked(p, r, &e)) {
          std::lock_guard<std::mutex> l(errors_mu);
          errors[p] = e;
        }
      });
    }
  }
  for (auto& t : starters) t.join();
  if (!errors.empty()) {
    *error = errors.begin()->second;
    return false;
  }
  return WriteDirectory(options_.provinces, error);
}

bool Federation::WaitAllUp(std::chrono::milliseconds timeout, std::string* last_seen) const {
  auto channel = FastChannel(gateway_address(),
                             "province/" + options_.provinces.front() + "/officer/officer-01");
  auto stub = v1::FederationQueryService::NewStub(channel);
  return WaitUntil(timeout, [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(2000));
    v1::GetFederationStatusResponse resp;
    grpc::Status s = stub->GetFederationStatus(&ctx, v1::GetFederationStatusRequest(), &resp);
    if (last_seen != nullptr) {
      *last_seen = s.ok() ? resp.DebugString() : s.error_message();
    }
    if (!s.ok() || resp.nodes_size() != static_cast<int>(options_.provinces.size())) return false;
    for (const auto& n : resp.nodes()) {
      if (!n.up()) return false;
      if (options_.catalog_cache && n.catalog_version() <= 0) return false;
    }
    return true;
  }, std::chrono::milliseconds(100));
}

std::string Federation::gateway_address() const {
  std::lock_guard<std::mutex> lock(mu_);
  return gateway_listen_;
}

std::string Federation::node_address(const std::string& province) const {
  std::lock_guard<std::mutex> lock(mu_);
  return NodeAddressLocked(province);
}

int Federation::replica_count(const std::string& province) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(province);
  return it == nodes_.end() ? 0 : static_cast<int>(it->second.size());
}

std::string Federation::node_metrics_address(const std::string& province) const {
  return replica_metrics_address(province, 0);
}

std::string Federation::replica_metrics_address(const std::string& province, int replica) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Node* node = ReplicaLocked(province, replica);
  if (node == nullptr || node->process == nullptr) return "";
  return node->process->metrics_address();
}

std::string Federation::https_address() const {
  std::lock_guard<std::mutex> lock(mu_);
  return gateway_ == nullptr ? "" : gateway_->https_address();
}

std::string Federation::public_grpc_address() const {
  std::lock_guard<std::mutex> lock(mu_);
  return gateway_ == nullptr ? "" : gateway_->public_grpc_address();
}

std::string Federation::gateway_metrics_address() const {
  std::lock_guard<std::mutex> lock(mu_);
  return gateway_ == nullptr ? "" : gateway_->metrics_address();
}

bool Federation::node_running(const std::string& province) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Node* node = ReplicaLocked(province, 0);
  return node != nullptr && node->process != nullptr && node->process->running();
}

bool Federation::gateway_running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return gateway_ != nullptr && gateway_->running();
}

void Federation::ForEachReplicaLocked(const std::string& province,
                                      const std::function<void(Node&)>& fn) {
  auto it = nodes_.find(province);
  if (it == nodes_.end()) return;
  for (Node& node : it->second) fn(node);
}

void Federation::KillNode(const std::string& province) {
  std::lock_guard<std::mutex> lock(mu_);
  ForEachReplicaLocked(province, [](Node& node) {
    if (node.process != nullptr) node.process->Kill();
  });
}

void Federation::KillReplica(const std::string& province, int replica) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* node = ReplicaLocked(province, replica);
  if (node != nullptr && node->process != nullptr) node->process->Kill();
}

int Federation::StopReplica(const std::string& province, int replica) {
  NodeProcess* process = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Node* node = ReplicaLocked(province, replica);
    if (node != nullptr) process = node->process.get();
  }
  // Not under mu_: the drain takes seconds. The process object stays owned
  // by nodes_ (only a restart of this replica replaces it).
  return process == nullptr ? -1 : process->Terminate();
}

void Federation::FreezeNode(const std::string& province) {
  std::lock_guard<std::mutex> lock(mu_);
  ForEachReplicaLocked(province, [](Node& node) {
    if (node.process != nullptr) node.process->Freeze();
  });
}

void Federation::ThawNode(const std::string& province) {
  std::lock_guard<std::mutex> lock(mu_);
  ForEachReplicaLocked(province, [](Node& node) {
    if (node.process != nullptr) node.process->Thaw();
  });
}

void Federation::KillGateway() {
  std::lock_guard<std::mutex> lock(mu_);
  if (gateway_ != nullptr) gateway_->Kill();
}

bool Federation::RestartNode(const std::string& province, std::string* error) {
  const int replicas = replica_count(province);
  if (replicas == 0) {
    *error = "no node " + province;
    return false;
  }
  for (int r = 0; r < replicas; ++r) {
    if (!RestartReplica(province, r, error)) return false;
  }
  return true;
}

bool Federation::RestartReplica(const std::string& province, int replica, std::string* error) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* node = ReplicaLocked(province, replica);
  if (node == nullptr) {
    *error = "no node " + province + " replica " + std::to_string(replica);
    return false;
  }
  if (node->process != nullptr) node->process->Kill();
  return StartNodeLocked(province, replica, error);
}

void Federation::SetNodeFlags(const std::string& province, std::vector<std::string> flags) {
  std::lock_guard<std::mutex> lock(mu_);
  ForEachReplicaLocked(province, [&flags](Node& node) { node.flags = flags; });
}

bool Federation::RestartGateway(std::string* error) {
  std::lock_guard<std::mutex> lock(mu_);
  if (gateway_ != nullptr) gateway_->Kill();
  return StartGateway(error);
}

std::vector<std::string> Federation::AllLogPaths() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_paths_;
}

pid_t Federation::GatewayPid() const {
  std::lock_guard<std::mutex> lock(mu_);
  return gateway_ == nullptr ? -1 : gateway_->pid();
}

std::string Federation::LogTails(size_t bytes) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  if (gateway_ != nullptr) {
    out += "----- gateway log (" + gateway_->log_path() + ")\n" + Tail(gateway_->ReadLog(), bytes) +
           "\n";
  }
  for (const auto& [province, replicas] : nodes_) {
    for (const Node& node : replicas) {
      if (node.process == nullptr) continue;
      out += "----- node " + province + " log (" + node.process->log_path() + ")\n" +
             Tail(node.process->ReadLog(), bytes) + "\n";
    }
  }
  return out;
}

std::vector<std::string> TongbanctlNodeFlags(const Federation& federation,
                                             const std::string& province,
                                             const std::string& identity_dir) {
  const Identity files = IdentityAt(identity_dir);
  return {"--node", federation.node_address(province), "--province", province,
          "--cert", files.cert, "--key", files.key, "--ca", files.ca};
}

std::string TestCitizenToken(const std::string& citizen) {
  CitizenTokenClaims claims;
  claims.subject = citizen;
  claims.issuer = kTestTokenIssuer;
  claims.audience = kTestTokenAudience;
  claims.issued_at = absl::Now() - absl::Seconds(5);
  claims.not_before = absl::InfinitePast();
  claims.expires_at = absl::Now() + absl::Hours(1);
  claims.kid = "dev-1";
  absl::StatusOr<std::string> token =
      MintCitizenToken(ReadFile(CertsDir() + "/citizen-tokens/signing-key.pem"), claims);
  EXPECT_TRUE(token.ok()) << token.status();
  return token.ok() ? *token : "";
}

}  // namespace tongban::testing
