#include "demo_licences.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tongban::node {
namespace {

constexpr char kFile[] = "licences.tsv";

}  // namespace

absl::StatusOr<std::vector<DemoLicence>> ParseDemoLicences(const std::string& tsv) {
  std::vector<DemoLicence> out;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(tsv, '\n')) {
    ++line_no;
    line = absl::StripSuffix(line, "\r");
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols = absl::StrSplit(line, '\t');
    if (cols.size() != 9) {
      return absl::InvalidArgumentError(absl::StrCat(kFile, ":", line_no, ": ", cols.size(),
                                                     " columns; expected 9"));
    }
    DemoLicence row;
    row.issuing_province = cols[0];
    v1::IssueLicenceRequest& r = row.request;
    r.set_type_code(cols[1]);
    r.set_number(cols[2]);
    r.set_holder_id(cols[3]);
    r.set_holder_name(cols[4]);
    r.set_issuing_authority(cols[5]);
    r.set_valid_from(cols[6]);
    r.set_valid_until(cols[7]);
    for (absl::string_view field : absl::StrSplit(cols[8], ';', absl::SkipEmpty())) {
      std::pair<std::string, std::string> kv = absl::StrSplit(field, absl::MaxSplits('=', 1));
      if (kv.first.empty() || field.find('=') == absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat(kFile, ":", line_no, ": field '", field,
                                                       "' is not name=value"));
      }
      v1::LicenceField* f = r.add_fields();
      f->set_name(kv.first);
      f->set_value(kv.second);
    }
    out.push_back(std::move(row));
  }
  return out;
}

absl::Status SeedDemoLicencesIfEmpty(const std::string& dir, LicenceStore& store,
                                     LicenceRegistry& registry, std::string* summary) {
  absl::StatusOr<bool> empty = store.IsEmpty();
  if (!empty.ok()) return empty.status();
  if (!*empty) return absl::OkStatus();
  std::ifstream in(absl::StrCat(dir, "/", kFile));
  if (!in) return absl::OkStatus();  // optional file: a demo without licences
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::vector<DemoLicence>> rows = ParseDemoLicences(text.str());
  if (!rows.ok()) return rows.status();
  int issued = 0;
  int present = 0;
  for (size_t i = 0; i < rows->size(); ++i) {
    const DemoLicence& row = (*rows)[i];
    if (row.issuing_province != registry.own_province()) continue;
    absl::StatusOr<v1::Licence> licence = registry.Issue(row.request, "demo-seed");
    // Replicas of one province starting together on an empty PostgreSQL
    // register all find it empty and seed the same rows: a row another one
    // issued first is there, which is what seeding wants.
    if (absl::IsAlreadyExists(licence.status())) {
      ++present;
      continue;
    }
    if (!licence.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(kFile, " (", row.request.number(),
                                                     "): ", licence.status().message()));
    }
    ++issued;
  }
  if (summary != nullptr && issued + present > 0) {
    *summary = absl::StrCat("issued ", issued, " demo licences of province ",
                            registry.own_province());
    if (present > 0) absl::StrAppend(summary, " (", present, " issued already)");
  }
  return absl::OkStatus();
}

}  // namespace tongban::node
