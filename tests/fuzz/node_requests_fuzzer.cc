// Fuzz target: every RPC of a node's ApplicationService, CatalogService,
// FederationService and NodeAdminService, with arbitrary protobuf bytes as the request, through
// the real service objects on a temporary SQLite store (node_fixture.h).
//
// Input: byte 0 picks the RPC (kRpcs), byte 1 the caller (kCallers), the rest
// is the serialized request (inputs that do not parse are skipped, as gRPC
// would refuse them before the handler). The node must never crash, leak or
// hang; any error status is fine except INTERNAL or UNKNOWN, which would mean
// the request reached a path the node does not handle.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "fuzz_check.h"
#include "node_fixture.h"
#include "resident_id.h"

namespace tongban::fuzz {
namespace {

constexpr char kProvince[] = "310000";

// Parses `bytes` as Req and answers it with `call(req, &resp)`; false when
// they do not parse.
template <typename Req, typename Resp, typename Call>
bool ParseAndCall(absl::string_view bytes, grpc::Status* status, Call call) {
  Req req;
  if (!req.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
  Resp resp;
  *status = call(req, &resp);
  // What the handler answered must go back on the wire.
  std::string out;
  FUZZ_CHECK(resp.SerializeToString(&out));
  return true;
}

// Calls a synchronous `method` of `service` with the parsed request.
template <typename Svc, typename Req, typename Resp>
bool Invoke(Svc& service, grpc::Status (Svc::*method)(grpc::ServerContext*, const Req*, Resp*),
            absl::string_view bytes, grpc::ServerContext* ctx, grpc::Status* status) {
  return ParseAndCall<Req, Resp>(bytes, status, [&](const Req& req, Resp* resp) {
    return (service.*method)(ctx, &req, resp);
  });
}

// The same for a method answering on the calling thread in place of a
// callback-API one (FederationServiceImpl::CheckLicenceNow and the like).
template <typename Svc, typename Req, typename Resp>
bool Invoke(Svc& service,
            grpc::Status (Svc::*method)(const grpc::ServerContextBase&, const Req&, Resp*),
            absl::string_view bytes, grpc::ServerContext* ctx, grpc::Status* status) {
  return ParseAndCall<Req, Resp>(bytes, status, [&](const Req& req, Resp* resp) {
    return (service.*method)(*ctx, req, resp);
  });
}

// The same for a raw callback method answered with kept serialized bytes
// (callback_reply.h, AnswerWithKeptBytes): the bytes must parse as `Resp`.
template <typename Req, typename Resp, typename Call>
bool InvokeKept(absl::string_view bytes, grpc::Status* status, Call call) {
  Req req;
  if (!req.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
  std::shared_ptr<const std::string> answer;
  *status = call(req, &answer);
  Resp resp;
  FUZZ_CHECK(!status->ok() || resp.ParseFromString(*answer));
  return true;
}

struct Rpc {
  const char* name;
  std::function<bool(NodeFixture&, absl::string_view, grpc::ServerContext*, grpc::Status*)> call;
};

#define APP_RPC(M) \
  Rpc{#M, [](NodeFixture& n, absl::string_view b, grpc::ServerContext* c, grpc::Status* s) { \
        return Invoke(n.application_service(), &node::ApplicationServiceImpl::M, b, c, s);   \
      }}
#define CATALOG_RPC(M) \
  Rpc{#M, [](NodeFixture& n, absl::string_view b, grpc::ServerContext* c, grpc::Status* s) { \
        return Invoke(n.catalog_service(), &node::CatalogServiceImpl::M, b, c, s);           \
      }}
#define FEDERATION_RPC(M) \
  Rpc{#M, [](NodeFixture& n, absl::string_view b, grpc::ServerContext* c, grpc::Status* s) { \
        return Invoke(n.federation_service(), &node::FederationServiceImpl::M, b, c, s);     \
      }}
// Callback-API methods, through their calling-thread twins (M##Now).
#define APP_NOW_RPC(M) \
  Rpc{#M, [](NodeFixture& n, absl::string_view b, grpc::ServerContext* c, grpc::Status* s) { \
        return Invoke(n.application_service(), &node::ApplicationServiceImpl::M##Now, b, c, s); \
      }}
#define FEDERATION_NOW_RPC(M) \
  Rpc{#M, [](NodeFixture& n, absl::string_view b, grpc::ServerContext* c, grpc::Status* s) { \
        return Invoke(n.federation_service(), &node::FederationServiceImpl::M##Now, b, c, s); \
      }}

#define LICENCE_RPC(M) \
  Rpc{#M, [](NodeFixture& n, absl::string_view b, grpc::ServerContext* c, grpc::Status* s) { \
        return Invoke(n.licence_service(), &node::LicenceServiceImpl::M, b, c, s);           \
      }}
#define LICENCE_NOW_RPC(M) \
  Rpc{#M, [](NodeFixture& n, absl::string_view b, grpc::ServerContext* c, grpc::Status* s) { \
        return Invoke(n.licence_service(), &node::LicenceServiceImpl::M##Now, b, c, s);      \
      }}

#define ADMIN_RPC(M) \
  Rpc{#M, [](NodeFixture& n, absl::string_view b, grpc::ServerContext* c, grpc::Status* s) { \
        return Invoke(n.admin_service(), &node::NodeAdminServiceImpl::M, b, c, s);           \
      }}

