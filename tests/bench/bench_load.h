// Closed-loop load: N client threads, each calling as fast as its previous
// call returns, for a warm-up and then a measured window. Throughput counts
// calls that completed inside the window; latency percentiles are over
// those calls; CPU per call comes from /proc tick counters of the
// processes under test, read at the window's edges.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/support/status.h"

namespace tongban::bench {

// One client thread's call. `sequence` counts this thread's calls from 0
// (for unique idempotency keys).
using CallFn = std::function<grpc::Status(int64_t sequence)>;
// Builds thread `index`'s call (its channel, stub and request). Runs on
// that thread before the warm-up, so channels connect in parallel.
using WorkerFactory = std::function<CallFn(int index)>;

// A process (or a set: all 31 nodes) whose CPU time is charged to the calls.
struct CpuProbe {
  std::string name;
  std::vector<pid_t> pids;
  bool with_children = false;  // nginx: master + workers
};

struct LoadOptions {
  int concurrency = 1;
  absl::Duration warmup = absl::Milliseconds(500);
  absl::Duration measure = absl::Seconds(3);
};

struct LoadResult {
  int concurrency = 0;
  double seconds = 0;  // measured window
  int64_t calls = 0;   // completed OK inside the window
  int64_t errors = 0;  // failed inside the window
  std::string first_error;
  double calls_per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  // CPU µs per successful call, by probe name; "client" is this process.
  std::map<std::string, double> cpu_us_per_call;
  // CPU (in cores) used during the window by processes the benchmark did not start.
  double foreign_cores = 0;
};

// Highest and mean foreign_cores over the points reported so far.
struct ForeignLoad {
  double max_cores = 0;
  double mean_cores = 0;
  int points = 0;
};
ForeignLoad ForeignLoadSoFar();
// Counts a point that goes into the report (the others were re-measured).
void NoteReportedPoint(const LoadResult& result);

LoadResult RunClosedLoop(const LoadOptions& options, const WorkerFactory& factory,
                         const std::vector<CpuProbe>& probes);

// Percentile (0..100) of a sample, nearest-rank; 0 when empty.
double Percentile(std::vector<double> values, double percentile);

}  // namespace tongban::bench
