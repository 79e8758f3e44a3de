// OutboxForwarder against the real SQLite store on a temporary file and a
// hand-written fake of the gateway (FederationClient) that behaves like the
// receiving province: stores by id, answers repeats with already_delivered,
// refuses an event of an application it does not know with NOT_FOUND.
//
// Synchronisation is by conditions, never by sleeping: the fake and a thin
// recording wrapper around the store count calls and outcomes under a mutex,
// and the tests wait for "n seen" (the timeout is only a failure guard). Time
// is a FakeClock, so backoff is checked exactly and nothing is retried until
// the test moves the clock and calls Notify().
#include "service/outbox_forwarder.h"

#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "service/application_events.h"
#include "service/node_metrics.h"
#include "store/sqlite_application_store.h"
#include "store_test_util.h"
#include "structured_log.h"
#include "tongban/v1/federation.pb.h"

namespace tongban::node {
namespace {

using ::testing::HasSubstr;
using testing::OpenOrDie;
using testing::TempDir;

constexpr char kOwn[] = "430000";                             // Hunan: this node
constexpr char kShanghai[] = "310000";                        // the handling province
const absl::Time kStart = absl::FromUnixSeconds(1795572000);  // 2026-11-25 10:00 CST
// Failure guard only: every wait below ends as soon as its condition holds.
const absl::Duration kGuard = absl::Seconds(20);

google::protobuf::Timestamp Proto(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  ts.set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(absl::ToUnixSeconds(t)))));
  return ts;
}

// What the fake gateway was asked to deliver.
struct Call {
  std::string kind;  // "application" | "event"
  std::string application_id;
  std::string event_id;  // empty for an application
  bool operator==(const Call& o) const {
    return kind == o.kind && application_id == o.application_id && event_id == o.event_id;
  }
};

std::ostream& operator<<(std::ostream& os, const Call& c) {
  return os << c.kind << ":" << c.application_id << ":" << c.event_id;
}

// The gateway plus the receiving province, in memory. Thread-safe.
class FakeFederation final : public FederationClient {
 public:
  // Decides a call's fate before the receiver sees it: a non-OK status fails
  // the call (the receiver stores nothing). Default: every call reaches it.
  void SetFailure(std::function<absl::Status(const Call&, int call_number)> fail) {
    absl::MutexLock lock(&mu_);
    fail_ = std::move(fail);
  }
  // The receiver already has everything it is sent (a retried delivery).
  void AnswerAlreadyDelivered() {
    absl::MutexLock lock(&mu_);
    already_have_everything_ = true;
  }
  // While held, a call waits for Release(), or fails with DEADLINE_EXCEEDED
  // after `deadline` like a real call whose deadline expires.
  void Hold(absl::Duration deadline) {
    absl::MutexLock lock(&mu_);
    held_ = true;
    hold_deadline_ = deadline;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    held_ = false;
  }
  // The receiver loses an application (restored from an old backup): its
  // next event is answered NOT_FOUND.
  void Forget(const std::string& application_id) {
    absl::MutexLock lock(&mu_);
    applications_.erase(application_id);
  }

  bool AwaitCalls(size_t n) {
    absl::MutexLock lock(&mu_);
    auto seen = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), kGuard);
  }
  bool AwaitInFlight(int n) {
    absl::MutexLock lock(&mu_);
    auto seen = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), kGuard);
  }

  std::vector<Call> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  // Deliveries the receiver stored, in the order it stored them.
  std::vector<Call> stored() const {
    absl::MutexLock lock(&mu_);
    return stored_;
  }
  int in_flight() const {
    absl::MutexLock lock(&mu_);
    return in_flight_;
  }
  int max_in_flight() const {
    absl::MutexLock lock(&mu_);
    return max_in_flight_;
  }
  // Two calls of one application at once, or an event before its application.
  std::vector<std::string> violations() const {
    absl::MutexLock lock(&mu_);
    return violations_;
  }

  absl::StatusOr<v1::FetchGuideResponse> FetchGuide(const v1::FetchGuideRequest&) override {
    return absl::UnimplementedError("not used by the forwarder");
  }
  absl::StatusOr<v1::VerifyLicenceResponse> CheckLicence(const v1::CheckLicenceRequest&) override {
    return absl::UnimplementedError("not used by the forwarder");
  }
  absl::StatusOr<v1::PreviewLicenceResponse> FetchLicencePreview(
      const v1::FetchLicencePreviewRequest&) override {
    return absl::UnimplementedError("not used by the forwarder");
  }
  absl::StatusOr<v1::ConfirmLicenceResponse> ReleaseLicence(
      const v1::ReleaseLicenceRequest&) override {
    return absl::UnimplementedError("not used by the forwarder");
  }

  absl::StatusOr<v1::DeliverApplicationResponse> DeliverApplication(
      const v1::DeliverApplicationRequest& request) override {
    bool duplicate = false;
    absl::Status s =
        Receive({"application", request.application().application_id(), ""}, &duplicate);
    if (!s.ok()) return s;
    v1::DeliverApplicationResponse response;
    response.set_already_delivered(duplicate);
    return response;
  }

  absl::StatusOr<v1::DeliverEventResponse> DeliverEvent(
      const v1::DeliverEventRequest& request) override {
    bool duplicate = false;
    absl::Status s =
        Receive({"event", request.application_id(), request.event().event_id()}, &duplicate);
    if (!s.ok()) return s;
    v1::DeliverEventResponse response;
    response.set_already_delivered(duplicate);
    return response;
  }

 private:
  absl::Status Receive(const Call& call, bool* duplicate) {
    absl::MutexLock lock(&mu_);
    calls_.push_back(call);
    const int number = static_cast<int>(calls_.size());
    if (!busy_.insert(call.application_id).second) {
      violations_.push_back(absl::StrCat("two calls of ", call.application_id, " at once"));
    }
    max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
    auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !held_; };
    const bool timed_out =
        held_ && !mu_.AwaitWithTimeout(absl::Condition(&released), hold_deadline_);
    --in_flight_;
    busy_.erase(call.application_id);
    if (timed_out) return absl::DeadlineExceededError("deadline exceeded (fake)");
    if (fail_) {
      absl::Status s = fail_(call, number);
      if (!s.ok()) return s;
    }
    if (already_have_everything_) {
      *duplicate = true;
      return absl::OkStatus();
    }
    if (call.kind == "application") {
      *duplicate = !applications_.insert(call.application_id).second;
    } else {
      if (applications_.count(call.application_id) == 0) {
        violations_.push_back(absl::StrCat("event ", call.event_id, " before its application"));
        return absl::NotFoundError("application not known here (deliver it first)");
      }
      *duplicate = !events_.insert(call.event_id + "@" + call.application_id).second;
    }
    if (!*duplicate) stored_.push_back(call);
    return absl::OkStatus();
  }

  mutable absl::Mutex mu_;
  std::function<absl::Status(const Call&, int)> fail_ ABSL_GUARDED_BY(mu_);
  bool already_have_everything_ ABSL_GUARDED_BY(mu_) = false;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration hold_deadline_ ABSL_GUARDED_BY(mu_) = kGuard;
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<Call> stored_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> applications_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> events_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> busy_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int max_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> violations_ ABSL_GUARDED_BY(mu_);
};

