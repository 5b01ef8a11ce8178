#include "tls/local_ca.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/log.h"

namespace portico::tls {
namespace {

constexpr size_t kMaxFileBytes = 1 << 20;
// Leaves start an hour early so a client whose clock runs a little behind still accepts them.
constexpr std::chrono::hours kBackdate{1};

core::Error internal(std::string detail) {
  return core::Error::make(core::ErrorKind::Internal, core::Side::Internal, std::move(detail));
}
core::Error config_error(std::string detail) {
  return core::Error::make(core::ErrorKind::Config, core::Side::Internal, std::move(detail));
}

std::string errno_text(int err) { return std::strerror(err); }

EvpPkeyPtr generate_key(config::KeyAlgorithm algorithm) {
  switch (algorithm) {
    case config::KeyAlgorithm::EcPrime256v1:
      return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    case config::KeyAlgorithm::EcSecp384r1:
      return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
    case config::KeyAlgorithm::Rsa2048:
      return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
  }
  return nullptr;
}

bool add_ext(X509* x, X509V3_CTX* v3, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, v3, nid, value.c_str());
  if (ext == nullptr) return false;
  int ok = X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1;
}

// A positive random 128-bit serial (RFC 5280 §4.1.2.2: at most 20 octets, CA/B: 64+ random bits).
bool set_random_serial(X509* x) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return false;
  bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x40);
  BIGNUM* bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
  if (bn == nullptr) return false;
  bool ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != nullptr;
  BN_free(bn);
  return ok;
}

bool set_validity(X509* x, TimePoint not_before, TimePoint not_after) {
  return ASN1_TIME_set(X509_getm_notBefore(x), std::chrono::system_clock::to_time_t(not_before)) !=
             nullptr &&
         ASN1_TIME_set(X509_getm_notAfter(x), std::chrono::system_clock::to_time_t(not_after)) !=
             nullptr;
}

bool add_name_entry(X509_NAME* name, const char* field, const std::string& value) {
  return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                    0) == 1;
}

std::string key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return {};
  return bio_contents(bio.get());
}

std::string cert_pem(X509* x) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), x) != 1) return {};
  return bio_contents(bio.get());
}

std::string random_hex(size_t bytes) {
  std::string out;
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < bytes; ++i) {
    unsigned char b = 0;
    if (RAND_bytes(&b, 1) != 1) b = static_cast<unsigned char>(i);
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

core::Result<LocalCa::Issued> create_ca(TimePoint now, X509Ptr& cert_out, EvpPkeyPtr& key_out) {
  EvpPkeyPtr key = generate_key(config::KeyAlgorithm::EcPrime256v1);
  X509Ptr x(X509_new());
  if (!key || !x) return internal("cannot create the local CA key: " + openssl_error());
  X509_NAME* name = X509_get_subject_name(x.get());
  bool ok = X509_set_version(x.get(), X509_VERSION_3) == 1 && set_random_serial(x.get()) &&
            set_validity(x.get(), now - kBackdate,
                         now + std::chrono::hours(24) * LocalCa::kValidityDays) &&
            add_name_entry(name, "O", "Portico") &&
            add_name_entry(name, "CN", "Portico Local CA " + random_hex(4)) &&
            X509_set_issuer_name(x.get(), name) == 1 && X509_set_pubkey(x.get(), key.get()) == 1;
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, x.get(), x.get(), nullptr, nullptr, 0);
  ok = ok && add_ext(x.get(), &v3, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
       add_ext(x.get(), &v3, NID_key_usage, "critical,keyCertSign,cRLSign") &&
       add_ext(x.get(), &v3, NID_subject_key_identifier, "hash") &&
       add_ext(x.get(), &v3, NID_authority_key_identifier, "keyid") &&
       X509_sign(x.get(), key.get(), EVP_sha256()) > 0;
  if (!ok) return internal("cannot create the local CA certificate: " + openssl_error());
  LocalCa::Issued pems{cert_pem(x.get()), key_pem(key.get())};
  cert_out = std::move(x);
  key_out = std::move(key);
  return pems;
}

// Holds an exclusive flock on state_dir/ca.lock for its lifetime.
class DirLock {
 public:
  explicit DirLock(const std::string& path)
      : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

}  // namespace

core::Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return config_error("cannot read " + path + ": " + errno_text(errno));
  std::string text;
  try {
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::exception& e) {
    return config_error("cannot read " + path + ": " + e.what());
  }
  if (in.bad()) return config_error("cannot read " + path);
  if (text.size() > kMaxFileBytes) return config_error(path + ": larger than 1 MiB");
  return text;
}

core::Status write_file_atomic(const std::string& path, std::string_view data, unsigned mode) {
  static std::atomic<unsigned> counter{0};
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(++counter);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return internal("cannot write " + tmp + ": " + errno_text(errno));
  bool ok = ::fchmod(fd, mode) == 0;
  size_t done = 0;
  while (ok && done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  int err = errno;
  ok = ok && ::fsync(fd) == 0;
  if (!ok) err = errno;
  ::close(fd);
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    return internal("cannot write " + path + ": " + errno_text(err));
  }
  return {};
}

