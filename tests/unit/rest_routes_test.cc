#include "rest_routes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "google/api/annotations.pb.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/text_format.h"
#include "tongban/v1/api_options.pb.h"
#include "tongban/v1/citizen.pb.h"

namespace tongban::edge {
namespace {

namespace pb = google::protobuf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;

// gmock string matchers want std::string, Debian abseil has its own string_view.
std::string Message(const absl::Status& status) { return std::string(status.message()); }

const pb::ServiceDescriptor& CitizenService() {
  return *v1::SearchGuidesRequest::descriptor()->file()->FindServiceByName("CitizenService");
}

const RestRouteTable& Table() {
  static const auto* table = [] {
    absl::StatusOr<RestRouteTable> t = RestRouteTable::ForService(CitizenService());
    EXPECT_TRUE(t.ok()) << t.status();
    return new RestRouteTable(t.ok() ? *std::move(t) : RestRouteTable());
  }();
  return *table;
}

const RestRoute& RouteOf(absl::string_view method) {
  for (const RestRoute& route : Table().routes()) {
    if (route.method->name() == method) return route;
  }
  ADD_FAILURE() << "no route for " << method;
  static const RestRoute* none = new RestRoute();
  return *none;
}

// --- The citizen API's routes.

struct ExpectedRoute {
  const char* method;
  const char* http_method;
  const char* path;
  const char* verb;
  bool has_body;
  int success_status;
};

constexpr ExpectedRoute kCitizenRoutes[] = {
    {"SearchGuides", "GET", "/v1/guides", "", false, 200},
    {"FindWhereToFile", "GET", "/v1/items/{item_code}/filing-options", "", false, 200},
    {"GetItemGuide", "GET", "/v1/provinces/{province_code}/items/{item_code}/guide", "", false,
     200},
    {"FindLicenceEvidence", "GET",
     "/v1/provinces/{province_code}/items/{item_code}/licence-evidence", "", false, 200},
    {"PreviewMyLicence", "POST", "/v1/licences:preview", "preview", true, 200},
    {"ConfirmMyLicence", "POST", "/v1/licences:confirm", "confirm", true, 200},
    {"ListMyLicenceDisclosures", "GET", "/v1/provinces/{issuing_province}/licence-disclosures", "",
     false, 200},
    {"CheckMaterials", "POST", "/v1/applications:precheck", "precheck", true, 200},
    {"SubmitMyApplication", "POST", "/v1/applications", "", true, 201},
    {"ListMyApplications", "GET", "/v1/applications", "", false, 200},
    {"GetMyApplication", "GET", "/v1/applications/{application_id}", "", false, 200},
    {"SupplementMyMaterials", "POST", "/v1/applications/{application_id}:supplement", "supplement",
     true, 200},
    {"WithdrawMyApplication", "POST", "/v1/applications/{application_id}:withdraw", "withdraw",
     true, 200},
    {"RateMyApplication", "POST", "/v1/applications/{application_id}:rate", "rate", true, 200},
    {"WatchMyApplication", "GET", "/v1/applications/{application_id}/events", "", false, 200},
};

TEST(RestRouteTableTest, EveryCitizenMethodHasItsRoute) {
  ASSERT_EQ(Table().routes().size(), static_cast<size_t>(CitizenService().method_count()));
  ASSERT_EQ(Table().routes().size(), std::size(kCitizenRoutes));
  for (const ExpectedRoute& want : kCitizenRoutes) {
    SCOPED_TRACE(want.method);
    const RestRoute& route = RouteOf(want.method);
    EXPECT_EQ(route.http_method, want.http_method);
    EXPECT_EQ(route.path, want.path);
    EXPECT_EQ(route.verb, want.verb);
    EXPECT_EQ(route.has_body, want.has_body);
    EXPECT_EQ(route.success_status, want.success_status);
  }
}

TEST(RestRouteTableTest, CatalogIsAnonymousApplicationsAreNot) {
  // CheckMaterials is left out: whether the pre-check needs a token is a
  // product decision of citizen.proto, not of the routing.
  for (const char* method : {"SearchGuides", "FindWhereToFile", "GetItemGuide"}) {
    EXPECT_TRUE(RouteOf(method).anonymous) << method;
  }
  // FindLicenceEvidence and the 免证办 calls answer for the token's citizen (the holder).
  for (const char* method : {"FindLicenceEvidence", "PreviewMyLicence", "ConfirmMyLicence",
                             "ListMyLicenceDisclosures", "SubmitMyApplication", "ListMyApplications",
                             "GetMyApplication", "SupplementMyMaterials", "WithdrawMyApplication",
                             "RateMyApplication"}) {
    EXPECT_FALSE(RouteOf(method).anonymous) << method;
  }
}

TEST(RestRouteTableTest, TemplateSegments) {
  const RestRoute& route = RouteOf("GetItemGuide");
  std::vector<std::pair<bool, std::string>> segments;
  for (const PathSegment& s : route.segments) segments.emplace_back(s.variable, s.text);
  EXPECT_THAT(segments,
              ElementsAre(Pair(false, "v1"), Pair(false, "provinces"), Pair(true, "province_code"),
                          Pair(false, "items"), Pair(true, "item_code"), Pair(false, "guide")));
  const RestRoute& precheck = RouteOf("CheckMaterials");
  ASSERT_EQ(precheck.segments.size(), 2u);
  EXPECT_EQ(precheck.segments[1].text, "applications");
  EXPECT_FALSE(precheck.segments[1].variable);
}

// Every route is found from a concrete path built from its template.
TEST(RestRouteTableTest, FindsEveryRoute) {
  for (const RestRoute& route : Table().routes()) {
    SCOPED_TRACE(route.path);
    std::string path;
    PathParams want;
    for (const PathSegment& s : route.segments) {
      std::string text = s.variable ? absl::StrCat("x-", s.text) : s.text;
      if (s.variable) want.emplace_back(s.text, text);
      absl::StrAppend(&path, "/", text);
    }
    if (!route.verb.empty()) absl::StrAppend(&path, ":", route.verb);
    RestRouteTable::Match match = Table().Find(route.http_method, path);
    EXPECT_EQ(match.route, &route);
    EXPECT_EQ(match.path_params, want);
    EXPECT_THAT(match.allowed_methods, IsEmpty());
  }
}

TEST(RestRouteTableTest, VerbAndPlainPathsAreDifferentRoutes) {
  RestRouteTable::Match m = Table().Find("POST", "/v1/applications/TB-1:withdraw");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->method->name(), "WithdrawMyApplication");
  EXPECT_THAT(m.path_params, ElementsAre(Pair("application_id", "TB-1")));

