// Scenario 5: the public edge (docs/public-api.md). The same CitizenService
// calls over REST/JSON (HTTPS; httplib client, event-driven server) and over
// public gRPC (TLS), both with a citizen token, against a gateway of their own: what one call costs
// the gateway in CPU on each face.
#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "bench_scenarios.h"
#include "citizen_token.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "httplib.h"
#include "resident_id.h"
#include "tongban/v1/citizen.grpc.pb.h"

namespace tongban::bench {
namespace {

// The dev federation's token settings (certs/gen-dev-certs.sh, tongbanctl token mint).
constexpr char kTokenIssuer[] = "https://id.tongban.dev";
constexpr char kTokenAudience[] = "tongban-public-api";
constexpr char kTokenKid[] = "dev-1";
constexpr absl::Duration kTokenTtl = absl::Hours(1);
constexpr absl::Duration kCallDeadline = absl::Seconds(10);
constexpr char kGatewayName[] = "edge";

enum class Operation { kGuide, kApplication };
enum class Face { kRest, kRestGzip, kGrpc };

using Citizen = EdgeCitizen;
using Edge = EdgeEndpoint;

std::string OperationName(Operation op) {
  return op == Operation::kGuide ? absl::StrCat("GetItemGuide (", kHomeProvince, ", ", kItem, ")")
                                 : "GetMyApplication (own, filed at set-up)";
}

std::string FaceName(Face face) {
  switch (face) {
    case Face::kRest:
      return "REST/JSON";
    case Face::kRestGzip:
      return "REST/JSON, gzip accepted";
    case Face::kGrpc:
      return "gRPC";
  }
  return "?";
}

// A TLS channel without a client certificate (citizens send a token), with
// a connection of its own like MakeChannel's.
std::shared_ptr<grpc::Channel> PublicChannel(const Edge& edge) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFileText(edge.ca_file);
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  args.SetSslTargetNameOverride("localhost");
  return grpc::CreateCustomChannel(edge.grpc_address, grpc::SslCredentials(ssl), args);
}

void PrepareContext(grpc::ClientContext* c, const Citizen& citizen) {
  c->set_deadline(absl::ToChronoTime(absl::Now() + kCallDeadline));
  c->AddMetadata("authorization", citizen.bearer);
}

// One gRPC call of `op`; `bytes` (optional) gets the response's protobuf size.
grpc::Status GrpcCall(v1::CitizenService::Stub& stub, Operation op, const Citizen& citizen,
                      size_t* bytes = nullptr) {
  grpc::ClientContext c;
  PrepareContext(&c, citizen);
  if (op == Operation::kGuide) {
    v1::GetItemGuideRequest req;
    req.set_province_code(kHomeProvince);
    req.set_item_code(kItem);
    v1::GetItemGuideResponse resp;
    grpc::Status s = stub.GetItemGuide(&c, req, &resp);
    if (bytes != nullptr) *bytes = resp.ByteSizeLong();
    return s;
  }
  v1::GetMyApplicationRequest req;
  req.set_application_id(citizen.application_id);
  v1::GetMyApplicationResponse resp;
  grpc::Status s = stub.GetMyApplication(&c, req, &resp);
  if (bytes != nullptr) *bytes = resp.ByteSizeLong();
  return s;
}

std::string RestPath(Operation op, const Citizen& citizen) {
  return op == Operation::kGuide
             ? absl::StrCat("/v1/provinces/", kHomeProvince, "/items/", kItem, "/guide")
             : absl::StrCat("/v1/applications/", citizen.application_id);
}

// One client thread's HTTPS connection (kept alive) and its request.
struct RestClient {
  std::unique_ptr<httplib::SSLClient> http;
  httplib::Headers headers;
  std::string path;

  RestClient(const Edge& edge, Operation op, const Citizen& citizen, bool gzip)
      : http(std::make_unique<httplib::SSLClient>(edge.https_host, edge.https_port)),
        headers{{"Authorization", citizen.bearer},
                {"Accept", "application/json"},
                {"Accept-Encoding", gzip ? "gzip" : "identity"}},
        path(RestPath(op, citizen)) {
    http->set_ca_cert_path(edge.ca_file);
    http->enable_server_certificate_verification(true);
    http->set_keep_alive(true);
    http->set_connection_timeout(std::chrono::seconds(10));
    http->set_read_timeout(std::chrono::seconds(10));
    http->set_write_timeout(std::chrono::seconds(10));
  }

