#include "openapi_document.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/type_resolver_util.h"
#include "rest_routes.h"
#include "tongban/v1/api_options.pb.h"

namespace tongban::edge {
namespace {

namespace pb = google::protobuf;

constexpr char kSchemaRef[] = "#/components/schemas/";

// --- Struct building: the document is a google.protobuf.Struct tree that
// protobuf prints, so the JSON is well-formed and escaped by construction.

pb::Value& At(pb::Struct* object, absl::string_view key) {
  return (*object->mutable_fields())[std::string(key)];
}
void SetString(pb::Struct* object, absl::string_view key, absl::string_view value) {
  At(object, key).set_string_value(std::string(value));
}
void SetBool(pb::Struct* object, absl::string_view key, bool value) {
  At(object, key).set_bool_value(value);
}
void SetNumber(pb::Struct* object, absl::string_view key, double value) {
  At(object, key).set_number_value(value);
}
pb::Struct* SetObject(pb::Struct* object, absl::string_view key) {
  return At(object, key).mutable_struct_value();
}
pb::ListValue* SetList(pb::Struct* object, absl::string_view key) {
  return At(object, key).mutable_list_value();
}
void AddString(pb::ListValue* list, absl::string_view value) {
  list->add_values()->set_string_value(std::string(value));
}
pb::Struct* AddObject(pb::ListValue* list) { return list->add_values()->mutable_struct_value(); }
pb::Struct Ref(absl::string_view full_name) {
  pb::Struct ref;
  SetString(&ref, "$ref", absl::StrCat(kSchemaRef, full_name));
  return ref;
}

// --- Comments.

// A proto comment as prose: the one space after "//" dropped, wrapped lines
// of a paragraph joined with a space, paragraphs separated by a blank line.
std::string CleanComment(absl::string_view raw) {
  std::vector<std::string> paragraphs;
  std::string current;
  for (absl::string_view line : absl::StrSplit(raw, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) {
      if (!current.empty()) paragraphs.push_back(std::move(current));
      current.clear();
      continue;
    }
    absl::StrAppend(&current, current.empty() ? "" : " ", line);
  }
  if (!current.empty()) paragraphs.push_back(std::move(current));
  return absl::StrJoin(paragraphs, "\n\n");
}

template <typename D>
std::string Comment(const D& descriptor) {
  pb::SourceLocation location;
  if (!descriptor.GetSourceLocation(&location)) return "";
  return CleanComment(location.leading_comments);
}

// The first sentence, without its full stop: up to the first '.', '?' or
// '!' followed by a space, not counting "e.g." and "i.e.".
std::string FirstSentence(absl::string_view text) {
  text = text.substr(0, text.find('\n'));
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '.' && c != '?' && c != '!') continue;
    if (i + 1 < text.size() && text[i + 1] != ' ') continue;
    absl::string_view before = text.substr(0, i + 1);
    if (absl::EndsWith(before, "e.g.") || absl::EndsWith(before, "i.e.")) continue;
    return std::string(c == '.' ? text.substr(0, i) : before);
  }
  return std::string(text);
}

// --- Field rules: the constraints the services enforce, from the
// (tongban.v1.field_rules) option.

// The field's rules, also when `field` comes from a pool built from a
// descriptor set whose FieldOptions kept the extension as unknown fields.
v1::FieldRules RulesOf(const pb::FieldDescriptor& field) {
  pb::FieldOptions options;
  options.ParseFromString(field.options().SerializeAsString());
  return options.GetExtension(v1::field_rules);
}