// The real store, plus counters the tests can wait on: outcomes recorded
// (CompleteOutbox / RetryOutboxLater returned) and reads of due entries.
class RecordingStore final : public ApplicationStore {
 public:
  explicit RecordingStore(ApplicationStore* real) : real_(real) {}

  bool AwaitOutcomes(int n) {
    absl::MutexLock lock(&mu_);
    auto seen = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return outcomes_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), kGuard);
  }
  // Reads of due entries started so far.
  int due_reads_started() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(due_sizes_.size());
  }
  // Waits for the first read that started after `started_before` reads to
  // finish; returns how many entries it found (-1 on timeout or error).
  int AwaitDueRead(int started_before) {
    absl::MutexLock lock(&mu_);
    auto done = [this, started_before]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return static_cast<int>(due_sizes_.size()) > started_before &&
             due_sizes_[started_before] != kRunning;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&done), kGuard)) return -1;
    return due_sizes_[started_before];
  }
  int outcomes() const {
    absl::MutexLock lock(&mu_);
    return outcomes_;
  }

  absl::StatusOr<std::vector<OutboxEntry>> DueOutbox(absl::Time now, int limit) override {
    size_t index;
    {
      absl::MutexLock lock(&mu_);
      index = due_sizes_.size();
      due_sizes_.push_back(kRunning);
    }
    auto due = real_->DueOutbox(now, limit);
    absl::MutexLock lock(&mu_);
    due_sizes_[index] = due.ok() ? static_cast<int>(due->size()) : -1;
    return due;
  }
  absl::Status CompleteOutbox(int64_t id, const MutateFn& fn) override {
    absl::Status s = real_->CompleteOutbox(id, fn);
    Outcome();
    return s;
  }
  absl::Status RetryOutboxLater(int64_t id, absl::Time next, const std::string& error) override {
    absl::Status s = real_->RetryOutboxLater(id, next, error);
    Outcome();
    return s;
  }

  absl::StatusOr<CreateResult> CreateApplication(const CreateRequest& r) override {
    return real_->CreateApplication(r);
  }
  absl::StatusOr<InsertResult> InsertForeignApplication(const v1::Application& a,
                                                        const MutateFn& fn) override {
    return real_->InsertForeignApplication(a, fn);
  }
  absl::StatusOr<v1::Application> MutateApplication(const std::string& id,
                                                    const MutateFn& fn) override {
    return real_->MutateApplication(id, fn);
  }
  absl::StatusOr<v1::Application> GetApplication(const std::string& id, bool events) override {
    return real_->GetApplication(id, events);
  }
  absl::StatusOr<Page<v1::Application>> ListByApplicant(const std::string& id,
                                                        const std::string& cursor, int limit,
                                                        const std::string& accepting) override {
    return real_->ListByApplicant(id, cursor, limit, accepting);
  }
  absl::StatusOr<Page<v1::Application>> ListByState(v1::ApplicationState state,
                                                    const std::string& cursor, int limit) override {
    return real_->ListByState(state, cursor, limit);
  }
  absl::StatusOr<Page<v1::Escalation>> ListEscalations(bool resolved, const std::string& cursor,
                                                       int limit) override {
    return real_->ListEscalations(resolved, cursor, limit);
  }
  absl::Status DeadLetterOutbox(int64_t id, absl::Time at, const std::string& code,
                                const std::string& error) override {
    absl::Status s = real_->DeadLetterOutbox(id, at, code, error);
    Outcome();
    return s;
  }
  absl::Status RedeliverApplicationFirst(
      int64_t id, absl::Time next, const std::string& error,
      const std::function<absl::StatusOr<OutboxEntry>(const v1::Application&)>& make) override {
    absl::Status s = real_->RedeliverApplicationFirst(id, next, error, make);
    if (!absl::IsFailedPrecondition(s)) Outcome();  // refused: a dead letter follows
    return s;
  }
  absl::StatusOr<OutboxStats> GetOutboxStats() override { return real_->GetOutboxStats(); }
  absl::StatusOr<std::vector<OutboxEntry>> ListOutbox(int limit) override {
    return real_->ListOutbox(limit);
  }
  absl::StatusOr<Page<OutboxEntry>> ListOutboxEntries(const OutboxFilter& filter,
                                                      const std::string& cursor,
                                                      int limit) override {
    return real_->ListOutboxEntries(filter, cursor, limit);
  }
  absl::StatusOr<OutboxEntry> GetOutboxEntry(int64_t id) override {
    return real_->GetOutboxEntry(id);
  }
  absl::StatusOr<OutboxEntry> ReplayDeadLetter(int64_t id, absl::Time now) override {
    return real_->ReplayDeadLetter(id, now);
  }
  absl::StatusOr<OutboxEntry> DiscardDeadLetter(int64_t id, const MutateFn& fn) override {
    return real_->DiscardDeadLetter(id, fn);
  }
  absl::StatusOr<int64_t> CountOpenEscalations() override {
    return real_->CountOpenEscalations();
  }
  absl::StatusOr<std::map<v1::ApplicationState, int64_t>> CountOpenApplicationsByState() override {
    return real_->CountOpenApplicationsByState();
  }
  absl::StatusOr<Page<v1::Application>> ListOpenRectifications(absl::Time due_before,
                                                              const std::string& cursor,
                                                              int limit) override {
    return real_->ListOpenRectifications(due_before, cursor, limit);
  }
  absl::StatusOr<RectificationCounts> CountRectifications(absl::Time now) override {
    return real_->CountRectifications(now);
  }

 private:
  void Outcome() {
    absl::MutexLock lock(&mu_);
    ++outcomes_;
  }

  ApplicationStore* const real_;
  mutable absl::Mutex mu_;
  static constexpr int kRunning = -2;
  int outcomes_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<int> due_sizes_ ABSL_GUARDED_BY(mu_);  // per read, in the order they started
};

class OutboxForwarderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = OpenOrDie(dir_.File("node.db"));
    ASSERT_NE(db_, nullptr);
    sqlite_ = std::make_unique<SqliteApplicationStore>(*db_, kOwn, clock_);
    store_ = std::make_unique<RecordingStore>(sqlite_.get());
    metrics_ = std::make_unique<NodeMetrics>(registry_, kOwn, "test");
    log_file_ = std::tmpfile();
    ASSERT_NE(log_file_, nullptr);
    log_ = std::make_unique<EventLog>("node-test", log_file_);
  }
  void TearDown() override {
    if (forwarder_ != nullptr) forwarder_->Stop();  // before the store goes
    forwarder_.reset();
    std::fclose(log_file_);
  }

  // Options for tests: only Notify() and finished deliveries drive the loop.
  static OutboxForwarder::Options TestOptions(int concurrency = 4) {
    OutboxForwarder::Options options;
    options.poll_interval = absl::Hours(1);
    options.concurrency = concurrency;
    return options;
  }

  void StartForwarder(OutboxForwarder::Options options) {
    forwarder_ = std::make_unique<OutboxForwarder>(store_.get(), &federation_, &clock_,
                                                   metrics_.get(), log_.get(), options);
    forwarder_->Start();
  }

  // An outcome is in the store before the forwarder counts and logs it:
  // stopping (which joins the workers) makes metrics and log final.
  void Settle() { forwarder_->Stop(); }

  // A cross-province application filed now, with its DeliverApplication entry.
  std::string File() {
    const int n = ++filed_;
    CreateRequest request;
    v1::Application& app = request.application;
    app.set_accepting_province(kOwn);
    app.set_handling_province(kShanghai);
    app.set_item_code("GG00000001");
    app.mutable_applicant()->set_id_number("430102199001011234");
    app.mutable_applicant()->set_name("张三");
    app.set_state(v1::APPLICATION_STATE_RECEIVED);
    app.set_forwarding(v1::FORWARDING_STATE_PENDING);
    *app.mutable_created_at() = Proto(clock_.Now());
    v1::ApplicationEvent submit =
        MakeEvent(app, kOwn, v1::APPLICATION_ACTION_SUBMIT, v1::APPLICATION_STATE_UNSPECIFIED,
                  v1::APPLICATION_STATE_RECEIVED, "citizen", clock_.Now(), "");
    submit.clear_event_id();  // assigned by the store
    *app.add_events() = submit;
    request.idempotency_scope = "citizen";
    request.idempotency_key = absl::StrCat("key-", n);
    request.request_fingerprint = absl::StrCat("fp-", n);
    request.make_outbox = [](const v1::Application& stored) {
      v1::DeliverApplicationRequest deliver;
      *deliver.mutable_application() = stored;
      OutboxEntry entry;
      entry.kind = OutboxEntry::Kind::kDeliverApplication;
      entry.application_id = stored.application_id();
      entry.target_province = stored.handling_province();
      entry.payload = deliver.SerializeAsString();
      return std::vector<OutboxEntry>{entry};
    };
    auto created = store_->CreateApplication(request);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? created->application.application_id() : "";
  }

  // A later event of the application (an escalation note), with its
  // DeliverEvent entry, as ApplicationServiceImpl writes it. Returns its id.
  std::string AddEvent(const std::string& id) {
    std::string event_id;
    auto app = store_->MutateApplication(id, [&](v1::Application& app) -> absl::StatusOr<Mutation> {
      v1::ApplicationEvent e = MakeEvent(app, kOwn, v1::APPLICATION_ACTION_ESCALATE, app.state(),
                                         app.state(), "officer", clock_.Now(), "note");
      event_id = e.event_id();
      Mutation m;
      m.outbox = EventOutbox(app, kOwn, e);
      m.events.push_back(std::move(e));
      return m;
    });
    EXPECT_TRUE(app.ok()) << app.status();
    return event_id;
  }

  std::vector<OutboxEntry> Outbox() {
    auto all = store_->ListOutbox(1000);
    EXPECT_TRUE(all.ok()) << all.status();
    return all.ok() ? *all : std::vector<OutboxEntry>{};
  }

  v1::ForwardingState Forwarding(const std::string& id) {
    auto app = store_->GetApplication(id, false);
    EXPECT_TRUE(app.ok()) << app.status();
    return app.ok() ? app->forwarding() : v1::FORWARDING_STATE_UNSPECIFIED;
  }

  const prometheus::ClientMetric* Series(const std::string& family, const std::string& kind,
                                         const std::string& result = "") {
    collected_ = registry_.Collect();
    for (const auto& f : collected_) {
      if (f.name != family) continue;
      for (const auto& m : f.metric) {
        std::map<std::string, std::string> labels;
        for (const auto& l : m.label) labels[l.name] = l.value;
        if (labels["kind"] == kind && (result.empty() || labels["result"] == result)) return &m;
      }
    }
    return nullptr;
  }
  double Attempts(const std::string& kind, const std::string& result) {
    const auto* m = Series("tongban_forwarding_attempts_total", kind, result);
    EXPECT_NE(m, nullptr) << kind << " " << result;
    return m == nullptr ? -1 : m->counter.value;
  }
  double DeadLetters(const std::string& kind, const std::string& code) {
    collected_ = registry_.Collect();
    for (const auto& f : collected_) {
      if (f.name != "tongban_forwarding_dead_letters_total") continue;
      for (const auto& m : f.metric) {
        std::map<std::string, std::string> labels;
        for (const auto& l : m.label) labels[l.name] = l.value;
        if (labels["kind"] == kind && labels["code"] == code) return m.counter.value;
      }
    }
    ADD_FAILURE() << "no dead-letter series " << kind << " " << code;
    return -1;
  }
  prometheus::ClientMetric::Histogram Latency(const std::string& kind) {
    const auto* m = Series("tongban_forwarding_delivery_seconds", kind);
    EXPECT_NE(m, nullptr) << kind;
    return m == nullptr ? prometheus::ClientMetric::Histogram{} : m->histogram;
  }

  std::string LogText() {
    std::fflush(log_file_);
    std::rewind(log_file_);
    std::string text;
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof(buffer), log_file_)) > 0) text.append(buffer, n);
    std::fseek(log_file_, 0, SEEK_END);
    return text;
  }

  FakeClock clock_{kStart};
  TempDir dir_;
  std::unique_ptr<SqliteDatabase> db_;
  std::unique_ptr<SqliteApplicationStore> sqlite_;
  std::unique_ptr<RecordingStore> store_;
  prometheus::Registry registry_;
  std::vector<prometheus::MetricFamily> collected_;
  std::unique_ptr<NodeMetrics> metrics_;
  FILE* log_file_ = nullptr;
  std::unique_ptr<EventLog> log_;
  FakeFederation federation_;
  int filed_ = 0;
  std::unique_ptr<OutboxForwarder> forwarder_;  // last: stopped first
};

