// FUZZ_CHECK: a property a fuzz target asserts on every input. On failure it
// prints the condition and aborts, so libFuzzer saves the input as a crash
// and the replay test (replay_main.cc) fails on it. Independent of NDEBUG.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)
