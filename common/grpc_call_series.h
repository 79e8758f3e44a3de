// The Prometheus series of one gRPC method (server side, or client side per
// target province), found once and kept, so that recording a call is a few
// atomic adds.
//
// Why: prometheus-cpp 1.0's Family::Add, called per call, builds a label
// map, constructs a new metric (a histogram allocates its buckets) only to
// throw it away when the series exists, hashes the labels and takes the
// family's mutex. Measured on a node serving cached guide reads that was
// ~5 % of its CPU (three Adds per call), on the gateway ~6 % (six).
//
//   GrpcCallSeriesCache cache(started, handled, seconds, buckets);
//   GrpcCallSeries& s = cache.Get(key, [&] { return prometheus::Labels{...}; });
//   s.Started();  ...  s.Handled(status.error_code(), seconds);
//
// Keys must come from a bounded set (method names of this binary's protos,
// province codes of the directory): the cache never forgets an entry.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/support/status.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"

namespace tongban {

// "OK", "InvalidArgument", ... as go-grpc-prometheus spells codes
// ("Unknown" for a number outside 0..16).
std::string GrpcCodeName(int code);

class GrpcCallSeries final {
 public:
  // `labels` are the started and histogram labels; handled adds grpc_code.
  GrpcCallSeries(prometheus::Family<prometheus::Counter>& started,
                 prometheus::Family<prometheus::Counter>& handled,
                 prometheus::Family<prometheus::Histogram>& seconds, prometheus::Labels labels,
                 const prometheus::Histogram::BucketBoundaries& buckets);

  void Started() { started_.Increment(); }
  // Makes the handled series of `code` at zero (rate() works before the
  // first such call).
  void AddCode(grpc::StatusCode code) { HandledCounter(code); }
  // Counts the call under its code (the series of a code is made at its
  // first use) and observes its duration.
  void Handled(grpc::StatusCode code, double seconds);

 private:
  static constexpr int kCodes = 17;  // OK .. UNAUTHENTICATED

  prometheus::Counter& HandledCounter(grpc::StatusCode code);

  prometheus::Counter& started_;
  prometheus::Histogram& seconds_;
  prometheus::Family<prometheus::Counter>& handled_family_;
  const prometheus::Labels labels_;
  // Series of a family live as long as the family (we never Remove), so a
  // pointer taken once stays valid.
  std::array<std::atomic<prometheus::Counter*>, kCodes + 1> handled_{};  // last: unknown
};

class GrpcCallSeriesCache final {
 public:
  GrpcCallSeriesCache(prometheus::Family<prometheus::Counter>& started,
                      prometheus::Family<prometheus::Counter>& handled,
                      prometheus::Family<prometheus::Histogram>& seconds,
                      prometheus::Histogram::BucketBoundaries buckets);

  // The series kept under `key`, or null.
  GrpcCallSeries* Find(absl::string_view key);
  // The series kept under `key`; made with `labels()` (called only then)
  // the first time the key is asked for.
  GrpcCallSeries& Get(absl::string_view key, absl::FunctionRef<prometheus::Labels()> labels);

 private:
  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& seconds_;
  const prometheus::Histogram::BucketBoundaries buckets_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<GrpcCallSeries>> series_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tongban