TEST(OutboxForwarderPolicyTest, ClassifiesReceiversAnswers) {
  using F = OutboxForwarder::Failure;
  using K = OutboxEntry::Kind;
  for (K kind : {K::kDeliverApplication, K::kDeliverEvent}) {
    for (auto code : {absl::StatusCode::kUnavailable, absl::StatusCode::kDeadlineExceeded,
                      absl::StatusCode::kResourceExhausted, absl::StatusCode::kAborted,
                      absl::StatusCode::kCancelled, absl::StatusCode::kUnknown,
                      absl::StatusCode::kInternal, absl::StatusCode::kUnimplemented,
                      absl::StatusCode::kUnauthenticated}) {
      EXPECT_EQ(OutboxForwarder::Classify(code, kind), F::kTransient)
          << absl::StatusCodeToString(code);
    }
    for (auto code : {absl::StatusCode::kInvalidArgument, absl::StatusCode::kPermissionDenied,
                      absl::StatusCode::kFailedPrecondition, absl::StatusCode::kAlreadyExists,
                      absl::StatusCode::kOutOfRange, absl::StatusCode::kDataLoss}) {
      EXPECT_EQ(OutboxForwarder::Classify(code, kind), F::kPermanent)
          << absl::StatusCodeToString(code);
    }
  }
  EXPECT_EQ(OutboxForwarder::Classify(absl::StatusCode::kNotFound, K::kDeliverEvent),
            F::kApplicationUnknown);
  EXPECT_EQ(OutboxForwarder::Classify(absl::StatusCode::kNotFound, K::kDeliverApplication),
            F::kPermanent);
}

