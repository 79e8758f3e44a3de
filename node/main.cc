// tongban-node: one province's node of the Tongban federation.
// Parses flags, starts the node, waits for SIGTERM/SIGINT, shuts down gracefully.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/types/optional.h"
#include "node_config.h"
#include "node_server.h"
#include "heap_allocator.h"
#include "idle_memory_trimmer.h"
#include "process_lifecycle.h"

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
ABSL_FLAG(std::string, calendar, "",
          "Working-day calendar files, comma-separated, national first; overrides "
          "time_limits.calendar_files.");
ABSL_FLAG(std::string, extension_approvers, "",
          "Officer ids who may approve time-limit extensions, comma-separated; overrides "
          "time_limits.extension_approvers.");
ABSL_FLAG(absl::optional<bool>, escalate_overdue, absl::nullopt,
          "true/false: flag applications whose legal time limit ran out to the 办不成事 queue; "
          "overrides time_limits.escalate_overdue when given.");
ABSL_FLAG(int64_t, test_only_clock_offset_seconds, 0,
          "TEST ONLY: seconds added to the node's clock; overrides "
          "time_limits.test_only_clock_offset_seconds when not 0.");

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "tongban-node: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  tongban::ConfigureHeapAllocator();  // before any thread allocates
  using tongban::OverrideFromFlag;
  tongban::TuneProcessForServing();
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
  OverrideFromFlag(config->mutable_province_code(), FLAGS_province);
  OverrideFromFlag(config->mutable_listen_address(), FLAGS_listen);
  OverrideFromFlag(config->mutable_metrics_address(), FLAGS_metrics_listen);
  OverrideFromFlag(config->mutable_database_path(), FLAGS_database);
  OverrideFromFlag(config->mutable_demo_catalog_dir(), FLAGS_demo_catalog);
  OverrideFromFlag(config->mutable_gateway_address(), FLAGS_gateway);
  OverrideFromFlag(config->mutable_tls()->mutable_cert_file(), FLAGS_cert);
  OverrideFromFlag(config->mutable_tls()->mutable_key_file(), FLAGS_key);
  OverrideFromFlag(config->mutable_tls()->mutable_ca_file(), FLAGS_ca);
  OverrideFromFlag(config->mutable_tls()->mutable_crl_directory(), FLAGS_crl_dir);
  OverrideFromFlag(config->mutable_ready_file(), FLAGS_ready_file);
  OverrideFromFlag(config->mutable_health_address(), FLAGS_health_listen);
  if (const std::string files = absl::GetFlag(FLAGS_calendar); !files.empty()) {
    config->mutable_time_limits()->clear_calendar_files();
    for (absl::string_view f : absl::StrSplit(files, ',')) {
      config->mutable_time_limits()->add_calendar_files(std::string(f));
    }
  }
  if (const std::string ids = absl::GetFlag(FLAGS_extension_approvers); !ids.empty()) {
    config->mutable_time_limits()->clear_extension_approvers();
    for (absl::string_view id : absl::StrSplit(ids, ',')) {
      config->mutable_time_limits()->add_extension_approvers(std::string(id));
    }
  }
  if (const absl::optional<bool> escalate = absl::GetFlag(FLAGS_escalate_overdue);
      escalate.has_value()) {
    config->mutable_time_limits()->set_escalate_overdue(*escalate);
  }
  if (const int64_t offset = absl::GetFlag(FLAGS_test_only_clock_offset_seconds); offset != 0) {
    config->mutable_time_limits()->set_test_only_clock_offset_seconds(offset);
  }
  absl::StatusOr<tongban::v1::NodeConfig> effective =
      tongban::node::FinishNodeConfig(std::move(*config));
  if (!effective.ok()) return Fail(std::string(effective.status().message()));

  tongban::StopSignals stop;  // before any thread starts
  auto node = tongban::node::StartNodeServer(*effective);
  if (!node.ok()) return Fail(std::string(node.status().message()));
  tongban::WriteReadyFile(effective->ready_file(),
                          absl::StrCat("grpc=", (*node)->grpc_address(),
                                       " metrics=", (*node)->metrics_address(),
                                       " health=", (*node)->health_address()));
  // What start-up allocated and freed (configuration, catalog) goes back now;
  // heap a load burst leaves behind, once the process is quiet.
  tongban::ReleaseFreeHeapMemory();
  tongban::IdleMemoryTrimmer trimmer;
  stop.Wait();
  (*node)->Shutdown();
  tongban::ExitAfterCleanShutdown();
}
