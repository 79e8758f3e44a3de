#include "node_metrics.h"

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "heap_allocator.h"

namespace tongban::node {
namespace {

// From a fast local hop to outages long enough to page someone.
const prometheus::Histogram::BucketBoundaries kForwardingBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600};

}  // namespace

NodeMetrics::NodeMetrics(prometheus::Registry& registry, const std::string& province,
                         const std::string& version)
    : submitted_(prometheus::BuildCounter()
                     .Name("tongban_applications_submitted_total")
                     .Help("Applications filed at this node, by pre-check outcome and route.")
                     .Register(registry)),
      events_(prometheus::BuildCounter()
                  .Name("tongban_application_events_total")
                  .Help("Application events authored at this node, by action.")
                  .Register(registry)),
      received_(prometheus::BuildCounter()
                    .Name("tongban_federation_received_total")
                    .Help("Deliveries received from other provinces, by kind and result.")
                    .Register(registry)),
      commit_seconds_(prometheus::BuildHistogram()
                          .Name("tongban_store_commit_seconds")
                          .Help("Time from BEGIN to the end of COMMIT of store transactions.")
                          .Register(registry)
                          .Add({}, prometheus::Histogram::BucketBoundaries{
                                       0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                       0.25, 0.5, 1})),
      commit_batch_(prometheus::BuildHistogram()
                        .Name("tongban_store_commit_batch_size")
                        .Help("Writes committed together in one store transaction.")
                        .Register(registry)
                        .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64,
                                                                         128, 256})),
      store_failures_(prometheus::BuildCounter()
                          .Name("tongban_store_write_failures_total")
                          .Help("Writes the store could not store for a storage reason (each "
                                "answered UNAVAILABLE, nothing acknowledged), by reason.")
                          .Register(registry)),
      storage_full_(store_failures_.Add({{"reason", "storage_full"}})),
      storage_unavailable_(store_failures_.Add({{"reason", "unavailable"}})),
      forwarding_attempts_(prometheus::BuildCounter()
                               .Name("tongban_forwarding_attempts_total")
                               .Help("Outbox deliveries to other provinces attempted, by kind "
                                     "and result (every failure is retried).")
                               .Register(registry)),
      forwarding_seconds_(prometheus::BuildHistogram()
                              .Name("tongban_forwarding_delivery_seconds")
                              .Help("Time from an outbox entry's creation to its acknowledged "
                                    "delivery to the other province.")
                              .Register(registry)),
      dead_letters_(prometheus::BuildCounter()
                        .Name("tongban_forwarding_dead_letters_total")
                        .Help("Outbox deliveries refused for good by the receiving province "
                              "(dead letters), by kind and status code.")
                        .Register(registry)),
      watches_open_(prometheus::BuildGauge()
                        .Name("tongban_watch_streams_open")
                        .Help("WatchApplication streams open at this node (officers and "
                              "gateways relaying citizens' watches).")
                        .Register(registry)
                        .Add({})),
      watches_refused_(prometheus::BuildCounter()
                           .Name("tongban_watch_refused_total")
                           .Help("WatchApplication streams refused because watch.max_watches "
                                 "were open.")
                           .Register(registry)
                           .Add({})),
      watch_messages_(prometheus::BuildCounter()
                          .Name("tongban_watch_messages_sent_total")
                          .Help("Messages sent on WatchApplication streams, by kind "
                                "(event, heartbeat).")
                          .Register(registry)),
      joint_steps_started_(prometheus::BuildCounter()
                               .Name("tongban_joint_steps_started_total")
                               .Help("多地联办 steps started here: tasks filed for the steps of "
                                     "joint applications accepted at this node.")
                               .Register(registry)
                               .Add({})),
      joint_advance_failures_(prometheus::BuildCounter()
                                  .Name("tongban_joint_advance_failures_total")
                                  .Help("多地联办 coordinator runs that failed to file a due "
                                        "step or record what its tasks did (retried by the "
                                        "sweep; the log says why: joint.advance_failed).")
                                  .Register(registry)
                                  .Add({})),
      licences_(prometheus::BuildCounter()
                    .Name("tongban_licences_total")
                    .Help("电子证照 of this province issued and revoked here, by action "
                          "(issued, revoked).")
                    .Register(registry)),
      licence_checks_(prometheus::BuildCounter()
                          .Name("tongban_licence_checks_total")
                          .Help("Yes/no licence checks answered by this issuing node (each one "
                                "recorded in the disclosure log), by asker (local, relayed) "
                                "and outcome (valid, revoked, expired, no_match).")
                          .Register(registry)),
      licence_fetches_(prometheus::BuildCounter()
                           .Name("tongban_licence_fetches_total")
                           .Help("免证办 at this issuing node: licences previewed to their "
                                 "holders, released on confirmation, and declined, by step "
                                 "(preview, release, decline).")
                           .Register(registry)) {
  for (const char* step : {"preview", "release", "decline"}) licence_fetches_.Add({{"step", step}});
  for (const char* action : {"issued", "revoked"}) licences_.Add({{"action", action}});
  // Kept: a check is the issuing node's most frequent call.
  const char* const askers[] = {"local", "relayed"};
  const char* const check_outcomes[] = {"valid", "revoked", "expired", "no_match"};
  for (int a = 0; a < 2; ++a) {
    for (int o = 0; o < 4; ++o) {
      licence_check_series_[a][o] =
          &licence_checks_.Add({{"asker", askers[a]}, {"outcome", check_outcomes[o]}});
    }
  }
  watch_event_series_ = &watch_messages_.Add({{"kind", "event"}});
  watch_heartbeat_series_ = &watch_messages_.Add({{"kind", "heartbeat"}});
  prometheus::BuildGauge()
      .Name("tongban_build_info")
      .Help("Build and identity of this process (value 1).")
      .Register(registry)
      .Add({{"component", "node"},
            {"province", province},
            {"version", version},
            {"allocator", HeapAllocatorName()}})
      .Set(1);
  // Create every series at zero so rate() and alerts work from the first scrape.
  const char* const outcomes[] = {"complete", "deficiency", "refused"};
  const char* const routes[] = {"local", "cross_province"};
  for (int o = 0; o < 3; ++o) {
    for (int r = 0; r < 2; ++r) {
      submitted_series_[o][r] = &submitted_.Add({{"outcome", outcomes[o]}, {"route", routes[r]}});
    }
  }
  for (const char* kind : {"application", "event"}) {
    for (const char* result : {"delivered", "transient_error", "rejected"}) {
      forwarding_attempts_.Add({{"kind", kind}, {"result", result}});
    }
    forwarding_seconds_.Add({{"kind", kind}}, kForwardingBuckets);
    // The refusals a receiver gives (docs/protocol.md); others appear when seen.
    for (const char* code : {"INVALID_ARGUMENT", "PERMISSION_DENIED", "FAILED_PRECONDITION",
                             "NOT_FOUND"}) {
      dead_letters_.Add({{"kind", kind}, {"code", code}});
    }
  }
}

