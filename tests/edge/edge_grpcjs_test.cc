// The public gRPC API against an independent gRPC implementation: Node's
// @grpc/grpc-js (with @grpc/proto-loader reading citizen.proto at run time)
// drives tongban.v1.CitizenService on the gateway's public port of a real
// federation (TLS with the test PKI, no client certificate, ES256 bearer
// tokens in the "authorization" metadata). grpcjs/citizen_client.mjs runs
// the scenario and prints one JSON object; this test asserts it, then checks
// from C++ (the handling and accepting nodes over mTLS, and grpc++ on the
// public port) that grpc-js and C++ saw the same application.
//
// Provinces: 430000 Hunan (accepting: the citizen's app channel), 310000
// Shanghai (handling; adds key material M09 to 社会保障卡申领 GG00020600,
// whose M03 is 容缺-able), 110000 Beijing (a bystander for the fan-outs).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "child_process.h"
#include "citizen_token.h"
#include "federation.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "node_process.h"
#include "resident_id.h"
#include "tongban/v1/application.grpc.pb.h"
#include "tongban/v1/citizen.grpc.pb.h"

namespace tongban::testing {
namespace {

using google::protobuf::Value;

constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";
constexpr char kBeijing[] = "110000";
constexpr char kSocialSecurityCard[] = "GG00020600";
constexpr char kSocialSecurityCardName[] = "社会保障卡申领";

// gRPC status codes as numbers, the way grpc-js reports them.
constexpr int kOk = 0;
constexpr int kInvalidArgument = 3;
constexpr int kNotFound = 5;
constexpr int kUnauthenticated = 16;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// ---------------------------------------------------------------------------
// Reading the script's JSON (a google.protobuf.Struct).

std::string Show(const Value& v) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = false;
  if (!google::protobuf::util::MessageToJsonString(v, &out, o).ok()) return "<unprintable>";
  return out;
}

// The value at a dotted path ("calls.submit.response.application.state";
// numeric segments index lists); nullptr when absent.
const Value* At(const Value& root, const std::string& path) {
  const Value* v = &root;
  std::stringstream segments(path);
  std::string s;
  while (std::getline(segments, s, '.')) {
    if (v->has_struct_value()) {
      auto it = v->struct_value().fields().find(s);
      if (it == v->struct_value().fields().end()) return nullptr;
      v = &it->second;
    } else if (v->has_list_value() && !s.empty() &&
               std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      size_t i = std::stoul(s);
      if (i >= static_cast<size_t>(v->list_value().values_size())) return nullptr;
      v = &v->list_value().values(static_cast<int>(i));
    } else {
      return nullptr;
    }
  }
  return v;
}

// The string at `path`, or a marker that cannot equal an expected value.
std::string Str(const Value& root, const std::string& path) {
  const Value* v = At(root, path);
  if (v == nullptr) return "<absent: " + path + ">";
  if (!v->has_string_value()) return "<not a string: " + path + " = " + Show(*v) + ">";
  return v->string_value();
}

const google::protobuf::ListValue& List(const Value& root, const std::string& path) {
  static const google::protobuf::ListValue* const kEmpty = new google::protobuf::ListValue();
  const Value* v = At(root, path);
  return v != nullptr && v->has_list_value() ? v->list_value() : *kEmpty;
}

// A call's gRPC status code as grpc-js reported it; -1 when the call is
// absent or was skipped.
int Code(const Value& call) {
  const Value* c = At(call, "code");
  return c != nullptr && c->has_number_value() ? static_cast<int>(c->number_value()) : -1;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------------------

std::string Token(const std::string& subject, absl::Time issued_at, absl::Time expires_at) {
  const std::string key = ReadFile(CertsDir() + "/citizen-tokens/signing-key.pem");
  CitizenTokenClaims claims;
  claims.subject = subject;
  claims.issuer = kTestTokenIssuer;
  claims.audience = kTestTokenAudience;
  claims.issued_at = issued_at;
  claims.not_before = absl::InfinitePast();
  claims.expires_at = expires_at;
  claims.kid = "dev-1";
  absl::StatusOr<std::string> token = MintCitizenToken(key, claims);
  EXPECT_TRUE(token.ok()) << "cannot mint a test token with " << CertsDir()
                          << "/citizen-tokens/signing-key.pem: " << token.status();
  return token.ok() ? *token : "";
}

std::vector<std::string> ScriptCommand(const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {"node", TONGBAN_GRPCJS_SCRIPT};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return argv;
}

TEST(EdgeGrpcJsTest, CitizenServiceInteroperatesWithGrpcJs) {
  // Citizens A and B (valid GB 11643 numbers: the token subjects).
  const std::string citizen_a = MakeResidentId("43010219900307001");
  const std::string citizen_b = MakeResidentId("31010419850612002");
  const absl::Time now = absl::Now();
  const std::string token_a = Token(citizen_a, now, now + absl::Minutes(30));
  const std::string token_b = Token(citizen_b, now, now + absl::Minutes(30));
  // Expired an hour ago, well beyond the 60 s leeway.
  const std::string token_expired = Token(citizen_a, now - absl::Hours(2), now - absl::Hours(1));
  ASSERT_FALSE(token_a.empty() || token_b.empty() || token_expired.empty());

  FederationOptions options;
  options.name = "edge-grpcjs";
  options.provinces = {kHunan, kShanghai, kBeijing};
  options.public_edge = true;
  Federation federation(options);
  std::string error;
  ASSERT_TRUE(federation.Start(&error)) << "the federation did not start: " << error;
  const std::string target = federation.public_grpc_address();
  ASSERT_FALSE(target.empty()) << "the gateway reported no public gRPC address\n"
                               << federation.LogTails();

  const std::string key =
      "grpcjs-" + std::to_string(getpid()) + "-" + std::to_string(absl::ToUnixMillis(absl::Now()));
  const auto started = std::chrono::steady_clock::now();
  ProcessResult script =
      RunProcess(ScriptCommand({"--target=" + target, "--ca=" + CertsDir() + "/ca/ca.pem",
                                "--proto-dir=" TONGBAN_PROTO_DIR, "--modules=" TONGBAN_GRPCJS_DIR,
                                "--idempotency-key=" + key, "--deadline-ms=5000"}),
                 {"TONGBAN_TOKEN_A=" + token_a, "TONGBAN_TOKEN_B=" + token_b,
                  "TONGBAN_TOKEN_EXPIRED=" + token_expired},
                 std::chrono::seconds(90));
  const auto script_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - started)
                             .count();
  std::cout << "grpc-js scenario ran in " << script_ms << " ms against " << target << std::endl;

  // On any failure: the script's stderr and the federation's logs.
  struct OnFailure {
    const ProcessResult& script;
    Federation& federation;
    ~OnFailure() {
      if (!::testing::Test::HasFailure()) return;
      std::cout << "---- citizen_client.mjs stderr ----\n"
                << script.err << "\n---- citizen_client.mjs stdout ----\n"
                << script.out << "\n---- federation logs ----\n"
                << federation.LogTails(3000) << std::endl;
      federation.KeepWorkdir();
      std::cout << "kept " << federation.workdir() << " for a post-mortem" << std::endl;
    }
  } on_failure{script, federation};

  ASSERT_TRUE(script.start_error.empty())
      << "cannot run node (the grpc-js test needs Node.js): " << script.start_error;
  ASSERT_FALSE(script.timed_out) << "citizen_client.mjs did not finish within 90 s";
  ASSERT_EQ(script.exit_code, 0) << "citizen_client.mjs failed (exit " << script.exit_code
                                 << "); stderr:\n"
                                 << script.err;
  google::protobuf::Struct parsed;
  auto parse = google::protobuf::util::JsonStringToMessage(script.out, &parsed);
  ASSERT_TRUE(parse.ok()) << "citizen_client.mjs did not print one JSON object: " << parse
                          << "\nstdout:\n"
                          << script.out;
  Value root;
  *root.mutable_struct_value() = parsed;
  std::cout << "grpc-js client: @grpc/grpc-js " << Str(root, "client.grpcJs")
            << ", @grpc/proto-loader " << Str(root, "client.protoLoader") << ", Node.js "
            << Str(root, "client.node") << std::endl;
  EXPECT_EQ(Str(root, "client.idempotencyKey"), key);

  auto call = [&](const std::string& name) -> const Value& {
    static const Value* const kAbsent = new Value();
    const Value* c = At(root, "calls." + name);
    EXPECT_NE(c, nullptr) << "the script's output has no call " << name;
    return c != nullptr ? *c : *kAbsent;
  };

  // --- Catalog (anonymous): Chinese text both ways, enums and int64 mapped.
  {
    const Value& search = call("searchGuides");
    ASSERT_EQ(Code(search), kOk) << "SearchGuides {query: 社会保障卡}: " << Show(search);
    std::set<std::string> provinces_with_item;
    for (const Value& g : List(search, "response.guides").values()) {
      if (Str(g, "item.itemCode") == kSocialSecurityCard) {
        EXPECT_EQ(Str(g, "item.nameZh"), kSocialSecurityCardName)
            << "the item name did not survive the round trip: " << Show(g);
        provinces_with_item.insert(Str(g, "provinceCode"));
      }
    }
    EXPECT_EQ(provinces_with_item, (std::set<std::string>{kBeijing, kShanghai, kHunan}))
        << "SearchGuides should find 社会保障卡申领 in every province: " << Show(search);
    EXPECT_EQ(List(search, "response.missingProvinces").values_size(), 0) << Show(search);
  }
  {
    const Value& guide = call("getItemGuide");
    ASSERT_EQ(Code(guide), kOk) << "GetItemGuide(310000, GG00020600): " << Show(guide);
    EXPECT_EQ(Str(guide, "response.guide.provinceCode"), kShanghai) << Show(guide);
    EXPECT_EQ(Str(guide, "response.guide.item.itemCode"), kSocialSecurityCard) << Show(guide);
    EXPECT_EQ(Str(guide, "response.guide.item.nameZh"), kSocialSecurityCardName) << Show(guide);
    EXPECT_EQ(Str(guide, "response.guide.status"), "ITEM_STATUS_ACTIVE")
        << "enums as names (proto-loader enums: String): " << Show(guide);
    // int64 → string (longs: String), a positive version.
    const std::string version = Str(guide, "response.guide.version");
    EXPECT_FALSE(version.empty() || version[0] == '<' || version == "0")
        << "guide.version should be a positive int64 as a string: " << Show(guide);
    bool m09_key = false;
    for (const Value& m : List(guide, "response.guide.materials").values()) {
      if (Str(m, "materialId") == "M09")
        m09_key = At(m, "key") != nullptr && At(m, "key")->bool_value();
    }
    EXPECT_TRUE(m09_key) << "Shanghai's guide lists M09 as a key material: " << Show(guide);
  }
  {
    const Value& where = call("findWhereToFile");
    ASSERT_EQ(Code(where), kOk) << "FindWhereToFile(GG00020600 from 430000): " << Show(where);
    std::set<std::string> handling;
    for (const Value& o : List(where, "response.options").values()) {
      handling.insert(Str(o, "handlingProvince"));
      EXPECT_EQ(Str(o, "guide.item.itemCode"), kSocialSecurityCard) << Show(o);
      EXPECT_EQ(Str(o, "scope"), "ITEM_SCOPE_NATIONAL") << Show(o);
    }
    EXPECT_EQ(handling, (std::set<std::string>{kBeijing, kShanghai, kHunan})) << Show(where);
  }

  // --- Filing as citizen A (no idNumber: the token's subject is the applicant).
  const Value& submit = call("submit");
  ASSERT_EQ(Code(submit), kOk) << "SubmitMyApplication as A: " << Show(submit);
  const std::string id = Str(submit, "response.application.applicationId");
  EXPECT_EQ(id.rfind("TB-430000-310000-", 0), 0u)
      << "accepted at 430000 for 310000: " << Show(submit);
  EXPECT_EQ(Str(submit, "response.application.state"), "APPLICATION_STATE_PENDING_SUPPLEMENT")
      << "M03 (容缺-able) is missing: " << Show(submit);
  EXPECT_EQ(Str(submit, "response.precheckOutcome"), "PRECHECK_OUTCOME_ACCEPT_WITH_DEFICIENCY")
      << Show(submit);
  EXPECT_EQ(Str(submit, "response.application.applicant.idNumber"), citizen_a)
      << "the applicant is the token's subject: " << Show(submit);
  EXPECT_EQ(Str(submit, "response.application.applicant.name"), "张三") << Show(submit);
  EXPECT_FALSE(At(submit, "response.replayed") == nullptr ||
               At(submit, "response.replayed")->bool_value())
      << "the first submission is not a replay: " << Show(submit);
  {
    const auto& missing = List(submit, "response.application.missingMaterialIds");
    ASSERT_EQ(missing.values_size(), 1) << Show(submit);
    EXPECT_EQ(missing.values(0).string_value(), "M03") << Show(submit);
    // The materials as grpc-js sent them (sizes are int64: strings both ways).
    const auto& sent = List(root, "client.submittedMaterials");
    const auto& stored = List(submit, "response.application.materials");
    ASSERT_EQ(sent.values_size(), 3);
    ASSERT_EQ(stored.values_size(), 3) << Show(submit);
    for (int i = 0; i < 3; ++i) {
      for (const char* f : {"materialId", "contentSha256", "sizeBytes", "mediaType"}) {
        EXPECT_EQ(Str(stored.values(i), f), Str(sent.values(i), f))
            << "material " << i << " field " << f << ": sent " << Show(sent.values(i))
            << ", stored " << Show(stored.values(i));
      }
    }
  }

  const Value& replay = call("submitReplay");
  ASSERT_EQ(Code(replay), kOk) << "the same submission again: " << Show(replay);
  EXPECT_EQ(Str(replay, "response.application.applicationId"), id) << Show(replay);
  EXPECT_TRUE(At(replay, "response.replayed") != nullptr &&
              At(replay, "response.replayed")->bool_value())
      << "the same idempotency key answers replayed: true: " << Show(replay);

  const Value& get_a = call("getAsA");
  ASSERT_EQ(Code(get_a), kOk) << "GetMyApplication as A: " << Show(get_a);
  EXPECT_EQ(Str(get_a, "response.application.applicationId"), id) << Show(get_a);
  const auto& events = List(get_a, "response.application.events");
  ASSERT_GE(events.values_size(), 1) << "GetMyApplication carries the history: " << Show(get_a);
  EXPECT_EQ(Str(events.values(0), "action"), "APPLICATION_ACTION_SUBMIT") << Show(get_a);
  EXPECT_EQ(Str(events.values(0), "actor"), "citizen:" + citizen_a) << Show(get_a);
  const std::string submit_event_id = Str(events.values(0), "eventId");

  {
    const Value& list = call("listAsA");
    ASSERT_EQ(Code(list), kOk) << "ListMyApplications as A: " << Show(list);
    int found = 0;
    for (const Value& a : List(list, "response.applications").values()) {
      if (Str(a, "applicationId") == id) ++found;
      EXPECT_EQ(Str(a, "applicant.idNumber"), citizen_a) << "only A's own: " << Show(a);
    }
    EXPECT_EQ(found, 1) << "A's application, listed once: " << Show(list);
    EXPECT_EQ(List(list, "response.missingProvinces").values_size(), 0) << Show(list);
  }

  // --- Another citizen cannot see or change it; the answer leaks nothing.
  for (const char* name : {"getAsB", "withdrawAsB"}) {
    const Value& c = call(name);
    EXPECT_EQ(Code(c), kNotFound) << name
                                  << ": another citizen's application is NOT_FOUND: " << Show(c);
    const std::string details = Str(c, "details");
    EXPECT_FALSE(Contains(details, citizen_a) || Contains(details, "张三"))
        << name << " leaks the applicant: " << Show(c);
  }

  // --- Authentication.
  for (const char* name : {"listWithoutToken", "getWithoutToken"}) {
    const Value& c = call(name);
    EXPECT_EQ(Code(c), kUnauthenticated) << name << ": " << Show(c);
    EXPECT_TRUE(Contains(Lower(Str(c, "details")), "token"))
        << name << ": UNAUTHENTICATED should say a token is needed: " << Show(c);
  }
  {
    const Value& c = call("listExpired");
    EXPECT_EQ(Code(c), kUnauthenticated) << "expired token: " << Show(c);
    EXPECT_TRUE(Contains(Lower(Str(c, "details")), "expired"))
        << "the message should say the token expired: " << Show(c);
  }

  // --- A bad request names the field.
  {
    const Value& c = call("submitBadItem");
    EXPECT_EQ(Code(c), kInvalidArgument) << "item code GG0002060X: " << Show(c);
    const std::string details = Str(c, "details");
    EXPECT_TRUE(Contains(details, "item_code") || Contains(details, "itemCode"))
        << "INVALID_ARGUMENT should name the field: " << Show(c);
  }

  // --- A withdraws (B's attempt changed nothing: it still can).
  const Value& withdraw = call("withdrawAsA");
  ASSERT_EQ(Code(withdraw), kOk) << "WithdrawMyApplication as A: " << Show(withdraw);
  EXPECT_EQ(Str(withdraw, "response.application.applicationId"), id) << Show(withdraw);
  // The window records and relays the withdrawal at once; the state is the
  // handling province's to change (docs/protocol.md, authority table).
  EXPECT_EQ(Str(withdraw, "response.application.state"), "APPLICATION_STATE_PENDING_SUPPLEMENT")
      << Show(withdraw);

  // --- The same system, seen from C++. The handling node gets the
  // withdrawal through the outbox, applies it, and the accepting node
  // mirrors its answer.
  auto officer_get = [&](const std::string& province, v1::Application* out) {
    auto stub = v1::ApplicationService::NewStub(FastChannel(
        federation.node_address(province), "province/" + province + "/officer/officer-01"));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    v1::GetApplicationRequest req;
    req.set_application_id(id);
    v1::GetApplicationResponse resp;
    grpc::Status s = stub->GetApplication(&ctx, req, &resp);
    if (s.ok()) *out = resp.application();
    return s;
  };
  v1::Application accepting_copy;
  EXPECT_TRUE(WaitUntil(std::chrono::seconds(20), [&] {
    return officer_get(kHunan, &accepting_copy).ok() &&
           accepting_copy.state() == v1::APPLICATION_STATE_WITHDRAWN;
  })) << "the accepting node (430000) did not mirror the withdrawal of " << id << ": "
      << accepting_copy.DebugString();

  v1::Application handling_copy;
  const bool withdrawn_at_handling = WaitUntil(std::chrono::seconds(20), [&] {
    return officer_get(kShanghai, &handling_copy).ok() &&
           handling_copy.state() == v1::APPLICATION_STATE_WITHDRAWN;
  });
  ASSERT_TRUE(withdrawn_at_handling)
      << "the handling node (310000) did not show grpc-js's withdrawal of " << id
      << " within 20 s; last seen: " << handling_copy.DebugString();
  EXPECT_EQ(handling_copy.applicant().id_number(), citizen_a);
  EXPECT_EQ(handling_copy.applicant().name(), "张三");
  EXPECT_EQ(handling_copy.item_code(), kSocialSecurityCard);
  EXPECT_EQ(handling_copy.item_name_zh(), kSocialSecurityCardName);
  {
    const auto& sent = List(root, "client.submittedMaterials");
    ASSERT_EQ(handling_copy.materials_size(), sent.values_size()) << handling_copy.DebugString();
    for (int i = 0; i < handling_copy.materials_size(); ++i) {
      const v1::SuppliedMaterial& m = handling_copy.materials(i);
      EXPECT_EQ(m.material_id(), Str(sent.values(i), "materialId"));
      EXPECT_EQ(m.content_sha256(), Str(sent.values(i), "contentSha256"));
      EXPECT_EQ(std::to_string(m.size_bytes()), Str(sent.values(i), "sizeBytes"));
      EXPECT_EQ(m.media_type(), Str(sent.values(i), "mediaType"));
    }
  }
  std::vector<std::string> handling_events;
  for (const auto& e : handling_copy.events()) {
    handling_events.push_back(e.event_id() + "/" + v1::ApplicationAction_Name(e.action()));
  }
  EXPECT_NE(std::find(handling_events.begin(), handling_events.end(),
                      submit_event_id + "/APPLICATION_ACTION_SUBMIT"),
            handling_events.end())
      << "the SUBMIT event grpc-js read (" << submit_event_id
      << ") is in the handling node's history: " << handling_copy.DebugString();

  // grpc++ on the same public port, as citizen A, reads what grpc-js wrote.
  {
    auto citizens = v1::CitizenService::NewStub(MakeChannel(target, nullptr));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(5000));
    ctx.AddMetadata("authorization", "Bearer " + token_a);
    v1::GetMyApplicationRequest req;
    req.set_application_id(id);
    v1::GetMyApplicationResponse resp;
    grpc::Status cs = citizens->GetMyApplication(&ctx, req, &resp);
    ASSERT_TRUE(cs.ok()) << "grpc++ GetMyApplication as A: " << cs.error_code() << " "
                         << cs.error_message();
    EXPECT_EQ(resp.application().application_id(), id);
    EXPECT_EQ(resp.application().state(), v1::APPLICATION_STATE_WITHDRAWN)
        << resp.application().DebugString();
  }
}

// The script's contract with this test: usage errors exit non-zero with
// the reason on stderr (never a half-printed JSON object with exit 0).
TEST(EdgeGrpcJsTest, ScriptRefusesIncompleteUsage) {
  ProcessResult r = RunProcess(
      ScriptCommand(
          {"--ca=/nonexistent", "--proto-dir=" TONGBAN_PROTO_DIR, "--modules=" TONGBAN_GRPCJS_DIR}),
      {"TONGBAN_TARGET=", "TONGBAN_TOKEN_A=a", "TONGBAN_TOKEN_B=b", "TONGBAN_TOKEN_EXPIRED=c"},
      std::chrono::seconds(30));
  ASSERT_TRUE(r.start_error.empty()) << r.start_error;
  EXPECT_EQ(r.exit_code, 2) << "stderr: " << r.err;
  EXPECT_TRUE(Contains(r.err, "--target is required")) << "stderr: " << r.err;
  EXPECT_TRUE(r.out.empty()) << "stdout: " << r.out;
}

}  // namespace
}  // namespace tongban::testing