TEST(OutboxForwarderPolicyTest, OnlyTheAcceptingProvinceRedeliversAnApplication) {
  v1::Application app;
  app.set_application_id("TB-430000-310000-20261125-00000001");
  app.set_accepting_province(kOwn);
  app.set_handling_province(kShanghai);
  auto entry = OutboxForwarder::RedeliveryOf(app, kShanghai);
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->kind, OutboxEntry::Kind::kDeliverApplication);
  EXPECT_EQ(entry->target_province, kShanghai);
  v1::DeliverApplicationRequest payload;
  ASSERT_TRUE(payload.ParseFromString(entry->payload));
  EXPECT_EQ(payload.application().application_id(), app.application_id());
  // The handling province sends events back to the accepting one: it cannot
  // deliver the application there.
  EXPECT_EQ(OutboxForwarder::RedeliveryOf(app, kOwn).status().code(),
            absl::StatusCode::kFailedPrecondition);
  app.set_handling_province(kOwn);  // a local application
  EXPECT_EQ(OutboxForwarder::RedeliveryOf(app, kOwn).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(OutboxForwarderPolicyTest, BackoffDoublesUpToTheMaximum) {
  OutboxForwarder::Options o;  // 250 ms .. 30 s
  std::vector<int64_t> ms;
  for (int attempt = 1; attempt <= 10; ++attempt) {
    ms.push_back(absl::ToInt64Milliseconds(OutboxForwarder::Backoff(o, attempt)));
  }
  EXPECT_EQ(ms,
            (std::vector<int64_t>{250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000}));
  EXPECT_EQ(OutboxForwarder::Backoff(o, 1000000), absl::Seconds(30));
}

TEST_F(OutboxForwarderTest, MetricSeriesExistAtZero) {
  for (const char* kind : {"application", "event"}) {
    for (const char* result : {"delivered", "transient_error", "rejected"}) {
      EXPECT_EQ(Attempts(kind, result), 0) << kind << " " << result;
    }
    EXPECT_EQ(Latency(kind).sample_count, 0u);
    EXPECT_EQ(DeadLetters(kind, "PERMISSION_DENIED"), 0);
    EXPECT_EQ(DeadLetters(kind, "INVALID_ARGUMENT"), 0);
  }
}

TEST_F(OutboxForwarderTest, DeliversDueEntriesAndCompletesThem) {
  const std::string a = File();
  const std::string b = File();
  const std::string event = AddEvent(a);
  clock_.Advance(absl::Milliseconds(1500));  // the forwarding latency the metric reports
  ASSERT_EQ(Outbox().size(), 3u);
  EXPECT_EQ(Forwarding(a), v1::FORWARDING_STATE_PENDING);

  StartForwarder(TestOptions());
  forwarder_->Notify();
  ASSERT_TRUE(store_->AwaitOutcomes(3));
  Settle();

  EXPECT_TRUE(Outbox().empty());
  EXPECT_EQ(Forwarding(a), v1::FORWARDING_STATE_DELIVERED);
  EXPECT_EQ(Forwarding(b), v1::FORWARDING_STATE_DELIVERED);
  EXPECT_THAT(federation_.stored(),
              ::testing::UnorderedElementsAre(Call{"application", a, ""},
                                              Call{"application", b, ""}, Call{"event", a, event}));
  EXPECT_TRUE(federation_.violations().empty());
  EXPECT_EQ(Attempts("application", "delivered"), 2);
  EXPECT_EQ(Attempts("event", "delivered"), 1);
  EXPECT_EQ(Attempts("application", "transient_error"), 0);
  const auto latency = Latency("application");
  EXPECT_EQ(latency.sample_count, 2u);
  EXPECT_DOUBLE_EQ(latency.sample_sum, 3.0);  // 1.5 s each, measured on the fake clock
  EXPECT_EQ(Latency("event").sample_count, 1u);

  const std::string log = LogText();
  EXPECT_THAT(log, HasSubstr(absl::StrCat("level=info component=node-test event=forwarding."
                                          "delivered id=1 kind=application application=",
                                          a, " target=310000 attempts=1 latency_ms=1500")));
  EXPECT_THAT(log, HasSubstr("kind=event"));
}

TEST_F(OutboxForwarderTest, RetriesWithGrowingBackoffUntilTheTargetRecovers) {
  const std::string a = File();
  federation_.SetFailure([](const Call&, int call) {
    return call <= 3 ? absl::UnavailableError("node 310000 is down") : absl::OkStatus();
  });
  StartForwarder(TestOptions());

  // Each failed attempt waits initial_backoff * 2^(n-1) ± 20% on the fake clock.
  const absl::Duration base[] = {absl::Milliseconds(250), absl::Milliseconds(500),
                                 absl::Seconds(1)};
  for (int attempt = 1; attempt <= 3; ++attempt) {
    ASSERT_TRUE(store_->AwaitOutcomes(attempt)) << attempt;
    std::vector<OutboxEntry> outbox = Outbox();
    ASSERT_EQ(outbox.size(), 1u);
    EXPECT_EQ(outbox[0].attempts, attempt);
    EXPECT_THAT(outbox[0].last_error, HasSubstr("UNAVAILABLE: node 310000 is down"));
    const absl::Duration wait = outbox[0].next_attempt_at - clock_.Now();
    EXPECT_GE(wait, base[attempt - 1] * 0.8) << attempt;
    EXPECT_LE(wait, base[attempt - 1] * 1.2) << attempt;

    // Not due yet: a read finds nothing and the target is not called again.
    const int reads = store_->due_reads_started();
    forwarder_->Notify();
    EXPECT_EQ(store_->AwaitDueRead(reads), 0);
    EXPECT_EQ(federation_.calls().size(), static_cast<size_t>(attempt));

    clock_.Advance(base[attempt - 1] * 1.2);
    forwarder_->Notify();
  }
  ASSERT_TRUE(store_->AwaitOutcomes(4));
  Settle();
  EXPECT_TRUE(Outbox().empty());
  EXPECT_EQ(Forwarding(a), v1::FORWARDING_STATE_DELIVERED);
  EXPECT_EQ(federation_.calls().size(), 4u);
  EXPECT_EQ(Attempts("application", "transient_error"), 3);
  EXPECT_EQ(Attempts("application", "delivered"), 1);
  const std::string log = LogText();
  EXPECT_THAT(log, HasSubstr("level=warn component=node-test event=forwarding.retry id=1"));
  EXPECT_THAT(log, HasSubstr("attempts=4"));
}

TEST_F(OutboxForwarderTest, ARetryFallsDueWithoutNotifyOrPoll) {
  File();
  federation_.SetFailure([](const Call&, int call) {
    return call == 1 ? absl::UnavailableError("blip") : absl::OkStatus();
  });
  StartForwarder(TestOptions());  // poll interval one hour
  ASSERT_TRUE(store_->AwaitOutcomes(1));
  // The forwarder wakes itself when the retry it scheduled falls due (~250 ms
  // on the wall clock here); no Notify(), no poll.
  clock_.Advance(absl::Milliseconds(300));
  ASSERT_TRUE(store_->AwaitOutcomes(2));
  EXPECT_TRUE(Outbox().empty());
  EXPECT_EQ(federation_.calls().size(), 2u);
}

TEST_F(OutboxForwarderTest, KeepsOrderPerApplicationWhileApplicationsGoConcurrently) {
  std::map<std::string, std::vector<Call>> expected;
  for (int i = 0; i < 3; ++i) {
    const std::string id = File();
    expected[id].push_back({"application", id, ""});
  }
  for (int round = 0; round < 3; ++round) {
    for (auto& [id, calls] : expected) calls.push_back({"event", id, AddEvent(id)});
  }
  ASSERT_EQ(Outbox().size(), 12u);

  // Hold the first calls: the three applications' heads are in flight
  // together; nothing of the same application joins them.
  federation_.Hold(kGuard);
  StartForwarder(TestOptions(/*concurrency=*/4));
  ASSERT_TRUE(federation_.AwaitInFlight(3));
  EXPECT_EQ(federation_.in_flight(), 3);
  federation_.Release();
  ASSERT_TRUE(store_->AwaitOutcomes(12));
  Settle();

  EXPECT_TRUE(Outbox().empty());
  EXPECT_TRUE(federation_.violations().empty())
      << ::testing::PrintToString(federation_.violations());
  EXPECT_EQ(federation_.calls().size(), 12u);  // nothing failed, nothing repeated
  std::map<std::string, std::vector<Call>> order;
  for (const Call& c : federation_.stored()) order[c.application_id].push_back(c);
  EXPECT_EQ(order, expected);
  EXPECT_LE(federation_.max_in_flight(), 4);
  EXPECT_EQ(Attempts("event", "delivered"), 9);
}

TEST_F(OutboxForwarderTest, ConcurrencyBoundsCallsInFlight) {
  for (int i = 0; i < 5; ++i) File();
  federation_.Hold(kGuard);
  StartForwarder(TestOptions(/*concurrency=*/2));
  ASSERT_TRUE(federation_.AwaitInFlight(2));
  federation_.Release();
  ASSERT_TRUE(store_->AwaitOutcomes(5));
  EXPECT_TRUE(Outbox().empty());
  EXPECT_EQ(federation_.max_in_flight(), 2);
}

TEST_F(OutboxForwarderTest, AlreadyDeliveredCountsAsSuccess) {
  const std::string a = File();
  AddEvent(a);
  federation_.AnswerAlreadyDelivered();
  StartForwarder(TestOptions());
  ASSERT_TRUE(store_->AwaitOutcomes(2));
  Settle();
  EXPECT_TRUE(Outbox().empty());
  EXPECT_EQ(Forwarding(a), v1::FORWARDING_STATE_DELIVERED);
  EXPECT_EQ(Attempts("application", "delivered"), 1);
  EXPECT_EQ(Attempts("event", "delivered"), 1);
  EXPECT_EQ(Attempts("application", "transient_error") + Attempts("application", "rejected"), 0);
  EXPECT_THAT(LogText(), HasSubstr("duplicate=true"));
}

TEST_F(OutboxForwarderTest, NothingIsLostWhenDeliveryFailsManyTimes) {
  std::vector<std::string> ids;
  std::set<std::string> events;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(File());
    events.insert(AddEvent(ids.back()) + "@" + ids.back());
  }
  // The first 5 rounds fail, alternating an outage and a receiver crash.
  constexpr int kFailingCalls = 20;
  federation_.SetFailure([](const Call&, int call) {
    if (call > kFailingCalls) return absl::OkStatus();
    return call % 2 == 0 ? absl::InternalError("receiver crashed (fake)")
                         : absl::UnavailableError("gateway restarting");
  });
  StartForwarder(TestOptions());
  int outcomes = 0;
  while (outcomes < kFailingCalls) {
    outcomes += 4;  // one head per application each round
    ASSERT_TRUE(store_->AwaitOutcomes(outcomes)) << outcomes;
    EXPECT_EQ(Outbox().size(), 8u);     // every entry still there
    clock_.Advance(absl::Seconds(36));  // past the maximum backoff with jitter
    forwarder_->Notify();
  }
  // Recovered: the applications, then their events.
  ASSERT_TRUE(store_->AwaitOutcomes(kFailingCalls + 8));
  Settle();
  EXPECT_TRUE(Outbox().empty());
  for (const std::string& id : ids) EXPECT_EQ(Forwarding(id), v1::FORWARDING_STATE_DELIVERED);
  std::set<std::string> stored_events;
  int stored_applications = 0;
  for (const Call& c : federation_.stored()) {
    if (c.kind == "event") stored_events.insert(c.event_id + "@" + c.application_id);
    if (c.kind == "application") ++stored_applications;
  }
  EXPECT_EQ(stored_events, events);
  EXPECT_EQ(stored_applications, 4);
  EXPECT_EQ(federation_.stored().size(), 8u);  // each stored once
  EXPECT_EQ(Attempts("application", "transient_error"), 20);
  EXPECT_EQ(Attempts("application", "rejected"), 0);
  EXPECT_EQ(Attempts("application", "delivered"), 4);
  EXPECT_EQ(Attempts("event", "delivered"), 4);
  EXPECT_THAT(LogText(), HasSubstr("error=\"INTERNAL: receiver crashed (fake)\""));
}

