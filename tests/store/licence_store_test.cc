// LicenceStore semantics, checked on every implementation (SQLite and
// PostgreSQL: store_backends.h), and on PostgreSQL what only replicas
// sharing one database do: appending and inserting at once.
#include <algorithm>
#include <atomic>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/barrier.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "store/postgres_licence_store.h"
#include "store/sqlite_licence_store.h"
#include "store_backends.h"

namespace tongban::node {
namespace {

using testing::BackendDatabase;
using testing::kAllStoreBackends;
using testing::StoreBackend;
using testing::StoreBackendName;
using testing::TempDir;

constexpr char kSichuan[] = "510000";  // this node: the issuing province
constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";
constexpr char kZhangSan[] = "510107199001011234";
constexpr char kLiSi[] = "510104198507153456";
constexpr char kCompany[] = "91510100MA61234567";

v1::Licence MakeLicence(const std::string& licence_id, const std::string& type_code,
                        const std::string& holder_id, const std::string& holder_name = "张三") {
  v1::Licence licence;
  v1::LicenceContent& content = *licence.mutable_content();
  content.set_licence_id(licence_id);
  content.set_type_code(type_code);
  content.set_issuing_province(kSichuan);
  content.set_issuing_authority("成都市武侯区民政局");
  content.set_number(licence_id.substr(licence_id.rfind('-') + 1));
  content.set_holder_kind(holder_id == kCompany ? v1::HOLDER_KIND_ORGANIZATION
                                                : v1::HOLDER_KIND_PERSON);
  content.set_holder_id(holder_id);
  content.set_holder_name(holder_name);
  content.mutable_issued_at()->set_seconds(1'558'310'400);
  content.set_valid_from("2019-05-20");
  v1::LicenceField* field = content.add_fields();
  field->set_name("登记日期");
  field->set_value("2019年05月20日");
  licence.mutable_signature()->set_algorithm("ecdsa-p256-sha256");
  licence.mutable_signature()->set_signature(std::string("\x30\x45\x02\x21\x00\xff", 6));
  return licence;
}

v1::Licence Revoked(v1::Licence licence, const std::string& reason) {
  v1::LicenceRevocation& revocation = *licence.mutable_revocation();
  revocation.set_licence_id(licence.content().licence_id());
  revocation.mutable_at()->set_seconds(1'700'000'000);
  revocation.set_reason(reason);
  revocation.set_revoked_by("spiffe://tongban/province/510000/officer/wang");
  return licence;
}

v1::LicenceDisclosure MakeDisclosure(const std::string& disclosure_id, const std::string& holder_id,
                                     const std::string& licence_id,
                                     const std::string& requester_province) {
  v1::LicenceDisclosure disclosure;
  disclosure.set_disclosure_id(disclosure_id);
  disclosure.set_issuing_province(kSichuan);
  disclosure.set_kind(v1::DISCLOSURE_KIND_CHECK);
  disclosure.set_type_code("MZ01");
  disclosure.set_number("J1");
  disclosure.set_holder_id(holder_id);
  disclosure.set_licence_id(licence_id);
  disclosure.set_requester_province(requester_province);
  disclosure.set_requester("spiffe://tongban/province/430000/officer/li");
  disclosure.set_purpose("办理户口迁移，核验结婚证");
  disclosure.set_matched(!licence_id.empty());
  disclosure.set_status(licence_id.empty() ? v1::LICENCE_STATUS_UNSPECIFIED
                                           : v1::LICENCE_STATUS_VALID);
  return disclosure;
}

LicenceFilter Holder(const std::string& holder_id) {
  LicenceFilter filter;
  filter.holder_id = holder_id;
  return filter;
}

std::vector<std::string> LicenceIds(const std::vector<v1::Licence>& licences) {
  std::vector<std::string> ids;
  for (const v1::Licence& l : licences) ids.push_back(l.content().licence_id());
  return ids;
}

// The store of one backend, on a database the test can reopen.
class LicenceStoreTest : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override {
    if (GetParam() == StoreBackend::kPostgres) {
      auto db = BackendDatabase::Open(StoreBackend::kPostgres);
      ASSERT_TRUE(db.ok()) << db.status();
      postgres_ = *std::move(db);
    }
    Reopen();
  }

  // Closes the database and opens it again (PostgreSQL: a new pool, as a
  // restarted replica has), with a new store on it.
  void Reopen() {
    store_.reset();
    if (GetParam() == StoreBackend::kSqlite) {
      if (sqlite_ != nullptr) sqlite_->Close();
      sqlite_ = testing::OpenOrDie(dir_.File("node.db"));
      ASSERT_NE(sqlite_, nullptr);
      store_ = std::make_unique<SqliteLicenceStore>(*sqlite_);
      return;
    }
    auto reopened = postgres_->OpenReplica();
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    replica_ = *std::move(reopened);
    store_ = std::make_unique<PostgresLicenceStore>(*replica_->postgres());
  }

  // Four licences: 张三's 结婚证 and 户口簿, 李四's 结婚证, a company's 营业执照.
  void Seed() {
    ASSERT_TRUE(store_
                    ->InsertLicences({
                        MakeLicence("510000-MZ01-J2", "MZ01", kZhangSan),
                        MakeLicence("510000-GA01-H7", "GA01", kZhangSan),
                        MakeLicence("510000-MZ01-J10", "MZ01", kLiSi, "李四"),
                        MakeLicence("510000-SC01-B3", "SC01", kCompany, "成都天府科技有限公司"),
                    })
                    .ok());
  }

  std::vector<std::string> List(const LicenceFilter& filter, const std::string& after = "",
                                int limit = 100) {
    auto licences = store_->ListLicences(filter, after, limit);
    EXPECT_TRUE(licences.ok()) << licences.status();
    return licences.ok() ? LicenceIds(*licences) : std::vector<std::string>{};
  }

  int64_t Append(const v1::LicenceDisclosure& disclosure) {
    auto sequence = store_->AppendDisclosure(disclosure);
    EXPECT_TRUE(sequence.ok()) << sequence.status();
    return sequence.ok() ? *sequence : -1;
  }

  std::vector<std::string> Disclosures(const DisclosureFilter& filter, int64_t before = 0,
                                       int limit = 100) {
    auto stored = store_->ListDisclosures(filter, before, limit);
    EXPECT_TRUE(stored.ok()) << stored.status();
    std::vector<std::string> ids;
    if (stored.ok()) {
      for (const StoredDisclosure& d : *stored) ids.push_back(d.disclosure.disclosure_id());
    }
    return ids;
  }

  TempDir dir_;                                // SQLite's file
  std::unique_ptr<BackendDatabase> postgres_;  // the scratch database; outlives replica_
  std::unique_ptr<SqliteDatabase> sqlite_;     // outlive the store
  std::unique_ptr<BackendDatabase> replica_;
  std::unique_ptr<LicenceStore> store_;
};

TEST_P(LicenceStoreTest, IsEmptyUntilALicenceIsStored) {
  EXPECT_TRUE(*store_->IsEmpty());
  // Disclosures are not licences.
  Append(MakeDisclosure("510000-d-01", kZhangSan, "", kHunan));
  EXPECT_TRUE(*store_->IsEmpty());
  Seed();
  EXPECT_FALSE(*store_->IsEmpty());
}

TEST_P(LicenceStoreTest, InsertsSeveralAtOnceAndRoundTripsChineseText) {
  Seed();
  auto licence = store_->GetLicence("510000-MZ01-J2");
  ASSERT_TRUE(licence.ok()) << licence.status();
  EXPECT_EQ(licence->content().holder_name(), "张三");
  EXPECT_EQ(licence->content().issuing_authority(), "成都市武侯区民政局");
  EXPECT_EQ(licence->content().fields(0).name(), "登记日期");
  EXPECT_EQ(licence->content().fields(0).value(), "2019年05月20日");
  EXPECT_EQ(licence->signature().signature(), std::string("\x30\x45\x02\x21\x00\xff", 6));
  EXPECT_FALSE(licence->has_revocation());
  EXPECT_EQ(store_->GetLicence("510000-SC01-B3")->content().holder_name(), "成都天府科技有限公司");
  EXPECT_EQ(store_->GetLicence("510000-MZ01-J10")->content().holder_id(), kLiSi);
  EXPECT_EQ(store_->GetLicence("510000-GA01-H7")->content().type_code(), "GA01");
  EXPECT_TRUE(store_->InsertLicences({}).ok());
}

TEST_P(LicenceStoreTest, GetLicenceOfAnUnknownIdIsNotFoundNamingIt) {
  Seed();
  auto missing = store_->GetLicence("510000-MZ01-J999");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "licence 510000-MZ01-J999 not found");
}

TEST_P(LicenceStoreTest, ADuplicateIdFailsTheWholeBatch) {
  Seed();
  // An earlier licence's id: the new one before it in the batch is not kept.
  absl::Status duplicate = store_->InsertLicences({
      MakeLicence("510000-MZ01-J3", "MZ01", kLiSi),
      MakeLicence("510000-MZ01-J2", "MZ01", kLiSi, "李四"),
  });
  EXPECT_EQ(duplicate.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(duplicate.message(), "licence 510000-MZ01-J2 already exists");
  EXPECT_EQ(store_->GetLicence("510000-MZ01-J3").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetLicence("510000-MZ01-J2")->content().holder_id(), kZhangSan);

  // An id twice in one batch.
  duplicate = store_->InsertLicences({
      MakeLicence("510000-MZ01-J4", "MZ01", kLiSi),
      MakeLicence("510000-MZ01-J4", "MZ01", kZhangSan),
  });
  EXPECT_EQ(duplicate.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(duplicate.message(), "licence 510000-MZ01-J4 already exists");
  EXPECT_EQ(store_->GetLicence("510000-MZ01-J4").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(List(LicenceFilter()).size(), 4u);

  // The store still takes a good batch afterwards.
  EXPECT_TRUE(store_->InsertLicences({MakeLicence("510000-MZ01-J4", "MZ01", kLiSi)}).ok());
  EXPECT_EQ(List(LicenceFilter()).size(), 5u);
}

TEST_P(LicenceStoreTest, UpdateStoresTheRevocationDurably) {
  Seed();
  v1::Licence revoked = Revoked(*store_->GetLicence("510000-MZ01-J2"), "离婚登记，结婚证收回");
  ASSERT_TRUE(store_->UpdateLicence(revoked).ok());
  Reopen();
  auto stored = store_->GetLicence("510000-MZ01-J2");
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_TRUE(stored->has_revocation());
  EXPECT_EQ(stored->revocation().reason(), "离婚登记，结婚证收回");
  EXPECT_EQ(stored->content().holder_name(), "张三");
  LicenceFilter filter;
  filter.revoked = true;
  EXPECT_EQ(List(filter), std::vector<std::string>{"510000-MZ01-J2"});

  absl::Status unknown =
      store_->UpdateLicence(Revoked(MakeLicence("510000-MZ01-J999", "MZ01", kZhangSan), "不存在"));
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(unknown.message(), "licence 510000-MZ01-J999 not found");
  EXPECT_EQ(store_->GetLicence("510000-MZ01-J999").status().code(), absl::StatusCode::kNotFound);
}

// SQLite's store keeps licences it read: a revocation must still be read by
// every read that starts after UpdateLicence returned, also by readers that
// were reading (and keeping) the licence while the update ran.
TEST_P(LicenceStoreTest, EveryReadAfterAnUpdateSeesIt) {
  Seed();
  const std::string id = "510000-MZ01-J2";
  auto before = store_->GetLicence(id);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_FALSE(before->has_revocation());
  std::atomic<bool> updated{false};
  std::atomic<int> stale{0}, failed{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      for (int after = 0; after < 200;) {
        const bool update_returned = updated.load();
        auto licence = store_->GetLicence(id);
        if (!licence.ok()) {
          ++failed;
          return;
        }
        if (update_returned) {
          ++after;
          if (!licence->has_revocation()) ++stale;
        }
      }
    });
  }
  ASSERT_TRUE(store_->UpdateLicence(Revoked(*before, "离婚登记，结婚证收回")).ok());
  updated = true;
  for (std::thread& r : readers) r.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(stale.load(), 0);
  EXPECT_TRUE(store_->GetLicence(id)->has_revocation());
}

TEST_P(LicenceStoreTest, ListsFilteredByHolderTypeAndRevocation) {
  Seed();
  ASSERT_TRUE(
      store_->UpdateLicence(Revoked(*store_->GetLicence("510000-GA01-H7"), "户口迁出")).ok());
  // Byte order of the ids: "J10" before "J2".
  EXPECT_EQ(List(LicenceFilter()), (std::vector<std::string>{"510000-GA01-H7", "510000-MZ01-J10",
                                                             "510000-MZ01-J2", "510000-SC01-B3"}));
  EXPECT_EQ(List(Holder(kZhangSan)),
            (std::vector<std::string>{"510000-GA01-H7", "510000-MZ01-J2"}));
  EXPECT_EQ(List(Holder("110101190001010000")), std::vector<std::string>{});

  LicenceFilter type;
  type.type_code = "MZ01";
  EXPECT_EQ(List(type), (std::vector<std::string>{"510000-MZ01-J10", "510000-MZ01-J2"}));
  type.holder_id = kLiSi;
  EXPECT_EQ(List(type), std::vector<std::string>{"510000-MZ01-J10"});

  LicenceFilter revoked;
  revoked.revoked = true;
  EXPECT_EQ(List(revoked), std::vector<std::string>{"510000-GA01-H7"});
  revoked.revoked = false;
  EXPECT_EQ(List(revoked),
            (std::vector<std::string>{"510000-MZ01-J10", "510000-MZ01-J2", "510000-SC01-B3"}));
  LicenceFilter in_force = Holder(kZhangSan);
  in_force.revoked = false;
  EXPECT_EQ(List(in_force), std::vector<std::string>{"510000-MZ01-J2"});
  in_force.revoked = true;
  EXPECT_EQ(List(in_force), std::vector<std::string>{"510000-GA01-H7"});
  in_force.type_code = "MZ01";
  EXPECT_EQ(List(in_force), std::vector<std::string>{});
}

TEST_P(LicenceStoreTest, ListsPageByPageAfterALicenceId) {
  Seed();
  EXPECT_EQ(List(LicenceFilter(), "", 2),
            (std::vector<std::string>{"510000-GA01-H7", "510000-MZ01-J10"}));
  EXPECT_EQ(List(LicenceFilter(), "510000-MZ01-J10", 2),
            (std::vector<std::string>{"510000-MZ01-J2", "510000-SC01-B3"}));
  EXPECT_EQ(List(LicenceFilter(), "510000-SC01-B3", 2), std::vector<std::string>{});
  // A cursor need not be a stored id.
  EXPECT_EQ(List(LicenceFilter(), "510000-MZ01-J1", 1),
            std::vector<std::string>{"510000-MZ01-J10"});
  // With a filter, through the holder's index.
  EXPECT_EQ(List(Holder(kZhangSan), "", 1), std::vector<std::string>{"510000-GA01-H7"});
  EXPECT_EQ(List(Holder(kZhangSan), "510000-GA01-H7", 1),
            std::vector<std::string>{"510000-MZ01-J2"});
  EXPECT_EQ(List(Holder(kZhangSan), "510000-MZ01-J2", 1), std::vector<std::string>{});
}

TEST_P(LicenceStoreTest, RejectsBadArguments) {
  EXPECT_EQ(store_->ListLicences(LicenceFilter(), "", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ListDisclosures(DisclosureFilter(), 0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ListDisclosures(DisclosureFilter(), -1, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status keyless =
      store_->InsertLicences({MakeLicence("510000-MZ01-J2", "MZ01", kZhangSan), v1::Licence()});
  EXPECT_EQ(keyless.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(keyless.message(), "licences[1] has no content.licence_id");
  EXPECT_TRUE(*store_->IsEmpty());
  EXPECT_EQ(store_->UpdateLicence(v1::Licence()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->AppendDisclosure(v1::LicenceDisclosure()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(LicenceStoreTest, AppendedDisclosuresGetIncreasingSequences) {
  const int64_t first = Append(MakeDisclosure("510000-d-01", kZhangSan, "510000-MZ01-J2", kHunan));
  const int64_t second = Append(MakeDisclosure("510000-d-02", kLiSi, "", kShanghai));
  const int64_t third = Append(MakeDisclosure("510000-d-03", kZhangSan, "", kSichuan));
  EXPECT_GT(first, 0);
  EXPECT_GT(second, first);
  EXPECT_GT(third, second);

  auto stored = store_->ListDisclosures(DisclosureFilter(), 0, 10);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->size(), 3u);
  EXPECT_EQ((*stored)[0].sequence, third);
  EXPECT_EQ((*stored)[2].sequence, first);
  const v1::LicenceDisclosure& oldest = (*stored)[2].disclosure;
  EXPECT_EQ(oldest.purpose(), "办理户口迁移，核验结婚证");
  EXPECT_EQ(oldest.licence_id(), "510000-MZ01-J2");
  EXPECT_TRUE(oldest.matched());
  EXPECT_EQ(oldest.status(), v1::LICENCE_STATUS_VALID);

  // Sequences are not handed out again after a reopen.
  Reopen();
  EXPECT_GT(Append(MakeDisclosure("510000-d-04", kZhangSan, "", kHunan)), third);
}

TEST_P(LicenceStoreTest, ADuplicateDisclosureIdIsRefusedAndNotStored) {
  Append(MakeDisclosure("510000-d-01", kZhangSan, "510000-MZ01-J2", kHunan));
  auto again = store_->AppendDisclosure(MakeDisclosure("510000-d-01", kLiSi, "", kShanghai));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(again.status().message(), "disclosure 510000-d-01 already exists");
  auto stored = store_->ListDisclosures(DisclosureFilter(), 0, 10);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].disclosure.holder_id(), kZhangSan);
}

// The callback API's append (FederationService's licence calls): the same
// row and sequence as AppendDisclosure, given to `done` once stored, and the
// same refusal of a duplicate id.
TEST_P(LicenceStoreTest, AsyncAppendAnswersWithTheStoredSequence) {
  const int64_t first = Append(MakeDisclosure("510000-d-01", kZhangSan, "", kHunan));
  absl::Notification answered, refused;
  absl::StatusOr<int64_t> sequence, duplicate;
  store_->AppendDisclosureAsync(MakeDisclosure("510000-d-02", kLiSi, "", kShanghai),
                                [&](absl::StatusOr<int64_t> s) {
                                  sequence = s;
                                  answered.Notify();
                                });
  answered.WaitForNotification();
  ASSERT_TRUE(sequence.ok()) << sequence.status();
  EXPECT_GT(*sequence, first);
  EXPECT_EQ(Disclosures(DisclosureFilter()),
            (std::vector<std::string>{"510000-d-02", "510000-d-01"}));

  store_->AppendDisclosureAsync(MakeDisclosure("510000-d-02", kZhangSan, "", kHunan),
                                [&](absl::StatusOr<int64_t> s) {
                                  duplicate = s;
                                  refused.Notify();
                                });
  refused.WaitForNotification();
  EXPECT_EQ(duplicate.status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_P(LicenceStoreTest, ListsDisclosuresNewestFirstFilteredAndPaged) {
  // d-1 .. d-6, alternating holders; 张三's matched licence J2 twice.
  std::vector<int64_t> sequences;
  sequences.push_back(Append(MakeDisclosure("d-1", kZhangSan, "510000-MZ01-J2", kHunan)));
  sequences.push_back(Append(MakeDisclosure("d-2", kLiSi, "510000-MZ01-J10", kHunan)));
  sequences.push_back(Append(MakeDisclosure("d-3", kZhangSan, "", kShanghai)));
  sequences.push_back(Append(MakeDisclosure("d-4", kLiSi, "", kSichuan)));
  sequences.push_back(Append(MakeDisclosure("d-5", kZhangSan, "510000-MZ01-J2", kShanghai)));
  sequences.push_back(Append(MakeDisclosure("d-6", kLiSi, "510000-MZ01-J10", kHunan)));

  using Ids = std::vector<std::string>;
  EXPECT_EQ(Disclosures(DisclosureFilter()), (Ids{"d-6", "d-5", "d-4", "d-3", "d-2", "d-1"}));

  DisclosureFilter holder;
  holder.holder_id = kZhangSan;
  EXPECT_EQ(Disclosures(holder), (Ids{"d-5", "d-3", "d-1"}));
  DisclosureFilter licence;
  licence.licence_id = "510000-MZ01-J10";
  EXPECT_EQ(Disclosures(licence), (Ids{"d-6", "d-2"}));
  DisclosureFilter requester;
  requester.requester_province = kHunan;
  EXPECT_EQ(Disclosures(requester), (Ids{"d-6", "d-2", "d-1"}));
  requester.holder_id = kZhangSan;
  EXPECT_EQ(Disclosures(requester), Ids{"d-1"});
  requester.licence_id = "510000-MZ01-J2";
  EXPECT_EQ(Disclosures(requester), Ids{"d-1"});
  requester.holder_id = kLiSi;  // J2 is not 李四's
  EXPECT_EQ(Disclosures(requester), Ids{});
  DisclosureFilter nobody;
  nobody.requester_province = "110000";
  EXPECT_EQ(Disclosures(nobody), Ids{});

  // Pages: below the last sequence of the previous page.
  auto page = store_->ListDisclosures(DisclosureFilter(), 0, 4);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 4u);
  EXPECT_EQ(page->back().sequence, sequences[2]);
  EXPECT_EQ(Disclosures(DisclosureFilter(), page->back().sequence, 4), (Ids{"d-2", "d-1"}));
  EXPECT_EQ(Disclosures(DisclosureFilter(), sequences[0], 4), Ids{});
  EXPECT_EQ(Disclosures(holder, 0, 2), (Ids{"d-5", "d-3"}));
  EXPECT_EQ(Disclosures(holder, sequences[2], 2), Ids{"d-1"});
  EXPECT_EQ(Disclosures(licence, sequences[5], 1), Ids{"d-2"});
  EXPECT_EQ(Disclosures(requester, sequences[5], 10), Ids{});
}

INSTANTIATE_TEST_SUITE_P(Backends, LicenceStoreTest, kAllStoreBackends, StoreBackendName);

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

// Two replicas of the province: each a PostgresDatabase of its own on one
// database, as two node processes have.
class PostgresLicenceReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto first = BackendDatabase::Open(StoreBackend::kPostgres);
    ASSERT_TRUE(first.ok()) << first.status();
    auto second = (*first)->OpenReplica();
    ASSERT_TRUE(second.ok()) << second.status();
    db_[0] = *std::move(first);
    db_[1] = *std::move(second);
    for (int r = 0; r < 2; ++r) {
      store_[r] = std::make_unique<PostgresLicenceStore>(*db_[r]->postgres());
    }
  }

  std::unique_ptr<BackendDatabase> db_[2];  // outlive the stores
  std::unique_ptr<LicenceStore> store_[2];
};

TEST_F(PostgresLicenceReplicasTest, ConcurrentAppendsGetDistinctSequencesAndLoseNothing) {
  constexpr int kThreads = 4, kEach = 15;
  std::vector<int64_t> sequences[2][kThreads];
  RunConcurrently(2, kThreads, [&](int r, int t) {
    for (int i = 0; i < kEach; ++i) {
      auto sequence = store_[r]->AppendDisclosure(
          MakeDisclosure(absl::StrCat("510000-d-", r, "-", t, "-", i), kZhangSan, "", kHunan));
      ASSERT_TRUE(sequence.ok()) << sequence.status();
      sequences[r][t].push_back(*sequence);
    }
  });
  constexpr int kTotal = 2 * kThreads * kEach;
  std::set<int64_t> distinct;
  for (auto& replica : sequences) {
    for (auto& thread : replica) {
      // One thread's appends follow each other: increasing.
      EXPECT_TRUE(std::is_sorted(thread.begin(), thread.end()));
      distinct.insert(thread.begin(), thread.end());
    }
  }
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kTotal));

  // Both replicas read every record, newest first, under the sequence it got.
  for (int r = 0; r < 2; ++r) {
    auto stored = store_[r]->ListDisclosures(DisclosureFilter(), 0, 1000);
    ASSERT_TRUE(stored.ok()) << stored.status();
    ASSERT_EQ(stored->size(), static_cast<size_t>(kTotal));
    std::set<std::string> ids;
    std::vector<int64_t> listed;
    for (const StoredDisclosure& d : *stored) {
      ids.insert(d.disclosure.disclosure_id());
      listed.push_back(d.sequence);
    }
    EXPECT_EQ(ids.size(), static_cast<size_t>(kTotal));
    EXPECT_EQ(std::set<int64_t>(listed.begin(), listed.end()), distinct);
    EXPECT_TRUE(std::is_sorted(listed.rbegin(), listed.rend()));
  }
}

TEST_F(PostgresLicenceReplicasTest, RacingAppendsOfOneDisclosureIdStoreItOnce) {
  constexpr int kThreads = 3;
  std::atomic<int> stored{0};
  std::atomic<int> refused{0};
  RunConcurrently(2, kThreads, [&](int r, int) {
    auto sequence = store_[r]->AppendDisclosure(
        MakeDisclosure("510000-d-raced", kZhangSan, "510000-MZ01-J2", kHunan));
    if (sequence.ok()) {
      ++stored;
    } else {
      EXPECT_EQ(sequence.status().code(), absl::StatusCode::kAlreadyExists) << sequence.status();
      ++refused;
    }
  });
  EXPECT_EQ(stored.load(), 1);
  EXPECT_EQ(refused.load(), 2 * kThreads - 1);
  auto listed = store_[1]->ListDisclosures(DisclosureFilter(), 0, 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 1u);
}

TEST_F(PostgresLicenceReplicasTest, RacingBatchesWithACommonLicenceStoreOneOfThem) {
  // Each replica's batch: a licence of its own and the shared one, in
  // opposite orders (the store writes in id order, so neither deadlocks).
  absl::Status results[2];
  RunConcurrently(2, 1, [&](int r, int) {
    std::vector<v1::Licence> batch = {MakeLicence(absl::StrCat("510000-MZ01-R", r), "MZ01", kLiSi),
                                      MakeLicence("510000-MZ01-SHARED", "MZ01", kZhangSan)};
    if (r == 1) std::reverse(batch.begin(), batch.end());
    results[r] = store_[r]->InsertLicences(batch);
  });
  const int winner = results[0].ok() ? 0 : 1;
  EXPECT_TRUE(results[winner].ok()) << results[winner];
  EXPECT_EQ(results[1 - winner].code(), absl::StatusCode::kAlreadyExists) << results[1 - winner];
  EXPECT_EQ(results[1 - winner].message(), "licence 510000-MZ01-SHARED already exists");
  auto listed = store_[1 - winner]->ListLicences(LicenceFilter(), "", 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(LicenceIds(*listed), (std::vector<std::string>{absl::StrCat("510000-MZ01-R", winner),
                                                           "510000-MZ01-SHARED"}));
}

}  // namespace
}  // namespace tongban::node
