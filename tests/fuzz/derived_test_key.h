// Test-only ECDSA P-256 keys derived from a label (private scalar =
// SHA-256(label) mod n), so the fuzz targets and the seed-corpus generator,
// which run in different processes, use the same keys without any private
// key being committed ("keys are generated, never committed").
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <string>

namespace tongban::fuzzing {

// PEM of the private key (PKCS#8) or, with public_only, of its public key.
// "" when OpenSSL fails (the caller's key parse then fails loudly).
inline std::string DerivedTestKeyPem(const std::string& label, bool public_only = false) {
  unsigned char seed[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(label.data()), label.size(), seed);
  std::string out;
  BN_CTX* ctx = BN_CTX_new();
  EC_GROUP* group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  BIGNUM* priv = BN_bin2bn(seed, sizeof(seed), nullptr);
  EC_POINT* pub = group != nullptr ? EC_POINT_new(group) : nullptr;
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM* params = nullptr;
  EVP_PKEY_CTX* pctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* pkey = nullptr;
  BIO* bio = BIO_new(BIO_s_mem());
  unsigned char pub_bytes[65];
  size_t pub_len = 0;
  if (ctx != nullptr && group != nullptr && priv != nullptr && pub != nullptr &&
      BN_nnmod(priv, priv, EC_GROUP_get0_order(group), ctx) == 1 &&
      EC_POINT_mul(group, pub, priv, nullptr, nullptr, ctx) == 1 &&
      (pub_len = EC_POINT_point2oct(group, pub, POINT_CONVERSION_UNCOMPRESSED, pub_bytes,
                                    sizeof(pub_bytes), ctx)) > 0 &&
      bld != nullptr &&
      OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub_bytes, pub_len) == 1 &&
      (params = OSSL_PARAM_BLD_to_param(bld)) != nullptr && pctx != nullptr &&
      EVP_PKEY_fromdata_init(pctx) == 1 &&
      EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_KEYPAIR, params) == 1 && bio != nullptr &&
      (public_only ? PEM_write_bio_PUBKEY(bio, pkey)
                   : PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr)) ==
          1) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    if (n > 0) out.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  EVP_PKEY_CTX_free(pctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  EC_POINT_free(pub);
  BN_free(priv);
  EC_GROUP_free(group);
  BN_CTX_free(ctx);
  return out;
}

}  // namespace tongban::fuzzing
