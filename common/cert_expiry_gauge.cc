#include "cert_expiry_gauge.h"

namespace tongban {

CertExpiryGauge::CertExpiryGauge(Files files, Reader reader)
    : files_(std::move(files)), reader_(std::move(reader)) {}

std::vector<prometheus::MetricFamily> CertExpiryGauge::Collect() const {
  prometheus::MetricFamily family;
  family.name = "tongban_cert_expiry_timestamp_seconds";
  family.help = "notAfter of this process's own and CA certificates, Unix seconds.";
  family.type = prometheus::MetricType::Gauge;
  absl::MutexLock lock(&mu_);
  for (const auto& [which, file] : files_) {
    if (file.empty()) continue;
    absl::StatusOr<int64_t> not_after = reader_(file);
    if (not_after.ok()) last_good_[which] = *not_after;
    auto it = last_good_.find(which);
    if (it == last_good_.end()) continue;
    prometheus::ClientMetric metric;
    metric.label.push_back({"cert", which});
    metric.gauge.value = static_cast<double>(it->second);
    family.metric.push_back(std::move(metric));
  }
  if (family.metric.empty()) return {};
  return {std::move(family)};
}

}  // namespace tongban