  m = Table().Find("POST", "/v1/applications/TB-1:supplement");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->method->name(), "SupplementMyMaterials");

  m = Table().Find("GET", "/v1/applications/TB-1");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->method->name(), "GetMyApplication");
  EXPECT_THAT(m.path_params, ElementsAre(Pair("application_id", "TB-1")));

  m = Table().Find("POST", "/v1/applications:precheck");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->method->name(), "CheckMaterials");
  m = Table().Find("POST", "/v1/applications");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->method->name(), "SubmitMyApplication");
  m = Table().Find("GET", "/v1/applications");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->method->name(), "ListMyApplications");

  // An unknown verb is no route; a verb route with GET is the wrong method,
  // not a read of an application whose id ends in ":withdraw".
  m = Table().Find("POST", "/v1/applications/TB-1:cancel");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_THAT(m.allowed_methods, IsEmpty());
  m = Table().Find("GET", "/v1/applications/TB-1:withdraw");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_THAT(m.allowed_methods, ElementsAre("POST"));
  m = Table().Find("GET", "/v1/applications:precheck");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_THAT(m.allowed_methods, ElementsAre("POST"));
  m = Table().Find("POST", "/v1/applications/TB-1:");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_THAT(m.allowed_methods, IsEmpty());
}

TEST(RestRouteTableTest, SegmentsArePercentDecodedAfterSplitting) {
  // An encoded '/' stays inside the value.
  RestRouteTable::Match m = Table().Find("GET", "/v1/applications/TB%2F1");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->method->name(), "GetMyApplication");
  EXPECT_THAT(m.path_params, ElementsAre(Pair("application_id", "TB/1")));
  // An encoded ':' is part of the value, not a verb.
  m = Table().Find("GET", "/v1/applications/TB%3Awithdraw");
  ASSERT_NE(m.route, nullptr);
  EXPECT_THAT(m.path_params, ElementsAre(Pair("application_id", "TB:withdraw")));
  // UTF-8, and '+' is itself in a path.
  m = Table().Find("GET", "/v1/provinces/310000/items/%E7%A4%BE+1/guide");
  ASSERT_NE(m.route, nullptr);
  EXPECT_THAT(m.path_params,
              ElementsAre(Pair("province_code", "310000"), Pair("item_code", "社+1")));
  // Literal segments compare decoded.
  m = Table().Find("GET", "/v1/%67uides");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->method->name(), "SearchGuides");
  // A malformed escape matches nothing.
  EXPECT_EQ(Table().Find("GET", "/v1/applications/TB%2").route, nullptr);
  EXPECT_EQ(Table().Find("GET", "/v1/applications/TB%zz1").route, nullptr);
}

