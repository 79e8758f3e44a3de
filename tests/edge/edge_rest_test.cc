// The public edge's REST/JSON face end to end, as a citizen's app sees it:
// the real `curl` binary (a child process, no shell) against a real
// federation (gateway with the public edge on, five province nodes, mTLS
// between them with the test PKI), tokens signed with the test PKI's
// citizen-tokens key. One federation for the whole suite.
//
// Covered (docs/public-api.md): every route's happy path, every error class
// with its {code, message, details} body and HTTP status, the token matrix
// (401 + WWW-Authenticate), one citizen against another (404, never a
// hint), and the HTTP conventions (CORS, gzip both ways, Cache-Control,
// Retry-After).
//
// Provinces: 430000 Hunan (the window province), 310000 Shanghai (adds key
// material M09 to GG00020600), 110000 Beijing (GG11000100 closed to other
// provinces), 450000 Guangxi (XK45000101 open to others), 440000 Guangdong,
// 510000 Sichuan (issued the demo marriage certificate of 张伟, 免证办).
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "child_process.h"
#include "citizen_token.h"
#include "federation.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "node_process.h"
#include "node_test_data.h"
#include "resident_id.h"
#include "tongban/v1/citizen.pb.h"

extern char** environ;

namespace tongban::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kHunan[] = "430000";
constexpr char kShanghai[] = "310000";
constexpr char kBeijing[] = "110000";
constexpr char kGuangxi[] = "450000";
constexpr char kGuangdong[] = "440000";
constexpr char kSichuan[] = "510000";

// 免证办 (docs/licences.md), node/demo_catalog/licences.tsv: Sichuan's
// marriage certificate of 张伟 (a Hunan resident married in Chengdu); Shanghai's
// guide of 夫妻投靠户口迁移 takes MZ01 for M03. kNobody holds no licence.
constexpr char kZhangWei[] = "430102199001011238";
constexpr char kNobody[] = "430102199001012249";
constexpr char kSpouseHukou[] = "QR00070104";
constexpr char kMarriageUse[] =
    R"("use": {"itemCode": "QR00070104", "handlingProvince": "310000", "materialId": "M03"})";

constexpr char kAppOrigin[] = "https://app.example.cn";
constexpr char kEvilOrigin[] = "https://evil.example";

// 社会保障卡, percent-encoded UTF-8, for query strings.
constexpr char kSocialSecurityCardQuery[] = "%E7%A4%BE%E4%BC%9A%E4%BF%9D%E9%9A%9C%E5%8D%A1";

// ---------------------------------------------------------------------------
// Child processes and files

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

bool ContainsIgnoreCase(const std::string& haystack, const std::string& needle) {
  return Lower(haystack).find(Lower(needle)) != std::string::npos;
}

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

// ---------------------------------------------------------------------------
// HTTP through curl

struct HttpRequest {
  std::string method = "GET";
  std::string path;                               // with the query string, already percent-encoded
  std::string token;                              // sent as "Authorization: Bearer <token>"
  std::string authorization;                      // a raw Authorization header (wins over token)
  std::vector<std::string> headers;               // more "Name: value" headers
  std::optional<std::string> body;                // sent byte for byte
  std::string content_type = "application/json";  // of the body; "" = none
  bool compressed = false;                        // curl --compressed
};

struct HttpResult {
  int status = 0;                              // 0 = curl failed (see error)
  std::map<std::string, std::string> headers;  // lower-case names; repeats joined ", "
  std::string body;
  std::string error;  // curl's stderr when it failed
  std::string raw_headers;

  bool Has(const std::string& name) const { return headers.count(name) > 0; }
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  // For failure messages.
  std::string Describe() const {
    return "HTTP " + std::to_string(status) + "\n" + raw_headers + body +
           (error.empty() ? "" : "\ncurl: " + error);
  }
};

// The header block of the last response in a -D file (a 100 Continue, if
// any, comes first).
std::map<std::string, std::string> ParseHeaderBlock(const std::string& raw) {
  std::map<std::string, std::string> headers;
  std::istringstream in(raw);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("HTTP/", 0) == 0) {
      headers.clear();
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = Lower(line.substr(0, colon));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
    auto [it, inserted] = headers.emplace(name, value);
    if (!inserted) it->second += ", " + value;
  }
  return headers;
}

// Percent-encodes a query or path value (RFC 3986 unreserved kept).
std::string PercentEncode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// JSON through protobuf's proto3 JSON mapping

template <typename M>
std::string ToJson(const M& message) {
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(message, &json).ok());
  return json;
}

// Strict: a field the proto does not know fails the parse, so the test
// notices when the edge answers something the API does not describe.
template <typename M>
::testing::AssertionResult ParseJson(const std::string& json, M* out) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(json, out, options);
  if (!status.ok()) {
    return ::testing::AssertionFailure() << "not a " << M::descriptor()->full_name() << " in JSON ("
                                         << status.ToString() << "): " << json.substr(0, 2000);
  }
  return ::testing::AssertionSuccess();
}

// ---------------------------------------------------------------------------
// Citizens and tokens

// A valid resident id (GB 11643 check character) per test role.
std::string CitizenId(int n) {
  std::string seq = std::to_string(n);
  while (seq.size() < 3) seq.insert(0, "0");
  return MakeResidentId("43010219900307" + seq);
}

std::string SigningKeyPem() { return ReadFile(CertsDir() + "/citizen-tokens/signing-key.pem"); }

CitizenTokenClaims ValidClaims(const std::string& citizen) {
  CitizenTokenClaims claims;
  claims.subject = citizen;
  claims.issuer = kTestTokenIssuer;
  claims.audience = kTestTokenAudience;
  const absl::Time now = absl::Now();
  claims.issued_at = now - absl::Seconds(5);
  claims.not_before = absl::InfinitePast();
  claims.expires_at = now + absl::Hours(1);
  claims.kid = "dev-1";
  return claims;
}

std::string Mint(const CitizenTokenClaims& claims, const std::string& key_pem = SigningKeyPem()) {
  absl::StatusOr<std::string> token = MintCitizenToken(key_pem, claims);
  EXPECT_TRUE(token.ok()) << token.status();
  return token.ok() ? *token : "";
}

std::string TokenFor(const std::string& citizen) { return Mint(ValidClaims(citizen)); }

// An EC P-256 private key nobody trusts, PEM.
std::string ForeignKeyPem() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (key == nullptr) return "";
  BIO* bio = BIO_new(BIO_s_mem());
  std::string pem;
  if (PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) == 1) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    pem.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  EVP_PKEY_free(key);
  return pem;
}

