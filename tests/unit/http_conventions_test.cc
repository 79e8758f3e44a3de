#include "http_conventions.h"

#include <zlib.h>

#include <atomic>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace tongban::edge {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

// ---- gRPC code → HTTP status --------------------------------------------

TEST(HttpStatusForGrpc, EveryCodeMapsAsGoogleRpcDocuments) {
  struct Case {
    grpc::StatusCode code;
    int http;
  };
  const Case cases[] = {
      {grpc::StatusCode::OK, 200},
      {grpc::StatusCode::CANCELLED, 499},
      {grpc::StatusCode::UNKNOWN, 500},
      {grpc::StatusCode::INVALID_ARGUMENT, 400},
      {grpc::StatusCode::DEADLINE_EXCEEDED, 504},
      {grpc::StatusCode::NOT_FOUND, 404},
      {grpc::StatusCode::ALREADY_EXISTS, 409},
      {grpc::StatusCode::PERMISSION_DENIED, 403},
      {grpc::StatusCode::RESOURCE_EXHAUSTED, 429},
      {grpc::StatusCode::FAILED_PRECONDITION, 400},
      {grpc::StatusCode::ABORTED, 409},
      {grpc::StatusCode::OUT_OF_RANGE, 400},
      {grpc::StatusCode::UNIMPLEMENTED, 501},
      {grpc::StatusCode::INTERNAL, 500},
      {grpc::StatusCode::UNAVAILABLE, 503},
      {grpc::StatusCode::DATA_LOSS, 500},
      {grpc::StatusCode::UNAUTHENTICATED, 401},
  };
  ASSERT_EQ(std::size(cases), 17u);  // all of 0..16
  for (const Case& c : cases) {
    EXPECT_EQ(HttpStatusForGrpc(c.code), c.http) << "code " << static_cast<int>(c.code);
  }
}

TEST(HttpStatusForGrpc, CodeOutsideTheEnumIs500) {
  EXPECT_EQ(HttpStatusForGrpc(static_cast<grpc::StatusCode>(42)), 500);
  EXPECT_EQ(HttpStatusForGrpc(static_cast<grpc::StatusCode>(-1)), 500);
}

