// Config unit tests: load a YAML text as "t.yaml" and get the Model, or the loader's message (a
// Config error, FILE:LINE:COL: key.path: problem). Test-only.
#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <utility>

#include "config/loader.h"

namespace portico::config::test {

inline Model load_ok(const std::string& yaml, const std::string& base_dir = ".") {
  auto r = load_string(yaml, "t.yaml", base_dir);
  if (!r.ok()) FAIL(r.error().detail);
  return std::move(r).value();
}

inline std::string load_error(const std::string& yaml, const std::string& base_dir = ".") {
  auto r = load_string(yaml, "t.yaml", base_dir);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == core::ErrorKind::Config);
  CHECK(r.error().side == core::Side::Internal);
  return r.error().detail;
}

}  // namespace portico::config::test
