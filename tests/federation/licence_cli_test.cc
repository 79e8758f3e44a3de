// `tongbanctl licences` (docs/licences.md) run as a real process against real
// tongban-node and tongban-gateway processes, with the test PKI's officer and
// operator certificates: a Hunan (430000) officer checks Sichuan's (510000)
// demo marriage certificate through Hunan's node (`verify`); Sichuan's
// operator reads that check in Sichuan's disclosure log, its signature
// verified offline (`log`); a Sichuan officer reads the licence from the
// register, its signature verified (`show`); an unknown licence is NOT_FOUND;
// a log record altered in the database no longer verifies (exit 1).
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "child_process.h"
#include "federation.h"
#include "gtest/gtest.h"
#include "sqlite3.h"
#include "tongban/v1/licence.pb.h"

namespace tongban::testing {
namespace {

using std::chrono::seconds;

constexpr char kHunan[] = "430000";
constexpr char kSichuan[] = "510000";

// From node/demo_catalog/licences.tsv: Sichuan's marriage certificate of 张伟.
constexpr char kZhangWei[] = "430102199001011238";
constexpr char kMarriageNumber[] = "J510107-2019-000123";
constexpr char kMarriageId[] = "510000-MZ01-J510107-2019-000123";

std::string Officer(const std::string& p) { return "province/" + p + "/officer/officer-01"; }
std::string Operator(const std::string& p) { return "province/" + p + "/operator/operator-01"; }

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The lines of `text` that contain `part`.
int LinesWith(const std::string& text, const std::string& part) {
  int n = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (text.substr(start, end - start).find(part) != std::string::npos) ++n;
    start = end + 1;
  }
  return n;
}

// For failure messages, and the test's log (ctest -V): what a command printed.
std::string Show(const std::vector<std::string>& args, bool connection, const ProcessResult& r) {
  std::string cmd = "$ tongbanctl licences";
  for (const std::string& a : args) cmd += " " + a;
  return cmd + (connection ? " CONNECTION" : "") + "\n[exit " + std::to_string(r.exit_code) +
         "]\n" + r.out + (r.err.empty() ? "" : "[stderr]\n" + r.err);
}

ProcessResult RunCtl(const std::vector<std::string>& args,
                     const std::vector<std::string>& connection) {
  std::vector<std::string> argv = {TONGBAN_TONGBANCTL, "licences"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), connection.begin(), connection.end());
  ProcessResult r = RunProcess(argv, {}, seconds(30));
  std::cout << Show(args, !connection.empty(), r) << std::endl;
  return r;
}

// Rewrites the purpose of the stored disclosure `disclosure_id` in the node
// database `db_path`, keeping its signature, as someone with a database shell
// could (the node keeps running: SQLite in WAL mode). "" or the problem.
std::string AlterStoredPurpose(const std::string& db_path, const std::string& disclosure_id,
                               const std::string& purpose) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    std::string error = "cannot open " + db_path + ": " + sqlite3_errmsg(db);
    sqlite3_close(db);
    return error;
  }
  sqlite3_busy_timeout(db, 5000);
  std::string error;
  v1::LicenceDisclosure record;
  sqlite3_stmt* select = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT record FROM licence_disclosures WHERE disclosure_id = ?", -1,
                         &select, nullptr) != SQLITE_OK) {
    error = std::string("cannot read: ") + sqlite3_errmsg(db);
  } else {
    sqlite3_bind_text(select, 1, disclosure_id.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(select) != SQLITE_ROW ||
        !record.ParseFromArray(sqlite3_column_blob(select, 0), sqlite3_column_bytes(select, 0))) {
      error = "no readable record " + disclosure_id;
    }
  }
  sqlite3_finalize(select);
  if (error.empty()) {
    record.set_purpose(purpose);
    const std::string bytes = record.SerializeAsString();
    sqlite3_stmt* update = nullptr;
    if (sqlite3_prepare_v2(db, "UPDATE licence_disclosures SET record = ? WHERE disclosure_id = ?",
                           -1, &update, nullptr) != SQLITE_OK) {
      error = std::string("cannot update: ") + sqlite3_errmsg(db);
    } else {
      sqlite3_bind_blob(update, 1, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
      sqlite3_bind_text(update, 2, disclosure_id.c_str(), -1, SQLITE_TRANSIENT);
      if (sqlite3_step(update) != SQLITE_DONE || sqlite3_changes(db) != 1) {
        error = std::string("cannot update: ") + sqlite3_errmsg(db);
      }
    }
    sqlite3_finalize(update);
  }
  sqlite3_close(db);
  return error;
}

class LicenceCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FederationOptions options;
    options.name = "licence-cli";
    options.provinces = {kHunan, kSichuan};
    options.catalog_cache = false;
    federation_ = std::make_unique<Federation>(options);
    std::string error;
    ASSERT_TRUE(federation_->Start(&error)) << error;
  }
  void TearDown() override {
    ExpectEveryNodeRunning(federation_.get());
    KeepForPostMortem(federation_.get(), HasFailure());
  }

  // tongbanctl licences <args...> against `province`'s node as `identity`.
  ProcessResult Ctl(const std::vector<std::string>& args, const std::string& province,
                    const std::string& identity) {
    return RunCtl(args, TongbanctlNodeFlags(*federation_, province, identity));
  }

  std::unique_ptr<Federation> federation_;
};

TEST_F(LicenceCliTest, VerifyThenTheIssuersSignedLogAndRegisterShowIt) {
  // A Hunan officer checks Sichuan's licence at Hunan's node (relayed to
  // Sichuan through the gateway): a match, valid, with no end date.
  ProcessResult verify =
      Ctl({"verify", "--issuer", kSichuan, "--type", "MZ01", "--number", kMarriageNumber,
           "--holder", kZhangWei, "--purpose", "核验纸质结婚证"},
          kHunan, Officer(kHunan));
  ASSERT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_TRUE(Contains(verify.out, "match: VALID")) << verify.out;
  const size_t at = verify.out.find("disclosure 510000-d-");
  ASSERT_NE(at, std::string::npos) << verify.out;
  const std::string disclosure_id = verify.out.substr(at + 11, 9 + 32);

  // Sichuan's operator reads Sichuan's log: exactly that check, signed by
  // Sichuan, verified offline against the CA bundle.
  ProcessResult log = Ctl({"log"}, kSichuan, Operator(kSichuan));
  EXPECT_EQ(log.exit_code, 0) << log.out << log.err;
  EXPECT_EQ(LinesWith(log.out, "signature ok"), 1) << log.out;
  EXPECT_EQ(LinesWith(log.out, "510000-d-"), 1) << log.out;
  EXPECT_TRUE(Contains(log.out, disclosure_id)) << log.out;
  EXPECT_TRUE(Contains(log.out, " CST  ")) << log.out;
  EXPECT_TRUE(Contains(log.out, "  CHECK  by 430000 spiffe://tongban/" + Officer(kHunan)))
      << log.out;
  EXPECT_TRUE(Contains(log.out, std::string("asked MZ01/") + kMarriageNumber + "/" + kZhangWei))
      << log.out;
  EXPECT_TRUE(Contains(log.out, std::string("matched ") + kMarriageId + " VALID")) << log.out;
  EXPECT_TRUE(Contains(log.out, "purpose 核验纸质结婚证")) << log.out;
  EXPECT_TRUE(Contains(log.out, "1 record, every signature verified")) << log.out;
  // The filters reach the node: nothing asked by Sichuan itself.
  ProcessResult filtered = Ctl({"log", "--from-province", kSichuan}, kSichuan, Operator(kSichuan));
  EXPECT_EQ(filtered.exit_code, 0) << filtered.err;
  EXPECT_TRUE(Contains(filtered.out, "no disclosures")) << filtered.out;

  // A Sichuan officer reads the licence from Sichuan's register.
  ProcessResult show = Ctl({"show", kMarriageId}, kSichuan, Officer(kSichuan));
  EXPECT_EQ(show.exit_code, 0) << show.out << show.err;
  EXPECT_TRUE(Contains(show.out, "张伟")) << show.out;
  EXPECT_TRUE(Contains(show.out, "配偶: 王芳")) << show.out;
  EXPECT_TRUE(Contains(show.out, "成都市武侯区民政局")) << show.out;
  EXPECT_TRUE(Contains(show.out, "status:        VALID")) << show.out;
  EXPECT_TRUE(Contains(show.out, "signature ok")) << show.out;
  EXPECT_FALSE(Contains(show.out, "FAILED")) << show.out;

  // An id not in the register: the node's NOT_FOUND, exit 1.
  ProcessResult unknown =
      Ctl({"show", "510000-MZ01-J510107-2019-999999"}, kSichuan, Officer(kSichuan));
  EXPECT_EQ(unknown.exit_code, 1) << unknown.out;
  EXPECT_TRUE(Contains(unknown.err, "tongbanctl licences: NOT_FOUND: ")) << unknown.err;

  // The record altered in Sichuan's database: shown as read, but its
  // signature no longer verifies, and the log exits 1.
  ASSERT_EQ(AlterStoredPurpose(federation_->workdir() + "/" + kSichuan + "/node.db", disclosure_id,
                               "随便看看"),
            "");
  ProcessResult altered = Ctl({"log", "--holder", kZhangWei}, kSichuan, Operator(kSichuan));
  EXPECT_EQ(altered.exit_code, 1) << altered.out << altered.err;
  EXPECT_TRUE(Contains(altered.out, "purpose 随便看看")) << altered.out;
  EXPECT_EQ(LinesWith(altered.out, "SIGNATURE FAILED: disclosure " + disclosure_id), 1)
      << altered.out;
  EXPECT_FALSE(Contains(altered.out, "signature ok")) << altered.out;
  EXPECT_TRUE(Contains(altered.out, "NOT VERIFIED: 1 of 1 records")) << altered.out;
}