// Adds the rules about one value (a string's pattern and length, a
// number's bounds, an example) to `schema`, the schema of that value. Bounds
// of 64-bit integers, which proto3 JSON writes as strings, go to the
// description: JSON Schema's minimum and maximum apply to numbers only.
void AddValueRules(const v1::FieldRules& rules, pb::Struct* schema) {
  const std::string type = schema->fields().count("type") != 0
                               ? schema->fields().at("type").string_value()
                               : std::string();
  if (rules.has_pattern()) SetString(schema, "pattern", rules.pattern());
  if (rules.has_min_length()) SetNumber(schema, "minLength", rules.min_length());
  if (rules.has_max_length()) SetNumber(schema, "maxLength", rules.max_length());
  if (type == "integer" || type == "number") {
    if (rules.has_minimum()) SetNumber(schema, "minimum", static_cast<double>(rules.minimum()));
    if (rules.has_maximum()) SetNumber(schema, "maximum", static_cast<double>(rules.maximum()));
  } else if (rules.has_minimum() || rules.has_maximum()) {
    std::string range = rules.has_minimum() && rules.has_maximum()
                            ? absl::StrCat("From ", rules.minimum(), " to ", rules.maximum(), ".")
                        : rules.has_minimum() ? absl::StrCat("At least ", rules.minimum(), ".")
                                              : absl::StrCat("At most ", rules.maximum(), ".");
    std::string* description = At(schema, "description").mutable_string_value();
    absl::StrAppend(description, description->empty() ? "" : " ", range);
  }
  if (rules.has_example()) {
    if (type == "integer" || type == "number") {
      double number = 0;
      if (absl::SimpleAtod(rules.example(), &number)) SetNumber(schema, "example", number);
    } else {
      SetString(schema, "example", rules.example());
    }
  }
}

// --- Schemas (proto3 JSON mapping).

class SchemaBuilder {
 public:
  // The schema of a field's JSON value, with the field's comment (and an
  // enum's values) as its description.
  pb::Struct FieldSchema(const pb::FieldDescriptor& field) {
    pb::Struct schema;
    std::string description = Comment(field);
    const v1::FieldRules rules = RulesOf(field);
    if (field.is_map()) {
      SetString(&schema, "type", "object");
      *SetObject(&schema, "additionalProperties") =
          ValueSchema(*field.message_type()->map_value(), &description);
    } else if (field.is_repeated()) {
      SetString(&schema, "type", "array");
      pb::Struct* items = SetObject(&schema, "items");
      *items = ValueSchema(field, &description);
      if (items->fields().count("$ref") == 0) AddValueRules(rules, items);
      if (rules.has_min_items()) SetNumber(&schema, "minItems", rules.min_items());
      if (rules.has_max_items()) SetNumber(&schema, "maxItems", rules.max_items());
    } else {
      schema = ValueSchema(field, &description);
      if (schema.fields().count("$ref") == 0) {
        AddValueRules(rules, &schema);
        // A range of a 64-bit integer went to the schema's description.
        if (schema.fields().count("description") != 0) {
          std::string range = schema.fields().at("description").string_value();
          schema.mutable_fields()->erase("description");
          absl::StrAppend(&description, description.empty() ? "" : " ", range);
        }
      }
      if (schema.fields().count("$ref") != 0 && !description.empty()) {
        // Siblings of $ref are ignored in OpenAPI 3.0: wrap it to keep the
        // field's description.
        pb::Struct wrapped;
        *AddObject(SetList(&wrapped, "allOf")) = std::move(schema);
        schema = std::move(wrapped);
      }
    }
    if (!description.empty()) SetString(&schema, "description", description);
    return schema;
  }

  // `field` (of a request) is bound by a route's path, so a body schema of
  // its message does not require it.
  void BoundByPath(const pb::FieldDescriptor& field) { path_bound_.insert(field.full_name()); }

  // Queues a message for components.schemas and returns its $ref.
  pb::Struct MessageRef(const pb::Descriptor& message) {
    if (queued_.insert(message.full_name()).second) pending_.push_back(&message);
    return Ref(message.full_name());
  }

