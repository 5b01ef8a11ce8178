#include "tls/ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <cstring>

namespace portico::tls {
namespace {

bool fill_random(unsigned char* p, size_t n) { return RAND_bytes(p, static_cast<int>(n)) == 1; }

std::string hex(const std::array<unsigned char, 16>& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

bool set_keys(const TicketKeys::Key& key, unsigned char* iv, EVP_CIPHER_CTX* cipher,
              EVP_MAC_CTX* mac, bool encrypt) {
  // OSSL_PARAM wants mutable pointers; these copies live until the call returns.
  std::array<unsigned char, 32> hmac_key = key.hmac_key;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, hmac_key.data(), hmac_key.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return false;
  return encrypt
             ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes_key.data(), iv) == 1
             : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes_key.data(), iv) == 1;
}

}  // namespace

bool TicketKeys::rotate_if_due(TimePoint now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ring_ && now < ring_->current.created + rotation_ &&
      now + rotation_ > ring_->current.created) {
    return false;
  }
  auto ring = std::make_shared<Ring>();
  Key& key = ring->current;
  if (!fill_random(key.name.data(), key.name.size()) ||
      !fill_random(key.aes_key.data(), key.aes_key.size()) ||
      !fill_random(key.hmac_key.data(), key.hmac_key.size())) {
    return false;  // keep the old key; the next tick tries again
  }
  key.created = now;
  if (ring_) ring->previous = ring_->current;
  ring_ = std::move(ring);
  return true;
}

std::shared_ptr<const TicketKeys::Ring> TicketKeys::ring() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ring_;
}

int TicketKeys::handle(unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                       EVP_MAC_CTX* mac, int enc, bool tls13) const {
  std::shared_ptr<const Ring> r = ring();
  if (!r) return 0;
  if (enc == 1) {
    if (!fill_random(iv, static_cast<size_t>(EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())))) {
      return -1;
    }
    std::memcpy(key_name, r->current.name.data(), r->current.name.size());
    return set_keys(r->current, iv, cipher, mac, true) ? 1 : -1;
  }
  if (std::memcmp(key_name, r->current.name.data(), r->current.name.size()) == 0) {
    if (!set_keys(r->current, iv, cipher, mac, false)) return -1;
    return tls13 ? 2 : 1;
  }
  if (r->previous &&
      std::memcmp(key_name, r->previous->name.data(), r->previous->name.size()) == 0) {
    return set_keys(*r->previous, iv, cipher, mac, false) ? 2 : -1;
  }
  return 0;
}

std::vector<std::string> TicketKeys::names() const {
  std::shared_ptr<const Ring> r = ring();
  std::vector<std::string> out;
  if (!r) return out;
  out.push_back(hex(r->current.name));
  if (r->previous) out.push_back(hex(r->previous->name));
  return out;
}

}  // namespace portico::tls