TEST(HttpReasonPhrase, PhrasesOfTheStatusesTheEdgeUses) {
  const std::pair<int, std::string> cases[] = {
      {200, "OK"},
      {201, "Created"},
      {204, "No Content"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {409, "Conflict"},
      {413, "Content Too Large"},
      {415, "Unsupported Media Type"},
      {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"},
      {499, "Client Closed Request"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},
  };
  for (const auto& [status, phrase] : cases) {
    EXPECT_EQ(HttpReasonPhrase(status), phrase) << status;
  }
  EXPECT_STREQ(HttpReasonPhrase(418), "Unknown");
  EXPECT_STREQ(HttpReasonPhrase(0), "Unknown");
}

TEST(HttpReasonPhrase, EveryMappedStatusHasAPhrase) {
  for (int code = 0; code <= 16; ++code) {
    int http = HttpStatusForGrpc(static_cast<grpc::StatusCode>(code));
    EXPECT_STRNE(HttpReasonPhrase(http), "Unknown") << http;
  }
}

// ---- error bodies -------------------------------------------------------

TEST(MakeErrorBody, CodeIsTheGrpcStatusName) {
  const std::pair<grpc::StatusCode, std::string> cases[] = {
      {grpc::StatusCode::OK, "OK"},
      {grpc::StatusCode::CANCELLED, "CANCELLED"},
      {grpc::StatusCode::UNKNOWN, "UNKNOWN"},
      {grpc::StatusCode::INVALID_ARGUMENT, "INVALID_ARGUMENT"},
      {grpc::StatusCode::DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"},
      {grpc::StatusCode::NOT_FOUND, "NOT_FOUND"},
      {grpc::StatusCode::ALREADY_EXISTS, "ALREADY_EXISTS"},
      {grpc::StatusCode::PERMISSION_DENIED, "PERMISSION_DENIED"},
      {grpc::StatusCode::RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED"},
      {grpc::StatusCode::FAILED_PRECONDITION, "FAILED_PRECONDITION"},
      {grpc::StatusCode::ABORTED, "ABORTED"},
      {grpc::StatusCode::OUT_OF_RANGE, "OUT_OF_RANGE"},
      {grpc::StatusCode::UNIMPLEMENTED, "UNIMPLEMENTED"},
      {grpc::StatusCode::INTERNAL, "INTERNAL"},
      {grpc::StatusCode::UNAVAILABLE, "UNAVAILABLE"},
      {grpc::StatusCode::DATA_LOSS, "DATA_LOSS"},
      {grpc::StatusCode::UNAUTHENTICATED, "UNAUTHENTICATED"},
      {static_cast<grpc::StatusCode>(99), "UNKNOWN"},
  };
  for (const auto& [code, name] : cases) {
    v1::ErrorBody body = MakeErrorBody(grpc::Status(code, "msg"));
    EXPECT_EQ(body.code(), name);
    EXPECT_EQ(body.message(), "msg");
  }
}

// The field MakeErrorBody reports for an INVALID_ARGUMENT `message`, or
// nullopt when it reports none.
std::optional<std::string> FieldOf(const std::string& message,
                                   grpc::StatusCode code = grpc::StatusCode::INVALID_ARGUMENT) {
  v1::ErrorBody body = MakeErrorBody(grpc::Status(code, message));
  EXPECT_EQ(body.message(), message);
  if (body.details_size() == 0) return std::nullopt;
  EXPECT_EQ(body.details_size(), 1);
  EXPECT_EQ(body.details(0).description(), message);
  return body.details(0).field();
}

TEST(MakeErrorBody, FieldPathsBecomeLowerCamelJsonPaths) {
  EXPECT_EQ(FieldOf("materials[0].content_sha256 \"xyz\" is not 64 lowercase hex digits"),
            "materials[0].contentSha256");
  EXPECT_EQ(FieldOf("applicant.phone must be 11 digits starting with 1"), "applicant.phone");
  EXPECT_EQ(FieldOf("item_code is required: an item code such as \"GG00000014\""), "itemCode");
  EXPECT_EQ(FieldOf("page_token is not valid for this listing"), "pageToken");
  EXPECT_EQ(FieldOf("materials[12].material_id \"X\" is not a material id"),
            "materials[12].materialId");
  EXPECT_EQ(FieldOf("applicant.id_number: must be the signed-in citizen's"), "applicant.idNumber");
  EXPECT_EQ(FieldOf("idempotency_key"), "idempotencyKey");  // the whole message
}

TEST(MakeErrorBody, QueryAndPathParametersNameTheirField) {
  EXPECT_EQ(FieldOf("query parameter pageSize: \"x\" is not an integer"), "pageSize");
  EXPECT_EQ(FieldOf("query parameter page_size: \"x\" is not an integer"), "pageSize");
  EXPECT_EQ(FieldOf("path parameter application_id is not an application id"), "applicationId");
  EXPECT_EQ(FieldOf("query parameter , is empty"), std::nullopt);
}

TEST(MakeErrorBody, PlainRequestFieldNamesCountAsFields) {
  // Top-level fields of CitizenService requests that are single words.
  EXPECT_EQ(FieldOf("applicant is required"), "applicant");
  EXPECT_EQ(FieldOf("note is not valid UTF-8"), "note");
  EXPECT_EQ(FieldOf("materials must list at least one material"), "materials");
  EXPECT_EQ(FieldOf("reason: at most 200 characters"), "reason");
}

TEST(MakeErrorBody, EnglishFirstWordsAreNotFields) {
  EXPECT_EQ(
      FieldOf("refused: key materials missing: M01, M03", grpc::StatusCode::FAILED_PRECONDITION),
      std::nullopt);
  EXPECT_EQ(FieldOf("request body is not valid JSON: unexpected end at offset 17"), std::nullopt);
  EXPECT_EQ(FieldOf("token expired at 2024-05-01T08:00:00Z"), std::nullopt);
  EXPECT_EQ(FieldOf("cannot TERMINATE before ACCEPTED", grpc::StatusCode::FAILED_PRECONDITION),
            std::nullopt);
  EXPECT_EQ(FieldOf("application is already withdrawn", grpc::StatusCode::FAILED_PRECONDITION),
            std::nullopt);
  EXPECT_EQ(FieldOf("item GG00000014 居住证签注 is not offered here",
                    grpc::StatusCode::FAILED_PRECONDITION),
            std::nullopt);
  EXPECT_EQ(FieldOf(""), std::nullopt);
}

TEST(MakeErrorBody, MalformedPathsAreNotFields) {
  EXPECT_EQ(FieldOf("materials[].content_sha256 is bad"), std::nullopt);
  EXPECT_EQ(FieldOf("materials[x].content_sha256 is bad"), std::nullopt);
  EXPECT_EQ(FieldOf("materials[0 is bad"), std::nullopt);
  EXPECT_EQ(FieldOf("materials[0]x is bad"), std::nullopt);
  EXPECT_EQ(FieldOf("applicant. is bad"), std::nullopt);
  EXPECT_EQ(FieldOf(".applicant is bad"), std::nullopt);
  EXPECT_EQ(FieldOf("Item_code is required"), std::nullopt);
  EXPECT_EQ(FieldOf("item_code, province_code are required"), std::nullopt);
  EXPECT_EQ(FieldOf("e.g. item_code is required"), std::nullopt);
  EXPECT_EQ(FieldOf(" item_code is required"), std::nullopt);
}

TEST(MakeErrorBody, OnlyRequestContentCodesGetDetails) {
  EXPECT_EQ(FieldOf("page_size 500 is over 200", grpc::StatusCode::OUT_OF_RANGE), "pageSize");
  EXPECT_EQ(FieldOf("item_code GG00000014 is not offered", grpc::StatusCode::FAILED_PRECONDITION),
            "itemCode");
  EXPECT_EQ(FieldOf("application_id \"x\" not found", grpc::StatusCode::NOT_FOUND), std::nullopt);
  EXPECT_EQ(FieldOf("item_code: no node answered", grpc::StatusCode::UNAVAILABLE), std::nullopt);
  EXPECT_EQ(FieldOf("application_id is not yours", grpc::StatusCode::PERMISSION_DENIED),
            std::nullopt);
}

TEST(MakeErrorBody, InvalidUtf8InTheMessageIsReplaced) {
  v1::ErrorBody body = MakeErrorBody(grpc::Status(
      grpc::StatusCode::INVALID_ARGUMENT, "applicant.name \"\xE5\xBC\xA0\xFF\xC0\xAF\" is bad"));
  EXPECT_EQ(body.message(), "applicant.name \"张\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\" is bad");
  ASSERT_EQ(body.details_size(), 1);
  EXPECT_EQ(body.details(0).field(), "applicant.name");
}

v1::ErrorBody ParseJson(const std::string& json) {
  v1::ErrorBody parsed;
  auto status = google::protobuf::util::JsonStringToMessage(json, &parsed);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return parsed;
}

TEST(ErrorBodyJson, WithoutDetailsHasAllThreeKeys) {
  grpc::Status status(grpc::StatusCode::NOT_FOUND, "application 440000-20240501-000001 not found");
  std::string json = ErrorBodyJson(status);
  EXPECT_EQ(json,
            "{\"code\":\"NOT_FOUND\",\"message\":\"application 440000-20240501-000001 not "
            "found\",\"details\":[]}");
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(ParseJson(json), MakeErrorBody(status)));
}

TEST(ErrorBodyJson, EmptyMessageStillPrinted) {
  EXPECT_EQ(ErrorBodyJson(grpc::Status(grpc::StatusCode::INTERNAL, "")),
            "{\"code\":\"INTERNAL\",\"message\":\"\",\"details\":[]}");
}

TEST(ErrorBodyJson, DetailsUseJsonNamesAndParseBack) {
  grpc::Status status(grpc::StatusCode::INVALID_ARGUMENT,
                      "materials[0].content_sha256 \"xyz\" is not 64 hex digits");
  std::string json = ErrorBodyJson(status);
  EXPECT_EQ(json,
            "{\"code\":\"INVALID_ARGUMENT\",\"message\":\"materials[0].content_sha256 \\\"xyz\\\" "
            "is not 64 hex digits\",\"details\":[{\"field\":\"materials[0].contentSha256\","
            "\"description\":\"materials[0].content_sha256 \\\"xyz\\\" is not 64 hex digits\"}]}");
  v1::ErrorBody parsed = ParseJson(json);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, MakeErrorBody(status)));
  ASSERT_EQ(parsed.details_size(), 1);
  EXPECT_EQ(parsed.details(0).field(), "materials[0].contentSha256");
}

TEST(ErrorBodyJson, ChineseAndInvalidBytesGiveValidJson) {
  grpc::Status status(grpc::StatusCode::FAILED_PRECONDITION,
                      "item GG00000014 居住证签注 is not offered in 湖南省 \xFF");
  v1::ErrorBody parsed = ParseJson(ErrorBodyJson(status));
  EXPECT_EQ(parsed.code(), "FAILED_PRECONDITION");
  EXPECT_EQ(parsed.message(), "item GG00000014 居住证签注 is not offered in 湖南省 \xEF\xBF\xBD");
  EXPECT_THAT(parsed.details(), IsEmpty());
}

// ---- CORS ---------------------------------------------------------------

const CorsPolicy kAppOrigins{{"https://app.gov.cn", "https://m.app.gov.cn"}};
const CorsPolicy kAnyOrigin{{"*"}};

TEST(CorsResponseHeaders, AllowedOriginIsEchoedWithVary) {
  EXPECT_THAT(CorsResponseHeaders(kAppOrigins, "https://m.app.gov.cn"),
              ElementsAre(Pair("Access-Control-Allow-Origin", "https://m.app.gov.cn"),
                          Pair("Access-Control-Expose-Headers",
                               "Retry-After, WWW-Authenticate, X-Request-Id"),
                          Pair("Vary", "Origin")));
}

TEST(CorsResponseHeaders, AnyOriginAnswersStarWithoutVary) {
  EXPECT_THAT(CorsResponseHeaders(kAnyOrigin, "https://anywhere.example"),
              ElementsAre(Pair("Access-Control-Allow-Origin", "*"),
                          Pair("Access-Control-Expose-Headers",
                               "Retry-After, WWW-Authenticate, X-Request-Id")));
}

TEST(CorsResponseHeaders, RefusedOrAbsentOriginGetsNothing) {
  EXPECT_THAT(CorsResponseHeaders(kAppOrigins, ""), IsEmpty());
  EXPECT_THAT(CorsResponseHeaders(kAnyOrigin, ""), IsEmpty());
  EXPECT_THAT(CorsResponseHeaders(kAppOrigins, "https://evil.example"), IsEmpty());
  EXPECT_THAT(CorsResponseHeaders(kAppOrigins, "https://app.gov.cn.evil.example"), IsEmpty());
  EXPECT_THAT(CorsResponseHeaders(kAppOrigins, "http://app.gov.cn"), IsEmpty());
  EXPECT_THAT(CorsResponseHeaders(kAppOrigins, "https://app.gov.cn:8443"), IsEmpty());
  EXPECT_THAT(CorsResponseHeaders(kAppOrigins, "https://app.gov.cn/"), IsEmpty());
  EXPECT_THAT(CorsResponseHeaders(kAppOrigins, "null"), IsEmpty());
  EXPECT_THAT(CorsResponseHeaders(CorsPolicy{}, "https://app.gov.cn"), IsEmpty());
}

TEST(CorsPreflightHeaders, AllowedPreflightGetsTheFullAnswer) {
  EXPECT_THAT(
      CorsPreflightHeaders(kAppOrigins, "https://app.gov.cn", "POST",
                           "authorization, content-type"),
      ElementsAre(Pair("Access-Control-Allow-Origin", "https://app.gov.cn"),
                  Pair("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
                  Pair("Access-Control-Allow-Headers",
                       "Authorization, Content-Type, Accept, Accept-Language, Content-Encoding, "
                       "traceparent, tracestate, X-Request-Id, Idempotency-Key"),
                  Pair("Access-Control-Max-Age", "600"), Pair("Vary", "Origin")));
}

TEST(CorsPreflightHeaders, Matrix) {
  struct Case {
    const CorsPolicy* policy;
    std::string origin, method, headers;
    bool allowed;
  };
  const Case cases[] = {
      {&kAppOrigins, "https://app.gov.cn", "GET", "", true},
      {&kAppOrigins, "https://app.gov.cn", "POST", "Authorization", true},
      {&kAppOrigins, "https://app.gov.cn", "POST",
       "Authorization,Content-Type,Accept,Accept-Language,Content-Encoding", true},
      {&kAppOrigins, "https://app.gov.cn", "POST", "AUTHORIZATION ,\tcontent-ENCODING", true},
      {&kAppOrigins, "https://app.gov.cn", "GET", " accept-language , ", true},
      {&kAnyOrigin, "https://anywhere.example", "GET", "authorization", true},
      // Refused: origin.
      {&kAppOrigins, "https://evil.example", "GET", "", false},
      {&kAppOrigins, "", "GET", "", false},
      {&kAnyOrigin, "", "GET", "", false},
      // Refused: method.
      {&kAppOrigins, "https://app.gov.cn", "PUT", "", false},
      {&kAppOrigins, "https://app.gov.cn", "DELETE", "", false},
      {&kAppOrigins, "https://app.gov.cn", "PATCH", "content-type", false},
      {&kAppOrigins, "https://app.gov.cn", "get", "", false},
      {&kAppOrigins, "https://app.gov.cn", "", "", false},
      // Refused: a header.
      {&kAppOrigins, "https://app.gov.cn", "POST", "x-custom", false},
      {&kAppOrigins, "https://app.gov.cn", "POST", "authorization, cookie", false},
      {&kAppOrigins, "https://app.gov.cn", "POST", "authorization-x", false},
      {&kAnyOrigin, "https://anywhere.example", "POST", "x-requested-with", false},
  };
  for (const Case& c : cases) {
    HttpHeaders headers = CorsPreflightHeaders(*c.policy, c.origin, c.method, c.headers);
    EXPECT_EQ(!headers.empty(), c.allowed)
        << c.origin << " " << c.method << " [" << c.headers << "]";
    if (!headers.empty()) {
      EXPECT_THAT(headers[0],
                  Pair("Access-Control-Allow-Origin", c.policy == &kAnyOrigin ? "*" : c.origin));
    }
  }
}

// The whole matrix through CorsPreflight: what is allowed, and for every
// refusal which part was refused and that the message names it.
TEST(CorsPreflight, MatrixNamesWhatWasRefused) {
  const CorsPolicy custom{{"https://app.gov.cn"}, {"Authorization", "X-Client-Version"}};
  using R = CorsDecision::Refused;
  struct Case {
    const CorsPolicy* policy;
    std::string origin, method, headers;
    R refused;
    std::string named;  // what the message must contain ("" when allowed)
  };
  const Case cases[] = {
      // The defaults: tracing and idempotency headers besides the classic ones.
      {&kAppOrigins, "https://app.gov.cn", "POST", "traceparent", R::kNone, ""},
      {&kAppOrigins, "https://app.gov.cn", "POST", "traceparent, tracestate", R::kNone, ""},
      {&kAppOrigins, "https://app.gov.cn", "POST", "x-request-id", R::kNone, ""},
      {&kAppOrigins, "https://app.gov.cn", "POST", "idempotency-key,content-type,authorization",
       R::kNone, ""},
      {&kAppOrigins, "https://m.app.gov.cn", "GET", "X-REQUEST-ID, Traceparent", R::kNone, ""},
      {&kAnyOrigin, "https://anywhere.example", "POST",
       "authorization,content-type,accept,accept-language,content-encoding,traceparent,"
       "tracestate,x-request-id,idempotency-key",
       R::kNone, ""},
      // A configured list replaces the defaults.
      {&custom, "https://app.gov.cn", "POST", "x-client-version, authorization", R::kNone, ""},
      {&custom, "https://app.gov.cn", "POST", "content-type", R::kHeader, "\"content-type\""},
      {&custom, "https://app.gov.cn", "POST", "traceparent", R::kHeader, "\"traceparent\""},
      // Headers refused, the first refused one named.
      {&kAppOrigins, "https://app.gov.cn", "POST", "authorization, x-custom, x-other", R::kHeader,
       "request header \"x-custom\" is not allowed"},
      {&kAppOrigins, "https://app.gov.cn", "POST", "cookie", R::kHeader, "\"cookie\""},
      {&kAppOrigins, "https://app.gov.cn", "POST", "x-request-id-2", R::kHeader,
       "\"x-request-id-2\""},
      {&kAnyOrigin, "https://x.example", "GET", "baggage", R::kHeader, "\"baggage\""},
      // Methods.
      {&kAppOrigins, "https://app.gov.cn", "PUT", "traceparent", R::kMethod, "method \"PUT\""},
      {&kAppOrigins, "https://app.gov.cn", "delete", "", R::kMethod, "method \"delete\""},
      {&kAppOrigins, "https://app.gov.cn", "", "", R::kMethod, "Access-Control-Request-Method"},
      // Origins (checked first: a refused origin learns nothing more).
      {&kAppOrigins, "https://evil.example", "PUT", "x-custom", R::kOrigin,
       "origin \"https://evil.example\" is not allowed"},
      {&kAppOrigins, "", "GET", "", R::kOrigin, "Origin header is missing"},
      {&custom, "https://m.app.gov.cn", "GET", "", R::kOrigin, "\"https://m.app.gov.cn\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.origin + " " + c.method + " [" + c.headers + "]");
    CorsDecision d = CorsPreflight(*c.policy, c.origin, c.method, c.headers);
    EXPECT_EQ(d.refused, c.refused) << d.message;
    EXPECT_EQ(d.allowed(), c.refused == R::kNone);
    if (d.allowed()) {
      EXPECT_THAT(d.message, IsEmpty());
      ASSERT_FALSE(d.headers.empty());
      EXPECT_THAT(d.headers[0],
                  Pair("Access-Control-Allow-Origin", c.policy == &kAnyOrigin ? "*" : c.origin));
      EXPECT_EQ(d.headers, CorsPreflightHeaders(*c.policy, c.origin, c.method, c.headers));
    } else {
      EXPECT_THAT(d.headers, IsEmpty());
      EXPECT_THAT(d.message, ::testing::StartsWith("CORS preflight refused: "));
      EXPECT_THAT(d.message, ::testing::HasSubstr(c.named));
      EXPECT_THAT(CorsPreflightHeaders(*c.policy, c.origin, c.method, c.headers), IsEmpty());
    }
  }
}

TEST(CorsPreflight, AllowHeadersListTheConfiguredHeaders) {
  const CorsPolicy custom{{"*"}, {"Authorization", "X-Client-Version"}};
  EXPECT_THAT(
      CorsPreflight(custom, "https://a.example", "GET", "").headers,
      ::testing::Contains(Pair("Access-Control-Allow-Headers", "Authorization, X-Client-Version")));
}

TEST(CorsPreflight, HostileValuesAreQuotedPrintableAndShort) {
  CorsDecision d = CorsPreflight(kAppOrigins, "https://app.gov.cn", "POST",
                                 "x-\x01"
                                 "evil\"\n" +
                                     std::string(500, 'a'));
  ASSERT_EQ(d.refused, CorsDecision::Refused::kHeader);
  EXPECT_LT(d.message.size(), 600u);
  for (char c : d.message) EXPECT_TRUE(c >= 0x20 && c < 0x7F) << static_cast<int>(c);
  EXPECT_THAT(d.message, ::testing::HasSubstr("\"x-?evil??aaa"));
  EXPECT_THAT(d.message, ::testing::HasSubstr("...\""));
}

TEST(ValidateCorsOrigins, SerializedOriginsOrStar) {
  for (const char* ok : {"*", "https://app.gov.cn", "http://localhost:3000", "https://[::1]:8443",
                         "https://a-b.example.cn:443"}) {
    EXPECT_TRUE(ValidateCorsOrigins("k", {ok}).ok()) << ok;
  }
  const std::pair<std::string, std::string> bad[] = {
      {"https://app.gov.cn/", "trailing /"},
      {"https://app.gov.cn/path", "path"},
      {"https://App.gov.cn", "lower case"},
      {"HTTPS://app.gov.cn", "https://"},
      {"app.gov.cn", "https://"},
      {"https://", "no host"},
      {"https://app.gov.cn:", "empty port"},
      {"https://app.gov.cn:99999", "port"},
      {"https://app.gov.cn:80/", "path"},
      {"null", "https://"},
      {"https://[::1", "unclosed"},
      {"https://app gov.cn", "host"},
  };
  for (const auto& [origin, why] : bad) {
    absl::Status s = ValidateCorsOrigins("public_edge.cors_allowed_origins", {"*", origin});
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << origin;
    EXPECT_THAT(std::string(s.message()),
                ::testing::HasSubstr("public_edge.cors_allowed_origins[1]"));
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr(why)) << origin;
  }
}

TEST(ValidateCorsHeaders, FieldNamesOnceEach) {
  EXPECT_TRUE(ValidateCorsHeaders("k", DefaultCorsAllowedHeaders()).ok());
  EXPECT_TRUE(ValidateCorsHeaders("k", {}).ok());
  EXPECT_THAT(std::string(ValidateCorsHeaders("k", {"Authorization", "*"}).message()),
              ::testing::HasSubstr("k[1] is \"*\""));
  EXPECT_THAT(std::string(ValidateCorsHeaders("k", {"X Y"}).message()),
              ::testing::HasSubstr("\"X Y\" is not an HTTP header name"));
  EXPECT_THAT(std::string(ValidateCorsHeaders("k", {""}).message()),
              ::testing::HasSubstr("not an HTTP header name"));
  EXPECT_THAT(std::string(ValidateCorsHeaders("k", {"traceparent", "TraceParent"}).message()),
              ::testing::HasSubstr("k[1] \"TraceParent\" is listed twice"));
}

TEST(Cors, NeverAllowsCredentials) {
  for (const HttpHeaders& headers :
       {CorsResponseHeaders(kAppOrigins, "https://app.gov.cn"),
        CorsResponseHeaders(kAnyOrigin, "https://x.example"),
        CorsPreflightHeaders(kAppOrigins, "https://app.gov.cn", "POST", "authorization"),
        CorsPreflightHeaders(kAnyOrigin, "https://x.example", "GET", "")}) {
    ASSERT_FALSE(headers.empty());
    for (const auto& [name, value] : headers) {
      EXPECT_FALSE(absl::EqualsIgnoreCase(name, "Access-Control-Allow-Credentials"));
    }
  }
}

// ---- Accept-Encoding ----------------------------------------------------

TEST(AcceptsGzip, Cases) {
  const std::pair<std::string, bool> cases[] = {
      {"gzip", true},
      {"gzip, deflate, br", true},
      {"br;q=1.0, gzip;q=0.8, *;q=0.1", true},
      {"GZIP", true},
      {"  deflate ,\tgzip  ", true},
      {"gzip ; q=0.5", true},
      {"gzip;Q=1", true},
      {"gzip;q=0.001", true},
      {"x-gzip", true},
      {"*", true},
      {"br, *;q=0.5", true},
      {"gzip;q=0", false},
      {"gzip;q=0.0", false},
      {"gzip; q=0.000", false},
      {"gzip;q=0, *", false},  // the explicit entry wins over *
      {"*;q=0", false},
      {"*;q=0, gzip", true},
      {"identity", false},
      {"", false},
      {"deflate, br", false},
      {"gzipx", false},
      {"xgzip", false},
      {"gzip;q=2", false},  // malformed q-values: the element is ignored
      {"gzip;q=abc", false},
      {"gzip;q=0.5000", false},
      {"gzip;q=", false},
      {"gzip;level=9", true},  // other parameters do not matter
      {",,gzip,,", true},
  };
  for (const auto& [header, want] : cases) {
    EXPECT_EQ(AcceptsGzip(header), want) << "[" << header << "]";
  }
}

// ---- gzip ---------------------------------------------------------------

// The whole gzip stream inflated by zlib itself (with no limit of ours).
std::string Inflate(const std::string& packed) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return "<inflateInit2 failed>";
  std::string out;
  char buf[65536];
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data()));
  zs.avail_in = static_cast<uInt>(packed.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - zs.avail_out);
  }
  inflateEnd(&zs);
  return rc == Z_STREAM_END ? out : "<not a complete gzip stream>";
}