void NodeMetrics::Submitted(const std::string& outcome, bool cross_province) {
  const int o = outcome == "complete" ? 0 : outcome == "deficiency" ? 1 : 2;
  submitted_series_[o][cross_province ? 1 : 0]->Increment();
}

void NodeMetrics::Event(const std::string& action) {
  prometheus::Counter* series = nullptr;
  {
    absl::MutexLock lock(&event_series_mu_);
    prometheus::Counter*& cached = event_series_[action];
    if (cached == nullptr) cached = &events_.Add({{"action", action}});
    series = cached;
  }
  series->Increment();
}

void NodeMetrics::Received(const std::string& kind, bool duplicate) {
  received_.Add({{"kind", kind}, {"result", duplicate ? "duplicate" : "new"}}).Increment();
}

void NodeMetrics::Commit(double seconds, int batch) {
  commit_seconds_.Observe(seconds);
  commit_batch_.Observe(batch);
}

void NodeMetrics::StorageFailure(const absl::Status& failure) {
  // Both stores name a full disk this way (SQLITE_FULL; SQLSTATE 53100).
  const bool full = absl::StrContains(failure.message(), "storage full");
  (full ? storage_full_ : storage_unavailable_).Increment();
}

void NodeMetrics::ForwardingAttempt(const std::string& kind, const std::string& result) {
  forwarding_attempts_.Add({{"kind", kind}, {"result", result}}).Increment();
}

void NodeMetrics::WatchOpened() { watches_open_.Increment(); }
void NodeMetrics::WatchClosed() { watches_open_.Decrement(); }
void NodeMetrics::WatchRefused() { watches_refused_.Increment(); }
void NodeMetrics::JointStepStarted() { joint_steps_started_.Increment(); }
void NodeMetrics::JointAdvanceFailed() { joint_advance_failures_.Increment(); }
void NodeMetrics::LicenceIssued() { licences_.Add({{"action", "issued"}}).Increment(); }
void NodeMetrics::LicenceRevoked() { licences_.Add({{"action", "revoked"}}).Increment(); }
void NodeMetrics::LicenceFetchStep(const std::string& step) {
  licence_fetches_.Add({{"step", step}}).Increment();
}
void NodeMetrics::LicenceChecked(bool relayed, const v1::VerifyLicenceResponse& answer) {
  int outcome = 3;  // no_match
  if (answer.matched()) {
    switch (answer.status()) {
      case v1::LICENCE_STATUS_REVOKED: outcome = 1; break;
      case v1::LICENCE_STATUS_EXPIRED: outcome = 2; break;
      default: outcome = 0; break;
    }
  }
  licence_check_series_[relayed ? 1 : 0][outcome]->Increment();
}
void NodeMetrics::WatchMessageSent(const std::string& kind) {
  if (kind == "event") {
    watch_event_series_->Increment();
  } else if (kind == "heartbeat") {
    watch_heartbeat_series_->Increment();
  } else {
    watch_messages_.Add({{"kind", kind}}).Increment();
  }
}

