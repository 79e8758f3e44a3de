#include "grpc_call_series.h"

#include <utility>

namespace tongban {

std::string GrpcCodeName(int code) {
  static const char* const kNames[] = {
      "OK",        "Canceled",          "Unknown",           "InvalidArgument", "DeadlineExceeded",
      "NotFound",  "AlreadyExists",     "PermissionDenied",  "ResourceExhausted",
      "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable",
      "DataLoss", "Unauthenticated"};
  if (code < 0 || code > 16) return "Unknown";
  return kNames[code];
}

GrpcCallSeries::GrpcCallSeries(prometheus::Family<prometheus::Counter>& started,
                               prometheus::Family<prometheus::Counter>& handled,
                               prometheus::Family<prometheus::Histogram>& seconds,
                               prometheus::Labels labels,
                               const prometheus::Histogram::BucketBoundaries& buckets)
    : started_(started.Add(labels)),
      seconds_(seconds.Add(labels, buckets)),
      handled_family_(handled),
      labels_(std::move(labels)) {}

void GrpcCallSeries::Handled(grpc::StatusCode code, double seconds) {
  HandledCounter(code).Increment();
  seconds_.Observe(seconds);
}

prometheus::Counter& GrpcCallSeries::HandledCounter(grpc::StatusCode code) {
  const int c = static_cast<int>(code);
  const size_t slot = c >= 0 && c < kCodes ? static_cast<size_t>(c) : kCodes;
  prometheus::Counter* counter = handled_[slot].load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Two threads may both get here: Family::Add returns the same series to
    // both, so storing it twice is harmless.
    prometheus::Labels labels = labels_;
    labels["grpc_code"] = GrpcCodeName(c);
    counter = &handled_family_.Add(labels);
    handled_[slot].store(counter, std::memory_order_release);
  }
  return *counter;
}

GrpcCallSeriesCache::GrpcCallSeriesCache(prometheus::Family<prometheus::Counter>& started,
                                         prometheus::Family<prometheus::Counter>& handled,
                                         prometheus::Family<prometheus::Histogram>& seconds,
                                         prometheus::Histogram::BucketBoundaries buckets)
    : started_(started), handled_(handled), seconds_(seconds), buckets_(std::move(buckets)) {}

GrpcCallSeries* GrpcCallSeriesCache::Find(absl::string_view key) {
  absl::ReaderMutexLock lock(&mu_);
  auto it = series_.find(key);
  return it == series_.end() ? nullptr : it->second.get();
}

GrpcCallSeries& GrpcCallSeriesCache::Get(absl::string_view key,
                                         absl::FunctionRef<prometheus::Labels()> labels) {
  if (GrpcCallSeries* kept = Find(key)) return *kept;
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = series_.try_emplace(key);
  if (inserted) {
    it->second =
        std::make_unique<GrpcCallSeries>(started_, handled_, seconds_, labels(), buckets_);
  }
  return *it->second;
}

}  // namespace tongban