TEST(RestRouteTableTest, UnknownPathsAreNotFound) {
  for (const char* path : {"", "/", "v1/guides", "/v2/guides", "/v1/nothing", "//v1/guides",
                           "/v1/items/GG00020600", "/v1/items//filing-options",
                           "/v1/provinces/310000/items/GG00020600", "/v1/applications/a/b"}) {
    RestRouteTable::Match m = Table().Find("GET", path);
    EXPECT_EQ(m.route, nullptr) << path;
    EXPECT_THAT(m.allowed_methods, IsEmpty()) << path;
  }
}

TEST(RestRouteTableTest, TrailingSlashIsNotAMatch) {
  for (const char* path : {"/v1/guides/", "/v1/applications/", "/v1/applications/TB-1/",
                           "/v1/items/GG00020600/filing-options/"}) {
    RestRouteTable::Match m = Table().Find("GET", path);
    EXPECT_EQ(m.route, nullptr) << path;
    EXPECT_THAT(m.allowed_methods, IsEmpty()) << path;
  }
}

TEST(RestRouteTableTest, WrongMethodListsTheAllowedOnes) {
  RestRouteTable::Match m = Table().Find("DELETE", "/v1/applications");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_THAT(m.allowed_methods, ElementsAre("GET", "POST"));
  m = Table().Find("PUT", "/v1/guides");
  EXPECT_THAT(m.allowed_methods, ElementsAre("GET"));
  // HEAD is not served; methods are case-sensitive.
  m = Table().Find("HEAD", "/v1/guides");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_THAT(m.allowed_methods, ElementsAre("GET"));
  m = Table().Find("get", "/v1/guides");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_THAT(m.allowed_methods, ElementsAre("GET"));
  m = Table().Find("GET", "/v1/applications/TB-1:supplement");
  EXPECT_THAT(m.allowed_methods, ElementsAre("POST"));
}

// --- Binding.

absl::Status Bind(absl::string_view method, const PathParams& params, absl::string_view query,
                  absl::string_view body, pb::Message* request) {
  return BindRequest(RouteOf(method), params, query, body, request);
}

TEST(BindRequestTest, PathParametersSetTheirFields) {
  v1::GetItemGuideRequest request;
  ASSERT_TRUE(Bind("GetItemGuide", {{"province_code", "310000"}, {"item_code", "GG00020600"}}, "",
                   "", &request)
                  .ok());
  EXPECT_EQ(request.province_code(), "310000");
  EXPECT_EQ(request.item_code(), "GG00020600");
}

TEST(BindRequestTest, QueryStringWithChineseAndRepeatedValues) {
  v1::SearchGuidesRequest request;
  absl::Status s = Bind("SearchGuides", {},
                        "query=%E7%A4%BE%E4%BF%9D&provinces=110000&provinces=310000&pageSize=20&"
                        "page_token=abc%2Bdef",
                        "", &request);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(request.query(), "社保");
  EXPECT_THAT(request.provinces(), ElementsAre("110000", "310000"));
  EXPECT_EQ(request.page_size(), 20);
  EXPECT_EQ(request.page_token(), "abc+def");
}

