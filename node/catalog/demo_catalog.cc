#include "catalog/demo_catalog.h"
#include "catalog/joint_procedure_rules.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "catalog/joint_procedure_rules.h"
#include "licence_types.h"
#include "province_registry.h"

namespace tongban::node {
namespace {

constexpr char kItemsFile[] = "items.tsv";
constexpr char kMaterialsFile[] = "materials.tsv";
constexpr char kGuidesFile[] = "guides.tsv";
constexpr char kOverridesFile[] = "province_overrides.tsv";
constexpr char kAlliancesFile[] = "alliances.tsv";
// Optional: 多地联办 procedures (a catalog without one has none).
constexpr char kJointFile[] = "joint_procedures.tsv";
// Optional: 电子证照 types that satisfy materials (a catalog without it lists none).
constexpr char kMaterialLicencesFile[] = "material_licences.tsv";
constexpr size_t kMaxReportedErrors = 50;
constexpr int64_t kMaxDays = 365;
constexpr int64_t kMaxFeeFen = 1'000'000'000;  // 10 million yuan

// ---------------------------------------------------------------------------
// Errors: collected, then reported together so an operator fixes all in one pass.

class ErrorList {
 public:
  // `where` is a line number or a comma list of them; empty = the whole file.
  void Add(absl::string_view file, absl::string_view where, absl::string_view message) {
    errors_.push_back(where.empty() ? absl::StrCat(file, ": ", message)
                                    : absl::StrCat(file, ":", where, ": ", message));
  }
  void Add(absl::string_view file, int line, absl::string_view message) {
    Add(file, line > 0 ? std::to_string(line) : std::string(), message);
  }
  bool empty() const { return errors_.empty(); }

  absl::Status ToStatus(const std::string& dir) const {
    std::vector<std::string> shown(errors_.begin(),
                                   errors_.begin() + std::min(errors_.size(), kMaxReportedErrors));
    if (errors_.size() > kMaxReportedErrors) {
      shown.push_back(absl::StrCat("... and ", errors_.size() - kMaxReportedErrors, " more"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "demo catalog in ", dir, " is invalid (", errors_.size(),
        errors_.size() == 1 ? " problem" : " problems", "):\n", absl::StrJoin(shown, "\n")));
  }

 private:
  std::vector<std::string> errors_;
};

// ---------------------------------------------------------------------------
// TSV tables: header row, '#' comment and blank lines skipped, no quoting.

struct Row {
  int line = 0;
  std::vector<std::string> cells;  // trimmed; exactly as many as the header
};

struct Table {
  std::string file;
  std::vector<absl::string_view> header;
  std::vector<Row> rows;
};

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    int extra = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;  // truncated sequence
    for (int k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

// Reads <dir>/<file>; content problems go to `errors`, an unreadable file is NOT_FOUND.
absl::StatusOr<Table> ReadTable(const std::string& dir, const char* file,
                                std::vector<absl::string_view> header, ErrorList& errors) {
  const std::string path = absl::StrCat(dir, "/", file);
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("demo catalog file ", path, " cannot be read"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string content = buffer.str();
  if (content.compare(0, 3, "\xEF\xBB\xBF") == 0) content.erase(0, 3);  // BOM from spreadsheets

  Table table{file, std::move(header), {}};
  bool have_header = false;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!IsValidUtf8(line)) {
      errors.Add(file, line_no, "not valid UTF-8");
      continue;
    }
    const absl::string_view stripped = absl::StripLeadingAsciiWhitespace(line);
    if (stripped.empty() || stripped.front() == '#') continue;
    std::vector<std::string> cells;
    for (absl::string_view cell : absl::StrSplit(line, '\t')) {
      cells.emplace_back(absl::StripAsciiWhitespace(cell));
    }
    if (!have_header) {
      have_header = true;
      if (!std::equal(cells.begin(), cells.end(), table.header.begin(), table.header.end())) {
        errors.Add(file, line_no,
                   absl::StrCat("header must be \"", absl::StrJoin(table.header, "<TAB>"),
                                "\", found \"", absl::StrJoin(cells, "<TAB>"), "\""));
        return table;  // columns unknown: reading rows would only add noise
      }
      continue;
    }
    if (cells.size() > table.header.size()) {
      errors.Add(file, line_no,
                 absl::StrCat(cells.size(), " columns, expected ", table.header.size(),
                              " (a tab inside a value?)"));
      continue;
    }
    cells.resize(table.header.size());  // trailing empty cells may have been trimmed by an editor
    table.rows.push_back(Row{line_no, std::move(cells)});
  }
  if (!have_header) errors.Add(file, 0, "no header row");
  return table;
}

// Typed access to one row's cells; each problem is reported with file, line and column.
class Cells {
 public:
  Cells(const Table& table, const Row& row, ErrorList& errors)
      : table_(table), row_(row), errors_(errors) {}

  bool ok() const { return ok_; }
  const std::string& Raw(size_t col) const { return row_.cells[col]; }

  void Error(absl::string_view message) {
    errors_.Add(table_.file, row_.line, message);
    ok_ = false;
  }
  void ColumnError(size_t col, absl::string_view message) {
    Error(absl::StrCat(table_.header[col], " \"", Raw(col), "\": ", message));
  }

