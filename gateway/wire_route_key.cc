#include "wire_route_key.h"

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"

namespace tongban::gateway {
namespace {

constexpr int kWireVarint = 0;
constexpr int kWireFixed64 = 1;
constexpr int kWireLength = 2;
constexpr int kWireStartGroup = 3;
constexpr int kWireEndGroup = 4;
constexpr int kWireFixed32 = 5;

// A cursor over wire-format bytes.
class WireReader {
 public:
  explicit WireReader(absl::string_view bytes) : rest_(bytes) {}
  bool done() const { return rest_.empty(); }

  std::optional<uint64_t> Varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (rest_.empty()) return std::nullopt;
      const uint8_t b = static_cast<uint8_t>(rest_.front());
      rest_.remove_prefix(1);
      value |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return value;
    }
    return std::nullopt;  // more than 10 bytes
  }
  bool Skip(size_t n) {
    if (n > rest_.size()) return false;
    rest_.remove_prefix(n);
    return true;
  }
  std::optional<absl::string_view> Bytes(uint64_t n) {
    if (n > rest_.size()) return std::nullopt;
    absl::string_view out = rest_.substr(0, static_cast<size_t>(n));
    rest_.remove_prefix(static_cast<size_t>(n));
    return out;
  }

 private:
  absl::string_view rest_;
};

absl::Status Malformed(const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat("the request is not a valid protobuf message: ", what));
}

// Every occurrence of field `number` (length-delimited) in `message`, in
// order; INVALID_ARGUMENT if the message is malformed or the field has
// another wire type.
absl::Status Occurrences(absl::string_view message, int number,
                         std::vector<absl::string_view>* out) {
  WireReader r(message);
  while (!r.done()) {
    std::optional<uint64_t> tag = r.Varint();
    if (!tag || *tag > 0xffffffffu) return Malformed("a field tag is truncated or too long");
    const uint64_t field = *tag >> 3;
    const int wire = static_cast<int>(*tag & 7);
    if (field == 0) return Malformed("field number 0");
    if (field == static_cast<uint64_t>(number) && wire != kWireLength) {
      return Malformed(
          absl::StrCat("field ", number, " has wire type ", wire, ", not length-delimited"));
    }
    switch (wire) {
      case kWireVarint:
        if (!r.Varint()) return Malformed("a varint is truncated");
        break;
      case kWireFixed64:
        if (!r.Skip(8)) return Malformed("a fixed64 is truncated");
        break;
      case kWireFixed32:
        if (!r.Skip(4)) return Malformed("a fixed32 is truncated");
        break;
      case kWireLength: {
        std::optional<uint64_t> len = r.Varint();
        if (!len) return Malformed("a length is truncated");
        std::optional<absl::string_view> bytes = r.Bytes(*len);
        if (!bytes) return Malformed("a length runs past the end of the message");
        if (field == static_cast<uint64_t>(number)) out->push_back(*bytes);
        break;
      }
      case kWireStartGroup:
      case kWireEndGroup:
        // No tongban message has groups; a proto3 parser keeps them as
        // unknown fields, but a router has no reason to accept them.
        return Malformed("groups are not accepted");
      default:
        return Malformed(absl::StrCat("wire type ", wire));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadStringField(absl::string_view message,
                                            std::initializer_list<int> path) {
  if (path.size() == 0 || path.size() > 100) {
    return absl::InvalidArgumentError("a field path has 1 to 100 field numbers");
  }
  // The messages at the current depth, in wire order: merging them is
  // reading their fields in this order, last one winning.
  std::vector<absl::string_view> level = {message};
  const int* it = path.begin();
  for (; it + 1 != path.end(); ++it) {
    std::vector<absl::string_view> next;
    for (absl::string_view m : level) {
      if (absl::Status s = Occurrences(m, *it, &next); !s.ok()) return s;
    }
    level = std::move(next);
  }
  std::vector<absl::string_view> values;
  for (absl::string_view m : level) {
    if (absl::Status s = Occurrences(m, *it, &values); !s.ok()) return s;
  }
  if (values.empty()) return std::string();
  return std::string(values.back());
}

}  // namespace tongban::gateway