TEST_F(OutboxForwarderTest, CorruptPayloadBecomesADeadLetter) {
  const std::string a = File();
  ASSERT_TRUE(store_
                  ->MutateApplication(a,
                                      [](v1::Application&) -> absl::StatusOr<Mutation> {
                                        OutboxEntry entry;
                                        entry.kind = OutboxEntry::Kind::kDeliverEvent;
                                        entry.target_province = kShanghai;
                                        entry.payload = "\xff\xff not a proto";
                                        Mutation m;
                                        m.outbox.push_back(entry);
                                        return m;
                                      })
                  .ok());
  StartForwarder(TestOptions());
  ASSERT_TRUE(store_->AwaitOutcomes(2));
  Settle();
  std::vector<OutboxEntry> outbox = Outbox();
  ASSERT_EQ(outbox.size(), 1u);
  EXPECT_EQ(outbox[0].attempts, 1);
  EXPECT_TRUE(outbox[0].dead());
  EXPECT_EQ(outbox[0].dead_code, "DATA_LOSS");
  EXPECT_THAT(outbox[0].last_error, HasSubstr("DATA_LOSS"));
  EXPECT_EQ(Attempts("event", "rejected"), 1);
}

TEST_F(OutboxForwarderTest, PermanentRefusalIsADeadLetterThatHoldsBackItsApplication) {
  const std::string a = File();
  const std::string event = AddEvent(a);
  const std::string b = File();
  federation_.SetFailure([a](const Call& call, int) {
    return call.kind == "application" && call.application_id == a
               ? absl::PermissionDeniedError("rule accepting-authors-deliveries (fake)")
               : absl::OkStatus();
  });
  StartForwarder(TestOptions());
  ASSERT_TRUE(store_->AwaitOutcomes(2));  // a refused, b delivered
  // Nothing more happens however long we wait: a's event stays behind.
  clock_.Advance(absl::Hours(1));
  const int reads = store_->due_reads_started();
  forwarder_->Notify();
  EXPECT_EQ(store_->AwaitDueRead(reads), 0);
  Settle();

  std::vector<OutboxEntry> outbox = Outbox();
  ASSERT_EQ(outbox.size(), 2u);
  EXPECT_TRUE(outbox[0].dead());
  EXPECT_EQ(outbox[0].application_id, a);
  EXPECT_EQ(outbox[0].dead_code, "PERMISSION_DENIED");
  EXPECT_EQ(outbox[0].last_error,
            "PERMISSION_DENIED: rule accepting-authors-deliveries (fake)");
  EXPECT_EQ(outbox[0].attempts, 1);
  EXPECT_EQ(outbox[0].dead_at, kStart);
  EXPECT_FALSE(outbox[1].dead());  // the event: pending, never sent
  EXPECT_EQ(outbox[1].attempts, 0);
  EXPECT_EQ(federation_.calls().size(), 2u);
  EXPECT_EQ(Forwarding(b), v1::FORWARDING_STATE_DELIVERED);
  EXPECT_EQ(Attempts("application", "rejected"), 1);
  EXPECT_EQ(DeadLetters("application", "PERMISSION_DENIED"), 1);
  EXPECT_EQ(DeadLetters("event", "PERMISSION_DENIED"), 0);
  OutboxStats stats = *store_->GetOutboxStats();
  EXPECT_EQ(stats.dead_letters, 1);
  EXPECT_EQ(stats.blocked, 1);
  EXPECT_THAT(LogText(), HasSubstr(absl::StrCat(
                             "level=error component=node-test event=forwarding.dead_letter id=1 "
                             "kind=application application=",
                             a, " target=310000 attempts=1 code=PERMISSION_DENIED")));

  // The cause is fixed and an operator replays it: both leave, in order.
  federation_.SetFailure({});
  ASSERT_TRUE(store_->ReplayDeadLetter(outbox[0].id, clock_.Now()).ok());
  const int before = store_->outcomes();
  StartForwarder(TestOptions());
  ASSERT_TRUE(store_->AwaitOutcomes(before + 2));
  Settle();
  EXPECT_TRUE(Outbox().empty());
  EXPECT_EQ(Forwarding(a), v1::FORWARDING_STATE_DELIVERED);
  std::vector<Call> of_a;
  for (const Call& c : federation_.stored()) {
    if (c.application_id == a) of_a.push_back(c);
  }
  EXPECT_EQ(of_a, (std::vector<Call>{{"application", a, ""}, {"event", a, event}}));
}

