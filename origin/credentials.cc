#include "origin/credentials.h"

#include <openssl/crypto.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "core/http.h"

namespace portico::origin {
namespace {

core::Error config_error(std::string detail) {
  return core::Error::make(core::ErrorKind::Config, core::Side::Internal, std::move(detail));
}

std::optional<std::string> non_empty(const EnvLookup& env, const std::string& name) {
  auto v = env(name);
  if (!v || v->empty()) return std::nullopt;
  return v;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

core::Result<Credentials> from_named_env(const CredentialsConfig& config, const EnvLookup& env) {
  if (config.access_key_id_env.empty() || config.secret_access_key_env.empty()) {
    return config_error(
        "credentials: access_key_id_env and secret_access_key_env must be set together");
  }
  Credentials c;
  auto id = non_empty(env, config.access_key_id_env);
  if (!id)
    return config_error("credentials: environment variable " + config.access_key_id_env +
                        " (access_key_id_env) is not set");
  auto secret = non_empty(env, config.secret_access_key_env);
  if (!secret) {
    return config_error("credentials: environment variable " + config.secret_access_key_env +
                        " (secret_access_key_env) is not set");
  }
  c.access_key_id = std::move(*id);
  c.secret_access_key = std::move(*secret);
  if (!config.session_token_env.empty()) {
    auto token = non_empty(env, config.session_token_env);
    if (!token) {
      return config_error("credentials: environment variable " + config.session_token_env +
                          " (session_token_env) is not set");
    }
    c.session_token = std::move(*token);
  }
  c.source = "env " + config.access_key_id_env;
  return c;
}

}  // namespace

std::string Credentials::redacted() const {
  if (access_key_id.size() <= 4) return "…";
  return access_key_id.substr(0, 4) + "…";
}

std::optional<std::string> process_env(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (!v) return std::nullopt;
  return std::string(v);
}

core::Result<Credentials> parse_shared_credentials(std::string_view text, std::string_view profile,
                                                   std::string_view path) {
  const std::string where = std::string(path) + " [" + std::string(profile) + "]";
  bool in_profile = false;
  bool found = false;
  Credentials c;
  std::string legacy_token;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view raw = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') {
        return config_error("credentials file " + std::string(path) + " line " +
                            std::to_string(line_no) + ": malformed section header");
      }
      in_profile = trim(line.substr(1, line.size() - 2)) == profile;
      found = found || in_profile;
      continue;
    }
    if (!in_profile) continue;
    // An indented line continues the previous value (INI); no credential key uses that.
    if (raw.front() == ' ' || raw.front() == '\t') continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      // Never quote the line: it may be a secret pasted without its key.
      return config_error("credentials file " + std::string(path) + " line " +
                          std::to_string(line_no) + ": expected 'key = value'");
    }
    std::string key = core::to_lower(trim(line.substr(0, eq)));
    std::string value(trim(line.substr(eq + 1)));
    if (key == "aws_access_key_id") {
      c.access_key_id = std::move(value);
    } else if (key == "aws_secret_access_key") {
      c.secret_access_key = std::move(value);
    } else if (key == "aws_session_token") {
      c.session_token = std::move(value);
    } else if (key == "aws_security_token") {
      legacy_token = std::move(value);
    }
  }
  if (!found) return config_error("credentials file " + where + ": no such profile");
  if (c.access_key_id.empty() && c.secret_access_key.empty()) {
    return config_error("credentials file " + where +
                        ": no aws_access_key_id / aws_secret_access_key");
  }
  if (c.access_key_id.empty()) {
    return config_error("credentials file " + where + ": aws_access_key_id missing");
  }
  if (c.secret_access_key.empty()) {
    return config_error("credentials file " + where + ": aws_secret_access_key missing");
  }
  if (c.session_token.empty()) c.session_token = std::move(legacy_token);
  c.source = "file " + where;
  return c;
}

core::Result<Credentials> resolve_credentials(const CredentialsConfig& config,
                                              const EnvLookup& env) {
  if (!config.access_key_id_env.empty() || !config.secret_access_key_env.empty() ||
      !config.session_token_env.empty()) {
    return from_named_env(config, env);
  }

  auto id = non_empty(env, "AWS_ACCESS_KEY_ID");
  auto secret = non_empty(env, "AWS_SECRET_ACCESS_KEY");
  if (id && secret) {
    Credentials c;
    c.access_key_id = std::move(*id);
    c.secret_access_key = std::move(*secret);
    if (auto token = non_empty(env, "AWS_SESSION_TOKEN")) c.session_token = std::move(*token);
    c.source = "env AWS_ACCESS_KEY_ID";
    return c;
  }
  if (id || secret) {
    // The SDKs refuse half a key pair rather than falling through to the file.
    return config_error(
        id ? "credentials: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"
           : "credentials: AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
  }

  std::string path;
  if (auto file = non_empty(env, "AWS_SHARED_CREDENTIALS_FILE")) {
    path = std::move(*file);
    if (path.size() >= 2 && path[0] == '~' && path[1] == '/') {
      auto home = non_empty(env, "HOME");
      if (home) path = *home + path.substr(1);
    }
  } else if (auto home = non_empty(env, "HOME")) {
    path = *home + "/.aws/credentials";
  } else {
    return config_error(
        "credentials: AWS_ACCESS_KEY_ID is not set, and neither AWS_SHARED_CREDENTIALS_FILE nor "
        "HOME is set to find a shared credentials file");
  }
  std::string profile = non_empty(env, "AWS_PROFILE").value_or("default");

  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return config_error("credentials: AWS_ACCESS_KEY_ID is not set and " + path +
                        " cannot be read");
  }
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto parsed = parse_shared_credentials(s, profile, path);
  // Scrub the file's bytes: they hold every profile's secret.
  OPENSSL_cleanse(s.data(), s.size());
  return parsed;
}

}  // namespace portico::origin
