#include "config/loader.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <system_error>

#include "config/certificate_reader.h"
#include "config/distribution_reader.h"
#include "config/load_balancer_reader.h"
#include "config/policy_reader.h"
#include "config/values.h"
#include "config/yaml_reader.h"

namespace portico::config {
namespace {

using detail::Diagnostics;
using detail::Field;
using detail::MapReader;

constexpr Duration kMaxServerTimeout = std::chrono::hours(24);
constexpr int64_t kMaxWorkers = 256;
constexpr int64_t kMaxConnections = 10'000'000;
constexpr uint64_t kMaxU32 = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

// Reads an address field into host/port; false (after reporting) when it does not parse.
bool read_address(Diagnostics& diag, const Field& f, std::string& host, uint16_t& port) {
  std::string text;
  if (!detail::read_nonempty_string(diag, f, text) || !f.present) return false;
  core::Result<detail::HostPort> hp = detail::parse_listen_address(text);
  if (!hp.ok()) {
    diag.error(f.mark, f.path, hp.error().detail);
    return false;
  }
  host = hp->host;
  port = hp->port;
  return true;
}

std::string show_address(const std::string& host, uint16_t port) {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

void read_server(Diagnostics& diag, const Field& f, Server& s) {
  MapReader r(diag, f,
              {"workers", "max_connections", "client_header_timeout", "client_body_timeout",
               "idle_timeout", "shutdown_timeout", "max_request_line_bytes", "max_header_bytes",
               "max_header_count", "max_body_bytes", "pop"});
  constexpr Duration kMin{1};
  detail::read_int_as(diag, r.get("workers"), 0, kMaxWorkers, s.workers);
  detail::read_int_as(diag, r.get("max_connections"), 1, kMaxConnections, s.max_connections);
  detail::read_duration(diag, r.get("client_header_timeout"), kMin, kMaxServerTimeout,
                        s.client_header_timeout);
  detail::read_duration(diag, r.get("client_body_timeout"), kMin, kMaxServerTimeout,
                        s.client_body_timeout);
  detail::read_duration(diag, r.get("idle_timeout"), kMin, kMaxServerTimeout, s.idle_timeout);
  detail::read_duration(diag, r.get("shutdown_timeout"), Duration{0}, kMaxServerTimeout,
                        s.shutdown_timeout);
  detail::read_size_as(diag, r.get("max_request_line_bytes"), 1, kMaxU32, s.max_request_line_bytes);
  detail::read_size_as(diag, r.get("max_header_bytes"), 1, kMaxU32, s.max_header_bytes);
  detail::read_int_as(diag, r.get("max_header_count"), 1, static_cast<int64_t>(kMaxU32),
                      s.max_header_count);
  detail::read_size(diag, r.get("max_body_bytes"), 0, kMaxU64, s.max_body_bytes);
  Field pop = r.get("pop");
  auto pop_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
  };
  if (detail::read_nonempty_string(diag, pop, s.pop) &&
      !std::all_of(s.pop.begin(), s.pop.end(), pop_char)) {
    diag.error(pop.mark, pop.path,
               "must be letters, digits and '-' (e.g. LOCAL1-P1), got " + detail::quote(s.pop));
  }
}

void read_listeners(Diagnostics& diag, const Field& f, Model& model) {
  std::vector<Field> items = detail::list_items(diag, f);
  if (f.present && items.empty()) diag.error(f.mark, f.path, "must list at least one listener");
  for (const Field& item : items) {
    MapReader r(
        diag, item,
        {"name", "address", "protocol", "certificates", "ssl_policy", "http2", "unknown_sni"});
    Listener l;
    l.loc = diag.loc(item.mark);
    Field name = r.require("name");
    detail::read_nonempty_string(diag, name, l.name);
    Field address = r.require("address");
    bool address_ok = read_address(diag, address, l.host, l.port);
    detail::read_listener_protocol(diag, r, model, /*load_balancer=*/false, l);
    for (const Listener& other : model.listeners) {
      if (!l.name.empty() && other.name == l.name) {
        diag.error(name.mark, name.path,
                   "duplicate listener name " + detail::quote(l.name) + " (first defined at line " +
                       std::to_string(other.loc.line) + ")");
      }
      if (address_ok && l.port != 0 && other.port == l.port && other.host == l.host) {
        diag.error(address.mark, address.path,
                   "address " + show_address(l.host, l.port) + " is already used by listener " +
                       detail::quote(other.name));
      }
    }
    model.listeners.push_back(std::move(l));
  }
}

void read_admin(Diagnostics& diag, const Field& f, Model& model) {
  if (!f.present) return;
  Admin& admin = model.admin;
  admin.enabled = true;
  admin.loc = diag.loc(f.mark);
  MapReader r(diag, f, {"enabled", "address", "token_env"});
  detail::read_bool(diag, r.get("enabled"), admin.enabled);
  Field address = r.get("address");
  if (address.present && !read_address(diag, address, admin.host, admin.port)) return;
  Field token_env = r.get("token_env");
  auto env_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  if (detail::read_nonempty_string(diag, token_env, admin.token_env) &&
      (!std::all_of(admin.token_env.begin(), admin.token_env.end(), env_char) ||
       (admin.token_env[0] >= '0' && admin.token_env[0] <= '9'))) {
    diag.error(token_env.mark, token_env.path,
               "must be an environment variable name, got " + detail::quote(admin.token_env));
  }
  if (!admin.enabled) return;
  const YAML::Mark& where = address.present ? address.mark : f.mark;
  for (const Listener& l : model.listeners) {
    if (admin.port != 0 && l.port == admin.port && l.host == admin.host) {
      diag.error(where, address.path,
                 "address " + show_address(admin.host, admin.port) +
                     " is already used by listener " + detail::quote(l.name));
    }
  }
  if (!detail::is_loopback_host(admin.host)) {
    diag.warn(where, address.path,
              "admin address " + show_address(admin.host, admin.port) +
                  " is not loopback: anyone who can reach it can read stats");
  }
}

void read_access_log(Diagnostics& diag, const Field& f, const std::string& base_dir,
                     AccessLog& log) {
  if (!f.present) return;
  log.enabled = true;
  MapReader r(diag, f, {"enabled", "path"});
  detail::read_bool(diag, r.get("enabled"), log.enabled);
  Field path = r.get("path");
  if (detail::read_nonempty_string(diag, path, log.path) && log.path != "-") {
    std::filesystem::path p(log.path);
    if (p.is_relative()) log.path = (std::filesystem::path(base_dir) / p).lexically_normal();
  }
}

void read_model(Diagnostics& diag, const YAML::Node& root, const std::string& base_dir,
                Model& model) {
  Field top{root, root.Mark(), "", true};
  if (!root.IsMap()) {
    diag.error(root.Mark(), "", "the top level of a config must be a map (server, listeners, ...)");
    return;
  }
  MapReader r(diag, top,
              {"server", "listeners", "distributions", "admin", "access_log", "cache_policies",
               "origin_request_policies", "load_balancers", "target_groups", "certificates",
               "cache", "state_dir"});
  if (diag.failed()) return;
  read_server(diag, r.get("server"), model.server);
  // Listeners name certificates.
  detail::read_state_dir(diag, r.get("state_dir"), base_dir, model);
  detail::read_certificates(diag, r.get("certificates"), base_dir, model);
  if (diag.failed()) return;
  read_listeners(diag, r.require("listeners"), model);
  if (diag.failed()) return;  // distributions refer to listeners by name
  // Forward actions point into target_groups; load balancer listeners must not clash with
  // top-level ones; a distribution's `load_balancer:` origin looks load balancers up by name.
  detail::read_target_groups(diag, r.get("target_groups"), model);
  detail::read_load_balancers(diag, r.get("load_balancers"), model);
  if (diag.failed()) return;
  // Behaviors point into the policy vectors, so both are complete before distributions are read.
  detail::read_cache_policies(diag, r.get("cache_policies"), model);
  detail::read_origin_request_policies(diag, r.get("origin_request_policies"), model);
  detail::read_cache(diag, r.get("cache"), model.cache);
  Field distributions = r.require("distributions");
  detail::read_distributions(diag, distributions, base_dir, model);
  read_admin(diag, r.get("admin"), model);
  read_access_log(diag, r.get("access_log"), base_dir, model.access_log);
}

// Counts YAML documents in `text`, stopping at two; `second` gets where the second one starts.
// yaml-cpp 0.7's LoadAll loops forever (allocating) on a stray ',' at block level
// (jbeder/yaml-cpp#1040, fixed upstream by #1319), hence this bounded loop.
int count_documents(const std::string& text, YAML::Mark& second) {
  class DocumentCounter : public YAML::EventHandler {
   public:
    void OnDocumentStart(const YAML::Mark& mark) override {
      if (++count_ == 2) second_ = mark;
    }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}

    int count_ = 0;
    YAML::Mark second_;
  };
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentCounter counter;
  for (int i = 0; i < 2 && parser.HandleNextDocument(counter); ++i) {
  }
  second = counter.second_;
  return counter.count_;
}

std::string absolute_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(dir.empty() ? "." : dir, ec);
  if (ec) return dir;
  return p.lexically_normal().string();
}

}  // namespace

