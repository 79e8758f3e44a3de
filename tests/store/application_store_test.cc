// ApplicationStore semantics, checked on every implementation (SQLite and
// PostgreSQL: store_backends.h). PostgreSQL-only cases (replicas) are in
// postgres_replicas_test.cc.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "clock.h"
#include "gtest/gtest.h"
#include "store_backends.h"
#include "tongban/v1/federation.pb.h"

namespace tongban::node {
namespace {

using testing::BackendDatabase;
using testing::kAllStoreBackends;
using testing::StoreBackend;
using testing::StoreBackendName;

constexpr char kOwn[] = "430000";       // Hunan: this node
constexpr char kShanghai[] = "310000";  // handling province of forwarded filings
constexpr char kAlice[] = "430102199001011234";
constexpr char kBob[] = "310101198507153456";

// 2026-11-25 10:00 in China (02:00 UTC).
const absl::Time kStart = absl::FromUnixSeconds(1795572000);

google::protobuf::Timestamp Proto(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  return ts;
}

v1::ApplicationEvent Event(v1::ApplicationAction action, v1::ApplicationState after, absl::Time at,
                           const std::string& id = "") {
  v1::ApplicationEvent e;
  e.set_event_id(id);
  e.set_action(action);
  e.set_state_after(after);
  e.set_province_code(kOwn);
  *e.mutable_at() = Proto(at);
  return e;
}

OutboxEntry EventEntry() {
  OutboxEntry entry;
  entry.kind = OutboxEntry::Kind::kDeliverEvent;
  entry.target_province = kShanghai;
  return entry;
}

std::vector<std::string> EventIds(const v1::Application& app) {
  std::vector<std::string> ids;
  for (const auto& e : app.events()) ids.push_back(e.event_id());
  return ids;
}

class ApplicationStoreTest : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override {
    auto db = BackendDatabase::Open(GetParam());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    store_ = db_->NewApplicationStore(kOwn, clock_);
  }

  CreateRequest Request(const std::string& id_number, const std::string& key,
                        const std::string& fingerprint = "fp") {
    CreateRequest request;
    v1::Application& app = request.application;
    app.set_accepting_province(kOwn);
    app.set_handling_province(kShanghai);
    app.set_item_code("GG00000001");
    app.mutable_applicant()->set_id_number(id_number);
    app.mutable_applicant()->set_name("张三");
    app.set_state(v1::APPLICATION_STATE_RECEIVED);
    app.set_forwarding(v1::FORWARDING_STATE_PENDING);
    *app.mutable_created_at() = Proto(clock_.Now());
    *app.add_events() =
        Event(v1::APPLICATION_ACTION_SUBMIT, v1::APPLICATION_STATE_RECEIVED, clock_.Now());
    request.idempotency_scope = absl::StrCat("citizen:", id_number);
    request.idempotency_key = key;
    request.request_fingerprint = fingerprint;
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
    return request;
  }

  v1::Application Create(const std::string& id_number, const std::string& key) {
    auto created = store_->CreateApplication(Request(id_number, key));
    EXPECT_TRUE(created.ok()) << created.status();
    clock_.Advance(absl::Seconds(1));
    return created.ok() ? created->application : v1::Application();
  }

  std::vector<int64_t> DueIds(absl::Time now) {
    auto due = store_->DueOutbox(now, 100);
    EXPECT_TRUE(due.ok()) << due.status();
    std::vector<int64_t> ids;
    for (const auto& e : *due) ids.push_back(e.id);
    return ids;
  }

  FakeClock clock_{kStart};
  std::unique_ptr<BackendDatabase> db_;  // outlives the store
  std::unique_ptr<ApplicationStore> store_;
};

TEST_P(ApplicationStoreTest, CreateAssignsIdsAndWritesTheOutboxEntry) {
  auto created = store_->CreateApplication(Request(kAlice, "key-0001"));
  ASSERT_TRUE(created.ok()) << created.status();
  const v1::Application& app = created->application;
  EXPECT_FALSE(created->replayed);
  EXPECT_EQ(app.application_id(), "TB-430000-310000-20261125-00000001");
  EXPECT_EQ(EventIds(app), std::vector<std::string>{"430000-1"});
  EXPECT_EQ(app.updated_at().seconds(), absl::ToUnixSeconds(kStart));

  auto outbox = store_->ListOutbox(10);
  ASSERT_TRUE(outbox.ok()) << outbox.status();
  ASSERT_EQ(outbox->size(), 1u);
  const OutboxEntry& entry = (*outbox)[0];
  EXPECT_EQ(entry.application_id, app.application_id());
  EXPECT_EQ(entry.target_province, kShanghai);
  EXPECT_EQ(entry.created_at, kStart);
  EXPECT_EQ(entry.next_attempt_at, kStart);
  v1::DeliverApplicationRequest payload;
  ASSERT_TRUE(payload.ParseFromString(entry.payload));
  EXPECT_EQ(payload.application().application_id(), app.application_id());

  auto stored = store_->GetApplication(app.application_id(), /*with_events=*/true);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->applicant().name(), "张三");
  EXPECT_EQ(EventIds(*stored), std::vector<std::string>{"430000-1"});
  EXPECT_EQ(store_->GetApplication(app.application_id(), false)->events_size(), 0);
  EXPECT_EQ(Create(kAlice, "key-0002").application_id(), "TB-430000-310000-20261125-00000002");
}