std::vector<std::string> SplitToken(const std::string& token) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot = token.find('.'); dot != std::string::npos; dot = token.find('.', start)) {
    parts.push_back(token.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(token.substr(start));
  return parts;
}

std::string Base64Url(const std::string& raw) {
  std::string out;
  absl::WebSafeBase64Escape(raw, &out);  // unpadded, as JWS wants
  return out;
}

// ---------------------------------------------------------------------------
// Requests

v1::SuppliedMaterial MaterialMeta(const std::string& id) { return Material(id); }

v1::SubmitMyApplicationRequest Submission(const std::string& key, const std::string& accepting,
                                          const std::string& handling, const std::string& item,
                                          const std::vector<std::string>& materials,
                                          const std::string& name = "张三") {
  v1::SubmitMyApplicationRequest r;
  r.set_idempotency_key(key);
  r.set_accepting_province(accepting);
  r.set_handling_province(handling);
  r.set_item_code(item);
  r.mutable_applicant()->set_name(name);
  r.mutable_applicant()->set_phone("13800138000");
  for (const std::string& id : materials) *r.add_materials() = MaterialMeta(id);
  return r;
}

std::vector<std::string> MaterialIdsOf(const v1::Guide& guide) {
  std::vector<std::string> ids;
  for (const auto& m : guide.materials()) ids.push_back(m.material_id());
  return ids;
}

bool HasEvent(const v1::Application& app, v1::ApplicationAction action) {
  for (const auto& e : app.events()) {
    if (e.action() == action) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// The suite

class EdgeRestTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    suite_start_ = new absl::Time(absl::Now());
    start_error_ = new std::string();
    workdir_ = new std::string(MakeTempDir("edge-rest"));
    FederationOptions options;
    options.name = "edge-rest";
    options.provinces = {kHunan, kShanghai, kBeijing, kGuangxi, kGuangdong, kSichuan};
    options.public_edge = true;  // default rate limit: burst 20, 10/s
    options.cors_allowed_origins = {kAppOrigin};
    federation_ = new Federation(options);
    if (!federation_->Start(start_error_)) return;
    if (federation_->https_address().empty()) *start_error_ = "the gateway serves no HTTPS edge";
    std::cout << "federation up in " << federation_->workdir() << ", edge https://"
              << federation_->https_address() << " after "
              << absl::ToDoubleSeconds(absl::Now() - *suite_start_) << " s" << std::endl;
  }
  static void TearDownTestSuite() {
    delete federation_;
    federation_ = nullptr;
    // curl's files (requests, answers); kept for a post-mortem after a failure.
    if (!keep_workdir_ && !workdir_->empty()) std::filesystem::remove_all(*workdir_);
    std::cout << "suite took " << absl::ToDoubleSeconds(absl::Now() - *suite_start_) << " s"
              << std::endl;
    delete start_error_;
    delete workdir_;
    delete suite_start_;
  }

  void SetUp() override {
    ASSERT_TRUE(start_error_->empty()) << "the federation did not start: " << *start_error_;
  }
  void TearDown() override {
    if (!start_error_->empty()) {
      federation_->KeepWorkdir();
      keep_workdir_ = true;
      return;
    }
    if (!federation_->directory_complete()) {
      std::string error;
      EXPECT_TRUE(federation_->RewriteDirectory(federation_->provinces(), &error)) << error;
      EXPECT_TRUE(federation_->WaitAllUp(seconds(30)));
    }
    if (HasFailure()) {
      std::cout << federation_->LogTails(3000) << std::endl;
      federation_->KeepWorkdir();
      keep_workdir_ = true;
      std::cout << "kept " << federation_->workdir() << " and " << *workdir_ << " for a post-mortem"
                << std::endl;
    }
  }

  static std::string Url(const std::string& path) {
    return "https://" + federation_->https_address() + path;
  }
  static std::string CaFile() { return CertsDir() + "/ca/ca.pem"; }
  static std::vector<std::string> CurlBase() {
    // -sS: no progress, errors on stderr; Expect: off so a large body is
    // sent at once and the final answer is the only one.
    return {"curl", "-sS", "--max-time", "30", "--cacert", CaFile(), "-H", "Expect:"};
  }

  static HttpResult Call(const HttpRequest& r) {
    const std::string base = *workdir_ + "/call-" + std::to_string(++calls_);
    std::vector<std::string> args = CurlBase();
    args.insert(args.end(), {"-D", base + ".headers", "-o", base + ".body", "-w", "%{http_code}",
                             "-X", r.method});
    if (!r.authorization.empty()) {
      args.insert(args.end(), {"-H", "Authorization: " + r.authorization});
    } else if (!r.token.empty()) {
      args.insert(args.end(), {"-H", "Authorization: Bearer " + r.token});
    }
    for (const std::string& h : r.headers) args.insert(args.end(), {"-H", h});
    if (r.body.has_value()) {
      WriteFile(base + ".request", *r.body);
      // Without a Content-Type curl would say application/x-www-form-urlencoded.
      args.insert(args.end(), {"-H", "Content-Type: " + r.content_type});
      args.insert(args.end(), {"--data-binary", "@" + base + ".request"});
    }
    if (r.compressed) args.push_back("--compressed");
    args.push_back(Url(r.path));
    ProcessResult p = RunProcess(args);
    HttpResult result;
    if (p.exit_code != 0) {
      result.error = "exit " + std::to_string(p.exit_code) + ": " + p.start_error + p.err;
      return result;
    }
    result.status = std::atoi(p.out.c_str());
    result.raw_headers = ReadFile(base + ".headers");
    result.headers = ParseHeaderBlock(result.raw_headers);
    result.body = ReadFile(base + ".body");
    // EDGE_REST_VERBOSE=1 prints every exchange (for working on the edge).
    if (std::getenv("EDGE_REST_VERBOSE") != nullptr) {
      std::cout << "> " << r.method << " " << r.path << "\n" << result.Describe() << std::endl;
    }
    return result;
  }

  // gzip (RFC 1952) of `data`, by the gzip binary.
  static std::string Gzip(const std::string& data) {
    const std::string file = *workdir_ + "/gzip-" + std::to_string(++calls_);
    WriteFile(file, data);
    ProcessResult p = RunProcess({"gzip", "-c", "-n", file});
    EXPECT_EQ(p.exit_code, 0) << p.start_error << p.err;
    return p.out;
  }

  static HttpResult Get(const std::string& path, const std::string& token = "") {
    HttpRequest r;
    r.path = path;
    r.token = token;
    return Call(r);
  }
  static HttpResult Post(const std::string& path, const std::string& body,
                         const std::string& token) {
    HttpRequest r;
    r.method = "POST";
    r.path = path;
    r.body = body;
    r.token = token;
    return Call(r);
  }

  // Files and returns the stored application (201 expected).
  static v1::Application File(const std::string& token, const v1::SubmitMyApplicationRequest& req) {
    HttpResult r = Post("/v1/applications", ToJson(req), token);
    EXPECT_EQ(r.status, 201) << r.Describe();
    v1::SubmitMyApplicationResponse resp;
    EXPECT_TRUE(ParseJson(r.body, &resp));
    return resp.application();
  }

  static HttpResult GetApplication(const std::string& id, const std::string& token) {
    return Get("/v1/applications/" + id, token);
  }

  // Polls GetMyApplication until `done` holds; genuinely asynchronous
  // (delivery to the handling province, events flowing back).
  static bool WaitForApplication(const std::string& id, const std::string& token,
                                 const std::function<bool(const v1::Application&)>& done,
                                 v1::Application* last) {
    return WaitUntil(
        seconds(15),
        [&] {
          HttpResult r = GetApplication(id, token);
          v1::GetMyApplicationResponse resp;
          if (r.status != 200 || !ParseJson(r.body, &resp)) return false;
          *last = resp.application();
          return done(*last);
        },
        milliseconds(150));
  }

  static Federation* federation_;
  static std::string* start_error_;
  static std::string* workdir_;
  static absl::Time* suite_start_;
  static int calls_;
  static bool keep_workdir_;
};

Federation* EdgeRestTest::federation_ = nullptr;
std::string* EdgeRestTest::start_error_ = nullptr;
std::string* EdgeRestTest::workdir_ = nullptr;
absl::Time* EdgeRestTest::suite_start_ = nullptr;
int EdgeRestTest::calls_ = 0;
bool EdgeRestTest::keep_workdir_ = false;

// The headers every answer carries (personal data; no sniffing).
void ExpectCommonHeaders(const HttpResult& r) {
  EXPECT_EQ(r.Header("cache-control"), "no-store") << r.Describe();
  EXPECT_EQ(r.Header("x-content-type-options"), "nosniff") << r.Describe();
}

// An error answer: the status, a JSON {code, message, details} body with
// `code`, and the common headers. Returns the body for further checks.
v1::ErrorBody ExpectError(const HttpResult& r, int status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.Describe();
  EXPECT_TRUE(Contains(r.Header("content-type"), "application/json")) << r.Describe();
  ExpectCommonHeaders(r);
  v1::ErrorBody body;
  EXPECT_TRUE(ParseJson(r.body, &body)) << r.Describe();
  EXPECT_EQ(body.code(), code) << r.Describe();
  EXPECT_FALSE(body.message().empty()) << r.Describe();
  return body;
}

// An INVALID_ARGUMENT naming `field` (JSON name) in details[0].field.
void ExpectFieldError(const HttpResult& r, const std::string& field) {
  v1::ErrorBody body = ExpectError(r, 400, "INVALID_ARGUMENT");
  ASSERT_GE(body.details_size(), 1) << r.Describe();
  EXPECT_EQ(body.details(0).field(), field) << r.Describe();
  EXPECT_FALSE(body.details(0).description().empty()) << r.Describe();
}

// ---------------------------------------------------------------------------
// 1. Every route, happy path

TEST_F(EdgeRestTest, CatalogRoutesAnswerAnonymousCitizensInChinese) {
  // Search by Chinese name, percent-encoded as a browser sends it.
  HttpResult search = Get(std::string("/v1/guides?query=") + kSocialSecurityCardQuery);
  ASSERT_EQ(search.status, 200) << search.Describe();
  ExpectCommonHeaders(search);
  EXPECT_TRUE(Contains(search.Header("content-type"), "application/json")) << search.Describe();
  // UTF-8 as is, not \u escapes: apps print what they get.
  EXPECT_TRUE(Contains(search.body, "社会保障卡")) << search.Describe();
  v1::SearchGuidesResponse found;
  ASSERT_TRUE(ParseJson(search.body, &found));
  std::set<std::string> provinces;
  for (const auto& g : found.guides()) {
    EXPECT_TRUE(Contains(g.item().name_zh(), "社会保障卡")) << g.item().name_zh();
    if (g.item().item_code() == kSocialSecurityCard) provinces.insert(g.province_code());
  }
  EXPECT_EQ(provinces, (std::set<std::string>{kBeijing, kShanghai, kGuangdong, kGuangxi, kHunan,
                                              kSichuan}));
  EXPECT_EQ(found.missing_provinces_size(), 0) << search.body;
  // Best match first, with its score (docs/search.md).
  ASSERT_EQ(found.relevance_size(), found.guides_size()) << search.body;
  for (int i = 1; i < found.relevance_size(); ++i) {
    EXPECT_GE(found.relevance(i - 1), found.relevance(i)) << search.body;
  }

  // Where can a Hunan citizen file 社会保障卡申领? Every province (national item).
  HttpResult options = Get("/v1/items/GG00020600/filing-options?acceptingProvince=430000");
  ASSERT_EQ(options.status, 200) << options.Describe();
  ExpectCommonHeaders(options);
  v1::FindWhereToFileResponse where;
  ASSERT_TRUE(ParseJson(options.body, &where));
  std::vector<std::string> handling;
  for (const auto& o : where.options()) {
    handling.push_back(o.handling_province());
    EXPECT_EQ(o.guide().item().item_code(), kSocialSecurityCard);
    EXPECT_EQ(o.guide().province_code(), o.handling_province());
  }
  // In province code order.
  EXPECT_EQ(handling,
            (std::vector<std::string>{kBeijing, kShanghai, kHunan, kGuangdong, kGuangxi,
                                      kSichuan}));

  // Shanghai's guide: its own key material M09 on top of the national list.
  HttpResult guide = Get("/v1/provinces/310000/items/GG00020600/guide");
  ASSERT_EQ(guide.status, 200) << guide.Describe();
  ExpectCommonHeaders(guide);
  v1::GetItemGuideResponse shanghai;
  ASSERT_TRUE(ParseJson(guide.body, &shanghai));
  EXPECT_EQ(shanghai.guide().province_code(), kShanghai);
  EXPECT_EQ(shanghai.guide().item().item_code(), kSocialSecurityCard);
  EXPECT_TRUE(Contains(shanghai.guide().item().name_zh(), "社会保障卡"));
  std::vector<std::string> ids = MaterialIdsOf(shanghai.guide());
  for (const char* id : {"M01", "M02", "M03", "M09"}) {
    EXPECT_NE(std::find(ids.begin(), ids.end(), id), ids.end()) << id << " in " << guide.body;
  }
  for (const auto& m : shanghai.guide().materials()) {
    EXPECT_FALSE(m.name_zh().empty()) << m.material_id();
    if (m.material_id() == "M09") {
      EXPECT_TRUE(m.key());
    }
    if (m.material_id() == "M03") {
      EXPECT_TRUE(m.deficiency_allowed());
    }
  }
}

// 无差别受理 with 容缺: a Hunan citizen files Shanghai's 社会保障卡申领
// through the Hunan channel without M03, retries, reads the history,
// supplements M03 and finally withdraws.
TEST_F(EdgeRestTest, CitizenFilesCrossProvinceSupplementsAndWithdraws) {
  const std::string citizen = CitizenId(1);
  const std::string token = TokenFor(citizen);

  v1::CheckMaterialsRequest check;
  check.set_accepting_province(kHunan);
  check.set_handling_province(kShanghai);
  check.set_item_code(kSocialSecurityCard);
  for (const char* id : {"M01", "M02", "M09"}) check.add_material_ids(id);
  HttpResult precheck = Post("/v1/applications:precheck", ToJson(check), token);
  ASSERT_EQ(precheck.status, 200) << precheck.Describe();
  ExpectCommonHeaders(precheck);
  v1::CheckMaterialsResponse verdict;
  ASSERT_TRUE(ParseJson(precheck.body, &verdict));
  EXPECT_EQ(verdict.outcome(), v1::PRECHECK_OUTCOME_ACCEPT_WITH_DEFICIENCY) << precheck.body;
  EXPECT_EQ(verdict.missing_key_size(), 0) << precheck.body;
  ASSERT_EQ(verdict.missing_deficiency_allowed_size(), 1) << precheck.body;
  EXPECT_EQ(verdict.missing_deficiency_allowed(0).material_id(), "M03");
  EXPECT_GT(verdict.supplement_days(), 0);
  EXPECT_GT(verdict.guide_version(), 0);

  // applicant.idNumber left out: the token's subject is the applicant.
  v1::SubmitMyApplicationRequest req =
      Submission("rest-life-0001", kHunan, kShanghai, kSocialSecurityCard, {"M01", "M02", "M09"});
  ASSERT_TRUE(req.applicant().id_number().empty());
  HttpResult submitted = Post("/v1/applications", ToJson(req), token);
  ASSERT_EQ(submitted.status, 201) << submitted.Describe();
  ExpectCommonHeaders(submitted);
  EXPECT_TRUE(Contains(submitted.body, "张三")) << submitted.body;
  v1::SubmitMyApplicationResponse first;
  ASSERT_TRUE(ParseJson(submitted.body, &first));
  const v1::Application& app = first.application();
  const std::string id = app.application_id();
  EXPECT_EQ(id.rfind("TB-430000-310000-", 0), 0u) << id;
  EXPECT_FALSE(first.replayed());
  EXPECT_EQ(first.precheck_outcome(), v1::PRECHECK_OUTCOME_ACCEPT_WITH_DEFICIENCY);
  EXPECT_EQ(app.state(), v1::APPLICATION_STATE_PENDING_SUPPLEMENT);
  EXPECT_EQ(app.accepting_province(), kHunan);
  EXPECT_EQ(app.handling_province(), kShanghai);
  EXPECT_EQ(app.applicant().id_number(), citizen);
  EXPECT_EQ(app.applicant().name(), "张三");
  EXPECT_EQ(std::vector<std::string>(app.missing_material_ids().begin(),
                                     app.missing_material_ids().end()),
            std::vector<std::string>{"M03"});
  EXPECT_TRUE(app.has_supplement_deadline());
  EXPECT_EQ(app.materials_size(), 3);

  // The app's retry after a lost answer: the same application, replayed.
  HttpResult again = Post("/v1/applications", ToJson(req), token);
  ASSERT_EQ(again.status, 201) << again.Describe();
  v1::SubmitMyApplicationResponse replay;
  ASSERT_TRUE(ParseJson(again.body, &replay));
  EXPECT_TRUE(replay.replayed());
  EXPECT_EQ(replay.application().application_id(), id);
  EXPECT_EQ(replay.application().state(), v1::APPLICATION_STATE_PENDING_SUPPLEMENT);

  // The history: SUBMIT first (and DELIVER once Shanghai has it).
  HttpResult got = GetApplication(id, token);
  ASSERT_EQ(got.status, 200) << got.Describe();
  ExpectCommonHeaders(got);
  v1::GetMyApplicationResponse read;
  ASSERT_TRUE(ParseJson(got.body, &read));
  EXPECT_EQ(read.application().application_id(), id);
  EXPECT_EQ(read.application().applicant().name(), "张三");
  ASSERT_GE(read.application().events_size(), 1) << got.body;
  EXPECT_EQ(read.application().events(0).action(), v1::APPLICATION_ACTION_SUBMIT);
  EXPECT_EQ(read.application().events(0).state_after(), v1::APPLICATION_STATE_PENDING_SUPPLEMENT);

  // 容缺 supplement: M03 arrives and nothing is missing any more. The window
  // records and relays it; Shanghai (the handling province) decides that the
  // application moves on to ACCEPTED, and the window mirrors its answer.
  v1::SupplementMyMaterialsRequest supplement;
  *supplement.add_materials() = MaterialMeta("M03");
  supplement.set_note("补交户口簿");
  HttpResult supplemented =
      Post("/v1/applications/" + id + ":supplement", ToJson(supplement), token);
  ASSERT_EQ(supplemented.status, 200) << supplemented.Describe();
  v1::SupplementMyMaterialsResponse after_supplement;
  ASSERT_TRUE(ParseJson(supplemented.body, &after_supplement));
  EXPECT_EQ(after_supplement.application().missing_material_ids_size(), 0);
  EXPECT_EQ(after_supplement.application().materials_size(), 4);
  EXPECT_TRUE(HasEvent(after_supplement.application(), v1::APPLICATION_ACTION_SUPPLEMENT));
  v1::Application accepted;
  ASSERT_TRUE(WaitForApplication(
      id, token,
      [](const v1::Application& a) {
        return a.state() == v1::APPLICATION_STATE_ACCEPTED && !a.has_supplement_deadline();
      },
      &accepted))
      << accepted.DebugString();

  v1::WithdrawMyApplicationRequest withdraw;
  withdraw.set_reason("已在本地办理");
  HttpResult withdrawn = Post("/v1/applications/" + id + ":withdraw", ToJson(withdraw), token);
  ASSERT_EQ(withdrawn.status, 200) << withdrawn.Describe();
  v1::WithdrawMyApplicationResponse after_withdraw;
  ASSERT_TRUE(ParseJson(withdrawn.body, &after_withdraw));
  EXPECT_TRUE(HasEvent(after_withdraw.application(), v1::APPLICATION_ACTION_WITHDRAW));

  // The handling province (read first) hears of it through the outbox.
  v1::Application last;
  EXPECT_TRUE(WaitForApplication(
      id, token,
      [](const v1::Application& a) {
        return a.state() == v1::APPLICATION_STATE_WITHDRAWN &&
               HasEvent(a, v1::APPLICATION_ACTION_DELIVER) &&
               HasEvent(a, v1::APPLICATION_ACTION_SUPPLEMENT);
      },
      &last))
      << last.DebugString();
}

// 多地联办 through the REST face: the app names the province of each role
// (jointRoles) and gets the joint application, kept by the accepting
// province, with its steps; the first step's task is already filed.
TEST_F(EdgeRestTest, AppFilesAJointPensionTransferAndSeesItsSteps) {
  const std::string token = TokenFor(CitizenId(5));
  const std::string body =
      R"({"idempotencyKey": "rest-joint-0001", "acceptingProvince": "430000",
          "handlingProvince": "310000", "itemCode": "GG00010101",
          "applicant": {"name": "王五"},
          "materials": [)" +
      ToJson(MaterialMeta("M01")) + "," + ToJson(MaterialMeta("M02")) + "," +
      ToJson(MaterialMeta("M03")) + R"(],
          "jointRoles": [{"roleId": "transfer_in", "provinceCode": "310000"},
                         {"roleId": "transfer_out", "provinceCode": "440000"}]})";
  HttpResult submitted = Post("/v1/applications", body, token);
  ASSERT_EQ(submitted.status, 201) << submitted.Describe();
  EXPECT_TRUE(Contains(submitted.body, "\"jointRoles\"")) << submitted.body;
  EXPECT_TRUE(Contains(submitted.body, "转出地")) << submitted.body;
  v1::SubmitMyApplicationResponse filed;
  ASSERT_TRUE(ParseJson(submitted.body, &filed));
  const v1::Application& joint = filed.application();
  EXPECT_EQ(joint.application_id().rfind("TB-430000-430000-", 0), 0u) << joint.application_id();
  ASSERT_EQ(joint.joint().steps_size(), 3) << submitted.body;
  EXPECT_EQ(joint.joint().steps(1).province_code(), kGuangdong);
  EXPECT_EQ(joint.joint().steps(0).task_application_id().rfind("TB-430000-310000-", 0), 0u)
      << submitted.body;
  EXPECT_EQ(joint.clocks().limits().legal_days(), 45);

  // A role named twice is refused, naming the field, and nothing is filed.
  const std::string twice =
      R"({"idempotencyKey": "rest-joint-0002", "acceptingProvince": "430000",
          "handlingProvince": "310000", "itemCode": "GG00010101", "applicant": {"name": "王五"},
          "materials": [)" +
      ToJson(MaterialMeta("M01")) + "," + ToJson(MaterialMeta("M02")) + R"(],
          "jointRoles": [{"roleId": "transfer_in", "provinceCode": "310000"},
                         {"roleId": "transfer_in", "provinceCode": "440000"}]})";
  HttpResult refused = Post("/v1/applications", twice, token);
  EXPECT_EQ(refused.status, 400) << refused.Describe();
  EXPECT_TRUE(Contains(refused.body, "assigned twice")) << refused.body;
}

