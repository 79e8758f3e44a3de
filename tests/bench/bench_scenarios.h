// The measured scenarios of tongban-bench. Each adds its tables and
// targets to the report; a failing path is reported (errors column), not
// fatal, so one broken path never hides the other figures.
#pragma once

#include <string>
#include <vector>

#include "bench_federation.h"
#include "bench_load.h"
#include "bench_report.h"

namespace tongban::bench {

// Fixtures of the demo catalog (node/demo_catalog/README.md).
inline constexpr char kHomeProvince[] = "430000";    // 湖南: the node under test
inline constexpr char kRemoteProvince[] = "310000";  // 上海: handles forwarded filings
inline constexpr char kItem[] = "GG00020600";        // 社会保障卡申领, national item
inline constexpr char kSearchQuery[] = "社会保障";

struct BenchContext {
  Federation* federation = nullptr;
  Report* report = nullptr;
  LoadOptions load;               // warm-up and window; concurrency set per point
  std::vector<int> concurrencies;  // routed reads and submissions
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

// Helpers shared by the scenario files.
std::string Errors(const LoadResult& r);
LoadResult RunPoint(const BenchContext& ctx, const std::string& label, int concurrency,
                    const WorkerFactory& factory, const std::vector<CpuProbe>& probes);

}  // namespace tongban::bench
