// Reading the processes' Prometheus /metrics (text exposition format):
// single samples and histograms, compared before/after a phase.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace tongban::bench {

// Value of the sample whose text before the value is exactly `series`
// (e.g. `tongban_outbox_depth` or `x_total{result="hit"}`); -1 when absent.
double MetricValue(const std::string& exposition, const std::string& series);

// One histogram series: cumulative bucket counts by upper bound, sum, count.
struct Histogram {
  std::vector<std::pair<double, double>> buckets;  // (le, cumulative count), ascending le
  double sum = 0;
  double count = 0;

  // `name` without suffix; `labels` is the label text before le, e.g.
  // `kind="application"` (empty for an unlabelled histogram).
  static Histogram Parse(const std::string& exposition, const std::string& name,
                         const std::string& labels);
  // Observations between two scrapes.
  Histogram Minus(const Histogram& earlier) const;
  // Upper bound of the bucket holding quantile q (0..1): the figure is "≤ this".
  double QuantileUpperBound(double q) const;
  double Mean() const { return count > 0 ? sum / count : 0; }
};

}  // namespace tongban::bench
