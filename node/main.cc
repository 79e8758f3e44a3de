// tongban-node: one province's node of the Tongban federation.
// Parses flags, starts the node, waits for SIGTERM/SIGINT, shuts down gracefully.
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
#include "absl/strings/str_cat.h"
#include "node_config.h"
#include "node_server.h"

ABSL_FLAG(std::string, config, "", "Config file (protobuf text format, see docs/operations.md).");
ABSL_FLAG(std::string, province, "", "Province code; overrides province_code.");
ABSL_FLAG(std::string, listen, "", "gRPC listen address host:port; overrides listen_address.");
ABSL_FLAG(std::string, metrics_listen, "", "Metrics address host:port; overrides metrics_address.");
ABSL_FLAG(std::string, database, "", "SQLite file; overrides database_path.");
ABSL_FLAG(std::string, demo_catalog, "", "Demo catalog dir; overrides demo_catalog_dir.");
ABSL_FLAG(std::string, gateway, "", "Gateway address; overrides gateway_address.");
ABSL_FLAG(std::string, cert, "", "Certificate PEM; overrides tls.cert_file.");
ABSL_FLAG(std::string, key, "", "Private key PEM; overrides tls.key_file.");
ABSL_FLAG(std::string, ca, "", "CA bundle PEM; overrides tls.ca_file.");
ABSL_FLAG(std::string, crl_dir, "", "CRL directory; overrides tls.crl_directory.");
ABSL_FLAG(std::string, health_listen, "",
          "Plaintext grpc.health.v1-only address for probes; overrides health_address.");
ABSL_FLAG(std::string, ready_file, "", "Written with the bound addresses once serving.");

namespace {

void Override(std::string* field, const absl::Flag<std::string>& flag) {
  std::string value = absl::GetFlag(flag);
  if (!value.empty()) *field = value;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "tongban-node: %s\n", message.c_str());
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
    return absl::StrContains(file, "node/main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "tongban-node: the gRPC node of one province of the Tongban 跨省通办 federation.\n"
      "Usage: tongban-node --config node.textproto [flags]\n"
      "Every flag overrides the config key of the same meaning. See docs/operations.md.");
  absl::ParseCommandLine(argc, argv);

  absl::StatusOr<tongban::v1::NodeConfig> config =
      tongban::node::ReadNodeConfig(absl::GetFlag(FLAGS_config));
  if (!config.ok()) return Fail(std::string(config.status().message()));
  Override(config->mutable_province_code(), FLAGS_province);
  Override(config->mutable_listen_address(), FLAGS_listen);
  Override(config->mutable_metrics_address(), FLAGS_metrics_listen);
  Override(config->mutable_database_path(), FLAGS_database);
  Override(config->mutable_demo_catalog_dir(), FLAGS_demo_catalog);
  Override(config->mutable_gateway_address(), FLAGS_gateway);
  Override(config->mutable_tls()->mutable_cert_file(), FLAGS_cert);
  Override(config->mutable_tls()->mutable_key_file(), FLAGS_key);
  Override(config->mutable_tls()->mutable_ca_file(), FLAGS_ca);
  Override(config->mutable_tls()->mutable_crl_directory(), FLAGS_crl_dir);
  Override(config->mutable_ready_file(), FLAGS_ready_file);
  Override(config->mutable_health_address(), FLAGS_health_listen);
  absl::StatusOr<tongban::v1::NodeConfig> effective =
      tongban::node::FinishNodeConfig(std::move(*config));
  if (!effective.ok()) return Fail(std::string(effective.status().message()));

  // Block the stop signals in every thread (threads inherit the mask) so
  // that only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto node = tongban::node::StartNodeServer(*effective);
  if (!node.ok()) return Fail(std::string(node.status().message()));
  if (!effective->ready_file().empty()) {
    // Written to a temporary name and renamed, so a reader never sees half.
    std::string tmp = effective->ready_file() + ".tmp";
    std::ofstream(tmp) << "grpc=" << (*node)->grpc_address()
                       << " metrics=" << (*node)->metrics_address()
                       << " health=" << (*node)->health_address() << "\n";
    std::rename(tmp.c_str(), effective->ready_file().c_str());
  }
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  (*node)->Shutdown();
  // Everything that must end cleanly has: calls drained, store closed, logs
  // flushed. Skipping the remaining destructors saves the ~2 s civetweb
  // (the metrics HTTP server) spends joining its idle threads, which would
  // otherwise stretch every rolling restart.
  std::fflush(nullptr);
  std::_Exit(0);
}
