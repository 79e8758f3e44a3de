#include "postgres_test_server.h"

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "store/postgres_connection.h"

namespace tongban::node::testing {
namespace {

// The conninfo line of a pg_test_server.sh state file.
absl::StatusOr<std::string> ReadConninfo(const std::string& state_file) {
  std::ifstream in(state_file);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no PostgreSQL test server: cannot read its state file ", state_file,
        " (the store.postgres_server fixture failed to start it: see that test's output)"));
  }
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "conninfo=")) return line.substr(9);
  }
  return absl::FailedPreconditionError(
      absl::StrCat("the PostgreSQL test server's state file ", state_file, " has no conninfo"));
}

// A server this process started because no fixture provides one; stopped
// by the environment below when the tests end.
class OwnServer {
 public:
  static OwnServer& Get() {
    static auto* server = new OwnServer();
    return *server;
  }

  absl::StatusOr<std::string> Start() {
    absl::MutexLock lock(&mu_);
    if (!conninfo_.empty()) return conninfo_;
    if (!start_error_.ok()) return start_error_;
    const char* tmp = getenv("TMPDIR");
    std::string dir = std::string(tmp != nullptr ? tmp : "/tmp") + "/tongban-pgstate-XXXXXX";
    if (mkdtemp(dir.data()) == nullptr) {
      start_error_ = absl::InternalError(absl::StrCat("mkdtemp failed for ", dir));
      return start_error_;
    }
    state_dir_ = dir;
    state_file_ = dir + "/server.state";
    const std::string command =
        absl::StrCat("bash '", TONGBAN_PG_TEST_SERVER_SCRIPT, "' start '", state_file_, "'");
    if (std::system(command.c_str()) != 0) {
      start_error_ = absl::FailedPreconditionError(absl::StrCat(
          "could not start a PostgreSQL test server with ", TONGBAN_PG_TEST_SERVER_SCRIPT,
          " (its error is printed above); install postgresql-15"));
      return start_error_;
    }
    auto conninfo = ReadConninfo(state_file_);
    if (!conninfo.ok()) {
      start_error_ = conninfo.status();
      return start_error_;
    }
    conninfo_ = *conninfo;
    return conninfo_;
  }

  void Stop() {
    absl::MutexLock lock(&mu_);
    if (state_dir_.empty()) return;
    const std::string command =
        absl::StrCat("bash '", TONGBAN_PG_TEST_SERVER_SCRIPT, "' stop '", state_file_, "'");
    if (std::system(command.c_str()) != 0) {
      ADD_FAILURE() << "stopping the PostgreSQL test server failed: " << command;
    }
    std::error_code ignored;
    std::filesystem::remove_all(state_dir_, ignored);
    state_dir_.clear();
    conninfo_.clear();
  }

 private:
  absl::Mutex mu_;
  std::string state_dir_;
  std::string state_file_;
  std::string conninfo_;
  absl::Status start_error_;
};

class StopOwnServer : public ::testing::Environment {
 public:
  void TearDown() override { OwnServer::Get().Stop(); }
};
[[maybe_unused]] ::testing::Environment* const kStopOwnServer =
    ::testing::AddGlobalTestEnvironment(new StopOwnServer);

absl::Status Admin(const std::string& server, const std::string& sql) {
  auto conn = PgConnection::Connect(server + " dbname=postgres");
  if (!conn.ok()) return conn.status();
  return (*conn)->ExecScript(sql);
}

}  // namespace

absl::StatusOr<std::string> PostgresTestServerConninfo() {
  const char* state = getenv("TONGBAN_TEST_PG_STATE");
  if (state != nullptr && *state != '\0') return ReadConninfo(state);
  return OwnServer::Get().Start();
}

absl::StatusOr<std::unique_ptr<ScratchPostgresDatabase>> ScratchPostgresDatabase::Create() {
  auto server = PostgresTestServerConninfo();
  if (!server.ok()) return server.status();
  static std::atomic<int> counter{0};
  // Unique across the test processes ctest runs in parallel on one server.
  const std::string name = absl::StrCat("tb_test_", getpid(), "_", counter.fetch_add(1));
  if (absl::Status s = Admin(*server, absl::StrCat("CREATE DATABASE ", name)); !s.ok()) {
    return s;
  }
  return std::unique_ptr<ScratchPostgresDatabase>(new ScratchPostgresDatabase(*server, name));
}

ScratchPostgresDatabase::~ScratchPostgresDatabase() {
  // FORCE: a test that failed half-way may have left a connection open.
  absl::Status dropped =
      Admin(server_, absl::StrCat("DROP DATABASE IF EXISTS ", name_, " WITH (FORCE)"));
  if (!dropped.ok()) ADD_FAILURE() << "dropping test database " << name_ << ": " << dropped;
}

}  // namespace tongban::node::testing
