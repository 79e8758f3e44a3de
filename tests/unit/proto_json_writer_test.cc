// gateway/edge/proto_json_writer: byte-equal to protobuf's MessageToJsonString
// (always_print_primitive_fields, lowerCamelCase) on random messages of every
// type the REST edge answers with, and on the corner cases of each value kind.
#include "proto_json_writer.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/field_mask.pb.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "tongban/v1/citizen.pb.h"

namespace tongban::edge {
namespace {

namespace pb = google::protobuf;
using FD = pb::FieldDescriptor;

std::string Reference(const pb::Message& m, bool* ok) {
  pb::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  *ok = pb::util::MessageToJsonString(m, &json, options).ok();
  return json;
}

std::string Ours(const pb::Message& m, absl::Status* status) {
  std::string json;
  *status = AppendProtoJson(m, &json);
  return json;
}

void ExpectSame(const pb::Message& m) {
  bool ref_ok = false;
  const std::string want = Reference(m, &ref_ok);
  absl::Status status;
  const std::string got = Ours(m, &status);
  ASSERT_TRUE(ref_ok) << m.DebugString();
  ASSERT_TRUE(status.ok()) << status << "\n" << m.DebugString();
  if (got != want) {
    // Where they part, not two whole documents.
    size_t at = 0;
    while (at < got.size() && at < want.size() && got[at] == want[at]) ++at;
    const size_t from = at > 120 ? at - 120 : 0;
    ADD_FAILURE() << "differs at byte " << at << "\n ours: ..." << got.substr(from, 240)
                  << "\n protobuf: ..." << want.substr(from, 240);
  }
}

std::string Utf8(uint32_t c) {
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (c >> 18));
    s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

// Random values, biased towards the edges of each kind.
class Filler {
 public:
  explicit Filler(uint32_t seed) : rng_(seed) {}

  void Fill(pb::Message* m, int depth) {
    const pb::Descriptor* d = m->GetDescriptor();
    const pb::Reflection* r = m->GetReflection();
    // By reflection: in the dynamic pool below these are not pb::Timestamp.
    if (d->full_name() == "google.protobuf.Timestamp") {
      const int64_t seconds = Pick<int64_t>({0, -62135596800, 253402300000, 1764900000, -1});
      r->SetInt64(m, d->field(0), seconds + Uniform(0, 799));
      r->SetInt32(m, d->field(1), Pick<int32_t>({0, 1000000, 123000000, 1000, 999999999, 5}));
      return;
    }
    if (d->full_name() == "google.protobuf.Duration") {
      const int64_t seconds = Pick<int64_t>({0, 1, -1, 315576000000, -315576000000, 86400});
      const int32_t nanos = Pick<int32_t>({0, 500000000, 1000, 7, 999999999});
      r->SetInt64(m, d->field(0), seconds);
      r->SetInt32(m, d->field(1), seconds < 0 ? -nanos : nanos);
      return;
    }
    for (int i = 0; i < d->field_count(); ++i) {
      const FD* f = d->field(i);
      if (Uniform(0, 3) == 0) continue;  // leave some unset
      if (f->containing_oneof() != nullptr && Uniform(0, 1) == 0) continue;
      if (f->is_repeated()) {
        const int n = f->is_map() ? Uniform(0, 1) : Uniform(0, 3);
        for (int k = 0; k < n; ++k) AddValue(m, r, f, depth);
      } else {
        SetValue(m, r, f, depth);
      }
    }
  }

 private:
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  template <typename T>
  T Pick(std::initializer_list<T> values) {
    return *(values.begin() + Uniform(0, static_cast<int>(values.size()) - 1));
  }

  std::string RandomString() {
    static const std::vector<uint32_t> kCodePoints = {
        'a',    'Z',    '0',     ' ',     '"',     '\\',    '/',     '<',    '>',    '&',
        '\'',   '\b',   '\f',    '\n',    '\r',    '\t',    0x01,    0x1f,   0x7f,   0x80,
        0x9f,   0xa0,   0xad,    0xe9,    0x600,   0x6dd,   0x70f,   0x17b4, 0x200b, 0x200f,
        0x2028, 0x2029, 0x202e,  0x2060,  0x206f,  0x4e2d,  0x6e56,  0x5e7f, 0x529e, 0xfeff,
        0xfff9, 0xfffd, 0x1d173, 0x1f600, 0xe0001, 0xe007f, 0x10ffff};
    std::string s;
    const int n = Uniform(0, 8);
    for (int i = 0; i < n; ++i) {
      s += Utf8(
          kCodePoints[static_cast<size_t>(Uniform(0, static_cast<int>(kCodePoints.size()) - 1))]);
    }
    return s;
  }
  double RandomDouble() {
    switch (Uniform(0, 9)) {
      case 0:
        return 0.0;
      case 1:
        return -0.0;
      case 2:
        return std::numeric_limits<double>::infinity();
      case 3:
        return -std::numeric_limits<double>::infinity();
      case 4:
        return std::nan("");
      case 5:
        return 1e300;
      case 6:
        return 0.1;
      case 7:
        return std::numeric_limits<double>::denorm_min();
      case 8:
        return 123456789012345678.0;
      default:
        return std::uniform_real_distribution<double>(-1e6, 1e6)(rng_);
    }
  }
  int64_t RandomInt64() {
    return Pick<int64_t>({0, 1, -1, std::numeric_limits<int64_t>::min(),
                          std::numeric_limits<int64_t>::max(), 9007199254740993});
  }
  int32_t RandomInt32() {
    return Pick<int32_t>(
        {0, 1, -1, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()});
  }
  int RandomEnum(const FD* f) {
    const pb::EnumDescriptor* e = f->enum_type();
    if (Uniform(0, 5) == 0) return 77;  // a number this build does not know (proto3: open)
    return e->value(Uniform(0, e->value_count() - 1))->number();
  }

