// Process log (not the access log): leveled lines to stderr, one write(2) per line so lines from
// worker threads never interleave. Callable from any thread. Never pass secrets.
#pragma once

#include <cstdarg>

namespace portico::core {

enum class LogLevel : int { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace portico::core

#define PORTICO_LOG(level, ...)                                                    \
  do {                                                                             \
    if (static_cast<int>(level) >= static_cast<int>(::portico::core::log_level())) \
      ::portico::core::log(level, __VA_ARGS__);                                    \
  } while (0)
#define PORTICO_DEBUG(...) PORTICO_LOG(::portico::core::LogLevel::Debug, __VA_ARGS__)
#define PORTICO_INFO(...) PORTICO_LOG(::portico::core::LogLevel::Info, __VA_ARGS__)
#define PORTICO_WARN(...) PORTICO_LOG(::portico::core::LogLevel::Warn, __VA_ARGS__)
#define PORTICO_ERROR(...) PORTICO_LOG(::portico::core::LogLevel::Error, __VA_ARGS__)
