// The PostgreSQL server the store tests run against, and a fresh database
// on it per test.
//
// Under ctest, the store.postgres_server fixture (CMakeLists.txt) starts one
// server for the whole run with pg_test_server.sh and names its state file
// in $TONGBAN_TEST_PG_STATE; the fixture's cleanup stops and removes it,
// also when tests failed. A test binary run by hand (no such variable)
// starts a server of its own with the same script on first use and stops
// it when its tests end. No server, no binaries: the test fails and says
// what to install (a PostgreSQL test never skips).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace tongban::node::testing {

// libpq conninfo of the test server without a database name.
absl::StatusOr<std::string> PostgresTestServerConninfo();

// A database created for one test and dropped (with its connections) when
// this object ends.
class ScratchPostgresDatabase final {
 public:
  static absl::StatusOr<std::unique_ptr<ScratchPostgresDatabase>> Create();
  ~ScratchPostgresDatabase();
  ScratchPostgresDatabase(const ScratchPostgresDatabase&) = delete;
  ScratchPostgresDatabase& operator=(const ScratchPostgresDatabase&) = delete;

  // conninfo of this database, for PostgresDatabaseOptions::conninfo.
  const std::string& conninfo() const { return conninfo_; }
  const std::string& name() const { return name_; }

 private:
  ScratchPostgresDatabase(std::string server, std::string name)
      : server_(std::move(server)),
        name_(std::move(name)),
        conninfo_(server_ + " dbname=" + name_) {}
  std::string server_;
  std::string name_;
  std::string conninfo_;
};

}  // namespace tongban::node::testing