// The order is part of the corpus format (byte 0): append only.
const std::vector<Rpc>& Rpcs() {
  static const auto* rpcs = new std::vector<Rpc>{
      APP_RPC(PrecheckApplication),
      APP_NOW_RPC(SubmitApplication),
      APP_RPC(GetApplication),
      APP_RPC(ListApplicationsByApplicant),
      APP_RPC(ListApplicationsByState),
      APP_RPC(SupplementMaterials),
      APP_RPC(WithdrawApplication),
      APP_RPC(DecideApplication),
      APP_RPC(EscalateApplication),
      APP_RPC(ListEscalations),
      APP_RPC(ResolveEscalation),
      CATALOG_RPC(ListItems),
      CATALOG_RPC(SearchItems),
      CATALOG_RPC(GetItem),
      // Raw callback methods (GetGuide here, FetchGuide below) answer with kept
      // serialized bytes (catalog_service.h).
      Rpc{"GetGuide",
          [](NodeFixture& n, absl::string_view b, grpc::ServerContext* c, grpc::Status* s) {
            return InvokeKept<v1::GetGuideRequest, v1::GetGuideResponse>(
                b, s, [&](const v1::GetGuideRequest& req, std::shared_ptr<const std::string>* a) {
                  return n.catalog_service().GuideFor(*c, req, a);
                });
          }},
      CATALOG_RPC(ListAlliances),
      CATALOG_RPC(GetCatalogInfo),
      CATALOG_RPC(AmendGuide),
      CATALOG_RPC(AbolishItem),
      FEDERATION_RPC(DeliverApplication),
      FEDERATION_RPC(DeliverEvent),
      Rpc{"FetchGuide",
          [](NodeFixture& n, absl::string_view b, grpc::ServerContext* c, grpc::Status* s) {
            return InvokeKept<v1::FetchGuideRequest, v1::FetchGuideResponse>(
                b, s, [&](const v1::FetchGuideRequest& req, std::shared_ptr<const std::string>* a) {
                  return n.federation_service().FetchGuideNow(*c, req, a);
                });
          }},
      ADMIN_RPC(ListOutbox),
      ADMIN_RPC(GetOutboxEntry),
      ADMIN_RPC(ReplayDeadLetter),
      ADMIN_RPC(DiscardDeadLetter),
      FEDERATION_NOW_RPC(CheckLicence),
      LICENCE_RPC(ListLicenceTypes),
      LICENCE_RPC(IssueLicence),
      LICENCE_RPC(RevokeLicence),
      LICENCE_RPC(GetLicence),
      LICENCE_RPC(ListLicences),
      LICENCE_NOW_RPC(VerifyLicence),
      LICENCE_RPC(ListLicenceDisclosures),
      FEDERATION_NOW_RPC(FetchLicencePreview),
      FEDERATION_NOW_RPC(ReleaseLicence),
      LICENCE_NOW_RPC(PreviewLicence),
      LICENCE_NOW_RPC(ConfirmLicence),
      LICENCE_RPC(ListHolderDisclosures),
      LICENCE_RPC(CheckApplicationLicences),
  };
  return *rpcs;
}

// The order is part of the corpus format (byte 1): append only.
const std::vector<FakeCaller>& Callers() {
  static const auto* callers = [] {
    const std::string citizen = MakeResidentId("43122619900101123");
    const std::string own = std::string("spiffe://tongban/province/") + kProvince;
    const std::string gateway = "spiffe://tongban/gateway";
    return new std::vector<FakeCaller>{
        {own + "/officer/officer-01", false, "", false, ""},      // 0 own officer
        {gateway, true, citizen, false, ""},                      // 1 citizen via the gateway
        {gateway, false, "", true, "430000"},                     // 2 relay from Hunan
        {gateway, false, "", false, ""},                          // 3 gateway, no stamps
        {"spiffe://tongban/province/430000", false, "", false, ""},  // 4 another node
        {"spiffe://tongban/province/430000/officer/officer-01", false, "", false, ""},  // 5
        {own + "/operator/ops-01", false, "", false, ""},         // 6 own operator
        {gateway, true, citizen, true, "430000"},                 // 7 both stamps
        {"", false, "", false, ""},                               // 8 no certificate
        {gateway, true, "not-a-resident-id", true, "999999"},     // 9 bad stamps
        {own, true, citizen, false, ""},                          // 10 own node forging a stamp
        {"spiffe://tongban/province/310000/officer/OFFICER", false, "", false, ""},  // 11
    };
  }();
  return *callers;
}

}  // namespace
}  // namespace tongban::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tongban::fuzz;
  if (size < 2) return 0;
  NodeFixture& node = NodeFixture::Get(kProvince);
  const Rpc& rpc = Rpcs()[data[0] % Rpcs().size()];
  const FakeCaller& caller = Callers()[data[1] % Callers().size()];
  absl::string_view request(reinterpret_cast<const char*>(data + 2), size - 2);
  CallContext ctx(caller);
  grpc::Status status;
  if (!rpc.call(node, request, ctx.get(), &status)) return 0;
  if (Verbose()) {
    std::fprintf(stderr, "  %s as caller %d: %d %s\n", rpc.name, data[1] % int(Callers().size()),
                 static_cast<int>(status.error_code()), status.error_message().c_str());
  }
  FUZZ_CHECK(status.error_code() != grpc::StatusCode::INTERNAL);
  FUZZ_CHECK(status.error_code() != grpc::StatusCode::UNKNOWN);
  return 0;
}