  // Writes every queued message, and those they reach, into `schemas`.
  void Emit(pb::Struct* schemas) {
    while (!pending_.empty()) {
      const pb::Descriptor* message = pending_.back();
      pending_.pop_back();
      pb::Struct* schema = SetObject(schemas, message->full_name());
      SetString(schema, "type", "object");
      std::string description = Comment(*message);
      if (!description.empty()) SetString(schema, "description", description);
      pb::Struct* properties = SetObject(schema, "properties");
      pb::ListValue required;
      for (int i = 0; i < message->field_count(); ++i) {
        const pb::FieldDescriptor& field = *message->field(i);
        *SetObject(properties, field.json_name()) = FieldSchema(field);
        // A field a route takes from its path is not required in the body.
        if (RulesOf(field).required() && path_bound_.count(field.full_name()) == 0) {
          AddString(&required, field.json_name());
        }
      }
      if (required.values_size() > 0) *SetList(schema, "required") = std::move(required);
    }
  }

 private:
  // The schema of one value of `field` (an element when repeated);
  // enum value lists go to `description`.
  pb::Struct ValueSchema(const pb::FieldDescriptor& field, std::string* description) {
    pb::Struct schema;
    auto type = [&](absl::string_view t, absl::string_view format = "") {
      SetString(&schema, "type", t);
      if (!format.empty()) SetString(&schema, "format", format);
    };
    switch (field.type()) {
      case pb::FieldDescriptor::TYPE_INT32:
      case pb::FieldDescriptor::TYPE_SINT32:
      case pb::FieldDescriptor::TYPE_SFIXED32:
        type("integer", "int32");
        break;
      case pb::FieldDescriptor::TYPE_UINT32:
      case pb::FieldDescriptor::TYPE_FIXED32:
        // Up to 2^32-1: beyond int32, still a JSON number.
        type("integer", "int64");
        SetNumber(&schema, "minimum", 0);
        break;
      case pb::FieldDescriptor::TYPE_INT64:
      case pb::FieldDescriptor::TYPE_SINT64:
      case pb::FieldDescriptor::TYPE_SFIXED64:
        // proto3 JSON writes 64-bit integers as strings (no precision loss
        // in JavaScript).
        type("string", "int64");
        break;
      case pb::FieldDescriptor::TYPE_UINT64:
      case pb::FieldDescriptor::TYPE_FIXED64:
        type("string", "uint64");
        break;
      case pb::FieldDescriptor::TYPE_FLOAT:
        type("number", "float");
        break;
      case pb::FieldDescriptor::TYPE_DOUBLE:
        type("number", "double");
        break;
      case pb::FieldDescriptor::TYPE_BOOL:
        type("boolean");
        break;
      case pb::FieldDescriptor::TYPE_STRING:
        type("string");
        break;
      case pb::FieldDescriptor::TYPE_BYTES:
        type("string", "byte");
        break;
      case pb::FieldDescriptor::TYPE_ENUM: {
        type("string");
        const pb::EnumDescriptor& e = *field.enum_type();
        pb::ListValue* names = SetList(&schema, "enum");
        std::vector<std::string> lines;
        for (int i = 0; i < e.value_count(); ++i) {
          const pb::EnumValueDescriptor& value = *e.value(i);
          AddString(names, value.name());
          std::string comment = Comment(value);
          lines.push_back(
              absl::StrCat("- `", value.name(), "`", comment.empty() ? "" : ": ", comment));
        }
        absl::StrAppend(description, description->empty() ? "" : "\n\n",
                        absl::StrJoin(lines, "\n"));
        break;
      }
      case pb::FieldDescriptor::TYPE_MESSAGE:
      case pb::FieldDescriptor::TYPE_GROUP:
        return MessageSchema(*field.message_type());
    }
    return schema;
  }