TEST(BindRequestTest, PlusIsASpaceAndProtoNamesWork) {
  v1::SearchGuidesRequest request;
  ASSERT_TRUE(Bind("SearchGuides", {}, "query=social+security&page_size=-0&&", "", &request).ok());
  EXPECT_EQ(request.query(), "social security");
  EXPECT_EQ(request.page_size(), 0);
}

TEST(BindRequestTest, UnknownQueryParameterIsRefused) {
  v1::SearchGuidesRequest request;
  absl::Status s = Bind("SearchGuides", {}, "foo=1", "", &request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "query parameter foo is not a field of tongban.v1.SearchGuidesRequest");
}

TEST(BindRequestTest, BadIntegersAreRefused) {
  v1::SearchGuidesRequest request;
  absl::Status s = Bind("SearchGuides", {}, "pageSize=abc", "", &request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "query parameter pageSize: \"abc\" is not an integer");
  for (const char* bad :
       {"pageSize=", "pageSize=1.5", "pageSize=+1", "pageSize=%201", "pageSize=0x10"}) {
    s = Bind("SearchGuides", {}, bad, "", &request);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(Message(s), HasSubstr("is not an integer")) << bad;
  }
  s = Bind("SearchGuides", {}, "pageSize=2147483648", "", &request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "query parameter pageSize: \"2147483648\" is out of range for int32");
  s = Bind("SearchGuides", {}, "pageSize=-99999999999999999999999", "", &request);
  EXPECT_THAT(Message(s), HasSubstr("is out of range for int32"));
  ASSERT_TRUE(Bind("SearchGuides", {}, "pageSize=-2147483648", "", &request).ok());
  EXPECT_EQ(request.page_size(), -2147483648LL);
}

TEST(BindRequestTest, SingularParameterTwiceIsRefused) {
  v1::SearchGuidesRequest request;
  absl::Status s = Bind("SearchGuides", {}, "pageSize=1&page_size=2", "", &request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), HasSubstr("page_size is given more than once"));
}

TEST(BindRequestTest, PathBoundFieldInTheQueryIsRefused) {
  v1::GetItemGuideRequest request;
  absl::Status s = Bind("GetItemGuide", {{"province_code", "310000"}, {"item_code", "GG00020600"}},
                        "itemCode=XK00000001", "", &request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), StartsWith("query parameter itemCode is bound by the path"));
}

TEST(BindRequestTest, InvalidUtf8AndMalformedEscapesAreRefused) {
  v1::SearchGuidesRequest request;
  absl::Status s = Bind("SearchGuides", {}, "query=%E7%A4", "", &request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "query parameter query is not valid UTF-8");
  s = Bind("SearchGuides", {}, "query=%C0%AF", "", &request);  // overlong '/'
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = Bind("SearchGuides", {}, "query=%E7%A", "", &request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), HasSubstr("malformed percent-escape"));
  // A hostile parameter name is quoted and escaped in the message.
  s = Bind("SearchGuides", {}, "%0Aevil=1", "", &request);
  EXPECT_EQ(s.message(),
            "query parameter \"\\x0aevil\" is not a field of tongban.v1.SearchGuidesRequest");

  v1::GetMyApplicationRequest get;
  s = Bind("GetMyApplication", {{"application_id", "TB-\xff"}}, "", "", &get);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "path parameter application_id is not valid UTF-8");
}

TEST(BindRequestTest, GetRoutesTakeNoBody) {
  v1::SearchGuidesRequest request;
  absl::Status s = Bind("SearchGuides", {}, "", "{}", &request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), HasSubstr("GET /v1/guides takes no request body"));
}

TEST(BindRequestTest, JsonBody) {
  v1::SubmitMyApplicationRequest request;
  absl::Status s = Bind("SubmitMyApplication", {}, "",
                        R"({"idempotencyKey": "key-0001", "accepting_province": "430000",
                            "applicant": {"name": "张三"},
                            "materials": [{"materialId": "M01", "sizeBytes": "1024"}]})",
                        &request);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(request.idempotency_key(), "key-0001");
  EXPECT_EQ(request.accepting_province(), "430000");
  EXPECT_EQ(request.applicant().name(), "张三");
  ASSERT_EQ(request.materials_size(), 1);
  EXPECT_EQ(request.materials(0).size_bytes(), 1024);
}