// Applications filed at three accepting provinces, listed newest first one
// per page: each exactly once, although Shanghai holds copies of all three.
TEST_F(EdgeRestTest, ListingPagesThroughEveryProvinceNewestFirstEachOnce) {
  const std::string token = TokenFor(CitizenId(3));
  std::vector<std::string> filed;  // oldest first
  filed.push_back(File(token, Submission("rest-list-0001", kHunan, kShanghai, kSocialSecurityCard,
                                         {"M01", "M02", "M09"}))
                      .application_id());
  filed.push_back(File(token, Submission("rest-list-0002", kGuangdong, kShanghai,
                                         kSocialSecurityCard, {"M01", "M02", "M03", "M09"}))
                      .application_id());
  filed.push_back(File(token, Submission("rest-list-0003", kShanghai, kShanghai,
                                         kSocialSecurityCard, {"M01", "M02", "M03", "M09"}))
                      .application_id());
  for (const std::string& id : filed) ASSERT_FALSE(id.empty());
  // Wait until Shanghai holds the two forwarded copies, so a duplicate
  // would show.
  for (int i = 0; i < 2; ++i) {
    v1::Application last;
    ASSERT_TRUE(WaitForApplication(
        filed[i], token,
        [](const v1::Application& a) { return HasEvent(a, v1::APPLICATION_ACTION_DELIVER); },
        &last))
        << last.DebugString();
  }
  const std::vector<std::string> newest_first(filed.rbegin(), filed.rend());

  HttpResult all = Get("/v1/applications", token);
  ASSERT_EQ(all.status, 200) << all.Describe();
  ExpectCommonHeaders(all);
  v1::ListMyApplicationsResponse whole;
  ASSERT_TRUE(ParseJson(all.body, &whole));
  std::vector<std::string> ids;
  for (const auto& a : whole.applications()) {
    ids.push_back(a.application_id());
    EXPECT_EQ(a.applicant().id_number(), CitizenId(3));
  }
  EXPECT_EQ(ids, newest_first);
  EXPECT_TRUE(whole.next_page_token().empty());
  EXPECT_EQ(whole.missing_provinces_size(), 0) << all.body;

  ids.clear();
  std::string page_token;
  int pages = 0;
  do {
    ASSERT_LT(++pages, 8) << "the listing does not end; so far: " << ::testing::PrintToString(ids);
    std::string path = "/v1/applications?pageSize=1";
    if (!page_token.empty()) path += "&pageToken=" + PercentEncode(page_token);
    HttpResult page = Get(path, token);
    ASSERT_EQ(page.status, 200) << page.Describe();
    v1::ListMyApplicationsResponse resp;
    ASSERT_TRUE(ParseJson(page.body, &resp));
    ASSERT_LE(resp.applications_size(), 1) << page.body;
    // A page is full unless it is the last: apps stop at an empty page.
    if (!resp.next_page_token().empty()) {
      EXPECT_EQ(resp.applications_size(), 1) << "an empty page that is not the last: " << page.body;
    }
    for (const auto& a : resp.applications()) ids.push_back(a.application_id());
    EXPECT_EQ(resp.missing_provinces_size(), 0) << page.body;
    page_token = resp.next_page_token();
  } while (!page_token.empty());
  EXPECT_EQ(ids, newest_first);
  EXPECT_EQ(pages, 3) << "three applications at one per page, and no empty last page";
}

