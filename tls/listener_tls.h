// tls::ListenerTls: one HTTPS listener's SSL_CTX and the snapshot its handshakes read. The SSL_CTX
// is made once (policy, session cache, ticket key callback, ClientHello and ALPN callbacks) and
// never changed afterwards; what can change (certificates, policy, http2) lives in an immutable
// ListenerState that publish() swaps. The ClientHello callback copies the current state pointer
// once per handshake (a mutex held for a pointer copy), then picks the certificate by SNI, applies
// the policy when it differs from the context's, and attaches the certificate to that SSL alone:
// no disk or DNS work in a handshake, and existing connections keep what they negotiated.
// Owned by the Manager, which keeps every ListenerTls (and so every SSL_CTX) for its lifetime.
// Internal to tls/ (and its tests).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "core/result.h"
#include "tls/openssl_handles.h"
#include "tls/security_policy.h"
#include "tls/sni.h"
#include "tls/ticket_keys.h"

namespace portico::tls {

struct ListenerState {
  ListenerState(SniTable sni_table, OpensslPolicy openssl_policy)
      : sni(std::move(sni_table)), policy(std::move(openssl_policy)) {}

  SniTable sni;
  OpensslPolicy policy;
  bool override_policy = false;  // policy is not the one the SSL_CTX was built with
  bool http2 = true;             // ALPN offers h2, then http/1.1
};

// Handshake counters shared by every listener of a Manager (relaxed atomics).
struct HandshakeCounters {
  std::atomic<uint64_t> sni_exact{0};
  std::atomic<uint64_t> sni_wildcard{0};
  std::atomic<uint64_t> no_sni{0};
  std::atomic<uint64_t> sni_default{0};
  std::atomic<uint64_t> sni_rejected{0};
  std::atomic<uint64_t> setup_failures{0};
};

class ListenerTls {
 public:
  // `keys` and `counters` must outlive the ListenerTls.
  static core::Result<std::unique_ptr<ListenerTls>> create(std::string name,
                                                           const OpensslPolicy& policy,
                                                           const TicketKeys& keys,
                                                           HandshakeCounters& counters);

  SSL_CTX* ctx() const { return ctx_.get(); }
  const std::string& name() const { return name_; }
  // The policy the SSL_CTX was built with (states with another one override it per SSL).
  const std::string& ctx_policy() const { return ctx_policy_; }

  void publish(std::shared_ptr<const ListenerState> state);
  std::shared_ptr<const ListenerState> state() const;

  ListenerTls(const ListenerTls&) = delete;
  ListenerTls& operator=(const ListenerTls&) = delete;

 private:
  ListenerTls(std::string name, const TicketKeys& keys, HandshakeCounters& counters)
      : name_(std::move(name)), keys_(keys), counters_(counters) {}

  static int on_client_hello(SSL* ssl, int* alert, void* arg);
  static int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* out_len,
                     const unsigned char* in, unsigned int in_len, void* arg);
  static int on_ticket_key(SSL* ssl, unsigned char* key_name, unsigned char* iv,
                           EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc);

  std::string name_;
  std::string ctx_policy_;
  const TicketKeys& keys_;
  HandshakeCounters& counters_;
  SslCtxPtr ctx_;
  mutable std::mutex mu_;
  std::shared_ptr<const ListenerState> state_;
};

// The host_name of a ClientHello's server_name extension (RFC 6066 §3) as sent: "" when the
// extension is absent, "?" (matching nothing) when it is malformed. Only valid in the
// ClientHello callback.
std::string_view client_hello_server_name(SSL* ssl);

}  // namespace portico::tls
