#include "node_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace tongban::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Field(const std::string& line, const std::string& key) {
  size_t at = line.find(key + "=");
  if (at == std::string::npos) return "";
  size_t start = at + key.size() + 1;
  size_t end = line.find_first_of(" \n", start);
  return line.substr(start, end - start);
}

}  // namespace

std::string CertsDir() { return TONGBAN_TEST_CERTS_DIR; }

Identity IdentityAt(const std::string& relative_dir) {
  std::string dir = CertsDir() + "/" + relative_dir;
  return Identity{dir + "/cert.pem", dir + "/key.pem", CertsDir() + "/ca/ca.pem"};
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, const Identity* identity) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(CertsDir() + "/ca/ca.pem");
  if (identity != nullptr) {
    ssl.pem_cert_chain = ReadFile(identity->cert);
    ssl.pem_private_key = ReadFile(identity->key);
  }
  grpc::ChannelArguments args;
  // A fresh connection per channel, so one test's identity never reuses another's.
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args);
}

std::string MakeTempDir(const std::string& prefix) {
  std::string pattern = std::string(TONGBAN_TEST_TMP_DIR) + "/" + prefix + "-XXXXXX";
  mkdir(TONGBAN_TEST_TMP_DIR, 0755);
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  char* made = mkdtemp(buf.data());
  return made == nullptr ? "" : std::string(made);
}

std::unique_ptr<NodeProcess> NodeProcess::Start(const NodeOptions& options,
                                                const std::string& workdir) {
  mkdir(workdir.c_str(), 0755);
  auto node = std::make_unique<NodeProcess>();
  std::string cert_dir =
      options.cert_dir.empty() ? "province/" + options.province + "/node" : options.cert_dir;
  Identity id = IdentityAt(cert_dir);
  std::string ready = workdir + "/ready";
  unlink(ready.c_str());
  node->log_path_ = workdir + "/node.log";
  std::vector<std::string> args = options.launcher;
  args.insert(args.end(), {
      options.binary.empty() ? std::string(TONGBAN_NODE_BINARY) : options.binary,
      "--province=" + options.province,
      "--listen=127.0.0.1:0",
      "--metrics_listen=127.0.0.1:0",
      "--cert=" + id.cert,
      "--key=" + id.key,
      "--ca=" + id.ca,
      "--ready_file=" + ready,
  });
  if (options.postgres_conninfo.empty()) {
    args.push_back("--database=" +
                   (options.database_path.empty() ? workdir + "/node.db" : options.database_path));
  } else {
    std::string config = workdir + "/node.textproto";
    std::ofstream out(config, std::ios::trunc);
    // Text format string: quotes and backslashes escaped.
    out << "postgres {\n  conninfo: \"" << absl::CEscape(options.postgres_conninfo) << "\"\n";
    if (options.postgres_outbox_lease_seconds > 0) {
      out << "  outbox_lease_seconds: " << options.postgres_outbox_lease_seconds << "\n";
    }
    out << "}\n";
    args.push_back("--config=" + config);
  }
  if (options.demo_catalog) args.push_back(std::string("--demo_catalog=") + TONGBAN_DEMO_CATALOG_DIR);
  for (const auto& f : options.extra_flags) args.push_back(f);

  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(node->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  node->pid_ = pid;
  // Readiness: the node writes the ready file only once it serves. Poll it
  // (and the process, so a refused start fails fast) for at most 30 s.
  for (int i = 0; i < 3000; ++i) {
    std::string line = ReadFile(ready);
    if (!line.empty()) {
      node->grpc_address_ = Field(line, "grpc");
      node->metrics_address_ = Field(line, "metrics");
      node->health_address_ = Field(line, "health");
      return node;
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      node->pid_ = -(WIFEXITED(status) ? WEXITSTATUS(status) : 128) - 1000;
      return node;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return node;
}

NodeProcess::~NodeProcess() {
  if (pid_ > 0) Kill();
}

std::string NodeProcess::ReadLog() const { return ReadFile(log_path_); }

int NodeProcess::Terminate() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  return WaitExit();
}

void NodeProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  WaitExit();
}

void NodeProcess::Freeze() {
  if (pid_ > 0) kill(pid_, SIGSTOP);
}

void NodeProcess::Thaw() {
  if (pid_ > 0) kill(pid_, SIGCONT);
}

int NodeProcess::WaitExit() {
  if (pid_ < -1) return -(pid_ + 1000);  // already reaped by Start: the exit code
  if (pid_ <= 0) return -1;
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string HttpGet(const std::string& address, const std::string& path) {
  size_t colon = address.rfind(':');
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(address.substr(colon + 1).c_str())));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  std::string request = "GET " + path + " HTTP/1.0\r\nHost: " + address + "\r\n\r\n";
  if (write(fd, request.data(), request.size()) < 0) {
    close(fd);
    return "";
  }
  std::string response;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) response.append(buf, n);
  close(fd);
  size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

double MetricValue(const std::string& exposition, const std::string& series) {
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::atof(line.c_str() + series.size() + 1);
    }
  }
  return -1;
}

}  // namespace tongban::testing