// /openapi.json describes what is served and nothing else: every documented
// path and method answers (none is unserved), and every route this suite
// uses is documented.
TEST_F(EdgeRestTest, OpenApiDocumentListsExactlyTheServedRoutes) {
  HttpResult doc = Get("/openapi.json");
  ASSERT_EQ(doc.status, 200) << doc.Describe();
  ExpectCommonHeaders(doc);
  EXPECT_TRUE(Contains(doc.Header("content-type"), "json")) << doc.Describe();
  google::protobuf::Struct openapi;
  ASSERT_TRUE(ParseJson(doc.body, &openapi));
  ASSERT_TRUE(openapi.fields().count("openapi"));
  EXPECT_EQ(openapi.fields().at("openapi").string_value().rfind("3.", 0), 0u);
  ASSERT_TRUE(openapi.fields().count("paths"));
  std::set<std::pair<std::string, std::string>> documented;  // (path, method)
  for (const auto& [path, item] : openapi.fields().at("paths").struct_value().fields()) {
    for (const auto& [method, operation] : item.struct_value().fields()) {
      if (method == "parameters" || method == "summary" || method == "description") continue;
      documented.insert({path, method});
    }
  }

  // A real application of this citizen for the {application_id} routes.
  const std::string token = TokenFor(CitizenId(7));
  const std::string id = File(token, Submission("rest-openapi-01", kHunan, kHunan,
                                                kSocialSecurityCard, {"M01", "M02"}))
                             .application_id();
  ASSERT_FALSE(id.empty());
  v1::CheckMaterialsRequest check;
  check.set_accepting_province(kHunan);
  check.set_handling_province(kHunan);
  check.set_item_code(kSocialSecurityCard);
  check.add_material_ids("M01");
  v1::SupplementMyMaterialsRequest supplement;
  *supplement.add_materials() = MaterialMeta("M03");
  // 免证办 as 张伟: a grant to decline (ConfirmMyLicence with confirm false).
  const std::string zhang_wei = TokenFor(kZhangWei);
  const std::string preview_body =
      std::string(R"({"issuingProvince": "510000", "typeCode": "MZ01", )") + kMarriageUse + "}";
  HttpResult previewed = Post("/v1/licences:preview", preview_body, zhang_wei);
  ASSERT_EQ(previewed.status, 200) << previewed.Describe();
  v1::PreviewLicenceResponse preview;
  ASSERT_TRUE(ParseJson(previewed.body, &preview));
  v1::ConfirmMyLicenceRequest decline;
  *decline.mutable_grant() = preview.preview().grant();
  decline.set_confirm(false);

  struct Served {
    std::string doc_path;
    std::string method;  // lower case, as OpenAPI spells it
    HttpRequest request;
    int expected_status;
  };
  auto get = [&](const std::string& path) {
    HttpRequest r;
    r.path = path;
    r.token = token;
    return r;
  };
  auto post = [&](const std::string& path, const std::string& body) {
    HttpRequest r = get(path);
    r.method = "POST";
    r.body = body;
    return r;
  };
  auto as = [](const std::string& who, HttpRequest r) {
    r.token = who;
    return r;
  };
  const std::vector<Served> served = {
      {"/v1/guides", "get", get(std::string("/v1/guides?query=") + kSocialSecurityCardQuery), 200},
      {"/v1/items/{item_code}/filing-options", "get",
       get("/v1/items/GG00020600/filing-options?acceptingProvince=430000"), 200},
      {"/v1/provinces/{province_code}/items/{item_code}/guide", "get",
       get("/v1/provinces/310000/items/GG00020600/guide"), 200},
      {"/v1/provinces/{province_code}/items/{item_code}/licence-evidence", "get",
       get("/v1/provinces/310000/items/QR00070104/licence-evidence"), 200},
      {"/v1/licences:preview", "post", as(zhang_wei, post("/v1/licences:preview", preview_body)),
       200},
      {"/v1/licences:confirm", "post", as(zhang_wei, post("/v1/licences:confirm", ToJson(decline))),
       200},
      {"/v1/provinces/{issuing_province}/licence-disclosures", "get",
       get("/v1/provinces/510000/licence-disclosures?pageSize=5"), 200},
      {"/v1/applications:precheck", "post", post("/v1/applications:precheck", ToJson(check)), 200},
      {"/v1/applications", "post",
       post("/v1/applications", ToJson(Submission("rest-openapi-02", kHunan, kHunan,
                                                  kSocialSecurityCard, {"M01", "M02", "M03"}))),
       201},
      {"/v1/applications", "get", get("/v1/applications?pageSize=5"), 200},
      {"/v1/applications/{application_id}", "get", get("/v1/applications/" + id), 200},
      {"/v1/applications/{application_id}:supplement", "post",
       post("/v1/applications/" + id + ":supplement", ToJson(supplement)), 200},
      {"/v1/applications/{application_id}:withdraw", "post",
       post("/v1/applications/" + id + ":withdraw", "{}"), 200},
      // Withdrawn, so not ratable (好差评 rates APPROVED or DENIED cases): 400.
      {"/v1/applications/{application_id}:rate", "post",
       post("/v1/applications/" + id + ":rate", R"({"level": "SATISFACTION_LEVEL_SATISFIED"})"),
       400},
      // Live status streams until closed (edge.EdgeSseTest); a resume point
      // beyond the history is answered at once: 400 OUT_OF_RANGE.
      {"/v1/applications/{application_id}/events", "get",
       get("/v1/applications/" + id + "/events?afterSequence=999"), 400},
      {"/openapi.json", "get", get("/openapi.json"), 200},
      {"/healthz", "get", get("/healthz"), 200},
  };
  std::set<std::pair<std::string, std::string>> exercised;
  for (const Served& s : served) {
    SCOPED_TRACE(s.method + " " + s.doc_path);
    exercised.insert({s.doc_path, s.method});
    EXPECT_TRUE(documented.count({s.doc_path, s.method})) << "served but not in /openapi.json";
    HttpResult r = Call(s.request);
    EXPECT_EQ(r.status, s.expected_status) << r.Describe();
    ExpectCommonHeaders(r);
  }
  for (const auto& [path, method] : documented) {
    EXPECT_TRUE(exercised.count({path, method}))
        << method << " " << path << " is documented but this test does not call it";
  }
}

// 免证办 through the edge (docs/licences.md, docs/public-api.md): 张伟 previews
// the marriage certificate Sichuan issued him, confirms, files Shanghai's
// 夫妻投靠户口迁移 from Hunan with it as material M03, and reads Sichuan's log
// of those accesses; a citizen holding nothing gets a typed 404.
TEST_F(EdgeRestTest, CitizenFetchesALicenceFilesWithItAndSeesTheLog) {
  const std::string token = TokenFor(kZhangWei);
  const std::string preview_body =
      std::string(R"({"issuingProvince": "510000", "typeCode": "MZ01", )") + kMarriageUse + "}";
  HttpResult previewed = Post("/v1/licences:preview", preview_body, token);
  ASSERT_EQ(previewed.status, 200) << previewed.Describe();
  ExpectCommonHeaders(previewed);
  EXPECT_TRUE(Contains(previewed.body, "holderName")) << previewed.body;
  EXPECT_TRUE(Contains(previewed.body, "张伟")) << previewed.body;  // UTF-8 as is
  v1::PreviewLicenceResponse preview;
  ASSERT_TRUE(ParseJson(previewed.body, &preview));
  EXPECT_EQ(preview.preview().content().holder_name(), "张伟");
  EXPECT_EQ(preview.preview().content().holder_id(), kZhangWei);
  EXPECT_EQ(preview.preview().content().issuing_province(), kSichuan);
  EXPECT_EQ(preview.preview().content().type_code(), "MZ01");
  EXPECT_EQ(preview.preview().status(), v1::LICENCE_STATUS_VALID);
  const v1::LicenceGrant& grant = preview.preview().grant();
  EXPECT_FALSE(grant.grant_id().empty());
  EXPECT_EQ(grant.issuing_province(), kSichuan);
  EXPECT_EQ(grant.holder_id(), kZhangWei);
  EXPECT_EQ(grant.use().material_id(), "M03");

  // Confirm with the grant unchanged (JSON there and back).
  v1::ConfirmMyLicenceRequest confirm;
  *confirm.mutable_grant() = grant;
  confirm.set_confirm(true);
  HttpResult confirmed = Post("/v1/licences:confirm", ToJson(confirm), token);
  ASSERT_EQ(confirmed.status, 200) << confirmed.Describe();
  v1::ConfirmLicenceResponse released;
  ASSERT_TRUE(ParseJson(confirmed.body, &released));
  EXPECT_FALSE(released.declined());
  ASSERT_TRUE(released.has_licence()) << confirmed.body;
  EXPECT_EQ(released.licence().content().licence_id(), "510000-MZ01-J510107-2019-000123");
  EXPECT_TRUE(released.licence().has_signature());

  // File from Hunan for Shanghai: uploads M01 M02 M09, the licence as M03.
  v1::SubmitMyApplicationRequest filing = Submission("rest-licence-0001", kHunan, kShanghai,
                                                     kSpouseHukou, {"M01", "M02", "M09"}, "张伟");
  v1::LicenceMaterial* lm = filing.add_licence_materials();
  lm->set_material_id("M03");
  *lm->mutable_licence() = released.licence();
  const std::string filing_json = ToJson(filing);
  EXPECT_TRUE(Contains(filing_json, R"("licenceMaterials":[{"materialId":"M03")")) << filing_json;
  const v1::Application app = File(token, filing);
  ASSERT_FALSE(app.application_id().empty());
  EXPECT_EQ(app.accepting_province(), kHunan);
  EXPECT_EQ(app.handling_province(), kShanghai);
  bool m03_is_the_licence = false;
  for (const v1::SuppliedMaterial& m : app.materials()) {
    if (m.material_id() == "M03") {
      m03_is_the_licence = m.licence().content().licence_id() == "510000-MZ01-J510107-2019-000123";
    }
  }
  EXPECT_TRUE(m03_is_the_licence) << ToJson(app);

  // Sichuan's log of 张伟's licences: this preview and release among them.
  HttpResult log = Get("/v1/provinces/510000/licence-disclosures?pageSize=50", token);
  ASSERT_EQ(log.status, 200) << log.Describe();
  v1::ListLicenceDisclosuresResponse disclosures;
  ASSERT_TRUE(ParseJson(log.body, &disclosures));
  bool previewed_logged = false;
  bool released_logged = false;
  for (const v1::LicenceDisclosure& d : disclosures.disclosures()) {
    EXPECT_EQ(d.holder_id(), kZhangWei);
    EXPECT_EQ(d.issuing_province(), kSichuan);
    if (d.grant_id() != grant.grant_id()) continue;
    previewed_logged |= d.kind() == v1::DISCLOSURE_KIND_PREVIEW;
    released_logged |= d.kind() == v1::DISCLOSURE_KIND_RELEASE;
    EXPECT_EQ(d.requester(), std::string("citizen:") + kZhangWei);
  }
  EXPECT_TRUE(previewed_logged) << log.body;
  EXPECT_TRUE(released_logged) << log.body;

  // A citizen holding nothing: 404 with the ErrorInfo reason in the body.
  HttpResult none = Post("/v1/licences:preview", preview_body, TokenFor(kNobody));
  v1::ErrorBody body = ExpectError(none, 404, "NOT_FOUND");
  EXPECT_EQ(body.error_info().reason(), "LICENCE_NOT_FOUND") << none.body;
  EXPECT_EQ(body.error_info().domain(), "tongban.v1") << none.body;
  EXPECT_TRUE(Contains(none.body, R"("reason":"LICENCE_NOT_FOUND")")) << none.body;
  // And nothing of 张伟's is in anyone else's log answer.
  HttpResult other_log = Get("/v1/provinces/510000/licence-disclosures", TokenFor(kNobody));
  ASSERT_EQ(other_log.status, 200) << other_log.Describe();
  v1::ListLicenceDisclosuresResponse others;
  ASSERT_TRUE(ParseJson(other_log.body, &others));
  for (const v1::LicenceDisclosure& d : others.disclosures()) EXPECT_EQ(d.holder_id(), kNobody);

  // The edge checks what it routes by; a missing use names the field.
  HttpResult no_use =
      Post("/v1/licences:preview", R"({"issuingProvince": "510000", "typeCode": "MZ01"})", token);
  ExpectFieldError(no_use, "use");
}

