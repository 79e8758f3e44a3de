// Application-level metrics of a node, declared in one place. Labels are
// bounded (outcome, route, action): never application or citizen ids.
#pragma once

#include <memory>
#include <string>

#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "store/application_store.h"
#include "tongban/v1/licence.pb.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "clock.h"

namespace tongban::node {

class NodeMetrics final {
 public:
  NodeMetrics(prometheus::Registry& registry, const std::string& province,
              const std::string& version);

  // outcome: complete | deficiency | refused; route: local | cross_province.
  void Submitted(const std::string& outcome, bool cross_province);
  // One per appended event authored here (action name, e.g. APPROVE).
  void Event(const std::string& action);
  // Federation deliveries received: kind application|event, result new|duplicate.
  void Received(const std::string& kind, bool duplicate);
  // One store transaction committed (group commit: `batch` writes in it).
  void Commit(double seconds, int batch);
  // A write the store could not store for a storage reason:
  // tongban_store_write_failures_total{reason="storage_full"|"unavailable"}.
  void StorageFailure(const absl::Status& failure);
  // One delivery attempt of the outbox forwarder: kind application|event,
  // result delivered|transient_error|rejected.
  void ForwardingAttempt(const std::string& kind, const std::string& result);
  // An acknowledged delivery, `seconds` after its outbox entry was written:
  // the cross-province forwarding latency.
  void ForwardingDelivered(const std::string& kind, double seconds);
  // An outbox entry the receiver refused for good became a dead letter:
  // kind application|event, code the refusing status code name.
  void DeadLettered(const std::string& kind, const std::string& code);
  // WatchApplication streams (application_watch.h): opened and closed
  // (tongban_watch_streams_open), refused over watch.max_watches, and each
  // message sent, kind event|heartbeat.
  void WatchOpened();
  void WatchClosed();
  void WatchRefused();
  void WatchMessageSent(const std::string& kind);
  // 多地联办 (joint_coordinator.h): a step's task filed; a coordinator run
  // that failed (the sweep retries it).
  void JointStepStarted();
  void JointAdvanceFailed();
  // 电子证照 (licence_registry.h): licences issued and revoked here, and the
  // yes/no checks answered, by asker (local = this province's officers,
  // relayed = another province's through the gateway) and outcome
  // (valid | revoked | expired | no_match).
  void LicenceIssued();
  void LicenceRevoked();
  void LicenceChecked(bool relayed, const v1::VerifyLicenceResponse& answer);
  // 免证办 at the issuing node: step preview | release | decline.
  void LicenceFetchStep(const std::string& step);

 private:
  prometheus::Family<prometheus::Counter>& submitted_;
  prometheus::Family<prometheus::Counter>& events_;
  prometheus::Family<prometheus::Counter>& received_;
  prometheus::Histogram& commit_seconds_;
  prometheus::Histogram& commit_batch_;
  prometheus::Family<prometheus::Counter>& store_failures_;
  prometheus::Counter& storage_full_;
  prometheus::Counter& storage_unavailable_;
  prometheus::Family<prometheus::Counter>& forwarding_attempts_;
  prometheus::Family<prometheus::Histogram>& forwarding_seconds_;
  prometheus::Family<prometheus::Counter>& dead_letters_;
  prometheus::Gauge& watches_open_;
  prometheus::Counter& watches_refused_;
  prometheus::Family<prometheus::Counter>& watch_messages_;
  prometheus::Counter& joint_steps_started_;
  prometheus::Counter& joint_advance_failures_;
  prometheus::Family<prometheus::Counter>& licences_;
  prometheus::Family<prometheus::Counter>& licence_checks_;
  prometheus::Family<prometheus::Counter>& licence_fetches_;
  // Every filing counts one submission and one event: resolving their series
  // once keeps Family::Add (a labels map built and hashed under the family's
  // lock) off the filing path.
  prometheus::Counter* submitted_series_[3][2] = {};  // [outcome][route]
  // [local, relayed][valid, revoked, expired, no_match]
  prometheus::Counter* licence_check_series_[2][4] = {};
  prometheus::Counter* watch_event_series_ = nullptr;
  prometheus::Counter* watch_heartbeat_series_ = nullptr;
  absl::Mutex event_series_mu_;
  absl::flat_hash_map<std::string, prometheus::Counter*> event_series_
      ABSL_GUARDED_BY(event_series_mu_);
};

// Gauges read from the store at scrape time, so they are never stale:
// tongban_outbox_depth, tongban_outbox_oldest_age_seconds,
// tongban_outbox_dead_letters, tongban_outbox_blocked,
// tongban_escalations_open (the 办不成事 queue),
// tongban_rectifications_open / _overdue (好差评 rectifications) and
// tongban_applications_open{state} (non-terminal states only, every one
// present, 0 when empty). Each query is an index range whose size follows the
// work in progress, not the node's history. A query that fails leaves its
// family out of that scrape (an absent series, never a wrong 0).
// (tongban_cert_expiry_timestamp_seconds: common/cert_expiry_gauge.h.)
class StoreGauges final : public prometheus::Collectable {
 public:
  StoreGauges(ApplicationStore* store, const Clock* clock) : store_(store), clock_(clock) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  ApplicationStore* store_;  // not owned
  const Clock* clock_;       // not owned
};

}  // namespace tongban::node
