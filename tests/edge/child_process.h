// Test helper: runs a program (curl, gzip, node, tongbanctl) without a shell,
// stdin from /dev/null, and collects its stdout and stderr.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace tongban::testing {

struct ProcessResult {
  int exit_code = -1;  // -1: killed by a signal or not started
  bool timed_out = false;
  std::string out;
  std::string err;
  std::string start_error;  // why it could not be started
};

// Runs `argv` (argv[0] looked up on PATH unless it names a path) with this
// process's environment plus `extra_env` ("NAME=value", replacing
// same-named variables); kills it after `timeout`.
ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::vector<std::string>& extra_env = {},
                         std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace tongban::testing
