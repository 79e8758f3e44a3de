#include "proto_json_writer.h"

#include <algorithm>
#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"

namespace tongban::edge {
namespace {

namespace pb = google::protobuf;
using FD = pb::FieldDescriptor;

// Code points protobuf's JSON escaping writes as \uXXXX although JSON
// allows them raw: C1 controls, format and invisible characters, and the
// line separators that break JavaScript string literals (json_escaping.cc).
bool EscapedAboveAscii(uint32_t c) {
  if (c >= 0x80 && c <= 0x9f) return true;
  if (c < 0x600) return c == 0xad;
  if (c <= 0x603) return true;
  if (c < 0x2000) return c == 0x6dd || c == 0x70f || c == 0x17b4 || c == 0x17b5;
  if (c >= 0x200b && c <= 0x200f) return true;
  if (c >= 0x2028 && c <= 0x202e) return true;
  if (c >= 0x2060 && c <= 0x2064) return true;
  if (c >= 0x206a && c <= 0x206f) return true;
  if (c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb)) return true;
  if (c >= 0x1d173 && c <= 0x1d17a) return true;
  return c == 0xe0001 || (c >= 0xe0020 && c <= 0xe007f);
}

void AppendU16Escape(uint32_t unit, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const char esc[6] = {'\\',
                       'u',
                       kHex[(unit >> 12) & 0xf],
                       kHex[(unit >> 8) & 0xf],
                       kHex[(unit >> 4) & 0xf],
                       kHex[unit & 0xf]};
  out->append(esc, 6);
}

void AppendCodePointEscape(uint32_t c, std::string* out) {
  if (c < 0x10000) {
    AppendU16Escape(c, out);
    return;
  }
  c -= 0x10000;
  AppendU16Escape(0xd800 + (c >> 10), out);
  AppendU16Escape(0xdc00 + (c & 0x3ff), out);
}

// Decodes the UTF-8 sequence at s[i] (a lead byte >= 0x80); returns its
// length, or 0 when it is not well-formed UTF-8 (overlong, surrogate,
// beyond U+10FFFF, truncated).
size_t DecodeUtf8(absl::string_view s, size_t i, uint32_t* c) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char lead = b(0);
  size_t len;
  uint32_t cp;
  if (lead >= 0xc2 && lead <= 0xdf) {
    len = 2, cp = lead & 0x1f;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    len = 3, cp = lead & 0x0f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    len = 4, cp = lead & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3f);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff)) {
    return 0;
  }
  *c = cp;
  return len;
}

absl::Status AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  size_t run = 0;  // start of the bytes not yet copied
  for (size_t i = 0; i < s.size();) {
    const unsigned char ch = static_cast<unsigned char>(s[i]);
    if (ch >= 0x80) {
      uint32_t cp = 0;
      const size_t len = DecodeUtf8(s, i, &cp);
      if (len == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("a string is not valid UTF-8 (byte ", i, ")"));
      }
      if (EscapedAboveAscii(cp)) {
        out->append(s.data() + run, i - run);
        AppendCodePointEscape(cp, out);
        run = i + len;
      }
      i += len;
      continue;
    }
    const char* named = nullptr;
    switch (ch) {
      case '"':
        named = "\\\"";
        break;
      case '\\':
        named = "\\\\";
        break;
      case '\b':
        named = "\\b";
        break;
      case '\f':
        named = "\\f";
        break;
      case '\n':
        named = "\\n";
        break;
      case '\r':
        named = "\\r";
        break;
      case '\t':
        named = "\\t";
        break;
      default:
        break;
    }
    const bool unicode = named == nullptr && (ch < 0x20 || ch == '<' || ch == '>' || ch == 0x7f);
    if (named != nullptr || unicode) {
      out->append(s.data() + run, i - run);
      if (named != nullptr) {
        out->append(named);
      } else {
        AppendU16Escape(ch, out);
      }
      run = i + 1;
    }
    ++i;
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
  return absl::OkStatus();
}

