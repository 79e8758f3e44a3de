// CitizenApi::ListMyApplications as a property over random federations
// (issue 11: "pagination never yields an empty non-final page"). Each case
// puts 3..8 random provinces in the gateway's directory, each answered by a
// real in-process gRPC ApplicationService on loopback (FakeProvinceNode) that
// lists like the real node (node/store/sqlite_application_store.cc
// ListByApplicant, node/service/application_service.cc): newest first by its
// own insertion order (seq DESC), page tokens from common/page_token bound to
// the applicant and to accepted_here_only, a next token only when more rows
// follow. Every province holds 0..30 applications (many none), created at
// timestamps drawn from a small pool so that ties happen within and across
// provinces, some for another citizen, and copies of the cross-province ones
// it handles. The citizen pages through with a random page size 1..10.
//
// Properties, for every seed (fixed list; a failure names its seed and
// prints the case):
//   1. every page but the last has exactly page_size applications;
//   2. the last page is empty only when the citizen has none at all;
//   3. every application of the citizen appears exactly once (no copies,
//      nothing of another citizen);
//   4. the order is newest first; ties of created_at are broken by the
//      accepting province, then by the accepting node's order (its sequence,
//      newest accepted first) — the order a merge of the nodes' own pages
//      gives, the same whatever the page size.
// The same over provinces holding more than a node page (200) whose
// applications interleave in time (a page then runs out of a node page and
// needs the node's next one before it is full). And a page token is refused
// with INVALID_ARGUMENT when it is another citizen's or was altered.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "application_id.h"
#include "citizen_api.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "input_validation.h"
#include "page_token.h"
#include "prometheus/registry.h"
#include "province_registry.h"
#include "structured_log.h"
#include "tongban/v1/application.grpc.pb.h"

namespace tongban::edge {
namespace {

constexpr char kCitizenMetadata[] = "x-tongban-citizen-id";
constexpr char kCitizen[] = "430102199003070012";
constexpr char kOtherCitizen[] = "431226199001011235";
constexpr int kMaxNodes = 8;

// One province's node, as far as the listing goes. Rows are kept in
// insertion order (row i has seq i + 1), as the applications table does.
class FakeProvinceNode final : public v1::ApplicationService::Service {
 public:
  void Reset(std::string province, std::vector<v1::Application> rows) {
    absl::MutexLock lock(&mu_);
    province_ = std::move(province);
    rows_ = std::move(rows);
  }

  grpc::Status ListApplicationsByApplicant(grpc::ServerContext* ctx,
                                           const v1::ListApplicationsByApplicantRequest* req,
                                           v1::ListApplicationsByApplicantResponse* resp) override {
    // A citizen always lists their own: the gateway's stamp wins over the field.
    auto stamp = ctx->client_metadata().find(kCitizenMetadata);
    const std::string applicant = stamp != ctx->client_metadata().end()
                                      ? std::string(stamp->second.data(), stamp->second.size())
                                      : req->applicant_id_number();
    if (applicant.empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "applicant_id_number is empty");
    }
    int limit = 0;
    if (absl::Status s = ValidatePageSize("page_size", req->page_size(), &limit); !s.ok()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(s.message()));
    }
    const std::string list =
        absl::StrCat("by-applicant:", applicant, req->accepted_here_only() ? ":accepted-here" : "");
    absl::StatusOr<std::string> cursor = DecodePageToken("page_token", list, req->page_token());
    if (!cursor.ok()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          std::string(cursor.status().message()));
    }
    int64_t before = std::numeric_limits<int64_t>::max();
    if (!cursor->empty() && (!absl::SimpleAtoi(*cursor, &before) || before < 1)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page cursor was not issued here");
    }
    absl::MutexLock lock(&mu_);
    // SELECT ... WHERE applicant = ? AND seq < before [AND accepting = own]
    // ORDER BY seq DESC LIMIT limit + 1; a next token only when a row follows.
    int64_t last_seq = 0;
    for (int64_t seq = std::min<int64_t>(before - 1, static_cast<int64_t>(rows_.size())); seq >= 1;
         --seq) {
      const v1::Application& a = rows_[seq - 1];
      if (a.applicant().id_number() != applicant) continue;
      if (req->accepted_here_only() && a.accepting_province() != province_) continue;
      if (resp->applications_size() == limit) {
        resp->set_next_page_token(EncodePageToken(list, absl::StrCat(last_seq)));
        break;
      }
      *resp->add_applications() = a;
      last_seq = seq;
    }
    return grpc::Status::OK;
  }

 private:
  absl::Mutex mu_;
  std::string province_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::Application> rows_ ABSL_GUARDED_BY(mu_);
};

