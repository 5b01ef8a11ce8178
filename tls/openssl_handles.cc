#include "tls/openssl_handles.h"

#include <openssl/err.h>

#include <climits>

namespace portico::tls {

std::string openssl_error(std::string_view fallback) {
  unsigned long code = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL's type
  ERR_clear_error();
  if (code == 0) return std::string(fallback);
  const char* reason = ERR_reason_error_string(code);
  const char* lib = ERR_lib_error_string(code);
  std::string out = reason != nullptr ? reason : "error " + std::to_string(code);
  if (lib != nullptr) out += std::string(" (") + lib + ")";
  return out;
}

BioPtr memory_bio(std::string_view data) {
  int len = data.size() > static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(data.size());
  return BioPtr(BIO_new_mem_buf(data.data(), len));
}

std::string bio_contents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);  // NOLINT(google-runtime-int)
  if (len <= 0 || data == nullptr) return {};
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace portico::tls