// protobuf's SimpleDtoa / SimpleFtoa: the shortest of %.{DIG}g and
// %.{DIG+2}g that reads back as the same value.
void AppendDouble(double v, std::string* out) {
  if (std::isnan(v)) {
    out->append("\"NaN\"");
  } else if (std::isinf(v)) {
    out->append(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  } else {
    char buf[40];
    int n = std::snprintf(buf, sizeof buf, "%.*g", DBL_DIG, v);
    if (std::strtod(buf, nullptr) != v) n = std::snprintf(buf, sizeof buf, "%.*g", DBL_DIG + 2, v);
    out->append(buf, static_cast<size_t>(n));
  }
}

void AppendFloat(float v, std::string* out) {
  if (std::isnan(v) || std::isinf(v)) {
    AppendDouble(v, out);
    return;
  }
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "%.*g", FLT_DIG, static_cast<double>(v));
  // Read back as protobuf's safe_strtof does: a range error (a subnormal
  // float) counts as not reading back, so those get 9 digits.
  errno = 0;
  const float parsed = std::strtof(buf, nullptr);
  if (errno != 0 || parsed != v) {
    n = std::snprintf(buf, sizeof buf, "%.*g", FLT_DIG + 3, static_cast<double>(v));
  }
  out->append(buf, static_cast<size_t>(n));
}

// 0, 3, 6 or 9 digits of nanoseconds after a '.', as protobuf's time_util.
void AppendNanos(int32_t nanos, std::string* out) {
  if (nanos == 0) return;
  char buf[16];
  int n;
  if (nanos % 1000000 == 0) {
    n = std::snprintf(buf, sizeof buf, ".%03d", nanos / 1000000);
  } else if (nanos % 1000 == 0) {
    n = std::snprintf(buf, sizeof buf, ".%06d", nanos / 1000);
  } else {
    n = std::snprintf(buf, sizeof buf, ".%09d", nanos);
  }
  out->append(buf, static_cast<size_t>(n));
}

constexpr int64_t kTimestampMinSeconds = -62135596800;  // 0001-01-01T00:00:00Z
constexpr int64_t kTimestampMaxSeconds = 253402300799;  // 9999-12-31T23:59:59Z
constexpr int64_t kDurationMaxSeconds = 315576000000;   // 10 000 years

absl::Status AppendTimestamp(const pb::Message& m, std::string* out) {
  const pb::Reflection* r = m.GetReflection();
  const pb::Descriptor* d = m.GetDescriptor();
  const int64_t seconds = r->GetInt64(m, d->field(0));
  const int32_t nanos = r->GetInt32(m, d->field(1));
  if (seconds < kTimestampMinSeconds || seconds > kTimestampMaxSeconds || nanos < 0 ||
      nanos > 999999999) {
    return absl::InvalidArgumentError(
        absl::StrCat("a Timestamp is out of range (seconds ", seconds, ", nanos ", nanos, ")"));
  }
  const absl::CivilSecond t =
      absl::ToCivilSecond(absl::FromUnixSeconds(seconds), absl::UTCTimeZone());
  char buf[32];
  const int n =
      std::snprintf(buf, sizeof buf, "\"%04d-%02d-%02dT%02d:%02d:%02d", static_cast<int>(t.year()),
                    t.month(), t.day(), t.hour(), t.minute(), t.second());
  out->append(buf, static_cast<size_t>(n));
  AppendNanos(nanos, out);
  out->append("Z\"");
  return absl::OkStatus();
}

absl::Status AppendDuration(const pb::Message& m, std::string* out) {
  const pb::Reflection* r = m.GetReflection();
  const pb::Descriptor* d = m.GetDescriptor();
  const int64_t seconds = r->GetInt64(m, d->field(0));
  const int32_t nanos = r->GetInt32(m, d->field(1));
  if (seconds < -kDurationMaxSeconds || seconds > kDurationMaxSeconds || nanos <= -1000000000 ||
      nanos >= 1000000000 || (seconds < 0 && nanos > 0) || (seconds > 0 && nanos < 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("a Duration is out of range (seconds ", seconds, ", nanos ", nanos, ")"));
  }
  out->push_back('"');
  if (seconds < 0 || nanos < 0) out->push_back('-');
  absl::StrAppend(out, seconds < 0 ? -seconds : seconds);
  AppendNanos(nanos < 0 ? -nanos : nanos, out);
  out->append("s\"");
  return absl::OkStatus();
}