// Deterministic on every platform (std's distributions are not).
class Rng {
 public:
  explicit Rng(uint32_t seed) : gen_(seed) {}
  int Below(int n) { return static_cast<int>(gen_() % static_cast<uint32_t>(n)); }
  bool OneIn(int n) { return Below(n) == 0; }

 private:
  std::mt19937 gen_;
};

struct Case {
  uint32_t seed = 0;
  int page_size = 0;
  std::vector<std::string> provinces;                        // in the directory
  std::map<std::string, std::vector<v1::Application>> rows;  // per node, insertion order
  std::vector<v1::Application> expected;                     // kCitizen's listing, in order
  int64_t other_citizens = 0;                                // applications of kOtherCitizen
};

int64_t SequenceOf(const v1::Application& a) {
  absl::StatusOr<ApplicationIdParts> parts = ParseApplicationId(a.application_id());
  return parts.ok() ? parts->sequence : -1;
}

// Newest first; ties by accepting province, then by the accepting node's
// sequence (its insertion order), both descending.
bool ListedBefore(const v1::Application& a, const v1::Application& b) {
  auto key = [](const v1::Application& x) {
    return std::make_tuple(x.created_at().seconds(), x.created_at().nanos(), x.accepting_province(),
                           SequenceOf(x));
  };
  return key(a) > key(b);
}

Case MakeCase(uint32_t seed) {
  Rng rng(seed);
  Case c;
  c.seed = seed;
  c.page_size = 1 + rng.Below(10);

  // 3..8 distinct provinces of the 31.
  std::vector<std::string> all;
  for (const Province& p : AllProvinces()) all.emplace_back(p.code);
  for (int i = static_cast<int>(all.size()) - 1; i > 0; --i)
    std::swap(all[i], all[rng.Below(i + 1)]);
  c.provinces.assign(all.begin(), all.begin() + 3 + rng.Below(kMaxNodes - 2));
  std::sort(c.provinces.begin(), c.provinces.end());
  std::vector<std::string> every;  // handling provinces may be outside the directory
  for (const Province& p : AllProvinces()) every.emplace_back(p.code);

  // Creation times from a small pool (often very small): ties are common,
  // within a province and across provinces. Spread over a few days so
  // application ids carry different dates.
  const int pool_size = 1 + rng.Below(rng.OneIn(2) ? 6 : 60);
  std::vector<std::pair<int64_t, int32_t>> pool;
  for (int i = 0; i < pool_size; ++i) {
    pool.emplace_back(1709222400 + rng.Below(3 * 86400), rng.OneIn(3) ? 500000000 : 0);
  }

  struct Stored {
    v1::Application app;
    bool copy;  // a handling province's copy: inserted when delivered, after the original
  };
  std::map<std::string, std::vector<Stored>> stored;
  for (const std::string& province : c.provinces) {
    const int n = rng.OneIn(2) ? 0 : rng.Below(31);
    std::vector<std::pair<int64_t, int32_t>> times;
    for (int i = 0; i < n; ++i) times.push_back(pool[rng.Below(pool_size)]);
    std::sort(times.begin(), times.end());  // accepted in time order
    int64_t sequence = 1 + rng.Below(1000);
    for (const auto& [seconds, nanos] : times) {
      v1::Application a;
      const std::string& handling = rng.OneIn(3) ? province : every[rng.Below(every.size())];
      a.set_application_id(
          FormatApplicationId(province, handling, absl::FromUnixSeconds(seconds), sequence++));
      a.set_accepting_province(province);
      a.set_handling_province(handling);
      a.set_item_code("GG00020600");
      a.mutable_applicant()->set_id_number(rng.OneIn(5) ? kOtherCitizen : kCitizen);
      a.mutable_applicant()->set_name("张三");
      a.set_state(v1::APPLICATION_STATE_ACCEPTED);
      a.mutable_created_at()->set_seconds(seconds);
      a.mutable_created_at()->set_nanos(nanos);
      *a.mutable_updated_at() = a.created_at();
      stored[province].push_back(Stored{a, false});
      if (handling != province &&
          std::binary_search(c.provinces.begin(), c.provinces.end(), handling)) {
        stored[handling].push_back(Stored{a, true});
      }
      if (a.applicant().id_number() == kCitizen) {
        c.expected.push_back(a);
      } else {
        ++c.other_citizens;
      }
    }
  }
  for (const std::string& province : c.provinces) {
    std::vector<Stored>& s = stored[province];
    // Insertion order at the node: by time, its own before delivered copies
    // of the same instant (stable: own ones keep their sequence order).
    std::stable_sort(s.begin(), s.end(), [](const Stored& a, const Stored& b) {
      auto t = [](const Stored& x) {
        return std::make_tuple(x.app.created_at().seconds(), x.app.created_at().nanos(), x.copy);
      };
      return t(a) < t(b);
    });
    std::vector<v1::Application>& rows = c.rows[province];  // also when it holds none
    for (Stored& x : s) rows.push_back(std::move(x.app));
  }
  std::sort(c.expected.begin(), c.expected.end(), ListedBefore);
  return c;
}

