// PostgreSQL store with several replicas of one province on one database
// (issue 15): each replica is a PostgresDatabase of its own (its own
// connections, as another process would have) with its own store objects.
// Also what only PostgreSQL has: migrations raced by replicas starting at
// once, broken connections, an unreachable server.
#include <algorithm>
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/barrier.h"
#include "clock.h"
#include "gtest/gtest.h"
#include "store/postgres_application_store.h"
#include "store/postgres_catalog_store.h"
#include "store/postgres_database.h"
#include "store_backends.h"

namespace tongban::node {
namespace {

using testing::BackendDatabase;
using testing::ScratchPostgresDatabase;
using testing::StoreBackend;

constexpr char kOwn[] = "430000";
constexpr char kShanghai[] = "310000";
const absl::Time kStart = absl::FromUnixSeconds(1795572000);  // 2026-11-25 10:00 in China

google::protobuf::Timestamp Proto(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  return ts;
}

v1::ApplicationEvent Event(v1::ApplicationAction action, absl::Time at) {
  v1::ApplicationEvent e;
  e.set_action(action);
  e.set_state_after(v1::APPLICATION_STATE_RECEIVED);
  e.set_province_code(kOwn);
  *e.mutable_at() = Proto(at);
  return e;
}

CreateRequest Request(const std::string& key, const std::string& fingerprint = "fp") {
  CreateRequest request;
  v1::Application& app = request.application;
  app.set_accepting_province(kOwn);
  app.set_handling_province(kShanghai);
  app.set_item_code("GG00000001");
  app.mutable_applicant()->set_id_number("430102199001011234");
  app.set_state(v1::APPLICATION_STATE_RECEIVED);
  *app.mutable_created_at() = Proto(kStart);
  *app.add_events() = Event(v1::APPLICATION_ACTION_SUBMIT, kStart);
  request.idempotency_scope = "citizen:430102199001011234";
  request.idempotency_key = key;
  request.request_fingerprint = fingerprint;
  request.make_outbox = [](const v1::Application& stored) {
    OutboxEntry entry;
    entry.kind = OutboxEntry::Kind::kDeliverApplication;
    entry.target_province = stored.handling_province();
    entry.payload = stored.application_id();
    return std::vector<OutboxEntry>{entry};
  };
  return request;
}

// Runs `fn(replica, thread)` on `threads` threads per replica, all released
// at once.
void RunConcurrently(int replicas, int threads, const std::function<void(int, int)>& fn) {
  absl::Barrier* start = new absl::Barrier(replicas * threads);
  std::vector<std::thread> running;
  for (int r = 0; r < replicas; ++r) {
    for (int t = 0; t < threads; ++t) {
      running.emplace_back([&, r, t] {
        if (start->Block()) delete start;
        fn(r, t);
      });
    }
  }
  for (std::thread& thread : running) thread.join();
}

class PostgresReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto first = BackendDatabase::Open(StoreBackend::kPostgres);
    ASSERT_TRUE(first.ok()) << first.status();
    auto second = (*first)->OpenReplica();
    ASSERT_TRUE(second.ok()) << second.status();
    db_[0] = *std::move(first);
    db_[1] = *std::move(second);
    for (int r = 0; r < 2; ++r) {
      PostgresApplicationStoreOptions options;
      options.outbox_lease = kLease;
      store_[r] = db_[r]->NewApplicationStore(kOwn, clock_, options);
    }
  }

  std::vector<int64_t> Due(int replica, absl::Time now) {
    auto due = store_[replica]->DueOutbox(now, 100);
    EXPECT_TRUE(due.ok()) << due.status();
    std::vector<int64_t> ids;
    if (due.ok()) {
      for (const OutboxEntry& e : *due) ids.push_back(e.id);
    }
    return ids;
  }

  static constexpr absl::Duration kLease = absl::Minutes(2);
  FakeClock clock_{kStart};
  std::unique_ptr<BackendDatabase> db_[2];  // outlive the stores
  std::unique_ptr<ApplicationStore> store_[2];
};

