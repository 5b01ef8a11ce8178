// Helpers for tls/ unit tests: a temporary folder, configs loaded from YAML, and TLS handshakes
// between a client SSL and a server SSL over an in-memory BIO pair (no sockets, no sleeps).
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/loader.h"
#include "core/log.h"
#include "tls/openssl_handles.h"

namespace portico::tls::testing {

// Info lines (certificates issued, CA created) would drown the test output.
inline const bool kQuietLogs = (core::set_log_level(core::LogLevel::Warn), true);

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "portico-tls-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(file(name), std::ios::binary | std::ios::trunc) << text;
  }

 private:
  std::string path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A config with one distribution (and so one HTTP listener named `http` on line 1) followed by
// `extra` (top-level keys: certificates, more listeners, state_dir, ...), loaded with base_dir
// `dir`.
inline config::Model load_model(const std::string& extra, const std::string& dir) {
  std::string yaml =
      "distributions:\n"
      "  - id: web\n"
      "    origins: [{id: api, custom_origin: {url: \"http://127.0.0.1:9001\"}}]\n"
      "    default_cache_behavior: {target_origin_id: api}\n" +
      extra;
  auto r = config::load_string(yaml, "t.yaml", dir);
  if (!r.ok()) FAIL(r.error().detail);
  return std::move(r).value();
}

struct ClientOptions {
  std::string server_name;        // "" = no SNI
  std::vector<std::string> alpn;  // offered protocols, in order
  int min_version = 0;            // 0 = OpenSSL's default
  int max_version = 0;
  std::string ciphers;             // TLS <= 1.2 cipher list; "" = default
  std::string ciphersuites;        // TLS 1.3 suites; "" = default
  std::string groups;              // key exchange groups, the first gets a key share; "" = default
  X509* trust = nullptr;           // verify the server against this CA (with server_name)
  time_t verify_time = 0;          // verify as of this time (0 = now)
  SSL_SESSION* session = nullptr;  // resume this session
  bool no_ticket = false;          // ask for session-id resumption instead of tickets
};

struct HandshakeResult {
  bool ok = false;
  int server_alert = -1;    // alert the client received (SSL_AD_*), -1 if none seen
  std::string peer_cn;      // the server certificate's subject CN
  std::string alpn;         // selected protocol
  int version = 0;          // negotiated protocol version
  std::string cipher;       // negotiated cipher (OpenSSL name)
  bool reused = false;      // session resumed
  long verify_result = -1;  // NOLINT(google-runtime-int): client-side X509 verification
  int tickets = 0;          // session tickets (new sessions) the client received
  SslPtr client;            // kept for SSL_get1_session and inspection
  SslPtr server;
};

inline void record_alert(const SSL* ssl, int where, int ret) {
  if ((where & SSL_CB_READ_ALERT) == 0) return;
  auto* r = static_cast<HandshakeResult*>(SSL_get_ex_data(ssl, 0));
  if (r != nullptr) r->server_alert = ret & 0xff;
}

inline int count_ticket(SSL* ssl, SSL_SESSION* /*session*/) {
  auto* r = static_cast<HandshakeResult*>(SSL_get_ex_data(ssl, 0));
  if (r != nullptr) ++r->tickets;
  return 0;  // not kept: OpenSSL frees it
}

