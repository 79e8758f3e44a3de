#include "store/licence_rows.h"

#include "absl/strings/str_cat.h"

namespace tongban::node {

absl::StatusOr<LicenceRow> MakeLicenceRow(const v1::Licence& licence, absl::string_view what) {
  const v1::LicenceContent& content = licence.content();
  if (content.licence_id().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " has no content.licence_id"));
  }
  LicenceRow row{content.licence_id(), content.holder_id(), content.type_code(),
                 licence.has_revocation(), ""};
  if (!licence.SerializeToString(&row.record)) {
    return absl::InternalError(absl::StrCat("cannot serialize licence ", content.licence_id()));
  }
  return row;
}

absl::StatusOr<v1::Licence> ParseLicence(const std::string& blob, absl::string_view licence_id) {
  v1::Licence licence;
  if (!licence.ParseFromString(blob)) {
    return absl::DataLossError(absl::StrCat("stored licence ", licence_id, " cannot be parsed"));
  }
  return licence;
}

}  // namespace tongban::node
