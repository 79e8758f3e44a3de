// The 31 provincial-level divisions of the federation (GB/T 2260 codes).
#pragma once

#include "absl/strings/string_view.h"
#include <string>
#include <string_view>
#include <vector>

namespace tongban {

struct Province {
  absl::string_view code;     // "440000"
  absl::string_view name_zh;  // "广东省"
  absl::string_view name_en;  // "Guangdong"
};

// All 31, in code order.
const std::vector<Province>& AllProvinces();

// nullptr when `code` is not one of the 31.
const Province* FindProvince(absl::string_view code);

}  // namespace tongban
