#include "filing_policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tongban {

absl::Status CheckFileableFrom(const v1::Guide& guide, absl::string_view accepting,
                               const std::vector<v1::Alliance>& alliances) {
  const v1::Item& item = guide.item();
  const std::string& handling = guide.province_code();
  if (guide.status() == v1::ITEM_STATUS_ABOLISHED) {
    return absl::FailedPreconditionError(absl::StrCat("item ", item.item_code(), " ", item.name_zh(),
                                                      " was abolished at province ", handling,
                                                      " (guide version ", guide.version(), ")"));
  }
  switch (item.scope()) {
    case v1::ITEM_SCOPE_NATIONAL:
      return absl::OkStatus();
    case v1::ITEM_SCOPE_ALLIANCE: {
      auto it = std::find_if(alliances.begin(), alliances.end(), [&](const v1::Alliance& a) {
        return a.alliance_id() == item.alliance_id();
      });
      if (it == alliances.end()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "item ", item.item_code(), " belongs to alliance ", item.alliance_id(),
            ", which this node does not know"));
      }
      const auto& members = it->member_provinces();
      bool a_in = std::find(members.begin(), members.end(), accepting) != members.end();
      bool h_in = std::find(members.begin(), members.end(), handling) != members.end();
      if (a_in && h_in) return absl::OkStatus();
      return absl::FailedPreconditionError(absl::StrCat(
          "item ", item.item_code(), " ", item.name_zh(), " is on the list of alliance ",
          it->alliance_id(), " ", it->name_zh(), " (members ", absl::StrJoin(members, ", "),
          "); province ", a_in ? handling : std::string(accepting),
          " is not a member: file it at a member province's window"));
    }
    case v1::ITEM_SCOPE_PROVINCE:
      if (accepting == item.owner_province() || item.open_to_other_provinces()) {
        return absl::OkStatus();
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "item ", item.item_code(), " ", item.name_zh(), " is a province-specific item of ",
          item.owner_province(), " that is not open to other provinces: file it at ",
          item.owner_province(), "'s window"));
    default:
      return absl::FailedPreconditionError(
          absl::StrCat("item ", item.item_code(), " has no scope in the catalog"));
  }
}

}  // namespace tongban
