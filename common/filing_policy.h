// 无差别受理: may an application for an item handled by province H be filed
// at province A? National items: from anywhere. Alliance items: when both A
// and H are members of the alliance. Province-specific items: at the owner
// province, or anywhere when the owner opened it to other provinces.
// Abolished items: nowhere.
#pragma once

#include "absl/strings/string_view.h"
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "tongban/v1/catalog.pb.h"

namespace tongban {

// OK, or FAILED_PRECONDITION saying why and where the applicant can go instead.
absl::Status CheckFileableFrom(const v1::Guide& handling_guide, absl::string_view accepting_province,
                               const std::vector<v1::Alliance>& alliances);

}  // namespace tongban
