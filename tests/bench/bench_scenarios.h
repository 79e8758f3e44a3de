// The measured scenarios of tongban-bench. Each adds its tables and
// targets to the report; a failing path is reported (errors column), not
// fatal, so one broken path never hides the other figures.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

#include "bench_federation.h"
#include "bench_load.h"
#include "bench_report.h"

namespace tongban::bench {

// Fixtures of the demo catalog (node/demo_catalog/README.md).
inline constexpr char kHomeProvince[] = "430000";    // 湖南: the node under test
inline constexpr char kFrozenProvince[] = "650000";  // 新疆: frozen in the fan-out scenario
inline constexpr char kRemoteProvince[] = "310000";  // 上海: handles forwarded filings
inline constexpr char kItem[] = "GG00020600";        // 社会保障卡申领, national item
inline constexpr char kSearchQuery[] = "社会保障";

struct BenchContext {
  Federation* federation = nullptr;
  Report* report = nullptr;
  LoadOptions load;               // warm-up and window; concurrency set per point
  std::vector<int> concurrencies;  // routed reads and submissions
  std::vector<int> licence_concurrencies = {16, 64};  // 电子证照 paths
  int fanout_concurrency = 16;
  int forwarding_samples = 100;
  std::string run_id;  // makes idempotency keys unique across runs
  // The machine is shared: a point during which other processes used more
  // than `quiet_cores` is measured again, up to `max_attempts` times, and the
  // quietest attempt is reported.
  double quiet_cores = 0.2;
  int max_attempts = 3;
};

// 1. GetGuide direct vs GetProvinceGuide through the gateway vs nginx.
// `nginx` may be null (not installed): its rows are then omitted.
void RunRoutedReads(const BenchContext& ctx, const NginxProxy* nginx);
// 2. SearchFederation over 31 nodes, cached and cold, vs one node's SearchItems.
void RunFanOut(const BenchContext& ctx);
// 3a. Durable local submissions at one node.
void RunSubmissions(const BenchContext& ctx);
// 3b. Cross-province forwarding latency, sequential and under load.
void RunForwarding(const BenchContext& ctx);
// 5. The public edge: REST/JSON vs gRPC cost per call at a gateway of its own.
void RunEdge(const BenchContext& ctx);
// 6. The public edge under hostile load: healthy REST clients' latency without
// and with 1 000 idle TCP connections and 100 slow-header clients.
void RunEdgeHostile(const BenchContext& ctx);

// The public edge, shared by the edge scenarios (bench_edge.cc).
struct EdgeCitizen {
  std::string id;              // resident id, the token's subject
  std::string bearer;          // "Bearer <jwt>"
  std::string application_id;  // filed by this citizen at set-up
};
struct EdgeEndpoint {
  std::string https_host;
  int https_port = 0;
  std::string grpc_address;
  std::string ca_file;
};
// The public_edge block of an edge gateway's config: loopback listeners, the
// gateway's certificate, the test PKI's token key and the rate limit at the
// highest the config accepts (the benchmark must never be throttled);
// `extra_fields` (text format lines) go inside the block.
std::string PublicEdgeConfig(const std::string& certs_dir, const std::string& extra_fields);
// Starts gateway `name` with `public_edge_config` and fills `edge` from its
// ready file. Returns its start-up time.
absl::StatusOr<absl::Duration> StartEdgeGateway(const BenchContext& ctx, const std::string& name,
                                                const std::string& public_edge_config,
                                                EdgeEndpoint* edge);
// Mints a token per citizen and files one application for each through the
// public gRPC face (accepted and handled at the home province).
absl::Status PrepareEdgeCitizens(const BenchContext& ctx, const EdgeEndpoint& edge, int count,
                                 std::vector<EdgeCitizen>* citizens);
// Closed-loop REST clients of GetItemGuide (kHomeProvince, kItem): thread i
// is citizen i with an httplib::SSLClient kept alive, from 127.0.0.1.
WorkerFactory RestGuideClients(const EdgeEndpoint& edge,
                               std::shared_ptr<const std::vector<EdgeCitizen>> citizens);
// CPU (cores) `pid` used over `window` (sleeps for it).
double CoresUsed(pid_t pid, absl::Duration window);

// 7. The store on PostgreSQL: durable submissions and routed reads with 1 and
// 3 replicas of 430000 on one PostgreSQL database vs one node on SQLite.
void RunPostgres(const BenchContext& ctx);

// 8. Slow watch readers: RSS of the gateway and the node while 200
// WatchMyApplication streams stop reading and the history grows by megabytes.
void RunSlowWatchers(const BenchContext& ctx);

// 9. 电子证照 (issue 13) through the gateway: an officer's VerifyLicence at
// 430000 for 510000's licence (node → gateway → issuing node, which signs and
// durably logs a disclosure), CheckLicence at the gateway as node 430000, and
// the routed reads of the same run as baselines; ratios, p99, the issuing
// node's CPU per check, an audit of its disclosure log against the calls
// made, and one SignDisclosure + VerifyDisclosure in-process
// (bench_licences.cc). The fetch (PreviewLicence + ConfirmLicence at 430000,
// one operation; two rows in the log) is measured beside them by the same code.
void RunLicenceChecks(const BenchContext& ctx);

// Helpers shared by the scenario files.
// Client threads filing local applications (item kItem, `materials`) at
// `address` (a replica list with `round_robin`) as `officer`, each with a
// fresh idempotency key <key_prefix>-w<worker>-s<sequence>: the worker number
// is unique in this process, so a re-measured point never replays a key.
WorkerFactory SubmitterAt(const std::string& address, bool round_robin, const Identity& officer,
                          const std::string& key_prefix, const std::string& handling,
                          const std::vector<std::string>& materials);
// Client threads of FederationQueryService.GetProvinceGuide(kHomeProvince, kItem).
WorkerFactory GatewayGetGuide(const std::string& address, const Identity& officer);
std::string Errors(const LoadResult& r);
LoadResult RunPoint(const BenchContext& ctx, const std::string& label, int concurrency,
                    const WorkerFactory& factory, const std::vector<CpuProbe>& probes);

}  // namespace tongban::bench
