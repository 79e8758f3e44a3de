// Small OpenSSL helpers for reading PEM certificates and keys and describing
// them, shared by the TLS set-up (tls_credentials) and `tongbanctl certs
// check`, so both read and interpret certificates the same way.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tongban::x509 {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

// Every certificate of a PEM file, in file order (leaf first); empty when the
// file cannot be opened or holds none. Leaves no error on OpenSSL's queue.
std::vector<X509Ptr> ReadCertificates(const std::string& path);

// The private key of a PEM file, or nullptr.
KeyPtr ReadPrivateKey(const std::string& path);

// The URI SANs of a certificate, in order.
std::vector<std::string> UriSans(X509* cert);

// Unix seconds of an ASN1_TIME; 0 when absent or unreadable.
int64_t UnixTime(const ASN1_TIME* t);

// "2026-11-25T03:04:05Z".
std::string UtcText(int64_t unix_seconds);

// "/CN=..." of a name.
std::string OneLine(const X509_NAME* name);

}  // namespace tongban::x509
