// logfmt event lines: one line per event, values quoted when they must be.
#include "structured_log.h"

#include <cstdio>
#include <regex>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tongban {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

// The line after the timestamp: " level=... component=... event=... fields\n".
std::string AfterTimestamp(const std::string& line) {
  EXPECT_THAT(line, StartsWith("ts="));
  size_t sp = line.find(' ');
  EXPECT_NE(sp, std::string::npos);
  return line.substr(sp);
}

TEST(StructuredLogTest, LineShape) {
  EventLog log("node");
  const std::string line =
      log.Format("info", "application.submitted", {{"id", "TB-430000-310000-20261125-00000042"}});
  EXPECT_TRUE(
      std::regex_search(line, std::regex(R"(^ts=\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z )")))
      << line;
  EXPECT_EQ(AfterTimestamp(line),
            " level=info component=node event=application.submitted "
            "id=TB-430000-310000-20261125-00000042\n");
}

TEST(StructuredLogTest, PlainValuesAreNotQuoted) {
  EventLog log("gateway");
  const std::string line =
      log.Format("warn", "forward.retry", {{"province", "440000"}, {"attempt", "3"}});
  EXPECT_EQ(AfterTimestamp(line),
            " level=warn component=gateway event=forward.retry province=440000 attempt=3\n");
}

TEST(StructuredLogTest, ValuesWithSpacesQuotesOrEqualsAreQuoted) {
  EventLog log("node");
  const std::string line = log.Format("error", "store.failed",
                                      {{"error", "disk full"},
                                       {"said", "he said \"no\""},
                                       {"expr", "a=b"},
                                       {"empty", ""},
                                       {"path", "C:\\data dir"}});
  EXPECT_EQ(AfterTimestamp(line),
            " level=error component=node event=store.failed error=\"disk full\" "
            "said=\"he said \\\"no\\\"\" expr=\"a=b\" empty=\"\" path=\"C:\\\\data dir\"\n");
}

TEST(StructuredLogTest, Utf8IsWrittenAsIs) {
  EventLog log("node");
  const std::string line = log.Format("info", "item.amended",
                                      {{"item", "社会保障卡申领"}, {"province", "广东省 440000"}});
  EXPECT_THAT(line, HasSubstr(" item=社会保障卡申领"));
  EXPECT_THAT(line, HasSubstr(" province=\"广东省 440000\""));
}

TEST(StructuredLogTest, NewlinesCannotForgeALine) {
  EventLog log("node");
  const std::string line = log.Format(
      "info", "application.submitted",
      {{"note", "ok\nts=2026-01-01T00:00:00.000Z level=error event=forged"}, {"tab", "a\tb"}});
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  EXPECT_THAT(line,
              HasSubstr("note=\"ok\\nts=2026-01-01T00:00:00.000Z level=error event=forged\""));
  EXPECT_THAT(line, HasSubstr("tab=\"a\\tb\""));
  EXPECT_THAT(line, EndsWith("\n"));
}

// Every control byte is escaped, so a value cannot overwrite the line on a
// terminal or inject escape sequences.
TEST(StructuredLogTest, NoRawControlBytesInALine) {
  EventLog log("node");
  const std::string line =
      log.Format("info", "e", {{"v", "ok\rlevel=error"}, {"w", "x\x1b[2Jy"}, {"z", "a\x7f"}});
  for (size_t i = 0; i + 1 < line.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(line[i]);
    EXPECT_TRUE(c >= 0x20 && c != 0x7F) << "raw byte " << int{c} << " at " << i;
  }
}

TEST(StructuredLogTest, WritesWholeLinesToItsFile) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    EventLog log("node", f);
    log.Info("node.started", {{"province", "440000"}});
    log.Warn("forward.retry");
    log.Error("store.failed", {{"error", "disk full"}});
  }
  std::rewind(f);
  std::string all;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) all.append(buf, n);
  std::fclose(f);
  EXPECT_THAT(all, MatchesRegex("ts=[^ ]+ level=info component=node event=node.started "
                                "province=440000\n"
                                "ts=[^ ]+ level=warn component=node event=forward.retry\n"
                                "ts=[^ ]+ level=error component=node event=store.failed "
                                "error=\"disk full\"\n"));
}

}  // namespace
}  // namespace tongban
