#include "gateway_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "node_process.h"

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

int PortOf(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return 0;
  return std::atoi(address.c_str() + colon + 1);
}

std::unique_ptr<GatewayProcess> GatewayProcess::Start(const GatewayOptions& options,
                                                      const std::string& workdir) {
  mkdir(workdir.c_str(), 0755);
  auto gateway = std::make_unique<GatewayProcess>();
  Identity id = IdentityAt(options.cert_dir);
  std::string ready = workdir + "/ready";
  unlink(ready.c_str());
  gateway->log_path_ = workdir + "/gateway.log";
  std::vector<std::string> args = options.launcher;
  args.insert(args.end(), {
      options.binary.empty() ? std::string(TONGBAN_GATEWAY_BINARY) : options.binary,
      "--listen=" + options.listen,
      "--metrics_listen=" + options.metrics_listen,
      "--directory=" + options.directory_file,
      "--cert=" + id.cert,
      "--key=" + id.key,
      "--ca=" + id.ca,
      "--ready_file=" + ready,
  });
  if (!options.config_file.empty()) args.push_back("--config=" + options.config_file);
  if (!options.catalog_cache) args.push_back("--no_catalog_cache");
  for (const auto& f : options.extra_flags) args.push_back(f);

  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(gateway->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  gateway->pid_ = pid;
  // Readiness: the ready file appears only once the gateway serves. Poll it
  // (and the process, so a refused start fails fast) for at most 30 s.
  for (int i = 0; i < 3000; ++i) {
    std::string line = ReadFile(ready);
    if (!line.empty()) {
      gateway->grpc_address_ = Field(line, "grpc");
      gateway->metrics_address_ = Field(line, "metrics");
      gateway->https_address_ = Field(line, "https");
      gateway->public_grpc_address_ = Field(line, "public_grpc");
      return gateway;
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      gateway->pid_ = -(WIFEXITED(status) ? WEXITSTATUS(status) : 128) - 1000;
      return gateway;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return gateway;
}

GatewayProcess::~GatewayProcess() {
  if (pid_ > 0) Kill();
}

std::string GatewayProcess::ReadLog() const { return ReadFile(log_path_); }

int GatewayProcess::Terminate() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  return WaitExit();
}

void GatewayProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  WaitExit();
}

int GatewayProcess::WaitExit() {
  if (pid_ < -1) return -(pid_ + 1000);
  if (pid_ <= 0) return -1;
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace tongban::testing