core::Result<Model> load_string(std::string_view yaml, const std::string& name,
                                const std::string& base_dir) {
  Diagnostics diag(name);
  Model model;
  try {
    const std::string text(yaml);
    YAML::Mark second;
    int documents = count_documents(text, second);
    YAML::Node root = YAML::Load(text);
    if (documents == 0) {
      diag.error(YAML::Mark(), "", "the config is empty");
    } else if (root.IsMap() && documents > 1) {
      diag.error(second, "", "a config must be a single YAML document");
    } else {
      read_model(diag, root, absolute_dir(base_dir), model);
    }
  } catch (const YAML::DeepRecursion& e) {
    diag.error(e.mark, "", "YAML nesting is too deep");
  } catch (const YAML::Exception& e) {
    diag.error(e.mark, "", e.msg.empty() ? "invalid YAML" : e.msg);
  } catch (const std::exception& e) {
    diag.error(YAML::Mark::null_mark(), "", std::string("internal error: ") + e.what());
  } catch (...) {
    diag.error(YAML::Mark::null_mark(), "", "internal error");
  }
  if (diag.failed()) return diag.take_error();
  model.warnings = diag.take_warnings();
  return model;
}

core::Result<Model> load_file(const std::string& path) {
  std::string text;
  try {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      int err = errno;
      return core::Error::make(core::ErrorKind::Config, core::Side::Internal,
                               path + ": cannot read config file: " + std::strerror(err));
    }
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) {
      return core::Error::make(core::ErrorKind::Config, core::Side::Internal,
                               path + ": cannot read config file");
    }
  } catch (const std::exception& e) {
    return core::Error::make(core::ErrorKind::Config, core::Side::Internal,
                             path + ": cannot read config file: " + e.what());
  }
  std::string base_dir = std::filesystem::path(path).parent_path().string();
  core::Result<Model> model = load_string(text, path, base_dir.empty() ? "." : base_dir);
  if (model.ok()) model->source_file = path;
  return model;
}

}  // namespace portico::config
