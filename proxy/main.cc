// portico: the binary. `portico -c FILE` serves; `portico check -c FILE` validates (exit 0 or 2,
// like `nginx -t`); `portico ca export` prints the local CA's root certificate.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "config/loader.h"
#include "core/block_cache.h"
#include "core/log.h"
#include "proxy/server.h"
#include "tls/manager.h"

namespace {

constexpr const char* kVersion = "0.1.0";

void usage(FILE* out) {
  std::fprintf(
      out,
      "Usage: portico [options]            serve\n"
      "       portico check -c FILE        validate a config and exit (0 ok, 2 invalid)\n"
      "       portico ca export [--state-dir DIR | -c FILE]\n"
      "                                    print the local CA's root certificate (PEM)\n"
      "\n"
      "Options:\n"
      "  -c, --config FILE      configuration file (YAML; see docs/config.md)\n"
      "  -w, --workers N        worker threads (default: server.workers, else one per core)\n"
      "  -l, --log-level LEVEL  debug, info, warn or error (default info)\n"
      "  -h, --help             this help\n"
      "  -v, --version          print the version\n"
      "\n"
      "Signals: SIGTERM/SIGINT drain and exit (twice: exit now), SIGHUP reloads the config.\n");
}

// `portico ca export [--state-dir DIR | -c FILE]`: the root certificate clients must trust for
// certificates issued by local-ca; the CA is created when the state_dir has none yet.
int ca_command(int argc, char** argv) {
  if (argc < 3 || std::string_view(argv[2]) != "export") {
    std::fprintf(stderr, "portico: usage: portico ca export [--state-dir DIR | -c FILE]\n");
    return 2;
  }
  std::string state_dir;
  std::string config_path;
  for (int i = 3; i < argc; ++i) {
    std::string_view a = argv[i];
    bool dir = a == "--state-dir";
    if ((dir || a == "-c" || a == "--config") && i + 1 < argc) {
      (dir ? state_dir : config_path) = argv[++i];
    } else {
      std::fprintf(stderr, "portico: ca export: unexpected argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (state_dir.empty() == config_path.empty()) {
    std::fprintf(stderr, "portico: ca export needs --state-dir DIR or -c FILE\n");
    return 2;
  }
  if (!config_path.empty()) {
    portico::core::Result<portico::config::Model> model = portico::config::load_file(config_path);
    if (!model.ok()) {
      std::fprintf(stderr, "portico: %s\n", model.error().detail.c_str());
      return 2;
    }
    state_dir = model->state_dir;
  }
  portico::core::Result<std::string> pem = portico::tls::Manager::export_ca(state_dir);
  if (!pem.ok()) {
    std::fprintf(stderr, "portico: %s\n", pem.error().detail.c_str());
    return 1;
  }
  std::fputs(pem->c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using portico::core::LogLevel;
  portico::core::route_libevent_allocations();  // before any libevent call
  if (argc >= 2 && std::string_view(argv[1]) == "ca") return ca_command(argc, argv);
  std::string config_path;
  int workers = 0;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "portico: %s needs a value\n", name);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "check" || a == "-t" || a == "--check") {
      check = true;
    } else if (a == "-c" || a == "--config") {
      config_path = value("--config");
    } else if (a == "-w" || a == "--workers") {
      const char* v = value("--workers");
      char* end = nullptr;
      long n = std::strtol(v, &end, 10);
      if (*v == '\0' || *end != '\0' || n < 1 || n > 256) {
        std::fprintf(stderr, "portico: --workers takes a number from 1 to 256\n");
        return 2;
      }
      workers = static_cast<int>(n);
    } else if (a == "-l" || a == "--log-level") {
      std::string_view v = value("--log-level");
      if (v == "debug")
        portico::core::set_log_level(LogLevel::Debug);
      else if (v == "info")
        portico::core::set_log_level(LogLevel::Info);
      else if (v == "warn")
        portico::core::set_log_level(LogLevel::Warn);
      else if (v == "error")
        portico::core::set_log_level(LogLevel::Error);
      else {
        std::fprintf(stderr, "portico: unknown log level '%.*s'\n", static_cast<int>(v.size()),
                     v.data());
        return 2;
      }
    } else if (a == "-h" || a == "--help" || a == "help") {
      usage(stdout);
      return 0;
    } else if (a == "-v" || a == "--version") {
      std::printf("portico %s\n", kVersion);
      return 0;
    } else {
      std::fprintf(stderr, "portico: unknown argument '%s'\n\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "portico: no configuration file: use -c FILE\n\n");
    usage(stderr);
    return 2;
  }
  portico::core::Result<portico::config::Model> model = portico::config::load_file(config_path);
  if (!model.ok()) {
    std::fprintf(stderr, "portico: %s\n", model.error().detail.c_str());
    return 2;
  }
  // Imported certificate files: PEM syntax, key matching the certificate (file:line, exit 2).
  if (portico::core::Status tls = portico::tls::Manager::validate(*model); !tls.ok()) {
    std::fprintf(stderr, "portico: %s\n", tls.error().detail.c_str());
    return 2;
  }
  if (check) {
    for (const std::string& w : model->warnings)
      std::fprintf(stderr, "portico: warning: %s\n", w.c_str());
    std::printf("portico: configuration file %s is valid\n", config_path.c_str());
    return 0;
  }
  portico::proxy::ServerOptions options;
  options.config_path = config_path;
  options.workers = workers;
  portico::proxy::Server server(
      options, std::make_shared<const portico::config::Model>(std::move(model.value())));
  return server.run();
}
