// Reads the top-level `certificates:` and `state_dir:` keys and the TLS keys of a listener
// (`protocol`, `certificates`, `ssl_policy`, `http2`, `unknown_sni`) into config::Model, with
// ACM's names and defaults (RequestCertificate, ImportCertificate) and AWS's security policy
// names (config/ssl_policy.h). Imported files must exist and be readable; their PEM content is
// checked by tls::Manager::validate, never here (no OpenSSL in config/). Internal to
// config/*.cc; single-threaded, per load.
#pragma once

#include <string>

#include "config/model.h"
#include "config/yaml_reader.h"

namespace portico::config::detail {

// Fills model.certificates from `f` (absent = none). Relative file paths are resolved against
// `base_dir`. Called before any listener is read.
void read_certificates(Diagnostics& diag, const Field& f, const std::string& base_dir,
                       Model& model);

// Sets model.state_dir from `f`; absent = `base_dir`/var/portico. Relative paths are resolved
// against `base_dir`. Nothing is created.
void read_state_dir(Diagnostics& diag, const Field& f, const std::string& base_dir, Model& model);

// Reads `protocol` (HTTP | HTTPS) and, for HTTPS, `certificates` (names from model.certificates,
// the first is the default), `ssl_policy`, `http2` and `unknown_sni` from a listener map into
// `l`. HTTP listeners must not hold the HTTPS keys. `load_balancer` selects the default policy
// (ALB's for load balancer listeners, CloudFront's for top-level ones). False after reporting.
// Precondition: read_certificates has run; `r` accepts those five keys.
bool read_listener_protocol(Diagnostics& diag, const MapReader& r, const Model& model,
                            bool load_balancer, Listener& l);

}  // namespace portico::config::detail
