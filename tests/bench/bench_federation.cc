#include "bench_federation.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "province_registry.h"

namespace tongban::bench {
namespace {

constexpr absl::Duration kReadyTimeout = absl::Seconds(60);

absl::Status Exited(Child& child) {
  return absl::UnavailableError(absl::StrCat(child.name(), " exited (code ", child.exit_code(),
                                             ") before it was ready; end of ", child.log_path(),
                                             ":\n", child.LogTail()));
}

}  // namespace

Identity IdentityAt(const std::string& certs_dir, const std::string& relative_dir) {
  std::string dir = certs_dir + "/" + relative_dir;
  return Identity{dir + "/cert.pem", dir + "/key.pem", certs_dir + "/ca/ca.pem"};
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, const Identity& identity,
                                           bool round_robin) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFileText(identity.ca);
  ssl.pem_cert_chain = ReadFileText(identity.cert);
  ssl.pem_private_key = ReadFileText(identity.key);
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  // The servers' certificates name localhost (and 127.0.0.1).
  args.SetSslTargetNameOverride("localhost");
  if (round_robin) args.SetLoadBalancingPolicyName("round_robin");
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args);
}

bool WaitConnected(const std::shared_ptr<grpc::Channel>& channel, absl::Duration timeout) {
  return channel->WaitForConnected(absl::ToChronoTime(absl::Now() + timeout));
}

absl::Status EnsureCerts(const BenchPaths& paths) {
  std::string log = paths.work_dir + "/gen-dev-certs.log";
  int rc = RunCommand(absl::StrCat("'", paths.gen_certs_script, "' --out '", paths.certs_dir,
                                   "' --with-test-certs"),
                      log);
  if (rc != 0) {
    return absl::FailedPreconditionError(absl::StrCat(paths.gen_certs_script, " failed (", rc,
                                                      "); see ", log));
  }
  return absl::OkStatus();
}