  void SetValue(pb::Message* m, const pb::Reflection* r, const FD* f, int depth) {
    switch (f->cpp_type()) {
      case FD::CPPTYPE_INT32:
        r->SetInt32(m, f, RandomInt32());
        break;
      case FD::CPPTYPE_UINT32:
        r->SetUInt32(m, f, static_cast<uint32_t>(RandomInt32()));
        break;
      case FD::CPPTYPE_INT64:
        r->SetInt64(m, f, RandomInt64());
        break;
      case FD::CPPTYPE_UINT64:
        r->SetUInt64(m, f, static_cast<uint64_t>(RandomInt64()));
        break;
      case FD::CPPTYPE_DOUBLE:
        r->SetDouble(m, f, RandomDouble());
        break;
      case FD::CPPTYPE_FLOAT:
        r->SetFloat(m, f, static_cast<float>(RandomDouble()));
        break;
      case FD::CPPTYPE_BOOL:
        r->SetBool(m, f, Uniform(0, 1) == 1);
        break;
      case FD::CPPTYPE_ENUM:
        r->SetEnumValue(m, f, RandomEnum(f));
        break;
      case FD::CPPTYPE_STRING:
        r->SetString(m, f, RandomString());
        break;
      case FD::CPPTYPE_MESSAGE:
        if (depth < 4) Fill(r->MutableMessage(m, f), depth + 1);
        break;
    }
  }
  void AddValue(pb::Message* m, const pb::Reflection* r, const FD* f, int depth) {
    switch (f->cpp_type()) {
      case FD::CPPTYPE_INT32:
        r->AddInt32(m, f, RandomInt32());
        break;
      case FD::CPPTYPE_UINT32:
        r->AddUInt32(m, f, static_cast<uint32_t>(RandomInt32()));
        break;
      case FD::CPPTYPE_INT64:
        r->AddInt64(m, f, RandomInt64());
        break;
      case FD::CPPTYPE_UINT64:
        r->AddUInt64(m, f, static_cast<uint64_t>(RandomInt64()));
        break;
      case FD::CPPTYPE_DOUBLE:
        r->AddDouble(m, f, RandomDouble());
        break;
      case FD::CPPTYPE_FLOAT:
        r->AddFloat(m, f, static_cast<float>(RandomDouble()));
        break;
      case FD::CPPTYPE_BOOL:
        r->AddBool(m, f, Uniform(0, 1) == 1);
        break;
      case FD::CPPTYPE_ENUM:
        r->AddEnumValue(m, f, RandomEnum(f));
        break;
      case FD::CPPTYPE_STRING:
        r->AddString(m, f, RandomString());
        break;
      case FD::CPPTYPE_MESSAGE:
        if (depth < 4) Fill(r->AddMessage(m, f), depth + 1);
        break;
    }
  }

