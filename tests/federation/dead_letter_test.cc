// Dead letters end to end (docs/protocol.md, "Deliveries that cannot be
// delivered"; docs/operations.md, "Dead letters"): real tongban-node and
// tongban-gateway processes, real mTLS certificates, and tongbanctl run as a
// real process with the operator's certificate.
//
// The permanent refusal: Hunan (430000) accepts two applications for
// Shanghai (310000); both are delivered. Hunan then loses its database (the
// file is moved aside while the node is down, as if restored from an empty
// backup). Shanghai's officer decides both applications; Shanghai's
// DeliverEvent to Hunan is answered NOT_FOUND, and Shanghai is the handling
// province — it cannot re-deliver an application it did not accept — so each
// event becomes a dead letter at Shanghai. Then, through `tongbanctl outbox`:
// the dead letters are listed and shown; a replay before the cause is fixed
// dead-letters again; one is discarded (recorded as an event with the
// operator's identity); Hunan's database is put back (the cause fixed) and
// the other is replayed and delivered.
//
// Every wait polls a readiness condition with a timeout; nothing sleeps.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "child_process.h"
#include "federation.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "node_process.h"
#include "node_test_data.h"
#include "tongban/v1/application.grpc.pb.h"
#include "tongban/v1/node_admin.grpc.pb.h"

namespace tongban::testing {
namespace {

using std::chrono::seconds;

constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";

std::string Officer(const std::string& p) { return "province/" + p + "/officer/officer-01"; }
std::string Operator(const std::string& p) { return "province/" + p + "/operator/operator-01"; }

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class DeadLetterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FederationOptions options;
    options.name = "dead-letter";
    options.provinces = {kHunan, kShanghai};
    federation_ = std::make_unique<Federation>(options);
    std::string error;
    ASSERT_TRUE(federation_->Start(&error)) << error;
  }
  void TearDown() override {
    if (HasFailure()) {
      std::cout << federation_->LogTails(4000) << std::endl;
      federation_->KeepWorkdir();
      std::cout << "kept " << federation_->workdir() << std::endl;
    }
  }

  std::unique_ptr<v1::ApplicationService::Stub> Apps(const std::string& p,
                                                     const std::string& identity) {
    return v1::ApplicationService::NewStub(FastChannel(federation_->node_address(p), identity));
  }

  grpc::Status Get(const std::string& p, const std::string& id, v1::Application* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    v1::GetApplicationRequest req;
    req.set_application_id(id);
    v1::GetApplicationResponse resp;
    grpc::Status s = Apps(p, Officer(p))->GetApplication(&ctx, req, &resp);
    if (s.ok()) *out = resp.application();
    return s;
  }

  std::string Submit(const std::string& key) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::SubmitApplicationResponse resp;
    grpc::Status s = Apps(kHunan, Officer(kHunan))
                         ->SubmitApplication(&ctx,
                                             Submission(key, kSocialSecurityCard, kShanghai,
                                                        {"M01", "M02", "M03", "M09"}),
                                             &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.application().application_id();
  }

  grpc::Status Decide(const std::string& id, v1::ApplicationAction action) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(10000));
    v1::DecideApplicationRequest req;
    req.set_application_id(id);
    req.set_action(action);
    v1::DecideApplicationResponse resp;
    return Apps(kShanghai, Officer(kShanghai))->DecideApplication(&ctx, req, &resp);
  }

  // tongbanctl outbox <args...> against Shanghai's node with `identity`.
  ProcessResult Ctl(std::vector<std::string> args, const std::string& identity) {
    std::vector<std::string> argv = {TONGBAN_TONGBANCTL, "outbox"};
    argv.insert(argv.end(), args.begin(), args.end());
    for (std::string& flag : TongbanctlNodeFlags(*federation_, kShanghai, identity)) {
      argv.push_back(std::move(flag));
    }
    return RunProcess(argv, {}, seconds(30));
  }

  // Polls `tongbanctl outbox show ID` until its output holds `part`.
  bool WaitForShow(int64_t id, const std::string& part, ProcessResult* last) {
    return WaitUntil(seconds(30), [&] {
      *last = Ctl({"show", std::to_string(id)}, Operator(kShanghai));
      return last->exit_code == 0 && Contains(last->out, part);
    }, std::chrono::milliseconds(200));
  }

  // Shanghai's dead letters, through the admin RPC as its operator.
  std::vector<v1::OutboxEntryInfo> DeadLetters() {
    return OutboxEntries(v1::OUTBOX_ENTRY_STATUS_DEAD_LETTER);
  }

  // Shanghai's outbox entries of `status` (UNSPECIFIED: pending and dead).
  std::vector<v1::OutboxEntryInfo> OutboxEntries(v1::OutboxEntryStatus status) {
    auto admin = v1::NodeAdminService::NewStub(
        FastChannel(federation_->node_address(kShanghai), Operator(kShanghai)));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    v1::ListOutboxRequest req;
    req.set_status(status);
    v1::ListOutboxResponse resp;
    grpc::Status s = admin->ListOutbox(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.entries().begin(), resp.entries().end()};
  }

  std::unique_ptr<Federation> federation_;
};

