#include "resident_id.h"

#include "absl/strings/str_cat.h"

namespace tongban {

char ResidentIdCheckChar(absl::string_view first17) {
  static constexpr int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static constexpr char kCheck[11] = {'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};
  if (first17.size() < 17) return '\0';
  int sum = 0;
  for (int i = 0; i < 17; ++i) {
    if (first17[i] < '0' || first17[i] > '9') return '\0';
    sum += (first17[i] - '0') * kWeights[i];
  }
  return kCheck[sum % 11];
}

std::string MakeResidentId(absl::string_view first17) {
  return absl::StrCat(first17, std::string(1, ResidentIdCheckChar(first17)));
}

absl::Status ValidateResidentId(absl::string_view field, absl::string_view value) {
  bool shape = value.size() == 18;
  for (size_t i = 0; shape && i < 17; ++i) shape = value[i] >= '0' && value[i] <= '9';
  if (shape) shape = (value[17] >= '0' && value[17] <= '9') || value[17] == 'X';
  if (!shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " must be an 18-character resident id number (17 digits and a digit or X)"));
  }
  if (ResidentIdCheckChar(value.substr(0, 17)) != value[17]) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " has a wrong check character: the last character of this number should be ",
        std::string(1, ResidentIdCheckChar(value.substr(0, 17)))));
  }
  return absl::OkStatus();
}

}  // namespace tongban
