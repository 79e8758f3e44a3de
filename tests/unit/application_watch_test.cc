// The watch notifier (ApplicationWatchHub) with fake subscribers, and the
// WatchApplication stream (ApplicationWatch) served over loopback gRPC from
// the real SQLite store wrapped by NotifyingApplicationStore: history then
// new events in order, resume points, heartbeats and the stream's lifetime
// on a FakeClock, a reader that reads nothing while hundreds of events are
// written (it later gets every one, once, in order), the max_watches bound,
// and the metrics.
//
// Waits are on conditions (the hub's runs, the client's reads, which block
// until a message arrives); the deadlines are failure guards only.
#include "service/application_watch.h"

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "service/application_events.h"
#include "service/application_watch_hub.h"
#include "service/node_metrics.h"
#include "service/notifying_application_store.h"
#include "store/sqlite_application_store.h"
#include "store_test_util.h"
#include "tongban/v1/application.grpc.pb.h"

namespace tongban::node {
namespace {

using testing::OpenOrDie;
using testing::TempDir;

constexpr char kOwn[] = "430000";
const absl::Time kStart = absl::FromUnixSeconds(1795572000);  // 2026-11-25 10:00 CST
const absl::Duration kGuard = absl::Seconds(20);              // failure guard only

// ---------------------------------------------------------------------------
// The hub alone.

// Counts its runs; may block inside Run until released.
class FakeSubscriber final : public WatchSubscriber {
 public:
  void Run(absl::Time, bool changed) override {
    {
      absl::MutexLock lock(&mu_);
      ++runs_;
      if (changed) ++changed_runs_;
      running_ = true;
    }
    if (block_ != nullptr) block_->WaitForNotification();
    absl::MutexLock lock(&mu_);
    running_ = false;
  }
  // Waits until Run ran at least `n` times with changed = true.
  bool AwaitChangedRuns(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return changed_runs_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kGuard);
  }
  bool AwaitRuns(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return runs_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kGuard);
  }
  bool AwaitRunning() {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&running_), kGuard);
  }
  int changed_runs() {
    absl::MutexLock lock(&mu_);
    return changed_runs_;
  }
  int runs() {
    absl::MutexLock lock(&mu_);
    return runs_;
  }
  absl::Notification* block_ = nullptr;

 private:
  absl::Mutex mu_;
  int runs_ ABSL_GUARDED_BY(mu_) = 0;
  int changed_runs_ ABSL_GUARDED_BY(mu_) = 0;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
};

TEST(ApplicationWatchHubTest, NotifyRunsOnlyTheSubscribersOfThatApplication) {
  FakeClock clock(kStart);
  ApplicationWatchHub hub(&clock, 10, absl::Hours(1));
  FakeSubscriber a, b;
  ASSERT_TRUE(hub.Subscribe("TB-A", &a));
  ASSERT_TRUE(hub.Subscribe("TB-B", &b));
  ASSERT_TRUE(a.AwaitChangedRuns(1));  // the first run reads the history
  ASSERT_TRUE(b.AwaitChangedRuns(1));
  hub.Notify("TB-A");
  ASSERT_TRUE(a.AwaitChangedRuns(2));
  hub.Notify("TB-C");  // nobody watches it
  hub.Wake(&b);        // a run without a change
  ASSERT_TRUE(b.AwaitRuns(2));
  EXPECT_EQ(b.changed_runs(), 1);
  EXPECT_EQ(hub.open(), 2);
  hub.Unsubscribe(&a);
  hub.Unsubscribe(&b);
  EXPECT_EQ(hub.open(), 0);
}

TEST(ApplicationWatchHubTest, RefusesBeyondMaxWatchesAndAdmitsAgainAfterAnEnd) {
  FakeClock clock(kStart);
  ApplicationWatchHub hub(&clock, 2, absl::Hours(1));
  FakeSubscriber a, b, c;
  EXPECT_TRUE(hub.Subscribe("TB-A", &a));
  EXPECT_TRUE(hub.Subscribe("TB-A", &b));
  EXPECT_FALSE(hub.Subscribe("TB-B", &c));
  EXPECT_EQ(hub.open(), 2);
  hub.Unsubscribe(&a);
  EXPECT_TRUE(hub.Subscribe("TB-B", &c));
  hub.Unsubscribe(&b);
  hub.Unsubscribe(&c);
}

