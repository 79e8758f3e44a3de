// tongban-gateway: the national hub of the Tongban federation.
// Parses flags, starts the gateway, waits for SIGTERM/SIGINT, drains.
#include <malloc.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "gateway_config.h"
#include "gateway_server.h"

ABSL_FLAG(std::string, config, "", "Config file (protobuf text format, see docs/operations.md).");
ABSL_FLAG(std::string, listen, "", "gRPC listen address; overrides listen_address.");
ABSL_FLAG(std::string, metrics_listen, "", "Metrics address; overrides metrics_address.");
ABSL_FLAG(std::string, directory, "", "Federation directory file; overrides directory_file.");
ABSL_FLAG(std::string, cert, "", "Certificate PEM; overrides tls.cert_file.");
ABSL_FLAG(std::string, key, "", "Private key PEM; overrides tls.key_file.");
ABSL_FLAG(std::string, ca, "", "CA bundle PEM; overrides tls.ca_file.");
ABSL_FLAG(std::string, crl_dir, "", "CRL directory; overrides tls.crl_directory.");
ABSL_FLAG(bool, no_catalog_cache, false, "Answer every search with a live fan-out.");
ABSL_FLAG(std::string, health_listen, "",
          "Plaintext grpc.health.v1-only address for probes; overrides health_address.");
ABSL_FLAG(std::string, ready_file, "", "Written with the bound addresses once serving.");

namespace {

void Override(std::string* field, const absl::Flag<std::string>& flag) {
  std::string value = absl::GetFlag(flag);
  if (!value.empty()) *field = value;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "tongban-gateway: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's abseil is built without NDEBUG, which leaves absl::Mutex
  // deadlock detection on (also inside gRPC): a debugging aid that costs
  // measurable CPU per lock on the request path.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // glibc gives each busy thread its own arena; with gRPC's thread pools that
  // kept 40+ MB after a load burst. Two arenas cost no measurable throughput.
  mallopt(M_ARENA_MAX, 2);
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "gateway/main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "tongban-gateway: the national hub of the Tongban 跨省通办 federation (stateless; run any "
      "number of replicas).\nUsage: tongban-gateway --config gateway.textproto [flags]");
  absl::ParseCommandLine(argc, argv);

  auto config = tongban::gateway::ReadGatewayConfig(absl::GetFlag(FLAGS_config));
  if (!config.ok()) return Fail(std::string(config.status().message()));
  Override(config->mutable_listen_address(), FLAGS_listen);
  Override(config->mutable_metrics_address(), FLAGS_metrics_listen);
  Override(config->mutable_directory_file(), FLAGS_directory);
  Override(config->mutable_tls()->mutable_cert_file(), FLAGS_cert);
  Override(config->mutable_tls()->mutable_key_file(), FLAGS_key);
  Override(config->mutable_tls()->mutable_ca_file(), FLAGS_ca);
  Override(config->mutable_tls()->mutable_crl_directory(), FLAGS_crl_dir);
  Override(config->mutable_ready_file(), FLAGS_ready_file);
  Override(config->mutable_health_address(), FLAGS_health_listen);
  if (absl::GetFlag(FLAGS_no_catalog_cache)) config->set_disable_catalog_cache(true);
  auto effective = tongban::gateway::FinishGatewayConfig(std::move(*config));
  if (!effective.ok()) return Fail(std::string(effective.status().message()));

  // Only sigwait below receives the stop signals (threads inherit the mask).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto gateway = tongban::gateway::StartGatewayServer(*effective);
  if (!gateway.ok()) return Fail(std::string(gateway.status().message()));
  if (!effective->ready_file().empty()) {
    std::string tmp = effective->ready_file() + ".tmp";
    std::ofstream(tmp) << "grpc=" << (*gateway)->grpc_address()
                       << " metrics=" << (*gateway)->metrics_address()
                       << " health=" << (*gateway)->health_address() << "\n";
    std::rename(tmp.c_str(), effective->ready_file().c_str());
  }
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  (*gateway)->Shutdown();
  // Drained; skip civetweb's slow thread joins (see node/main.cc).
  std::fflush(nullptr);
  std::_Exit(0);
}
