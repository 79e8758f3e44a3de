#include "process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace tongban {
namespace {

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The fields of /proc/<pid>/stat after "pid (comm)": comm may hold spaces
// and parentheses, so the split starts after the last ')'. fields[0] is
// field 3 of proc(5) (state).
std::optional<std::vector<std::string>> StatFields(const std::string& stat) {
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::vector<std::string> fields =
      absl::StrSplit(absl::string_view(stat).substr(close + 1), ' ', absl::SkipWhitespace());
  if (fields.size() < 22) return std::nullopt;  // up to rss (field 24)
  return fields;
}

// Field `n` (1-based, as proc(5) numbers them) of a split stat line.
std::optional<double> Field(const std::vector<std::string>& fields, int n) {
  double v = 0;
  if (!absl::SimpleAtod(fields[static_cast<size_t>(n - 3)], &v)) return std::nullopt;
  return v;
}

std::optional<double> BootTimeSeconds(const std::string& proc_stat) {
  std::optional<std::string> text = ReadFile(proc_stat);
  if (!text) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (!absl::ConsumePrefix(&line, "btime ")) continue;
    double v = 0;
    if (absl::SimpleAtod(line, &v)) return v;
  }
  return std::nullopt;
}

std::optional<double> OpenFds(const std::string& fd_dir) {
  DIR* dir = opendir(fd_dir.c_str());
  if (dir == nullptr) return std::nullopt;
  // Not counted: the descriptor this listing itself holds (in /proc/self/fd).
  const std::string own = std::to_string(dirfd(dir));
  double n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.' && own != e->d_name) ++n;
  }
  closedir(dir);
  return n;
}

prometheus::MetricFamily Family(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return family;
}

}  // namespace

ProcessMetrics::ProcessMetrics(std::string proc_self, std::string proc_stat)
    : proc_self_(std::move(proc_self)),
      proc_stat_(std::move(proc_stat)),
      ticks_per_second_(sysconf(_SC_CLK_TCK)),
      page_size_(sysconf(_SC_PAGESIZE)) {}

std::vector<prometheus::MetricFamily> ProcessMetrics::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  std::optional<std::string> stat = ReadFile(proc_self_ + "/stat");
  std::optional<std::vector<std::string>> fields;
  if (stat) fields = StatFields(*stat);
  if (fields) {
    const std::optional<double> utime = Field(*fields, 14), stime = Field(*fields, 15),
                                threads = Field(*fields, 20), start = Field(*fields, 22),
                                vsize = Field(*fields, 23), rss = Field(*fields, 24);
    if (utime && stime) {
      out.push_back(Family("process_cpu_seconds_total",
                           "Total user and system CPU time spent in seconds.",
                           MetricType::Counter,
                           (*utime + *stime) / static_cast<double>(ticks_per_second_)));
    }
    if (rss) {
      out.push_back(Family("process_resident_memory_bytes", "Resident memory size in bytes.",
                           MetricType::Gauge, *rss * static_cast<double>(page_size_)));
    }
    if (vsize) {
      out.push_back(Family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                           MetricType::Gauge, *vsize));
    }
    if (threads) {
      out.push_back(Family("process_threads", "Number of OS threads in the process.",
                           MetricType::Gauge, *threads));
    }
    const std::optional<double> boot = BootTimeSeconds(proc_stat_);
    if (start && boot) {
      out.push_back(Family("process_start_time_seconds",
                           "Start time of the process since unix epoch in seconds.",
                           MetricType::Gauge,
                           *boot + *start / static_cast<double>(ticks_per_second_)));
    }
  }
  if (std::optional<double> fds = OpenFds(proc_self_ + "/fd")) {
    out.push_back(Family("process_open_fds", "Number of open file descriptors.",
                         MetricType::Gauge, *fds));
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    out.push_back(Family("process_max_fds", "Maximum number of open file descriptors.",
                         MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
  }
  return out;
}

}  // namespace tongban
