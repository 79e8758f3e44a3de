#include "licence_types.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "resident_id.h"

namespace tongban {
namespace internal {
// licence_types_data.cc, generated from common/licence_types.tsv.
extern const char kNationalLicenceTypesTsv[];
}  // namespace internal

namespace {

constexpr size_t kMaxErrors = 20;
constexpr char kHeader[] = "type_code<TAB>name_zh<TAB>name_en<TAB>holder_kind<TAB>ministry_zh";

// absl::string_view is not std::string_view in this Abseil build.
absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Two upper-case letters and two digits.
bool IsTypeCode(absl::string_view code) {
  return code.size() == 4 && absl::ascii_isupper(static_cast<unsigned char>(code[0])) &&
         absl::ascii_isupper(static_cast<unsigned char>(code[1])) &&
         absl::ascii_isdigit(static_cast<unsigned char>(code[2])) &&
         absl::ascii_isdigit(static_cast<unsigned char>(code[3]));
}

// GB 32100-2015: the 31 characters of a credit code, in value order.
constexpr std::string_view kCreditAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY";
constexpr int kCreditWeights[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};

int CreditValue(char c) {
  size_t i = kCreditAlphabet.find(c);
  return i == std::string_view::npos ? -1 : static_cast<int>(i);
}

}  // namespace

absl::StatusOr<LicenceTypeList> LicenceTypeList::Parse(std::string_view tsv) {
  LicenceTypeList list;
  std::vector<std::string> errors;
  auto error = [&](int line, absl::string_view what) {
    if (errors.size() < kMaxErrors) errors.push_back(absl::StrCat("line ", line, ": ", what));
  };
  absl::string_view text(tsv.data(), tsv.size());
  absl::ConsumePrefix(&text, "\xEF\xBB\xBF");  // a BOM, as spreadsheets write
  std::map<std::string, int, std::less<>> line_of_code;
  bool header_seen = false;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    absl::ConsumeSuffix(&line, "\r");
    if (absl::StripAsciiWhitespace(line).empty() || absl::StartsWith(line, "#")) continue;
    std::vector<absl::string_view> cells = absl::StrSplit(line, '\t');
    for (absl::string_view& c : cells) c = absl::StripAsciiWhitespace(c);
    if (!header_seen) {
      header_seen = true;
      if (cells != std::vector<absl::string_view>{"type_code", "name_zh", "name_en", "holder_kind",
                                                  "ministry_zh"}) {
        error(line_no, absl::StrCat("the header must be: ", kHeader));
        break;
      }
      continue;
    }
    if (cells.size() != 5) {
      error(line_no, absl::StrCat(cells.size(), cells.size() == 1 ? " cell" : " cells",
                                  ", a type has 5 (", kHeader, ")"));
      continue;
    }
    v1::LicenceType type;
    type.set_type_code(std::string(cells[0]));
    type.set_name_zh(std::string(cells[1]));
    type.set_name_en(std::string(cells[2]));
    type.set_ministry_zh(std::string(cells[4]));
    bool ok = true;
    if (!IsTypeCode(cells[0])) {
      error(line_no, absl::StrCat("type code \"", absl::Utf8SafeCHexEscape(cells[0]),
                                  "\" is not two upper-case letters and two digits (e.g. MZ01)"));
      ok = false;
    }
    if (cells[3] == "person") {
      type.set_holder_kind(v1::HOLDER_KIND_PERSON);
    } else if (cells[3] == "organization") {
      type.set_holder_kind(v1::HOLDER_KIND_ORGANIZATION);
    } else {
      error(line_no, absl::StrCat("holder kind \"", absl::Utf8SafeCHexEscape(cells[3]),
                                  "\" is neither person nor organization"));
      ok = false;
    }
    for (auto [cell, name] : {std::pair{cells[1], "name_zh"}, std::pair{cells[2], "name_en"},
                              std::pair{cells[4], "ministry_zh"}}) {
      if (cell.empty()) {
        error(line_no, absl::StrCat(name, " is empty"));
        ok = false;
      }
    }
    if (!ok) continue;
    auto [it, inserted] = line_of_code.emplace(type.type_code(), line_no);
    if (!inserted) {
      error(line_no, absl::StrCat("type code ", type.type_code(),
                                  " is listed twice (first on line ", it->second, ")"));
      continue;
    }
    list.types_.push_back(std::move(type));
  }
  if (!header_seen) error(line_no, absl::StrCat("no header line (", kHeader, ")"));
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "licence type list is invalid (", errors.size(),
        errors.size() == 1 ? " problem): " : " problems): ", absl::StrJoin(errors, "; ")));
  }
  std::sort(list.types_.begin(), list.types_.end(),
            [](const v1::LicenceType& a, const v1::LicenceType& b) {
              return a.type_code() < b.type_code();
            });
  return list;
}

const LicenceTypeList& LicenceTypeList::National() {
  static const LicenceTypeList* const national = [] {
    absl::StatusOr<LicenceTypeList> list = Parse(internal::kNationalLicenceTypesTsv);
    if (!list.ok()) {
      std::fprintf(stderr, "licence types: common/licence_types.tsv not used: %s\n",
                   std::string(list.status().message()).c_str());
      return new LicenceTypeList();
    }
    return new LicenceTypeList(*std::move(list));
  }();
  return *national;
}

const v1::LicenceType* LicenceTypeList::Find(std::string_view code) const {
  auto it = std::lower_bound(types_.begin(), types_.end(), code,
                             [](const v1::LicenceType& t, std::string_view c) {
                               return std::string_view(t.type_code()) < c;
                             });
  return it != types_.end() && it->type_code() == code ? &*it : nullptr;
}

char CreditCodeCheckChar(std::string_view first17) {
  if (first17.size() != 17) return '\0';
  int sum = 0;
  for (int i = 0; i < 17; ++i) {
    int v = CreditValue(first17[i]);
    if (v < 0) return '\0';
    sum += v * kCreditWeights[i];
  }
  return kCreditAlphabet[(31 - sum % 31) % 31];
}

absl::Status ValidateCreditCode(std::string_view field, std::string_view value) {
  bool shape = value.size() == 18 &&
               std::all_of(value.begin(), value.end(), [](char c) { return CreditValue(c) >= 0; });
  if (!shape) {
    return absl::InvalidArgumentError(
        absl::StrCat(AbslView(field),
                     " must be an 18-character unified social credit code (digits and upper-case "
                     "letters but I, O, S, V, Z)"));
  }
  char check = CreditCodeCheckChar(value.substr(0, 17));
  if (check != value[17]) {
    return absl::InvalidArgumentError(absl::StrCat(
        AbslView(field), " has a wrong check character: the last character of this code should be ",
        std::string(1, check)));
  }
  return absl::OkStatus();
}

absl::Status ValidateHolderId(std::string_view field, v1::HolderKind kind, std::string_view value) {
  switch (kind) {
    case v1::HOLDER_KIND_PERSON:
      return ValidateResidentId(AbslView(field), AbslView(value));
    case v1::HOLDER_KIND_ORGANIZATION:
      return ValidateCreditCode(field, value);
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          AbslView(field), ": the holder kind is not set, so the form of the id is unknown"));
  }
}

}  // namespace tongban