  // A transport failure or a non-2xx answer is an error. `body` and
  // `encoding` (optional) get the answer's body and Content-Encoding.
  grpc::Status Call(std::string* body = nullptr, std::string* encoding = nullptr) {
    httplib::Result res = http->Get(path, headers);
    if (!res) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          absl::StrCat("HTTPS: ", httplib::to_string(res.error())));
    }
    if (res->status < 200 || res->status > 299) {
      return grpc::Status(grpc::StatusCode::UNKNOWN,
                          absl::StrCat("HTTP ", res->status, ": ", res->body.substr(0, 160)));
    }
    if (body != nullptr) *body = std::move(res->body);
    if (encoding != nullptr) *encoding = res->get_header_value("Content-Encoding");
    return grpc::Status::OK;
  }
};

// Thread i calls as citizen i. The factory connects (one call, outside the
// window) so that a broken path answers the probe call with its real error.
WorkerFactory Clients(const Edge& edge, Operation op, Face face,
                      std::shared_ptr<const std::vector<Citizen>> citizens) {
  return [=](int index) -> CallFn {
    const Citizen citizen = (*citizens)[static_cast<size_t>(index) % citizens->size()];
    if (face == Face::kGrpc) {
      std::shared_ptr<grpc::Channel> channel = PublicChannel(edge);
      if (!WaitConnected(channel, absl::Seconds(10))) return nullptr;
      std::shared_ptr<v1::CitizenService::Stub> stub(v1::CitizenService::NewStub(channel));
      return [stub, op, citizen](int64_t) { return GrpcCall(*stub, op, citizen); };
    }
    auto client = std::make_shared<RestClient>(edge, op, citizen, face == Face::kRestGzip);
    grpc::Status first = client->Call();
    if (!first.ok()) return [first](int64_t) { return first; };
    return [client](int64_t) { return client->Call(); };
  };
}

std::string Cpu(const LoadResult& r, const std::string& probe) {
  auto it = r.cpu_us_per_call.find(probe);
  return it == r.cpu_us_per_call.end() || r.calls == 0 ? "–" : Fmt(it->second, 0);
}

double GatewayCpu(const LoadResult& r) {
  auto it = r.cpu_us_per_call.find("gateway");
  return it == r.cpu_us_per_call.end() || r.calls == 0 || r.errors > 0 ? -1 : it->second;
}

double Ratio(double a, double b) { return a >= 0 && b > 0 ? a / b : -1; }

// "2 137 B JSON (739 B gzip), 1 571 B protobuf" for the notes.
std::string AnswerSizes(const Edge& edge, Operation op, const Citizen& citizen) {
  std::string json = "?", gzip = "?", proto = "?";
  RestClient plain(edge, op, citizen, false);
  std::string body, encoding;
  if (plain.Call(&body).ok()) json = Count(static_cast<double>(body.size()));
  RestClient zipped(edge, op, citizen, true);
  zipped.http->set_decompress(false);
  if (zipped.Call(&body, &encoding).ok()) {
    gzip =
        encoding == "gzip" ? Count(static_cast<double>(body.size())) + " B gzip" : "not compressed";
  }
  auto stub = v1::CitizenService::NewStub(PublicChannel(edge));
  size_t bytes = 0;
  if (GrpcCall(*stub, op, citizen, &bytes).ok()) proto = Count(static_cast<double>(bytes));
  return absl::StrCat(json, " B JSON (", gzip, "), ", proto, " B protobuf");
}

}  // namespace