TEST_F(OutboxForwarderTest, EventOfAnUnknownApplicationRedeliversTheApplicationFirst) {
  const std::string a = File();
  StartForwarder(TestOptions());
  ASSERT_TRUE(store_->AwaitOutcomes(1));
  federation_.Forget(a);  // the receiver lost it
  const std::string event = AddEvent(a);
  const std::string later = AddEvent(a);
  forwarder_->Notify();
  // NOT_FOUND (re-delivery queued), the application, the two events.
  ASSERT_TRUE(store_->AwaitOutcomes(5));
  Settle();
  EXPECT_TRUE(Outbox().empty());
  EXPECT_EQ(federation_.calls(),
            (std::vector<Call>{{"application", a, ""},
                               {"event", a, event},
                               {"application", a, ""},
                               {"event", a, event},
                               {"event", a, later}}));
  EXPECT_EQ(Attempts("event", "transient_error"), 1);
  EXPECT_EQ(Attempts("event", "rejected"), 0);
  EXPECT_THAT(LogText(), HasSubstr("event=forwarding.redeliver_application id=2 kind=event"));
}

TEST_F(OutboxForwarderTest, RefusedRedeliveryIsADeadLetterAndTheEventWaits) {
  const std::string a = File();
  StartForwarder(TestOptions());
  ASSERT_TRUE(store_->AwaitOutcomes(1));
  federation_.Forget(a);
  federation_.SetFailure([](const Call& call, int) {
    return call.kind == "application" ? absl::InvalidArgumentError("signature refused (fake)")
                                      : absl::OkStatus();
  });
  AddEvent(a);
  forwarder_->Notify();
  ASSERT_TRUE(store_->AwaitOutcomes(3));  // NOT_FOUND, then the refused re-delivery
  Settle();
  std::vector<OutboxEntry> outbox = Outbox();
  ASSERT_EQ(outbox.size(), 2u);
  const OutboxEntry& event = outbox[0].kind == OutboxEntry::Kind::kDeliverEvent ? outbox[0] : outbox[1];
  const OutboxEntry& redelivery = &event == &outbox[0] ? outbox[1] : outbox[0];
  EXPECT_TRUE(redelivery.dead());
  EXPECT_EQ(redelivery.dead_code, "INVALID_ARGUMENT");
  EXPECT_FALSE(event.dead());
  EXPECT_THAT(event.last_error, HasSubstr("NOT_FOUND"));
  EXPECT_EQ(store_->GetOutboxStats()->blocked, 1);
}

