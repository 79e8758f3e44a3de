// common/process_metrics: the standard process_* series, from a fake /proc
// (parsing, absent series) and from this process's own (values move).
#include "process_metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "gtest/gtest.h"

namespace tongban {
namespace {

std::map<std::string, double> Values(const ProcessMetrics& m) {
  std::map<std::string, double> out;
  for (const prometheus::MetricFamily& f : m.Collect()) {
    EXPECT_EQ(f.metric.size(), 1u) << f.name;
    out[f.name] = f.type == prometheus::MetricType::Counter ? f.metric[0].counter.value
                                                            : f.metric[0].gauge.value;
  }
  return out;
}

class FakeProc : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("process-metrics-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "self" / "fd");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::string Self() const { return (dir_ / "self").string(); }
  std::string Stat() const { return (dir_ / "stat").string(); }

  std::filesystem::path dir_;
};

TEST_F(FakeProc, ReadsEveryFieldEvenWithAParenthesisedCommandName) {
  // proc(5): utime 14, stime 15, num_threads 20, starttime 22, vsize 23, rss 24.
  Write("self/stat",
        "4242 (tongban (node) x) S 1 4242 4242 0 -1 4194560 500 0 0 0 "
        "250 150 0 0 20 0 7 0 1000 123456789 300 18446744073709551615\n");
  Write("stat", "cpu  1 2 3\nbtime 1764900000\nprocesses 9\n");
  for (const char* fd : {"0", "1", "2"}) Write(std::string("self/fd/") + fd, "");
  const long tck = sysconf(_SC_CLK_TCK);
  const long page = sysconf(_SC_PAGESIZE);

  std::map<std::string, double> v = Values(ProcessMetrics(Self(), Stat()));
  EXPECT_DOUBLE_EQ(v["process_cpu_seconds_total"], 400.0 / static_cast<double>(tck));
  EXPECT_DOUBLE_EQ(v["process_threads"], 7);
  EXPECT_DOUBLE_EQ(v["process_start_time_seconds"],
                   1764900000 + 1000.0 / static_cast<double>(tck));
  EXPECT_DOUBLE_EQ(v["process_virtual_memory_bytes"], 123456789);
  EXPECT_DOUBLE_EQ(v["process_resident_memory_bytes"], 300.0 * static_cast<double>(page));
  EXPECT_DOUBLE_EQ(v["process_open_fds"], 3);
  EXPECT_GT(v["process_max_fds"], 0);
}

TEST_F(FakeProc, UnreadableFilesLeaveTheirSeriesOut) {
  Write("self/stat", "4242 (truncated) S 1 2 3\n");  // too few fields
  std::map<std::string, double> v = Values(ProcessMetrics(Self(), Stat()));
  EXPECT_EQ(v.count("process_cpu_seconds_total"), 0u);
  EXPECT_EQ(v.count("process_resident_memory_bytes"), 0u);
  EXPECT_EQ(v.count("process_start_time_seconds"), 0u);
  EXPECT_EQ(v["process_open_fds"], 0);  // the fd directory is there, empty

  // A good stat line but no btime: start time alone is left out.
  Write("self/stat",
        "1 (a) S 1 1 1 0 -1 0 0 0 0 0 10 10 0 0 20 0 1 0 5 1000 10 0\n");
  v = Values(ProcessMetrics(Self(), Stat()));
  EXPECT_EQ(v.count("process_start_time_seconds"), 0u);
  EXPECT_EQ(v.count("process_cpu_seconds_total"), 1u);
}

// This process: CPU grows with work, open fds follow opens, start time is
// in the past and not before boot.
TEST(ProcessMetricsTest, OwnProcessValuesMove) {
  ProcessMetrics metrics;
  std::map<std::string, double> before = Values(metrics);
  ASSERT_EQ(before.size(), 7u);
  EXPECT_GT(before["process_resident_memory_bytes"], 1e6);
  EXPECT_GE(before["process_threads"], 1);
  const double now = static_cast<double>(
      std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  EXPECT_LE(before["process_start_time_seconds"], now + 1);
  EXPECT_GT(before["process_start_time_seconds"], now - 24 * 3600 * 365);

  int fds[10];
  for (int& fd : fds) fd = open("/dev/null", O_RDONLY);
  volatile double sink = 0;
  const double cpu_before = before["process_cpu_seconds_total"];
  // Work until the kernel has charged this process at least two more ticks.
  while (Values(metrics)["process_cpu_seconds_total"] < cpu_before + 0.02) {
    for (int i = 0; i < 1000000; ++i) sink = sink + i * 0.5;
  }
  std::map<std::string, double> after = Values(metrics);
  EXPECT_EQ(after["process_open_fds"], before["process_open_fds"] + 10);
  for (int fd : fds) close(fd);
  EXPECT_EQ(Values(metrics)["process_open_fds"], before["process_open_fds"]);
}

}  // namespace
}  // namespace tongban