// Runs a full handshake between a new client and a new SSL of `server_ctx`.
inline HandshakeResult handshake(SSL_CTX* server_ctx, const ClientOptions& o) {
  HandshakeResult r;
  SslCtxPtr client_ctx(SSL_CTX_new(TLS_client_method()));
  REQUIRE(client_ctx);
  // Legacy protocol tests need level 0 on the client too.
  SSL_CTX_set_security_level(client_ctx.get(), 0);
  if (o.min_version != 0) SSL_CTX_set_min_proto_version(client_ctx.get(), o.min_version);
  if (o.max_version != 0) SSL_CTX_set_max_proto_version(client_ctx.get(), o.max_version);
  if (!o.ciphers.empty()) {
    REQUIRE(SSL_CTX_set_cipher_list(client_ctx.get(), (o.ciphers + ":@SECLEVEL=0").c_str()) == 1);
  }
  if (!o.ciphersuites.empty()) {
    REQUIRE(SSL_CTX_set_ciphersuites(client_ctx.get(), o.ciphersuites.c_str()) == 1);
  }
  if (!o.groups.empty()) REQUIRE(SSL_CTX_set1_groups_list(client_ctx.get(), o.groups.c_str()) == 1);
  if (o.no_ticket) SSL_CTX_set_options(client_ctx.get(), SSL_OP_NO_TICKET);
  // Count the sessions the server hands out (a TLS 1.3 ticket each) without keeping them.
  SSL_CTX_set_session_cache_mode(client_ctx.get(),
                                 SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(client_ctx.get(), count_ticket);
  if (o.trust != nullptr) {
    X509_STORE* store = SSL_CTX_get_cert_store(client_ctx.get());
    REQUIRE(X509_STORE_add_cert(store, o.trust) == 1);
    SSL_CTX_set_verify(client_ctx.get(), SSL_VERIFY_NONE, nullptr);
  }
  r.client.reset(SSL_new(client_ctx.get()));
  r.server.reset(SSL_new(server_ctx));
  REQUIRE(r.client);
  REQUIRE(r.server);
  SSL_set_ex_data(r.client.get(), 0, &r);
  SSL_set_info_callback(r.client.get(), record_alert);
  if (!o.server_name.empty()) {
    // SSL_set_tlsext_host_name without its C cast.
    std::string name = o.server_name;
    REQUIRE(SSL_ctrl(r.client.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                     name.data()) == 1);
    if (o.trust != nullptr) REQUIRE(SSL_set1_host(r.client.get(), o.server_name.c_str()) == 1);
  }
  if (o.verify_time != 0) {
    X509_VERIFY_PARAM_set_time(SSL_get0_param(r.client.get()), o.verify_time);
  }
  if (!o.alpn.empty()) {
    std::string wire;
    for (const std::string& p : o.alpn) wire += static_cast<char>(p.size()) + p;
    REQUIRE(SSL_set_alpn_protos(r.client.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned int>(wire.size())) == 0);
  }
  if (o.session != nullptr) REQUIRE(SSL_set_session(r.client.get(), o.session) == 1);
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  REQUIRE(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0) == 1);
  SSL_set_bio(r.client.get(), client_bio, client_bio);
  SSL_set_bio(r.server.get(), server_bio, server_bio);
  SSL_set_connect_state(r.client.get());
  SSL_set_accept_state(r.server.get());
  bool client_done = false;
  bool server_done = false;
  for (int i = 0; i < 50 && !(client_done && server_done); ++i) {
    if (!client_done) {
      int rc = SSL_do_handshake(r.client.get());
      if (rc == 1) {
        client_done = true;
      } else if (SSL_get_error(r.client.get(), rc) != SSL_ERROR_WANT_READ) {
        break;
      }
    }
    if (!server_done) {
      int rc = SSL_do_handshake(r.server.get());
      if (rc == 1) {
        server_done = true;
      } else if (SSL_get_error(r.server.get(), rc) != SSL_ERROR_WANT_READ) {
        // Let the client read the alert the server sent.
        SSL_do_handshake(r.client.get());
        break;
      }
    }
  }
  ERR_clear_error();
  r.ok = client_done && server_done;
  if (!r.ok) {
    SSL_set_ex_data(r.client.get(), 0, nullptr);  // r may move on return
    return r;
  }
  // TLS 1.3 tickets arrive after the handshake: let the client read them.
  char byte = 0;
  SSL_read(r.client.get(), &byte, 1);
  ERR_clear_error();
  X509Ptr peer(SSL_get1_peer_certificate(r.client.get()));
  if (peer) {
    X509_NAME* subject = X509_get_subject_name(peer.get());
    char cn[256] = {};
    X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof cn);
    r.peer_cn = cn;
  }
  const unsigned char* proto = nullptr;
  unsigned int proto_len = 0;
  SSL_get0_alpn_selected(r.client.get(), &proto, &proto_len);
  r.alpn.assign(reinterpret_cast<const char*>(proto), proto_len);
  r.version = SSL_version(r.client.get());
  r.cipher = SSL_get_cipher_name(r.client.get());
  r.reused = SSL_session_reused(r.client.get()) == 1;
  r.verify_result = SSL_get_verify_result(r.client.get());
  SSL_set_ex_data(r.client.get(), 0, nullptr);  // r may move on return
  return r;
}

}  // namespace portico::tls::testing