TEST(ApplicationWatchHubTest, UnsubscribeWaitsForARunInProgressAndNoRunFollows) {
  FakeClock clock(kStart);
  ApplicationWatchHub hub(&clock, 10, absl::Hours(1));
  absl::Notification release;
  FakeSubscriber a;
  a.block_ = &release;
  ASSERT_TRUE(hub.Subscribe("TB-A", &a));
  ASSERT_TRUE(a.AwaitRunning());
  hub.Notify("TB-A");  // queued behind the run in progress
  absl::Notification unsubscribed;
  std::thread t([&] {
    hub.Unsubscribe(&a);
    unsubscribed.Notify();
  });
  // Still inside Run: Unsubscribe must not have returned.
  EXPECT_FALSE(unsubscribed.WaitForNotificationWithTimeout(absl::Milliseconds(200)));
  release.Notify();
  EXPECT_TRUE(unsubscribed.WaitForNotificationWithTimeout(kGuard));
  t.join();
  EXPECT_EQ(a.runs(), 1);  // the queued notification did not run it again
}

TEST(ApplicationWatchHubTest, EverySubscriberRunsAtEachTickOfTheClock) {
  FakeClock clock(kStart);
  ApplicationWatchHub hub(&clock, 10, absl::Milliseconds(50));
  FakeSubscriber a;
  ASSERT_TRUE(hub.Subscribe("TB-A", &a));
  ASSERT_TRUE(a.AwaitRuns(1));
  clock.Advance(absl::Seconds(1));
  ASSERT_TRUE(a.AwaitRuns(2));
  EXPECT_EQ(a.changed_runs(), 1);  // ticks are not changes
  hub.Unsubscribe(&a);
}

// ---------------------------------------------------------------------------
// The stream, over loopback gRPC.

// Serves only WatchApplication, straight from ApplicationWatch (authorization
// is ApplicationServiceImpl's, tested with the node).
class WatchOnlyService final : public v1::ApplicationService::CallbackService {
 public:
  WatchOnlyService(ApplicationStore* store, ApplicationWatchHub* hub, const Clock* clock,
                   NodeMetrics* metrics)
      : store_(store), hub_(hub), clock_(clock), metrics_(metrics) {}
  grpc::ServerWriteReactor<v1::WatchApplicationResponse>* WatchApplication(
      grpc::CallbackServerContext*, const v1::WatchApplicationRequest* req) override {
    ApplicationWatch::Params p;
    p.application_id = req->application_id();
    p.after_sequence = req->after_sequence();
    p.heartbeat = absl::Seconds(req->heartbeat_seconds() > 0 ? req->heartbeat_seconds() : 15);
    p.max_stream = absl::Seconds(60);
    return ApplicationWatch::Start(store_, hub_, clock_, metrics_, p);
  }

 private:
  ApplicationStore* store_;
  ApplicationWatchHub* hub_;
  const Clock* clock_;
  NodeMetrics* metrics_;
};

google::protobuf::Timestamp Proto(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  return ts;
}

class ApplicationWatchStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = OpenOrDie(dir_.File("node.db"));
    ASSERT_NE(db_, nullptr);
    hub_ = std::make_unique<ApplicationWatchHub>(&clock_, 3, absl::Milliseconds(20));
    store_ = std::make_unique<NotifyingApplicationStore>(
        std::make_unique<SqliteApplicationStore>(*db_, kOwn, clock_), hub_.get());
    metrics_ = std::make_unique<NodeMetrics>(registry_, kOwn, "test");
    service_ =
        std::make_unique<WatchOnlyService>(store_.get(), hub_.get(), &clock_, metrics_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::ApplicationService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    server_->Shutdown(std::chrono::system_clock::now());  // cancels open streams
    server_.reset();
    EXPECT_EQ(hub_->open(), 0);
  }

  // A local application filed now (its SUBMIT event is sequence 1).
  std::string File() {
    CreateRequest request;
    v1::Application& app = request.application;
    app.set_accepting_province(kOwn);
    app.set_handling_province(kOwn);
    app.set_item_code("GG00000001");
    app.mutable_applicant()->set_id_number("430102199001011234");
    app.set_state(v1::APPLICATION_STATE_RECEIVED);
    *app.mutable_created_at() = Proto(clock_.Now());
    v1::ApplicationEvent submit =
        MakeEvent(app, kOwn, v1::APPLICATION_ACTION_SUBMIT, v1::APPLICATION_STATE_UNSPECIFIED,
                  v1::APPLICATION_STATE_RECEIVED, "citizen", clock_.Now(), "");
    submit.clear_event_id();
    *app.add_events() = submit;
    request.idempotency_scope = "citizen";
    request.idempotency_key = absl::StrCat("key-", ++filed_);
    request.request_fingerprint = absl::StrCat("fp-", filed_);
    request.make_outbox = [](const v1::Application&) { return std::vector<OutboxEntry>{}; };
    auto created = store_->CreateApplication(request);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? created->application.application_id() : "";
  }

  // Appends one event (an escalation note, no state change); returns its id.
  std::string AddEvent(const std::string& id, const std::string& note = "note") {
    std::string event_id;
    auto app = store_->MutateApplication(id, [&](v1::Application& app) -> absl::StatusOr<Mutation> {
      v1::ApplicationEvent e = MakeEvent(app, kOwn, v1::APPLICATION_ACTION_ESCALATE, app.state(),
                                         app.state(), "officer", clock_.Now(), note);
      event_id = e.event_id();
      Mutation m;
      m.events.push_back(std::move(e));
      return m;
    });
    EXPECT_TRUE(app.ok()) << app.status();
    return event_id;
  }

  struct Watch {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::WatchApplicationResponse>> reader;
  };
  std::unique_ptr<Watch> Open(const std::string& id, int64_t after = 0, int heartbeat = 0) {
    auto w = std::make_unique<Watch>();
    w->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::WatchApplicationRequest req;
    req.set_application_id(id);
    req.set_after_sequence(after);
    req.set_heartbeat_seconds(heartbeat);
    w->reader = stub_->WatchApplication(&w->ctx, req);
    return w;
  }
  v1::WatchApplicationResponse Next(Watch& w) {
    v1::WatchApplicationResponse m;
    EXPECT_TRUE(w.reader->Read(&m)) << "the stream ended: " << w.reader->Finish().error_message();
    return m;
  }

  double Metric(const std::string& family, const std::string& kind = "") {
    for (const auto& f : registry_.Collect()) {
      if (f.name != family) continue;
      for (const auto& m : f.metric) {
        std::map<std::string, std::string> labels;
        for (const auto& l : m.label) labels[l.name] = l.value;
        if (labels["kind"] != kind) continue;
        return f.type == prometheus::MetricType::Gauge ? m.gauge.value : m.counter.value;
      }
    }
    ADD_FAILURE() << "no series " << family << " " << kind;
    return -1;
  }

  TempDir dir_;
  FakeClock clock_{kStart};
  std::unique_ptr<SqliteDatabase> db_;
  std::unique_ptr<ApplicationWatchHub> hub_;
  std::unique_ptr<ApplicationStore> store_;
  prometheus::Registry registry_;
  std::unique_ptr<NodeMetrics> metrics_;
  std::unique_ptr<WatchOnlyService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::ApplicationService::Stub> stub_;
  int filed_ = 0;
};

TEST_F(ApplicationWatchStreamTest, SendsTheHistoryThenEachNewEventInOrder) {
  const std::string id = File();
  const std::string second = AddEvent(id);
  auto w = Open(id);
  v1::WatchApplicationResponse m = Next(*w);
  EXPECT_EQ(m.sequence(), 1);
  EXPECT_EQ(m.event().action(), v1::APPLICATION_ACTION_SUBMIT);
  EXPECT_FALSE(m.heartbeat());
  EXPECT_EQ(m.state(), v1::APPLICATION_STATE_RECEIVED);
  m = Next(*w);
  EXPECT_EQ(m.sequence(), 2);
  EXPECT_EQ(m.event().event_id(), second);
  // Written after the watch started: the store's notification brings it.
  const std::string third = AddEvent(id, "later");
  m = Next(*w);
  EXPECT_EQ(m.sequence(), 3);
  EXPECT_EQ(m.event().event_id(), third);
  EXPECT_EQ(m.event().note(), "later");
  EXPECT_EQ(Metric("tongban_watch_streams_open"), 1);
  EXPECT_EQ(Metric("tongban_watch_messages_sent_total", "event"), 3);
  w->ctx.TryCancel();
}