TEST_P(ApplicationStoreTest, SameKeyReplaysAndDifferentRequestIsRefused) {
  const v1::Application first = Create(kAlice, "key-0001");
  auto replay = store_->CreateApplication(Request(kAlice, "key-0001"));
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(replay->application.application_id(), first.application_id());
  EXPECT_EQ(replay->application.events_size(), 1);
  EXPECT_EQ(store_->GetOutboxStats()->depth, 1);

  auto conflict = store_->CreateApplication(Request(kAlice, "key-0001", "other-fingerprint"));
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(conflict.status().message().find(first.application_id()), std::string_view::npos)
      << conflict.status();
  // Another caller's key space is separate; replays consumed no sequence.
  EXPECT_EQ(Create(kBob, "key-0001").application_id(), "TB-430000-310000-20261125-00000002");
}

// SubmitApplication's way on the callback API: the answer comes once the
// filing is committed (readable by anyone), with the sync path's rules.
TEST_P(ApplicationStoreTest, AsyncCreateAnswersOnceCommittedWithTheSameRules) {
  auto create = [&](CreateRequest request) {
    absl::Notification answered;
    absl::StatusOr<CreateResult> result;
    store_->CreateApplicationAsync(std::move(request), [&](absl::StatusOr<CreateResult> r) {
      result = std::move(r);
      answered.Notify();
    });
    answered.WaitForNotification();
    return result;
  };
  auto created = create(Request(kAlice, "key-0001"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_FALSE(created->replayed);
  EXPECT_EQ(created->application.application_id(), "TB-430000-310000-20261125-00000001");
  auto stored = store_->GetApplication(created->application.application_id(), true);
  ASSERT_TRUE(stored.ok()) << "answered before it could be read: " << stored.status();
  EXPECT_EQ(EventIds(*stored), std::vector<std::string>{"430000-1"});
  EXPECT_EQ(store_->GetOutboxStats()->depth, 1);

  auto replay = create(Request(kAlice, "key-0001"));
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(replay->application.application_id(), created->application.application_id());
  EXPECT_EQ(create(Request(kAlice, "key-0001", "other-fingerprint")).status().code(),
            absl::StatusCode::kAlreadyExists);
  CreateRequest unknown = Request(kBob, "key-0002");
  unknown.application.set_handling_province("990000");
  EXPECT_EQ(create(std::move(unknown)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetOutboxStats()->depth, 1) << "refused filings wrote nothing";
}

TEST_P(ApplicationStoreTest, FailedMutationWritesNothing) {
  const v1::Application app = Create(kAlice, "key-0001");
  const std::string id = app.application_id();
  auto refused = store_->MutateApplication(id, [](v1::Application& a) -> absl::StatusOr<Mutation> {
    a.set_state(v1::APPLICATION_STATE_APPROVED);
    return absl::FailedPreconditionError("cannot approve a RECEIVED application");
  });
  EXPECT_EQ(refused.status().message(), "cannot approve a RECEIVED application");

  // This one fails in the database, after its row and events were written.
  auto broken = store_->MutateApplication(id, [&](v1::Application& a) -> absl::StatusOr<Mutation> {
    a.set_state(v1::APPLICATION_STATE_ACCEPTED);
    Mutation m;
    m.events.push_back(
        Event(v1::APPLICATION_ACTION_ACCEPT, v1::APPLICATION_STATE_ACCEPTED, clock_.Now()));
    m.escalation.emplace().set_reason("stuck");
    m.outbox.emplace_back();  // no target province
    return m;
  });
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kInvalidArgument);

  auto stored = store_->GetApplication(id, true);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->state(), v1::APPLICATION_STATE_RECEIVED);
  EXPECT_FALSE(stored->escalated());
  EXPECT_EQ(EventIds(*stored), std::vector<std::string>{"430000-1"});
  EXPECT_TRUE(store_->ListEscalations(true, "", 10)->items.empty());
  EXPECT_EQ(store_->GetOutboxStats()->depth, 1);
  EXPECT_EQ(store_->MutateApplication("TB-430000-310000-20261125-00000099", {}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(ApplicationStoreTest, EventIdsCountOnlyThisProvincesEvents) {
  const std::string id = Create(kAlice, "key-0001").application_id();
  auto mutate = [&](std::vector<v1::ApplicationEvent> events) {
    return store_->MutateApplication(id, [&](v1::Application& a) -> absl::StatusOr<Mutation> {
      a.set_state(events.back().state_after());
      a.clear_events();  // ignored: the history only grows through Mutation::events
      Mutation m;
      m.events = events;
      return m;
    });
  };
  const absl::Time t = clock_.Now();
  auto two = mutate({Event(v1::APPLICATION_ACTION_ACCEPT, v1::APPLICATION_STATE_ACCEPTED, t),
                     Event(v1::APPLICATION_ACTION_START_REVIEW, v1::APPLICATION_STATE_IN_REVIEW,
                           t + absl::Seconds(5))});
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(EventIds(*two), (std::vector<std::string>{"430000-1", "430000-2", "430000-3"}));
  EXPECT_EQ(two->updated_at().seconds(), absl::ToUnixSeconds(t + absl::Seconds(5)));
  EXPECT_EQ(two->state(), v1::APPLICATION_STATE_IN_REVIEW);

  auto mixed =
      mutate({Event(v1::APPLICATION_ACTION_DELIVER, v1::APPLICATION_STATE_IN_REVIEW, t, "310000-1"),
              Event(v1::APPLICATION_ACTION_APPROVE, v1::APPLICATION_STATE_APPROVED, t)});
  ASSERT_TRUE(mixed.ok()) << mixed.status();
  EXPECT_EQ(EventIds(*mixed).back(), "430000-4");

  auto duplicate = mutate(
      {Event(v1::APPLICATION_ACTION_DELIVER, v1::APPLICATION_STATE_APPROVED, t, "310000-1")});
  EXPECT_EQ(duplicate.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->GetApplication(id, true)->events_size(), 5);

  auto rename = store_->MutateApplication(id, [](v1::Application& a) -> absl::StatusOr<Mutation> {
    a.set_application_id("TB-430000-310000-20261125-00000042");
    return Mutation{};
  });
  EXPECT_FALSE(rename.ok());
}

TEST_P(ApplicationStoreTest, ListsByApplicantNewestFirstAndByStateOldestFirst) {
  std::vector<std::string> alice;
  for (int i = 0; i < 5; ++i)
    alice.push_back(Create(kAlice, absl::StrCat("key-a", i)).application_id());
  const std::string bob = Create(kBob, "key-b").application_id();

  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto page = store_->ListByApplicant(kAlice, cursor, 2);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& a : page->items) seen.push_back(a.application_id());
    cursor = page->next_cursor;
    ++pages;
  } while (!cursor.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, (std::vector<std::string>{alice[4], alice[3], alice[2], alice[1], alice[0]}));

  ASSERT_TRUE(store_
                  ->MutateApplication(alice[1],
                                      [](v1::Application& a) -> absl::StatusOr<Mutation> {
                                        a.set_state(v1::APPLICATION_STATE_ACCEPTED);
                                        return Mutation{};
                                      })
                  .ok());
  auto received = store_->ListByState(v1::APPLICATION_STATE_RECEIVED, "", 3);
  ASSERT_TRUE(received.ok());
  ASSERT_EQ(received->items.size(), 3u);
  EXPECT_EQ(received->items[0].application_id(), alice[0]);
  EXPECT_EQ(received->items[1].application_id(), alice[2]);
  EXPECT_EQ(received->items[0].events_size(), 0);
  auto rest = store_->ListByState(v1::APPLICATION_STATE_RECEIVED, received->next_cursor, 3);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->items.size(), 2u);
  EXPECT_EQ(rest->items[1].application_id(), bob);
  EXPECT_TRUE(rest->next_cursor.empty());
  EXPECT_EQ(store_->ListByState(v1::APPLICATION_STATE_ACCEPTED, "", 10)->items.size(), 1u);

  EXPECT_EQ(store_->ListByApplicant(kAlice, "not-a-cursor", 2).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ListByState(v1::APPLICATION_STATE_RECEIVED, "-3", 2).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(ApplicationStoreTest, EscalationsOpenResolveAndList) {
  const std::string first = Create(kAlice, "key-1").application_id();
  const std::string second = Create(kBob, "key-2").application_id();
  auto escalate = [&](const std::string& id, bool resolved) {
    return store_->MutateApplication(id, [&](v1::Application&) -> absl::StatusOr<Mutation> {
      Mutation m;
      v1::Escalation& e = m.escalation.emplace();
      e.set_reason("材料无法获取");
      e.set_resolved(resolved);
      *e.mutable_raised_at() = Proto(clock_.Now());
      m.events.push_back(Event(
          resolved ? v1::APPLICATION_ACTION_RESOLVE_ESCALATION : v1::APPLICATION_ACTION_ESCALATE,
          v1::APPLICATION_STATE_RECEIVED, clock_.Now()));
      return m;
    });
  };
  ASSERT_TRUE(escalate(first, false).ok());
  auto escalated = escalate(second, false);
  ASSERT_TRUE(escalated.ok());
  EXPECT_TRUE(escalated->escalated());

  auto open = store_->ListEscalations(false, "", 1);
  ASSERT_TRUE(open.ok()) << open.status();
  ASSERT_EQ(open->items.size(), 1u);
  EXPECT_EQ(open->items[0].application_id(), first);
  EXPECT_EQ(open->items[0].item_code(), "GG00000001");
  EXPECT_EQ(open->items[0].application_state(), v1::APPLICATION_STATE_RECEIVED);
  auto next = store_->ListEscalations(false, open->next_cursor, 1);
  ASSERT_EQ(next->items.size(), 1u);
  EXPECT_EQ(next->items[0].application_id(), second);
  EXPECT_EQ(next->items[0].reason(), "材料无法获取");

  auto resolved = escalate(first, true);
  ASSERT_TRUE(resolved.ok());
  EXPECT_FALSE(resolved->escalated());
  EXPECT_EQ(store_->ListEscalations(false, "", 10)->items.size(), 1u);
  EXPECT_EQ(store_->ListEscalations(true, "", 10)->items.size(), 2u);
  // Re-opened, it queues behind the ones raised before it.
  ASSERT_TRUE(escalate(first, false).ok());
  auto again = store_->ListEscalations(false, "", 10);
  ASSERT_EQ(again->items.size(), 2u);
  EXPECT_EQ(again->items[1].application_id(), first);
}

TEST_P(ApplicationStoreTest, OutboxKeepsOrderPerApplicationAndRetries) {
  const std::string a = Create(kAlice, "key-1").application_id();  // entry 1
  ASSERT_TRUE(store_
                  ->MutateApplication(a,
                                      [](v1::Application&) -> absl::StatusOr<Mutation> {
                                        Mutation m;  // no event: stamped with the clock
                                        m.outbox.push_back(EventEntry());
                                        return m;
                                      })
                  .ok());                                        // entry 2
  const std::string b = Create(kBob, "key-2").application_id();  // entry 3
  const absl::Time now = clock_.Now();
  auto all = store_->ListOutbox(10);
  ASSERT_EQ(all->size(), 3u);
  const int64_t e1 = (*all)[0].id, e2 = (*all)[1].id, e3 = (*all)[2].id;
  EXPECT_EQ((*all)[1].created_at, kStart + absl::Seconds(1));
  EXPECT_EQ((*all)[1].application_id, a);

  EXPECT_EQ(DueIds(now), (std::vector<int64_t>{e1, e3}));
  ASSERT_TRUE(store_->RetryOutboxLater(e1, now + absl::Minutes(1), "gateway unavailable").ok());
  EXPECT_EQ(DueIds(now), (std::vector<int64_t>{e3}));  // e2 waits behind e1
  auto later = store_->DueOutbox(now + absl::Minutes(2), 10);
  ASSERT_EQ(later->size(), 2u);
  EXPECT_EQ((*later)[0].attempts, 1);
  EXPECT_EQ((*later)[0].last_error, "gateway unavailable");
  EXPECT_EQ(store_->DueOutbox(now, 1)->size(), 1u);

  // A failing on_delivered keeps the entry: delivery and its record are one.
  EXPECT_FALSE(store_
                   ->CompleteOutbox(e1,
                                    [](v1::Application&) -> absl::StatusOr<Mutation> {
                                      return absl::InternalError("no");
                                    })
                   .ok());
  ASSERT_TRUE(store_
                  ->CompleteOutbox(e1,
                                   [&](v1::Application& app) -> absl::StatusOr<Mutation> {
                                     EXPECT_EQ(app.forwarding(), v1::FORWARDING_STATE_DELIVERED);
                                     Mutation m;
                                     m.events.push_back(Event(v1::APPLICATION_ACTION_DELIVER,
                                                              app.state(), now, "310000-1"));
                                     return m;
                                   })
                  .ok());
  auto delivered = store_->GetApplication(a, true);
  EXPECT_EQ(delivered->forwarding(), v1::FORWARDING_STATE_DELIVERED);
  EXPECT_EQ(EventIds(*delivered), (std::vector<std::string>{"430000-1", "310000-1"}));
  EXPECT_EQ(DueIds(now), (std::vector<int64_t>{e2, e3}));

  EXPECT_EQ(store_->CompleteOutbox(e1, {}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->RetryOutboxLater(e1, now, "x").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->CompleteOutbox(e2, {}).ok());  // an event delivery: forwarding unchanged
  EXPECT_EQ(store_->GetApplication(a, false)->forwarding(), v1::FORWARDING_STATE_DELIVERED);
  EXPECT_EQ(store_->GetApplication(b, false)->forwarding(), v1::FORWARDING_STATE_PENDING);
}

TEST_P(ApplicationStoreTest, OutboxStatsReportDepthAndOldest) {
  OutboxStats empty = *store_->GetOutboxStats();
  EXPECT_EQ(empty.depth, 0);
  EXPECT_EQ(empty.oldest_created_at, absl::InfinitePast());
  Create(kAlice, "key-1");
  Create(kBob, "key-2");
  OutboxStats stats = *store_->GetOutboxStats();
  EXPECT_EQ(stats.depth, 2);
  EXPECT_EQ(stats.oldest_created_at, kStart);
}

// The gauges of a scrape: open escalations and applications per open state.
TEST_P(ApplicationStoreTest, CountsOpenEscalationsAndOpenApplicationsByState) {
  EXPECT_EQ(*store_->CountOpenEscalations(), 0);
  EXPECT_TRUE(store_->CountOpenApplicationsByState()->empty());
  const std::string first = Create(kAlice, "key-1").application_id();
  const std::string second = Create(kBob, "key-2").application_id();
  Create(kBob, "key-3");
  auto mutate = [&](const std::string& id, v1::ApplicationState state,
                    std::optional<bool> escalation_resolved) {
    return store_->MutateApplication(id, [&](v1::Application& app) -> absl::StatusOr<Mutation> {
      Mutation m;
      app.set_state(state);
      if (escalation_resolved.has_value()) {
        v1::Escalation& e = m.escalation.emplace();
        e.set_reason("材料无法获取");
        e.set_resolved(*escalation_resolved);
        *e.mutable_raised_at() = Proto(clock_.Now());
      }
      return m;
    });
  };
  ASSERT_TRUE(mutate(first, v1::APPLICATION_STATE_IN_REVIEW, false).ok());
  ASSERT_TRUE(mutate(second, v1::APPLICATION_STATE_APPROVED, false).ok());
  EXPECT_EQ(*store_->CountOpenEscalations(), 2);
  std::map<v1::ApplicationState, int64_t> expected = {{v1::APPLICATION_STATE_RECEIVED, 1},
                                                      {v1::APPLICATION_STATE_IN_REVIEW, 1}};
  EXPECT_EQ(*store_->CountOpenApplicationsByState(), expected);  // APPROVED is not counted

  ASSERT_TRUE(mutate(first, v1::APPLICATION_STATE_IN_REVIEW, true).ok());
  EXPECT_EQ(*store_->CountOpenEscalations(), 1);
  ASSERT_TRUE(mutate(first, v1::APPLICATION_STATE_IN_REVIEW, false).ok());  // re-opened
  EXPECT_EQ(*store_->CountOpenEscalations(), 2);
}

// 好差评 rectifications live in the application row; the store keeps "open"
// and the deadline indexed for the gauges and the open/overdue list.
TEST_P(ApplicationStoreTest, OpenRectificationsAreCountedAndListedByDeadline) {
  EXPECT_EQ(store_->CountRectifications(clock_.Now())->open, 0);
  const std::string first = Create(kAlice, "key-1").application_id();
  const std::string second = Create(kBob, "key-2").application_id();
  const std::string third = Create(kBob, "key-3").application_id();
  auto rectify = [&](const std::string& id, absl::Time due, bool closed) {
    return store_->MutateApplication(id, [&](v1::Application& app) -> absl::StatusOr<Mutation> {
      app.set_state(v1::APPLICATION_STATE_APPROVED);
      v1::Rectification* r = app.mutable_rectification();
      r->set_application_id(id);
      r->set_level(v1::SATISFACTION_LEVEL_DISSATISFIED);
      *r->mutable_due_at() = Proto(due);
      r->set_closed(closed);
      return Mutation{};
    });
  };
  const absl::Time now = clock_.Now();
  ASSERT_TRUE(rectify(first, now + absl::Hours(48), false).ok());
  ASSERT_TRUE(rectify(second, now - absl::Hours(1), false).ok());
  ASSERT_TRUE(rectify(third, now - absl::Hours(1), true).ok());  // closed: never counted
  RectificationCounts counts = *store_->CountRectifications(now);
  EXPECT_EQ(counts.open, 2);
  EXPECT_EQ(counts.overdue, 1);
  EXPECT_EQ(store_->CountRectifications(now + absl::Hours(72))->overdue, 2);

  auto all = store_->ListOpenRectifications(absl::InfiniteFuture(), "", 1);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->items.size(), 1u);
  EXPECT_EQ(all->items[0].application_id(), first);
  EXPECT_EQ(all->items[0].rectification().level(), v1::SATISFACTION_LEVEL_DISSATISFIED);
  ASSERT_FALSE(all->next_cursor.empty());
  auto rest = store_->ListOpenRectifications(absl::InfiniteFuture(), all->next_cursor, 10);
  ASSERT_TRUE(rest.ok()) << rest.status();
  ASSERT_EQ(rest->items.size(), 1u);
  EXPECT_EQ(rest->items[0].application_id(), second);
  EXPECT_TRUE(rest->next_cursor.empty());
  auto overdue = store_->ListOpenRectifications(now, "", 10);
  ASSERT_TRUE(overdue.ok()) << overdue.status();
  ASSERT_EQ(overdue->items.size(), 1u);
  EXPECT_EQ(overdue->items[0].application_id(), second);

  // Closing one takes it out of the gauges and the list.
  ASSERT_TRUE(rectify(second, now - absl::Hours(1), true).ok());
  counts = *store_->CountRectifications(now);
  EXPECT_EQ(counts.open, 1);
  EXPECT_EQ(counts.overdue, 0);
  EXPECT_TRUE(store_->ListOpenRectifications(now, "", 10)->items.empty());
}

TEST_P(ApplicationStoreTest, ForeignApplicationIsInsertedOnce) {
  v1::Application foreign;
  foreign.set_application_id("TB-310000-430000-20261125-00000007");
  foreign.set_accepting_province(kShanghai);
  foreign.set_handling_province(kOwn);
  foreign.mutable_applicant()->set_id_number(kBob);
  foreign.set_state(v1::APPLICATION_STATE_RECEIVED);
  *foreign.mutable_created_at() = Proto(kStart);
  *foreign.add_events() =
      Event(v1::APPLICATION_ACTION_SUBMIT, v1::APPLICATION_STATE_RECEIVED, kStart, "310000-1");
  int runs = 0;
  MutateFn on_insert = [&](v1::Application& app) -> absl::StatusOr<Mutation> {
    ++runs;
    Mutation m;
    m.events.push_back(Event(v1::APPLICATION_ACTION_DELIVER, app.state(), clock_.Now()));
    m.outbox.push_back(EventEntry());
    return m;
  };
  auto inserted = store_->InsertForeignApplication(foreign, on_insert);
  ASSERT_TRUE(inserted.ok()) << inserted.status();
  EXPECT_FALSE(inserted->already_present);
  EXPECT_EQ(EventIds(inserted->application), (std::vector<std::string>{"310000-1", "430000-1"}));

  auto again = store_->InsertForeignApplication(foreign, on_insert);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->already_present);
  EXPECT_EQ(again->application.events_size(), 2);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(store_->GetOutboxStats()->depth, 1);
  EXPECT_EQ(store_->ListByApplicant(kBob, "", 10)->items.size(), 1u);

  foreign.set_application_id("not-an-id");
  EXPECT_EQ(store_->InsertForeignApplication(foreign, on_insert).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Dead letters (docs/protocol.md, "Deliveries that cannot be delivered").
class OutboxDeadLetterTest : public ApplicationStoreTest {
 protected:
  // An application with its DeliverApplication entry and one DeliverEvent entry.
  std::string WithEvent(const std::string& id_number, const std::string& key) {
    const std::string id = Create(id_number, key).application_id();
    auto added = store_->MutateApplication(id, [&](v1::Application&) -> absl::StatusOr<Mutation> {
      Mutation m;
      m.events.push_back(Event(v1::APPLICATION_ACTION_ESCALATE, v1::APPLICATION_STATE_RECEIVED,
                               clock_.Now()));
      m.outbox.push_back(EventEntry());
      return m;
    });
    EXPECT_TRUE(added.ok()) << added.status();
    return id;
  }
  std::vector<int64_t> Listed(OutboxFilter::Status status, const std::string& application = "") {
    OutboxFilter filter;
    filter.status = status;
    filter.application_id = application;
    auto page = store_->ListOutboxEntries(filter, "", 100);
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<int64_t> ids;
    if (page.ok()) {
      for (const auto& e : page->items) ids.push_back(e.id);
    }
    return ids;
  }
  MutateFn DiscardEvent(const std::string& note) {
    return [this, note](v1::Application& app) -> absl::StatusOr<Mutation> {
      Mutation m;
      v1::ApplicationEvent e =
          Event(v1::APPLICATION_ACTION_DISCARD_DELIVERY, app.state(), clock_.Now());
      e.set_note(note);
      m.events.push_back(e);
      return m;
    };
  }
};

TEST_P(OutboxDeadLetterTest, ADeadLetterIsNotDueAndHoldsBackItsApplication) {
  const std::string a = WithEvent(kAlice, "key-1");  // entries 1 (application), 2 (event)
  const std::string b = WithEvent(kBob, "key-2");    // entries 3, 4
  const absl::Time now = clock_.Now();
  ASSERT_TRUE(store_->DeadLetterOutbox(1, now, "PERMISSION_DENIED",
                                       "PERMISSION_DENIED: rule accepting-only")
                  .ok());
  EXPECT_EQ(DueIds(now), std::vector<int64_t>{3});  // a's event waits behind its dead letter

  auto dead = store_->GetOutboxEntry(1);
  ASSERT_TRUE(dead.ok()) << dead.status();
  EXPECT_TRUE(dead->dead());
  EXPECT_EQ(dead->dead_at, now);
  EXPECT_EQ(dead->dead_code, "PERMISSION_DENIED");
  EXPECT_EQ(dead->last_error, "PERMISSION_DENIED: rule accepting-only");
  EXPECT_EQ(dead->attempts, 1);
  EXPECT_FALSE(store_->GetOutboxEntry(2)->dead());

  OutboxStats stats = *store_->GetOutboxStats();
  EXPECT_EQ(stats.depth, 3);
  EXPECT_EQ(stats.dead_letters, 1);
  EXPECT_EQ(stats.blocked, 1);
  // The blocked entry waits for an operator: it is not what "stale" measures.
  EXPECT_EQ(stats.oldest_created_at, store_->GetOutboxEntry(3)->created_at);

  EXPECT_EQ(Listed(OutboxFilter::Status::kDeadLetter), std::vector<int64_t>{1});
  EXPECT_EQ(Listed(OutboxFilter::Status::kPending), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(Listed(OutboxFilter::Status::kAny, b), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(store_->GetOutboxEntry(99).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeadLetterOutbox(99, now, "X", "x").code(), absl::StatusCode::kNotFound);
}

TEST_P(OutboxDeadLetterTest, ListPagesWithACursor) {
  for (int i = 0; i < 5; ++i) Create(kAlice, absl::StrCat("key-", i));
  OutboxFilter all;
  auto first = store_->ListOutboxEntries(all, "", 2);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->items.size(), 2u);
  EXPECT_EQ(first->next_cursor, "2");
  auto second = store_->ListOutboxEntries(all, first->next_cursor, 3);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->items.size(), 3u);
  EXPECT_EQ(second->next_cursor, "");  // the end
  EXPECT_EQ(store_->ListOutboxEntries(all, "x1", 2).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ListOutboxEntries(all, "", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(OutboxDeadLetterTest, ReplayPutsADeadLetterBackToPendingWithAttemptsReset) {
  const std::string a = WithEvent(kAlice, "key-1");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->RetryOutboxLater(1, kStart, "UNAVAILABLE: x").ok());
  ASSERT_TRUE(store_->DeadLetterOutbox(1, clock_.Now(), "INVALID_ARGUMENT", "INVALID_ARGUMENT: y").ok());
  EXPECT_EQ(store_->ReplayDeadLetter(2, clock_.Now()).status().code(),
            absl::StatusCode::kFailedPrecondition);  // pending, not dead
  EXPECT_EQ(store_->ReplayDeadLetter(42, clock_.Now()).status().code(),
            absl::StatusCode::kNotFound);

  clock_.Advance(absl::Minutes(5));
  auto replayed = store_->ReplayDeadLetter(1, clock_.Now());
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_FALSE(replayed->dead());
  auto stored = store_->GetOutboxEntry(1);
  ASSERT_TRUE(stored.ok());
  EXPECT_FALSE(stored->dead());
  EXPECT_EQ(stored->dead_code, "");
  EXPECT_EQ(stored->attempts, 0);
  EXPECT_EQ(stored->next_attempt_at, clock_.Now());
  EXPECT_EQ(stored->last_error, "INVALID_ARGUMENT: y");  // the record until the next attempt
  EXPECT_EQ(DueIds(clock_.Now()), std::vector<int64_t>{1});
  EXPECT_EQ(store_->GetOutboxStats()->dead_letters, 0);
  EXPECT_EQ(store_->ReplayDeadLetter(1, clock_.Now()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(OutboxDeadLetterTest, DiscardDeletesTheEntryAndRecordsTheEventTogether) {
  const std::string a = WithEvent(kAlice, "key-1");
  ASSERT_TRUE(store_->DeadLetterOutbox(1, clock_.Now(), "PERMISSION_DENIED", "PERMISSION_DENIED: z").ok());
  EXPECT_EQ(store_->DiscardDeadLetter(2, DiscardEvent("x")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->DiscardDeadLetter(1, {}).status().code(), absl::StatusCode::kInvalidArgument);

  // A failing event write keeps the dead letter.
  auto failed = store_->DiscardDeadLetter(1, [](v1::Application&) -> absl::StatusOr<Mutation> {
    return absl::InternalError("no");
  });
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(store_->GetOutboxEntry(1)->dead());

  auto discarded = store_->DiscardDeadLetter(1, DiscardEvent("wrong province"));
  ASSERT_TRUE(discarded.ok()) << discarded.status();
  EXPECT_EQ(discarded->application_id, a);
  EXPECT_EQ(discarded->dead_code, "PERMISSION_DENIED");
  EXPECT_EQ(store_->GetOutboxEntry(1).status().code(), absl::StatusCode::kNotFound);
  auto app = store_->GetApplication(a, true);
  ASSERT_TRUE(app.ok());
  ASSERT_EQ(app->events_size(), 3);
  EXPECT_EQ(app->events(2).action(), v1::APPLICATION_ACTION_DISCARD_DELIVERY);
  EXPECT_EQ(app->events(2).note(), "wrong province");
  EXPECT_EQ(app->forwarding(), v1::FORWARDING_STATE_PENDING);  // never delivered
  EXPECT_EQ(DueIds(clock_.Now()), std::vector<int64_t>{2});     // the event is free to go
}

TEST_P(OutboxDeadLetterTest, RedeliveryGoesAheadOfTheEventInOneTransaction) {
  const std::string a = WithEvent(kAlice, "key-1");  // 1 application, 2 event
  auto more = store_->MutateApplication(a, [&](v1::Application&) -> absl::StatusOr<Mutation> {
    Mutation m;
    m.events.push_back(
        Event(v1::APPLICATION_ACTION_ESCALATE, v1::APPLICATION_STATE_RECEIVED, clock_.Now()));
    m.outbox.push_back(EventEntry());  // 3
    return m;
  });
  ASSERT_TRUE(more.ok());
  ASSERT_TRUE(store_->CompleteOutbox(1, {}).ok());  // the application was delivered once
  const absl::Time now = clock_.Now();

  // make_delivery refuses: nothing is written.
  auto refuse = [](const v1::Application&) -> absl::StatusOr<OutboxEntry> {
    return absl::FailedPreconditionError("not the accepting province");
  };
  EXPECT_EQ(store_->RedeliverApplicationFirst(2, now, "NOT_FOUND: x", refuse).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetOutboxEntry(2)->attempts, 0);
  EXPECT_EQ(store_->GetOutboxStats()->depth, 2);

  std::string seen_events;
  auto deliver = [&](const v1::Application& app) -> absl::StatusOr<OutboxEntry> {
    seen_events = absl::StrCat(app.events_size());
    OutboxEntry entry;
    entry.kind = OutboxEntry::Kind::kDeliverApplication;
    entry.target_province = app.handling_province();
    entry.payload = "p";
    return entry;
  };
  ASSERT_TRUE(store_->RedeliverApplicationFirst(2, now, "NOT_FOUND: unknown", deliver).ok());
  EXPECT_EQ(seen_events, "3");  // the application as stored, with its events
  EXPECT_EQ(store_->GetOutboxEntry(2)->attempts, 1);
  EXPECT_EQ(store_->GetOutboxEntry(2)->last_error, "NOT_FOUND: unknown");
  EXPECT_EQ(DueIds(now), std::vector<int64_t>{4});  // the re-delivery first
  ASSERT_EQ(store_->GetOutboxEntry(4)->kind, OutboxEntry::Kind::kDeliverApplication);
  ASSERT_TRUE(store_->CompleteOutbox(4, {}).ok());
  EXPECT_EQ(DueIds(now), std::vector<int64_t>{2});  // then the event, then the next one
  ASSERT_TRUE(store_->CompleteOutbox(2, {}).ok());
  EXPECT_EQ(DueIds(now), std::vector<int64_t>{3});
}

INSTANTIATE_TEST_SUITE_P(Backends, ApplicationStoreTest, kAllStoreBackends, StoreBackendName);
INSTANTIATE_TEST_SUITE_P(Backends, OutboxDeadLetterTest, kAllStoreBackends, StoreBackendName);

}  // namespace
}  // namespace tongban::node