absl::Status Federation::ReservePorts() {
  // The gateway's port comes from the same block below the ephemeral range:
  // an ephemeral one could be taken by the 31 nodes' outgoing connections
  // before the gateway binds it ("cannot listen on ...").
  const int nodes = static_cast<int>(AllProvinces().size());
  node_base_port_ = FreePortRange(nodes + 1);
  gateway_port_ = node_base_port_ + nodes;
  if (node_base_port_ < 0) {
    return absl::UnavailableError("no free block of loopback ports for the nodes");
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::Duration> Federation::StartAllNodes() {
  const std::string gateway_address = absl::StrCat("127.0.0.1:", gateway_port_);
  const auto& provinces = AllProvinces();
  const absl::Time start = absl::Now();
  for (size_t i = 0; i < provinces.size(); ++i) {
    NodeHandle n;
    n.province = std::string(provinces[i].code);
    n.dir = absl::StrCat(paths_.work_dir, "/nodes/", n.province);
    mkdir((paths_.work_dir + "/nodes").c_str(), 0755);
    mkdir(n.dir.c_str(), 0755);
    Identity id = IdentityAt(paths_.certs_dir, "province/" + n.province + "/node");
    std::vector<std::string> argv = {
        paths_.node_binary,
        "--province=" + n.province,
        absl::StrCat("--listen=127.0.0.1:", node_base_port_ + static_cast<int>(i)),
        "--metrics_listen=127.0.0.1:0",
        "--gateway=" + gateway_address,
        "--database=" + n.dir + "/node.db",
        "--demo_catalog=" + paths_.demo_catalog_dir,
        "--cert=" + id.cert,
        "--key=" + id.key,
        "--ca=" + id.ca,
        "--ready_file=" + n.dir + "/ready",
    };
    n.process = Child::Spawn("node " + n.province, argv, n.dir + "/node.log");
    if (n.process == nullptr) return absl::InternalError("fork failed");
    nodes_.push_back(std::move(n));
  }
  // Poll every ready file; 2 ms granularity is well below the figure measured.
  size_t ready = 0;
  while (ready < nodes_.size()) {
    ready = 0;
    for (NodeHandle& n : nodes_) {
      if (!n.grpc_address.empty()) {
        ++ready;
        continue;
      }
      std::string line = ReadFileText(n.dir + "/ready");
      if (!line.empty()) {
        n.grpc_address = ReadyField(line, "grpc");
        n.metrics_address = ReadyField(line, "metrics");
        ++ready;
      } else if (!n.process->Running()) {
        return Exited(*n.process);
      }
    }
    if (ready == nodes_.size()) break;
    if (absl::Now() - start > kReadyTimeout) {
      return absl::DeadlineExceededError(
          absl::StrCat(ready, "/", nodes_.size(), " nodes ready after ", absl::FormatDuration(kReadyTimeout)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  absl::Duration elapsed = absl::Now() - start;
  absl::Status directory = WriteDirectory();
  if (!directory.ok()) return directory;
  return elapsed;
}

absl::Status Federation::WriteDirectory() {
  directory_file_ = paths_.work_dir + "/directory.textproto";
  // The project's own writer (with the alliances); a nodes-only directory
  // if it is missing or fails, since the benchmark needs no alliance.
  std::string log = paths_.work_dir + "/federation-directory.log";
  if (access(paths_.directory_script.c_str(), X_OK) == 0 &&
      RunCommand(absl::StrCat("'", paths_.directory_script, "' ", node_base_port_, " '",
                              directory_file_, "'"),
                 log) == 0) {
    directory_source_ = "gateway/federation-directory.sh";
    return absl::OkStatus();
  }
  directory_source_ = "fallback (nodes only; federation-directory.sh failed, see " + log + ")";
  std::string text = "# Written by tongban-bench.\n";
  for (const NodeHandle& n : nodes_) {
    absl::StrAppend(&text, "nodes { province_code: \"", n.province, "\" address: \"",
                    n.grpc_address, "\" server_name: \"localhost\" }\n");
  }
  return WriteText(directory_file_, text);
}

absl::StatusOr<absl::Duration> Federation::StartGateway(const std::string& name, bool catalog_cache,
                                                        bool main,
                                                        const std::string& extra_config,
                                                        const std::string& directory_file) {
  std::string dir = absl::StrCat(paths_.work_dir, "/", name);
  mkdir(dir.c_str(), 0755);
  Identity id = IdentityAt(paths_.certs_dir, "gateway");
  std::string config = absl::StrCat(
      "# Written by tongban-bench.\n", "listen_address: \"127.0.0.1:", main ? gateway_port_ : 0,
      "\"\n", "metrics_address: \"127.0.0.1:0\"\n", "tls { cert_file: \"", id.cert,
      "\" key_file: \"", id.key, "\" ca_file: \"", id.ca, "\" }\n", "directory_file: \"",
      directory_file.empty() ? directory_file_ : directory_file, "\"\n", "ready_file: \"", dir, "/ready\"\n", extra_config);
  absl::Status written = WriteText(dir + "/gateway.textproto", config);
  if (!written.ok()) return written;
  std::vector<std::string> argv = {paths_.gateway_binary, "--config=" + dir + "/gateway.textproto"};
  if (!catalog_cache) argv.push_back("--no_catalog_cache");
  unlink((dir + "/ready").c_str());
  const absl::Time start = absl::Now();
  GatewayHandle g;
  g.name = name;
  g.process = Child::Spawn(name, argv, dir + "/gateway.log");
  if (g.process == nullptr) return absl::InternalError("fork failed");
  for (;;) {
    std::string line = ReadFileText(dir + "/ready");
    if (!line.empty()) {
      g.grpc_address = ReadyField(line, "grpc");
      g.metrics_address = ReadyField(line, "metrics");
      g.https_address = ReadyField(line, "https");
      g.public_grpc_address = ReadyField(line, "public_grpc");
      break;
    }
    if (!g.process->Running()) return Exited(*g.process);
    if (absl::Now() - start > kReadyTimeout) return absl::DeadlineExceededError(name + " not ready");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  absl::Duration elapsed = absl::Now() - start;
  gateways_.push_back(std::move(g));
  return elapsed;
}

int Federation::StopGateway(const std::string& name) {
  for (auto it = gateways_.begin(); it != gateways_.end(); ++it) {
    if (it->name != name) continue;
    int code = it->process->Stop(absl::Seconds(15));
    gateways_.erase(it);
    return code;
  }
  return -1;
}

int Federation::StopAll() {
  int unclean = 0;
  for (auto& g : gateways_) g.process->SignalTerm();
  // Longer than the 10 s shutdown grace of both programs.
  for (auto& g : gateways_) unclean += g.process->AwaitExit(absl::Seconds(15)) != 0;
  gateways_.clear();
  for (auto& n : nodes_) n.process->SignalTerm();
  for (auto& n : nodes_) unclean += n.process->AwaitExit(absl::Seconds(15)) != 0;
  nodes_.clear();
  return unclean;
}

const NodeHandle& Federation::node(const std::string& province) const {
  for (const auto& n : nodes_) {
    if (n.province == province) return n;
  }
  return nodes_.front();  // callers ask only for provinces of the federation
}

const GatewayHandle& Federation::gateway(const std::string& name) const {
  for (const auto& g : gateways_) {
    if (g.name == name) return g;
  }
  return gateways_.front();
}

absl::StatusOr<std::unique_ptr<NginxProxy>> NginxProxy::Start(const BenchPaths& paths,
                                                               const std::string& node_address,
                                                               const Identity& server_identity,
                                                               const Identity& upstream_identity) {
  auto proxy = std::unique_ptr<NginxProxy>(new NginxProxy());
  std::string dir = paths.work_dir + "/nginx";
  mkdir(dir.c_str(), 0755);
  mkdir((dir + "/tmp").c_str(), 0755);
  // Below the ephemeral range, like the federation's ports (FreePortRange).
  proxy->keepalive_port_ = FreePortRange(2);
  if (proxy->keepalive_port_ < 0) {
    return absl::UnavailableError("no free pair of loopback ports for nginx");
  }
  proxy->plain_port_ = proxy->keepalive_port_ + 1;
  std::string log = dir + "/nginx.log";
  RunCommand(absl::StrCat("'", paths.nginx_binary, "' -v"), log);
  proxy->version_ = std::string(absl::StripAsciiWhitespace(ReadFileText(log)));
  // Tuned as one would in production: as many workers as cores, no access
  // log, and no per-connection request cap (nginx's default of 1000 would
  // make clients and nginx re-handshake every 1000 calls; gRPC servers have no such cap).
  auto server = [&](int port, const std::string& upstream) {
    return absl::StrCat(
        "  server {\n"
        "    listen 127.0.0.1:", port, " ssl http2;\n",
        "    ssl_certificate ", server_identity.cert, ";\n",
        "    ssl_certificate_key ", server_identity.key, ";\n",
        "    ssl_verify_client on;\n",
        "    ssl_client_certificate ", server_identity.ca, ";\n",
        "    keepalive_requests 10000000;\n",
        "    location / {\n",
        "      grpc_pass ", upstream, ";\n",
        "      grpc_ssl_certificate ", upstream_identity.cert, ";\n",
        "      grpc_ssl_certificate_key ", upstream_identity.key, ";\n",
        "      grpc_ssl_trusted_certificate ", upstream_identity.ca, ";\n",
        "      grpc_ssl_verify on;\n",
        "      grpc_ssl_name localhost;\n",
        "    }\n",
        "  }\n");
  };
  std::string conf = absl::StrCat(
      "# Written by tongban-bench.\n", "daemon off;\n", "worker_processes auto;\n", "pid ", dir,
      "/nginx.pid;\n", "error_log ", dir, "/error.log warn;\n",
      "events { worker_connections 4096; }\n", "http {\n", "  access_log off;\n",
      "  client_body_temp_path ", dir, "/tmp/body;\n", "  proxy_temp_path ", dir,
      "/tmp/proxy;\n", "  fastcgi_temp_path ", dir, "/tmp/fastcgi;\n", "  uwsgi_temp_path ",
      dir, "/tmp/uwsgi;\n", "  scgi_temp_path ", dir, "/tmp/scgi;\n",
      "  upstream tongban_node {\n", "    server ", node_address, ";\n",
      "    keepalive 128;\n", "    keepalive_requests 10000000;\n", "  }\n",
      server(proxy->keepalive_port_, "grpcs://tongban_node"),
      server(proxy->plain_port_, "grpcs://" + node_address), "}\n");
  absl::Status written = WriteText(dir + "/nginx.conf", conf);
  if (!written.ok()) return written;
  proxy->process_ = Child::Spawn(
      "nginx", {paths.nginx_binary, "-e", dir + "/error.log", "-p", dir, "-c", dir + "/nginx.conf"},
      log, /*own_group=*/true);
  if (proxy->process_ == nullptr) return absl::InternalError("fork failed");
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!PortAccepts(proxy->keepalive_port_) || !PortAccepts(proxy->plain_port_)) {
    if (!proxy->process_->Running()) {
      return absl::UnavailableError(absl::StrCat("nginx exited: ", ReadFileText(dir + "/error.log"),
                                                 proxy->process_->LogTail()));
    }
    if (absl::Now() > deadline) return absl::DeadlineExceededError("nginx not listening");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return proxy;
}

}  // namespace tongban::bench