// The services the node's reflection lists, as raw response bytes: a
// ServerReflectionInfo call with one list_services request (field 7, ""),
// through the generic stub (the reflection client library is not installed).
std::string ReflectionListServices(const std::string& address, const std::string& identity) {
  grpc::GenericStub stub(FastChannel(address, identity));
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(10000));
  auto call = stub.PrepareCall(
      &ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](intptr_t expected) {
    return cq.Next(&tag, &ok) && ok && tag == reinterpret_cast<void*>(expected);
  };
  // A failed step: cancel, and drain the queue before it is destroyed.
  auto give_up = [&]() {
    ctx.TryCancel();
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    return std::string();
  };
  call->StartCall(reinterpret_cast<void*>(1));
  if (!step(1)) return give_up();
  const char request[] = {0x3a, 0x00};  // list_services: ""
  grpc::Slice slice(request, sizeof(request));
  grpc::ByteBuffer out(&slice, 1);
  call->Write(out, reinterpret_cast<void*>(2));
  if (!step(2)) return give_up();
  grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(3));
  if (!step(3)) return give_up();
  call->WritesDone(reinterpret_cast<void*>(4));
  step(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  std::vector<grpc::Slice> slices;
  if (!in.Dump(&slices).ok()) return "";
  std::string bytes;
  for (const grpc::Slice& sl : slices) {
    bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  }
  return bytes;
}

