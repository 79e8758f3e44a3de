// tongban_cert_expiry_timestamp_seconds{cert="own"|"ca"}: notAfter of the
// certificate files a process serves with, as Unix seconds.
//
// The files are re-read at every scrape, not once at start: certificates are
// renewed in place without a restart (tls_credentials.h), and an expiry alert
// must clear as soon as the renewed file is there. A file that cannot be read
// (mid-rotation, say) keeps its last good value; one never read is left out
// (absent series, so an alert on it does not fire on a wrong value).
//
//   auto certs = std::make_shared<CertExpiryGauge>(
//       CertExpiryGauge::Files{{"own", cert_file}, {"ca", ca_file}}, ReadCertificateNotAfter);
//   exposer.RegisterCollectable(certs);
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace tongban {

class CertExpiryGauge final : public prometheus::Collectable {
 public:
  // (label value of `cert`, file path), in the order they are exposed.
  using Files = std::vector<std::pair<std::string, std::string>>;
  // notAfter of a PEM file as Unix seconds (ReadCertificateNotAfter).
  using Reader = std::function<absl::StatusOr<int64_t>(const std::string& file)>;

  CertExpiryGauge(Files files, Reader reader);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const Files files_;
  const Reader reader_;
  mutable absl::Mutex mu_;
  mutable std::map<std::string, int64_t> last_good_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tongban
