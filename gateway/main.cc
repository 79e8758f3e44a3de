// tongban-gateway: the national hub of the Tongban federation.
// Parses flags, starts the gateway, waits for SIGTERM/SIGINT, drains.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway_config.h"
#include "gateway_server.h"
#include "heap_allocator.h"
#include "idle_memory_trimmer.h"
#include "process_lifecycle.h"

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
ABSL_FLAG(std::string, https_listen, "",
          "Public REST/JSON (HTTPS) address for citizens' apps; overrides public_edge.https_address.");
ABSL_FLAG(std::string, public_grpc_listen, "",
          "Public gRPC (TLS) address for citizens' apps; overrides public_edge.grpc_address.");
ABSL_FLAG(std::string, ready_file, "", "Written with the bound addresses once serving.");

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "tongban-gateway: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  tongban::ConfigureHeapAllocator();  // before any thread allocates
  using tongban::OverrideFromFlag;
  tongban::TuneProcessForServing();
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
  OverrideFromFlag(config->mutable_listen_address(), FLAGS_listen);
  OverrideFromFlag(config->mutable_metrics_address(), FLAGS_metrics_listen);
  OverrideFromFlag(config->mutable_directory_file(), FLAGS_directory);
  OverrideFromFlag(config->mutable_tls()->mutable_cert_file(), FLAGS_cert);
  OverrideFromFlag(config->mutable_tls()->mutable_key_file(), FLAGS_key);
  OverrideFromFlag(config->mutable_tls()->mutable_ca_file(), FLAGS_ca);
  OverrideFromFlag(config->mutable_tls()->mutable_crl_directory(), FLAGS_crl_dir);
  OverrideFromFlag(config->mutable_ready_file(), FLAGS_ready_file);
  OverrideFromFlag(config->mutable_health_address(), FLAGS_health_listen);
  OverrideFromFlag(config->mutable_public_edge()->mutable_https_address(), FLAGS_https_listen);
  OverrideFromFlag(config->mutable_public_edge()->mutable_grpc_address(), FLAGS_public_grpc_listen);
  if (absl::GetFlag(FLAGS_no_catalog_cache)) config->set_disable_catalog_cache(true);
  auto effective = tongban::gateway::FinishGatewayConfig(std::move(*config));
  if (!effective.ok()) return Fail(std::string(effective.status().message()));

  tongban::StopSignals stop;  // before any thread starts
  auto gateway = tongban::gateway::StartGatewayServer(*effective);
  if (!gateway.ok()) return Fail(std::string(gateway.status().message()));
  tongban::WriteReadyFile(effective->ready_file(),
                          absl::StrCat("grpc=", (*gateway)->grpc_address(),
                                       " metrics=", (*gateway)->metrics_address(),
                                       " health=", (*gateway)->health_address(),
                                       " https=", (*gateway)->https_address(),
                                       " public_grpc=", (*gateway)->public_grpc_address()));
  // What start-up allocated and freed (configuration, catalog) goes back now;
  // heap a load burst leaves behind, once the process is quiet.
  tongban::ReleaseFreeHeapMemory();
  tongban::IdleMemoryTrimmer trimmer;
  stop.Wait();
  (*gateway)->Shutdown();
  tongban::ExitAfterCleanShutdown();
}
