// What the SQLite and PostgreSQL licence stores write and read alike: a
// licence's row (the columns it is listed by, and the whole record) and the
// parse of a stored record.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tongban/v1/licence.pb.h"

namespace tongban::node {

// A licence as its row holds it. Built before the write runs (the write may
// run on a shared writer thread, or more than once on a retried
// transaction), so serializing happens outside it.
struct LicenceRow {
  std::string licence_id;
  std::string holder_id;
  std::string type_code;
  bool revoked = false;
  std::string record;  // serialized v1::Licence
};

// INVALID_ARGUMENT naming `what` when the licence has no id.
absl::StatusOr<LicenceRow> MakeLicenceRow(const v1::Licence& licence, absl::string_view what);

// DATA_LOSS naming the licence when the stored record cannot be parsed.
absl::StatusOr<v1::Licence> ParseLicence(const std::string& blob, absl::string_view licence_id);

}  // namespace tongban::node