TEST(BindRequestTest, EmptyBodyIsAnEmptyObject) {
  v1::SubmitMyApplicationRequest request;
  request.set_note("left over");
  ASSERT_TRUE(Bind("SubmitMyApplication", {}, "", "", &request).ok());
  EXPECT_EQ(request.ByteSizeLong(), 0u);
  ASSERT_TRUE(Bind("SubmitMyApplication", {}, "", " \r\n", &request).ok());
  v1::WithdrawMyApplicationRequest withdraw;
  ASSERT_TRUE(Bind("WithdrawMyApplication", {{"application_id", "TB-1"}}, "", "", &withdraw).ok());
  EXPECT_EQ(withdraw.application_id(), "TB-1");
}

TEST(BindRequestTest, BodyMustBeAKnownJsonObject) {
  v1::SubmitMyApplicationRequest request;
  absl::Status s =
      Bind("SubmitMyApplication", {}, "", R"({"note": "x", "colour": "red"})", &request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), StartsWith("request body: "));
  EXPECT_EQ(s.message(),
            "request body: \"colour\" is not a field of tongban.v1.SubmitMyApplicationRequest "
            "(names are lowerCamelCase or as in the proto; see /openapi.json)");

  for (const char* body : {"[1]", "\"x\"", "null", "42"}) {
    s = Bind("SubmitMyApplication", {}, "", body, &request);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_EQ(s.message(), "request body: expected a JSON object") << body;
  }
  for (const char* body : {"{", R"({"note": 1})", R"({"materials": "x"})", R"({"applicant": []})",
                           "{\"note\": \"\xff\"}"}) {
    s = Bind("SubmitMyApplication", {}, "", body, &request);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_THAT(Message(s), StartsWith("request body: ")) << body;
    EXPECT_THAT(Message(s), Not(HasSubstr("\n"))) << body;
  }
}

TEST(BindRequestTest, PathAndBodyMustAgree) {
  v1::WithdrawMyApplicationRequest request;
  absl::Status s = Bind("WithdrawMyApplication", {{"application_id", "TB-1"}}, "",
                        R"({"applicationId": "TB-2", "reason": "moved"})", &request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "application_id in the path and applicationId in the body differ");

  s = Bind("WithdrawMyApplication", {{"application_id", "TB-1"}}, "",
           R"({"applicationId": "TB-1", "reason": "moved"})", &request);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(request.application_id(), "TB-1");
  EXPECT_EQ(request.reason(), "moved");

  s = Bind("WithdrawMyApplication", {{"application_id", "TB-1"}}, "", R"({"reason": "moved"})",
           &request);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(request.application_id(), "TB-1");
}

TEST(BindRequestTest, BodyRoutesTakeNoQueryParameters) {
  v1::SubmitMyApplicationRequest request;
  absl::Status s = Bind("SubmitMyApplication", {}, "note=hi", "{}", &request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s),
              StartsWith("query parameter note is not accepted: POST /v1/applications"));
  s = Bind("WithdrawMyApplication", {{"application_id", "TB-1"}}, "foo", "{}", &request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);  // wrong message type for the route
  v1::WithdrawMyApplicationRequest withdraw;
  s = Bind("WithdrawMyApplication", {{"application_id", "TB-1"}}, "foo", "{}", &withdraw);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(s), StartsWith("query parameter foo is not accepted"));
}

TEST(ResponseJsonTest, PrintsDefaultsInLowerCamelCase) {
  v1::SearchGuidesResponse empty;
  absl::StatusOr<std::string> json = ResponseJson(empty);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json, R"({"guides":[],"nextPageToken":"","missingProvinces":[],"relevance":[],"staleProvinces":[]})");

  v1::CheckMaterialsResponse check;
  check.set_guide_version(42);
  json = ResponseJson(check);
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(*json, R"({"outcome":"PRECHECK_OUTCOME_UNSPECIFIED","missingKey":[],)"
                   R"("missingDeficiencyAllowed":[],"supplementDays":0,"guideVersion":"42"})");
}

// --- Route definitions ForService refuses, on a small pool of test protos.