std::string PublicEdgeConfig(const std::string& certs_dir, const std::string& extra_fields) {
  const Identity id = IdentityAt(certs_dir, "gateway");
  return absl::StrFormat(R"(public_edge {
  https_address: "127.0.0.1:0"
  grpc_address: "127.0.0.1:0"
  cert_file: "%s"
  key_file: "%s"
  tokens {
    issuer: "%s"
    audience: "%s"
    keys { kid: "%s" public_key_file: "%s/citizen-tokens/public-key.pem" }
  }
  rate_limit_per_second: 100000
  rate_limit_burst: 100000
%s}
)",
                         id.cert, id.key, kTokenIssuer, kTokenAudience, kTokenKid, certs_dir,
                         extra_fields);
}

absl::Status PrepareEdgeCitizens(const BenchContext& ctx, const EdgeEndpoint& edge, int count,
                                std::vector<EdgeCitizen>* citizens) {
  const std::string key_file =
      ctx.federation->paths().certs_dir + "/citizen-tokens/signing-key.pem";
  const std::string signing_key = ReadFileText(key_file);
  if (signing_key.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        key_file,
        " is missing: certs/gen-dev-certs.sh of this tree does not make citizen-token keys"));
  }
  std::shared_ptr<grpc::Channel> channel = PublicChannel(edge);
  if (!WaitConnected(channel, absl::Seconds(10))) {
    return absl::UnavailableError("the public gRPC listener did not accept a TLS connection");
  }
  auto stub = v1::CitizenService::NewStub(channel);
  const absl::Time now = absl::Now();
  for (int i = 0; i < count; ++i) {
    EdgeCitizen c;
    c.id = MakeResidentId(absl::StrFormat("43010219900307%03d", i));
    CitizenTokenClaims claims;
    claims.subject = c.id;
    claims.issuer = kTokenIssuer;
    claims.audience = kTokenAudience;
    claims.kid = kTokenKid;
    claims.issued_at = now;
    claims.not_before = absl::InfinitePast();
    claims.expires_at = now + kTokenTtl;
    absl::StatusOr<std::string> token = MintCitizenToken(signing_key, claims);
    if (!token.ok()) return token.status();
    c.bearer = "Bearer " + *token;

    v1::SubmitMyApplicationRequest req;
    req.set_idempotency_key(absl::StrCat("edge-", ctx.run_id, "-", i));
    req.set_accepting_province(kHomeProvince);
    req.set_handling_province(kHomeProvince);
    req.set_item_code(kItem);
    req.mutable_applicant()->set_name("张三");
    req.mutable_applicant()->set_phone("13800138000");
    for (const char* material : {"M01", "M02", "M03"}) {
      v1::SuppliedMaterial* m = req.add_materials();
      m->set_material_id(material);
      m->set_content_sha256(std::string(64, 'a'));
      m->set_size_bytes(123456);
      m->set_media_type("application/pdf");
    }
    grpc::ClientContext cc;
    PrepareContext(&cc, c);
    v1::SubmitMyApplicationResponse resp;
    grpc::Status s = stub->SubmitMyApplication(&cc, req, &resp);
    if (!s.ok()) {
      return absl::UnknownError(absl::StrCat("SubmitMyApplication for citizen ", i, ": ",
                                             s.error_code(), " ", s.error_message()));
    }
    c.application_id = resp.application().application_id();
    citizens->push_back(std::move(c));
  }
  return absl::OkStatus();
}

double CoresUsed(pid_t pid, absl::Duration window) {
  const int64_t before = CpuTicks(pid, false);
  std::this_thread::sleep_for(absl::ToChronoNanoseconds(window));
  return TicksToMicros(CpuTicks(pid, false) - before) / 1e6 / absl::ToDoubleSeconds(window);
}

absl::StatusOr<absl::Duration> StartEdgeGateway(const BenchContext& ctx, const std::string& name,
                                                const std::string& public_edge_config,
                                                EdgeEndpoint* edge) {
  Federation& fed = *ctx.federation;
  absl::StatusOr<absl::Duration> started = fed.StartGateway(name, true, false, public_edge_config);
  if (!started.ok()) return started.status();
  const GatewayHandle& gateway = fed.gateway(name);
  edge->ca_file = IdentityAt(fed.paths().certs_dir, "gateway").ca;
  edge->grpc_address = gateway.public_grpc_address;
  const size_t colon = gateway.https_address.rfind(':');
  if (edge->grpc_address.empty() || colon == std::string::npos ||
      !absl::SimpleAtoi(gateway.https_address.substr(colon + 1), &edge->https_port)) {
    fed.StopGateway(name);
    return absl::InternalError(
        absl::StrCat("gateway \"", name, "\"'s ready file names no https= and public_grpc= addresses"));
  }
  edge->https_host = gateway.https_address.substr(0, colon);
  return started;
}

