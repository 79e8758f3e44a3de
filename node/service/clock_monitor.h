// ClockMonitor: what operators see of the time-limit clocks (docs/time-limits.md,
// docs/operations.md "Time limits"). Periodically (not per request, not per
// scrape: it reads every open application's history) it recomputes the clocks
// of the open applications this province handles and publishes
//   tongban_applications_overdue{clock="legal"|"promised"}
//   tongban_applications_due_soon{clock="legal"|"promised"}
//   tongban_applications_calendar_uncovered
//   tongban_calendar_last_covered_year
//   tongban_clocks_refresh_timestamp_seconds   (last successful refresh)
//   tongban_clocks_overdue_escalations_total   (auto-escalations made)
// and, when configured, flags applications whose legal limit ran out to the
// 办不成事 queue through `escalate`.
//
// Only applications handled here count: the handling province owns the time
// limit, so a federation-wide sum counts each application once.
//
// Threading: Start() runs refreshes on one background thread until Stop();
// RefreshNow() may be called from any thread (refreshes are serialized).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clock.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "store/application_store.h"
#include "structured_log.h"
#include "tongban/v1/application.pb.h"
#include "working_day_calendar.h"

namespace tongban::node {

// Calls `fn` with every open (started or not) application handled by
// `own_province`, with its events and its clocks computed at `now`. Stops at
// the first error of the store or of `fn`.
absl::Status ForEachOpenHandledApplication(
    ApplicationStore* store, const std::string& own_province, const WorkingDayCalendar& calendar,
    absl::Time now, const std::function<absl::Status(v1::Application&)>& fn);

class ClockMonitor final {
 public:
  struct Options {
    int due_soon_working_days = 3;
    absl::Duration refresh_interval = absl::Seconds(60);
    bool escalate_overdue = false;
  };
  // Flags one application to the 办不成事 queue with `reason`; ALREADY_EXISTS
  // when it already is (not an error here).
  using EscalateFn = std::function<absl::Status(const std::string& id, const std::string& reason)>;

  // Pointers are not owned and must outlive the monitor.
  ClockMonitor(std::string own_province, ApplicationStore* store,
               const WorkingDayCalendar* calendar, const Clock* clock, EventLog* log,
               prometheus::Registry& registry, Options options, EscalateFn escalate);
  ~ClockMonitor();

  // One refresh now: recomputes the gauges (and escalates, when enabled).
  absl::Status RefreshNow();
  void Start();
  void Stop();

 private:
  void Run();

  const std::string own_;
  ApplicationStore* store_;
  const WorkingDayCalendar* calendar_;
  const Clock* clock_;
  EventLog* log_;
  const Options options_;
  EscalateFn escalate_;

  prometheus::Family<prometheus::Gauge>& overdue_family_;
  prometheus::Family<prometheus::Gauge>& due_soon_family_;
  prometheus::Gauge& overdue_legal_;
  prometheus::Gauge& overdue_promised_;
  prometheus::Gauge& due_soon_legal_;
  prometheus::Gauge& due_soon_promised_;
  prometheus::Gauge& uncovered_;
  prometheus::Gauge& last_covered_year_;
  prometheus::Gauge& refreshed_at_;
  prometheus::Counter& escalations_;

  absl::Mutex refresh_mu_;  // serializes refreshes

  absl::Mutex mu_;
  bool stopping_ = false;  // guarded by mu_
  std::unique_ptr<std::thread> thread_;
};

}  // namespace tongban::node
