#include "openapi_document.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "rest_routes.h"
#include "tongban/v1/api_options.pb.h"
#include "tongban/v1/citizen.pb.h"

#ifndef TONGBAN_CITIZEN_DESCRIPTOR
#error "TONGBAN_CITIZEN_DESCRIPTOR must name the descriptor set (tests/unit/CMakeLists.txt)"
#endif

namespace tongban::edge {
namespace {

namespace pb = google::protobuf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// gmock string matchers want std::string, Debian abseil has its own string_view.
std::string Message(const absl::Status& status) { return std::string(status.message()); }

constexpr char kService[] = "tongban.v1.CitizenService";

const pb::FileDescriptorSet& Descriptors() {
  static const auto* set = [] {
    auto* s = new pb::FileDescriptorSet();
    std::ifstream in(TONGBAN_CITIZEN_DESCRIPTOR, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    EXPECT_TRUE(in.is_open() && s->ParseFromString(bytes.str())) << TONGBAN_CITIZEN_DESCRIPTOR;
    return s;
  }();
  return *set;
}

const std::string& Json() {
  static const auto* json = [] {
    absl::StatusOr<std::string> built = BuildOpenApiDocument(Descriptors(), kService);
    EXPECT_TRUE(built.ok()) << built.status();
    return new std::string(built.ok() ? *built : "{}");
  }();
  return *json;
}

const pb::Struct& Document() {
  static const auto* document = [] {
    auto* d = new pb::Struct();
    pb::util::Status s = pb::util::JsonStringToMessage(Json(), d);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return d;
  }();
  return *document;
}

// --- Struct navigation: an empty value when a key is missing, so a bad
// document fails the expectations instead of crashing.

const pb::Value& Get(const pb::Value& value, absl::string_view key) {
  static const pb::Value* missing = new pb::Value();
  if (value.kind_case() != pb::Value::kStructValue) return *missing;
  auto it = value.struct_value().fields().find(std::string(key));
  return it == value.struct_value().fields().end() ? *missing : it->second;
}
const pb::Value& Get(const pb::Value& value, std::initializer_list<absl::string_view> keys) {
  const pb::Value* at = &value;
  for (absl::string_view key : keys) at = &Get(*at, key);
  return *at;
}
const pb::Value& Root() {
  static const auto* root = [] {
    auto* v = new pb::Value();
    *v->mutable_struct_value() = Document();
    return v;
  }();
  return *root;
}
bool Has(const pb::Value& value, absl::string_view key) {
  return value.kind_case() == pb::Value::kStructValue &&
         value.struct_value().fields().count(std::string(key)) != 0;
}
std::vector<std::string> Keys(const pb::Value& value) {
  std::vector<std::string> keys;
  for (const auto& [key, unused] : value.struct_value().fields()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  return keys;
}

const RestRouteTable& Routes() {
  static const auto* table = [] {
    const pb::ServiceDescriptor* service =
        v1::SearchGuidesRequest::descriptor()->file()->FindServiceByName("CitizenService");
    absl::StatusOr<RestRouteTable> t = RestRouteTable::ForService(*service);
    EXPECT_TRUE(t.ok()) << t.status();
    return new RestRouteTable(t.ok() ? *std::move(t) : RestRouteTable());
  }();
  return *table;
}

std::string Lower(absl::string_view s) { return absl::AsciiStrToLower(s); }

TEST(OpenApiDocumentTest, Header) {
  EXPECT_EQ(Get(Root(), "openapi").string_value(), "3.0.3");
  EXPECT_EQ(Get(Root(), {"info", "title"}).string_value(), "Tongban public API (跨省通办)");
  EXPECT_EQ(Get(Root(), {"info", "version"}).string_value(), "v1");
  // The service's comment, joined into one paragraph.
  EXPECT_THAT(Get(Root(), {"info", "description"}).string_value(),
              ::testing::AllOf(::testing::StartsWith("Services for citizens' mobile and web apps"),
                               HasSubstr("another citizen's answers NOT_FOUND.")));
  // Chinese is written as UTF-8, not escaped.
  EXPECT_THAT(Json(), HasSubstr("跨省通办"));

  const pb::Value& bearer = Get(Root(), {"components", "securitySchemes", "bearerAuth"});
  EXPECT_EQ(Get(bearer, "type").string_value(), "http");
  EXPECT_EQ(Get(bearer, "scheme").string_value(), "bearer");
  EXPECT_EQ(Get(bearer, "bearerFormat").string_value(), "JWT");
  EXPECT_THAT(Get(bearer, "description").string_value(), HasSubstr("ES256"));
  EXPECT_THAT(Get(bearer, "description").string_value(), HasSubstr("resident id"));
}

TEST(OpenApiDocumentTest, EveryRouteIsDocumented) {
  ASSERT_FALSE(Routes().routes().empty());
  for (const RestRoute& route : Routes().routes()) {
    SCOPED_TRACE(absl::StrCat(route.http_method, " ", route.path));
    const pb::Value& op = Get(Root(), {"paths", route.path, Lower(route.http_method)});
    ASSERT_TRUE(Has(op, "operationId"));
    EXPECT_EQ(Get(op, "operationId").string_value(), route.method->name());

    const std::string& summary = Get(op, "summary").string_value();
    const std::string& description = Get(op, "description").string_value();
    EXPECT_FALSE(summary.empty());
    EXPECT_THAT(description, StartsWith(summary));
    EXPECT_LT(summary.size(), 200u);

    EXPECT_EQ(Get(op, "tags").list_value().values(0).string_value(),
              route.anonymous ? "catalog" : "applications");
    const pb::ListValue& security = Get(op, "security").list_value();
    if (route.anonymous) {
      EXPECT_EQ(security.values_size(), 0);
    } else {
      ASSERT_EQ(security.values_size(), 1);
      EXPECT_THAT(Keys(security.values(0)), ElementsAre("bearerAuth"));
      EXPECT_EQ(Get(security.values(0), "bearerAuth").list_value().values_size(), 0);
    }

    const pb::Value& responses = Get(op, "responses");
    const std::string success = absl::StrCat(route.success_status);
    const std::string output_ref =
        absl::StrCat("#/components/schemas/", route.method->output_type()->full_name());
    if (route.method->server_streaming()) {
      // Server-Sent Events: each event's data is one response message.
      EXPECT_EQ(Get(responses, {success, "content", "text/event-stream", "x-event-data", "$ref"})
                    .string_value(),
                output_ref);
      EXPECT_EQ(Get(responses, {success, "content", "text/event-stream", "schema", "type"})
                    .string_value(),
                "string");
    } else {
      EXPECT_EQ(
          Get(responses, {success, "content", "application/json", "schema", "$ref"}).string_value(),
          output_ref);
    }
    std::vector<std::string> statuses = {success, "400", "401", "404", "429", "500", "503", "504"};
    if (!route.anonymous) {
      statuses.push_back("403");
      statuses.push_back("409");
    }
    std::sort(statuses.begin(), statuses.end());
    EXPECT_EQ(Keys(responses), statuses);
    for (const std::string& status : statuses) {
      if (status == success) continue;
      EXPECT_EQ(
          Get(responses, {status, "content", "application/json", "schema", "$ref"}).string_value(),
          "#/components/schemas/tongban.v1.ErrorBody")
          << status;
    }
    EXPECT_TRUE(Has(Get(responses, {"429", "headers"}), "Retry-After"));
    if (route.anonymous) {
      EXPECT_THAT(Get(responses, {"401", "description"}).string_value(),
                  HasSubstr("only when a bad one is sent"));
    }

    // Parameters: the path's variables, then (without a body) the other
    // fields of the request as query parameters by JSON name.
    std::vector<std::string> want_path, want_query, got_path, got_query;
    std::set<std::string> bound;
    for (const PathSegment& s : route.segments) {
      if (s.variable) {
        want_path.push_back(s.text);
        bound.insert(s.text);
      }
    }
    const pb::Descriptor& input = *route.method->input_type();
    for (int i = 0; i < input.field_count() && !route.has_body; ++i) {
      if (bound.count(input.field(i)->name()) == 0)
        want_query.push_back(input.field(i)->json_name());
    }
    bool last_event_id = false;
    for (const pb::Value& p : Get(op, "parameters").list_value().values()) {
      const std::string& in = Get(p, "in").string_value();
      if (in == "header") {
        // Only a stream's resume point (EventSource's Last-Event-ID) is a header.
        EXPECT_EQ(Get(p, "name").string_value(), "Last-Event-ID");
        EXPECT_TRUE(route.method->server_streaming());
        EXPECT_FALSE(Get(p, "required").bool_value());
        last_event_id = true;
        continue;
      }
      (in == "path" ? got_path : got_query).push_back(Get(p, "name").string_value());
      const pb::FieldDescriptor* field = nullptr;
      for (int i = 0; i < input.field_count(); ++i) {
        const std::string& name = Get(p, "name").string_value();
        if (input.field(i)->json_name() == name || input.field(i)->name() == name) {
          field = input.field(i);
        }
      }
      ASSERT_NE(field, nullptr) << Get(p, "name").string_value();
      EXPECT_EQ(Get(p, "required").bool_value(),
                in == "path" || field->options().GetExtension(v1::field_rules).required())
          << field->name();
      EXPECT_FALSE(Get(p, "description").string_value().empty()) << Get(p, "name").string_value();
      if (in == "path") {
        EXPECT_EQ(Get(p, {"schema", "type"}).string_value(), "string");
      }
    }
    EXPECT_EQ(got_path, want_path);
    EXPECT_EQ(got_query, want_query);
    EXPECT_EQ(last_event_id, route.method->server_streaming());

    if (route.has_body) {
      EXPECT_TRUE(Get(op, {"requestBody", "required"}).bool_value());
      EXPECT_EQ(
          Get(op, {"requestBody", "content", "application/json", "schema", "$ref"}).string_value(),
          absl::StrCat("#/components/schemas/", input.full_name()));
    } else {
      EXPECT_FALSE(Has(op, "requestBody"));
    }
  }
}

// Nothing documented that is not served, nothing served that is not
// documented.
TEST(OpenApiDocumentTest, DocumentsExactlyTheServedRoutes) {
  std::set<std::string> served, documented;
  for (const RestRoute& route : Routes().routes()) {
    served.insert(absl::StrCat(Lower(route.http_method), " ", route.path));
  }
  for (const ExtraRoute& route : EdgeExtraRoutes()) {
    served.insert(absl::StrCat(Lower(route.http_method), " ", route.path));
  }
  for (const auto& [path, item] : Document().fields().at("paths").struct_value().fields()) {
    for (const auto& [method, unused] : item.struct_value().fields()) {
      documented.insert(absl::StrCat(method, " ", path));
    }
  }
  EXPECT_EQ(documented, served);
}

TEST(OpenApiDocumentTest, ExtraRoutes) {
  ASSERT_EQ(EdgeExtraRoutes().size(), 2u);
  const pb::Value& spec = Get(Root(), {"paths", "/openapi.json", "get"});
  EXPECT_TRUE(Has(Get(spec, {"responses", "200", "content"}), "application/json"));
  EXPECT_EQ(Get(spec, "security").list_value().values_size(), 0);
  EXPECT_TRUE(Has(spec, "security"));
  const pb::Value& health = Get(Root(), {"paths", "/healthz", "get"});
  EXPECT_EQ(
      Get(health, {"responses", "200", "content", "text/plain", "schema", "type"}).string_value(),
      "string");
  EXPECT_TRUE(Has(Get(health, "responses"), "503"));  // draining
  EXPECT_TRUE(Has(health, "security"));
  EXPECT_EQ(Get(health, "security").list_value().values_size(), 0);
  EXPECT_NE(Get(spec, "operationId").string_value(), Get(health, "operationId").string_value());
}

TEST(OpenApiDocumentTest, EveryRefResolves) {
  const pb::Value& schemas = Get(Root(), {"components", "schemas"});
  int refs = 0;
  std::function<void(const pb::Value&)> walk = [&](const pb::Value& v) {
    if (v.kind_case() == pb::Value::kListValue) {
      for (const pb::Value& item : v.list_value().values()) walk(item);
    }
    if (v.kind_case() != pb::Value::kStructValue) return;
    for (const auto& [key, child] : v.struct_value().fields()) {
      if (key == "$ref") {
        ++refs;
        const std::string& ref = child.string_value();
        ASSERT_THAT(ref, StartsWith("#/components/schemas/"));
        EXPECT_TRUE(Has(schemas, ref.substr(strlen("#/components/schemas/")))) << ref;
      }
      walk(child);
    }
  };
  walk(Root());
  EXPECT_GT(refs, 50);
  EXPECT_TRUE(Has(schemas, "tongban.v1.ErrorBody"));
  EXPECT_TRUE(Has(schemas, "tongban.v1.FieldViolation"));
  EXPECT_TRUE(Has(schemas, "tongban.v1.Application"));
  EXPECT_TRUE(Has(schemas, "tongban.v1.Guide"));
}

// Every schema is a message of the set, its properties its fields by JSON
// name, typed by the proto3 JSON mapping.
TEST(OpenApiDocumentTest, SchemasFollowTheProto3JsonMapping) {
  pb::DescriptorPool pool;
  for (const pb::FileDescriptorProto& file : Descriptors().file()) {
    ASSERT_NE(pool.BuildFile(file), nullptr) << file.name();
  }
  const pb::Value& schemas = Get(Root(), {"components", "schemas"});
  for (const std::string& name : Keys(schemas)) {
    SCOPED_TRACE(name);
    const pb::Descriptor* message = pool.FindMessageTypeByName(name);
    ASSERT_NE(message, nullptr);
    const pb::Value& schema = Get(schemas, name);
    EXPECT_EQ(Get(schema, "type").string_value(), "object");
    EXPECT_FALSE(Get(schema, "description").string_value().empty());
    std::vector<std::string> want_properties;
    for (int i = 0; i < message->field_count(); ++i) {
      const pb::FieldDescriptor& field = *message->field(i);
      want_properties.push_back(field.json_name());
      const pb::Value& property = Get(schema, {"properties", field.json_name()});
      EXPECT_FALSE(Get(property, "description").string_value().empty()) << field.name();
      const pb::Value& value = field.is_repeated() ? Get(property, "items") : property;
      if (field.is_repeated()) {
        EXPECT_EQ(Get(property, "type").string_value(), "array");
      }
      switch (field.cpp_type()) {
        case pb::FieldDescriptor::CPPTYPE_INT64:
        case pb::FieldDescriptor::CPPTYPE_UINT64:
          EXPECT_EQ(Get(value, "type").string_value(), "string") << field.name();
          EXPECT_THAT(Get(value, "format").string_value(), testing::EndsWith("int64"));
          break;
        case pb::FieldDescriptor::CPPTYPE_INT32:
          EXPECT_EQ(Get(value, "type").string_value(), "integer") << field.name();
          EXPECT_EQ(Get(value, "format").string_value(), "int32") << field.name();
          break;
        case pb::FieldDescriptor::CPPTYPE_BOOL:
          EXPECT_EQ(Get(value, "type").string_value(), "boolean") << field.name();
          break;
        case pb::FieldDescriptor::CPPTYPE_STRING:
          EXPECT_EQ(Get(value, "type").string_value(), "string") << field.name();
          break;
        case pb::FieldDescriptor::CPPTYPE_ENUM: {
          EXPECT_EQ(Get(value, "type").string_value(), "string") << field.name();
          const pb::ListValue& names = Get(value, "enum").list_value();
          ASSERT_EQ(names.values_size(), field.enum_type()->value_count());
          for (int v = 0; v < names.values_size(); ++v) {
            EXPECT_EQ(names.values(v).string_value(), field.enum_type()->value(v)->name());
            EXPECT_THAT(Get(property, "description").string_value(),
                        HasSubstr(field.enum_type()->value(v)->name()));
          }
          break;
        }
        case pb::FieldDescriptor::CPPTYPE_MESSAGE:
          if (field.message_type()->full_name() == "google.protobuf.Timestamp") {
            EXPECT_EQ(Get(value, "type").string_value(), "string");
            EXPECT_EQ(Get(value, "format").string_value(), "date-time");
          } else if (field.is_repeated()) {
            EXPECT_EQ(Get(value, "$ref").string_value(),
                      "#/components/schemas/" + field.message_type()->full_name());
          } else {
            EXPECT_EQ(Get(value, "allOf")
                          .list_value()
                          .values(0)
                          .struct_value()
                          .fields()
                          .at("$ref")
                          .string_value(),
                      "#/components/schemas/" + field.message_type()->full_name());
          }
          break;
        default:
          break;
      }
    }
    std::sort(want_properties.begin(), want_properties.end());
    EXPECT_EQ(Keys(Get(schema, "properties")), want_properties);
  }
}

TEST(OpenApiDocumentTest, Int64FieldsAreStrings) {
  const pb::Value& schemas = Get(Root(), {"components", "schemas"});
  for (const auto& [schema, property] : {std::pair{"tongban.v1.Application", "guideVersion"},
                                         {"tongban.v1.Guide", "feeFen"},
                                         {"tongban.v1.SuppliedMaterial", "sizeBytes"}}) {
    const pb::Value& p = Get(schemas, {schema, "properties", property});
    EXPECT_EQ(Get(p, "type").string_value(), "string") << schema << "." << property;
    EXPECT_EQ(Get(p, "format").string_value(), "int64") << schema << "." << property;
  }
}

TEST(OpenApiDocumentTest, SummariesAndQueryParameters) {
  const pb::Value& guide =
      Get(Root(), {"paths", "/v1/provinces/{province_code}/items/{item_code}/guide", "get"});
  EXPECT_EQ(Get(guide, "summary").string_value(),
            "The guide (办事指南) of an item at one province, with its conditions and material "
            "list");
  const pb::Value& list = Get(Root(), {"paths", "/v1/applications", "get"});
  EXPECT_EQ(Get(list, "summary").string_value(),
            "Lists the signed-in citizen's applications in every province, newest first");

  const pb::ListValue& params =
      Get(Root(), {"paths", "/v1/guides", "get", "parameters"}).list_value();
  ASSERT_EQ(params.values_size(), 4);
  const pb::Value& provinces = params.values(1);
  EXPECT_EQ(Get(provinces, "name").string_value(), "provinces");
  EXPECT_EQ(Get(provinces, {"schema", "type"}).string_value(), "array");
  EXPECT_EQ(Get(provinces, {"schema", "items", "type"}).string_value(), "string");
  EXPECT_EQ(Get(provinces, "style").string_value(), "form");
  EXPECT_TRUE(Get(provinces, "explode").bool_value());
  const pb::Value& page_size = params.values(2);
  EXPECT_EQ(Get(page_size, "name").string_value(), "pageSize");
  EXPECT_EQ(Get(page_size, {"schema", "type"}).string_value(), "integer");
  EXPECT_EQ(Get(page_size, "description").string_value(), "Page size, 1..200; 0 = 50.");
}

TEST(OpenApiDocumentTest, OutputIsDeterministic) {
  absl::StatusOr<std::string> again = BuildOpenApiDocument(Descriptors(), kService);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, Json());
  // Independent of the order of the set's files too.
  pb::FileDescriptorSet reversed;
  for (int i = Descriptors().file_size() - 1; i >= 0; --i)
    *reversed.add_file() = Descriptors().file(i);
  absl::StatusOr<std::string> from_reversed = BuildOpenApiDocument(reversed, kService);
  ASSERT_TRUE(from_reversed.ok()) << from_reversed.status();
  EXPECT_EQ(*from_reversed, Json());
  // Keys come out sorted.
  EXPECT_THAT(Keys(Root()),
              ElementsAre("components", "info", "openapi", "paths", "servers", "tags"));
  EXPECT_LT(Json().find("\"components\""), Json().find("\"info\""));
  EXPECT_LT(Json().find("\"info\""), Json().find("\"paths\""));
}

TEST(OpenApiDocumentTest, RefusesBadInput) {
  absl::StatusOr<std::string> doc = BuildOpenApiDocument(Descriptors(), "tongban.v1.NoSuchService");
  EXPECT_EQ(doc.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(doc.status()), HasSubstr("no service tongban.v1.NoSuchService"));

  pb::FileDescriptorSet without_comments = Descriptors();
  for (pb::FileDescriptorProto& file : *without_comments.mutable_file())
    file.clear_source_code_info();
  doc = BuildOpenApiDocument(without_comments, kService);
  EXPECT_EQ(doc.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(doc.status()), HasSubstr("--include_source_info"));

  pb::FileDescriptorSet without_imports;
  for (const pb::FileDescriptorProto& file : Descriptors().file()) {
    if (file.name() == "tongban/v1/citizen.proto") *without_imports.add_file() = file;
  }
  doc = BuildOpenApiDocument(without_imports, kService);
  EXPECT_EQ(doc.status().code(), absl::StatusCode::kInvalidArgument);

  // A service whose routes are refused is refused too.
  doc = BuildOpenApiDocument(Descriptors(), "tongban.v1.ApplicationService");
  EXPECT_EQ(doc.status().code(), absl::StatusCode::kInvalidArgument);
}

// The document says what the validators enforce: every (tongban.v1.field_rules)
// of a request field, and of the messages a request carries, is in its schema.
TEST(OpenApiDocumentTest, CarriesTheFieldRules) {
  const pb::Value& schemas = Get(Root(), {"components", "schemas"});
  const pb::Value& submit = Get(schemas, "tongban.v1.SubmitMyApplicationRequest");
  std::vector<std::string> required;
  for (const pb::Value& v : Get(submit, "required").list_value().values()) {
    required.push_back(v.string_value());
  }
  EXPECT_THAT(required, ElementsAre("acceptingProvince", "handlingProvince", "itemCode",
                                    "applicant"));
  const pb::Value& province = Get(submit, {"properties", "handlingProvince"});
  EXPECT_EQ(Get(province, "pattern").string_value(),
            "^(1[1-5]|2[1-3]|3[1-7]|4[1-6]|5[0-4]|6[1-5])0000$");
  EXPECT_EQ(Get(province, "example").string_value(), "310000");
  EXPECT_EQ(Get(submit, {"properties", "itemCode", "pattern"}).string_value(),
            "^(XK|JF|QR|CJ|JL|QT|GG)[0-9]{8}$");
  EXPECT_EQ(Get(submit, {"properties", "idempotencyKey", "minLength"}).number_value(), 8);
  EXPECT_EQ(Get(submit, {"properties", "idempotencyKey", "maxLength"}).number_value(), 64);
  EXPECT_EQ(Get(submit, {"properties", "note", "maxLength"}).number_value(), 500);
  EXPECT_EQ(Get(submit, {"properties", "materials", "maxItems"}).number_value(), 50);

  const pb::Value& material = Get(schemas, "tongban.v1.SuppliedMaterial");
  EXPECT_EQ(Get(material, {"properties", "contentSha256", "pattern"}).string_value(),
            "^[0-9a-f]{64}$");
  EXPECT_EQ(Get(material, {"properties", "materialId", "pattern"}).string_value(), "^M[0-9]{2}$");
  // int64 is a JSON string: its range is told in words.
  EXPECT_THAT(Get(material, {"properties", "sizeBytes", "description"}).string_value(),
              HasSubstr("From 1 to 20971520."));
  EXPECT_FALSE(Has(Get(material, {"properties", "sizeBytes"}), "minimum"));
  EXPECT_EQ(Get(Get(schemas, "tongban.v1.Applicant"), {"properties", "idNumber", "pattern"})
                .string_value(),
            "^[0-9]{17}[0-9X]$");

  // The path gives application_id: the body does not require it.
  const pb::Value& supplement = Get(schemas, "tongban.v1.SupplementMyMaterialsRequest");
  ASSERT_EQ(Get(supplement, "required").list_value().values_size(), 1);
  EXPECT_EQ(Get(supplement, "required").list_value().values(0).string_value(), "materials");
  EXPECT_EQ(Get(supplement, {"properties", "materials", "minItems"}).number_value(), 1);

  // Query parameters: required, bounds, each element's pattern.
  const pb::ListValue& search =
      Get(Root(), {"paths", "/v1/guides", "get", "parameters"}).list_value();
  ASSERT_EQ(search.values_size(), 4);
  EXPECT_EQ(Get(search.values(0), "name").string_value(), "query");
  EXPECT_TRUE(Get(search.values(0), "required").bool_value());
  EXPECT_EQ(Get(search.values(0), {"schema", "maxLength"}).number_value(), 64);
  EXPECT_EQ(Get(search.values(1), {"schema", "items", "pattern"}).string_value(),
            Get(province, "pattern").string_value());
  EXPECT_EQ(Get(search.values(2), {"schema", "maximum"}).number_value(), 200);
  EXPECT_EQ(Get(search.values(2), {"schema", "minimum"}).number_value(), 0);

  // Enums by their proto names.
  const pb::Value& outcome =
      Get(schemas, {"tongban.v1.CheckMaterialsResponse", "properties", "outcome"});
  EXPECT_GT(Get(outcome, "enum").list_value().values_size(), 1);
  EXPECT_EQ(Get(outcome, "enum").list_value().values(0).string_value(),
            "PRECHECK_OUTCOME_UNSPECIFIED");

  // Every rule of every field the schemas show made it into the document.
  for (const auto& [name, schema] : schemas.struct_value().fields()) {
    const pb::Descriptor* message =
        pb::DescriptorPool::generated_pool()->FindMessageTypeByName(name);
    ASSERT_NE(message, nullptr) << name;
    for (int i = 0; i < message->field_count(); ++i) {
      const pb::FieldDescriptor& field = *message->field(i);
      const v1::FieldRules& rules = field.options().GetExtension(v1::field_rules);
      const pb::Value& property = Get(schema, {"properties", field.json_name()});
      const pb::Value& value = field.is_repeated() ? Get(property, "items") : property;
      SCOPED_TRACE(field.full_name());
      if (rules.has_pattern()) {
        EXPECT_EQ(Get(value, "pattern").string_value(), rules.pattern());
      }
      if (rules.has_max_length()) {
        EXPECT_EQ(Get(value, "maxLength").number_value(), rules.max_length());
      }
      if (rules.has_min_length()) {
        EXPECT_EQ(Get(value, "minLength").number_value(), rules.min_length());
      }
      if (rules.has_max_items()) {
        EXPECT_EQ(Get(property, "maxItems").number_value(), rules.max_items());
      }
      if (rules.has_min_items()) {
        EXPECT_EQ(Get(property, "minItems").number_value(), rules.min_items());
      }
    }
  }
}

TEST(OpenApiDocumentTest, Servers) {
  const pb::ListValue& servers = Get(Root(), "servers").list_value();
  ASSERT_EQ(servers.values_size(), 2);
  EXPECT_EQ(Get(servers.values(0), "url").string_value(), "/");
  EXPECT_EQ(Get(servers.values(1), "url").string_value(), "https://localhost:20443");
  for (const pb::Value& server : servers.values()) {
    EXPECT_FALSE(Get(server, "description").string_value().empty());
  }
}

}  // namespace
}  // namespace tongban::edge