TEST(Gzip, RoundTripOfChineseText) {
  std::string text;
  for (int i = 0; i < 200; ++i) {
    absl::StrAppend(&text, "居民身份证换领 (第", i, "次): 广东省 → 湖南省, 容缺受理。\n");
  }
  absl::StatusOr<std::string> packed = Gzip(text);
  ASSERT_TRUE(packed.ok()) << packed.status();
  ASSERT_GE(packed->size(), 10u);
  EXPECT_EQ(static_cast<unsigned char>((*packed)[0]), 0x1F);
  EXPECT_EQ(static_cast<unsigned char>((*packed)[1]), 0x8B);
  EXPECT_LT(packed->size(), text.size() / 4);
  EXPECT_EQ(Inflate(*packed), text);
}

TEST(Gzip, EmptyAndLargeRoundTrip) {
  absl::StatusOr<std::string> empty = Gzip("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(Inflate(*empty), "");

  // Several zlib chunks in and out, with data that does not compress much.
  std::string large(3 * 1024 * 1024 + 17, '\0');
  uint32_t x = 12345;
  for (char& c : large) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  absl::StatusOr<std::string> packed = Gzip(large);
  ASSERT_TRUE(packed.ok());
  EXPECT_TRUE(Inflate(*packed) == large);
}

// Deflate streams are reused (deflateReset): an answer never carries state
// of the one before, from this thread or from others at the same time.
TEST(Gzip, ReusedStreamsGiveTheSameBytesOnEveryThread) {
  const std::string a = "办事指南: 居民身份证换领, 承诺时限 20 个工作日。" + std::string(900, 'x');
  const std::string b(3000, '\x7f');
  absl::StatusOr<std::string> first = Gzip(a);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(Gzip(b).ok());
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string& in = (i + t) % 2 == 0 ? a : b;
        absl::StatusOr<std::string> packed = Gzip(in);
        if (!packed.ok() || Inflate(*packed) != in || (&in == &a && *packed != *first)) {
          ++mismatches;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Gzip, OutputIsReadableByZlibItself) {
  std::string text = "材料清单: 身份证, 户口簿";
  absl::StatusOr<std::string> packed = Gzip(text);
  ASSERT_TRUE(packed.ok());
  z_stream zs{};
  ASSERT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  std::string out(text.size() + 10, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(packed->data());
  zs.avail_in = static_cast<uInt>(packed->size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  EXPECT_EQ(out, text);
}

// ---- Retry-After --------------------------------------------------------

TEST(RetryAfterSeconds, WholeSecondsRoundedUpAtLeastOne) {
  EXPECT_EQ(RetryAfterSeconds(absl::ZeroDuration()), "1");
  EXPECT_EQ(RetryAfterSeconds(absl::Seconds(-5)), "1");
  EXPECT_EQ(RetryAfterSeconds(absl::Nanoseconds(1)), "1");
  EXPECT_EQ(RetryAfterSeconds(absl::Milliseconds(999)), "1");
  EXPECT_EQ(RetryAfterSeconds(absl::Seconds(1)), "1");
  EXPECT_EQ(RetryAfterSeconds(absl::Seconds(1) + absl::Nanoseconds(1)), "2");
  EXPECT_EQ(RetryAfterSeconds(absl::Milliseconds(1500)), "2");
  EXPECT_EQ(RetryAfterSeconds(absl::Seconds(2)), "2");
  EXPECT_EQ(RetryAfterSeconds(absl::Milliseconds(59500)), "60");
  EXPECT_EQ(RetryAfterSeconds(absl::Hours(1)), "3600");
}

}  // namespace
}  // namespace tongban::edge
