// The benchmark's output: tables (printed and written as markdown) and the
// targets with their verdicts, collected as the scenarios run.
#pragma once

#include <string>
#include <vector>

namespace tongban::bench {

struct Table {
  std::string title;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> notes;  // printed under the table
};

class Report final {
 public:
  // The table stays valid while the report lives (tables are never removed).
  Table& AddTable(std::string title, std::vector<std::string> header);
  // A target with its measured value and whether it was met.
  void AddTarget(const std::string& target, const std::string& measured, bool met);
  int missed() const { return missed_; }
  int met() const { return met_; }

  // Every table, then the targets table, as GitHub markdown.
  std::string Markdown() const;

 private:
  std::vector<Table> tables_;  // reserve()d, so references stay valid
  std::vector<std::vector<std::string>> targets_;
  int met_ = 0;
  int missed_ = 0;

 public:
  Report() { tables_.reserve(64); }
};

// Fixed decimals ("1234.5"); "–" for a negative (not measured) value.
std::string Fmt(double value, int decimals);
// Thousands separated with a space, no decimals ("12 345").
std::string Count(double value);
// "==> message" on stdout, flushed (progress while the benchmark runs).
void Progress(const std::string& message);

}  // namespace tongban::bench