void NodeMetrics::DeadLettered(const std::string& kind, const std::string& code) {
  dead_letters_.Add({{"kind", kind}, {"code", code}}).Increment();
}

void NodeMetrics::ForwardingDelivered(const std::string& kind, double seconds) {
  forwarding_seconds_.Add({{"kind", kind}}, kForwardingBuckets).Observe(seconds);
}

std::vector<prometheus::MetricFamily> StoreGauges::Collect() const {
  auto gauge = [](const std::string& name, const std::string& help) {
    prometheus::MetricFamily family;
    family.name = name;
    family.help = help;
    family.type = prometheus::MetricType::Gauge;
    return family;
  };
  auto sample = [](double value, std::vector<prometheus::ClientMetric::Label> labels = {}) {
    prometheus::ClientMetric metric;
    metric.label = std::move(labels);
    metric.gauge.value = value;
    return metric;
  };
  std::vector<prometheus::MetricFamily> families;

  if (absl::StatusOr<OutboxStats> stats = store_->GetOutboxStats(); stats.ok()) {
    double age = stats->oldest_created_at == absl::InfinitePast()
                     ? 0
                     : absl::ToDoubleSeconds(clock_->Now() - stats->oldest_created_at);
    families.push_back(
        gauge("tongban_outbox_depth",
              "Deliveries to other provinces pending (not yet acknowledged, not dead letters)."));
    families.back().metric.push_back(sample(static_cast<double>(stats->depth)));
    families.push_back(gauge("tongban_outbox_oldest_age_seconds",
                             "Age of the oldest pending outbox entry not held back by a dead "
                             "letter (0 when none)."));
    families.back().metric.push_back(sample(age));
    families.push_back(gauge("tongban_outbox_dead_letters",
                             "Outbox entries refused for good by the receiving province, "
                             "waiting for an operator (tongbanctl outbox)."));
    families.back().metric.push_back(sample(static_cast<double>(stats->dead_letters)));
    families.push_back(gauge("tongban_outbox_blocked",
                             "Pending outbox entries held back behind a dead letter of their "
                             "application."));
    families.back().metric.push_back(sample(static_cast<double>(stats->blocked)));
  }

  if (absl::StatusOr<int64_t> open = store_->CountOpenEscalations(); open.ok()) {
    families.push_back(gauge("tongban_escalations_open",
                             "Escalations (the 办不成事 queue) at this node not yet resolved."));
    families.back().metric.push_back(sample(static_cast<double>(*open)));
  }

  if (absl::StatusOr<RectificationCounts> r = store_->CountRectifications(clock_->Now());
      r.ok()) {
    families.push_back(gauge("tongban_rectifications_open",
                             "好差评 rectifications (of 差评 ratings of applications handled "
                             "here) not yet closed."));
    families.back().metric.push_back(sample(static_cast<double>(r->open)));
    families.push_back(gauge("tongban_rectifications_overdue",
                             "Open 好差评 rectifications past their working-day deadline."));
    families.back().metric.push_back(sample(static_cast<double>(r->overdue)));
  }

  if (auto by_state = store_->CountOpenApplicationsByState(); by_state.ok()) {
    families.push_back(gauge("tongban_applications_open",
                             "Applications held here in each non-terminal state."));
    static const std::pair<v1::ApplicationState, const char*> kOpenStates[] = {
        {v1::APPLICATION_STATE_RECEIVED, "received"},
        {v1::APPLICATION_STATE_PENDING_SUPPLEMENT, "pending_supplement"},
        {v1::APPLICATION_STATE_ACCEPTED, "accepted"},
        {v1::APPLICATION_STATE_IN_REVIEW, "in_review"},
        {v1::APPLICATION_STATE_WAITING_FOR_MATERIALS, "waiting_for_materials"},
    };
    for (const auto& [state, name] : kOpenStates) {
      auto it = by_state->find(state);
      families.back().metric.push_back(
          sample(it == by_state->end() ? 0 : static_cast<double>(it->second), {{"state", name}}));
    }
  }
  return families;
}

}  // namespace tongban::node
