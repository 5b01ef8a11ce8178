#include "core/result.h"

namespace portico::core {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::ParseError:
      return "ParseError";
    case ErrorKind::Timeout:
      return "Timeout";
    case ErrorKind::ConnectFailed:
      return "ConnectFailed";
    case ErrorKind::Reset:
      return "Reset";
    case ErrorKind::NoRoute:
      return "NoRoute";
    case ErrorKind::NoHealthyTarget:
      return "NoHealthyTarget";
    case ErrorKind::TooLarge:
      return "TooLarge";
    case ErrorKind::TlsHandshake:
      return "TlsHandshake";
    case ErrorKind::StoreFailed:
      return "StoreFailed";
    case ErrorKind::Config:
      return "Config";
    case ErrorKind::Forbidden:
      return "Forbidden";
    case ErrorKind::NotFound:
      return "NotFound";
    case ErrorKind::Internal:
      return "Internal";
  }
  return "Internal";
}

}  // namespace portico::core
