// Fuzz target: what other provinces deliver to a node through the gateway —
// DeliverApplication and DeliverEvent with arbitrary protobuf bytes, applied
// by the real FederationServiceImpl of node 310000 (Shanghai) on a temporary
// SQLite store that already holds applications to deliver events for:
//   TB-310000-430000-20260301-00000001  accepted here, handled by 430000
//                                       (filed by a Shanghai officer)
//   TB-430000-310000-20260301-00000001  accepted by 430000, handled here
//                                       (filed on a Hunan fixture node and
//                                       delivered as the gateway would)
//
// Input: byte 0 = flags: bit 0 picks DeliverEvent (1) or DeliverApplication
// (0); bits 1-2 the caller: 0 the gateway stamping as origin the province the
// message claims to come from (so the authority and content checks are
// reached), 1 the gateway stamping the province kOrigins[byte 1], 2 the
// gateway without a stamp, 3 node 430000 itself. Byte 1: see above. The rest
// is the serialized request. The node must never crash, leak or hang; any
// error status but INTERNAL / UNKNOWN is fine. After every call the two
// applications must still read back with valid states.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/strings/string_view.h"
#include "application_id.h"
#include "fuzz_check.h"
#include "node_fixture.h"
#include "resident_id.h"

namespace tongban::fuzz {
namespace {

constexpr char kOwn[] = "310000";
constexpr char kOther[] = "430000";
constexpr char kOfficer310[] = "spiffe://tongban/province/310000/officer/officer-01";
constexpr char kOfficer430[] = "spiffe://tongban/province/430000/officer/officer-01";
constexpr const char* kOrigins[] = {"430000", "310000", "110000", "440000", "650000", "000000"};

v1::SuppliedMaterial Material(const std::string& id) {
  v1::SuppliedMaterial m;
  m.set_material_id(id);
  m.set_content_sha256(std::string(64, 'a'));
  m.set_size_bytes(123456);
  m.set_media_type("application/pdf");
  return m;
}

v1::SubmitApplicationRequest Submission(const std::string& key, const std::string& handling,
                                        std::initializer_list<const char*> materials) {
  v1::SubmitApplicationRequest r;
  r.set_idempotency_key(key);
  r.set_item_code("GG00020600");  // 社会保障卡申领
  r.set_handling_province(handling);
  r.mutable_applicant()->set_id_number(MakeResidentId("43122619900101123"));
  r.mutable_applicant()->set_name("张三");
  r.mutable_applicant()->set_phone("13800138000");
  for (const char* id : materials) *r.add_materials() = Material(id);
  return r;
}

void Expect(const grpc::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "federation fuzz set-up: %s: %d %s\n", what,
                 static_cast<int>(s.error_code()), s.error_message().c_str());
    std::abort();
  }
}

// Node 310000 with its two applications; built once.
NodeFixture& Node() {
  static NodeFixture* node = [] {
    NodeFixture& own = NodeFixture::Get(kOwn);
    {
      CallContext ctx(FakeCaller{kOfficer310, false, "", false, ""});
      v1::SubmitApplicationResponse resp;
      auto req = Submission("fuzz-seed-outgoing-1", kOther, {"M01", "M02", "M03"});
      Expect(own.application_service().SubmitApplicationNow(*ctx.get(), req, &resp),
             "submit at 310000 for 430000");
    }
    // What node 430000 would forward: its stored application, filed by its officer.
    NodeFixture& other = NodeFixture::Get(kOther);
    std::string id;
    {
      CallContext ctx(FakeCaller{kOfficer430, false, "", false, ""});
      v1::SubmitApplicationResponse resp;
      auto req = Submission("fuzz-seed-incoming-1", kOwn, {"M01", "M02", "M03", "M09"});
      Expect(other.application_service().SubmitApplicationNow(*ctx.get(), req, &resp),
             "submit at 430000 for 310000");
      id = resp.application().application_id();
    }
    v1::DeliverApplicationRequest deliver;
    {
      CallContext ctx(FakeCaller{kOfficer430, false, "", false, ""});
      v1::GetApplicationRequest get;
      get.set_application_id(id);
      v1::GetApplicationResponse got;
      Expect(other.application_service().GetApplication(ctx.get(), &get, &got), "get at 430000");
      *deliver.mutable_application() = got.application();
    }
    {
      CallContext ctx(FakeCaller{"spiffe://tongban/gateway", false, "", true, kOther});
      v1::DeliverApplicationResponse resp;
      grpc::Status s = own.federation_service().DeliverApplication(ctx.get(), &deliver, &resp);
      // Once deliveries must be signed, an unsigned one is refused: the target
      // then fuzzes against the outgoing application only.
      if (!s.ok() && Verbose()) {
        std::fprintf(stderr, "set-up delivery refused: %d %s\n", static_cast<int>(s.error_code()),
                     s.error_message().c_str());
      }
    }
    return &own;
  }();
  return *node;
}