TEST(LicenceCliUsageTest, EachCommandExplainsItselfAndUsageErrorsExitTwo) {
  for (const char* command : {"log", "show", "verify"}) {
    ProcessResult help = RunCtl({command, "--help"}, {});
    EXPECT_EQ(help.exit_code, 0) << command << ": " << help.err;
    EXPECT_TRUE(Contains(help.out, std::string("Usage: tongbanctl licences ") + command))
        << help.out;
    EXPECT_TRUE(Contains(help.out, "--node HOST:PORT")) << help.out;
  }
  ProcessResult all = RunCtl({"--help"}, {});
  EXPECT_EQ(all.exit_code, 0) << all.err;
  // No connection, a missing purpose, an unknown command: usage errors.
  const std::vector<std::string> connection = {"--node", "127.0.0.1:1", "--cert", "c.pem",
                                               "--key",  "k.pem",       "--ca",   "ca.pem"};
  ProcessResult no_connection = RunCtl({"log"}, {});
  EXPECT_EQ(no_connection.exit_code, 2) << no_connection.err;
  EXPECT_TRUE(Contains(no_connection.err, "--node HOST:PORT is required")) << no_connection.err;
  ProcessResult no_purpose = RunCtl({"verify", "--issuer", kSichuan, "--type", "MZ01", "--number",
                                     kMarriageNumber, "--holder", kZhangWei},
                                    connection);
  EXPECT_EQ(no_purpose.exit_code, 2) << no_purpose.err;
  EXPECT_TRUE(Contains(no_purpose.err, "--purpose")) << no_purpose.err;
  ProcessResult unknown = RunCtl({"fetch"}, connection);
  EXPECT_EQ(unknown.exit_code, 2) << unknown.err;
}

}  // namespace
}  // namespace tongban::testing
