// tongban-bench: the federation benchmark (issue #4). Starts everything it
// measures on loopback (31 nodes, gateways, nginx), measures routed reads,
// fan-out search, durable submissions, forwarding, the public edge (REST/JSON
// vs gRPC, and under idle and slow hostile clients), footprint and start-up
// in one run, and prints one report with every ratio against baselines of
// the same run. A program, not a test: it is
// not registered with CTest.
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench_metrics.h"
#include "bench_scenarios.h"
#include "province_registry.h"

ABSL_FLAG(std::string, out, "", "Also write the report (markdown) to this file.");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(3), "Measured window of every load point.");
ABSL_FLAG(absl::Duration, warmup, absl::Milliseconds(500), "Warm-up before every window.");
ABSL_FLAG(std::string, concurrency, "1,16,64", "Client threads of the read and submission points.");
ABSL_FLAG(int, fanout_clients, 16, "Client threads of the fan-out and cross-province points.");
ABSL_FLAG(std::string, licence_clients, "16,64",
          "Client threads of the licences scenario's points (each path at each count).");
ABSL_FLAG(int, forwarding_samples, 100, "Sequential cross-province filings timed end to end.");
ABSL_FLAG(std::string, scenarios,
          "reads,fanout,submissions,forwarding,edge,edge-hostile,postgres,watch,licences",
          "Scenarios to run, of reads, fanout, submissions, forwarding, edge (public edge: "
          "REST/JSON vs gRPC), edge-hostile (public edge: healthy REST clients' latency without "
          "and with 1000 idle TCP connections + 100 slow-header clients), postgres (430000 on "
          "SQLite vs 1 and 3 replicas on one durable PostgreSQL server: submissions and routed "
          "reads; needs Debian postgresql-15), watch (gateway and node RSS while 200 "
          "WatchMyApplication streams stop reading and the history grows), licences (电子证照: "
          "an officer's VerifyLicence at 430000 of a 510000 licence through the gateway, and "
          "CheckLicence at the gateway as node 430000, vs routed reads of the same run; the "
          "issuing node's disclosure log audited against the calls); start-up and footprint are "
          "always measured.");
ABSL_FLAG(double, quiet_cores, 0.2,
          "Re-measure a point when other processes used more CPU (cores) during it.");
ABSL_FLAG(int, max_attempts, 3, "Attempts per point at most (the quietest is reported).");
ABSL_FLAG(std::string, nginx, "/usr/sbin/nginx",
          "nginx binary for the grpc_pass baseline of the reads scenario (apt-get install "
          "nginx-light); `none` runs without the baseline (its rows and ratios left out). A "
          "missing binary is an error, not a silent gap in the report.");
ABSL_FLAG(std::string, certs_dir, TONGBAN_BENCH_CERTS_DIR,
          "Test PKI (generated with certs/gen-dev-certs.sh --with-test-certs when incomplete).");
ABSL_FLAG(std::string, work_dir, "",
          "Databases, configs and logs of the run (default: a fresh dir under build/bench-tmp).");
ABSL_FLAG(bool, keep_work_dir, false, "Keep the work dir (logs) after the run.");
ABSL_FLAG(std::string, node_binary, TONGBAN_BENCH_NODE_BINARY, "tongban-node to run.");
ABSL_FLAG(std::string, gateway_binary, TONGBAN_BENCH_GATEWAY_BINARY, "tongban-gateway to run.");

