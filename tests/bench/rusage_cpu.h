// CPU time (user + system) used so far by this process or the calling
// thread, from getrusage: what the in-process benchmarks divide by their
// call count.
#pragma once

#include <sys/resource.h>

namespace tongban::bench {

// `who`: RUSAGE_SELF (the whole process) or RUSAGE_THREAD (this thread).
inline double RusageCpuSeconds(int who) {
  rusage r{};
  getrusage(who, &r);
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

}  // namespace tongban::bench