class TestService {
 public:
  // `methods`: text of MethodDescriptorProtos (service test.S); the request
  // test.Req has id (string), count (int32), tags (repeated string) and
  // sub (test.Sub).
  explicit TestService(const std::vector<std::string>& methods) {
    pb::FileDescriptorProto file;
    EXPECT_TRUE(pb::TextFormat::ParseFromString(
        R"pb(
          name: "test/routes.proto"
          package: "test"
          syntax: "proto3"
          message_type {
            name: "Sub"
            field { name: "x" number: 1 type: TYPE_STRING label: LABEL_OPTIONAL }
          }
          message_type {
            name: "Req"
            field { name: "id" number: 1 type: TYPE_STRING label: LABEL_OPTIONAL }
            field { name: "count" number: 2 type: TYPE_INT32 label: LABEL_OPTIONAL }
            field { name: "tags" number: 3 type: TYPE_STRING label: LABEL_REPEATED }
            field {
              name: "sub"
              number: 4
              type: TYPE_MESSAGE
              label: LABEL_OPTIONAL
              type_name: ".test.Sub"
            }
          }
          message_type {
            name: "Flat"
            field { name: "id" number: 1 type: TYPE_STRING label: LABEL_OPTIONAL }
            field { name: "flag" number: 2 type: TYPE_BOOL label: LABEL_OPTIONAL }
            field { name: "big" number: 3 type: TYPE_INT64 label: LABEL_OPTIONAL }
            field { name: "small" number: 4 type: TYPE_UINT32 label: LABEL_OPTIONAL }
            field { name: "ratio" number: 5 type: TYPE_DOUBLE label: LABEL_OPTIONAL }
            field { name: "weight" number: 6 type: TYPE_FLOAT label: LABEL_OPTIONAL }
            field {
              name: "colour"
              number: 7
              type: TYPE_ENUM
              label: LABEL_OPTIONAL
              type_name: ".test.Colour"
            }
            field {
              name: "colours"
              number: 8
              type: TYPE_ENUM
              label: LABEL_REPEATED
              type_name: ".test.Colour"
            }
            field { name: "raw" number: 9 type: TYPE_BYTES label: LABEL_OPTIONAL }
            field { name: "counts" number: 10 type: TYPE_UINT64 label: LABEL_REPEATED }
          }
          enum_type {
            name: "Colour"
            value { name: "COLOUR_UNSPECIFIED" number: 0 }
            value { name: "COLOUR_RED" number: 1 }
          }
          service { name: "S" }
        )pb",
        &file));
    for (const std::string& method : methods) {
      EXPECT_TRUE(pb::TextFormat::ParseFromString(method, file.mutable_service(0)->add_method()))
          << method;
    }
    const pb::FileDescriptor* built = pool_.BuildFile(file);
    EXPECT_NE(built, nullptr);
    service_ = built == nullptr ? nullptr : built->service(0);
  }

  absl::StatusOr<RestRouteTable> Routes() const { return RestRouteTable::ForService(*service_); }
  const pb::Descriptor* Message(const std::string& name) const {
    return pool_.FindMessageTypeByName(name);
  }

 private:
  pb::DescriptorPool pool_;
  const pb::ServiceDescriptor* service_ = nullptr;
};

// `rule`: a google.api.HttpRule in text format; `extra`: more method
// options, e.g. "[tongban.v1.success_status]: 201".
std::string Method(absl::string_view name, absl::string_view rule,
                   absl::string_view input = ".test.Req", absl::string_view extra = "") {
  return absl::StrCat("name: \"", name, "\" input_type: \"", input,
                      "\" output_type: \".test.Sub\" options { [google.api.http] { ", rule, " } ",
                      extra, " }");
}