  // Well-known types have their own JSON forms; other messages are $refs.
  pb::Struct MessageSchema(const pb::Descriptor& message) {
    pb::Struct schema;
    const std::string& name = message.full_name();
    auto type = [&](absl::string_view t, absl::string_view format = "") {
      SetString(&schema, "type", t);
      if (!format.empty()) SetString(&schema, "format", format);
    };
    if (name == "google.protobuf.Timestamp") {
      type("string", "date-time");  // RFC 3339, e.g. "2026-11-25T08:00:00Z"
    } else if (name == "google.protobuf.Duration") {
      type("string");  // seconds with an "s" suffix, e.g. "1.5s"
      SetString(&schema, "pattern", "^-?[0-9]+(\\.[0-9]{1,9})?s$");
    } else if (name == "google.protobuf.FieldMask") {
      type("string");
    } else if (name == "google.protobuf.Struct") {
      type("object");
      SetBool(&schema, "additionalProperties", true);
    } else if (name == "google.protobuf.Value") {
      // Any JSON value: an empty schema.
    } else if (name == "google.protobuf.ListValue") {
      type("array");
      SetObject(&schema, "items");
    } else if (absl::StartsWith(name, "google.protobuf.") && absl::EndsWith(name, "Value") &&
               message.field_count() == 1 && message.field(0)->name() == "value") {
      // Wrappers (Int64Value, StringValue, ...) are their value, or null.
      std::string unused;
      schema = ValueSchema(*message.field(0), &unused);
      SetBool(&schema, "nullable", true);
    } else {
      return MessageRef(message);
    }
    return schema;
  }

  std::set<std::string> queued_;
  std::vector<const pb::Descriptor*> pending_;
  std::set<std::string> path_bound_;  // full names of fields
};

// --- Operations.

const char* SuccessDescription(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    default:
      return "Success";
  }
}

pb::Struct JsonContent(pb::Struct schema) {
  pb::Struct content;
  *SetObject(SetObject(&content, "application/json"), "schema") = std::move(schema);
  return content;
}

void AddErrorResponses(const RestRoute& route, const std::string& error_body,
                       pb::Struct* responses) {
  auto add = [&](absl::string_view status, std::string description) {
    pb::Struct* response = SetObject(responses, status);
    SetString(response, "description", description);
    *SetObject(response, "content") = JsonContent(Ref(error_body));
    return response;
  };
  add("400",
      "INVALID_ARGUMENT, FAILED_PRECONDITION or OUT_OF_RANGE: the request is malformed or not "
      "allowed in the current state; the message names the field at fault.");
  add("401", route.anonymous
                 ? "UNAUTHENTICATED: a bearer token was sent and is invalid or expired. This "
                   "method needs no token; it answers 401 only when a bad one is sent."
                 : "UNAUTHENTICATED: the bearer token is missing, invalid or expired.");
  if (!route.anonymous) {
    add("403", "PERMISSION_DENIED: the token does not allow this call.");
  }
  add("404", route.anonymous
                 ? "NOT_FOUND: no such item, province or guide."
                 : "NOT_FOUND: no such item, province or application (another citizen's "
                   "application is not found either).");
  if (!route.anonymous) {
    add("409",
        "ALREADY_EXISTS or ABORTED: the request conflicts with the current state (e.g. "
        "withdrawing a decided application) or with a concurrent change; re-read and "
        "retry.");
  }
  pb::Struct* limited =
      add("429", route.anonymous ? "RESOURCE_EXHAUSTED: too many requests from this client address."
                                 : "RESOURCE_EXHAUSTED: too many requests from this citizen.");
  pb::Struct* retry_after = SetObject(SetObject(limited, "headers"), "Retry-After");
  SetString(retry_after, "description", "Whole seconds to wait before retrying.");
  SetString(SetObject(retry_after, "schema"), "type", "integer");
  add("500", "INTERNAL or UNKNOWN: an error on our side.");
  add("503", "UNAVAILABLE: a province node or the federation is unavailable; retry later.");
  add("504", "DEADLINE_EXCEEDED: a province node did not answer in time; retry later.");
}