core::Status make_dirs(const std::string& path, unsigned mode) {
  std::filesystem::path p(path);
  std::filesystem::path partial;
  for (const auto& part : p) {
    partial /= part;
    if (partial.string().empty()) continue;
    if (::mkdir(partial.c_str(), mode) != 0 && errno != EEXIST) {
      return internal("cannot create directory " + partial.string() + ": " + errno_text(errno));
    }
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return internal(path + " is not a directory");
  }
  return {};
}

core::Result<LocalCa> LocalCa::load_or_create(const std::string& state_dir, TimePoint now) {
  if (core::Status s = make_dirs(state_dir, 0700); !s.ok()) return s.error();
  DirLock lock(state_dir + "/ca.lock");
  if (!lock.ok()) return internal("cannot lock " + state_dir + "/ca.lock: " + errno_text(errno));
  const std::string key_path = state_dir + "/ca.key";
  const std::string pem_path = state_dir + "/ca.pem";
  std::error_code ec;
  bool have_key = std::filesystem::exists(key_path, ec);
  bool have_pem = std::filesystem::exists(pem_path, ec);
  if (!have_key && !have_pem) {
    X509Ptr cert;
    EvpPkeyPtr key;
    core::Result<Issued> pems = create_ca(now, cert, key);
    if (!pems.ok()) return pems.error();
    // The key first: a crash in between leaves a lone key, which the next start reports.
    if (core::Status s = write_file_atomic(key_path, pems->key_pem, 0600); !s.ok())
      return s.error();
    if (core::Status s = write_file_atomic(pem_path, pems->cert_pem, 0644); !s.ok())
      return s.error();
    PORTICO_INFO("tls: created a new local CA in %s (export its root with `portico ca export`)",
                 state_dir.c_str());
    return LocalCa(std::move(cert), std::move(key), std::move(pems->cert_pem));
  }
  if (have_key != have_pem) {
    return config_error(std::string(have_key ? pem_path : key_path) +
                        " is missing while its pair exists; restore it, or remove both files to "
                        "create a new local CA (issued certificates are then reissued)");
  }
  core::Result<std::string> key_text = read_text_file(key_path);
  if (!key_text.ok()) return key_text.error();
  core::Result<std::string> pem_text = read_text_file(pem_path);
  if (!pem_text.ok()) return pem_text.error();
  BioPtr key_bio = memory_bio(*key_text);
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  BioPtr pem_bio = memory_bio(*pem_text);
  X509Ptr cert(PEM_read_bio_X509(pem_bio.get(), nullptr, nullptr, nullptr));
  if (!key || !cert) {
    return config_error("cannot read the local CA in " + state_dir + ": " + openssl_error());
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1 || X509_check_ca(cert.get()) < 1) {
    ERR_clear_error();
    return config_error(key_path + " and " + pem_path +
                        " are not a matching CA key and certificate");
  }
  struct stat st {};
  if (::stat(key_path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    PORTICO_WARN("tls: %s is readable by other users (chmod 600 it)", key_path.c_str());
  }
  return LocalCa(std::move(cert), std::move(key), std::move(*pem_text));
}

core::Result<LocalCa::Issued> LocalCa::issue(const std::vector<std::string>& domains,
                                             config::KeyAlgorithm algorithm, int validity_days,
                                             TimePoint now) const {
  if (domains.empty()) return internal("a certificate needs at least one domain");
  EvpPkeyPtr key = generate_key(algorithm);
  X509Ptr x(X509_new());
  if (!key || !x) return internal("cannot generate a key: " + openssl_error());
  std::string san;
  for (const std::string& d : domains) san += (san.empty() ? "DNS:" : ",DNS:") + d;
  bool rsa = algorithm == config::KeyAlgorithm::Rsa2048;
  X509_NAME* name = X509_get_subject_name(x.get());
  bool ok = X509_set_version(x.get(), X509_VERSION_3) == 1 && set_random_serial(x.get()) &&
            set_validity(x.get(), now - kBackdate, now + std::chrono::hours(24) * validity_days) &&
            add_name_entry(name, "CN", domains.front()) &&
            X509_set_issuer_name(x.get(), X509_get_subject_name(cert_.get())) == 1 &&
            X509_set_pubkey(x.get(), key.get()) == 1;
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, cert_.get(), x.get(), nullptr, nullptr, 0);
  ok = ok && add_ext(x.get(), &v3, NID_basic_constraints, "critical,CA:FALSE") &&
       add_ext(x.get(), &v3, NID_key_usage,
               rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature") &&
       add_ext(x.get(), &v3, NID_ext_key_usage, "serverAuth") &&
       add_ext(x.get(), &v3, NID_subject_key_identifier, "hash") &&
       add_ext(x.get(), &v3, NID_authority_key_identifier, "keyid:always") &&
       add_ext(x.get(), &v3, NID_subject_alt_name, san) &&
       X509_sign(x.get(), key_.get(), EVP_sha256()) > 0;
  if (!ok)
    return internal("cannot issue a certificate for " + domains.front() + ": " + openssl_error());
  return Issued{cert_pem(x.get()), key_pem(key.get())};
}

bool LocalCa::signed_leaf(X509* leaf) const {
  if (leaf == nullptr || X509_check_issued(cert_.get(), leaf) != X509_V_OK) return false;
  EVP_PKEY* pub = X509_get0_pubkey(cert_.get());
  bool ok = pub != nullptr && X509_verify(leaf, pub) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace portico::tls
