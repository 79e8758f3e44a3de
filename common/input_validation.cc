#include "input_validation.h"

#include "absl/strings/str_cat.h"
#include "province_registry.h"

namespace tongban {
namespace {

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 200;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::string Shown(absl::string_view value) {
  bool cut_short = value.size() > 40;
  if (cut_short) {
    size_t cut = 40;
    while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
    value = value.substr(0, cut);
  }
  std::string out = "\"";
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F || c == '"' || c == '\\') {
      absl::StrAppend(&out, "\\x", absl::Hex(u, absl::kZeroPad2));
    } else {
      out.push_back(c);
    }
  }
  absl::StrAppend(&out, cut_short ? "...\"" : "\"");
  return out;
}

long Utf8Length(absl::string_view s) {
  long count = 0;
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return -1;
    }
    if (i + len > s.size()) return -1;
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return -1;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Reject overlong encodings, surrogates and values past U+10FFFF.
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
    i += len;
    ++count;
  }
  return count;
}

absl::Status ValidateProvinceCode(absl::string_view field, absl::string_view value) {
  if (value.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is required: a GB/T 2260 province code such as \"440000\""));
  }
  if (FindProvince(value) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " ", Shown(value),
                     " is not one of the 31 GB/T 2260 province codes (e.g. \"440000\" for 广东省)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateItemCode(absl::string_view field, absl::string_view value) {
  static constexpr absl::string_view kTypes[] = {"XK", "JF", "QR", "CJ", "JL", "QT", "GG"};
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " ", Shown(value),
        " is not an item code: expected a type (XK JF QR CJ JL QT GG) and 8 digits, e.g. "
        "\"GG00000014\""));
  };
  if (value.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is required: an item code such as \"GG00000014\""));
  }
  if (value.size() != 10) return bad();
  bool known_type = false;
  for (absl::string_view t : kTypes) known_type |= value.substr(0, 2) == t;
  if (!known_type) return bad();
  for (char c : value.substr(2)) {
    if (!IsDigit(c)) return bad();
  }
  return absl::OkStatus();
}

absl::Status ValidateMaterialId(absl::string_view field, absl::string_view value) {
  if (value.size() != 3 || value[0] != 'M' || !IsDigit(value[1]) || !IsDigit(value[2])) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " ", Shown(value), " is not a material id: expected \"M\" and 2 digits, e.g. \"M01\""));
  }
  return absl::OkStatus();
}

absl::Status ValidateText(absl::string_view field, absl::string_view value, size_t max_chars,
                          bool required) {
  if (value.empty()) {
    if (required) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
    return absl::OkStatus();
  }
  long n = Utf8Length(value);
  if (n < 0) return absl::InvalidArgumentError(absl::StrCat(field, " is not valid UTF-8"));
  if (static_cast<size_t>(n) > max_chars) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is too long: ", n, " characters, at most ", max_chars));
  }
  for (size_t i = 0; i < value.size(); ++i) {
    unsigned char u = static_cast<unsigned char>(value[i]);
    // C0 controls (except \n, \t), DEL, and C1 controls U+0080..U+009F (0xC2 0x80..0x9F).
    bool c1 = u == 0xC2 && i + 1 < value.size() &&
              static_cast<unsigned char>(value[i + 1]) >= 0x80 &&
              static_cast<unsigned char>(value[i + 1]) <= 0x9F;
    if ((u < 0x20 && u != '\n' && u != '\t') || u == 0x7F || c1) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " contains a control character at byte ", i));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateIdempotencyKey(absl::string_view field, absl::string_view value) {
  bool ok = value.size() >= 8 && value.size() <= 64;
  for (char c : value) {
    ok &= IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " ", Shown(value), " must be 8 to 64 characters of A-Z a-z 0-9 _ - (e.g. a UUID)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateSha256Hex(absl::string_view field, absl::string_view value) {
  bool ok = value.size() == 64;
  for (char c : value) ok &= IsDigit(c) || (c >= 'a' && c <= 'f');
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " ", Shown(value), " must be a SHA-256 as 64 lowercase hex characters"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePageSize(absl::string_view field, int value, int* out) {
  if (value < 0 || value > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is ", value, ": must be 0 (default ",
                                                   kDefaultPageSize, ") to ", kMaxPageSize));
  }
  *out = value == 0 ? kDefaultPageSize : value;
  return absl::OkStatus();
}

absl::Status ValidateAfterSequence(absl::string_view field, int64_t value) {
  if (value >= 0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field,
                   " must be 0 (the whole history) or the sequence of the last message "
                   "received, not ",
                   value));
}

}  // namespace tongban
