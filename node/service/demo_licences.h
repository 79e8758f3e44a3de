// Demo 电子证照 (node/demo_catalog/licences.tsv): a node issues the rows of
// its own province into an empty licence register at first start, through
// LicenceRegistry::Issue, so each is validated and signed exactly as an
// officer's IssueLicence would be.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "service/licence_registry.h"
#include "store/licence_store.h"
#include "tongban/v1/licence.pb.h"

namespace tongban::node {

// One row of licences.tsv.
struct DemoLicence {
  std::string issuing_province;
  v1::IssueLicenceRequest request;
};

// Parses licences.tsv. INVALID_ARGUMENT naming "licences.tsv:<line>" for a
// row without 9 columns or with a field that is not name=value.
absl::StatusOr<std::vector<DemoLicence>> ParseDemoLicences(const std::string& tsv);

// When `store` is empty and `dir`/licences.tsv exists, issues its rows of
// registry.own_province() (actor "demo-seed"). A row already issued (another
// replica of the province seeding the same empty register) is left as it is;
// any other refusal fails the start with "licences.tsv (<number>): <why>".
// `summary` (may be null) says what happened.
absl::Status SeedDemoLicencesIfEmpty(const std::string& dir, LicenceStore& store,
                                     LicenceRegistry& registry, std::string* summary);

}  // namespace tongban::node
