// FUZZ_CHECK(cond): a property a fuzz target asserts; prints where and what failed, then aborts
// (libFuzzer keeps the input as a crash, the corpus replayer exits non-zero).
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (false)
