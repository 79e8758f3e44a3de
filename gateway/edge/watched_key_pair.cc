#include "watched_key_pair.h"

#include <openssl/err.h>
#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace tongban::edge {

absl::StatusOr<std::shared_ptr<const WatchedKeyPair::Pair>> WatchedKeyPair::Read(
    const std::string& cert_file, const std::string& key_file) {
  auto pair = std::make_shared<Pair>();
  pair->chain = x509::ReadCertificates(cert_file);
  if (pair->chain.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("public_edge.cert_file ", cert_file, ": no PEM certificate could be read"));
  }
  pair->key = x509::ReadPrivateKey(key_file);
  if (pair->key == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("public_edge.key_file ", key_file, ": no PEM private key could be read"));
  }
  if (X509_check_private_key(pair->chain.front().get(), pair->key.get()) != 1) {
    ERR_clear_error();
    return absl::FailedPreconditionError(absl::StrCat(
        "public_edge.key_file ", key_file, " does not match the certificate in ", cert_file));
  }
  return std::shared_ptr<const Pair>(std::move(pair));
}

absl::StatusOr<std::unique_ptr<WatchedKeyPair>> WatchedKeyPair::Load(std::string cert_file,
                                                                     std::string key_file,
                                                                     absl::Duration refresh) {
  absl::StatusOr<std::shared_ptr<const Pair>> pair = Read(cert_file, key_file);
  if (!pair.ok()) return pair.status();
  std::unique_ptr<WatchedKeyPair> watched(
      new WatchedKeyPair(std::move(cert_file), std::move(key_file), refresh));
  watched->pair_ = std::move(*pair);
  watched->stamp_ = watched->Stamp();
  watched->checked_ = absl::Now();
  return watched;
}

std::string WatchedKeyPair::Stamp() const {
  std::string stamp;
  for (const std::string* path : {&cert_file_, &key_file_}) {
    struct stat st {};
    // stat follows symlinks: a "..data" swap changes the inode seen here.
    if (stat(path->c_str(), &st) != 0) return "";
    absl::StrAppend(&stamp, st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                    st.st_mtim.tv_nsec, ";");
  }
  return stamp;
}

std::shared_ptr<const WatchedKeyPair::Pair> WatchedKeyPair::Current() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  if (now - checked_ < refresh_) return pair_;
  checked_ = now;
  std::string stamp = Stamp();
  if (stamp.empty() || stamp == stamp_) return pair_;
  // Both files of a renewal may not be in place yet (cert written, key not):
  // a pair that does not read or match is retried at the next check.
  absl::StatusOr<std::shared_ptr<const Pair>> fresh = Read(cert_file_, key_file_);
  if (fresh.ok()) {
    pair_ = std::move(*fresh);
    stamp_ = std::move(stamp);
  }
  return pair_;
}

int WatchedKeyPair::OnCertificate(SSL* ssl, void* self) {
  std::shared_ptr<const Pair> pair = static_cast<WatchedKeyPair*>(self)->Current();
  STACK_OF(X509)* chain = sk_X509_new_null();
  if (chain == nullptr) return 0;
  for (size_t i = 1; i < pair->chain.size(); ++i) sk_X509_push(chain, pair->chain[i].get());
  // SSL_use_cert_and_key takes its own references.
  int ok = SSL_use_cert_and_key(ssl, pair->chain.front().get(), pair->key.get(), chain,
                                /*override=*/1);
  sk_X509_free(chain);
  return ok == 1 ? 1 : 0;
}

void WatchedKeyPair::Install(SSL_CTX* ctx) { SSL_CTX_set_cert_cb(ctx, &OnCertificate, this); }

}  // namespace tongban::edge
