#include "service/clock_monitor.h"

#include "absl/strings/str_cat.h"
#include "service/application_clocks.h"

namespace tongban::node {
namespace {

// Every state but RECEIVED (not accepted yet: its clocks cannot have
// started) and the final ones.
constexpr v1::ApplicationState kOpenStates[] = {
    v1::APPLICATION_STATE_PENDING_SUPPLEMENT, v1::APPLICATION_STATE_ACCEPTED,
    v1::APPLICATION_STATE_IN_REVIEW, v1::APPLICATION_STATE_WAITING_FOR_MATERIALS};

constexpr int kPage = 200;

prometheus::Family<prometheus::Gauge>& GaugeFamily(prometheus::Registry& r, const char* name,
                                                   const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r);
}

}  // namespace

absl::Status ForEachOpenHandledApplication(
    ApplicationStore* store, const std::string& own_province, const WorkingDayCalendar& calendar,
    absl::Time now, const std::function<absl::Status(v1::Application&)>& fn) {
  for (v1::ApplicationState state : kOpenStates) {
    std::string cursor;
    do {
      absl::StatusOr<Page<v1::Application>> page = store->ListByState(state, cursor, kPage);
      if (!page.ok()) return page.status();
      for (const v1::Application& listed : page->items) {
        if (listed.handling_province() != own_province) continue;
        absl::StatusOr<v1::Application> app =
            store->GetApplication(listed.application_id(), /*with_events=*/true);
        if (absl::IsNotFound(app.status())) continue;
        if (!app.ok()) return app.status();
        *app->mutable_clocks() =
            ComputeClocks(app->handling_province(), app->events(), calendar, now);
        absl::Status s = fn(*app);
        if (!s.ok()) return s;
      }
      cursor = page->next_cursor;
    } while (!cursor.empty());
  }
  return absl::OkStatus();
}

ClockMonitor::ClockMonitor(std::string own_province, ApplicationStore* store,
                           const WorkingDayCalendar* calendar, const Clock* clock, EventLog* log,
                           prometheus::Registry& registry, Options options, EscalateFn escalate)
    : own_(std::move(own_province)),
      store_(store),
      calendar_(calendar),
      clock_(clock),
      log_(log),
      options_(options),
      escalate_(std::move(escalate)),
      overdue_family_(GaugeFamily(registry, "tongban_applications_overdue",
                                  "Open applications handled here whose time limit ran out, by "
                                  "clock (legal: 法定时限 with its extension; promised: 承诺时限).")),
      due_soon_family_(GaugeFamily(registry, "tongban_applications_due_soon",
                                   "Open applications handled here whose time limit ends within "
                                   "the configured number of working days, not yet overdue.")),
      overdue_legal_(overdue_family_.Add({{"clock", "legal"}})),
      overdue_promised_(overdue_family_.Add({{"clock", "promised"}})),
      due_soon_legal_(due_soon_family_.Add({{"clock", "legal"}})),
      due_soon_promised_(due_soon_family_.Add({{"clock", "promised"}})),
      uncovered_(GaugeFamily(registry, "tongban_applications_calendar_uncovered",
                             "Open applications handled here whose clocks count days of a year "
                             "the working-day calendar has no data for.")
                     .Add({})),
      last_covered_year_(GaugeFamily(registry, "tongban_calendar_last_covered_year",
                                     "The latest year the working-day calendar covers (every "
                                     "layer declares it); 0 when none.")
                             .Add({})),
      refreshed_at_(GaugeFamily(registry, "tongban_clocks_refresh_timestamp_seconds",
                                "When the time-limit gauges were last refreshed from the store.")
                        .Add({})),
      escalations_(prometheus::BuildCounter()
                       .Name("tongban_clocks_overdue_escalations_total")
                       .Help("Applications this node flagged to the 办不成事 queue because "
                             "their legal time limit ran out (time_limits.escalate_overdue).")
                       .Register(registry)
                       .Add({})) {
  last_covered_year_.Set(calendar_->LastCoveredYear());
}

ClockMonitor::~ClockMonitor() { Stop(); }

absl::Status ClockMonitor::RefreshNow() {
  absl::MutexLock refresh(&refresh_mu_);
  const absl::Time now = clock_->Now();
  int overdue_legal = 0, overdue_promised = 0, soon_legal = 0, soon_promised = 0, uncovered = 0;
  std::vector<std::string> to_escalate;
  absl::Status s = ForEachOpenHandledApplication(
      store_, own_, *calendar_, now, [&](v1::Application& app) {
        const v1::ApplicationClocks& c = app.clocks();
        if (!c.started() || c.stopped()) return absl::OkStatus();
        const int n = options_.due_soon_working_days;
        if (c.legal_overdue()) ++overdue_legal;
        if (c.promised_overdue()) ++overdue_promised;
        if (!c.legal_due_date().empty() && !c.legal_overdue() &&
            c.legal_remaining_working_days() <= n) {
          ++soon_legal;
        }
        if (!c.promised_due_date().empty() && !c.promised_overdue() &&
            c.promised_remaining_working_days() <= n) {
          ++soon_promised;
        }
        if (c.calendar_uncovered()) ++uncovered;
        if (options_.escalate_overdue && c.legal_overdue() && !app.escalated()) {
          to_escalate.push_back(app.application_id());
        }
        return absl::OkStatus();
      });
  if (!s.ok()) {
    // Keep the previous values: the refresh timestamp going stale is the signal.
    log_->Warn("clocks.refresh_failed", {{"error", std::string(s.message())}});
    return s;
  }
  overdue_legal_.Set(overdue_legal);
  overdue_promised_.Set(overdue_promised);
  due_soon_legal_.Set(soon_legal);
  due_soon_promised_.Set(soon_promised);
  uncovered_.Set(uncovered);
  last_covered_year_.Set(calendar_->LastCoveredYear());
  refreshed_at_.Set(absl::ToDoubleSeconds(now - absl::UnixEpoch()));
  for (const std::string& id : to_escalate) {
    absl::Status e = escalate_(id, "legal time limit ran out (automatic, time_limits.escalate_overdue)");
    if (e.ok()) {
      escalations_.Increment();
      log_->Warn("clocks.overdue_escalated", {{"id", id}});
    } else if (!absl::IsAlreadyExists(e)) {
      log_->Warn("clocks.escalation_failed", {{"id", id}, {"error", std::string(e.message())}});
    }
  }
  return absl::OkStatus();
}

void ClockMonitor::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_ != nullptr) return;
  stopping_ = false;
  thread_ = std::make_unique<std::thread>([this] { Run(); });
}

void ClockMonitor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_ != nullptr && thread_->joinable()) thread_->join();
  thread_.reset();
}

void ClockMonitor::Run() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      // Wakes at once on Stop(); otherwise after one interval.
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.refresh_interval);
      if (stopping_) return;
    }
    (void)RefreshNow();  // failures are logged and show as a stale refresh timestamp
  }
}

}  // namespace tongban::node