pb::Struct Parameter(absl::string_view name, absl::string_view in, bool required,
                     pb::Struct schema) {
  pb::Struct parameter;
  SetString(&parameter, "name", name);
  SetString(&parameter, "in", in);
  SetBool(&parameter, "required", in == "path" || required);
  // The description belongs to the parameter, not its schema.
  auto description = schema.mutable_fields()->find("description");
  if (description != schema.mutable_fields()->end()) {
    At(&parameter, "description") = description->second;
    schema.mutable_fields()->erase(description);
  }
  if (schema.fields().at("type").string_value() == "array") {
    SetString(&parameter, "style", "form");
    SetBool(&parameter, "explode", true);
  }
  *SetObject(&parameter, "schema") = std::move(schema);
  return parameter;
}

pb::Struct Operation(const RestRoute& route, const std::string& error_body,
                     SchemaBuilder* schemas) {
  const pb::MethodDescriptor& method = *route.method;
  pb::Struct op;
  std::string description = Comment(method);
  SetString(&op, "operationId", method.name());
  SetString(&op, "summary", FirstSentence(description));
  if (!description.empty()) SetString(&op, "description", description);
  AddString(SetList(&op, "tags"), route.anonymous ? "catalog" : "applications");

  const pb::Descriptor& input = *method.input_type();
  pb::ListValue parameters;
  std::set<std::string> in_path;
  for (const PathSegment& segment : route.segments) {
    if (!segment.variable) continue;
    in_path.insert(segment.text);
    const pb::FieldDescriptor& field = *input.FindFieldByName(segment.text);
    schemas->BoundByPath(field);
    *AddObject(&parameters) = Parameter(segment.text, "path", true, schemas->FieldSchema(field));
  }
  if (!route.has_body) {
    for (int i = 0; i < input.field_count(); ++i) {
      const pb::FieldDescriptor& field = *input.field(i);
      if (in_path.count(field.name()) != 0) continue;
      *AddObject(&parameters) = Parameter(field.json_name(), "query", RulesOf(field).required(),
                                          schemas->FieldSchema(field));
    }
  }
  if (parameters.values_size() > 0) *SetList(&op, "parameters") = std::move(parameters);

  if (route.has_body) {
    pb::Struct* body = SetObject(&op, "requestBody");
    SetBool(body, "required", true);
    SetString(body, "description",
              in_path.empty()
                  ? "The request as proto3 JSON; an empty body is {}."
                  : absl::StrCat("The request as proto3 JSON; an empty body is {}. ",
                                 absl::StrJoin(in_path, ", "),
                                 " comes from the path; the body may repeat it only with the "
                                 "same value."));
    *SetObject(body, "content") = JsonContent(schemas->MessageRef(input));
  }

  pb::Struct* responses = SetObject(&op, "responses");
  pb::Struct* success = SetObject(responses, absl::StrCat(route.success_status));
  SetString(success, "description", SuccessDescription(route.success_status));
  if (method.server_streaming()) {
    // Server-Sent Events (docs/public-api.md, "Live status"): each event's
    // data is one response message as JSON, its id the resume point.
    pb::Struct* content = SetObject(success, "content");
    pb::Struct* events = SetObject(content, "text/event-stream");
    pb::Struct* schema = SetObject(events, "schema");
    SetString(schema, "type", "string");
    SetString(schema, "description",
              absl::StrCat("Server-Sent Events. Each event: `id:` the sequence, `event:` "
                           "application-event or heartbeat (or error, with an error body, when "
                           "the stream fails after it began), `data:` one ",
                           method.output_type()->name(),
                           " as JSON (x-event-data). Reconnect with Last-Event-ID to resume."));
    *SetObject(events, "x-event-data") = schemas->MessageRef(*method.output_type());
    pb::Struct header_schema;
    SetString(&header_schema, "type", "string");
    SetString(&header_schema, "description",
              "The id of the last event received (EventSource sends it when it reconnects): "
              "resume after it, like after_sequence.");
    pb::Value* params = &At(&op, "parameters");
    if (params->kind_case() != pb::Value::kListValue) params->mutable_list_value();
    *AddObject(params->mutable_list_value()) =
        Parameter("Last-Event-ID", "header", false, std::move(header_schema));
  } else {
    *SetObject(success, "content") = JsonContent(schemas->MessageRef(*method.output_type()));
  }
  AddErrorResponses(route, error_body, responses);

  pb::ListValue* security = SetList(&op, "security");
  if (!route.anonymous) SetList(AddObject(security), "bearerAuth");
  return op;
}