namespace tongban::bench {
namespace {

double Mb(int64_t kb) { return kb < 0 ? -1 : static_cast<double>(kb) / 1024.0; }

std::string Machine() {
  std::string model = "unknown CPU";
  std::string cpuinfo = ReadFileText("/proc/cpuinfo");
  size_t at = cpuinfo.find("model name");
  if (at != std::string::npos) {
    size_t colon = cpuinfo.find(':', at), end = cpuinfo.find('\n', at);
    model = cpuinfo.substr(colon + 2, end - colon - 2);
  }
  utsname u{};
  uname(&u);
  long mem_mb = sysconf(_SC_PHYS_PAGES) / 1024 * sysconf(_SC_PAGESIZE) / 1024;
  return absl::StrCat(model, ", ", std::thread::hardware_concurrency(), " cores, ", mem_mb / 1024,
                      " GB RAM, Linux ", u.release);
}

struct Footprint {
  int64_t node_rss_kb = -1, node_anon_kb = -1, node_pss_kb = -1;
  int64_t gateway_rss_kb = -1, gateway_anon_kb = -1;
  std::vector<int64_t> all_nodes_rss_kb;
  std::string node_heap, gateway_heap;  // tongban_heap_bytes, HeapCell
};

// "allocated / free in thread caches / in central caches / free pages / released" in MB, from a
// process's tongban_heap_bytes: what the allocator holds of its VmRSS.
std::string HeapCell(const std::string& metrics_address) {
  const std::string metrics = HttpGet(metrics_address, "/metrics");
  std::vector<std::string> cells;
  for (const char* state :
       {"allocated", "free_thread_caches", "free_central_caches", "free_pages", "released"}) {
    const double bytes =
        MetricValue(metrics, absl::StrCat("tongban_heap_bytes{state=\"", state, "\"}"));
    if (bytes < 0) return "no tongban_heap_bytes";
    cells.push_back(Fmt(bytes / (1 << 20), 1));
  }
  return absl::StrCat(absl::StrJoin(cells, " / "), " MB");
}

Footprint MeasureFootprint(const Federation& fed) {
  Footprint f;
  pid_t node = fed.node(kHomeProvince).process->pid();
  pid_t gateway = fed.gateway("gateway").process->pid();
  f.node_rss_kb = StatusKb(node, "VmRSS");
  f.node_anon_kb = SmapsRollupKb(node, "Anonymous");
  f.node_pss_kb = SmapsRollupKb(node, "Pss");
  f.gateway_rss_kb = StatusKb(gateway, "VmRSS");
  f.gateway_anon_kb = SmapsRollupKb(gateway, "Anonymous");
  for (const NodeHandle& n : fed.nodes()) f.all_nodes_rss_kb.push_back(StatusKb(n.process->pid(), "VmRSS"));
  std::sort(f.all_nodes_rss_kb.begin(), f.all_nodes_rss_kb.end());
  f.node_heap = absl::StrCat(HeapCell(fed.node(kHomeProvince).metrics_address), ", ",
                             StatusKb(node, "Threads"), " threads");
  f.gateway_heap = absl::StrCat(HeapCell(fed.gateway("gateway").metrics_address), ", ",
                                StatusKb(gateway, "Threads"), " threads");
  return f;
}

std::string MbCell(int64_t kb) { return Fmt(Mb(kb), 1) + " MB"; }

int Run(const std::string& command_line) {
  const absl::Time run_start = absl::Now();
  BenchPaths paths;
  paths.node_binary = absl::GetFlag(FLAGS_node_binary);
  paths.gateway_binary = absl::GetFlag(FLAGS_gateway_binary);
  paths.demo_catalog_dir = TONGBAN_BENCH_DEMO_CATALOG_DIR;
  paths.certs_dir = absl::GetFlag(FLAGS_certs_dir);
  paths.gen_certs_script = TONGBAN_BENCH_GEN_CERTS;
  paths.directory_script = TONGBAN_BENCH_DIRECTORY_SCRIPT;
  paths.pg_server_script = TONGBAN_BENCH_PG_SERVER_SCRIPT;
  paths.nginx_binary = absl::GetFlag(FLAGS_nginx);
  if (paths.nginx_binary == "none" || paths.nginx_binary.empty()) {
    Progress("--nginx=none: the reads scenario runs without its nginx baseline");
    paths.nginx_binary.clear();
  } else if (access(paths.nginx_binary.c_str(), X_OK) != 0 &&
             absl::StrContains(absl::GetFlag(FLAGS_scenarios), "reads")) {
    std::cerr << "tongban-bench: " << paths.nginx_binary
              << " not found; the reads scenario compares the gateway with nginx grpc_pass.\n"
                 "  Install it:  sudo apt-get install -y --no-install-recommends nginx-light\n"
                 "  or run without that baseline:  --nginx=none\n";
    return 2;
  }
  paths.work_dir = absl::GetFlag(FLAGS_work_dir);
  if (paths.work_dir.empty()) {
    std::filesystem::create_directories(TONGBAN_BENCH_TMP_DIR);
    std::string pattern = std::string(TONGBAN_BENCH_TMP_DIR) + "/run-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) return 2;
    paths.work_dir = pattern;
  }
  std::filesystem::create_directories(paths.work_dir);
  Progress("work dir " + paths.work_dir);

  BenchContext ctx;
  Report report;
  ctx.report = &report;
  ctx.load.warmup = absl::GetFlag(FLAGS_warmup);
  ctx.load.measure = absl::GetFlag(FLAGS_duration);
  for (absl::string_view part : absl::StrSplit(absl::GetFlag(FLAGS_concurrency), ',')) {
    int c = 0;
    if (!absl::SimpleAtoi(part, &c) || c < 1) {
      std::fprintf(stderr, "tongban-bench: bad --concurrency %s\n", std::string(part).c_str());
      return 2;
    }
    ctx.concurrencies.push_back(c);
  }
  ctx.licence_concurrencies.clear();
  for (absl::string_view part : absl::StrSplit(absl::GetFlag(FLAGS_licence_clients), ',')) {
    int c = 0;
    if (!absl::SimpleAtoi(part, &c) || c < 1) {
      std::fprintf(stderr, "tongban-bench: bad --licence_clients %s\n", std::string(part).c_str());
      return 2;
    }
    ctx.licence_concurrencies.push_back(c);
  }
  ctx.fanout_concurrency = absl::GetFlag(FLAGS_fanout_clients);
  ctx.forwarding_samples = absl::GetFlag(FLAGS_forwarding_samples);
  ctx.quiet_cores = absl::GetFlag(FLAGS_quiet_cores);
  ctx.max_attempts = std::max(1, absl::GetFlag(FLAGS_max_attempts));
  ctx.run_id = absl::StrFormat("%08x", static_cast<uint32_t>(absl::ToUnixMicros(run_start) ^ getpid()));

  Progress("certificates in " + paths.certs_dir);
  if (absl::Status s = EnsureCerts(paths); !s.ok()) {
    std::fprintf(stderr, "tongban-bench: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  Federation fed(paths);
  ctx.federation = &fed;
  if (absl::Status s = fed.ReservePorts(); !s.ok()) {
    std::fprintf(stderr, "tongban-bench: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  // 4. Start-up: all nodes at once with empty stores (each seeds the demo catalog), then the gateway.
  Progress(absl::StrCat("starting ", AllProvinces().size(), " nodes in parallel (empty stores)"));
  const absl::Time up_start = absl::Now();
  absl::StatusOr<absl::Duration> nodes_up = fed.StartAllNodes();
  if (!nodes_up.ok()) {
    std::fprintf(stderr, "tongban-bench: %s\n", std::string(nodes_up.status().message()).c_str());
    return 1;
  }
  absl::StatusOr<absl::Duration> gateway_up = fed.StartGateway("gateway", true, true);
  if (!gateway_up.ok()) {
    std::fprintf(stderr, "tongban-bench: %s\n", std::string(gateway_up.status().message()).c_str());
    return 1;
  }
  const absl::Duration federation_up = absl::Now() - up_start;
  Progress(absl::StrCat("nodes ready in ", absl::ToInt64Milliseconds(*nodes_up),
                        " ms, gateway ", absl::ToInt64Milliseconds(*gateway_up),
                        " ms later; federation up in ", absl::ToInt64Milliseconds(federation_up),
                        " ms (directory: ", fed.directory_source(), ")"));
  // Idle CPU over the same 3 s: timers, health probes, the catalog refresher.
  auto federation_ticks = [&fed]() {
    int64_t nodes = 0;
    for (const NodeHandle& n : fed.nodes()) nodes += CpuTicks(n.process->pid(), false);
    return std::make_pair(nodes, CpuTicks(fed.gateway("gateway").process->pid(), false));
  };
  const auto idle_before = federation_ticks();
  const absl::Time idle_start = absl::Now();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const auto idle_after = federation_ticks();
  const double idle_seconds = absl::ToDoubleSeconds(absl::Now() - idle_start);
  auto percent_of_core = [&](int64_t ticks) {
    return Fmt(TicksToMicros(ticks) / 1e6 / idle_seconds * 100, 1) + " %";
  };
  const Footprint idle = MeasureFootprint(fed);
  Progress(absl::StrCat("idle VmRSS: node ", MbCell(idle.node_rss_kb), " (Anonymous ",
                        MbCell(idle.node_anon_kb), "), gateway ", MbCell(idle.gateway_rss_kb)));

  // 1. Routed reads (with nginx in front of node 430000 when available).
  std::unique_ptr<NginxProxy> nginx;
  if (!paths.nginx_binary.empty() && absl::StrContains(absl::GetFlag(FLAGS_scenarios), "reads")) {
    const std::string province_dir = absl::StrCat("province/", kHomeProvince);
    auto started = NginxProxy::Start(paths, fed.node(kHomeProvince).grpc_address,
                                     IdentityAt(paths.certs_dir, province_dir + "/node"),
                                     IdentityAt(paths.certs_dir, province_dir + "/officer/officer-02"));
    if (started.ok()) {
      nginx = std::move(*started);
    } else {
      Progress("WARNING: nginx did not start: " + std::string(started.status().message()));
    }
  }
  const std::string scenarios = absl::GetFlag(FLAGS_scenarios);
  auto wanted = [&scenarios](absl::string_view name) {
    for (absl::string_view s : absl::StrSplit(scenarios, ',')) {
      if (s == name) return true;
    }
    return false;
  };
  if (wanted("reads")) RunRoutedReads(ctx, nginx.get());
  if (nginx != nullptr) nginx->Stop();
  // 2, 3.
  if (wanted("fanout")) RunFanOut(ctx);
  if (wanted("submissions")) RunSubmissions(ctx);
  if (wanted("forwarding")) RunForwarding(ctx);

  Progress("3 s idle, then footprint after load");
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const Footprint after = MeasureFootprint(fed);
  // 5. After the footprint, so that its load does not change the figures above.
  if (wanted("edge")) RunEdge(ctx);
  if (wanted("edge-hostile")) RunEdgeHostile(ctx);
  if (wanted("postgres")) RunPostgres(ctx);
  if (wanted("watch")) RunSlowWatchers(ctx);
  if (wanted("licences")) RunLicenceChecks(ctx);
  const absl::Time stop_start = absl::Now();
  const int unclean = fed.StopAll();
  const absl::Duration stop_time = absl::Now() - stop_start;

  Table& t = report.AddTable("4. Footprint and start-up", {"figure", "value", "how"});
  const auto& all = idle.all_nodes_rss_kb;
  t.rows = {
      {"31 nodes exec'd at once, empty stores → every ready file",
       absl::StrCat(absl::ToInt64Milliseconds(*nodes_up), " ms"),
       "each node migrates and seeds 1 711 guides; ready file polled every 2 ms"},
      {"then gateway exec → ready file", absl::StrCat(absl::ToInt64Milliseconds(*gateway_up), " ms"), ""},
      {"federation up (first node exec → gateway ready)",
       absl::StrCat(absl::ToInt64Milliseconds(federation_up), " ms"), ""},
      {"idle VmRSS, node 430000", MbCell(idle.node_rss_kb), "/proc/<pid>/status, 3 s after the gateway was ready"},
      {"… of which Anonymous (the node's own memory)", MbCell(idle.node_anon_kb), "/proc/<pid>/smaps_rollup"},
      {"… Pss (shared library pages split among the 32 processes)", MbCell(idle.node_pss_kb), "smaps_rollup"},
      {"idle VmRSS of the 31 nodes: min / median / max",
       absl::StrCat(Fmt(Mb(all.front()), 1), " / ", Fmt(Mb(all[all.size() / 2]), 1), " / ",
                    Fmt(Mb(all.back()), 1), " MB"), ""},
      {"idle VmRSS, gateway (Anonymous)",
       absl::StrCat(MbCell(idle.gateway_rss_kb), " (", MbCell(idle.gateway_anon_kb), ")"), ""},
      {"idle CPU: 31 nodes together / gateway",
       absl::StrCat(percent_of_core(idle_after.first - idle_before.first), " / ",
                    percent_of_core(idle_after.second - idle_before.second), " of one core"),
       "utime+stime over the 3 s idle period"},
      {"after all load phases, 3 s idle: node 430000 VmRSS (Anonymous)",
       absl::StrCat(MbCell(after.node_rss_kb), " (", MbCell(after.node_anon_kb), ")"),
       "threads and arenas the load created stay mapped"},
      {"after all load phases, 3 s idle: gateway VmRSS (Anonymous)",
       absl::StrCat(MbCell(after.gateway_rss_kb), " (", MbCell(after.gateway_anon_kb), ")"), ""},
      {"node 430000 heap, idle → after load: allocated / free in thread caches / in central caches / free pages / released",
       absl::StrCat(idle.node_heap, " → ", after.node_heap), "its tongban_heap_bytes{state}"},
      {"gateway heap, idle → after load: allocated / free in thread caches / in central caches / free pages / released",
       absl::StrCat(idle.gateway_heap, " → ", after.gateway_heap), ""},
      {"stop: SIGTERM to the gateway, then to all 31 nodes",
       absl::StrCat(absl::ToInt64Milliseconds(stop_time), " ms; ",
                    unclean == 0 ? "every process exited 0" : absl::StrCat(unclean, " did not exit 0")),
       "includes the gateway's 500 ms drain delay"},
  };
  report.AddTarget("node idle RSS ≤ 20 MB", absl::StrCat(MbCell(idle.node_rss_kb), " VmRSS (",
                                                         MbCell(idle.node_anon_kb), " Anonymous)"),
                   idle.node_rss_kb >= 0 && idle.node_rss_kb <= 20 * 1024);
  // Issue #14: memory the load took is given back (arenas trimmed, no
  // thread per call kept).
  const auto ratio = [](int64_t after_kb, int64_t idle_kb) {
    return idle_kb > 0 && after_kb >= 0 ? static_cast<double>(after_kb) / idle_kb : -1.0;
  };
  const double node_ratio = ratio(after.node_rss_kb, idle.node_rss_kb);
  const double gateway_ratio = ratio(after.gateway_rss_kb, idle.gateway_rss_kb);
  report.AddTarget("VmRSS after all load ≤ 1.3× idle, node 430000 / gateway",
                   absl::StrCat(Fmt(node_ratio, 2), "× / ", Fmt(gateway_ratio, 2), "×"),
                   node_ratio > 0 && node_ratio <= 1.3 && gateway_ratio > 0 &&
                       gateway_ratio <= 1.3);
  report.AddTarget("31-node federation up ≤ 5 s",
                   absl::StrCat(Fmt(absl::ToDoubleSeconds(federation_up), 2), " s"),
                   federation_up <= absl::Seconds(5));

  const ForeignLoad foreign = ForeignLoadSoFar();
  t.notes.push_back(absl::StrCat(
      "Other processes on the machine (not started by the benchmark) used on average ",
      Fmt(foreign.mean_cores, 2), " and at most ", Fmt(foreign.max_cores, 2),
      " of the 2 cores during the measured windows (user+system time from /proc/stat minus the "
      "benchmark's own process tree)."));
  const absl::Duration run_time = absl::Now() - run_start;
  std::string markdown = absl::StrCat(
      "### Federation benchmark (tongban-bench) — ", absl::FormatTime("%Y-%m-%d %H:%M UTC", run_start, absl::UTCTimeZone()),
      "\n\n", "- machine: ", Machine(), "\n", "- command: `", command_line, "`\n",
      "- run time: ", Fmt(absl::ToDoubleSeconds(run_time), 0), " s; every load point: ",
      absl::FormatDuration(ctx.load.warmup), " warm-up + ", absl::FormatDuration(ctx.load.measure),
      " measured, closed loop; a point during which other processes used more than ",
      Fmt(ctx.quiet_cores, 2), " cores is measured again (at most ", ctx.max_attempts,
      " attempts, the quietest reported)\n\n", report.Markdown());
  std::printf("\n%s", markdown.c_str());
  std::fflush(stdout);
  const std::string out = absl::GetFlag(FLAGS_out);
  if (!out.empty()) {
    std::ofstream(out) << markdown;
    Progress("report written to " + out);
  }
  if (!absl::GetFlag(FLAGS_keep_work_dir) && absl::GetFlag(FLAGS_work_dir).empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(paths.work_dir, ignored);
  }
  Progress(absl::StrCat("done in ", Fmt(absl::ToDoubleSeconds(run_time), 0), " s: ", report.met(),
                        " targets met, ", report.missed(), " missed"));
  return 0;
}

}  // namespace
}  // namespace tongban::bench

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "bench/bench_main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "starts a 31-node Tongban federation with its gateway (and nginx as a "
      "grpc_pass baseline) on loopback and measures, in one run: routed reads vs direct vs "
      "nginx, fan-out search (cached and cold), durable submissions, cross-province "
      "forwarding, the public edge's REST/JSON vs gRPC cost per call and its latency under "
      "idle and slow hostile clients, 电子证照 checks through the gateway, idle RSS and "
      "start-up. "
      "Prints progress and a report; --out also writes it as markdown. Takes ~5 minutes on 2 "
      "cores (every scenario; --scenarios picks some).\nUsage: tongban-bench [--out report.md] [flags]");
  std::vector<std::string> args(argv, argv + argc);
  absl::ParseCommandLine(argc, argv);
  // Children must never outlive the benchmark (see bench_process.h).
  tongban::bench::InstallCleanupOnSignals();
  std::string command_line = absl::StrJoin(args, " ");
  return tongban::bench::Run(command_line);
}