TEST_F(EdgeRestTest, HealthzSaysOk) {
  HttpResult r = Get("/healthz");
  ASSERT_EQ(r.status, 200) << r.Describe();
  EXPECT_EQ(r.body, "ok\n");
  EXPECT_TRUE(Contains(r.Header("content-type"), "text/plain")) << r.Describe();
  ExpectCommonHeaders(r);
}

// ---------------------------------------------------------------------------
// 2. Every error class

TEST_F(EdgeRestTest, InvalidArgumentsNameTheField) {
  const std::string token = TokenFor(CitizenId(5));
  {
    SCOPED_TRACE("bad item code in the path");
    ExpectFieldError(Get("/v1/provinces/310000/items/NOT-AN-ITEM/guide", token), "itemCode");
  }
  {
    SCOPED_TRACE("bad province in the path");
    ExpectFieldError(Get("/v1/provinces/999999/items/GG00020600/guide", token), "provinceCode");
  }
  {
    SCOPED_TRACE("bad province in the query");
    ExpectFieldError(Get("/v1/items/GG00020600/filing-options?acceptingProvince=12", token),
                     "acceptingProvince");
  }
  {
    SCOPED_TRACE("bad body field");
    v1::SubmitMyApplicationRequest req =
        Submission("rest-bad-00001", kHunan, kHunan, kSocialSecurityCard, {"M01", "M02", "M03"});
    req.mutable_materials(0)->set_content_sha256("not-a-sha256");
    ExpectFieldError(Post("/v1/applications", ToJson(req), token), "materials[0].contentSha256");
  }
  {
    SCOPED_TRACE("unknown JSON field");
    HttpResult r = Post("/v1/applications:precheck",
                        R"({"acceptingProvince":"430000","handlingProvince":"430000",)"
                        R"("itemCode":"GG00020600","materialIds":["M01"],"colour":"red"})",
                        token);
    v1::ErrorBody body = ExpectError(r, 400, "INVALID_ARGUMENT");
    EXPECT_TRUE(Contains(body.message(), "colour")) << r.Describe();
  }
  {
    SCOPED_TRACE("unknown query parameter");
    HttpResult r =
        Get(std::string("/v1/guides?query=") + kSocialSecurityCardQuery + "&colour=red", token);
    ExpectFieldError(r, "colour");
    EXPECT_TRUE(Contains(r.body, "colour")) << r.Describe();
  }
  {
    SCOPED_TRACE("malformed JSON");
    HttpResult r = Post("/v1/applications:precheck", R"({"acceptingProvince": "430000",)", token);
    ExpectError(r, 400, "INVALID_ARGUMENT");
  }
  {
    SCOPED_TRACE("a JSON array instead of an object");
    ExpectError(Post("/v1/applications", "[]", token), 400, "INVALID_ARGUMENT");
  }
  {
    SCOPED_TRACE("malformed application id in the path");
    ExpectFieldError(GetApplication("not-an-id", token), "applicationId");
  }
}

TEST_F(EdgeRestTest, FailedPreconditionsAre400) {
  const std::string token = TokenFor(CitizenId(50));
  {
    SCOPED_TRACE("key material M09 missing (Shanghai's own)");
    HttpResult r = Post("/v1/applications",
                        ToJson(Submission("rest-fp-000001", kHunan, kShanghai, kSocialSecurityCard,
                                          {"M01", "M02", "M03"})),
                        token);
    v1::ErrorBody body = ExpectError(r, 400, "FAILED_PRECONDITION");
    EXPECT_TRUE(Contains(body.message(), "M09")) << r.Describe();
  }
  {
    SCOPED_TRACE("Beijing's closed item filed from Hunan");
    HttpResult r = Post("/v1/applications",
                        ToJson(Submission("rest-fp-000002", kHunan, kBeijing, kBeijingClosedItem,
                                          {"M01", "M02", "M03"})),
                        token);
    v1::ErrorBody body = ExpectError(r, 400, "FAILED_PRECONDITION");
    EXPECT_TRUE(Contains(body.message(), kBeijingClosedItem)) << r.Describe();
  }
  {
    // Guangxi's open item can be filed from Hunan: the closed case above is
    // about the item, not about filing elsewhere.
    SCOPED_TRACE("Guangxi's open item filed from Hunan");
    HttpResult guide = Get("/v1/provinces/450000/items/XK45000101/guide", token);
    ASSERT_EQ(guide.status, 200) << guide.Describe();
    v1::GetItemGuideResponse g;
    ASSERT_TRUE(ParseJson(guide.body, &g));
    v1::CheckMaterialsRequest check;
    check.set_accepting_province(kHunan);
    check.set_handling_province(kGuangxi);
    check.set_item_code(kGuangxiOpenItem);
    for (const std::string& id : MaterialIdsOf(g.guide())) check.add_material_ids(id);
    HttpResult r = Post("/v1/applications:precheck", ToJson(check), token);
    ASSERT_EQ(r.status, 200) << r.Describe();
    v1::CheckMaterialsResponse verdict;
    ASSERT_TRUE(ParseJson(r.body, &verdict));
    EXPECT_EQ(verdict.outcome(), v1::PRECHECK_OUTCOME_COMPLETE) << r.body;
  }
}

TEST_F(EdgeRestTest, FilingForAnotherCitizenIsForbidden) {
  const std::string token = TokenFor(CitizenId(51));
  v1::SubmitMyApplicationRequest req =
      Submission("rest-other-0001", kHunan, kHunan, kSocialSecurityCard, {"M01", "M02", "M03"});
  req.mutable_applicant()->set_id_number(CitizenId(6));
  HttpResult r = Post("/v1/applications", ToJson(req), token);
  ExpectError(r, 403, "PERMISSION_DENIED");
  // Filing for oneself with the id spelled out is fine.
  req.mutable_applicant()->set_id_number(CitizenId(51));
  HttpResult own = Post("/v1/applications", ToJson(req), token);
  EXPECT_EQ(own.status, 201) << own.Describe();
}

// The same idempotency key for a different request: a conflict, not a replay.
TEST_F(EdgeRestTest, ReusedIdempotencyKeyForAnotherRequestIsAConflict) {
  const std::string token = TokenFor(CitizenId(52));
  v1::SubmitMyApplicationRequest req =
      Submission("rest-conflict-01", kHunan, kHunan, kSocialSecurityCard, {"M01", "M02", "M03"});
  const std::string id = File(token, req).application_id();
  ASSERT_FALSE(id.empty());
  req.set_note("另一份申请");
  HttpResult r = Post("/v1/applications", ToJson(req), token);
  v1::ErrorBody body = ExpectError(r, 409, "ALREADY_EXISTS");
  EXPECT_TRUE(Contains(body.message(), "idempotency")) << r.Describe();
}

TEST_F(EdgeRestTest, UnknownRouteIs404) {
  HttpResult r = Get("/v1/nothing-here");
  v1::ErrorBody body = ExpectError(r, 404, "NOT_FOUND");
  EXPECT_TRUE(Contains(body.message(), "/openapi.json")) << r.Describe();
  ExpectError(Get("/v1/applications/a/b/c", TokenFor(CitizenId(53))), 404, "NOT_FOUND");
}

TEST_F(EdgeRestTest, WrongMethodIs405WithAllow) {
  const std::string token = TokenFor(CitizenId(54));
  HttpRequest del;
  del.method = "DELETE";
  del.path = "/v1/applications";
  del.token = token;
  HttpResult r = Call(del);
  ExpectError(r, 405, "UNIMPLEMENTED");
  EXPECT_TRUE(Contains(r.Header("allow"), "GET")) << r.Describe();
  EXPECT_TRUE(Contains(r.Header("allow"), "POST")) << r.Describe();

  HttpResult post = Post("/v1/guides", "{}", token);
  ExpectError(post, 405, "UNIMPLEMENTED");
  EXPECT_EQ(post.Header("allow"), "GET") << post.Describe();

  HttpResult health = Post("/healthz", "{}", token);
  EXPECT_EQ(health.status, 405) << health.Describe();
  EXPECT_EQ(health.Header("allow"), "GET") << health.Describe();
}

TEST_F(EdgeRestTest, BodyOverTheLimitIs413) {
  const std::string token = TokenFor(CitizenId(55));
  v1::SubmitMyApplicationRequest req =
      Submission("rest-big-000001", kHunan, kHunan, kSocialSecurityCard, {"M01", "M02", "M03"});
  req.set_note(std::string(70 * 1024, 'a'));
  const std::string json = ToJson(req);
  ASSERT_GT(json.size(), 64u * 1024);
  HttpResult r = Post("/v1/applications", json, token);
  EXPECT_EQ(r.status, 413) << r.Describe();
  ExpectCommonHeaders(r);
  v1::ErrorBody body;
  EXPECT_TRUE(ParseJson(r.body, &body)) << r.Describe();
  EXPECT_FALSE(body.code().empty());
  EXPECT_FALSE(body.message().empty());

  // The decompressed size counts: 70 KiB of JSON in a few hundred gzip bytes.
  const std::string zipped = Gzip(json);
  ASSERT_LT(zipped.size(), 4096u);
  HttpRequest bomb;
  bomb.method = "POST";
  bomb.path = "/v1/applications";
  bomb.token = token;
  bomb.body = zipped;
  bomb.headers = {"Content-Encoding: gzip"};
  HttpResult inflated = Call(bomb);
  EXPECT_EQ(inflated.status, 413) << inflated.Describe();
  EXPECT_TRUE(ParseJson(inflated.body, &body)) << inflated.Describe();

  // Sent chunked (no Content-Length): the limit holds as well.
  HttpRequest chunked;
  chunked.method = "POST";
  chunked.path = "/v1/applications";
  chunked.token = token;
  chunked.body = json;
  chunked.headers = {"Transfer-Encoding: chunked"};
  HttpResult streamed = Call(chunked);
  EXPECT_EQ(streamed.status, 413) << streamed.Describe();
  ExpectCommonHeaders(streamed);

  // A browser app can read the 413 (CORS on the answers made before routing).
  HttpRequest from_app;
  from_app.method = "POST";
  from_app.path = "/v1/applications";
  from_app.token = token;
  from_app.body = json;
  from_app.headers = {std::string("Origin: ") + kAppOrigin};
  HttpResult refused = Call(from_app);
  EXPECT_EQ(refused.status, 413) << refused.Describe();
  EXPECT_EQ(refused.Header("access-control-allow-origin"), kAppOrigin) << refused.Describe();
}

TEST_F(EdgeRestTest, NonJsonBodyIs415) {
  const std::string token = TokenFor(CitizenId(56));
  HttpRequest r;
  r.method = "POST";
  r.path = "/v1/applications:precheck";
  r.token = token;
  r.body = "accepting=430000";
  r.content_type = "text/plain";
  HttpResult plain = Call(r);
  EXPECT_EQ(plain.status, 415) << plain.Describe();
  ExpectCommonHeaders(plain);
  v1::ErrorBody body;
  EXPECT_TRUE(ParseJson(plain.body, &body)) << plain.Describe();
  EXPECT_TRUE(Contains(body.message(), "application/json")) << plain.Describe();

  // An unknown Content-Encoding is 415 too.
  r.body = R"({"acceptingProvince":"430000"})";
  r.content_type = "application/json";
  r.headers = {"Content-Encoding: zstd"};
  HttpResult zstd = Call(r);
  EXPECT_EQ(zstd.status, 415) << zstd.Describe();
  ExpectCommonHeaders(zstd);
  EXPECT_TRUE(ParseJson(zstd.body, &body)) << zstd.Describe();
}