enum class WellKnown { kNone, kTimestamp, kDuration, kEmpty, kWrapper, kUnsupported };

WellKnown Classify(const pb::Descriptor* d) {
  if (d->file()->package() != "google.protobuf") return WellKnown::kNone;
  const std::string& name = d->name();
  if (name == "Timestamp") return WellKnown::kTimestamp;
  if (name == "Duration") return WellKnown::kDuration;
  if (name == "Empty") return WellKnown::kEmpty;
  if (name == "DoubleValue" || name == "FloatValue" || name == "Int64Value" ||
      name == "UInt64Value" || name == "Int32Value" || name == "UInt32Value" ||
      name == "BoolValue" || name == "StringValue" || name == "BytesValue") {
    return WellKnown::kWrapper;
  }
  // Any, Struct, Value, ListValue, FieldMask (its path conversion has rules of
  // its own), ...: no answer of the edge holds them.
  return WellKnown::kUnsupported;
}

absl::Status AppendMessage(const pb::Message& m, std::string* out);

// One value of a singular field (index < 0) or one element of a repeated one.
absl::Status AppendValue(const pb::Message& m, const FD* f, int index, std::string* out) {
  const pb::Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FD::CPPTYPE_INT32:
      absl::StrAppend(out, rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
      return absl::OkStatus();
    case FD::CPPTYPE_UINT32:
      absl::StrAppend(out, rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
      return absl::OkStatus();
    case FD::CPPTYPE_INT64:  // quoted: JavaScript numbers lose precision past 2^53
      absl::StrAppend(out, "\"", rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f), "\"");
      return absl::OkStatus();
    case FD::CPPTYPE_UINT64:
      absl::StrAppend(out, "\"", rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f),
                      "\"");
      return absl::OkStatus();
    case FD::CPPTYPE_DOUBLE:
      AppendDouble(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f), out);
      return absl::OkStatus();
    case FD::CPPTYPE_FLOAT:
      AppendFloat(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f), out);
      return absl::OkStatus();
    case FD::CPPTYPE_BOOL:
      out->append((rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false");
      return absl::OkStatus();
    case FD::CPPTYPE_ENUM: {
      if (f->enum_type()->full_name() == "google.protobuf.NullValue") {
        return absl::UnimplementedError("google.protobuf.NullValue");
      }
      const int number = rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
      const pb::EnumValueDescriptor* v = f->enum_type()->FindValueByNumber(number);
      if (v == nullptr) {
        absl::StrAppend(out, number);  // a value newer than this gateway's descriptors
      } else {
        out->push_back('"');
        out->append(v->name());  // enum names are identifiers: nothing to escape
        out->push_back('"');
      }
      return absl::OkStatus();
    }
    case FD::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = rep ? r->GetRepeatedStringReference(m, f, index, &scratch)
                                 : r->GetStringReference(m, f, &scratch);
      if (f->type() == FD::TYPE_BYTES) {
        out->push_back('"');
        out->append(absl::Base64Escape(s));
        out->push_back('"');
        return absl::OkStatus();
      }
      return AppendJsonString(s, out);
    }
    case FD::CPPTYPE_MESSAGE:
      return AppendMessage(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f), out);
  }
  return absl::InternalError("unknown field type");
}

// The fields of a message type in the order MessageToJsonString prints
// them, computed once per type. Oneofs, proto3 `optional`, maps and
// repeated well-known types are left to MessageToJsonString: no answer of
// the edge has them, so their order would go untested here.
struct WellKnownLast {
  bool supported = true;
  std::string why;
  std::vector<const FD*> fields;
};

