// tls::TicketKeys: the session ticket keys every HTTPS listener of the process shares (RFC 5077
// tickets for TLS 1.2, RFC 8446 §4.6.1 tickets for TLS 1.3). A new key every rotation interval
// (an hour); the previous one still decrypts, and tickets it opens are renewed under the current
// key. Keys live in memory only, so a restart invalidates tickets (clients fall back to a full
// handshake). rotate_if_due() runs on the main loop; handle() runs in handshakes on any worker.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tls/certificate.h"

namespace portico::tls {

class TicketKeys {
 public:
  static constexpr std::chrono::seconds kRotation{3600};

  struct Key {
    std::array<unsigned char, 16> name{};
    std::array<unsigned char, 32> aes_key{};   // AES-256-CBC
    std::array<unsigned char, 32> hmac_key{};  // HMAC-SHA256
    TimePoint created;
  };
  struct Ring {
    Key current;
    std::optional<Key> previous;
  };

  explicit TicketKeys(std::chrono::seconds rotation = kRotation) : rotation_(rotation) {}

  // Creates the first key, or rotates when `now` is at least one interval past the current key's
  // creation (or the clock went back by more than that). True when a new key was made.
  bool rotate_if_due(TimePoint now);

  // The body of OpenSSL's ticket key callback (SSL_CTX_set_tlsext_ticket_key_evp_cb): enc = 1
  // fills name/iv/cipher/MAC with the current key and returns 1; enc = 0 looks the name up and
  // returns 1 (current), 2 (previous, or any key in TLS 1.3: renew the ticket) or 0 (unknown: full
  // handshake). TLS 1.3 clients use a ticket once (RFC 8446 §C.4: "Clients SHOULD NOT reuse a
  // ticket for multiple connections"; OpenSSL's client session cache drops a ticket it resumed
  // with), so a resumption that brought no new ticket would make the client's next connection a
  // full handshake. In TLS 1.2 a ticket stays valid and is only renewed under a newer key.
  int handle(unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
             int enc, bool tls13) const;

  // Hex names, current first; for tests and logs (names are not secret).
  std::vector<std::string> names() const;

 private:
  std::shared_ptr<const Ring> ring() const;

  std::chrono::seconds rotation_;
  mutable std::mutex mu_;
  std::shared_ptr<const Ring> ring_;
};

}  // namespace portico::tls
