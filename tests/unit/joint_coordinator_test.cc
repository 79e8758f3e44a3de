// JointCoordinator (node/service/joint_coordinator.h) against a real SQLite
// store seeded with the demo catalog: a crash between filing a step's task
// and recording it on the joint application files nothing twice; every task
// event is mirrored once however often the coordinator runs; a stage starts
// only when the previous one is approved, and a parallel stage files all its
// tasks at once and waits for every one.
#include "service/joint_coordinator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>

#include "catalog/demo_catalog.h"
#include "catalog/joint_procedure_rules.h"
#include "clock.h"
#include "record_signing.h"
#include "service/application_events.h"
#include "service/application_filing.h"
#include "service/guide_precheck.h"
#include "service/joint_procedure.h"
#include "signing_test_pki.h"
#include "store/sqlite_application_store.h"
#include "store/sqlite_catalog_store.h"
#include "store/sqlite_database.h"
#include "structured_log.h"
#include "working_day_calendar.h"

namespace tongban::node {
namespace {

namespace pki = ::tongban::testing::signing_pki;
using ::testing::SizeIs;

constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";
constexpr char kGuangdong[] = "440000";
constexpr char kPension[] = "GG00010101";

class JointCoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = pki::MakeTempDir("joint-coordinator");
    ASSERT_FALSE(dir_.empty());
    SqliteDatabaseOptions options;
    options.path = dir_ + "/node.db";
    auto db = SqliteDatabase::Open(std::move(options));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    catalog_ = std::make_unique<SqliteCatalogStore>(*db_);
    ASSERT_TRUE(SeedDemoCatalogIfEmpty(TONGBAN_DEMO_CATALOG_DIR, *catalog_, nullptr).ok());
    store_ = std::make_unique<SqliteApplicationStore>(*db_, kHunan, clock_);
    pki::Key ca = pki::MakeCa("test-ca");
    ASSERT_TRUE(pki::WritePair(dir_, pki::MakeNode(ca, kHunan)));
    auto signer = signing::RecordSigner::Create(dir_ + "/key.pem", dir_ + "/cert.pem");
    ASSERT_TRUE(signer.ok()) << signer.status();
    signer_ = *std::move(signer);
    auto calendar = WorkingDayCalendar::FromFiles({TONGBAN_WORKING_DAYS_FILE});
    ASSERT_TRUE(calendar.ok()) << calendar.status();
    calendar_ = std::make_unique<WorkingDayCalendar>(*std::move(calendar));
    guides_ = std::make_unique<GuideResolver>(kHunan, catalog_.get(), nullptr, &clock_,
                                              absl::Seconds(30));
    log_ = std::make_unique<EventLog>("joint-test", devnull_ = std::fopen("/dev/null", "w"));
    JointCoordinatorDeps deps;
    deps.own_province = kHunan;
    deps.applications = store_.get();
    deps.guides = guides_.get();
    deps.clock = &clock_;
    deps.calendar = calendar_.get();
    deps.signer = signer_.get();
    deps.log = log_.get();
    coordinator_ = std::make_unique<JointCoordinator>(std::move(deps));
  }
  void TearDown() override {
    coordinator_.reset();
    store_.reset();
    catalog_.reset();
    db_.reset();
    if (devnull_ != nullptr) std::fclose(devnull_);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  v1::Guide Guide(const std::string& province) {
    auto g = guides_->Resolve(province, kPension);
    EXPECT_TRUE(g.ok()) << g.status();
    return **g;
  }

  // Files a joint application as SubmitApplication does, without its tasks:
  // the lead (first step's) province's guide, `roles` as (role, province).
  std::string FileJoint(std::initializer_list<std::pair<const char*, const char*>> roles = {
                            {"transfer_in", kShanghai}, {"transfer_out", kGuangdong}},
                        const std::string& key = "joint-0001") {
    const v1::Guide lead = Guide(roles.begin()->second);
    google::protobuf::RepeatedPtrField<v1::JointRoleAssignment> assigned;
    for (auto [role, province] : roles) {
      auto* a = assigned.Add();
      a->set_role_id(role);
      a->set_province_code(province);
    }
    PrecheckResult check;
    check.outcome = v1::PRECHECK_OUTCOME_COMPLETE;
    FilingParams p;
    p.accepting = kHunan;
    p.guide = &lead;
    p.check = &check;
    p.applicant.set_id_number("431226199001011235");
    p.applicant.set_name("王五");
    for (const char* id : {"M01", "M02", "M03"}) {
      v1::SuppliedMaterial* m = p.materials.Add();
      m->set_material_id(id);
      m->set_content_sha256(std::string(64, 'a'));
      m->set_size_bytes(1000);
      m->set_media_type("application/pdf");
    }
    p.actor = "spiffe://tongban/province/430000/officer/officer-01";
    p.now = clock_.Now();
    p.handling = kHunan;
    p.joint_roles = assigned;
    p.joint = NewJointHandling(lead.joint_procedure(), assigned);
    CreateRequest create = NewFilingRequest(p, *calendar_, signer_.get());
    create.idempotency_scope = p.actor;
    create.idempotency_key = key;
    create.request_fingerprint = key;
    auto created = store_->CreateApplication(create);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? created->application.application_id() : "";
  }

  v1::Application Get(const std::string& id) {
    auto app = store_->GetApplication(id, true);
    EXPECT_TRUE(app.ok()) << app.status();
    return app.ok() ? *app : v1::Application();
  }

  // The handling province's decision as it arrives here: the task's state
  // moves and the event is stored (as FederationService does).
  void Decided(const std::string& task, v1::ApplicationAction action,
               v1::ApplicationState after) {
    auto stored = store_->MutateApplication(task, [&](v1::Application& app)
                                                      -> absl::StatusOr<Mutation> {
      Mutation m;
      v1::ApplicationEvent e = MakeEvent(app, app.handling_province(), action, app.state(), after,
                                         "spiffe://tongban/province/officer", clock_.Now(), "");
      app.set_state(after);
      m.events.push_back(e);
      return m;
    });
    ASSERT_TRUE(stored.ok()) << stored.status();
  }

  int JointSteps(const v1::Application& joint, const std::string& task_event_id) {
    int n = 0;
    for (const auto& e : joint.events()) {
      n += e.action() == v1::APPLICATION_ACTION_JOINT_STEP &&
           e.joint_step().task_event_id() == task_event_id;
    }
    return n;
  }

  std::string dir_;
  FakeClock clock_{absl::FromUnixSeconds(1765152000)};  // 2025-12-08, a Monday
  FILE* devnull_ = nullptr;
  std::unique_ptr<SqliteDatabase> db_;
  std::unique_ptr<SqliteCatalogStore> catalog_;
  std::unique_ptr<SqliteApplicationStore> store_;
  std::unique_ptr<signing::RecordSigner> signer_;
  std::unique_ptr<WorkingDayCalendar> calendar_;
  std::unique_ptr<GuideResolver> guides_;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<JointCoordinator> coordinator_;
};

TEST_F(JointCoordinatorTest, ATaskFiledBeforeACrashIsFoundAgainNotFiledTwice) {
  const std::string joint_id = FileJoint();
  ASSERT_FALSE(joint_id.empty());
  // The previous run filed step 1's task and died before recording it: the
  // same idempotency key the coordinator uses.
  const v1::Guide shanghai = Guide(kShanghai);
  PrecheckResult check;
  check.outcome = v1::PRECHECK_OUTCOME_COMPLETE;
  FilingParams p;
  p.accepting = kHunan;
  p.guide = &shanghai;
  p.check = &check;
  const v1::Application joint = Get(joint_id);
  p.applicant = joint.applicant();
  p.materials = joint.materials();
  p.actor = joint.events(0).actor();
  p.now = clock_.Now();
  p.joint_task.set_joint_application_id(joint_id);
  p.joint_task.set_step(1);
  p.joint_task.set_role_id("transfer_in");
  CreateRequest create = NewFilingRequest(p, *calendar_, signer_.get());
  create.idempotency_scope = "joint:" + joint_id;
  create.idempotency_key = "step-1";
  create.request_fingerprint = "step-1";
  auto orphan = store_->CreateApplication(create);
  ASSERT_TRUE(orphan.ok()) << orphan.status();

  ASSERT_TRUE(coordinator_->Advance(joint_id).ok());
  ASSERT_TRUE(coordinator_->Advance(joint_id).ok());
  const v1::Application after = Get(joint_id);
  EXPECT_EQ(after.joint().steps(0).task_application_id(), orphan->application.application_id());
  EXPECT_TRUE(after.joint().steps(1).task_application_id().empty());
  // The joint application and one task: nothing else was filed.
  auto all = store_->ListByApplicant(joint.applicant().id_number(), "", 50);
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(all->items, SizeIs(2));
  EXPECT_EQ(JointSteps(after, ""), 1);  // one start event
}

TEST_F(JointCoordinatorTest, MirrorsEachTaskEventOnceAndStartsTheNextStageOnApproval) {
  const std::string joint_id = FileJoint();
  ASSERT_TRUE(coordinator_->Advance(joint_id).ok());
  const std::string step1 = Get(joint_id).joint().steps(0).task_application_id();
  ASSERT_FALSE(step1.empty());
  EXPECT_EQ(step1.substr(0, 17), "TB-430000-310000-");
  // Shanghai accepts: mirrored once, however often the coordinator runs.
  Decided(step1, v1::APPLICATION_ACTION_ACCEPT, v1::APPLICATION_STATE_ACCEPTED);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(coordinator_->Advance(joint_id).ok());
  v1::Application joint = Get(joint_id);
  EXPECT_EQ(JointSteps(joint, "310000-1"), 1);
  EXPECT_EQ(joint.state(), v1::APPLICATION_STATE_ACCEPTED);
  EXPECT_TRUE(joint.joint().steps(1).task_application_id().empty());
  // Approval ends stage 1: step 2 goes to Guangdong in the same run.
  Decided(step1, v1::APPLICATION_ACTION_START_REVIEW, v1::APPLICATION_STATE_IN_REVIEW);
  Decided(step1, v1::APPLICATION_ACTION_APPROVE, v1::APPLICATION_STATE_APPROVED);
  ASSERT_TRUE(coordinator_->Advance(joint_id).ok());
  joint = Get(joint_id);
  const std::string step2 = joint.joint().steps(1).task_application_id();
  EXPECT_EQ(step2.substr(0, 17), "TB-430000-440000-");
  EXPECT_EQ(joint.state(), v1::APPLICATION_STATE_IN_REVIEW);
  // Step 2's task is forwarded like any filing, naming its joint application.
  const v1::Application task2 = Get(step2);
  EXPECT_EQ(task2.forwarding(), v1::FORWARDING_STATE_PENDING);
  EXPECT_EQ(task2.filing().joint_task().joint_application_id(), joint_id);
  EXPECT_EQ(task2.filing().joint_task().role_id(), "transfer_out");
  auto outbox = store_->ListOutbox(10);
  ASSERT_TRUE(outbox.ok());
  int deliveries = 0;
  for (const auto& e : *outbox) deliveries += e.application_id == step2;
  EXPECT_EQ(deliveries, 1);
  // Guangdong denies: the joint application ends DENIED and step 3 never starts.
  Decided(step2, v1::APPLICATION_ACTION_ACCEPT, v1::APPLICATION_STATE_ACCEPTED);
  Decided(step2, v1::APPLICATION_ACTION_START_REVIEW, v1::APPLICATION_STATE_IN_REVIEW);
  Decided(step2, v1::APPLICATION_ACTION_DENY, v1::APPLICATION_STATE_DENIED);
  ASSERT_TRUE(coordinator_->Sweep().ok());  // the sweep finds it too
  joint = Get(joint_id);
  EXPECT_EQ(joint.state(), v1::APPLICATION_STATE_DENIED);
  EXPECT_TRUE(joint.joint().steps(2).task_application_id().empty());
  // Described: steps' states and the clocks derived from the tasks.
  ASSERT_TRUE(coordinator_->Describe(joint, clock_.Now()).ok());
  EXPECT_EQ(joint.joint().steps(1).task_state(), v1::APPLICATION_STATE_DENIED);
  EXPECT_EQ(joint.clocks().limits().legal_days(), 45);
  EXPECT_TRUE(joint.clocks().stopped());
}

// A procedure whose second stage runs in parallel: Shanghai leads, then
// Guangdong and Beijing each do a part at once, then Shanghai closes. Both
// parallel tasks are filed together, and the last stage waits for both.
TEST_F(JointCoordinatorTest, AParallelStageFilesAllItsTasksAndWaitsForEveryOne) {
  constexpr char kBeijing[] = "110000";
  v1::JointProcedure p;
  for (const char* role : {"lead", "part_a", "part_b"}) {
    v1::JointRole* r = p.add_roles();
    r->set_role_id(role);
    r->set_name_zh(role);
  }
  const std::pair<const char*, int> steps[] = {{"lead", 1}, {"part_a", 2}, {"part_b", 2}, {"lead", 3}};
  for (int i = 0; i < 4; ++i) {
    v1::JointStep* st = p.add_steps();
    st->set_step(i + 1);
    st->set_stage(steps[i].second);
    st->set_role_id(steps[i].first);
    st->set_name_zh("办理");
    st->set_legal_days(10);
    st->set_promised_days(5);
  }
  ASSERT_TRUE(JointProcedureProblems(p).empty());
  std::vector<v1::Guide> guides;
  for (const char* province : {kShanghai, kGuangdong, kBeijing}) {
    auto g = catalog_->GetGuide(province, kPension);
    ASSERT_TRUE(g.ok()) << g.status();
    *g->mutable_joint_procedure() = p;
    guides.push_back(*g);
  }
  ASSERT_TRUE(catalog_->PutGuides(guides).ok());
  for (const v1::Guide& g : guides) guides_->Invalidate(g.province_code(), kPension);

  const std::string joint_id =
      FileJoint({{"lead", kShanghai}, {"part_a", kGuangdong}, {"part_b", kBeijing}}, "joint-parallel");
  ASSERT_FALSE(joint_id.empty());

  ASSERT_TRUE(coordinator_->Advance(joint_id).ok());
  const std::string step1 = Get(joint_id).joint().steps(0).task_application_id();
  Decided(step1, v1::APPLICATION_ACTION_ACCEPT, v1::APPLICATION_STATE_ACCEPTED);
  Decided(step1, v1::APPLICATION_ACTION_START_REVIEW, v1::APPLICATION_STATE_IN_REVIEW);
  Decided(step1, v1::APPLICATION_ACTION_APPROVE, v1::APPLICATION_STATE_APPROVED);
  ASSERT_TRUE(coordinator_->Advance(joint_id).ok());
  v1::Application joint = Get(joint_id);
  const std::string a = joint.joint().steps(1).task_application_id();
  const std::string b = joint.joint().steps(2).task_application_id();
  EXPECT_EQ(a.substr(0, 17), "TB-430000-440000-");
  EXPECT_EQ(b.substr(0, 17), "TB-430000-110000-");
  EXPECT_TRUE(joint.joint().steps(3).task_application_id().empty());
  // One of the parallel parts approved: the last stage still waits.
  for (auto [action, state] : {std::pair{v1::APPLICATION_ACTION_ACCEPT, v1::APPLICATION_STATE_ACCEPTED},
                               {v1::APPLICATION_ACTION_START_REVIEW, v1::APPLICATION_STATE_IN_REVIEW},
                               {v1::APPLICATION_ACTION_APPROVE, v1::APPLICATION_STATE_APPROVED}}) {
    Decided(a, action, state);
  }
  ASSERT_TRUE(coordinator_->Advance(joint_id).ok());
  EXPECT_TRUE(Get(joint_id).joint().steps(3).task_application_id().empty());
  // The applicant owes the other part a material: the whole waits for them.
  Decided(b, v1::APPLICATION_ACTION_REQUEST_MATERIALS, v1::APPLICATION_STATE_WAITING_FOR_MATERIALS);
  ASSERT_TRUE(coordinator_->Advance(joint_id).ok());
  EXPECT_EQ(Get(joint_id).state(), v1::APPLICATION_STATE_WAITING_FOR_MATERIALS);
  Decided(b, v1::APPLICATION_ACTION_SUPPLEMENT, v1::APPLICATION_STATE_IN_REVIEW);
  Decided(b, v1::APPLICATION_ACTION_APPROVE, v1::APPLICATION_STATE_APPROVED);
  ASSERT_TRUE(coordinator_->Advance(joint_id).ok());
  joint = Get(joint_id);
  EXPECT_EQ(joint.joint().steps(3).task_application_id().substr(0, 17), "TB-430000-310000-");
  EXPECT_EQ(joint.state(), v1::APPLICATION_STATE_IN_REVIEW);
  ASSERT_TRUE(coordinator_->Describe(joint, clock_.Now()).ok());
  EXPECT_EQ(joint.clocks().limits().legal_days(), 30);  // 10 + max(10, 10) + 10
}

}  // namespace
}  // namespace tongban::node