TEST_F(OutboxForwarderTest, StillUnknownAfterRedeliveryIsADeadLetter) {
  const std::string a = File();
  federation_.SetFailure([](const Call& call, int) {
    return call.kind == "event" ? absl::NotFoundError("application unknown (fake)")
                                : absl::OkStatus();
  });
  AddEvent(a);
  StartForwarder(TestOptions());
  // application, event NOT_FOUND, re-delivery, event NOT_FOUND again: dead.
  ASSERT_TRUE(store_->AwaitOutcomes(4));
  Settle();
  std::vector<OutboxEntry> outbox = Outbox();
  ASSERT_EQ(outbox.size(), 1u);
  EXPECT_TRUE(outbox[0].dead());
  EXPECT_EQ(outbox[0].dead_code, "NOT_FOUND");
  EXPECT_EQ(outbox[0].attempts, 2);
  EXPECT_THAT(LogText(), HasSubstr("why=\"still unknown after the application was re-delivered\""));
}

TEST_F(OutboxForwarderTest, NotFoundAtTheAcceptingProvinceIsADeadLetter) {
  // An application Shanghai accepted and this node handles: its events go
  // back to Shanghai, and this node cannot deliver the application there.
  v1::Application foreign;
  foreign.set_application_id("TB-310000-430000-20261125-00000007");
  foreign.set_accepting_province(kShanghai);
  foreign.set_handling_province(kOwn);
  foreign.mutable_applicant()->set_id_number("310101198507153456");
  foreign.set_state(v1::APPLICATION_STATE_RECEIVED);
  *foreign.mutable_created_at() = Proto(kStart);
  auto inserted = store_->InsertForeignApplication(
      foreign, [&](v1::Application& app) -> absl::StatusOr<Mutation> {
        v1::ApplicationEvent e = MakeEvent(app, kOwn, v1::APPLICATION_ACTION_DELIVER, app.state(),
                                           app.state(), "node", clock_.Now(), "");
        Mutation m;
        m.outbox = EventOutbox(app, kOwn, e);
        m.events.push_back(std::move(e));
        return m;
      });
  ASSERT_TRUE(inserted.ok()) << inserted.status();
  StartForwarder(TestOptions());
  ASSERT_TRUE(store_->AwaitOutcomes(1));
  Settle();
  std::vector<OutboxEntry> outbox = Outbox();
  ASSERT_EQ(outbox.size(), 1u);
  EXPECT_TRUE(outbox[0].dead());
  EXPECT_EQ(outbox[0].dead_code, "NOT_FOUND");
  EXPECT_THAT(LogText(), HasSubstr("only the accepting province 310000 can deliver"));
}

TEST_F(OutboxForwarderTest, StopReturnsPromptlyWhenIdle) {
  StartForwarder(TestOptions());  // poll interval one hour
  ASSERT_EQ(store_->AwaitDueRead(0), 0);
  const absl::Time before = absl::Now();
  forwarder_->Stop();
  EXPECT_LT(absl::Now() - before, absl::Seconds(2));
  forwarder_->Stop();  // idempotent
}

TEST_F(OutboxForwarderTest, StopWaitsOnlyForCallsInFlightAndLosesNothing) {
  for (int i = 0; i < 3; ++i) File();
  // A call hangs until its (fake) deadline of 200 ms expires.
  federation_.Hold(absl::Milliseconds(200));
  StartForwarder(TestOptions(/*concurrency=*/1));
  ASSERT_TRUE(federation_.AwaitInFlight(1));
  const absl::Time before = absl::Now();
  forwarder_->Stop();
  EXPECT_LT(absl::Now() - before, absl::Seconds(5));
  EXPECT_EQ(federation_.calls().size(), 1u);  // the queued ones were not started
  std::vector<OutboxEntry> outbox = Outbox();
  ASSERT_EQ(outbox.size(), 3u);  // all still there
  EXPECT_EQ(outbox[0].attempts, 1);
  EXPECT_THAT(outbox[0].last_error, HasSubstr("DEADLINE_EXCEEDED"));
  EXPECT_EQ(outbox[1].attempts, 0);

  // A new forwarder (a restart) delivers everything.
  federation_.Release();
  clock_.Advance(absl::Seconds(1));
  const int before_restart = store_->outcomes();
  StartForwarder(TestOptions());
  ASSERT_TRUE(store_->AwaitOutcomes(before_restart + 3));
  EXPECT_TRUE(Outbox().empty());
}

TEST_F(OutboxForwarderTest, NotifyBeforeStartAndAfterStopIsHarmless) {
  File();
  forwarder_ = std::make_unique<OutboxForwarder>(store_.get(), &federation_, &clock_,
                                                 metrics_.get(), log_.get(), TestOptions());
  forwarder_->Notify();
  forwarder_->Stop();
  forwarder_->Notify();
  forwarder_->Start();  // after Stop: does nothing
  EXPECT_EQ(federation_.calls().size(), 0u);
  EXPECT_EQ(Outbox().size(), 1u);
}

}  // namespace
}  // namespace tongban::node