WellKnownLast ComputeFieldOrder(const pb::Descriptor* d) {
  WellKnownLast order;
  std::vector<const FD*> last;
  if (d->file()->syntax() != pb::FileDescriptor::SYNTAX_PROTO3) {
    order.supported = false;
    order.why = "not proto3";
    return order;
  }
  if (d->oneof_decl_count() > 0) {
    order.supported = false;
    order.why = "has a oneof or an optional field";
    return order;
  }
  for (int i = 0; i < d->field_count(); ++i) {
    const FD* f = d->field(i);
    if (f->is_map()) {
      order.supported = false;
      order.why = absl::StrCat("map field ", f->name());
      return order;
    }
    const bool well_known =
        f->cpp_type() == FD::CPPTYPE_MESSAGE && Classify(f->message_type()) != WellKnown::kNone;
    if (well_known && f->is_repeated()) {
      order.supported = false;
      order.why = absl::StrCat("repeated well-known type in ", f->name());
      return order;
    }
    (well_known ? last : order.fields).push_back(f);
  }
  std::sort(last.begin(), last.end(),
            [](const FD* a, const FD* b) { return a->number() < b->number(); });
  order.fields.insert(order.fields.end(), last.begin(), last.end());
  return order;
}

// Descriptors live as long as the process; so do their entries (a
// node_hash_map keeps references stable while other types are added).
const WellKnownLast& FieldOrder(const pb::Descriptor* d) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* orders = new absl::node_hash_map<const pb::Descriptor*, WellKnownLast>();
  {
    absl::ReaderMutexLock lock(&mu);
    auto it = orders->find(d);
    if (it != orders->end()) return it->second;
  }
  absl::MutexLock lock(&mu);
  return orders->try_emplace(d, ComputeFieldOrder(d)).first->second;
}

absl::Status AppendField(const pb::Message& m, const FD* f, std::string* out) {
  const pb::Reflection* r = m.GetReflection();
  out->push_back('"');
  out->append(f->json_name());  // lowerCamelCase identifiers: nothing to escape
  out->append("\":");
  if (f->is_repeated()) {
    out->push_back('[');
    for (int i = 0, n = r->FieldSize(m, f); i < n; ++i) {
      if (i > 0) out->push_back(',');
      if (absl::Status s = AppendValue(m, f, i, out); !s.ok()) return s;
    }
    out->push_back(']');
    return absl::OkStatus();
  }
  return AppendValue(m, f, -1, out);
}

absl::Status AppendMessage(const pb::Message& m, std::string* out) {
  const pb::Descriptor* d = m.GetDescriptor();
  switch (Classify(d)) {
    case WellKnown::kNone:
      break;
    case WellKnown::kTimestamp:
      return AppendTimestamp(m, out);
    case WellKnown::kDuration:
      return AppendDuration(m, out);
    case WellKnown::kEmpty:
      out->append("{}");
      return absl::OkStatus();
    case WellKnown::kWrapper:
      return AppendValue(m, d->field(0), -1, out);
    case WellKnown::kUnsupported:
      return absl::UnimplementedError(absl::StrCat(d->full_name(), " is not printed here"));
  }
  const pb::Reflection* r = m.GetReflection();
  // MessageToJsonString's order: declaration order, except that fields of
  // well-known message types (Timestamp, ...) come last, in field number
  // order (its DefaultValueObjectWriter appends them as they arrive).
  const WellKnownLast& order = FieldOrder(d);
  if (!order.supported) {
    return absl::UnimplementedError(absl::StrCat(d->full_name(), ": ", order.why));
  }
  out->push_back('{');
  bool first = true;
  for (const FD* f : order.fields) {
    // Every field without presence is printed (always_print_primitive_fields);
    // a message field only when set.
    if (!f->is_repeated() && f->has_presence() && !r->HasField(m, f)) continue;
    if (!first) out->push_back(',');
    first = false;
    if (absl::Status s = AppendField(m, f, out); !s.ok()) return s;
  }
  out->push_back('}');
  return absl::OkStatus();
}

}  // namespace

absl::Status AppendProtoJson(const google::protobuf::Message& message, std::string* out) {
  return AppendMessage(message, out);
}

}  // namespace tongban::edge