TEST_F(DeadLetterTest, RefusedDeliveryIsListedReplayedAndDiscardedWithTongbanctl) {
  const std::string first = Submit("dead-letter-0001");
  const std::string second = Submit("dead-letter-0002");
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  // Readiness: Shanghai holds both and Hunan has their DELIVER events back.
  for (const std::string& id : {first, second}) {
    v1::Application at_hunan;
    ASSERT_TRUE(WaitUntil(seconds(30), [&] {
      return Get(kHunan, id, &at_hunan).ok() && at_hunan.events_size() == 2;
    })) << at_hunan.ShortDebugString();
  }
  // ... and Shanghai has had every delivery acknowledged: Hunan storing an
  // event comes just before Shanghai's outbox lets it go, and an entry still
  // waiting for its acknowledgement when Hunan loses its database would be
  // one more dead letter than this test makes.
  ASSERT_TRUE(WaitUntil(seconds(30), [&] {
    return OutboxEntries(v1::OUTBOX_ENTRY_STATUS_UNSPECIFIED).empty();
  })) << "Shanghai's outbox did not empty";

  // Hunan loses its database.
  const std::string db = federation_->workdir() + "/" + kHunan + "/node.db";
  federation_->KillNode(kHunan);
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string from = db + suffix;
    struct stat st;
    if (stat(from.c_str(), &st) == 0) {
      ASSERT_EQ(std::rename(from.c_str(), (from + ".saved").c_str()), 0) << from;
    }
  }
  std::string error;
  ASSERT_TRUE(federation_->RestartNode(kHunan, &error)) << error;
  ASSERT_TRUE(federation_->WaitAllUp(seconds(60)));
  v1::Application unknown;
  ASSERT_EQ(Get(kHunan, first, &unknown).error_code(), grpc::StatusCode::NOT_FOUND);

  // Shanghai decides both; the events cannot be delivered.
  ASSERT_TRUE(Decide(first, v1::APPLICATION_ACTION_ACCEPT).ok());
  ASSERT_TRUE(Decide(second, v1::APPLICATION_ACTION_ACCEPT).ok());
  std::vector<v1::OutboxEntryInfo> dead;
  ASSERT_TRUE(WaitUntil(seconds(30), [&] {
    dead = DeadLetters();
    return dead.size() == 2;
  })) << dead.size() << " dead letters";
  int64_t first_entry = 0, second_entry = 0;
  for (const auto& e : dead) {
    EXPECT_EQ(e.dead_letter().code(), "NOT_FOUND") << e.ShortDebugString();
    EXPECT_EQ(e.kind(), v1::OUTBOX_ENTRY_KIND_DELIVER_EVENT);
    EXPECT_EQ(e.target_province(), kHunan);
    (e.application_id() == first ? first_entry : second_entry) = e.id();
  }
  ASSERT_NE(first_entry, 0);
  ASSERT_NE(second_entry, 0);

  // Reflection on the node port lists the admin service next to the others.
  const std::string services =
      ReflectionListServices(federation_->node_address(kShanghai), Operator(kShanghai));
  EXPECT_TRUE(Contains(services, "tongban.v1.NodeAdminService")) << services;
  EXPECT_TRUE(Contains(services, "tongban.v1.ApplicationService")) << services;

  // `tongbanctl outbox list` as a real process shows them.
  ProcessResult list = Ctl({"list", "--status", "dead"}, Operator(kShanghai));
  ASSERT_EQ(list.exit_code, 0) << list.err << list.start_error;
  EXPECT_TRUE(Contains(list.out, "DEAD LETTER")) << list.out;
  EXPECT_TRUE(Contains(list.out, first)) << list.out;
  EXPECT_TRUE(Contains(list.out, second)) << list.out;
  EXPECT_TRUE(Contains(list.out, "2 dead letters")) << list.out;
  ProcessResult show = Ctl({"show", std::to_string(first_entry)}, Operator(kShanghai));
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_TRUE(Contains(show.out, "by NOT_FOUND")) << show.out;
  EXPECT_TRUE(Contains(show.out, "APPLICATION_ACTION_ACCEPT")) << show.out;

  // Only Shanghai's operators: its officer and Hunan's operator are refused.
  ProcessResult officer = Ctl({"list"}, Officer(kShanghai));
  EXPECT_EQ(officer.exit_code, 1);
  EXPECT_TRUE(Contains(officer.err, "PERMISSION_DENIED")) << officer.err;
  ProcessResult foreign = Ctl({"list"}, Operator(kHunan));
  EXPECT_EQ(foreign.exit_code, 1);
  EXPECT_TRUE(Contains(foreign.err, "PERMISSION_DENIED")) << foreign.err;
  // Usage errors name what is wrong; a pending entry cannot be replayed.
  ProcessResult no_reason = Ctl({"discard", std::to_string(second_entry)}, Operator(kShanghai));
  EXPECT_EQ(no_reason.exit_code, 2);
  EXPECT_TRUE(Contains(no_reason.err, "--reason")) << no_reason.err;
  ProcessResult missing = Ctl({"replay", "999999"}, Operator(kShanghai));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(Contains(missing.err, "NOT_FOUND")) << missing.err;

  // Replay before the cause is fixed: pending again, then a dead letter again.
  ProcessResult replay = Ctl({"replay", std::to_string(first_entry)}, Operator(kShanghai));
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_TRUE(Contains(replay.out, "pending again")) << replay.out;
  ProcessResult again;
  ASSERT_TRUE(WaitForShow(first_entry, "DEAD LETTER", &again)) << again.out << again.err;
  EXPECT_TRUE(Contains(again.out, "attempts:      1")) << again.out;  // reset, then one more

  // Discard the second: removed, recorded with the operator's identity.
  ProcessResult discard = Ctl({"discard", std::to_string(second_entry), "--reason",
                               "Hunan lost this filing; the applicant refiles there"},
                              Operator(kShanghai));
  ASSERT_EQ(discard.exit_code, 0) << discard.err;
  EXPECT_TRUE(Contains(discard.out, "spiffe://tongban/province/310000/operator/operator-01"))
      << discard.out;
  v1::Application at_shanghai;
  ASSERT_TRUE(Get(kShanghai, second, &at_shanghai).ok());
  const v1::ApplicationEvent& recorded = at_shanghai.events(at_shanghai.events_size() - 1);
  EXPECT_EQ(recorded.action(), v1::APPLICATION_ACTION_DISCARD_DELIVERY);
  EXPECT_EQ(recorded.actor(), "spiffe://tongban/province/310000/operator/operator-01");
  EXPECT_TRUE(Contains(recorded.note(), "Hunan lost this filing")) << recorded.note();
  EXPECT_EQ(recorded.state_after(), at_shanghai.state());
  ProcessResult gone = Ctl({"show", std::to_string(second_entry)}, Operator(kShanghai));
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_TRUE(Contains(gone.err, "NOT_FOUND")) << gone.err;

  // Fix the cause (Hunan's database back), replay: delivered.
  federation_->KillNode(kHunan);
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string to = db + suffix;
    std::remove(to.c_str());
    struct stat st;
    if (stat((to + ".saved").c_str(), &st) == 0) {
      ASSERT_EQ(std::rename((to + ".saved").c_str(), to.c_str()), 0) << to;
    }
  }
  ASSERT_TRUE(federation_->RestartNode(kHunan, &error)) << error;
  ASSERT_TRUE(federation_->WaitAllUp(seconds(60)));
  replay = Ctl({"replay", std::to_string(first_entry)}, Operator(kShanghai));
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  v1::Application at_hunan;
  ASSERT_TRUE(WaitUntil(seconds(30), [&] {
    return Get(kHunan, first, &at_hunan).ok() &&
           at_hunan.state() == v1::APPLICATION_STATE_ACCEPTED;
  })) << at_hunan.ShortDebugString();
  ProcessResult empty;
  ASSERT_TRUE(WaitUntil(seconds(30), [&] {
    empty = Ctl({"list"}, Operator(kShanghai));
    return empty.exit_code == 0 && Contains(empty.out, "0 pending") &&
           Contains(empty.out, "0 dead letters");
  }, std::chrono::milliseconds(200))) << empty.out << empty.err;
}

}  // namespace
}  // namespace tongban::testing