TEST_F(PostgresReplicasTest, ConcurrentCreatesGetDistinctIdsWithoutGapsAndLoseNothing) {
  constexpr int kThreads = 4, kEach = 15;
  std::vector<std::string> ids[2][kThreads];
  RunConcurrently(2, kThreads, [&](int r, int t) {
    for (int i = 0; i < kEach; ++i) {
      auto created = store_[r]->CreateApplication(Request(absl::StrCat("key-", r, "-", t, "-", i)));
      ASSERT_TRUE(created.ok()) << created.status();
      EXPECT_FALSE(created->replayed);
      ids[r][t].push_back(created->application.application_id());
    }
  });
  std::set<std::string> distinct;
  for (auto& replica : ids) {
    for (auto& thread : replica) distinct.insert(thread.begin(), thread.end());
  }
  constexpr int kTotal = 2 * kThreads * kEach;
  ASSERT_EQ(distinct.size(), static_cast<size_t>(kTotal));
  // The sequence is shared and gapless: 1..kTotal.
  EXPECT_EQ(*distinct.begin(), "TB-430000-310000-20261125-00000001");
  EXPECT_EQ(*distinct.rbegin(), absl::StrFormat("TB-430000-310000-20261125-%08d", kTotal));
  for (const std::string& id : distinct) {
    auto stored = store_[1]->GetApplication(id, /*with_events=*/true);
    ASSERT_TRUE(stored.ok()) << stored.status();
    ASSERT_EQ(stored->events_size(), 1) << id;
    EXPECT_EQ(stored->events(0).event_id(), "430000-1");
  }
  EXPECT_EQ(store_[0]->GetOutboxStats()->depth, kTotal);
}

TEST_F(PostgresReplicasTest, MutationsOfOneApplicationFromBothReplicasAreSerialized) {
  auto created = store_[0]->CreateApplication(Request("key-1"));
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string id = created->application.application_id();
  constexpr int kThreads = 4, kEach = 10;
  RunConcurrently(2, kThreads, [&](int r, int) {
    for (int i = 0; i < kEach; ++i) {
      auto mutated =
          store_[r]->MutateApplication(id, [&](v1::Application& app) -> absl::StatusOr<Mutation> {
            // Check-then-write: a counter in the application that must
            // never lose an increment.
            app.set_guide_version(app.guide_version() + 1);
            Mutation m;
            m.events.push_back(Event(v1::APPLICATION_ACTION_ESCALATE, clock_.Now()));
            return m;
          });
      ASSERT_TRUE(mutated.ok()) << mutated.status();
    }
  });
  constexpr int kTotal = 2 * kThreads * kEach;
  auto stored = store_[0]->GetApplication(id, true);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->guide_version(), kTotal);
  ASSERT_EQ(stored->events_size(), kTotal + 1);
  std::set<std::string> event_ids;
  for (const auto& e : stored->events()) event_ids.insert(e.event_id());
  EXPECT_EQ(event_ids.size(), static_cast<size_t>(kTotal + 1));
  EXPECT_EQ(stored->events(kTotal).event_id(), absl::StrCat("430000-", kTotal + 1));
}

TEST_F(PostgresReplicasTest, OneIdempotencyKeyFilesOnceAcrossReplicas) {
  constexpr int kThreads = 4;
  std::atomic<int> filed{0};
  std::set<std::string> ids;
  absl::Mutex mu;
  RunConcurrently(2, kThreads, [&](int r, int) {
    auto created = store_[r]->CreateApplication(Request("same-key"));
    ASSERT_TRUE(created.ok()) << created.status();
    if (!created->replayed) ++filed;
    absl::MutexLock lock(&mu);
    ids.insert(created->application.application_id());
  });
  EXPECT_EQ(filed.load(), 1);
  EXPECT_EQ(ids, std::set<std::string>{"TB-430000-310000-20261125-00000001"});
  auto conflict = store_[1]->CreateApplication(Request("same-key", "another request"));
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAlreadyExists) << conflict.status();
  // Neither the replays nor the refusal used a sequence number.
  EXPECT_EQ(store_[1]->CreateApplication(Request("next-key"))->application.application_id(),
            "TB-430000-310000-20261125-00000002");
}

