// A tiny PKI made in-process with OpenSSL for the signing tests and the
// signing benchmark: a CA, province node certificates with chosen validity,
// CRLs with chosen revocation dates, written as PEM files the way
// certs/gen-dev-certs.sh lays them out (key.pem, cert.pem, hashed CRL dir).
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tongban::testing::signing_pki {

struct Key {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  Key() = default;
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;
  Key(Key&& o) noexcept : key(std::exchange(o.key, nullptr)), cert(std::exchange(o.cert, nullptr)) {}
  Key& operator=(Key&& o) noexcept {
    std::swap(key, o.key);
    std::swap(cert, o.cert);
    return *this;
  }
  ~Key() {
    EVP_PKEY_free(key);
    X509_free(cert);
  }
};

inline std::string MakeTempDir(const std::string& prefix) {
  std::string templ = "/tmp/" + prefix + "XXXXXX";
  char* dir = mkdtemp(templ.data());
  return dir == nullptr ? "" : std::string(dir);
}

inline void AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext != nullptr) {
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
}

inline long NextSerial() {
  static long serial = 1000;
  return ++serial;
}

// A certificate for a new P-256 key. issuer == nullptr: self-signed CA.
// san: e.g. "URI:spiffe://tongban/province/430000" ("" for none).
inline Key MakeCert(const std::string& cn, const Key* issuer, const std::string& san,
                    absl::Time not_before, absl::Time not_after, bool ca = false) {
  Key k;
  k.key = EVP_EC_gen("P-256");
  k.cert = X509_new();
  X509_set_version(k.cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(k.cert), NextSerial());
  X509_NAME* name = X509_get_subject_name(k.cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(k.cert, issuer == nullptr ? name : X509_get_subject_name(issuer->cert));
  ASN1_TIME_set(X509_getm_notBefore(k.cert), absl::ToTimeT(not_before));
  ASN1_TIME_set(X509_getm_notAfter(k.cert), absl::ToTimeT(not_after));
  X509_set_pubkey(k.cert, k.key);
  X509* issuer_cert = issuer == nullptr ? k.cert : issuer->cert;
  AddExt(k.cert, issuer_cert, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  AddExt(k.cert, issuer_cert, NID_key_usage,
         ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  AddExt(k.cert, issuer_cert, NID_subject_key_identifier, "hash");
  if (!san.empty()) AddExt(k.cert, issuer_cert, NID_subject_alt_name, san);
  X509_sign(k.cert, issuer == nullptr ? k.key : issuer->key, EVP_sha256());
  return k;
}

inline Key MakeCa(const std::string& cn) {
  absl::Time now = absl::Now();
  return MakeCert(cn, nullptr, "", now - absl::Hours(24 * 3650), now + absl::Hours(24 * 3650),
                  true);
}

inline Key MakeNode(const Key& ca, const std::string& province,
                    absl::Time not_before = absl::Now() - absl::Hours(24 * 30),
                    absl::Time not_after = absl::Now() + absl::Hours(24 * 365)) {
  return MakeCert("tongban-node-" + province, &ca,
                  "URI:spiffe://tongban/province/" + province + ",DNS:localhost", not_before,
                  not_after);
}

inline bool WritePem(const std::string& path, X509* cert) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return false;
  bool ok = PEM_write_X509(f, cert) == 1;
  std::fclose(f);
  return ok;
}

inline bool WriteKey(const std::string& path, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return false;
  bool ok = PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  std::fclose(f);
  return ok;
}

// Writes dir/key.pem and dir/cert.pem (through temporary names and rename, as
// a renewal would).
inline bool WritePair(const std::string& dir, const Key& k) {
  return WriteKey(dir + "/key.pem.tmp", k.key) && WritePem(dir + "/cert.pem.tmp", k.cert) &&
         std::rename((dir + "/key.pem.tmp").c_str(), (dir + "/key.pem").c_str()) == 0 &&
         std::rename((dir + "/cert.pem.tmp").c_str(), (dir + "/cert.pem").c_str()) == 0;
}

struct Revocation {
  const Key* cert;
  absl::Time at;
};

// Writes the CA's CRL as dir/<subject-hash>.r0.
inline bool WriteCrl(const std::string& dir, const Key& ca, const std::vector<Revocation>& revoked,
                     absl::Time last_update = absl::Now() - absl::Minutes(1)) {
  X509_CRL* crl = X509_CRL_new();
  X509_CRL_set_version(crl, 1);
  X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca.cert));
  ASN1_TIME* t = ASN1_TIME_set(nullptr, absl::ToTimeT(last_update));
  X509_CRL_set1_lastUpdate(crl, t);
  ASN1_TIME_set(t, absl::ToTimeT(last_update + absl::Hours(24 * 30)));
  X509_CRL_set1_nextUpdate(crl, t);
  ASN1_TIME_free(t);
  for (const Revocation& r : revoked) {
    X509_REVOKED* rev = X509_REVOKED_new();
    X509_REVOKED_set_serialNumber(rev, X509_get_serialNumber(r.cert->cert));
    ASN1_TIME* at = ASN1_TIME_set(nullptr, absl::ToTimeT(r.at));
    X509_REVOKED_set_revocationDate(rev, at);
    ASN1_TIME_free(at);
    X509_CRL_add0_revoked(crl, rev);
  }
  X509_CRL_sort(crl);
  X509_CRL_sign(crl, ca.key, EVP_sha256());
  int ok = 0;
  unsigned long hash = X509_NAME_hash_ex(X509_get_subject_name(ca.cert), nullptr, nullptr, &ok);
  char name[32];
  std::snprintf(name, sizeof(name), "%08lx.r0", hash);
  std::string tmp = dir + "/" + name + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  bool written = f != nullptr && PEM_write_X509_CRL(f, crl) == 1;
  if (f != nullptr) std::fclose(f);
  X509_CRL_free(crl);
  return written && std::rename(tmp.c_str(), (dir + "/" + name).c_str()) == 0;
}

}  // namespace tongban::testing::signing_pki
