// core::Error and core::Result<T>: the one error value type and the expected-like return type used
// by every synchronous call (see ../shared/STYLE.md "How errors travel"). Header-only, no I/O,
// usable from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace portico::core {

enum class ErrorKind : uint8_t {
  ParseError,
  Timeout,
  ConnectFailed,
  Reset,
  NoRoute,
  NoHealthyTarget,
  TooLarge,
  TlsHandshake,
  StoreFailed,
  Config,
  Forbidden,
  NotFound,
  Internal,
};

enum class Side : uint8_t { Downstream, Upstream, Internal };

struct Error {
  ErrorKind kind = ErrorKind::Internal;
  Side side = Side::Internal;
  bool retryable = false;
  // HTTP status a downstream parse error maps to (400, 413, 414, 431, 501, 505); 0 = derive from
  // kind.
  int status = 0;
  std::string detail;

  static Error make(ErrorKind k, Side s, std::string d, bool retry = false) {
    Error e;
    e.kind = k;
    e.side = s;
    e.retryable = retry;
    e.detail = std::move(d);
    return e;
  }
};

const char* error_kind_name(ErrorKind kind);

// Result<T>: either a T or an Error. Result<void> is spelled Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error)
      : err_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return err_; }

 private:
  Error err_;
  bool ok_ = true;
};

}  // namespace portico::core