TEST_F(PostgresReplicasTest, AForeignApplicationDeliveredToBothReplicasIsStoredOnce) {
  v1::Application foreign;
  foreign.set_application_id("TB-310000-430000-20261125-00000007");
  foreign.set_accepting_province(kShanghai);
  foreign.set_handling_province(kOwn);
  foreign.mutable_applicant()->set_id_number("310101198507153456");
  foreign.set_state(v1::APPLICATION_STATE_RECEIVED);
  *foreign.mutable_created_at() = Proto(kStart);
  v1::ApplicationEvent submit = Event(v1::APPLICATION_ACTION_SUBMIT, kStart);
  submit.set_event_id("310000-1");
  *foreign.add_events() = submit;
  std::atomic<int> inserted{0};
  RunConcurrently(2, 3, [&](int r, int) {
    auto result = store_[r]->InsertForeignApplication(
        foreign, [&](v1::Application&) -> absl::StatusOr<Mutation> {
          Mutation m;
          m.events.push_back(Event(v1::APPLICATION_ACTION_DELIVER, kStart));
          OutboxEntry entry;
          entry.kind = OutboxEntry::Kind::kDeliverEvent;
          entry.target_province = kShanghai;
          m.outbox.push_back(entry);
          return m;
        });
    ASSERT_TRUE(result.ok()) << result.status();
    if (!result->already_present) ++inserted;
    EXPECT_EQ(result->application.events_size(), 2);
  });
  EXPECT_EQ(inserted.load(), 1);
  EXPECT_EQ(store_[0]->GetOutboxStats()->depth, 1);
}

TEST_F(PostgresReplicasTest, AnOutboxEntryIsClaimedByOneReplicaAtATime) {
  constexpr int kApplications = 40;
  for (int i = 0; i < kApplications; ++i) {
    ASSERT_TRUE(store_[i % 2]->CreateApplication(Request(absl::StrCat("key-", i))).ok());
  }
  const absl::Time now = kStart + absl::Seconds(1);
  // Both replicas poll at once, several times each: no entry goes to both.
  std::set<int64_t> polled[2];
  RunConcurrently(2, 1, [&](int r, int) {
    for (int poll = 0; poll < 5; ++poll) {
      auto due = store_[r]->DueOutbox(now, 7);
      ASSERT_TRUE(due.ok()) << due.status();
      for (const OutboxEntry& e : *due) polled[r].insert(e.id);
    }
  });
  EXPECT_FALSE(polled[0].empty());
  EXPECT_FALSE(polled[1].empty());
  for (int64_t id : polled[0])
    EXPECT_EQ(polled[1].count(id), 0u) << "entry " << id << " went to both";

  // Replica 0 takes what is left; replica 1 then gets only its own claims
  // again (the forwarder skips those it has in flight), never the other's.
  const std::vector<int64_t> mine0 = Due(0, now);
  const std::vector<int64_t> mine1 = Due(1, now);
  EXPECT_EQ(mine1, std::vector<int64_t>(polled[1].begin(), polled[1].end()));
  std::set<int64_t> all(mine0.begin(), mine0.end());
  for (int64_t id : mine1) EXPECT_TRUE(all.insert(id).second) << "entry " << id << " went to both";
  EXPECT_EQ(all.size(), static_cast<size_t>(kApplications));
  for (int64_t id : polled[0]) EXPECT_TRUE(std::count(mine0.begin(), mine0.end(), id)) << id;

  // Replica 0 records outcomes: a completed entry is gone, a retried one is
  // free for whichever replica reads it when it is due.
  ASSERT_GE(mine0.size(), 2u);
  ASSERT_TRUE(store_[0]->CompleteOutbox(mine0.front(), {}).ok());
  ASSERT_TRUE(
      store_[0]->RetryOutboxLater(mine0.back(), now + absl::Seconds(5), "UNAVAILABLE: x").ok());
  std::vector<int64_t> expected = mine1;
  expected.push_back(mine0.back());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(Due(1, now + absl::Seconds(5)), expected);

  // Replica 0 is killed: its claims expire with the lease and replica 1
  // takes them over.
  store_[0].reset();
  db_[0].reset();
  EXPECT_EQ(Due(1, now + kLease + absl::Seconds(10)).size(),
            static_cast<size_t>(kApplications - 1));
}

