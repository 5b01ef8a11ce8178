#include "tls/listener_tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/tls1.h>

#include <algorithm>

#include "core/log.h"

namespace portico::tls {
namespace {

// ALPN protocol lists (RFC 7301 §3.1 wire format), in our order of preference.
constexpr unsigned char kH2AndHttp11[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// nginx's default for its builtin cache; sessions expire with the ticket rotation interval.
constexpr long kSessionCacheSize = 20480;      // NOLINT(google-runtime-int): OpenSSL's type
constexpr long kSessionTimeoutSeconds = 3600;  // NOLINT(google-runtime-int)

core::Error setup_error(const std::string& name, std::string_view what) {
  return core::Error::make(core::ErrorKind::Internal, core::Side::Internal,
                           "listener " + name + ": " + std::string(what) + ": " + openssl_error());
}

ListenerTls* from_ctx(SSL_CTX* ctx) {
  return static_cast<ListenerTls*>(SSL_CTX_get_ex_data(ctx, 0));
}

}  // namespace

std::string_view client_hello_server_name(SSL* ssl) {
  const unsigned char* p = nullptr;
  size_t len = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) != 1) return {};
  constexpr std::string_view kMalformed = "?";
  if (len < 2 || static_cast<size_t>((p[0] << 8) | p[1]) + 2 != len) return kMalformed;
  size_t i = 2;
  while (i + 3 <= len) {
    unsigned type = p[i];
    size_t n = static_cast<size_t>((p[i + 1] << 8) | p[i + 2]);
    i += 3;
    if (i + n > len) return kMalformed;
    if (type == TLSEXT_NAMETYPE_host_name) {
      if (n == 0) return kMalformed;
      return std::string_view(reinterpret_cast<const char*>(p + i), n);
    }
    i += n;
  }
  return kMalformed;
}

core::Result<std::unique_ptr<ListenerTls>> ListenerTls::create(std::string name,
                                                               const OpensslPolicy& policy,
                                                               const TicketKeys& keys,
                                                               HandshakeCounters& counters) {
  ERR_clear_error();
  std::unique_ptr<ListenerTls> self(new ListenerTls(std::move(name), keys, counters));
  self->ctx_.reset(SSL_CTX_new(TLS_server_method()));
  SSL_CTX* ctx = self->ctx_.get();
  if (ctx == nullptr) return setup_error(self->name_, "cannot create an SSL_CTX");
  // The server's cipher order wins, as on CloudFront and ALB; ALB does no renegotiation.
  SSL_CTX_set_options(
      ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  if (core::Status s = apply_policy(ctx, policy); !s.ok()) return s.error();
  self->ctx_policy_ = policy.name;
  // CloudFront's curves: X25519, prime256v1, secp384r1.
  if (SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) {
    return setup_error(self->name_, "cannot set key exchange groups");
  }
  // Sessions resume only on the listener that made them.
  unsigned char sid[EVP_MAX_MD_SIZE];
  unsigned int sid_len = 0;
  std::string sid_input = "portico listener " + self->name_;
  if (EVP_Digest(sid_input.data(), sid_input.size(), sid, &sid_len, EVP_sha256(), nullptr) != 1 ||
      SSL_CTX_set_session_id_context(
          ctx, sid, std::min<unsigned int>(sid_len, SSL_MAX_SID_CTX_LENGTH)) != 1) {
    return setup_error(self->name_, "cannot set the session id context");
  }
  // One TLS 1.3 ticket per full handshake, as s2n (CloudFront's TLS library) sends by default;
  // OpenSSL's default is two. A ticket costs the server a session encoding, an encryption, a MAC
  // and a PSK derivation (about a tenth of an ECDSA handshake's instructions) plus a write, and a
  // client resumes with one ticket per connection (RFC 8446 §4.6.1, §C.4); each TLS 1.3
  // resumption then brings the next one (TicketKeys::handle asks for renewal).
  if (SSL_CTX_set_num_tickets(ctx, 1) != 1) {
    return setup_error(self->name_, "cannot set the number of session tickets");
  }
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(ctx, kSessionCacheSize);
  SSL_CTX_set_timeout(ctx, kSessionTimeoutSeconds);
  SSL_CTX_set_ex_data(ctx, 0, self.get());
  SSL_CTX_set_client_hello_cb(ctx, &ListenerTls::on_client_hello, self.get());
  SSL_CTX_set_alpn_select_cb(ctx, &ListenerTls::on_alpn, self.get());
  if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &ListenerTls::on_ticket_key) != 1) {
    return setup_error(self->name_, "cannot set the ticket key callback");
  }
  return self;
}