WorkerFactory RestGuideClients(const EdgeEndpoint& edge,
                               std::shared_ptr<const std::vector<EdgeCitizen>> citizens) {
  return Clients(edge, Operation::kGuide, Face::kRest, std::move(citizens));
}

void RunEdge(const BenchContext& ctx) {
  Federation& fed = *ctx.federation;
  const std::string certs_dir = fed.paths().certs_dir;
  const int max_clients = *std::max_element(ctx.concurrencies.begin(), ctx.concurrencies.end());
  // Every client connects from 127.0.0.1: the per-address limits (64
  // connections, 32 calls in flight) would refuse the 64-client points
  // (plus RunPoint's probe connection), so they are raised here.
  const std::string edge_fields =
      "  https_max_connections_per_address: 1000\n"
      "  grpc_max_connections_per_address: 1000\n"
      "  max_calls_in_flight_per_address: 1000\n";
  Table& t = ctx.report->AddTable(
      "5. Public edge: REST/JSON vs gRPC, CitizenService at a gateway of its own (citizen token "
      "on every call)",
      {"operation", "face", "clients", "calls/s", "p50 ms", "p99 ms", "gateway µs/call",
       "node µs/call", "client µs/call", "other load", "errors"});
  auto failed = [&](const std::string& why) {
    Progress("edge: FAILED " + why);
    t.notes.push_back("Not measured: " + why);
  };
  Progress("starting gateway \"edge\" with a public_edge block (HTTPS + public gRPC)");
  Edge edge;
  absl::StatusOr<absl::Duration> started =
      StartEdgeGateway(ctx, kGatewayName, PublicEdgeConfig(certs_dir, edge_fields), &edge);
  if (!started.ok()) return failed(std::string(started.status().message()).substr(0, 400));
  const GatewayHandle& gateway = fed.gateway(kGatewayName);

  auto citizens = std::make_shared<std::vector<Citizen>>();
  if (absl::Status s = PrepareEdgeCitizens(ctx, edge, max_clients, citizens.get()); !s.ok()) {
    fed.StopGateway(kGatewayName);
    return failed(std::string(s.message()).substr(0, 400));
  }
  Progress(absl::StrCat("edge: ", citizens->size(), " citizens with a token and an application (",
                        citizens->front().application_id, ", …)"));
  // Its catalog cache loads at start: wait until the gateway is idle, then
  // measure what it burns with no calls (health checks, cache refresh).
  const pid_t gateway_pid = gateway.process->pid();
  for (absl::Time end = absl::Now() + absl::Seconds(20); absl::Now() < end;) {
    if (CoresUsed(gateway_pid, absl::Milliseconds(500)) < 0.05) break;
  }
  const double idle_cores = CoresUsed(gateway_pid, absl::Seconds(2));

  const std::vector<Operation> operations = {Operation::kGuide, Operation::kApplication};
  const std::vector<Face> faces = {Face::kRest, Face::kRestGzip, Face::kGrpc};
  std::vector<CpuProbe> probes = {{"gateway", {gateway_pid}, false},
                                  {"node", {fed.node(kHomeProvince).process->pid()}, false}};
  Table& ratios =
      ctx.report->AddTable("5b. Public edge: gateway CPU per call, REST/JSON ÷ gRPC",
                           {"operation", "clients", "gRPC µs/call", "REST µs/call", "REST ÷ gRPC",
                            "REST gzip µs/call", "REST gzip ÷ gRPC", "calls/s REST ÷ gRPC"});
  std::vector<std::string> sizes;
  for (Operation op : operations) {
    sizes.push_back(
        absl::StrCat(OperationName(op), ": ", AnswerSizes(edge, op, citizens->front())));
    for (int c : ctx.concurrencies) {
      std::map<Face, LoadResult> results;
      for (Face face : faces) {
        LoadResult r = RunPoint(ctx, absl::StrCat("edge ", OperationName(op), " ", FaceName(face)),
                                c, Clients(edge, op, face, citizens), probes);
        t.rows.push_back({OperationName(op), FaceName(face), std::to_string(c),
                          Count(r.calls_per_second), Fmt(r.p50_ms, 2), Fmt(r.p99_ms, 2),
                          Cpu(r, "gateway"), Cpu(r, "node"), Cpu(r, "client"),
                          Fmt(r.foreign_cores, 2), Errors(r)});
        results[face] = r;
      }
      const double grpc = GatewayCpu(results[Face::kGrpc]);
      const double rest = GatewayCpu(results[Face::kRest]);
      const double gzip = GatewayCpu(results[Face::kRestGzip]);
      const double throughput =
          Ratio(results[Face::kRest].calls_per_second, results[Face::kGrpc].calls_per_second);
      ratios.rows.push_back({OperationName(op), std::to_string(c), Fmt(grpc, 0), Fmt(rest, 0),
                             Fmt(Ratio(rest, grpc), 2) + "×", Fmt(gzip, 0),
                             Fmt(Ratio(gzip, grpc), 2) + "×", Fmt(throughput, 2) + "×"});
    }
  }
  fed.StopGateway(kGatewayName);

  t.notes.push_back(absl::StrCat(
      "A gateway of its own (\"edge\", started in ", absl::ToInt64Milliseconds(*started),
      " ms) over the same 31 nodes, with public_edge: HTTPS (the "
      "event-driven server: 2 I/O threads, 64 handler threads; per-address limits raised to "
      "1 000 connections and calls in flight, since every client comes from 127.0.0.1) and public "
      "gRPC, both TLS with the gateway's certificate and no client "
      "certificate; token keys from the test PKI; rate limit raised to its maximum (100 000/s, "
      "burst 100 000 per citizen) so nothing is throttled. Each client thread is one citizen "
      "(ES256 token, 1 h) with one connection: an httplib::SSLClient kept alive (Accept-Encoding: "
      "identity, or gzip for the gzip rows) or a gRPC channel of its own (authorization "
      "metadata). GetMyApplication reads the application the thread's citizen filed at set-up "
      "(accepted and handled at ",
      kHomeProvince,
      ", materials M01 M02 M03). A non-2xx answer "
      "counts as an error. Answer sizes: ",
      absl::StrJoin(sizes, "; "), ". The edge gateway used ", Fmt(idle_cores * 100, 1),
      " % of a core with no calls (health checks, catalog refresh); that is inside every "
      "gateway figure and the same for both faces."));
  ratios.notes.push_back(
      "What it means: both faces run the same CitizenApi code behind the same CitizenGate "
      "(the token is checked on every call: ES256 verification the first time, then the "
      "verifier's cache, a SHA-256 of the token and a lookup) and make the same node call, so "
      "the difference is the transport and the encoding: HTTP/1.1 on the event-driven server "
      "(Beast parser on an I/O thread; the handler on that I/O thread when the other one is "
      "free, else on a worker thread), the request's headers parsed into a map, and the answer "
      "in protobuf's proto3 JSON mapping (the edge's reflection printer, byte-equal to "
      "MessageToJsonString with always_print_primitive_fields) and, in the gzip rows, "
      "compressed with zlib (answers of 1 KiB or more, reused deflate streams), against HTTP/2 "
      "and binary protobuf on the synchronous gRPC server. REST ÷ gRPC is the factor for a "
      "replica's CPU budget: N calls/s over REST need about that many times the gateway CPU of "
      "N calls/s over gRPC. Throughput (last column) follows the CPU of all processes, since "
      "client, gateway and node share the same 2 cores; the node answers the same call on both "
      "faces, and client µs/call (this process: httplib or gRPC client) is context only.");
}

}  // namespace tongban::bench