  std::mt19937 rng_;
};

// Every response (and request: the fuzzer prints those) of CitizenService,
// and the REST error body.
std::vector<const pb::Descriptor*> EdgeMessageTypes() {
  std::vector<const pb::Descriptor*> types;
  const pb::ServiceDescriptor* s =
      pb::DescriptorPool::generated_pool()->FindServiceByName("tongban.v1.CitizenService");
  for (int i = 0; i < s->method_count(); ++i) {
    types.push_back(s->method(i)->output_type());
    types.push_back(s->method(i)->input_type());
  }
  types.push_back(v1::ErrorBody::descriptor());
  return types;
}

TEST(ProtoJsonWriterTest, EqualsMessageToJsonStringOnRandomMessagesOfEveryEdgeType) {
  const std::vector<const pb::Descriptor*> types = EdgeMessageTypes();
  ASSERT_GE(types.size(), 10u);
  int compared = 0;
  for (const pb::Descriptor* d : types) {
    const pb::Message* prototype = pb::MessageFactory::generated_factory()->GetPrototype(d);
    ASSERT_NE(prototype, nullptr) << d->full_name();
    for (uint32_t seed = 0; seed < 300; ++seed) {
      std::unique_ptr<pb::Message> m(prototype->New());
      Filler(seed * 7919 + static_cast<uint32_t>(compared)).Fill(m.get(), 0);
      ExpectSame(*m);
      if (::testing::Test::HasFailure()) return;  // one diff is enough to read
      ++compared;
    }
    // Defaults only: every primitive, [] for repeated, no unset messages.
    std::unique_ptr<pb::Message> empty(prototype->New());
    ExpectSame(*empty);
  }
  EXPECT_GT(compared, 3000);
}

TEST(ProtoJsonWriterTest, EveryCodePointIsEscapedAsProtobufDoes) {
  // All of Unicode, 64 code points to a string.
  v1::ErrorBody body;
  std::string text;
  int in_text = 0;
  for (uint32_t c = 0; c <= 0x110000; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    if (c < 0x110000) {
      text += Utf8(c);
      if (++in_text < 64) continue;
    }
    body.set_message(text);
    ExpectSame(body);
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "code points up to " << c;
      return;
    }
    text.clear();
    in_text = 0;
  }
}

TEST(ProtoJsonWriterTest, WellKnownTypesAtTopLevel) {
  pb::Duration d;
  for (auto [s, n] : std::vector<std::pair<int64_t, int32_t>>{
           {0, 0}, {1, 500000000}, {-1, -500000000}, {0, -1000}, {315576000000, 999999999}}) {
    d.set_seconds(s);
    d.set_nanos(n);
    ExpectSame(d);
  }
  pb::Int64Value i64;
  i64.set_value(-5);
  ExpectSame(i64);
  pb::StringValue str;
  str.set_value("湖南<省>");
  ExpectSame(str);
  pb::BytesValue bytes;
  bytes.set_value(std::string("\0\xff\x10", 3));
  ExpectSame(bytes);
}

// Every scalar kind and well-known type inside a message, as the edge's
// answers may grow them: a proto3 type built at run time.
TEST(ProtoJsonWriterTest, EveryScalarKindInsideAMessage) {
  pb::DescriptorPool pool;
  for (const pb::FileDescriptor* wkt :
       {pb::Duration::descriptor()->file(), pb::Timestamp::descriptor()->file(),
        pb::Int64Value::descriptor()->file(), pb::FieldMask::descriptor()->file()}) {
    pb::FileDescriptorProto proto;
    wkt->CopyTo(&proto);
    ASSERT_NE(pool.BuildFile(proto), nullptr) << wkt->name();
  }
  pb::FileDescriptorProto file;
  ASSERT_TRUE(pb::TextFormat::ParseFromString(
      R"pb(
        name: "json_writer_test.proto"
        package: "t"
        syntax: "proto3"
        dependency: [
          "google/protobuf/duration.proto",
          "google/protobuf/timestamp.proto",
          "google/protobuf/wrappers.proto",
          "google/protobuf/field_mask.proto"
        ]
        enum_type {
          name: "E"
          value { name: "E_ZERO" number: 0 }
          value { name: "E_ONE" number: 1 }
        }
        message_type {
          name: "Scalars"
          field { name: "a_double" number: 1 label: LABEL_OPTIONAL type: TYPE_DOUBLE }
          field { name: "a_float" number: 2 label: LABEL_OPTIONAL type: TYPE_FLOAT }
          field { name: "some_bytes" number: 3 label: LABEL_OPTIONAL type: TYPE_BYTES }
          field { name: "u32" number: 4 label: LABEL_OPTIONAL type: TYPE_UINT32 }
          field { name: "u64" number: 5 label: LABEL_OPTIONAL type: TYPE_UINT64 }
          field { name: "s32" number: 6 label: LABEL_OPTIONAL type: TYPE_SINT32 }
          field { name: "f64" number: 7 label: LABEL_OPTIONAL type: TYPE_FIXED64 }
          field { name: "sf32" number: 8 label: LABEL_OPTIONAL type: TYPE_SFIXED32 }
          field { name: "doubles" number: 9 label: LABEL_REPEATED type: TYPE_DOUBLE }
          field { name: "floats" number: 10 label: LABEL_REPEATED type: TYPE_FLOAT }
          field {
            name: "when"
            number: 11
            label: LABEL_OPTIONAL
            type: TYPE_MESSAGE
            type_name: ".google.protobuf.Timestamp"
          }
          field {
            name: "how_long"
            number: 12
            label: LABEL_OPTIONAL
            type: TYPE_MESSAGE
            type_name: ".google.protobuf.Duration"
          }
          field {
            name: "wrapped_int"
            number: 13
            label: LABEL_OPTIONAL
            type: TYPE_MESSAGE
            type_name: ".google.protobuf.Int64Value"
          }
          field {
            name: "wrapped_float"
            number: 14
            label: LABEL_OPTIONAL
            type: TYPE_MESSAGE
            type_name: ".google.protobuf.FloatValue"
          }
          field {
            name: "wrapped_bytes"
            number: 15
            label: LABEL_OPTIONAL
            type: TYPE_MESSAGE
            type_name: ".google.protobuf.BytesValue"
          }
          field { name: "kinds" number: 17 label: LABEL_REPEATED type: TYPE_ENUM type_name: ".t.E" }
          field {
            name: "child"
            number: 18
            label: LABEL_OPTIONAL
            type: TYPE_MESSAGE
            type_name: ".t.Scalars"
          }
          field {
            name: "children"
            number: 19
            label: LABEL_REPEATED
            type: TYPE_MESSAGE
            type_name: ".t.Scalars"
          }
          field { name: "last_i64" number: 20 label: LABEL_OPTIONAL type: TYPE_INT64 }
        }
      )pb",
      &file));
  const pb::FileDescriptor* built = pool.BuildFile(file);
  ASSERT_NE(built, nullptr);
  pb::DynamicMessageFactory factory(&pool);
  const pb::Message* prototype = factory.GetPrototype(built->FindMessageTypeByName("Scalars"));
  for (uint32_t seed = 0; seed < 2000; ++seed) {
    std::unique_ptr<pb::Message> m(prototype->New());
    Filler(seed).Fill(m.get(), 0);
    ExpectSame(*m);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(ProtoJsonWriterTest, FloatingPointAsProtobufPrintsIt) {
  // The shortest-round-trip formatting of protobuf's SimpleDtoa/SimpleFtoa,
  // on many values: wrappers inside a message (as a top-level value
  // protobuf 3.21 prints some wrappers oddly, e.g. 0.1 as `true`).
  std::mt19937_64 rng(42);
  std::vector<double> values = {0.0,
                                -0.0,
                                0.1,
                                1.0 / 3,
                                1e21,
                                1e-7,
                                123456789.0,
                                5e-324,
                                1.7976931348623157e308,
                                std::nan(""),
                                std::numeric_limits<double>::infinity(),
                                -std::numeric_limits<double>::infinity()};
  for (int i = 0; i < 2000; ++i) {
    values.push_back(std::uniform_real_distribution<double>(-1e9, 1e9)(rng));
    uint64_t bits = rng();
    double any;
    std::memcpy(&any, &bits, sizeof any);
    values.push_back(any);
  }
  pb::DescriptorPool pool;
  pb::FileDescriptorProto file;
  ASSERT_TRUE(pb::TextFormat::ParseFromString(
      R"pb(
        name: "json_floats.proto"
        package: "t"
        syntax: "proto3"
        message_type {
          name: "Floats"
          field { name: "d" number: 1 label: LABEL_OPTIONAL type: TYPE_DOUBLE }
          field { name: "f" number: 2 label: LABEL_OPTIONAL type: TYPE_FLOAT }
        }
      )pb",
      &file));
  const pb::FileDescriptor* built = pool.BuildFile(file);
  ASSERT_NE(built, nullptr);
  pb::DynamicMessageFactory factory(&pool);
  const pb::Descriptor* type = built->FindMessageTypeByName("Floats");
  std::unique_ptr<pb::Message> m(factory.GetPrototype(type)->New());
  const pb::Reflection* r = m->GetReflection();
  for (double v : values) {
    r->SetDouble(m.get(), type->field(0), v);
    r->SetFloat(m.get(), type->field(1), static_cast<float>(v));
    ExpectSame(*m);
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "value " << v;
      return;
    }
  }
}

TEST(ProtoJsonWriterTest, RefusesWhatProto3JsonCannotSay) {
  v1::ErrorBody body;
  body.set_message("bad \xC3\x28 UTF-8");
  std::string json;
  EXPECT_EQ(AppendProtoJson(body, &json).code(), absl::StatusCode::kInvalidArgument);

  pb::Timestamp ts;
  ts.set_seconds(253402300800);  // year 10000
  json.clear();
  EXPECT_EQ(AppendProtoJson(ts, &json).code(), absl::StatusCode::kInvalidArgument);

  // Struct and FieldMask are left to MessageToJsonString.
  pb::Struct st;
  json.clear();
  EXPECT_EQ(AppendProtoJson(st, &json).code(), absl::StatusCode::kUnimplemented);
  pb::FieldMask mask;
  json.clear();
  EXPECT_EQ(AppendProtoJson(mask, &json).code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace tongban::edge
