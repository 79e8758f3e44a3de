#include "bench_report.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace tongban::bench {

Table& Report::AddTable(std::string title, std::vector<std::string> header) {
  tables_.push_back(Table{std::move(title), std::move(header), {}, {}});
  return tables_.back();
}

void Report::AddTarget(const std::string& target, const std::string& measured, bool met) {
  targets_.push_back({target, measured, met ? "met" : "**missed**"});
  (met ? met_ : missed_)++;
}

std::string Report::Markdown() const {
  std::string out;
  auto row = [](const std::vector<std::string>& cells) {
    return absl::StrCat("| ", absl::StrJoin(cells, " | "), " |\n");
  };
  auto rule = [](size_t n) {
    std::string s = "|";
    for (size_t i = 0; i < n; ++i) s += " --- |";
    return s + "\n";
  };
  for (const Table& t : tables_) {
    absl::StrAppend(&out, "#### ", t.title, "\n", row(t.header), rule(t.header.size()));
    for (const auto& r : t.rows) out += row(r);
    for (const auto& n : t.notes) absl::StrAppend(&out, "\n", n, "\n");
    out += "\n";
  }
  absl::StrAppend(&out, "#### Targets (", met_, " met, ", missed_, " missed)\n",
                  row({"target", "measured", "verdict"}), rule(3));
  for (const auto& t : targets_) out += row(t);
  return out;
}

std::string Fmt(double value, int decimals) {
  if (value < 0 || std::isnan(value)) return "–";
  if (std::isinf(value)) return "∞";
  return absl::StrFormat("%.*f", decimals, value);
}

std::string Count(double value) {
  if (value < 0) return "–";
  std::string digits = absl::StrFormat("%.0f", value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += " ";
    out += digits[i];
  }
  return out;
}

void Progress(const std::string& message) {
  std::printf("==> %s\n", message.c_str());
  std::fflush(stdout);
}

}  // namespace tongban::bench