TEST_F(PostgresReplicasTest, AClaimedHeadHoldsBackItsApplicationsLaterEntries) {
  auto created = store_[0]->CreateApplication(Request("key-1"));  // entry 1
  ASSERT_TRUE(created.ok());
  const std::string id = created->application.application_id();
  ASSERT_TRUE(store_[0]
                  ->MutateApplication(id,
                                      [](v1::Application&) -> absl::StatusOr<Mutation> {
                                        Mutation m;
                                        OutboxEntry entry;
                                        entry.kind = OutboxEntry::Kind::kDeliverEvent;
                                        entry.target_province = kShanghai;
                                        m.outbox.push_back(entry);  // entry 2
                                        return m;
                                      })
                  .ok());
  const absl::Time now = kStart + absl::Seconds(1);
  EXPECT_EQ(Due(0, now), std::vector<int64_t>{1});
  EXPECT_TRUE(Due(1, now).empty());  // not entry 2: it must not overtake entry 1
  ASSERT_TRUE(store_[0]->CompleteOutbox(1, {}).ok());
  EXPECT_EQ(Due(1, now), std::vector<int64_t>{2});
  EXPECT_TRUE(Due(0, now).empty());
}

TEST_F(PostgresReplicasTest, PayloadBytesRoundTripUnchanged) {
  CreateRequest request = Request("key-1");
  const std::string bytes("\0\x01\xff\xfe'\"\\x00\n\0", 11);
  request.make_outbox = [&](const v1::Application& stored) {
    OutboxEntry entry;
    entry.kind = OutboxEntry::Kind::kDeliverApplication;
    entry.target_province = stored.handling_province();
    entry.payload = bytes;
    return std::vector<OutboxEntry>{entry};
  };
  ASSERT_TRUE(store_[0]->CreateApplication(request).ok());
  auto entry = store_[1]->GetOutboxEntry(1);
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->payload, bytes);
}