// The province a message says it comes from.
std::string ClaimedOrigin(const v1::DeliverApplicationRequest& req) {
  return req.application().accepting_province();
}
std::string ClaimedOrigin(const v1::DeliverEventRequest& req) {
  if (!req.event().province_code().empty()) return req.event().province_code();
  auto parts = ParseApplicationId(req.application_id());
  if (!parts.ok()) return kOther;
  return parts->accepting_province == kOwn ? parts->handling_province : parts->accepting_province;
}

template <typename Req>
FakeCaller CallerFor(uint8_t flags, uint8_t pick, const Req& req) {
  switch ((flags >> 1) & 3) {
    case 0: return {"spiffe://tongban/gateway", false, "", true, ClaimedOrigin(req)};
    case 1:
      return {"spiffe://tongban/gateway", false, "", true,
              kOrigins[pick % (sizeof(kOrigins) / sizeof(kOrigins[0]))]};
    case 2: return {"spiffe://tongban/gateway", false, "", false, ""};
    default: return {std::string("spiffe://tongban/province/") + kOther, false, "", false, ""};
  }
}

// Every application the node holds must still be readable by its officer.
void CheckStoredApplications(NodeFixture& node) {
  for (const char* id : {"TB-310000-430000-20260301-00000001",
                         "TB-430000-310000-20260301-00000001"}) {
    CallContext ctx(FakeCaller{kOfficer310, false, "", false, ""});
    v1::GetApplicationRequest get;
    get.set_application_id(id);
    v1::GetApplicationResponse got;
    grpc::Status s = node.application_service().GetApplication(ctx.get(), &get, &got);
    FUZZ_CHECK(s.ok() || s.error_code() == grpc::StatusCode::NOT_FOUND);
    if (!s.ok()) continue;
    FUZZ_CHECK(v1::ApplicationState_IsValid(got.application().state()));
    FUZZ_CHECK(got.application().state() != v1::APPLICATION_STATE_UNSPECIFIED);
    for (const auto& e : got.application().events()) {
      FUZZ_CHECK(v1::ApplicationAction_IsValid(e.action()));
      FUZZ_CHECK(v1::ApplicationState_IsValid(e.state_after()));
    }
  }
}

}  // namespace
}  // namespace tongban::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tongban::fuzz;
  if (size < 2) return 0;
  NodeFixture& node = Node();
  const uint8_t flags = data[0];
  const uint8_t pick = data[1];
  const char* bytes = reinterpret_cast<const char*>(data + 2);
  const int n = static_cast<int>(size - 2);
  grpc::Status status;
  const char* rpc;
  if (flags & 1) {
    rpc = "DeliverEvent";
    tongban::v1::DeliverEventRequest req;
    if (!req.ParseFromArray(bytes, n)) return 0;
    CallContext ctx(CallerFor(flags, pick, req));
    tongban::v1::DeliverEventResponse resp;
    status = node.federation_service().DeliverEvent(ctx.get(), &req, &resp);
  } else {
    rpc = "DeliverApplication";
    tongban::v1::DeliverApplicationRequest req;
    if (!req.ParseFromArray(bytes, n)) return 0;
    CallContext ctx(CallerFor(flags, pick, req));
    tongban::v1::DeliverApplicationResponse resp;
    status = node.federation_service().DeliverApplication(ctx.get(), &req, &resp);
  }
  if (Verbose()) {
    std::fprintf(stderr, "  %s (flags %d): %d %s\n", rpc, flags,
                 static_cast<int>(status.error_code()), status.error_message().c_str());
  }
  FUZZ_CHECK(status.error_code() != grpc::StatusCode::INTERNAL);
  FUZZ_CHECK(status.error_code() != grpc::StatusCode::UNKNOWN);
  CheckStoredApplications(node);
  return 0;
}
