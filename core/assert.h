// PORTICO_CHECK (always on) and PORTICO_ASSERT (debug only): for our own invariants, never for
// what a peer sent.
#pragma once

#include <cstdio>
#include <cstdlib>

#define PORTICO_CHECK(cond)                                                                    \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      std::fprintf(stderr, "portico: check failed: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                            \
    }                                                                                          \
  } while (0)

#ifdef NDEBUG
#define PORTICO_ASSERT(cond) ((void)0)
#else
#define PORTICO_ASSERT(cond) PORTICO_CHECK(cond)
#endif