// "GET /healthz" → "GetHealthz": extra routes have no method to name them.
std::string ExtraOperationId(const ExtraRoute& route) {
  bool upper = true;
  std::string out;
  for (char c : absl::StrCat(route.http_method, "/", route.path)) {
    if (!absl::ascii_isalnum(c)) {
      upper = true;
      continue;
    }
    out.push_back(upper ? absl::ascii_toupper(c) : absl::ascii_tolower(c));
    upper = false;
  }
  return out;
}

pb::Struct ExtraOperation(const ExtraRoute& route) {
  pb::Struct op;
  SetString(&op, "operationId", ExtraOperationId(route));
  SetString(&op, "summary", route.summary);
  AddString(SetList(&op, "tags"), "edge");
  pb::Struct* responses = SetObject(&op, "responses");
  auto add = [&](absl::string_view status, absl::string_view description,
                 absl::string_view example) {
    pb::Struct* response = SetObject(responses, status);
    SetString(response, "description", description);
    pb::Struct* schema =
        SetObject(SetObject(SetObject(response, "content"), route.content_type), "schema");
    SetString(schema, "type", route.content_type == "application/json" ? "object" : "string");
    if (!example.empty()) SetString(schema, "example", example);
  };
  if (route.path == "/healthz") {
    add("200", "OK: the edge is serving.", "ok");
    add("503", "The edge is draining (shutting down): send new requests elsewhere.", "draining");
  } else {
    add("200", "OK", "");
  }
  SetList(&op, "security");  // anonymous
  return op;
}

pb::Struct Tag(absl::string_view name, absl::string_view description) {
  pb::Struct tag;
  SetString(&tag, "name", name);
  SetString(&tag, "description", description);
  return tag;
}

// Prints the document with map keys in sorted order: Struct is a map, and
// deterministic serialization is what fixes its order on the wire, which
// the JSON printer follows.
absl::StatusOr<std::string> PrintDeterministic(const pb::Struct& document) {
  std::string binary;
  {
    pb::io::StringOutputStream stream(&binary);
    pb::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    if (!document.SerializeToCodedStream(&coded)) {
      return absl::InternalError("OpenAPI document: cannot serialize the Struct");
    }
  }
  std::unique_ptr<pb::util::TypeResolver> resolver(pb::util::NewTypeResolverForDescriptorPool(
      "type.googleapis.com", pb::DescriptorPool::generated_pool()));
  pb::util::JsonPrintOptions options;
  options.add_whitespace = true;
  std::string json;
  pb::util::Status status = pb::util::BinaryToJsonString(
      resolver.get(), "type.googleapis.com/google.protobuf.Struct", binary, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat(
        "OpenAPI document: ", absl::string_view(status.message().data(), status.message().size())));
  }
  return json;
}

// Collects the errors of building the set's files into one message.
class ErrorCollector : public pb::DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element_name,
                const pb::Message* /*descriptor*/, ErrorLocation /*location*/,
                const std::string& message) override {
    absl::StrAppend(&errors_, errors_.empty() ? "" : "; ", filename, ": ", element_name, ": ",
                    message);
  }
  const std::string& errors() const { return errors_; }

 private:
  std::string errors_;
};

}  // namespace

const std::vector<ExtraRoute>& EdgeExtraRoutes() {
  static const auto* routes = new std::vector<ExtraRoute>{
      {"GET", "/openapi.json", "This OpenAPI document", "application/json"},
      {"GET", "/healthz", "Liveness of the edge: answers \"ok\"", "text/plain"},
  };
  return *routes;
}

