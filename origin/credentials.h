// AWS credentials for signing origin requests, resolved the way the AWS SDKs do: explicitly named
// environment variables from the origin's config, else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
// (/ AWS_SESSION_TOKEN), else the shared credentials file (AWS_SHARED_CREDENTIALS_FILE or
// ~/.aws/credentials, profile AWS_PROFILE or "default").
// Resolution reads the environment and one small file: call it at config load/reload, on the
// main thread, never on a worker loop. Credentials values are then copied into each Signer.
// Secrets never appear in an error detail, in redacted() or in source: tests check that.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace portico::origin {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty when the credentials are long-term
  // Where they came from, for logs: "env AWS_ACCESS_KEY_ID", "env MY_KEY_VAR",
  // "file /root/.aws/credentials [default]". Never holds a value.
  std::string source;

  // Log-safe form of the key id: its first 4 characters and "…" ("AKIA…"); "…" alone when the id
  // is 4 characters or shorter.
  std::string redacted() const;
};

// The origin config's `credentials:` block: names of environment variables, not values. All empty
// means "use the SDK default chain".
struct CredentialsConfig {
  std::string access_key_id_env;
  std::string secret_access_key_env;
  std::string session_token_env;  // optional
};

// Environment lookup, injectable for tests; std::nullopt when the variable is unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
// Reads the process environment (getenv).
std::optional<std::string> process_env(const std::string& name);

// Resolves credentials for `config` (see the header comment for the order). An empty variable
// counts as unset, as in the SDKs. With explicit names both named variables must be set (no
// fallback: a typo in config must not silently pick other keys); a named session token variable
// must be set too. Errors are ErrorKind::Config, Side::Internal, and name variables, files and
// profiles only, never a value.
core::Result<Credentials> resolve_credentials(const CredentialsConfig& config,
                                              const EnvLookup& env = process_env);

// Parses the shared credentials file format (INI: "[profile]" sections, "key = value" lines,
// '#'/';' comment lines; keys case-insensitive) and returns `profile`'s aws_access_key_id,
// aws_secret_access_key and aws_session_token (or the legacy aws_security_token). `path` only
// names the file in errors and in Credentials::source.
core::Result<Credentials> parse_shared_credentials(std::string_view text, std::string_view profile,
                                                   std::string_view path);

}  // namespace portico::origin
