#include "bench_metrics.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <sstream>

namespace tongban::bench {

double MetricValue(const std::string& exposition, const std::string& series) {
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
    }
  }
  return -1;
}

Histogram Histogram::Parse(const std::string& exposition, const std::string& name,
                           const std::string& labels) {
  Histogram h;
  const std::string bucket_prefix =
      name + "_bucket{" + (labels.empty() ? "" : labels + ",") + "le=\"";
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, bucket_prefix.size(), bucket_prefix) != 0) continue;
    size_t le_end = line.find('"', bucket_prefix.size());
    size_t space = line.rfind(' ');
    if (le_end == std::string::npos || space == std::string::npos) continue;
    std::string le = line.substr(bucket_prefix.size(), le_end - bucket_prefix.size());
    double bound = le == "+Inf" ? std::numeric_limits<double>::infinity()
                                : std::strtod(le.c_str(), nullptr);
    h.buckets.emplace_back(bound, std::strtod(line.c_str() + space + 1, nullptr));
  }
  std::sort(h.buckets.begin(), h.buckets.end());
  const std::string suffix = labels.empty() ? "" : "{" + labels + "}";
  h.sum = std::max(0.0, MetricValue(exposition, name + "_sum" + suffix));
  h.count = std::max(0.0, MetricValue(exposition, name + "_count" + suffix));
  return h;
}

Histogram Histogram::Minus(const Histogram& earlier) const {
  Histogram d = *this;
  for (size_t i = 0; i < d.buckets.size() && i < earlier.buckets.size(); ++i) {
    d.buckets[i].second -= earlier.buckets[i].second;
  }
  d.sum -= earlier.sum;
  d.count -= earlier.count;
  return d;
}

double Histogram::QuantileUpperBound(double q) const {
  if (count <= 0) return 0;
  for (const auto& [le, cumulative] : buckets) {
    if (cumulative >= q * count) return le;
  }
  return std::numeric_limits<double>::infinity();
}

}  // namespace tongban::bench