TEST_F(PostgresReplicasTest, ConcurrentAmendsNeverRepeatACatalogVersion) {
  auto catalog0 = db_[0]->NewCatalogStore();
  auto catalog1 = db_[1]->NewCatalogStore();
  std::vector<v1::Guide> guides;
  for (int i = 0; i < 8; ++i) {
    v1::Guide guide;
    guide.set_province_code(kOwn);
    guide.mutable_item()->set_item_code(absl::StrCat("GG0000000", i));
    guide.mutable_item()->set_name_zh("事项");
    guide.set_version(1);
    guides.push_back(guide);
  }
  ASSERT_TRUE(catalog0->PutGuides(guides).ok());
  std::vector<int64_t> versions;
  absl::Mutex mu;
  RunConcurrently(2, 4, [&](int r, int t) {
    const v1::Guide& guide = guides[r * 4 + t];  // a guide of its own
    auto amended = (r == 0 ? catalog0 : catalog1)->AmendGuide(guide, 1, 1'700'000'000);
    ASSERT_TRUE(amended.ok()) << amended.status();
    absl::MutexLock lock(&mu);
    versions.push_back(amended->version());
  });
  std::set<int64_t> distinct(versions.begin(), versions.end());
  EXPECT_EQ(distinct, (std::set<int64_t>{2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(catalog1->Counts(kOwn)->catalog_version, 9);
}

TEST(PostgresDatabaseTest, ReplicasStartingAtOnceMigrateOnce) {
  auto scratch = ScratchPostgresDatabase::Create();
  ASSERT_TRUE(scratch.ok()) << scratch.status();
  std::unique_ptr<PostgresDatabase> opened[4];
  RunConcurrently(4, 1, [&](int r, int) {
    PostgresDatabaseOptions options;
    options.conninfo = (*scratch)->conninfo();
    auto db = PostgresDatabase::Open(options);
    ASSERT_TRUE(db.ok()) << db.status();
    EXPECT_EQ((*db)->SchemaVersion(), static_cast<int64_t>(PostgresSchemaMigrations().size()));
    opened[r] = *std::move(db);
  });
  ASSERT_NE(opened[0], nullptr);
  int64_t rows = -1;
  ASSERT_TRUE(opened[0]
                  ->Read([&](PgConnection& conn) -> absl::Status {
                    auto r = conn.Exec("SELECT count(*) FROM schema_migrations");
                    if (!r.ok()) return r.status();
                    rows = r->Int64(0, 0);
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(rows, static_cast<int64_t>(PostgresSchemaMigrations().size()));

  // A build that knows fewer migrations refuses the newer database.
  PostgresDatabaseOptions older;
  older.conninfo = (*scratch)->conninfo();
  older.migrations = {};
  auto refused = PostgresDatabase::Open(older);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_NE(refused.status().message().find(
                absl::StrCat("schema version ", PostgresSchemaMigrations().size())),
            std::string::npos)
      << refused.status();
}

// A full database disk (SQLSTATE 53100, raised here as the server raises it)
// is UNAVAILABLE naming storage, and on_storage_failure (the node's
// tongban_store_write_failures_total) hears it; a write its own function
// refused is not a storage failure.
TEST(PostgresDatabaseTest, AFullDiskIsUnavailableNamingStorageAndCounted) {
  auto scratch = ScratchPostgresDatabase::Create();
  ASSERT_TRUE(scratch.ok()) << scratch.status();
  std::vector<absl::Status> failures;
  PostgresDatabaseOptions options;
  options.conninfo = (*scratch)->conninfo();
  options.on_storage_failure = [&](const absl::Status& failure) { failures.push_back(failure); };
  auto db = PostgresDatabase::Open(options);
  ASSERT_TRUE(db.ok()) << db.status();

  EXPECT_TRUE(absl::IsInvalidArgument((*db)->Write(
      [](PgConnection&) { return absl::InvalidArgumentError("refused by its function"); })));
  EXPECT_TRUE(failures.empty());

  absl::Status full = (*db)->Write([](PgConnection& conn) {
    return conn
        .Exec("DO $$ BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = '53100'; "
              "END $$")
        .status();
  });
  EXPECT_TRUE(absl::IsUnavailable(full)) << full;
  EXPECT_NE(full.message().find("storage full"), std::string::npos) << full;
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0], full);
  // The database works on once the disk has room again.
  EXPECT_TRUE((*db)->Write([](PgConnection& conn) { return conn.Exec("SELECT 1").status(); }).ok());
}

TEST(PostgresDatabaseTest, ABrokenConnectionIsReestablished) {
  auto db = BackendDatabase::Open(StoreBackend::kPostgres);
  ASSERT_TRUE(db.ok()) << db.status();
  PostgresDatabase& pg = *(*db)->postgres();
  FakeClock clock(kStart);
  auto store = (*db)->NewApplicationStore(kOwn, clock);
  ASSERT_TRUE(store->CreateApplication(Request("key-1")).ok());
  // The server ends every session of this database but the killer's own,
  // as a failover or an administrator would.
  auto admin = PgConnection::Connect((*db)->conninfo());
  ASSERT_TRUE(admin.ok()) << admin.status();
  auto killed = (*admin)->Exec(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  ASSERT_TRUE(killed.ok()) << killed.status();
  ASSERT_GE(killed->Int64(0, 0), 1);

  auto again = store->CreateApplication(Request("key-2"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->application.application_id(), "TB-430000-310000-20261125-00000002");
  EXPECT_GE(pg.GetStats().reconnects, 1);
  EXPECT_EQ(store->GetOutboxStats()->depth, 2);
}

TEST(PostgresDatabaseTest, AnUnreachableServerIsUnavailableNamingStorage) {
  PostgresDatabaseOptions options;
  options.conninfo = "host=/nonexistent/tongban-no-server port=5 dbname=x connect_timeout=2";
  options.reconnect_attempts = 1;
  options.reconnect_backoff = absl::Milliseconds(1);
  auto db = PostgresDatabase::Open(options);
  EXPECT_EQ(db.status().code(), absl::StatusCode::kUnavailable) << db.status();
  EXPECT_NE(db.status().message().find("storage unavailable"), std::string::npos) << db.status();
  EXPECT_NE(db.status().message().find("/nonexistent/tongban-no-server"), std::string::npos)
      << db.status();

  options.conninfo = "";
  EXPECT_EQ(PostgresDatabase::Open(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tongban::node