TEST_F(ApplicationWatchStreamTest, ResumesAfterTheGivenSequence) {
  const std::string id = File();
  AddEvent(id);
  const std::string third = AddEvent(id);
  auto w = Open(id, /*after=*/2);
  v1::WatchApplicationResponse m = Next(*w);
  EXPECT_EQ(m.sequence(), 3);
  EXPECT_EQ(m.event().event_id(), third);
  w->ctx.TryCancel();
}

TEST_F(ApplicationWatchStreamTest, HeartbeatsCarryTheResumePointAndEndAfterTheLifetime) {
  const std::string id = File();
  auto w = Open(id, 0, /*heartbeat=*/5);
  EXPECT_EQ(Next(*w).sequence(), 1);
  clock_.Advance(absl::Seconds(6));
  v1::WatchApplicationResponse m = Next(*w);
  EXPECT_TRUE(m.heartbeat());
  EXPECT_FALSE(m.has_event());
  EXPECT_EQ(m.sequence(), 1);
  EXPECT_EQ(Metric("tongban_watch_messages_sent_total", "heartbeat"), 1);
  // The lifetime (60 s here) ends the stream with OK: the caller resumes.
  clock_.Advance(absl::Seconds(61));
  v1::WatchApplicationResponse rest;
  while (w->reader->Read(&rest)) EXPECT_TRUE(rest.heartbeat());
  grpc::Status s = w->reader->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(ApplicationWatchStreamTest, AReaderThatFallsBehindGetsEveryEventOnceInOrder) {
  const std::string id = File();
  auto w = Open(id);
  EXPECT_EQ(Next(*w).sequence(), 1);
  // The client reads nothing while 300 events are written: the stream holds
  // a resume point and catches up from the store, one write at a time.
  std::vector<std::string> written;
  for (int i = 0; i < 300; ++i) written.push_back(AddEvent(id, absl::StrCat("n", i)));
  for (int i = 0; i < 300; ++i) {
    v1::WatchApplicationResponse m = Next(*w);
    ASSERT_EQ(m.sequence(), i + 2);
    ASSERT_EQ(m.event().event_id(), written[static_cast<size_t>(i)]);
  }
  EXPECT_EQ(Metric("tongban_watch_messages_sent_total", "event"), 301);
  w->ctx.TryCancel();
}

TEST_F(ApplicationWatchStreamTest, BeyondMaxWatchesTheStreamIsRefusedNamingTheLimit) {
  const std::string id = File();
  auto a = Open(id), b = Open(id), c = Open(id);
  for (auto* w : {a.get(), b.get(), c.get()}) EXPECT_EQ(Next(*w).sequence(), 1);
  auto d = Open(id);
  v1::WatchApplicationResponse m;
  EXPECT_FALSE(d->reader->Read(&m));
  grpc::Status s = d->reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("watch.max_watches = 3"), std::string::npos)
      << s.error_message();
  EXPECT_EQ(Metric("tongban_watch_refused_total"), 1);
  EXPECT_EQ(Metric("tongban_watch_streams_open"), 3);
  // A closed watch gives its place back.
  a->ctx.TryCancel();
  EXPECT_FALSE(a->reader->Read(&m));
  a->reader->Finish();
  for (absl::Time until = absl::Now() + kGuard; hub_->open() != 2 && absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(5));  // OnDone runs on gRPC's thread after Finish
  }
  auto e = Open(id);
  EXPECT_EQ(Next(*e).sequence(), 1);
  for (auto* w : {b.get(), c.get(), e.get()}) w->ctx.TryCancel();
}

}  // namespace
}  // namespace tongban::node