// The id of an application that does not exist, shaped like `id` (same
// provinces and date, so the same nodes are asked).
std::string NonexistentLike(const std::string& id) {
  size_t dash = id.rfind('-');
  return id.substr(0, dash + 1) + std::string(id.size() - dash - 1, '9');
}

// Two 404 answers that must not tell "someone else's" from "does not exist".
void ExpectIndistinguishable(const HttpResult& others, const std::string& others_id,
                             const HttpResult& missing, const std::string& missing_id) {
  v1::ErrorBody a = ExpectError(others, 404, "NOT_FOUND");
  v1::ErrorBody b = ExpectError(missing, 404, "NOT_FOUND");
  EXPECT_EQ(ReplaceAll(a.message(), others_id, "{id}"), ReplaceAll(b.message(), missing_id, "{id}"))
      << others.Describe() << "\nvs\n"
      << missing.Describe();
  EXPECT_EQ(a.details_size(), b.details_size());
  for (const char* hint : {"belong", "another", "other citizen", "not yours", "owner"}) {
    EXPECT_FALSE(ContainsIgnoreCase(a.message(), hint)) << a.message();
  }
  EXPECT_EQ(others.Header("www-authenticate"), missing.Header("www-authenticate"));
}

std::vector<std::string> ListedIds(const HttpResult& r) {
  v1::ListMyApplicationsResponse resp;
  EXPECT_EQ(r.status, 200) << r.Describe();
  EXPECT_TRUE(ParseJson(r.body, &resp));
  EXPECT_TRUE(resp.next_page_token().empty());
  std::vector<std::string> ids;
  for (const auto& a : resp.applications()) ids.push_back(a.application_id());
  return ids;
}

// ---------------------------------------------------------------------------
// 4. Citizen A against citizen B

TEST_F(EdgeRestTest, AnotherCitizensApplicationIsNotFoundAndStaysUntouched) {
  const std::string token_a = TokenFor(CitizenId(11));
  const std::string token_b = TokenFor(CitizenId(12));
  // Hunan's own item filed in Hunan without M03: pending a supplement, so
  // B's supplement and withdrawal would both be possible transitions.
  const std::string id_a = File(token_a, Submission("rest-ab-000001", kHunan, kHunan,
                                                    kSocialSecurityCard, {"M01", "M02"}))
                               .application_id();
  const std::string id_b = File(token_b, Submission("rest-ab-000002", kHunan, kHunan,
                                                    kSocialSecurityCard, {"M01", "M02", "M03"}))
                               .application_id();
  ASSERT_FALSE(id_a.empty());
  ASSERT_FALSE(id_b.empty());
  HttpResult before_r = GetApplication(id_a, token_a);
  ASSERT_EQ(before_r.status, 200) << before_r.Describe();
  v1::GetMyApplicationResponse before;
  ASSERT_TRUE(ParseJson(before_r.body, &before));
  ASSERT_EQ(before.application().state(), v1::APPLICATION_STATE_PENDING_SUPPLEMENT);

  const std::string missing = NonexistentLike(id_a);
  {
    SCOPED_TRACE("B reads A's application");
    ExpectIndistinguishable(GetApplication(id_a, token_b), id_a, GetApplication(missing, token_b),
                            missing);
    // And A asking for a missing one hears the same as B asking for A's.
    ExpectIndistinguishable(GetApplication(id_a, token_b), id_a, GetApplication(missing, token_a),
                            missing);
  }
  v1::SupplementMyMaterialsRequest supplement;
  *supplement.add_materials() = MaterialMeta("M03");
  {
    SCOPED_TRACE("B supplements A's application");
    ExpectIndistinguishable(
        Post("/v1/applications/" + id_a + ":supplement", ToJson(supplement), token_b), id_a,
        Post("/v1/applications/" + missing + ":supplement", ToJson(supplement), token_b), missing);
  }
  {
    SCOPED_TRACE("B withdraws A's application");
    ExpectIndistinguishable(Post("/v1/applications/" + id_a + ":withdraw", "{}", token_b), id_a,
                            Post("/v1/applications/" + missing + ":withdraw", "{}", token_b),
                            missing);
  }

  HttpResult after_r = GetApplication(id_a, token_a);
  ASSERT_EQ(after_r.status, 200) << after_r.Describe();
  v1::GetMyApplicationResponse after;
  ASSERT_TRUE(ParseJson(after_r.body, &after));
  EXPECT_EQ(after.application().state(), v1::APPLICATION_STATE_PENDING_SUPPLEMENT);
  EXPECT_EQ(after.application().events_size(), before.application().events_size());
  EXPECT_EQ(after.application().materials_size(), before.application().materials_size());
  EXPECT_EQ(after.application().updated_at().seconds(),
            before.application().updated_at().seconds());
  EXPECT_EQ(after.application().updated_at().nanos(), before.application().updated_at().nanos());
  EXPECT_FALSE(Contains(after_r.body, CitizenId(12))) << after_r.body;

  const std::vector<std::string> listed_b = ListedIds(Get("/v1/applications", token_b));
  EXPECT_EQ(listed_b, std::vector<std::string>{id_b});
  const std::vector<std::string> listed_a = ListedIds(Get("/v1/applications", token_a));
  EXPECT_EQ(listed_a, std::vector<std::string>{id_a});
}

// ---------------------------------------------------------------------------
// 2 (continued). Rate limit and an unreachable province

// What one curl saw of a burst of requests on one keep-alive connection.
struct BurstResult {
  std::vector<int> statuses;
  std::vector<std::string> retry_after;  // the Retry-After header, "" when absent
  int connects = 0;
  std::string out;
};

// `count` requests for `path` with `token` on one keep-alive connection, by
// one curl (no process start between requests: a refill rate of 10/s must
// not outpace the requests even on a busy machine); bodies land in
// `body_prefix` + index.
BurstResult Burst(const std::vector<std::string>& curl_base, const std::string& url,
                  const std::string& token, int count, const std::string& body_prefix) {
  std::vector<std::string> args = curl_base;
  args.insert(args.end(), {"-H", "Authorization: Bearer " + token, "-w",
                           "%{http_code} %{num_connects} [%header{retry-after}]\n"});
  for (int i = 0; i < count; ++i) {
    args.insert(args.end(), {"-o", body_prefix + std::to_string(i), url});
  }
  ProcessResult p = RunProcess(args);
  BurstResult r;
  r.out = p.start_error + p.err + p.out;
  std::istringstream lines(p.out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    int status = 0;
    int connected = 0;
    std::string retry;
    fields >> status >> connected >> retry;
    r.statuses.push_back(status);
    r.connects += connected;
    r.retry_after.push_back(retry.size() >= 2 ? retry.substr(1, retry.size() - 2) : "");
  }
  return r;
}

// One curl, 40 requests on one keep-alive connection for one citizen: the
// burst (20) passes, then 429 with a Retry-After that is honest. (40, not
// 30: some must be refused even if the 40 take nearly 2 s on a busy machine.)
TEST_F(EdgeRestTest, BurstOverTheRateLimitIs429WithRetryAfter) {
  const std::string token = TokenFor(CitizenId(20));
  const std::string path = "/v1/provinces/310000/items/GG00020600/guide";
  constexpr int kRequests = 40;
  const std::string base = *workdir_ + "/burst-";
  BurstResult burst = Burst(CurlBase(), Url(path), token, kRequests, base);
  ASSERT_EQ(burst.statuses.size(), static_cast<size_t>(kRequests)) << burst.out;
  EXPECT_EQ(burst.connects, 1) << "not one keep-alive connection:\n" << burst.out;
  int rejected = -1;  // the first 429
  for (int i = 0; i < kRequests; ++i) {
    if (i < 20) {
      EXPECT_EQ(burst.statuses[i], 200) << "request " << i << " of the burst:\n" << burst.out;
    }
    EXPECT_TRUE(burst.statuses[i] == 200 || burst.statuses[i] == 429) << burst.out;
    if (burst.statuses[i] != 429) continue;
    if (rejected < 0) rejected = i;
    const std::string& ra = burst.retry_after[i];
    EXPECT_TRUE(!ra.empty() && std::all_of(ra.begin(), ra.end(), ::isdigit))
        << "Retry-After \"" << ra << "\" is not whole seconds";
    EXPECT_GE(std::atoi(ra.c_str()), 1) << burst.out;
  }
  ASSERT_GE(rejected, 0) << "no 429 in a burst of " << kRequests << ":\n" << burst.out;
  v1::ErrorBody body;
  ASSERT_TRUE(ParseJson(ReadFile(base + std::to_string(rejected)), &body));
  EXPECT_EQ(body.code(), "RESOURCE_EXHAUSTED");
  EXPECT_FALSE(body.message().empty());

  // Per citizen: another citizen is not held back.
  HttpResult other = Get(path, TokenFor(CitizenId(21)));
  EXPECT_EQ(other.status, 200) << other.Describe();

  // Still limited: a second burst is refused again, and after waiting what
  // the last refusal said, the citizen is served again. (A second burst on
  // one connection, not single requests: a curl start can take longer than
  // the 100 ms in which one request's worth of budget comes back.)
  BurstResult again = Burst(CurlBase(), Url(path), token, 20, *workdir_ + "/burst2-");
  ASSERT_EQ(again.statuses.size(), 20u) << again.out;
  int last = -1;
  for (int i = 0; i < 20; ++i) {
    if (again.statuses[i] == 429) last = i;
  }
  ASSERT_GE(last, 0) << "a second burst was not limited:\n" << again.out;
  const int wait = std::atoi(again.retry_after[last].c_str());
  ASSERT_GE(wait, 1) << again.out;
  ASSERT_LE(wait, 5) << again.out;
  std::this_thread::sleep_for(seconds(wait));  // the contract under test, not a sync
  HttpResult served = Get(path, token);
  EXPECT_EQ(served.status, 200) << served.Describe();
}

// A province that drops out of the directory is UNAVAILABLE (retry later),
// never "not found".
TEST_F(EdgeRestTest, ProvinceOutOfTheDirectoryIs503) {
  const std::string token = TokenFor(CitizenId(25));
  v1::CheckMaterialsRequest check;
  check.set_accepting_province(kGuangxi);
  check.set_handling_province(kGuangxi);
  check.set_item_code(kGuangxiOpenItem);
  const std::string body = ToJson(check);
  HttpResult ok = Post("/v1/applications:precheck", body, token);
  ASSERT_EQ(ok.status, 200) << ok.Describe();

  std::string error;
  ASSERT_TRUE(federation_->RewriteDirectory({kHunan, kShanghai, kBeijing, kGuangdong}, &error))
      << error;
  HttpResult r;
  EXPECT_TRUE(WaitUntil(
      seconds(10),
      [&] {
        r = Post("/v1/applications:precheck", body, token);
        return r.status != 200;
      },
      milliseconds(100)));
  v1::ErrorBody unavailable = ExpectError(r, 503, "UNAVAILABLE");
  EXPECT_TRUE(Contains(unavailable.message(), kGuangxi)) << r.Describe();

  ASSERT_TRUE(federation_->RewriteDirectory(federation_->provinces(), &error)) << error;
  ASSERT_TRUE(federation_->WaitAllUp(seconds(30)));
  EXPECT_TRUE(WaitUntil(
      seconds(10),
      [&] {
        r = Post("/v1/applications:precheck", body, token);
        return r.status == 200;
      },
      milliseconds(100)))
      << r.Describe();
}

