#include "cert_expiry_gauge.h"

#include <map>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace tongban {
namespace {

// Files the fake reader knows, as notAfter seconds; others fail to read.
class FakeFiles {
 public:
  CertExpiryGauge::Reader Reader() {
    return [this](const std::string& file) -> absl::StatusOr<int64_t> {
      auto it = not_after_.find(file);
      if (it == not_after_.end()) return absl::NotFoundError(file + ": no such file");
      return it->second;
    };
  }
  std::map<std::string, int64_t> not_after_;
};

// cert label -> value of the only family's samples.
std::map<std::string, double> Samples(const CertExpiryGauge& gauge) {
  std::map<std::string, double> out;
  auto families = gauge.Collect();
  if (families.empty()) return out;
  EXPECT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].name, "tongban_cert_expiry_timestamp_seconds");
  EXPECT_EQ(families[0].type, prometheus::MetricType::Gauge);
  for (const auto& m : families[0].metric) {
    EXPECT_EQ(m.label.size(), 1u);
    if (m.label.size() == 1) out[m.label[0].value] = m.gauge.value;
  }
  return out;
}

TEST(CertExpiryGaugeTest, ReadsEveryScrapeAndKeepsTheLastGoodValue) {
  FakeFiles files;
  files.not_after_ = {{"/tls/cert.pem", 1800000000}, {"/tls/ca.pem", 2000000000}};
  CertExpiryGauge gauge({{"own", "/tls/cert.pem"}, {"ca", "/tls/ca.pem"}}, files.Reader());
  std::map<std::string, double> expected = {{"own", 1800000000}, {"ca", 2000000000}};
  EXPECT_EQ(Samples(gauge), expected);

  // Renewed in place: the next scrape shows the new date, no restart needed.
  files.not_after_["/tls/cert.pem"] = 1900000000;
  expected["own"] = 1900000000;
  EXPECT_EQ(Samples(gauge), expected);

  // Unreadable for a moment (mid-rotation): the last good value stays.
  files.not_after_.erase("/tls/cert.pem");
  EXPECT_EQ(Samples(gauge), expected);
}

TEST(CertExpiryGaugeTest, NeverReadableOrUnconfiguredFilesAreAbsent) {
  FakeFiles files;
  files.not_after_ = {{"/tls/ca.pem", 2000000000}};
  CertExpiryGauge gauge({{"own", "/tls/missing.pem"}, {"ca", "/tls/ca.pem"}}, files.Reader());
  std::map<std::string, double> expected = {{"ca", 2000000000}};
  EXPECT_EQ(Samples(gauge), expected);

  CertExpiryGauge none({{"own", ""}}, files.Reader());
  EXPECT_TRUE(none.Collect().empty());
}

}  // namespace
}  // namespace tongban