void ListenerTls::publish(std::shared_ptr<const ListenerState> state) {
  std::lock_guard<std::mutex> lock(mu_);
  state_ = std::move(state);
}

std::shared_ptr<const ListenerState> ListenerTls::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

int ListenerTls::on_client_hello(SSL* ssl, int* alert, void* arg) {
  auto* self = static_cast<ListenerTls*>(arg);
  std::shared_ptr<const ListenerState> st = self->state();
  if (!st) {
    *alert = SSL_AD_INTERNAL_ERROR;
    self->counters_.setup_failures.fetch_add(1, std::memory_order_relaxed);
    return SSL_CLIENT_HELLO_ERROR;
  }
  // Runs before version and cipher negotiation, so a reloaded policy applies to this handshake.
  if (st->override_policy && !apply_policy(ssl, st->policy).ok()) {
    *alert = SSL_AD_INTERNAL_ERROR;
    self->counters_.setup_failures.fetch_add(1, std::memory_order_relaxed);
    return SSL_CLIENT_HELLO_ERROR;
  }
  // After a HelloRetryRequest the callback runs again for the second ClientHello: choose again,
  // count once.
  bool retry = SSL_get_certificate(ssl) != nullptr;
  SniTable::Choice choice = st->sni.choose(client_hello_server_name(ssl));
  std::atomic<uint64_t>* counter = &self->counters_.sni_default;
  switch (choice.match) {
    case SniMatch::Exact:
      counter = &self->counters_.sni_exact;
      break;
    case SniMatch::Wildcard:
      counter = &self->counters_.sni_wildcard;
      break;
    case SniMatch::NoSni:
      counter = &self->counters_.no_sni;
      break;
    case SniMatch::Default:
      break;
    case SniMatch::Rejected:
      counter = &self->counters_.sni_rejected;
      break;
  }
  if (!retry) counter->fetch_add(1, std::memory_order_relaxed);
  if (choice.certificate == nullptr) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_CLIENT_HELLO_ERROR;
  }
  const Certificate& cert = *choice.certificate;
  // SSL_use_cert_and_key takes its own references: the snapshot may be dropped after this.
  if (SSL_use_cert_and_key(ssl, cert.leaf.get(), cert.key.get(), cert.chain.get(), 1) != 1) {
    PORTICO_WARN("tls: listener %s: cannot use certificate %s: %s", self->name_.c_str(),
                 cert.name.c_str(), openssl_error().c_str());
    *alert = SSL_AD_INTERNAL_ERROR;
    self->counters_.setup_failures.fetch_add(1, std::memory_order_relaxed);
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

int ListenerTls::on_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_len,
                         const unsigned char* in, unsigned int in_len, void* arg) {
  auto* self = static_cast<ListenerTls*>(arg);
  std::shared_ptr<const ListenerState> st = self->state();
  bool h2 = !st || st->http2;
  const unsigned char* ours = h2 ? kH2AndHttp11 : kHttp11;
  unsigned int ours_len = h2 ? sizeof kH2AndHttp11 : sizeof kHttp11;
  unsigned char* selected = nullptr;
  unsigned char selected_len = 0;
  // Our list first: our preference wins among what the client offers.
  if (SSL_select_next_proto(&selected, &selected_len, ours, ours_len, in, in_len) !=
      OPENSSL_NPN_NEGOTIATED) {
    // RFC 7301 §3.2: no protocol in common is a fatal no_application_protocol alert.
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  *out_len = selected_len;
  return SSL_TLSEXT_ERR_OK;
}

int ListenerTls::on_ticket_key(SSL* ssl, unsigned char* key_name, unsigned char* iv,
                               EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc) {
  ListenerTls* self = from_ctx(SSL_get_SSL_CTX(ssl));
  if (self == nullptr) return 0;
  // The version is settled before any ticket is opened (supported_versions comes first).
  return self->keys_.handle(key_name, iv, cipher, mac, enc, SSL_version(ssl) == TLS1_3_VERSION);
}

}  // namespace portico::tls
