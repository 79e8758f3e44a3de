// Durability: a child process files applications from several threads and
// reports each acknowledged id through a pipe; the parent SIGKILLs it after
// N acknowledgements (while other writes are in flight), reopens the file and
// checks that every acknowledged application is there, that the file is
// intact, and that no id sequence is handed out twice.
//
// SIGKILL loses the process, not the OS page cache, so this proves "never
// acknowledged before COMMIT" and crash recovery of the WAL; power-loss
// durability additionally rests on synchronous=FULL.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "application_id.h"
#include "clock.h"
#include "gtest/gtest.h"
#include "store/sqlite_application_store.h"
#include "store_test_util.h"

namespace tongban::node {
namespace {

using testing::TempDir;

constexpr char kOwn[] = "430000";
constexpr int kChildThreads = 4;

CreateRequest Request(const std::string& key) {
  CreateRequest request;
  v1::Application& app = request.application;
  app.set_accepting_province(kOwn);
  app.set_handling_province("310000");
  app.set_item_code("GG00000001");
  app.mutable_applicant()->set_id_number("430102199001011234");
  app.set_state(v1::APPLICATION_STATE_RECEIVED);
  v1::ApplicationEvent* submit = app.add_events();
  submit->set_action(v1::APPLICATION_ACTION_SUBMIT);
  submit->mutable_at()->set_seconds(1795572000);
  request.idempotency_scope = "crash-test";
  request.idempotency_key = key;
  request.request_fingerprint = key;
  request.make_outbox = [](const v1::Application& stored) {
    OutboxEntry entry;
    entry.application_id = stored.application_id();
    entry.target_province = "310000";
    entry.payload = stored.SerializeAsString();
    return std::vector<OutboxEntry>{entry};
  };
  return request;
}

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// The child: files applications until killed. Never returns to gtest.
[[noreturn]] void RunChild(const std::string& path, int report_fd, int round) {
  SqliteDatabaseOptions options;
  options.path = path;
  auto db = SqliteDatabase::Open(options);
  if (!db.ok()) {
    WriteAll(report_fd, absl::StrCat("ERR open: ", db.status().ToString(), "\n"));
    _exit(2);
  }
  SystemClock clock;
  SqliteApplicationStore store(**db, kOwn, clock);
  std::mutex report_mu;  // one line at a time on the pipe
  std::vector<std::thread> threads;
  for (int t = 0; t < kChildThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        auto created = store.CreateApplication(Request(absl::StrCat("r", round, "-t", t, "-", i)));
        std::lock_guard<std::mutex> lock(report_mu);
        const std::string line =
            created.ok() ? absl::StrCat(created->application.application_id(), " r", round, "-t", t,
                                        "-", i, "\n")
                         : absl::StrCat("ERR create: ", created.status().ToString(), "\n");
        if (!WriteAll(report_fd, line) || !created.ok()) _exit(3);
      }
    });
  }
  for (auto& t : threads) t.join();
  _exit(0);
}

struct Ack {
  std::string application_id;
  std::string key;
};

// Reads acknowledgement lines until `want` arrived or the pipe closed.
std::vector<Ack> ReadAcks(int fd, size_t want, std::string& error) {
  std::vector<Ack> acks;
  std::string buffer;
  char chunk[4096];
  while (acks.size() < want) {
    const ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = "child closed the pipe early";
      break;
    }
    buffer.append(chunk, static_cast<size_t>(n));
    size_t eol;
    while ((eol = buffer.find('\n')) != std::string::npos && acks.size() < want) {
      const std::string line = buffer.substr(0, eol);
      buffer.erase(0, eol + 1);
      const size_t space = line.find(' ');
      if (line.rfind("TB-", 0) != 0 || space == std::string::npos) {
        error = line;
        return acks;
      }
      acks.push_back(Ack{line.substr(0, space), line.substr(space + 1)});
    }
  }
  return acks;
}

void ExpectIntact(SqliteDatabase& db) {
  std::string result;
  absl::Status s = db.Read([&](sqlite3* conn) -> absl::Status {
    auto stmt = SqliteStatement::Prepare(conn, "PRAGMA integrity_check");
    if (!stmt.ok()) return stmt.status();
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    result = stmt->ColumnText(0);
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(result, "ok");
}

int64_t SequenceOf(const std::string& application_id) {
  auto parts = ParseApplicationId(application_id);
  EXPECT_TRUE(parts.ok()) << parts.status();
  return parts.ok() ? parts->sequence : -1;
}

TEST(StoreCrashTest, EveryAcknowledgedApplicationSurvivesSigkill) {
  TempDir dir;
  const std::string path = dir.File("node.db");
  std::vector<Ack> all_acks;
  for (int round = 0; round < 5; ++round) {
    const size_t kill_after = 30 + 45 * round;
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(fds[0]);
      RunChild(path, fds[1], round);
    }
    close(fds[1]);
    std::string error;
    std::vector<Ack> acks = ReadAcks(fds[0], kill_after, error);
    kill(child, SIGKILL);  // mid-flight: other threads are inside Write
    int wait_status = 0;
    ASSERT_EQ(waitpid(child, &wait_status, 0), child);
    close(fds[0]);
    ASSERT_EQ(acks.size(), kill_after) << "round " << round << ": " << error;
    ASSERT_TRUE(WIFSIGNALED(wait_status)) << "child exited by itself: " << error;
    all_acks.insert(all_acks.end(), acks.begin(), acks.end());

    auto db = testing::OpenOrDie(path);
    ASSERT_NE(db, nullptr);
    ExpectIntact(*db);
    SystemClock clock;
    SqliteApplicationStore store(*db, kOwn, clock);
    int64_t max_acked = 0;
    for (const Ack& ack : all_acks) {
      auto app = store.GetApplication(ack.application_id, /*with_events=*/true);
      ASSERT_TRUE(app.ok()) << "round " << round << ": acknowledged " << ack.application_id
                            << " is gone: " << app.status();
      EXPECT_EQ(app->events_size(), 1);
      max_acked = std::max(max_acked, SequenceOf(ack.application_id));
    }
    // Acknowledged means done once: the same request replays, not refiles.
    auto replay = store.CreateApplication(Request(acks.back().key));
    ASSERT_TRUE(replay.ok()) << replay.status();
    EXPECT_TRUE(replay->replayed);
    EXPECT_EQ(replay->application.application_id(), acks.back().application_id);
    // The sequences of acknowledged applications are never handed out again.
    auto fresh = store.CreateApplication(Request(absl::StrCat("fresh-", round)));
    ASSERT_TRUE(fresh.ok()) << fresh.status();
    EXPECT_GT(SequenceOf(fresh->application.application_id()), max_acked);
    all_acks.push_back(Ack{fresh->application.application_id(), absl::StrCat("fresh-", round)});
    db.reset();  // no threads may run in this process at the next fork
  }
}

}  // namespace
}  // namespace tongban::node
