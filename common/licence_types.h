// The national licence type code list (电子证照类型代码, common/licence_types.tsv,
// compiled in) and the form of a licence holder's id (docs/licences.md).
#pragma once

#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tongban/v1/licence.pb.h"

namespace tongban {
namespace licence_types_internal {

// absl::string_view is not std::string_view in every Abseil build (nor in
// this one), and neither converts to the other. The functions below take
// std::string_view; their template twins take absl::string_view arguments too
// (deduced exactly, so calls with a std::string or a literal stay unambiguous).
template <typename T>
inline constexpr bool kIsAbslView =
    std::is_same_v<T, absl::string_view> && !std::is_same_v<absl::string_view, std::string_view>;

template <typename T>
std::string_view StdView(const T& s) {
  if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return std::string_view(s);
  } else {
    absl::string_view a(s);
    return std::string_view(a.data(), a.size());
  }
}

}  // namespace licence_types_internal

// Licence types by code. Immutable once made; thread-safe to read.
class LicenceTypeList final {
 public:
  // An empty list.
  LicenceTypeList() = default;

  // The shipped list, common/licence_types.tsv (parsed once; empty, with a
  // message on stderr, if the shipped file were malformed, which
  // licence_types_test rules out).
  static const LicenceTypeList& National();

  // Parses the TSV format of common/licence_types.tsv: '#' comment and blank
  // lines, then the header "type_code<TAB>name_zh<TAB>name_en<TAB>holder_kind
  // <TAB>ministry_zh", then one type a line. INVALID_ARGUMENT naming the line
  // number of every problem (up to 20): no or wrong header, not 5 cells, a
  // code not two upper-case letters and two digits, a duplicate code, a
  // holder kind other than person or organization, an empty name or ministry.
  static absl::StatusOr<LicenceTypeList> Parse(std::string_view tsv);

  // The type of `code`, or nullptr.
  const v1::LicenceType* Find(std::string_view code) const;
  template <typename View, std::enable_if_t<licence_types_internal::kIsAbslView<View>, int> = 0>
  const v1::LicenceType* Find(View code) const {
    return Find(std::string_view(code.data(), code.size()));
  }

  // Every type, by type_code.
  const std::vector<v1::LicenceType>& all() const { return types_; }

 private:
  std::vector<v1::LicenceType> types_;  // sorted by type_code
};

// A holder id of the form `kind` requires: a resident identity number
// (GB 11643, common/resident_id.h) for HOLDER_KIND_PERSON, a unified social
// credit code (GB 32100) for HOLDER_KIND_ORGANIZATION. INVALID_ARGUMENT naming
// `field` otherwise (and for HOLDER_KIND_UNSPECIFIED).
absl::Status ValidateHolderId(std::string_view field, v1::HolderKind kind, std::string_view value);
template <typename Field, typename Value,
          std::enable_if_t<licence_types_internal::kIsAbslView<Field> ||
                               licence_types_internal::kIsAbslView<Value>,
                           int> = 0>
absl::Status ValidateHolderId(const Field& field, v1::HolderKind kind, const Value& value) {
  return ValidateHolderId(licence_types_internal::StdView(field), kind,
                          licence_types_internal::StdView(value));
}

// Unified social credit codes (统一社会信用代码, GB 32100-2015): 18 characters
// of 0-9 and the upper-case letters but I, O, S, V, Z, the last a check
// character (weights 1,3,9,27,19,26,16,17,20,29,25,13,8,24,10,30,28, mod 31).
// INVALID_ARGUMENT naming `field` when the length, a character or the check
// character is wrong.
absl::Status ValidateCreditCode(std::string_view field, std::string_view value);
template <typename Field, typename Value,
          std::enable_if_t<licence_types_internal::kIsAbslView<Field> ||
                               licence_types_internal::kIsAbslView<Value>,
                           int> = 0>
absl::Status ValidateCreditCode(const Field& field, const Value& value) {
  return ValidateCreditCode(licence_types_internal::StdView(field),
                            licence_types_internal::StdView(value));
}

// The check character for the first 17 characters of a credit code (for demo
// data and tests); '\0' when `first17` is not 17 characters of the alphabet.
char CreditCodeCheckChar(std::string_view first17);

}  // namespace tongban