// ---------------------------------------------------------------------------
// 3. Tokens

TEST_F(EdgeRestTest, EveryBadTokenIs401WithABearerChallenge) {
  const std::string citizen = CitizenId(30);
  const std::string good = TokenFor(citizen);
  const absl::Time now = absl::Now();

  HttpResult control = Get("/v1/applications", good);
  ASSERT_EQ(control.status, 200) << control.Describe();

  {
    SCOPED_TRACE("no token on a citizen route");
    HttpResult r = Get("/v1/applications");
    v1::ErrorBody body = ExpectError(r, 401, "UNAUTHENTICATED");
    EXPECT_TRUE(Contains(body.message(), "Bearer")) << r.Describe();
    // RFC 6750 §3.1: no error code when no credentials were sent.
    EXPECT_EQ(r.Header("www-authenticate"), "Bearer realm=\"tongban\"") << r.Describe();
  }

  CitizenTokenClaims expired = ValidClaims(citizen);
  expired.issued_at = now - absl::Hours(2);
  expired.expires_at = now - absl::Hours(1);
  CitizenTokenClaims early = ValidClaims(citizen);
  early.not_before = now + absl::Hours(1);
  early.expires_at = now + absl::Hours(2);
  CitizenTokenClaims issuer = ValidClaims(citizen);
  issuer.issuer = "https://id.evil.example";
  CitizenTokenClaims audience = ValidClaims(citizen);
  audience.audience = "another-api";
  const std::string foreign_key = ForeignKeyPem();
  ASSERT_FALSE(foreign_key.empty());

  std::vector<std::string> parts = SplitToken(good);
  ASSERT_EQ(parts.size(), 3u);
  std::string payload;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(parts[1], &payload));
  ASSERT_TRUE(Contains(payload, citizen)) << payload;
  const std::string tampered =
      parts[0] + "." + Base64Url(ReplaceAll(payload, citizen, CitizenId(31))) + "." + parts[2];
  const std::string alg_none =
      Base64Url(R"({"alg":"none","typ":"JWT","kid":"dev-1"})") + "." + parts[1] + ".";

  struct Case {
    std::string name;
    std::string authorization;
    std::string reason;  // in the message, case-insensitive
    bool bearer;         // a bearer token was presented: error="invalid_token"
  };
  const std::vector<Case> cases = {
      {"expired", "Bearer " + Mint(expired), "expired", true},
      {"not yet valid (nbf)", "Bearer " + Mint(early), "not valid before", true},
      {"wrong issuer", "Bearer " + Mint(issuer), "issuer", true},
      {"wrong audience", "Bearer " + Mint(audience), "aud", true},
      {"signed by another key", "Bearer " + Mint(ValidClaims(citizen), foreign_key), "signature",
       true},
      {"tampered payload", "Bearer " + tampered, "signature", true},
      {"alg none", "Bearer " + alg_none, "ES256", true},
      {"garbage", "Bearer not-a-jwt", "malformed", true},
      {"Basic scheme", "Basic " + Base64Url(citizen + ":secret"), "bearer", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    HttpRequest req;
    req.path = "/v1/applications";
    req.authorization = c.authorization;
    HttpResult r = Call(req);
    v1::ErrorBody body = ExpectError(r, 401, "UNAUTHENTICATED");
    EXPECT_TRUE(ContainsIgnoreCase(body.message(), c.reason)) << r.Describe();
    // The token itself is never echoed.
    const std::string credential = c.authorization.substr(c.authorization.find(' ') + 1);
    EXPECT_FALSE(Contains(r.body, credential)) << r.Describe();
    const std::string challenge = r.Header("www-authenticate");
    EXPECT_EQ(challenge.rfind("Bearer realm=\"tongban\"", 0), 0u) << r.Describe();
    if (c.bearer) {
      EXPECT_TRUE(Contains(challenge, "error=\"invalid_token\"")) << r.Describe();
      EXPECT_TRUE(Contains(challenge, "error_description=\"")) << r.Describe();
    } else {
      // RFC 6750 §3.1: another scheme is "no credentials", not an invalid token.
      EXPECT_FALSE(Contains(challenge, "error=")) << r.Describe();
    }
  }
}

TEST_F(EdgeRestTest, TokensOnAnonymousRoutesAreStillVerified) {
  const std::string path = "/v1/provinces/430000/items/GG00020600/guide";
  HttpResult with_token = Get(path, TokenFor(CitizenId(32)));
  EXPECT_EQ(with_token.status, 200) << with_token.Describe();

  CitizenTokenClaims expired = ValidClaims(CitizenId(32));
  expired.issued_at = absl::Now() - absl::Hours(2);
  expired.expires_at = absl::Now() - absl::Hours(1);
  HttpResult broken = Get(path, Mint(expired));
  v1::ErrorBody body = ExpectError(broken, 401, "UNAUTHENTICATED");
  EXPECT_TRUE(ContainsIgnoreCase(body.message(), "expired")) << broken.Describe();
  EXPECT_TRUE(Contains(broken.Header("www-authenticate"), "error=\"invalid_token\""))
      << broken.Describe();
}

TEST_F(EdgeRestTest, TokenMintedWithTongbanctlIsAccepted) {
  ProcessResult help = RunProcess({TONGBAN_TONGBANCTL, "--help"});
  ASSERT_TRUE(Contains(help.out + help.err, "token mint")) << help.out << help.err;
  const std::string citizen = CitizenId(33);
  const std::string key = CertsDir() + "/citizen-tokens/signing-key.pem";
  ProcessResult minted =
      RunProcess({TONGBAN_TONGBANCTL, "token", "mint", "--key", key, "--sub", citizen});
  ASSERT_EQ(minted.exit_code, 0) << minted.start_error << minted.err;
  std::string token = minted.out;
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  ASSERT_EQ(SplitToken(token).size(), 3u) << token;

  const std::string id = File(token, Submission("rest-ctl-000001", kHunan, kHunan,
                                                kSocialSecurityCard, {"M01", "M02", "M03"}))
                             .application_id();
  ASSERT_FALSE(id.empty());
  HttpResult got = GetApplication(id, token);
  ASSERT_EQ(got.status, 200) << got.Describe();
  v1::GetMyApplicationResponse resp;
  ASSERT_TRUE(ParseJson(got.body, &resp));
  EXPECT_EQ(resp.application().applicant().id_number(), citizen);

  // Its test options mint what the gateway must refuse.
  ProcessResult stale = RunProcess(
      {TONGBAN_TONGBANCTL, "token", "mint", "--key", key, "--sub", citizen, "--ttl", "-3600"});
  ASSERT_EQ(stale.exit_code, 0) << stale.start_error << stale.err;
  std::string expired = stale.out;
  while (!expired.empty() && std::isspace(static_cast<unsigned char>(expired.back()))) {
    expired.pop_back();
  }
  ExpectError(Get("/v1/applications", expired), 401, "UNAUTHENTICATED");
}

// ---------------------------------------------------------------------------
// 5. HTTP conventions

TEST_F(EdgeRestTest, CorsAllowsTheAppsOriginOnly) {
  HttpRequest preflight;
  preflight.method = "OPTIONS";
  preflight.path = "/v1/applications";
  preflight.headers = {std::string("Origin: ") + kAppOrigin, "Access-Control-Request-Method: POST",
                       "Access-Control-Request-Headers: authorization, content-type"};
  HttpResult ok = Call(preflight);
  EXPECT_EQ(ok.status, 204) << ok.Describe();
  EXPECT_EQ(ok.Header("access-control-allow-origin"), kAppOrigin) << ok.Describe();
  const std::string methods = ok.Header("access-control-allow-methods");
  EXPECT_TRUE(Contains(methods, "GET") && Contains(methods, "POST")) << ok.Describe();
  const std::string headers = Lower(ok.Header("access-control-allow-headers"));
  EXPECT_TRUE(Contains(headers, "authorization")) << ok.Describe();
  EXPECT_TRUE(Contains(headers, "content-type")) << ok.Describe();
  EXPECT_EQ(ok.Header("access-control-max-age"), "600") << ok.Describe();
  EXPECT_FALSE(ok.Has("access-control-allow-credentials")) << ok.Describe();
  EXPECT_TRUE(ok.body.empty()) << ok.Describe();
  ExpectCommonHeaders(ok);

  preflight.headers[0] = std::string("Origin: ") + kEvilOrigin;
  HttpResult evil = Call(preflight);
  EXPECT_EQ(evil.status, 403) << evil.Describe();
  EXPECT_FALSE(evil.Has("access-control-allow-origin")) << evil.Describe();
  ExpectCommonHeaders(evil);

  // The actual requests.
  const std::string search = std::string("/v1/guides?query=") + kSocialSecurityCardQuery;
  HttpRequest get;
  get.path = search;
  get.token = TokenFor(CitizenId(40));
  get.headers = {std::string("Origin: ") + kAppOrigin};
  HttpResult from_app = Call(get);
  EXPECT_EQ(from_app.status, 200) << from_app.Describe();
  EXPECT_EQ(from_app.Header("access-control-allow-origin"), kAppOrigin) << from_app.Describe();
  // A browser app must be able to read Retry-After to back off.
  EXPECT_TRUE(ContainsIgnoreCase(from_app.Header("access-control-expose-headers"), "Retry-After"))
      << from_app.Describe();
  get.headers = {std::string("Origin: ") + kEvilOrigin};
  HttpResult from_evil = Call(get);
  EXPECT_EQ(from_evil.status, 200) << from_evil.Describe();
  EXPECT_FALSE(from_evil.Has("access-control-allow-origin")) << from_evil.Describe();
  // Errors carry the CORS headers too, or the app cannot read them.
  HttpRequest unauthenticated;
  unauthenticated.path = "/v1/applications";
  unauthenticated.headers = {std::string("Origin: ") + kAppOrigin};
  HttpResult error = Call(unauthenticated);
  EXPECT_EQ(error.status, 401) << error.Describe();
  EXPECT_EQ(error.Header("access-control-allow-origin"), kAppOrigin) << error.Describe();
}

