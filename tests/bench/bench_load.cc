#include "bench_load.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

#include "bench_process.h"

namespace tongban::bench {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct ThreadStats {
  std::vector<double> latency_ms;
  int64_t errors = 0;
  std::string first_error;
};

std::map<std::string, int64_t> SnapshotTicks(const std::vector<CpuProbe>& probes) {
  std::map<std::string, int64_t> ticks;
  for (const CpuProbe& p : probes) {
    int64_t sum = 0;
    for (pid_t pid : p.pids) sum += std::max<int64_t>(0, CpuTicks(pid, p.with_children));
    ticks[p.name] = sum;
  }
  ticks["client"] = CpuTicks(getpid(), false);
  ticks["machine"] = MachineBusyTicks();
  ticks["bench tree"] = BenchTreeTicks();
  return ticks;
}

ForeignLoad g_foreign;
double g_foreign_sum = 0;

}  // namespace

double Percentile(std::vector<double> values, double percentile) {
  if (values.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(percentile / 100.0 * values.size()));
  rank = std::clamp<size_t>(rank, 1, values.size()) - 1;
  std::nth_element(values.begin(), values.begin() + rank, values.end());
  return values[rank];
}

ForeignLoad ForeignLoadSoFar() { return g_foreign; }

void NoteReportedPoint(const LoadResult& r) {
  g_foreign.max_cores = std::max(g_foreign.max_cores, r.foreign_cores);
  g_foreign_sum += r.foreign_cores;
  g_foreign.mean_cores = g_foreign_sum / ++g_foreign.points;
}

LoadResult RunClosedLoop(const LoadOptions& options, const WorkerFactory& factory,
                         const std::vector<CpuProbe>& probes) {
  const int n = options.concurrency;
  std::atomic<int> prepared{0};
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  // Calls completing inside [start, end] count; end stays "never" until set.
  std::atomic<int64_t> window_start{std::numeric_limits<int64_t>::max()};
  std::atomic<int64_t> window_end{std::numeric_limits<int64_t>::max()};
  std::vector<ThreadStats> stats(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      CallFn call = factory(i);
      ThreadStats& s = stats[i];
      s.latency_ms.reserve(1 << 16);
      ++prepared;
      while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (!call) {
        s.errors = 1;
        s.first_error = "client set-up failed (channel did not connect)";
        return;
      }
      for (int64_t seq = 0; !stop.load(std::memory_order_relaxed); ++seq) {
        int64_t t0 = NowNs();
        grpc::Status status = call(seq);
        int64_t t1 = NowNs();
        if (t1 < window_start.load(std::memory_order_relaxed) ||
            t1 > window_end.load(std::memory_order_relaxed)) {
          continue;
        }
        if (status.ok()) {
          s.latency_ms.push_back(static_cast<double>(t1 - t0) / 1e6);
        } else if (s.errors++ == 0) {
          s.first_error = std::to_string(status.error_code()) + " " + status.error_message();
        }
      }
    });
  }
  while (prepared.load() < n) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  go = true;
  std::this_thread::sleep_for(absl::ToChronoNanoseconds(options.warmup));
  std::map<std::string, int64_t> before = SnapshotTicks(probes);
  const int64_t start = NowNs();
  window_start = start;
  std::this_thread::sleep_for(absl::ToChronoNanoseconds(options.measure));
  const int64_t end = NowNs();
  window_end = end;
  std::map<std::string, int64_t> after = SnapshotTicks(probes);
  stop = true;
  for (auto& t : threads) t.join();

  LoadResult r;
  r.concurrency = n;
  r.seconds = static_cast<double>(end - start) / 1e9;
  std::vector<double> all;
  for (ThreadStats& s : stats) {
    all.insert(all.end(), s.latency_ms.begin(), s.latency_ms.end());
    r.errors += s.errors;
    if (r.first_error.empty()) r.first_error = s.first_error;
  }
  r.calls = static_cast<int64_t>(all.size());
  r.calls_per_second = r.seconds > 0 ? static_cast<double>(r.calls) / r.seconds : 0;
  r.p50_ms = Percentile(all, 50);
  r.p99_ms = Percentile(std::move(all), 99);
  const int64_t foreign = (after["machine"] - before["machine"]) -
                          (after["bench tree"] - before["bench tree"]);
  r.foreign_cores = std::max(0.0, TicksToMicros(foreign) / 1e6 / std::max(r.seconds, 1e-9));
  after.erase("machine");
  after.erase("bench tree");
  for (const auto& [name, ticks] : after) {
    r.cpu_us_per_call[name] =
        r.calls > 0 ? TicksToMicros(ticks - before[name]) / static_cast<double>(r.calls) : 0;
  }
  return r;
}

}  // namespace tongban::bench