absl::StatusOr<std::string> BuildOpenApiDocument(const pb::FileDescriptorSet& descriptors,
                                                 absl::string_view service_full_name) {
  pb::SimpleDescriptorDatabase database;
  for (const pb::FileDescriptorProto& file : descriptors.file()) {
    if (!database.Add(file)) {
      return absl::InvalidArgumentError(
          absl::StrCat("descriptor set: ", file.name(), " conflicts with another file of the set"));
    }
  }
  ErrorCollector errors;
  pb::DescriptorPool pool(&database, &errors);
  const pb::ServiceDescriptor* service = pool.FindServiceByName(std::string(service_full_name));
  if (service == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("descriptor set: no service ", service_full_name,
                     errors.errors().empty() ? "" : absl::StrCat(" (", errors.errors(), ")")));
  }
  const std::string error_body_name = absl::StrCat(service->file()->package(), ".ErrorBody");
  const pb::Descriptor* error_body = pool.FindMessageTypeByName(error_body_name);
  if (error_body == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("descriptor set: no message ", error_body_name, " for error responses"));
  }
  pb::SourceLocation unused;
  if (!service->GetSourceLocation(&unused)) {
    return absl::InvalidArgumentError(
        "descriptor set: no source info (comments); run protoc with --include_source_info");
  }
  absl::StatusOr<RestRouteTable> table = RestRouteTable::ForService(*service);
  if (!table.ok()) return table.status();

  pb::Struct document;
  SetString(&document, "openapi", "3.0.3");
  pb::Struct* info = SetObject(&document, "info");
  SetString(info, "title", "Tongban public API (跨省通办)");
  SetString(info, "version", "v1");
  SetString(info, "description", Comment(*service));

  pb::ListValue* servers = SetList(&document, "servers");
  pb::Struct* here = AddObject(servers);
  SetString(here, "url", "/");
  SetString(here, "description", "The edge that serves this document (GET /openapi.json).");
  pb::Struct* dev = AddObject(servers);
  SetString(dev, "url", "https://localhost:20443");
  SetString(dev, "description",
            "The development federation's edge (gateway/run-federation.sh; its CA is "
            "certs/dev/ca/ca.pem).");

  pb::ListValue* tags = SetList(&document, "tags");
  *AddObject(tags) = Tag("catalog", "Service items and guides; no sign-in needed.");
  *AddObject(tags) = Tag("applications", "The signed-in citizen's applications (bearer token).");
  *AddObject(tags) = Tag("edge", "The edge itself: this document and its health.");

  SchemaBuilder schemas;
  schemas.MessageRef(*error_body);
  pb::Struct* paths = SetObject(&document, "paths");
  for (const RestRoute& route : table->routes()) {
    pb::Struct* item = SetObject(paths, route.path);
    *SetObject(item, absl::AsciiStrToLower(route.http_method)) =
        Operation(route, error_body->full_name(), &schemas);
  }
  for (const ExtraRoute& route : EdgeExtraRoutes()) {
    pb::Struct* item = SetObject(paths, route.path);
    const std::string verb = absl::AsciiStrToLower(route.http_method);
    if (item->fields().count(verb) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          route.http_method, " ", route.path, " is both a method's route and an edge route"));
    }
    *SetObject(item, verb) = ExtraOperation(route);
  }

  pb::Struct* components = SetObject(&document, "components");
  schemas.Emit(SetObject(components, "schemas"));
  pb::Struct* bearer = SetObject(SetObject(components, "securitySchemes"), "bearerAuth");
  SetString(bearer, "type", "http");
  SetString(bearer, "scheme", "bearer");
  SetString(bearer, "bearerFormat", "JWT");
  SetString(bearer, "description",
            "ES256 JWT from the identity provider in \"Authorization: Bearer <token>\"; its "
            "subject is the citizen's resident id.");
  return PrintDeterministic(document);
}

}  // namespace tongban::edge
