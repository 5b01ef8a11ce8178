// Owning handles for the OpenSSL objects tls/ keeps (unique_ptr with the matching *_free), and
// the one helper that turns OpenSSL's thread-local error queue into text. Internal to tls/ and
// its tests; any thread.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

namespace portico::tls {

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct EvpPkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509StackFree {
  void operator()(STACK_OF(X509) * p) const { sk_X509_pop_free(p, X509_free); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free_all(p); }
};
struct SslCtxFree {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslFree {
  void operator()(SSL* p) const { SSL_free(p); }
};

using X509Ptr = std::unique_ptr<X509, X509Free>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

// The oldest queued OpenSSL error as "reason (lib)", or `fallback` when the queue is empty.
// Clears the queue.
std::string openssl_error(std::string_view fallback = "unknown OpenSSL error");

// A read-only memory BIO over `data` (which must outlive the BIO).
BioPtr memory_bio(std::string_view data);

// Everything written to a memory BIO.
std::string bio_contents(BIO* bio);

}  // namespace portico::tls