TEST_F(EdgeRestTest, GzipBothWays) {
  const std::string token = TokenFor(CitizenId(41));
  const std::string search = std::string("/v1/guides?query=") + kSocialSecurityCardQuery;

  // Without Accept-Encoding: identity.
  HttpResult plain = Get(search, token);
  ASSERT_EQ(plain.status, 200) << plain.Describe();
  EXPECT_FALSE(plain.Has("content-encoding")) << plain.Describe();
  ASSERT_GE(plain.body.size(), 1024u) << "the search answer is too small to test gzip";
  ExpectCommonHeaders(plain);

  // Accept-Encoding: gzip, not decoded by curl: the bytes on the wire.
  HttpRequest raw;
  raw.path = search;
  raw.token = token;
  raw.headers = {"Accept-Encoding: gzip"};
  HttpResult zipped = Call(raw);
  ASSERT_EQ(zipped.status, 200) << zipped.Describe();
  EXPECT_EQ(zipped.Header("content-encoding"), "gzip") << zipped.Describe();
  EXPECT_TRUE(ContainsIgnoreCase(zipped.Header("vary"), "Accept-Encoding")) << zipped.Describe();
  ASSERT_GE(zipped.body.size(), 2u);
  EXPECT_EQ(zipped.body.substr(0, 2), "\x1f\x8b");
  EXPECT_LT(zipped.body.size(), plain.body.size());
  ExpectCommonHeaders(zipped);

  // --compressed: curl asks for it, and decodes it to the same JSON.
  HttpRequest decoded = raw;
  decoded.headers.clear();
  decoded.compressed = true;
  HttpResult unzipped = Call(decoded);
  ASSERT_EQ(unzipped.status, 200) << unzipped.Describe();
  EXPECT_EQ(unzipped.Header("content-encoding"), "gzip") << unzipped.Describe();
  v1::SearchGuidesResponse a;
  v1::SearchGuidesResponse b;
  ASSERT_TRUE(ParseJson(unzipped.body, &a));
  ASSERT_TRUE(ParseJson(plain.body, &b));
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());

  // Small answers are not worth it (docs: 1 KiB or more).
  HttpRequest health;
  health.path = "/healthz";
  health.headers = {"Accept-Encoding: gzip"};
  HttpResult small = Call(health);
  EXPECT_EQ(small.status, 200) << small.Describe();
  EXPECT_FALSE(small.Has("content-encoding")) << small.Describe();
  EXPECT_EQ(small.body, "ok\n");

  // The OpenAPI document (large): compressed once, whatever the client
  // offers, and curl --compressed (gzip, br, ...) decodes it to JSON.
  HttpRequest doc;
  doc.path = "/openapi.json";
  doc.headers = {"Accept-Encoding: gzip"};
  HttpResult doc_gzip = Call(doc);
  ASSERT_EQ(doc_gzip.status, 200) << doc_gzip.Describe();
  EXPECT_EQ(doc_gzip.Header("content-encoding"), "gzip") << doc_gzip.raw_headers;
  doc.headers.clear();
  doc.compressed = true;
  HttpResult doc_decoded = Call(doc);
  ASSERT_EQ(doc_decoded.status, 200) << doc_decoded.Describe();
  EXPECT_EQ(doc_decoded.Header("content-encoding"), "gzip") << doc_decoded.raw_headers;
  google::protobuf::Struct openapi;
  EXPECT_TRUE(ParseJson(doc_decoded.body, &openapi));

  // A gzip-compressed request body.
  v1::CheckMaterialsRequest check;
  check.set_accepting_province(kHunan);
  check.set_handling_province(kShanghai);
  check.set_item_code(kSocialSecurityCard);
  for (const char* id : {"M01", "M02", "M09"}) check.add_material_ids(id);
  HttpRequest post;
  post.method = "POST";
  post.path = "/v1/applications:precheck";
  post.token = token;
  post.body = Gzip(ToJson(check));
  post.headers = {"Content-Encoding: gzip"};
  HttpResult checked = Call(post);
  ASSERT_EQ(checked.status, 200) << checked.Describe();
  v1::CheckMaterialsResponse verdict;
  ASSERT_TRUE(ParseJson(checked.body, &verdict));
  EXPECT_EQ(verdict.outcome(), v1::PRECHECK_OUTCOME_ACCEPT_WITH_DEFICIENCY) << checked.body;

  // Content-Encoding: gzip on bytes that are not gzip.
  post.body = ToJson(check);
  HttpResult corrupt = Call(post);
  ExpectError(corrupt, 400, "INVALID_ARGUMENT");
}


// ---------------------------------------------------------------------------
// 6. The edge's HTTP server: request ids, HTTP/2, HSTS, CORS for tracing and
// idempotency headers, the Idempotency-Key header, header floods.

// Every answer carries X-Request-Id: the client's when valid, and the same id
// is on the gateway's and the accepting node's log lines for the call.
TEST_F(EdgeRestTest, RequestIdIsAnsweredAndLoggedByTheGatewayAndTheNode) {
  const std::string token = TokenFor(CitizenId(60));
  const std::string id = "rest-7f3a9c-req-0060";
  HttpRequest submit;
  submit.method = "POST";
  submit.path = "/v1/applications";
  submit.token = token;
  submit.body = ToJson(
      Submission("rest-rid-0060", kHunan, kHunan, kSocialSecurityCard, {"M01", "M02", "M03"}));
  submit.headers = {"X-Request-Id: " + id};
  HttpResult r = Call(submit);
  ASSERT_EQ(r.status, 201) << r.Describe();
  EXPECT_EQ(r.Header("x-request-id"), id) << r.Describe();
  int gateway_lines = 0, hunan_lines = 0;
  for (const std::string& path : federation_->AllLogPaths()) {
    std::istringstream log(ReadFile(path));
    for (std::string line; std::getline(log, line);) {
      if (!Contains(line, " request_id=" + id)) continue;
      if (Contains(path, "gateway")) ++gateway_lines;
      if (Contains(path, kHunan)) ++hunan_lines;
    }
  }
  EXPECT_GE(gateway_lines, 1) << federation_->LogTails(2000);
  EXPECT_GE(hunan_lines, 1) << federation_->LogTails(2000);

  // A traceparent's trace id when there is no X-Request-Id; a hostile id is
  // replaced by a fresh one (32 hex), and errors carry one too.
  HttpRequest traced;
  traced.path = "/v1/applications";  // no token: 401
  traced.headers = {"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"};
  HttpResult t = Call(traced);
  EXPECT_EQ(t.status, 401) << t.Describe();
  EXPECT_EQ(t.Header("x-request-id"), "4bf92f3577b34da6a3ce929d0e0e4736") << t.Describe();
  traced.headers = {"X-Request-Id: bad id\twith spaces"};
  HttpResult h = Call(traced);
  const std::string fresh = h.Header("x-request-id");
  EXPECT_EQ(fresh.size(), 32u) << h.Describe();
  EXPECT_TRUE(std::all_of(fresh.begin(), fresh.end(), ::isxdigit)) << h.Describe();
}

// Apps on HTTP/2 (ALPN h2) get the same answers; every answer has HSTS.
TEST_F(EdgeRestTest, Http2AndHsts) {
  std::vector<std::string> args = CurlBase();
  args.insert(args.end(), {"--http2", "-D", "-", "-o", "/dev/null", "-w", "\n%{http_version} %{http_code}\n",
                           Url("/v1/provinces/310000/items/GG00020600/guide")});
  ProcessResult p = RunProcess(args);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_TRUE(Contains(p.out, "\n2 200\n")) << p.out;
  EXPECT_TRUE(Contains(p.out, "strict-transport-security: max-age=31536000")) << p.out;
  HttpResult h1 = Get("/healthz");
  EXPECT_EQ(h1.Header("strict-transport-security"), "max-age=31536000") << h1.Describe();
}

// Browser tracing SDKs and idempotent POSTs send traceparent, X-Request-Id
// and Idempotency-Key: allowed by default; a refused header is named.
TEST_F(EdgeRestTest, CorsAllowsTracingAndIdempotencyHeadersAndNamesARefusedOne) {
  HttpRequest preflight;
  preflight.method = "OPTIONS";
  preflight.path = "/v1/applications";
  preflight.headers = {std::string("Origin: ") + kAppOrigin, "Access-Control-Request-Method: POST",
                       "Access-Control-Request-Headers: traceparent, x-request-id, "
                       "idempotency-key, authorization, content-type"};
  HttpResult ok = Call(preflight);
  EXPECT_EQ(ok.status, 204) << ok.Describe();
  const std::string allowed = Lower(ok.Header("access-control-allow-headers"));
  for (const char* h : {"traceparent", "x-request-id", "idempotency-key"}) {
    EXPECT_TRUE(Contains(allowed, h)) << h << ": " << ok.Describe();
  }
  preflight.headers[2] = "Access-Control-Request-Headers: traceparent, x-custom-thing";
  HttpResult refused = Call(preflight);
  v1::ErrorBody body = ExpectError(refused, 403, "PERMISSION_DENIED");
  EXPECT_TRUE(Contains(body.message(), "x-custom-thing")) << refused.Describe();
}

// Idempotency-Key (the HTTP header) is the submission's key when the body
// has none: the same header twice files once.
TEST_F(EdgeRestTest, IdempotencyKeyHeaderFilesOnce) {
  const std::string token = TokenFor(CitizenId(61));
  v1::SubmitMyApplicationRequest req =
      Submission("", kHunan, kHunan, kSocialSecurityCard, {"M01", "M02", "M03"});
  req.clear_idempotency_key();
  HttpRequest submit;
  submit.method = "POST";
  submit.path = "/v1/applications";
  submit.token = token;
  submit.body = ToJson(req);
  submit.headers = {"Idempotency-Key: \"rest-idem-hdr-0061\""};
  HttpResult first = Call(submit);
  ASSERT_EQ(first.status, 201) << first.Describe();
  HttpResult second = Call(submit);
  ASSERT_TRUE(second.status == 200 || second.status == 201) << second.Describe();
  v1::SubmitMyApplicationResponse a, b;
  ASSERT_TRUE(ParseJson(first.body, &a));
  ASSERT_TRUE(ParseJson(second.body, &b));
  EXPECT_EQ(a.application().application_id(), b.application().application_id());
  EXPECT_EQ(ListedIds(Get("/v1/applications", token)).size(), 1u);
  // Without either, the request names the missing key.
  submit.headers.clear();
  ExpectFieldError(Call(submit), "idempotencyKey");
}

// Megabytes of request headers: 431 after 16 KiB, and the gateway's memory
// does not grow with them.
TEST_F(EdgeRestTest, HeaderFloodIs431AndCostsNoMemory) {
  const std::string file = *workdir_ + "/flood-headers";
  {
    std::ofstream out(file);
    for (int i = 0; i < 4096; ++i) out << "X-Flood-" << i << ": " << std::string(1000, 'f') << "\n";
  }
  auto rss_kb = [] {
    long kb = -1;
    std::ifstream status("/proc/" + std::to_string(federation_->GatewayPid()) + "/status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("VmRSS:", 0) == 0) kb = std::atol(line.c_str() + 6);
    }
    return kb;
  };
  const long before = rss_kb();
  ASSERT_GT(before, 0);
  for (int i = 0; i < 15; ++i) {  // 60 MB offered in all
    std::vector<std::string> args = CurlBase();
    args.insert(args.end(), {"-o", "/dev/null", "-w", "%{http_code}", "-H", "@" + file,
                             Url("/healthz")});
    ProcessResult p = RunProcess(args);
    // curl may see the 431, or a reset while it is still sending.
    EXPECT_TRUE(p.out == "431" || p.exit_code != 0) << p.out << p.err;
  }
  const long after = rss_kb();
  EXPECT_LT(after - before, 16 * 1024) << "gateway RSS " << before << " kB -> " << after << " kB";
  EXPECT_EQ(Get("/healthz").status, 200);
}

}  // namespace
}  // namespace tongban::testing