std::string Describe(const Case& c) {
  std::string out =
      absl::StrCat("seed ", c.seed, ", page_size ", c.page_size, ", ", c.expected.size(),
                   " applications of the citizen, ", c.other_citizens, " of another\n");
  for (const auto& [province, rows] : c.rows) {
    absl::StrAppend(&out, "  node ", province, " (insertion order):");
    if (rows.empty()) absl::StrAppend(&out, " none");
    for (const v1::Application& a : rows) {
      absl::StrAppend(&out, "\n    ", a.application_id(), " t=", a.created_at().seconds(), ".",
                      a.created_at().nanos() / 100000000,
                      a.applicant().id_number() == kCitizen ? "" : " (other citizen)",
                      a.accepting_province() == province ? "" : " (copy)");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

std::string Ids(const std::vector<v1::Application>& apps) {
  std::vector<std::string> ids;
  for (const v1::Application& a : apps) {
    ids.push_back(absl::StrCat(a.application_id(), "@", a.created_at().seconds(), ".",
                               a.created_at().nanos() / 100000000));
  }
  return absl::StrJoin(ids, "\n  ");
}

// Up to kMaxNodes fake nodes on loopback; each case gives the first
// provinces.size() of them a province and data and puts them in the
// gateway's directory.
class ListMyApplicationsProperty : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (int i = 0; i < kMaxNodes; ++i) {
      auto node = std::make_unique<FakeProvinceNode>();
      grpc::ServerBuilder builder;
      int port = 0;
      builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
      builder.RegisterService(node.get());
      std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
      ASSERT_NE(server, nullptr);
      ASSERT_NE(port, 0);
      nodes_->push_back(std::move(node));
      servers_->push_back(std::move(server));
      addresses_->push_back(absl::StrCat("127.0.0.1:", port));
    }
  }
  static void TearDownTestSuite() {
    for (auto& s : *servers_) s->Shutdown();
    servers_->clear();
    nodes_->clear();
    addresses_->clear();
  }

  void SetUp() override {
    pool_ = std::make_unique<gateway::NodePool>(
        [](const std::string&) { return grpc::InsecureChannelCredentials(); },
        gateway::OutlierPolicy{}, &clock_, nullptr);
    metrics_ = std::make_unique<gateway::GatewayMetrics>(registry_);
    gateway::NodeCaller caller{pool_.get(), metrics_.get()};
    queries_ = std::make_unique<gateway::QueryServiceImpl>(caller, nullptr, nullptr,
                                                           gateway::QueryOptions{});
    CitizenApiOptions options;
    options.log = &log_;
    options.node_deadline = absl::Seconds(5);  // loopback; a slow CI host must not drop a node
    api_ = std::make_unique<CitizenApi>(caller, queries_.get(), options);
  }

  void Install(const Case& c) {
    v1::FederationDirectory directory;
    for (size_t i = 0; i < c.provinces.size(); ++i) {
      (*nodes_)[i]->Reset(c.provinces[i], c.rows.at(c.provinces[i]));
      v1::DirectoryNode* n = directory.add_nodes();
      n->set_province_code(c.provinces[i]);
      n->set_address((*addresses_)[i]);
    }
    for (size_t i = c.provinces.size(); i < kMaxNodes; ++i) (*nodes_)[i]->Reset("", {});
    pool_->Update(directory);
  }

  static CitizenCaller As(const std::string& citizen) {
    CitizenCaller c;
    c.citizen_id = citizen;
    c.deadline = absl::Now() + absl::Seconds(30);
    return c;
  }

  grpc::Status List(const std::string& citizen, int page_size, const std::string& token,
                    v1::ListMyApplicationsResponse* resp) {
    v1::ListMyApplicationsRequest req;
    req.set_page_size(page_size);
    req.set_page_token(token);
    return api_->ListMyApplications(As(citizen), req, resp);
  }

  // Pages through kCitizen's listing of `c` and checks the properties.
  void CheckCase(const Case& c) {
    Install(c);
    std::vector<v1::ListMyApplicationsResponse> pages;
    std::string token;
    const size_t max_pages = c.expected.size() + 2;  // more means it never ends
    do {
      v1::ListMyApplicationsResponse resp;
      grpc::Status s = List(kCitizen, c.page_size, token, &resp);
      ASSERT_TRUE(s.ok()) << "page " << pages.size() << ": " << s.error_code() << " "
                          << s.error_message();
      ASSERT_EQ(resp.missing_provinces_size(), 0)
          << "page " << pages.size()
          << ": a loopback node was reported missing: " << resp.missing_provinces(0).province_code()
          << " " << resp.missing_provinces(0).reason();
      token = resp.next_page_token();
      pages.push_back(std::move(resp));
      ASSERT_LE(pages.size(), max_pages) << "the listing does not end";
    } while (!token.empty());

    std::vector<v1::Application> listed;
    std::string sizes;
    for (const auto& p : pages) {
      absl::StrAppend(&sizes, sizes.empty() ? "" : ",", p.applications_size());
      for (const auto& a : p.applications()) listed.push_back(a);
    }
    // 1. Full pages until the last.
    for (size_t i = 0; i + 1 < pages.size(); ++i) {
      EXPECT_EQ(pages[i].applications_size(), c.page_size)
          << "page " << i << " of " << pages.size() << " is not full but has a next_page_token "
          << "(page sizes " << sizes << ")";
    }
    // 2. The last page is empty only when there is nothing at all.
    if (!c.expected.empty()) {
      EXPECT_GT(pages.back().applications_size(), 0)
          << "the last page is empty (page sizes " << sizes << ")";
    } else {
      EXPECT_EQ(pages.size(), 1u) << "page sizes " << sizes;
      EXPECT_EQ(pages.back().applications_size(), 0);
    }
    // 3. Each of the citizen's applications exactly once, nothing else.
    std::map<std::string, int> seen;
    for (const auto& a : listed) {
      ++seen[a.application_id()];
      EXPECT_EQ(a.applicant().id_number(), kCitizen) << a.application_id() << " is another's";
    }
    for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id << " is listed " << n << " times";
    for (const auto& a : c.expected) {
      EXPECT_EQ(seen.count(a.application_id()), 1u) << a.application_id() << " is never listed";
    }
    // 4. Newest first, ties in the documented order.
    for (size_t i = 1; i < listed.size(); ++i) {
      const auto& prev = listed[i - 1].created_at();
      const auto& cur = listed[i].created_at();
      EXPECT_TRUE(std::make_pair(prev.seconds(), prev.nanos()) >=
                  std::make_pair(cur.seconds(), cur.nanos()))
          << "older " << listed[i - 1].application_id() << " before newer "
          << listed[i].application_id();
    }
    std::vector<std::string> got, want;
    for (const auto& a : listed) got.push_back(a.application_id());
    for (const auto& a : c.expected) want.push_back(a.application_id());
    EXPECT_EQ(got, want) << "listed:\n  " << Ids(listed) << "\nexpected:\n  " << Ids(c.expected);
  }

  static std::vector<std::unique_ptr<FakeProvinceNode>>* nodes_;
  static std::vector<std::unique_ptr<grpc::Server>>* servers_;
  static std::vector<std::string>* addresses_;

  EventLog log_{"gateway", std::tmpfile()};
  SystemClock clock_;
  prometheus::Registry registry_;
  std::unique_ptr<gateway::NodePool> pool_;
  std::unique_ptr<gateway::GatewayMetrics> metrics_;
  std::unique_ptr<gateway::QueryServiceImpl> queries_;
  std::unique_ptr<CitizenApi> api_;
};

std::vector<std::unique_ptr<FakeProvinceNode>>* ListMyApplicationsProperty::nodes_ =
    new std::vector<std::unique_ptr<FakeProvinceNode>>;
std::vector<std::unique_ptr<grpc::Server>>* ListMyApplicationsProperty::servers_ =
    new std::vector<std::unique_ptr<grpc::Server>>;
std::vector<std::string>* ListMyApplicationsProperty::addresses_ = new std::vector<std::string>;

// The fake itself lists like the real node: newest inserted first, a next
// token only when a row follows, copies left out with accepted_here_only.
TEST_F(ListMyApplicationsProperty, FakeNodeListsLikeTheRealOne) {
  Case c;
  c.provinces = {"310000", "430000"};
  auto app = [](const std::string& acc, const std::string& hand, int64_t seq) {
    v1::Application a;
    a.set_application_id(FormatApplicationId(acc, hand, absl::FromUnixSeconds(1709222400), seq));
    a.set_accepting_province(acc);
    a.set_handling_province(hand);
    a.mutable_applicant()->set_id_number(kCitizen);
    a.mutable_created_at()->set_seconds(1709222400);
    return a;
  };
  c.rows["430000"] = {app("430000", "430000", 1), app("310000", "430000", 7),
                      app("430000", "310000", 2)};
  c.rows["310000"] = {};
  Install(c);
  auto stub = v1::ApplicationService::NewStub(
      grpc::CreateChannel((*addresses_)[1], grpc::InsecureChannelCredentials()));
  std::vector<std::string> ids;
  std::string token;
  int pages = 0;
  do {
    grpc::ClientContext ctx;
    ctx.AddMetadata(kCitizenMetadata, kCitizen);
    v1::ListApplicationsByApplicantRequest req;
    req.set_page_size(1);
    req.set_page_token(token);
    req.set_accepted_here_only(true);
    v1::ListApplicationsByApplicantResponse resp;
    ASSERT_TRUE(stub->ListApplicationsByApplicant(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.applications_size(), 1);
    ids.push_back(resp.applications(0).application_id());
    token = resp.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 5);
  EXPECT_EQ(ids, (std::vector<std::string>{"TB-430000-310000-20240301-00000002",
                                           "TB-430000-430000-20240301-00000001"}));
}

TEST_F(ListMyApplicationsProperty, EveryPageFullUntilTheLastEachOnceNewestFirst) {
  const absl::Time start = absl::Now();
  int cases = 0, applications = 0;
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    const Case c = MakeCase(seed);
    SCOPED_TRACE(Describe(c));
    CheckCase(c);
    ++cases;
    applications += static_cast<int>(c.expected.size());
    if (HasFailure()) {
      ADD_FAILURE() << "property failed for seed " << seed << " (MakeCase(" << seed
                    << ") reproduces it; the case is above)";
      break;
    }
  }
  std::printf("%d cases, %d applications listed, %.1f s\n", cases, applications,
              absl::ToDoubleSeconds(absl::Now() - start));
}

// Provinces holding more than a node page (200) whose applications
// interleave in time: each page takes a few from each, so the listing goes
// deep into a node page before the node's own next page is needed.
TEST_F(ListMyApplicationsProperty, LargeInterleavedProvinces) {
  for (int page_size : {200, 50, 7}) {
    Case c;
    c.seed = 0;
    c.page_size = page_size;
    c.provinces = {"110000", "310000", "430000"};
    for (const std::string& p : c.provinces) c.rows[p];
    int64_t t = 1709222400;
    for (int i = 1; i <= 260; ++i) {
      for (const std::string& province : c.provinces) {
        if (province == "430000" && i > 40) continue;  // one smaller province
        v1::Application a;
        a.set_application_id(FormatApplicationId(province, province, absl::FromUnixSeconds(t), i));
        a.set_accepting_province(province);
        a.set_handling_province(province);
        a.mutable_applicant()->set_id_number(kCitizen);
        a.mutable_created_at()->set_seconds(t);
        t += province == "110000" ? 0 : 1;  // ties between 110000 and 310000
        c.rows[province].push_back(a);
        c.expected.push_back(a);
      }
    }
    std::sort(c.expected.begin(), c.expected.end(), ListedBefore);
    SCOPED_TRACE(absl::StrCat("page_size ", page_size));
    CheckCase(c);
    if (HasFailure()) break;
  }
}

// Both citizens have several pages. 110000 and 310000 hold the newest, in
// turn, so the first pages take one from each and their tokens carry skips
// only (no node token yet); 430000 holds older ones, read later through its
// node's own tokens (bound to the citizen by the node).
Case TwoCitizens() {
  Case c;
  c.seed = 0;
  c.page_size = 2;
  c.provinces = {"110000", "310000", "430000"};
  auto add = [&](const std::string& province, int64_t t, int sequence, const char* citizen) {
    v1::Application a;
    a.set_application_id(
        FormatApplicationId(province, province, absl::FromUnixSeconds(t), sequence));
    a.set_accepting_province(province);
    a.set_handling_province(province);
    a.mutable_applicant()->set_id_number(citizen);
    a.mutable_created_at()->set_seconds(t);
    c.rows[province].push_back(a);
  };
  const int64_t t = 1709222400;
  for (int i = 1; i <= 12; ++i) add("430000", t + i, i, i % 2 ? kOtherCitizen : kCitizen);
  for (int i = 1; i <= 4; ++i) {
    add("110000", t + 100 + 2 * i, i, i % 2 ? kOtherCitizen : kCitizen);
    add("310000", t + 101 + 2 * i, i, i % 2 ? kOtherCitizen : kCitizen);
  }
  return c;
}

TEST_F(ListMyApplicationsProperty, AnotherCitizensOrAnAlteredTokenIsRefused) {
  const Case c = TwoCitizens();
  Install(c);
  auto invalid = [&](const std::string& citizen, const std::string& token,
                     const std::string& what) {
    v1::ListMyApplicationsResponse resp;
    grpc::Status s = List(citizen, c.page_size, token, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << what << ": answered " << s.error_code() << " " << s.error_message() << " with "
        << resp.applications_size() << " applications";
    EXPECT_EQ(resp.applications_size(), 0) << what;
  };

  // The other citizen's tokens: after the first page (node tokens still
  // empty: every province's first node page is only partly shown) and
  // further on (the nodes' own tokens, bound to that citizen).
  std::vector<std::string> others;
  std::string token;
  do {
    v1::ListMyApplicationsResponse resp;
    ASSERT_TRUE(List(kOtherCitizen, c.page_size, token, &resp).ok());
    token = resp.next_page_token();
    if (!token.empty()) others.push_back(token);
  } while (!token.empty());
  ASSERT_GE(others.size(), 4u);
  for (size_t i = 0; i < others.size(); ++i) {
    invalid(kCitizen, others[i], absl::StrCat("the other citizen's token after page ", i + 1));
  }

  // The citizen's own token, altered.
  v1::ListMyApplicationsResponse first;
  ASSERT_TRUE(List(kCitizen, c.page_size, "", &first).ok());
  v1::ListMyApplicationsResponse second;
  ASSERT_TRUE(List(kCitizen, c.page_size, first.next_page_token(), &second).ok());
  const std::string own = second.next_page_token();
  ASSERT_FALSE(own.empty());
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(own, &raw));
  invalid(kCitizen, "not-a-token!", "garbage");
  std::string flipped = own;
  flipped[own.size() / 2] = flipped[own.size() / 2] == 'A' ? 'B' : 'A';
  invalid(kCitizen, flipped, "one character changed");
  std::string skip_changed = raw;  // "my1,110000:<skip>:..." → another skip
  const size_t skip_at = skip_changed.find(':') + 1;
  skip_changed[skip_at] = skip_changed[skip_at] == '1' ? '0' : '1';
  invalid(kCitizen, absl::WebSafeBase64Escape(skip_changed), "a skip changed");
  invalid(kCitizen, absl::WebSafeBase64Escape(raw + ",999999:0:"), "an unknown province added");
  // Each province's node token (the part after the second ':') altered.
  for (size_t at = raw.find(','); at != std::string::npos; at = raw.find(',', at + 1)) {
    const size_t colon = raw.find(':', raw.find(':', at) + 1);
    const size_t end = std::min(raw.find(',', at + 1), raw.size());
    if (colon + 1 >= end) continue;  // an empty node token: nothing to alter
    std::string altered = raw;
    altered[colon + 1] = altered[colon + 1] == 'd' ? 'e' : 'd';
    invalid(kCitizen, absl::WebSafeBase64Escape(altered),
            absl::StrCat("node token altered: ", raw.substr(at + 1, end - at - 1)));
  }
  // The own token still works.
  v1::ListMyApplicationsResponse third;
  EXPECT_TRUE(List(kCitizen, c.page_size, own, &third).ok());
}

}  // namespace
}  // namespace tongban::edge