TEST(ForServiceTest, AcceptsAWellFormedService) {
  TestService service(
      {Method("A", R"(get: "/v1/a/{id}")", ".test.Flat"),
       Method("B", R"(post: "/v1/a/{id}" body: "*")"),
       Method("C", R"(post: "/v1/a/{id}:go" body: "*")"),
       Method("D", R"(get: "/v1/b/{id}/c")", ".test.Flat"),
       Method("E", R"(custom { kind: "POST" path: "/v1/e" } body: "*")", ".test.Req",
              "[tongban.v1.anonymous]: true [tongban.v1.success_status]: 202")});
  absl::StatusOr<RestRouteTable> table = service.Routes();
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->routes().size(), 5u);
  const RestRoute& custom = table->routes()[4];
  EXPECT_EQ(custom.http_method, "POST");
  EXPECT_EQ(custom.path, "/v1/e");
  EXPECT_TRUE(custom.has_body);
  EXPECT_TRUE(custom.anonymous);
  EXPECT_EQ(custom.success_status, 202);
  EXPECT_FALSE(table->routes()[0].anonymous);
  EXPECT_EQ(table->routes()[0].success_status, 200);
}

TEST(ForServiceTest, RefusesBadRoutes) {
  struct Case {
    std::string method;
    const char* error;
  };
  const Case cases[] = {
      {R"(name: "A" input_type: ".test.Req" output_type: ".test.Sub")",
       "test.S.A: has no (google.api.http) option"},
      {Method("A", R"(get: "/v1/a" body: "*")"), "a GET route cannot have a body"},
      {Method("A", R"(put: "/v1/a" body: "*")"),
       "put, delete and patch bindings are not supported"},
      {Method("A", R"(post: "/v1/a" body: "id")"), "body \"id\" is not supported"},
      {Method("A", R"(get: "")"), "option has no path"},
      {Method("A", R"()"), "option names no pattern"},
      {Method("A", R"(delete: "/v1/a")"), "put, delete and patch bindings are not supported"},
      {Method("A", R"(custom { kind: "HEAD" path: "/v1/a" })"), "HTTP method \"HEAD\" is not"},
      {Method("A", R"(get: "/v1/a/{id}" additional_bindings { get: "/v1/b/{id}" })", ".test.Flat"),
       "additional_bindings are not supported"},
      {Method("A", R"(get: "/v1/a/{id}" response_body: "id")", ".test.Flat"),
       "response_body is not supported"},
      {Method("A", R"(post: "/v1/a/{count}" body: "*")"),
       "{count}, which is not a singular string field of test.Req"},
      {Method("A", R"(post: "/v1/a/{tags}" body: "*")"),
       "{tags}, which is not a singular string field"},
      {Method("A", R"(post: "/v1/a/{nope}" body: "*")"),
       "{nope}, which is not a singular string field"},
      {Method("A", R"(post: "/v1/a/{sub.x}" body: "*")"), "not a field name"},
      {Method("A", R"(post: "/v1/{id}/{id}" body: "*")"), "binds {id} twice"},
      {Method("A", R"(post: "v1/a" body: "*")"), "must start with '/'"},
      {Method("A", R"(post: "/v1/a/" body: "*")"), "empty segment"},
      {Method("A", R"(post: "/v1//a" body: "*")"), "empty segment"},
      {Method("A", R"(post: "/v1/x{id}" body: "*")"), "not a whole segment"},
      {Method("A", R"(post: "/v1/{id" body: "*")"), "not a whole segment"},
      {Method("A", R"(post: "/v1/a:" body: "*")"), "empty :verb"},
      {Method("A", R"(post: "/v1/a:b/c" body: "*")"), "outside [A-Za-z0-9._~-]"},
      {Method("A", R"(post: "/v1/a?x=1" body: "*")"), "outside [A-Za-z0-9._~-]"},
      {Method("A", R"(post: "/v1/a" body: "*")", ".test.Req", "[tongban.v1.success_status]: 404"),
       "success_status 404 is not a 2xx status"},
      {Method("A", R"(get: "/v1/a")"),
       "field sub of test.Req is a message or map, which a query string cannot carry"},
  };
  for (const Case& c : cases) {
    TestService service({c.method});
    absl::StatusOr<RestRouteTable> table = service.Routes();
    EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument) << c.method;
    EXPECT_THAT(Message(table.status()), HasSubstr(c.error)) << c.method;
    EXPECT_THAT(Message(table.status()), StartsWith("test.S.A")) << c.method;
  }
}

TEST(ForServiceTest, RefusesCollidingRoutes) {
  const std::pair<const char*, const char*> collisions[] = {
      {R"(post: "/v1/a/{id}" body: "*")", R"(post: "/v1/a/{id}" body: "*")"},
      {R"(post: "/v1/a/{id}" body: "*")", R"(post: "/v1/a/b" body: "*")"},
      {R"(post: "/v1/a:go" body: "*")", R"(post: "/v1/{id}:go" body: "*")"},
  };
  for (const auto& [first, second] : collisions) {
    TestService service({Method("A", first), Method("B", second)});
    absl::StatusOr<RestRouteTable> table = service.Routes();
    EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument) << second;
    EXPECT_THAT(Message(table.status()), HasSubstr("test.S.B: POST ")) << second;
    EXPECT_THAT(Message(table.status()), HasSubstr("collides with POST ")) << second;
    EXPECT_THAT(Message(table.status()), HasSubstr("of test.S.A")) << second;
  }
  // Different methods or verbs do not collide.
  TestService fine({Method("A", R"(post: "/v1/a/{id}" body: "*")"),
                    Method("B", R"(post: "/v1/a/{id}:go" body: "*")"),
                    Method("C", R"(post: "/v1/a/{id}/b" body: "*")")});
  EXPECT_TRUE(fine.Routes().ok()) << fine.Routes().status();
}

// Query binding of every scalar kind, through reflection on a dynamic message.
class FlatQueryTest : public ::testing::Test {
 protected:
  FlatQueryTest()
      : service_({Method("D", R"(get: "/v1/b/{id}/c")", ".test.Flat")}),
        table_(*service_.Routes()),
        message_(factory_.GetPrototype(service_.Message("test.Flat"))->New()) {}

  absl::Status Bind(absl::string_view query) {
    return BindRequest(table_.routes()[0], {{"id", "i"}}, query, "", message_.get());
  }
  std::string Text() const { return message_->ShortDebugString(); }

  TestService service_;
  RestRouteTable table_;
  pb::DynamicMessageFactory factory_;
  std::unique_ptr<pb::Message> message_;
};

TEST_F(FlatQueryTest, BindsEveryScalarKind) {
  absl::Status s = Bind(
      "flag=true&big=-9007199254740993&small=4294967295&ratio=2.5&weight=-0.25&colour=COLOUR_RED&"
      "colours=COLOUR_RED&colours=COLOUR_UNSPECIFIED&raw=aGk%3D&counts=18446744073709551615&"
      "counts=0");
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(
      Text(),
      "id: \"i\" flag: true big: -9007199254740993 small: 4294967295 ratio: 2.5 weight: -0.25 "
      "colour: COLOUR_RED colours: COLOUR_RED colours: COLOUR_UNSPECIFIED raw: \"hi\" "
      "counts: 18446744073709551615 counts: 0");
  ASSERT_TRUE(Bind("ratio=NaN&weight=-Infinity&raw=_-8").ok());
}

TEST_F(FlatQueryTest, RefusesBadScalars) {
  const std::pair<const char*, const char*> cases[] = {
      {"flag=yes", "query parameter flag: \"yes\" is not a boolean (true or false)"},
      {"flag=TRUE", "is not a boolean"},
      {"small=-1", "query parameter small: \"-1\" is not a non-negative integer"},
      {"small=4294967296", "query parameter small: \"4294967296\" is out of range for uint32"},
      {"big=9223372036854775808", "is out of range for int64"},
      {"counts=18446744073709551616", "is out of range for uint64"},
      {"ratio=abc", "query parameter ratio: \"abc\" is not a number"},
      {"ratio=inf", "is not a number"},
      {"ratio=%201", "is not a number"},
      {"ratio=1e999", "is out of range for double"},
      {"weight=1e39", "is out of range for float"},
      {"colour=RED", "query parameter colour: \"RED\" is not a value of test.Colour"},
      {"colour=1", "is not a value of test.Colour"},
      {"raw=%%%", "malformed percent-escape"},
      {"raw=!!", "query parameter raw: \"!!\" is not base64"},
      {"id=x", "query parameter id is bound by the path"},
  };
  for (const auto& [query, error] : cases) {
    absl::Status s = Bind(query);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << query;
    EXPECT_THAT(Message(s), HasSubstr(error)) << query;
  }
}

}  // namespace
}  // namespace tongban::edge