  std::string Text(size_t col) {
    if (Raw(col).empty()) ColumnError(col, "must not be empty");
    return Raw(col);
  }
  bool Flag(size_t col) {
    if (Raw(col) != "0" && Raw(col) != "1") ColumnError(col, "must be 0 or 1");
    return Raw(col) == "1";
  }
  int64_t Number(size_t col, int64_t min, int64_t max) {
    int64_t value = 0;
    if (!absl::SimpleAtoi(Raw(col), &value) || value < min || value > max) {
      ColumnError(col, absl::StrCat("must be a whole number in ", min, "..", max));
    }
    return value;
  }

 private:
  const Table& table_;
  const Row& row_;
  ErrorList& errors_;
  bool ok_ = true;
};

// ---------------------------------------------------------------------------
// Domain formats.

// Item code: 2-letter GB/T 39554.1 type + 8 digits (see catalog.proto Item.item_code).
std::string ItemCodeProblem(absl::string_view code) {
  static const std::set<absl::string_view> kTypes = {"XK", "JF", "QR", "CJ", "JL", "QT", "GG"};
  if (code.size() != 10 || !std::all_of(code.begin() + 2, code.end(), absl::ascii_isdigit)) {
    return "must be a 2-letter type and 8 digits, e.g. GG00020600";
  }
  if (kTypes.count(code.substr(0, 2)) == 0) {
    return "type must be one of XK JF QR CJ JL QT GG";
  }
  return "";
}

// Material id: M01..M99; the baseline uses M01..M08, provinces' extras M09..M99.
bool IsMaterialId(absl::string_view id, int min, int max) {
  int n = 0;
  return id.size() == 3 && id[0] == 'M' && absl::ascii_isdigit(id[1]) &&
         absl::ascii_isdigit(id[2]) && absl::SimpleAtoi(id.substr(1), &n) && n >= min && n <= max;
}

constexpr int kBaselineMaxMaterial = 8;

bool IsMunicipality(absl::string_view code) {
  return code == "110000" || code == "120000" || code == "310000" || code == "500000";
}

// Text of guides may say {province} (广东省) and {厅局} (局 in municipalities, else 厅).
std::string PlaceholderProblem(absl::string_view text) {
  for (size_t open = text.find('{'); open != absl::string_view::npos;
       open = text.find('{', open + 1)) {
    const size_t close = text.find('}', open);
    if (close == absl::string_view::npos) return "has '{' without '}'";
    const absl::string_view name = text.substr(open, close - open + 1);
    if (name != "{province}" && name != "{厅局}") {
      return absl::StrCat("unknown placeholder ", name, " (known: {province} {厅局})");
    }
  }
  return "";
}

std::string Expand(absl::string_view text, const Province& province) {
  return absl::StrReplaceAll(text, {{"{province}", province.name_zh},
                                    {"{厅局}", IsMunicipality(province.code) ? "局" : "厅"}});
}

// Splits "a | b | c"; false when a part is empty or names an unknown placeholder.
bool SplitConditions(absl::string_view value, std::vector<std::string>* out, std::string* problem) {
  out->clear();
  for (absl::string_view part : absl::StrSplit(value, '|')) {
    part = absl::StripAsciiWhitespace(part);
    if (part.empty()) {
      *problem = "has an empty condition (separate conditions with ' | ')";
      return false;
    }
    if (std::string p = PlaceholderProblem(part); !p.empty()) {
      *problem = p;
      return false;
    }
    out->emplace_back(part);
  }
  return true;
}

// Problems of a complete guide; empty when it is consistent.
std::vector<std::string> GuideProblems(const v1::Guide& g) {
  std::vector<std::string> problems;
  if (g.conditions_zh().empty()) problems.push_back("has no acceptance condition");
  if (g.promised_time_limit_days() > g.legal_time_limit_days()) {
    problems.push_back(absl::StrCat("promised_time_limit_days ", g.promised_time_limit_days(),
                                    " > legal_time_limit_days ", g.legal_time_limit_days()));
  }
  std::set<std::string> ids;
  bool any_key = false, any_deficiency = false;
  for (const v1::MaterialRequirement& m : g.materials()) {
    if (!ids.insert(m.material_id()).second) {
      problems.push_back(absl::StrCat("duplicate material id ", m.material_id()));
    }
    if (m.key() && m.deficiency_allowed()) {
      problems.push_back(absl::StrCat("material ", m.material_id(),
                                      " is key and deficiency_allowed: a key material is never "
                                      "容缺-able"));
    }
    any_key |= m.key();
    any_deficiency |= m.deficiency_allowed();
  }
  if (!any_key) problems.push_back("has no key material");
  if (g.deficiency_acceptance()) {
    if (!any_deficiency) {
      problems.push_back("deficiency_acceptance = 1 but no material is deficiency_allowed");
    }
    if (g.supplement_days() < 1 || g.supplement_days() > g.promised_time_limit_days()) {
      problems.push_back(absl::StrCat("supplement_days ", g.supplement_days(),
                                      " must be 1..promised_time_limit_days (",
                                      g.promised_time_limit_days(), ") when 容缺 is allowed"));
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------
// Parsed files.

struct AllianceRec {
  v1::Alliance alliance;
  std::string code_prefix;
};

struct ItemRec {
  v1::Item item;
  int line = 0;
};

// Baseline guide of an item with its baseline materials; placeholders not yet expanded,
// item and province filled per province.
struct BaseGuide {
  v1::Guide guide;
  int line = 0;
};

enum class Field {
  kAdopted,
  kConditions,
  kExtraCondition,
  kLegal,
  kPromised,
  kFee,
  kDepartment,
  kDeficiency,
  kSupplement,
  kExtraMaterial,
  kRemoveMaterial,
  kMaterialKey,
  kMaterialDeficiencyAllowed,
};

struct FieldSpec {
  absl::string_view name;
  Field field;
  bool wildcard_ok;  // may be used with item_code *
};

constexpr FieldSpec kFields[] = {
    {"adopted", Field::kAdopted, false},
    {"conditions", Field::kConditions, false},
    {"extra_condition", Field::kExtraCondition, true},
    {"legal_time_limit_days", Field::kLegal, false},
    {"promised_time_limit_days", Field::kPromised, false},
    {"fee_fen", Field::kFee, true},
    {"department_zh", Field::kDepartment, false},
    {"deficiency_acceptance", Field::kDeficiency, true},
    {"supplement_days", Field::kSupplement, true},
    {"extra_material", Field::kExtraMaterial, false},
    {"remove_material", Field::kRemoveMaterial, false},
    {"material_key", Field::kMaterialKey, false},
    {"material_deficiency_allowed", Field::kMaterialDeficiencyAllowed, false},
};

struct Override {
  int line = 0;
  std::string province;
  std::string item_code;  // "*" = every item the province implements
  Field field = Field::kAdopted;
  // Parsed value; which members are meaningful depends on `field`.
  int64_t number = 0;
  bool flag = false;
  std::string text;
  std::vector<std::string> conditions;
  v1::MaterialRequirement material;  // extra_material; material_id for the other material fields
};

class Loader {
 public:
  explicit Loader(const std::string& dir) : dir_(dir) {}

  absl::StatusOr<DemoCatalog> Load() {
    for (auto read : {&Loader::ReadAlliances, &Loader::ReadItems, &Loader::ReadMaterials,
                      &Loader::ReadGuides, &Loader::ReadOverrides,
                      &Loader::ReadJointProcedures, &Loader::ReadMaterialLicences}) {
      if (absl::Status s = (this->*read)(); !s.ok()) return s;
    }
    CheckCoverage();
    if (!errors_.empty()) return errors_.ToStatus(dir_);  // don't cascade into the guides
    DemoCatalog catalog = Build();
    if (!errors_.empty()) return errors_.ToStatus(dir_);
    return catalog;
  }

 private:
  absl::Status ReadAlliances() {
    absl::StatusOr<Table> t = ReadTable(
        dir_, kAlliancesFile,
        {"alliance_id", "code_prefix", "name_zh", "name_en", "signed", "members"}, errors_);
    if (!t.ok()) return t.status();
    std::set<std::string> prefixes;
    for (const Row& row : t->rows) {
      Cells c(*t, row, errors_);
      AllianceRec rec;
      const std::string id = c.Text(0);
      if (!id.empty() && !std::all_of(id.begin(), id.end(), [](char ch) {
            return absl::ascii_islower(ch) || absl::ascii_isdigit(ch) || ch == '-';
          })) {
        c.ColumnError(0, "must be lower-case letters, digits and '-'");
      }
      rec.alliance.set_alliance_id(id);
      rec.code_prefix = c.Raw(1);
      if (rec.code_prefix.size() != 2 || rec.code_prefix[0] != '9' ||
          !absl::ascii_isdigit(rec.code_prefix[1])) {
        c.ColumnError(1, "must be two digits 90..99");
      } else if (!prefixes.insert(rec.code_prefix).second) {
        c.ColumnError(1, "is already used by another alliance");
      }
      rec.alliance.set_name_zh(c.Text(2));
      rec.alliance.set_name_en(c.Text(3));
      std::set<std::string> members;
      for (absl::string_view m : absl::StrSplit(c.Raw(5), ',')) {
        m = absl::StripAsciiWhitespace(m);
        if (FindProvince(m) == nullptr) {
          c.ColumnError(5, absl::StrCat("\"", m, "\" is not a province code"));
        } else if (!members.insert(std::string(m)).second) {
          c.ColumnError(5, absl::StrCat(m, " is listed twice"));
        } else {
          rec.alliance.add_member_provinces(std::string(m));
        }
      }
      if (members.size() < 2) c.ColumnError(5, "an alliance needs at least 2 member provinces");
      if (alliances_.count(id) != 0) c.ColumnError(0, "is defined twice");
      if (c.ok()) {
        alliance_order_.push_back(id);
        alliances_[id] = std::move(rec);
      }
    }
    return absl::OkStatus();
  }

  absl::Status ReadItems() {
    absl::StatusOr<Table> t =
        ReadTable(dir_, kItemsFile,
                  {"item_code", "name_zh", "name_en", "ministry_zh", "modes", "scope",
                   "alliance_id", "owner_province", "open_to_other_provinces"},
                  errors_);
    if (!t.ok()) return t.status();
    for (const Row& row : t->rows) {
      Cells c(*t, row, errors_);
      ItemRec rec{{}, row.line};
      v1::Item& item = rec.item;
      const std::string code = c.Raw(0);
      if (std::string p = ItemCodeProblem(code); !p.empty()) c.ColumnError(0, p);
      if (auto it = items_.find(code); it != items_.end()) {
        c.ColumnError(0, absl::StrCat("is already defined at line ", it->second.line));
      }
      item.set_item_code(code);
      item.set_name_zh(c.Text(1));
      item.set_name_en(c.Text(2));
      item.set_ministry_zh(c.Text(3));
      std::set<v1::HandlingMode> modes;
      for (absl::string_view m : absl::StrSplit(c.Raw(4), ',')) {
        v1::HandlingMode mode = v1::HANDLING_MODE_UNSPECIFIED;
        if (!v1::HandlingMode_Parse(absl::StrCat("HANDLING_MODE_", absl::StripAsciiWhitespace(m)),
                                    &mode) ||
            mode == v1::HANDLING_MODE_UNSPECIFIED) {
          c.ColumnError(4, absl::StrCat("\"", m,
                                        "\" is not FULLY_ONLINE, ACCEPT_AND_FORWARD or "
                                        "MULTI_PLACE"));
        } else if (!modes.insert(mode).second) {
          c.ColumnError(4, absl::StrCat(m, " is listed twice"));
        } else {
          item.add_modes(mode);
        }
      }
      const std::string& scope = c.Raw(5);
      const std::string& alliance_id = c.Raw(6);
      const std::string& owner = c.Raw(7);
      const std::string prefix = code.size() >= 4 ? code.substr(2, 2) : "";
      if (scope == "NATIONAL") {
        item.set_scope(v1::ITEM_SCOPE_NATIONAL);
        if (prefix != "00") c.ColumnError(0, "a NATIONAL item code has digits 00 after the type");
      } else if (scope == "ALLIANCE") {
        item.set_scope(v1::ITEM_SCOPE_ALLIANCE);
        auto it = alliances_.find(alliance_id);
        if (it == alliances_.end()) {
          c.ColumnError(6, "is not an alliance of alliances.tsv");
        } else if (prefix != it->second.code_prefix) {
          c.ColumnError(0, absl::StrCat("items of alliance ", alliance_id, " have digits ",
                                        it->second.code_prefix, " after the type"));
        }
        item.set_alliance_id(alliance_id);
      } else if (scope == "PROVINCE") {
        item.set_scope(v1::ITEM_SCOPE_PROVINCE);
        if (FindProvince(owner) == nullptr) {
          c.ColumnError(7, "is not a province code");
        } else if (prefix != owner.substr(0, 2)) {
          c.ColumnError(0, absl::StrCat("items of province ", owner, " have digits ",
                                        owner.substr(0, 2), " after the type"));
        }
        item.set_owner_province(owner);
        item.set_open_to_other_provinces(c.Flag(8));
      } else {
        c.ColumnError(5, "must be NATIONAL, ALLIANCE or PROVINCE");
      }
      if (scope != "ALLIANCE" && !alliance_id.empty()) c.ColumnError(6, "only for ALLIANCE items");
      if (scope != "PROVINCE" && !owner.empty()) c.ColumnError(7, "only for PROVINCE items");
      if (scope != "PROVINCE" && !c.Raw(8).empty()) {
        c.ColumnError(8, "only for PROVINCE items (national and alliance items are open)");
      }
      // National and alliance items are fileable from other (member) provinces by definition.
      if (scope != "PROVINCE") item.set_open_to_other_provinces(true);
      if (c.ok()) {
        items_[code] = std::move(rec);
      } else {
        rejected_items_.insert(code);
      }
    }
    return absl::OkStatus();
  }

  // Whether `code` names a good item; reports unknown codes (not those already reported bad).
  bool KnownItem(Cells& c, size_t col) {
    if (items_.count(c.Raw(col)) != 0) return true;
    if (rejected_items_.count(c.Raw(col)) == 0) c.ColumnError(col, "is not an item of items.tsv");
    return false;
  }

  absl::Status ReadMaterials() {
    absl::StatusOr<Table> t = ReadTable(
        dir_, kMaterialsFile,
        {"item_code", "material_id", "name_zh", "name_en", "key", "deficiency_allowed"}, errors_);
    if (!t.ok()) return t.status();
    for (const Row& row : t->rows) {
      Cells c(*t, row, errors_);
      if (!KnownItem(c, 0)) continue;
      auto& list = materials_[c.Raw(0)];
      v1::MaterialRequirement m;
      m.set_material_id(c.Raw(1));
      if (!IsMaterialId(m.material_id(), 1, kBaselineMaxMaterial)) {
        c.ColumnError(1, "must be M01..M08 (M09..M99 are for province overrides)");
      }
      for (const auto& [other, line] : list) {
        if (other.material_id() == m.material_id()) {
          c.ColumnError(1, absl::StrCat("duplicate material id of item ", c.Raw(0),
                                        " (first at line ", line, ")"));
        }
      }
      m.set_name_zh(c.Text(2));
      m.set_name_en(c.Text(3));
      m.set_key(c.Flag(4));
      m.set_deficiency_allowed(c.Flag(5));
      if (m.key() && m.deficiency_allowed()) {
        c.Error("a key material is never deficiency_allowed (容缺-able)");
      }
      if (c.ok()) list.emplace_back(std::move(m), row.line);
    }
    for (const auto& [code, list] : materials_) {
      if (!list.empty() &&
          std::none_of(list.begin(), list.end(), [](const auto& m) { return m.first.key(); })) {
        errors_.Add(kMaterialsFile, list.front().second,
                    absl::StrCat("item ", code, " has no key material"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status ReadGuides() {
    absl::StatusOr<Table> t = ReadTable(
        dir_, kGuidesFile,
        {"item_code", "conditions_zh", "legal_time_limit_days", "promised_time_limit_days",
         "fee_fen", "department_zh", "deficiency_acceptance", "supplement_days"},
        errors_);
    if (!t.ok()) return t.status();
    for (const Row& row : t->rows) {
      Cells c(*t, row, errors_);
      if (!KnownItem(c, 0)) continue;
      const std::string& code = c.Raw(0);
      if (guides_.count(code) != 0) {
        c.ColumnError(0, absl::StrCat("has a guide already at line ", guides_[code].line));
        continue;
      }
      BaseGuide base{{}, row.line};
      v1::Guide& g = base.guide;
      std::vector<std::string> conditions;
      std::string problem;
      if (!SplitConditions(c.Raw(1), &conditions, &problem)) c.ColumnError(1, problem);
      for (std::string& cond : conditions) g.add_conditions_zh(std::move(cond));
      g.set_legal_time_limit_days(static_cast<int32_t>(c.Number(2, 1, kMaxDays)));
      g.set_promised_time_limit_days(static_cast<int32_t>(c.Number(3, 0, kMaxDays)));
      g.set_fee_fen(c.Number(4, 0, kMaxFeeFen));
      g.set_department_zh(c.Text(5));
      if (std::string p = PlaceholderProblem(g.department_zh()); !p.empty()) c.ColumnError(5, p);
      g.set_deficiency_acceptance(c.Flag(6));
      g.set_supplement_days(static_cast<int32_t>(c.Number(7, 0, kMaxDays)));
      if (!c.ok()) continue;
      // Check the baseline with its materials, so a bad baseline is reported once, here.
      for (const auto& [m, line] : materials_[code]) *g.add_materials() = m;
      for (const std::string& p : GuideProblems(g)) c.Error(absl::StrCat(code, ": ", p));
      if (c.ok()) guides_[code] = std::move(base);
    }
    return absl::OkStatus();
  }

  absl::Status ReadOverrides() {
    absl::StatusOr<Table> t = ReadTable(
        dir_, kOverridesFile, {"province_code", "item_code", "field", "value", "why"}, errors_);
    if (!t.ok()) return t.status();
    for (const Row& row : t->rows) {
      Cells c(*t, row, errors_);
      Override o;
      o.line = row.line;
      o.province = c.Raw(0);
      o.item_code = c.Raw(1);
      if (FindProvince(o.province) == nullptr) c.ColumnError(0, "is not a province code");
      if (o.item_code != "*" && !KnownItem(c, 1)) continue;
      const FieldSpec* spec = nullptr;
      for (const FieldSpec& f : kFields) {
        if (f.name == c.Raw(2)) spec = &f;
      }
      if (spec == nullptr) {
        std::vector<absl::string_view> names;
        for (const FieldSpec& f : kFields) names.push_back(f.name);
        c.ColumnError(2, absl::StrCat("is not one of ", absl::StrJoin(names, " ")));
        continue;
      }
      o.field = spec->field;
      if (o.item_code == "*" && !spec->wildcard_ok) {
        c.ColumnError(1, absl::StrCat("* cannot be used with field ", spec->name));
      }
      ParseOverrideValue(c, o);
      c.Text(4);  // every difference says why
      if (c.ok()) overrides_.push_back(std::move(o));
    }
    return absl::OkStatus();
  }

  void ParseOverrideValue(Cells& c, Override& o) {
    constexpr size_t kValue = 3;
    const std::string& value = c.Raw(kValue);
    switch (o.field) {
      case Field::kAdopted:
      case Field::kDeficiency:
        o.flag = c.Flag(kValue);
        break;
      case Field::kLegal:
        o.number = c.Number(kValue, 1, kMaxDays);
        break;
      case Field::kPromised:
      case Field::kSupplement:
        o.number = c.Number(kValue, 0, kMaxDays);
        break;
      case Field::kFee:
        o.number = c.Number(kValue, 0, kMaxFeeFen);
        break;
      case Field::kConditions: {
        std::string problem;
        if (!SplitConditions(value, &o.conditions, &problem)) c.ColumnError(kValue, problem);
        break;
      }
      case Field::kExtraCondition:
      case Field::kDepartment:
        o.text = c.Text(kValue);
        if (std::string p = PlaceholderProblem(value); !p.empty()) c.ColumnError(kValue, p);
        if (o.field == Field::kExtraCondition && value.find('|') != std::string::npos) {
          c.ColumnError(kValue, "holds one condition; use one row per extra condition");
        }
        break;
      case Field::kExtraMaterial: {
        const std::vector<std::string> parts = absl::StrSplit(value, '|');
        if (parts.size() != 5 || !IsMaterialId(parts[0], kBaselineMaxMaterial + 1, 99) ||
            parts[1].empty() || parts[2].empty() || (parts[3] != "0" && parts[3] != "1") ||
            (parts[4] != "0" && parts[4] != "1")) {
          c.ColumnError(kValue, "must be M09..M99|name_zh|name_en|key 0/1|deficiency_allowed 0/1");
          break;
        }
        o.material.set_material_id(parts[0]);
        o.material.set_name_zh(parts[1]);
        o.material.set_name_en(parts[2]);
        o.material.set_key(parts[3] == "1");
        o.material.set_deficiency_allowed(parts[4] == "1");
        if (o.material.key() && o.material.deficiency_allowed()) {
          c.ColumnError(kValue, "a key material is never deficiency_allowed (容缺-able)");
        }
        break;
      }
      case Field::kRemoveMaterial:
      case Field::kMaterialKey:
        if (!IsMaterialId(value, 1, 99)) c.ColumnError(kValue, "must be a material id M01..M99");
        o.material.set_material_id(value);
        break;
      case Field::kMaterialDeficiencyAllowed: {
        const std::vector<std::string> parts = absl::StrSplit(value, '|');
        if (parts.size() != 2 || !IsMaterialId(parts[0], 1, 99) ||
            (parts[1] != "0" && parts[1] != "1")) {
          c.ColumnError(kValue, "must be <material id>|0 or <material id>|1");
          break;
        }
        o.material.set_material_id(parts[0]);
        o.flag = parts[1] == "1";
        break;
      }
    }
  }

  // 多地联办 procedures, one row per step, attached to the item's baseline
  // guide (so every implementing province declares the same steps).
  absl::Status ReadJointProcedures() {
    if (!std::ifstream(absl::StrCat(dir_, "/", kJointFile))) return absl::OkStatus();
    absl::StatusOr<Table> t = ReadTable(
        dir_, kJointFile,
        {"item_code", "step", "stage", "role_id", "role_zh", "role_en", "step_zh", "legal_days",
         "promised_days"},
        errors_);
    if (!t.ok()) return t.status();
    std::map<std::string, std::pair<v1::JointProcedure, int>> procedures;  // with first line
    for (const Row& row : t->rows) {
      Cells c(*t, row, errors_);
      const std::string code = c.Raw(0);
      auto item = items_.find(code);
      if (item == items_.end()) {
        if (rejected_items_.count(code) == 0) c.ColumnError(0, "is not an item of items.tsv");
        continue;
      }
      const auto& modes = item->second.item.modes();
      if (std::find(modes.begin(), modes.end(), v1::HANDLING_MODE_MULTI_PLACE) == modes.end()) {
        c.ColumnError(0, "is not a MULTI_PLACE (多地联办) item in items.tsv");
      }
      auto& [procedure, line] = procedures[code];
      if (line == 0) line = row.line;
      v1::JointStep* step = procedure.add_steps();
      step->set_step(static_cast<int32_t>(c.Number(1, 1, 20)));
      step->set_stage(static_cast<int32_t>(c.Number(2, 1, 20)));
      step->set_role_id(c.Text(3));
      step->set_name_zh(c.Text(6));
      step->set_legal_days(static_cast<int32_t>(c.Number(7, 1, 3650)));
      step->set_promised_days(static_cast<int32_t>(c.Number(8, 1, 3650)));
      bool known = false;
      for (const auto& r : procedure.roles()) {
        if (r.role_id() != step->role_id()) continue;
        known = true;
        if (r.name_zh() != c.Raw(4) || r.name_en() != c.Raw(5)) {
          c.Error(absl::StrCat("role ", r.role_id(), " is named ", r.name_zh(), " / ", r.name_en(),
                               " on an earlier row of ", code));
        }
      }
      if (!known) {
        v1::JointRole* role = procedure.add_roles();
        role->set_role_id(step->role_id());
        role->set_name_zh(c.Text(4));
        role->set_name_en(c.Text(5));
      }
    }
    for (auto& [code, entry] : procedures) {
      for (const std::string& problem : JointProcedureProblems(entry.first)) {
        errors_.Add(kJointFile, entry.second, absl::StrCat(code, ": ", problem));
      }
      auto guide = guides_.find(code);
      if (guide != guides_.end()) *guide->second.guide.mutable_joint_procedure() = entry.first;
    }
    return absl::OkStatus();
  }

  // 电子证照 directory: the licence types that satisfy a material, set on the
  // material of the item's baseline guide (so every implementing province
  // lists them; an override removing the material removes them too).
  absl::Status ReadMaterialLicences() {
    if (!std::ifstream(absl::StrCat(dir_, "/", kMaterialLicencesFile))) return absl::OkStatus();
    absl::StatusOr<Table> t = ReadTable(dir_, kMaterialLicencesFile,
                                        {"item_code", "material_id", "licence_types"}, errors_);
    if (!t.ok()) return t.status();
    const LicenceTypeList& types = LicenceTypeList::National();
    std::map<std::pair<std::string, std::string>, int> seen;  // (item, material) -> line
    for (const Row& row : t->rows) {
      Cells c(*t, row, errors_);
      if (!KnownItem(c, 0)) continue;
      const std::string& code = c.Raw(0);
      const std::string& id = c.Raw(1);
      auto [at, first] = seen.emplace(std::make_pair(code, id), row.line);
      if (!first) {
        c.ColumnError(1, absl::StrCat("is already listed for ", code, " at line ", at->second));
        continue;
      }
      auto guide = guides_.find(code);
      if (guide == guides_.end()) continue;  // its bad guide or materials were reported
      auto* materials = guide->second.guide.mutable_materials();
      auto material =
          std::find_if(materials->begin(), materials->end(),
                       [&](const v1::MaterialRequirement& m) { return m.material_id() == id; });
      if (material == materials->end()) {
        c.ColumnError(1, absl::StrCat("is not a material of ", code, " in materials.tsv"));
        continue;
      }
      std::vector<std::string> codes;
      std::set<std::string> listed;
      if (c.Raw(2).empty()) c.ColumnError(2, "must name at least one licence type");
      for (absl::string_view part : absl::StrSplit(c.Raw(2), ',', absl::SkipEmpty())) {
        const std::string type(absl::StripAsciiWhitespace(part));
        if (types.Find(type) == nullptr) {
          c.ColumnError(2, absl::StrCat(type, " is not a licence type of common/licence_types.tsv"));
        } else if (!listed.insert(type).second) {
          c.ColumnError(2, absl::StrCat(type, " is listed twice"));
        } else {
          codes.push_back(type);
        }
      }
      if (!c.ok()) continue;
      for (std::string& type : codes) material->add_licence_types(std::move(type));
    }
    return absl::OkStatus();
  }

  // Every item needs materials and exactly one guide.
  void CheckCoverage() {
    for (const auto& [code, rec] : items_) {
      if (materials_.count(code) == 0) {
        errors_.Add(kItemsFile, rec.line, absl::StrCat(code, " has no row in materials.tsv"));
      }
      if (guides_.count(code) == 0 && materials_.count(code) != 0) {
        errors_.Add(kItemsFile, rec.line, absl::StrCat(code, " has no valid row in guides.tsv"));
      }
    }
  }

  bool Implements(const std::string& province, const v1::Item& item) const {
    switch (item.scope()) {
      case v1::ITEM_SCOPE_NATIONAL:
        return true;
      case v1::ITEM_SCOPE_ALLIANCE: {
        const auto& members = alliances_.at(item.alliance_id()).alliance.member_provinces();
        return std::find(members.begin(), members.end(), province) != members.end();
      }
      case v1::ITEM_SCOPE_PROVINCE:
        return item.owner_province() == province;
      default:
        return false;
    }
  }

  // Applies one override; false (with `problem`) when it does not fit the guide.
  static bool Apply(const Override& o, const Province& p, v1::Guide& g, std::string* problem) {
    auto materials = g.mutable_materials();
    auto find = [&](const std::string& id) {
      return std::find_if(materials->begin(), materials->end(),
                          [&](const v1::MaterialRequirement& m) { return m.material_id() == id; });
    };
    const std::string& id = o.material.material_id();
    switch (o.field) {
      case Field::kAdopted:
        return true;  // decided before the guide is built
      case Field::kConditions:
        g.clear_conditions_zh();
        for (const std::string& cond : o.conditions) g.add_conditions_zh(Expand(cond, p));
        return true;
      case Field::kExtraCondition:
        g.add_conditions_zh(Expand(o.text, p));
        return true;
      case Field::kLegal:
        g.set_legal_time_limit_days(static_cast<int32_t>(o.number));
        return true;
      case Field::kPromised:
        g.set_promised_time_limit_days(static_cast<int32_t>(o.number));
        return true;
      case Field::kFee:
        g.set_fee_fen(o.number);
        return true;
      case Field::kDepartment:
        g.set_department_zh(Expand(o.text, p));
        return true;
      case Field::kDeficiency:
        g.set_deficiency_acceptance(o.flag);
        return true;
      case Field::kSupplement:
        g.set_supplement_days(static_cast<int32_t>(o.number));
        return true;
      case Field::kExtraMaterial:
        if (find(id) != materials->end()) {
          *problem = absl::StrCat("material id ", id, " is already used by this item");
          return false;
        }
        *materials->Add() = o.material;
        return true;
      default:
        break;
    }
    auto it = find(id);
    if (it == materials->end()) {
      *problem = absl::StrCat("the item has no material ", id);
      return false;
    }
    if (o.field == Field::kRemoveMaterial) {
      materials->erase(it);
    } else if (o.field == Field::kMaterialKey) {
      it->set_key(true);
      it->set_deficiency_allowed(false);
    } else if (o.flag && it->key()) {  // kMaterialDeficiencyAllowed
      *problem = absl::StrCat("material ", id, " is key; a key material is never 容缺-able");
      return false;
    } else {
      it->set_deficiency_allowed(o.flag);
    }
    return true;
  }

  DemoCatalog Build() {
    // Index the overrides: adoption, per (province, item), and per province for "*".
    std::map<std::pair<std::string, std::string>, const Override*> not_adopted;
    std::map<std::pair<std::string, std::string>, std::vector<const Override*>> specific;
    std::map<std::string, std::vector<const Override*>> wildcard;
    for (const Override& o : overrides_) {
      if (o.item_code == "*") {
        wildcard[o.province].push_back(&o);
        continue;
      }
      const v1::Item& item = items_.at(o.item_code).item;
      if (!Implements(o.province, item)) {
        errors_.Add(kOverridesFile, o.line,
                    absl::StrCat("province ", o.province, " does not implement ", o.item_code,
                                 item.scope() == v1::ITEM_SCOPE_ALLIANCE
                                     ? absl::StrCat(" (not a member of ", item.alliance_id(), ")")
                                     : std::string()));
        continue;
      }
      const auto key = std::make_pair(o.province, o.item_code);
      if (o.field == Field::kAdopted) {
        if (o.flag) {
          not_adopted.erase(key);
        } else {
          not_adopted[key] = &o;
        }
      } else {
        specific[key].push_back(&o);
      }
    }
    for (const auto& [key, list] : specific) {
      if (auto it = not_adopted.find(key); it != not_adopted.end()) {
        for (const Override* o : list) {
          errors_.Add(kOverridesFile, o->line,
                      absl::StrCat("province ", key.first, " does not adopt ", key.second,
                                   " (adopted = 0 at line ", it->second->line, ")"));
        }
      }
    }

    DemoCatalog catalog;
    for (const auto& [code, rec] : items_) catalog.items.push_back(rec.item);  // map: code order
    for (const std::string& id : alliance_order_) {
      catalog.alliances.push_back(alliances_.at(id).alliance);
    }
    for (const Province& p : AllProvinces()) {
      const std::string province(p.code);
      for (const auto& [code, rec] : items_) {
        const auto key = std::make_pair(province, code);
        if (!Implements(province, rec.item) || not_adopted.count(key) != 0) continue;
        v1::Guide g = guides_.at(code).guide;
        *g.mutable_item() = rec.item;
        g.set_province_code(province);
        for (std::string& cond : *g.mutable_conditions_zh()) cond = Expand(cond, p);
        g.set_department_zh(Expand(g.department_zh(), p));
        g.set_status(v1::ITEM_STATUS_ACTIVE);
        g.set_version(1);
        g.mutable_updated_at()->set_seconds(kDemoCatalogUpdatedAtUnixSeconds);

        std::vector<const Override*> applied = wildcard[province];
        if (auto it = specific.find(key); it != specific.end()) {
          applied.insert(applied.end(), it->second.begin(), it->second.end());
        }
        std::vector<int> lines;
        for (const Override* o : applied) {
          std::string problem;
          if (!Apply(*o, p, g, &problem)) {
            errors_.Add(kOverridesFile, o->line, absl::StrCat(province, " ", code, ": ", problem));
          }
          lines.push_back(o->line);
        }
        if (lines.empty()) {  // the baseline was checked when guides.tsv was read
          catalog.guides.push_back(std::move(g));
          continue;
        }
        for (const std::string& problem : GuideProblems(g)) {
          errors_.Add(kOverridesFile, absl::StrJoin(lines, ","),
                      absl::StrCat(province, " ", code, " after overrides: ", problem));
        }
        if (!g.deficiency_acceptance()) g.set_supplement_days(0);
        catalog.guides.push_back(std::move(g));
      }
    }
    return catalog;
  }

  const std::string dir_;
  ErrorList errors_;
  std::map<std::string, AllianceRec> alliances_;
  std::vector<std::string> alliance_order_;
  std::map<std::string, ItemRec> items_;  // good items only
  std::set<std::string> rejected_items_;  // defined, but with errors already reported
  std::map<std::string, std::vector<std::pair<v1::MaterialRequirement, int>>> materials_;
  std::map<std::string, BaseGuide> guides_;  // good baselines only, materials included
  std::vector<Override> overrides_;
};

}  // namespace

absl::StatusOr<DemoCatalog> LoadDemoCatalog(const std::string& dir) { return Loader(dir).Load(); }

absl::Status SeedDemoCatalogIfEmpty(const std::string& dir, CatalogStore& store,
                                    std::string* summary) {
  absl::StatusOr<bool> empty = store.IsEmpty();
  if (!empty.ok()) return empty.status();
  if (!*empty) {
    if (summary != nullptr) *summary = "catalog store not empty; demo catalog not seeded";
    return absl::OkStatus();
  }
  absl::StatusOr<DemoCatalog> catalog = LoadDemoCatalog(dir);
  if (!catalog.ok()) return catalog.status();
  // Guides last: IsEmpty() looks at guides, so a crash in between seeds again next time.
  if (absl::Status s = store.PutAlliances(catalog->alliances); !s.ok()) return s;
  if (absl::Status s = store.PutGuides(catalog->guides); !s.ok()) return s;
  if (summary != nullptr) {
    std::set<std::string> provinces;
    for (const v1::Guide& g : catalog->guides) provinces.insert(g.province_code());
    *summary = absl::StrCat("seeded ", catalog->guides.size(), " guides of ", provinces.size(),
                            " provinces, ", catalog->alliances.size(), " alliances");
  }
  return absl::OkStatus();
}

}  // namespace tongban::node
