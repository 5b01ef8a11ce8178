// libFuzzer target for the config loader: arbitrary bytes as YAML through load_string, plus the
// duration and size parsers. Must never crash, abort or throw; errors must name the file, and a
// loaded Model must satisfy the invariants the rest of Portico relies on.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/loader.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

void check_model(const portico::config::Model& m) {
  check(!m.listeners.empty());
  check(!m.distributions.empty());
  for (const auto& d : m.distributions) {
    check(!d.origins.empty());
    check(!d.via_host.empty());
    for (const auto& l : d.listeners) check(m.find_listener(l) != nullptr);
    check(d.default_cache_behavior.allowed_methods != 0);
    for (const auto& b : d.cache_behaviors) check(!b.path_pattern.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  portico::core::Result<portico::config::Model> model =
      portico::config::load_string(text, "fuzz.yaml", "/");
  if (model.ok()) {
    check_model(*model);
  } else {
    check(model.error().kind == portico::core::ErrorKind::Config);
    check(model.error().detail.starts_with("fuzz.yaml"));
  }
  if (size < 64) {
    (void)portico::config::parse_duration(text);
    (void)portico::config::parse_size(text);
  }
  return 0;
}
