#include "record_signing.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <system_error>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "application_id.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/timestamp.pb.h"

namespace tongban::signing {
namespace {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CrlFree {
  void operator()(X509_CRL* c) const { X509_CRL_free(c); }
};
struct StoreFree {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct ChainFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using CrlPtr = std::unique_ptr<X509_CRL, CrlFree>;
using StorePtr = std::unique_ptr<X509_STORE, StoreFree>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, StoreCtxFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using ChainPtr = std::unique_ptr<STACK_OF(X509), ChainFree>;

constexpr char kProvinceUriPrefix[] = "spiffe://tongban/province/";
// A bound on the verifier's certificate cache; a federation has a few dozen
// signer certificates (one per province, two during a renewal).
constexpr size_t kMaxCachedCertificates = 1024;


// OpenSSL's error queue is per thread; never leave entries behind.
std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  std::string out = e == 0 ? "unknown OpenSSL error" : ERR_error_string(e, nullptr);
  ERR_clear_error();
  return out;
}

// dev:ino:size:mtime of a file (symlinks followed), "-" when missing. A
// renewal that swaps symlinks or rewrites a file changes it.
std::string FileStamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "-";
  return absl::StrCat(st.st_dev, ":", st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                      st.st_mtim.tv_nsec);
}

// The CRL files of a hashed directory, with their stamps.
std::string DirectoryStamp(const std::string& dir) {
  if (dir.empty()) return "";
  std::error_code ec;
  std::vector<std::string> names;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  if (ec) return "unreadable";
  std::sort(names.begin(), names.end());
  std::string out = FileStamp(dir);
  for (const std::string& name : names) {
    absl::StrAppend(&out, "|", name, "=", FileStamp(dir + "/" + name));
  }
  return out;
}

absl::Time AsnTime(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return absl::InfinitePast();
  return absl::FromUnixSeconds(static_cast<int64_t>(timegm(&tm)));
}

std::string TimeText(absl::Time t) {
  if (t == absl::InfinitePast()) return "(no time)";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

absl::Time EventTime(const v1::ApplicationEvent& event) {
  return absl::FromUnixSeconds(event.at().seconds()) + absl::Nanoseconds(event.at().nanos());
}

std::string SerialHex(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  char* hex = bn == nullptr ? nullptr : BN_bn2hex(bn);
  std::string out = hex == nullptr ? "?" : hex;
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

// The URI SANs of a certificate; a URI with an embedded NUL counts as a
// (malformed) URI too, so it cannot hide behind a prefix.
std::vector<std::string> UriSans(X509* cert) {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) {
    ERR_clear_error();
    return out;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                     static_cast<size_t>(ASN1_STRING_length(uri)));
  }
  GENERAL_NAMES_free(names);
  return out;
}

// The province of a certificate's single URI SAN spiffe://tongban/province/<6
// digits>; an explanation in *why otherwise.
bool ProvinceOf(X509* cert, std::string* province, std::string* why) {
  std::vector<std::string> uris = UriSans(cert);
  if (uris.size() != 1) {
    *why = absl::StrCat("signer certificate has ", uris.size(),
                        " URI SANs, a signer needs exactly one (spiffe://tongban/province/<code>)");
    return false;
  }
  const std::string& uri = uris[0];
  std::string code = absl::StartsWith(uri, kProvinceUriPrefix)
                         ? uri.substr(sizeof(kProvinceUriPrefix) - 1)
                         : std::string();
  bool digits = code.size() == 6 &&
                std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) {
    *why = absl::StrCat("signer certificate names '", absl::CHexEscape(uri),
                        "', not a province node (spiffe://tongban/province/<code>)");
    return false;
  }
  *province = code;
  return true;
}

bool IsP256(EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_base_id(key) != EVP_PKEY_EC) return false;
  char group[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_group_name(key, group, sizeof(group), &len) != 1) {
    ERR_clear_error();
    return false;
  }
  return std::string(group, len) == "prime256v1" || std::string(group, len) == "P-256";
}

std::string ReadFile(const std::string& path, bool* ok) {
  *ok = false;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return "";
  std::string out;
  char buf[8192];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  *ok = std::ferror(f) == 0;
  std::fclose(f);
  return out;
}

std::string Der(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  if (len <= 0) {
    ERR_clear_error();
    return "";
  }
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

// The number n of an event id "<province>-<n>" (n ≥ 1), or 0.
int64_t EventNumber(const std::string& event_id, const std::string& province) {
  if (province.empty() || !absl::StartsWith(event_id, province + "-")) return 0;
  std::string digits = event_id.substr(province.size() + 1);
  if (digits.empty() || digits.size() > 12 || digits[0] == '0' ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return 0;
  }
  int64_t n = 0;
  return absl::SimpleAtoi(digits, &n) ? n : 0;
}

template <typename Events>
std::string PreviousHashForImpl(const v1::ApplicationFiling& filing, const Events& events,
                                const std::string& province, const v1::ApplicationEvent** last) {
  *last = nullptr;
  for (const v1::ApplicationEvent& e : events) {
    if (e.province_code() == province && !IsLocalRecord(e)) *last = &e;
  }
  return *last == nullptr ? FilingHash(filing) : EventChainHash(**last);
}

template <typename Events>
absl::Status CheckChainLinkImpl(const v1::ApplicationFiling& filing, const Events& stored,
                                const v1::ApplicationEvent& incoming) {
  const v1::ApplicationEvent* last = nullptr;
  std::string expected = PreviousHashForImpl(filing, stored, incoming.province_code(), &last);
  if (incoming.previous_hash() == expected) return absl::OkStatus();
  std::string what = last == nullptr
                         ? absl::StrCat("the filing record of ", filing.application_id(),
                                        " (the first event of province ", incoming.province_code(),
                                        ")")
                         : absl::StrCat("event ", last->event_id());
  return absl::InvalidArgumentError(absl::StrCat(
      "event ", incoming.event_id(), ": previous_hash does not match ", what,
      ": an event was altered, removed or reordered"));
}

}  // namespace

std::string Sha256(std::string_view bytes) {
  // SHA256() in OpenSSL 3 looks the algorithm up by name on every call
  // (EVP_Q_digest); fetching it once takes that off every filing's path.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (kSha256 == nullptr ||
      EVP_Digest(bytes.data(), bytes.size(), md, &len, kSha256, nullptr) != 1) {
    // Only a broken OpenSSL installation gets here; an unkeyed digest has no
    // other failure mode. Fall back to the slow path rather than lose data.
    SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), md);
    len = SHA256_DIGEST_LENGTH;
  }
  return std::string(reinterpret_cast<const char*>(md), len);
}

// ---------------------------------------------------------------------------
// Hashes.

bool IsLocalRecord(const v1::ApplicationEvent& event) {
  return event.action() == v1::APPLICATION_ACTION_DISCARD_DELIVERY;
}

std::string DeterministicBytes(const google::protobuf::Message& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializePartialToCodedStream(&coded);
  }
  return out;
}

std::string FilingHash(const v1::ApplicationFiling& filing) {
  return Sha256(DeterministicBytes(filing));
}

std::string EventChainHash(const v1::ApplicationEvent& event) {
  return Sha256(DeterministicBytes(event));
}

std::string EventSigningInput(const std::string& application_id,
                              const v1::ApplicationEvent& event) {
  std::string out = absl::StrCat(kEventSigningContext, application_id, "\n");
  if (event.has_signature()) {
    v1::ApplicationEvent unsigned_event = event;
    unsigned_event.clear_signature();
    out += DeterministicBytes(unsigned_event);
  } else {
    out += DeterministicBytes(event);
  }
  return out;
}

std::string EventSigningDigest(const std::string& application_id,
                               const v1::ApplicationEvent& event) {
  return Sha256(EventSigningInput(application_id, event));
}

std::string Hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string PreviousHashFor(const v1::ApplicationFiling& filing,
                            const std::vector<v1::ApplicationEvent>& events,
                            const std::string& province) {
  const v1::ApplicationEvent* last = nullptr;
  return PreviousHashForImpl(filing, events, province, &last);
}

std::string PreviousHashFor(const v1::ApplicationFiling& filing,
                            const google::protobuf::RepeatedPtrField<v1::ApplicationEvent>& events,
                            const std::string& province) {
  const v1::ApplicationEvent* last = nullptr;
  return PreviousHashForImpl(filing, events, province, &last);
}

absl::Status CheckChainLink(const v1::ApplicationFiling& filing,
                            const std::vector<v1::ApplicationEvent>& stored_events_of_application,
                            const v1::ApplicationEvent& incoming) {
  return CheckChainLinkImpl(filing, stored_events_of_application, incoming);
}

absl::Status CheckChainLink(
    const v1::ApplicationFiling& filing,
    const google::protobuf::RepeatedPtrField<v1::ApplicationEvent>& stored_events_of_application,
    const v1::ApplicationEvent& incoming) {
  return CheckChainLinkImpl(filing, stored_events_of_application, incoming);
}

// ---------------------------------------------------------------------------
// RecordSigner.

struct RecordSigner::Identity {
  KeyPtr key;
  std::string certificate_der;
  std::string province;
};

struct RecordSigner::State {
  std::string key_file;
  std::string cert_file;
  absl::Duration recheck_interval;
  absl::Mutex mu;
  std::shared_ptr<const Identity> current;  // guarded by mu
  std::string stamp;                        // guarded by mu: of `current`'s files
  absl::Time last_check;                    // guarded by mu
};

namespace {

absl::StatusOr<std::shared_ptr<const RecordSigner::Identity>> LoadIdentity(
    const std::string& key_file, const std::string& cert_file) {
  bool ok = false;
  std::string key_pem = ReadFile(key_file, &ok);
  if (!ok) {
    return absl::FailedPreconditionError(absl::StrCat("signing key ", key_file, " is unreadable"));
  }
  std::string cert_pem = ReadFile(cert_file, &ok);
  if (!ok) {
    return absl::FailedPreconditionError(
        absl::StrCat("signing certificate ", cert_file, " is unreadable"));
  }
  BioPtr key_bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  KeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  OPENSSL_cleanse(key_pem.data(), key_pem.size());
  if (key == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(key_file, " holds no PEM private key: ", OpenSslError()));
  }
  if (!IsP256(key.get())) {
    return absl::FailedPreconditionError(absl::StrCat(key_file, " is not an ECDSA P-256 key"));
  }
  BioPtr cert_bio(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
  X509Ptr cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(cert_file, " holds no PEM certificate: ", OpenSslError()));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::FailedPreconditionError(absl::StrCat(
        key_file, " does not match the certificate ", cert_file,
        " (read between the two halves of a renewal? retried on the next signature)"));
  }
  auto identity = std::make_shared<RecordSigner::Identity>();
  std::string why;
  if (!ProvinceOf(cert.get(), &identity->province, &why)) {
    return absl::FailedPreconditionError(absl::StrCat(cert_file, ": ", why));
  }
  identity->certificate_der = Der(cert.get());
  if (identity->certificate_der.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(cert_file, ": cannot encode as DER"));
  }
  identity->key = std::move(key);
  return std::shared_ptr<const RecordSigner::Identity>(std::move(identity));
}

}  // namespace

RecordSigner::RecordSigner(std::string key_file, std::string cert_file,
                           absl::Duration recheck_interval)
    : state_(std::make_unique<State>()) {
  state_->key_file = std::move(key_file);
  state_->cert_file = std::move(cert_file);
  state_->recheck_interval = recheck_interval;
}

RecordSigner::~RecordSigner() = default;

absl::StatusOr<std::unique_ptr<RecordSigner>> RecordSigner::Create(const std::string& key_file,
                                                                   const std::string& cert_file,
                                                                   absl::Duration recheck_interval) {
  std::string stamp = FileStamp(key_file) + "|" + FileStamp(cert_file);
  absl::StatusOr<std::shared_ptr<const Identity>> identity = LoadIdentity(key_file, cert_file);
  if (!identity.ok()) return identity.status();
  std::unique_ptr<RecordSigner> signer(new RecordSigner(key_file, cert_file, recheck_interval));
  signer->state_->current = *std::move(identity);
  signer->state_->stamp = std::move(stamp);
  signer->state_->last_check = absl::Now();
  return signer;
}

std::shared_ptr<const RecordSigner::Identity> RecordSigner::Current() {
  State& s = *state_;
  absl::MutexLock lock(&s.mu);
  absl::Time now = absl::Now();
  if (now - s.last_check >= s.recheck_interval) {
    s.last_check = now;
    std::string stamp = FileStamp(s.key_file) + "|" + FileStamp(s.cert_file);
    if (stamp != s.stamp) {
      // A failed reload (e.g. caught between the key and the certificate of a
      // renewal) keeps the previous pair and retries on the next check.
      absl::StatusOr<std::shared_ptr<const Identity>> fresh = LoadIdentity(s.key_file, s.cert_file);
      if (fresh.ok()) {
        s.current = *std::move(fresh);
        s.stamp = std::move(stamp);
      }
    }
  }
  return s.current;
}

std::string RecordSigner::province() const {
  absl::MutexLock lock(&state_->mu);
  return state_->current->province;
}

std::string RecordSigner::certificate_der() const {
  absl::MutexLock lock(&state_->mu);
  return state_->current->certificate_der;
}

namespace {

// ECDSA over a 32-byte digest with `id`'s key into *out (left untouched on
// failure): the signing core of SignDigest and SignEvent.
absl::Status SignWith(const RecordSigner::Identity& id, const std::string& digest32,
                      v1::RecordSignature* out) {
  if (digest32.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("a signing digest is 32 bytes (SHA-256), not ", digest32.size()));
  }
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, id.key.get(), nullptr));
  size_t len = 0;
  if (ctx == nullptr || EVP_PKEY_sign_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_sign(ctx.get(), nullptr, &len,
                    reinterpret_cast<const unsigned char*>(digest32.data()),
                    digest32.size()) != 1) {
    return absl::InternalError(absl::StrCat("cannot sign: ", OpenSslError()));
  }
  std::string sig(len, '\0');
  if (EVP_PKEY_sign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                    reinterpret_cast<const unsigned char*>(digest32.data()),
                    digest32.size()) != 1) {
    return absl::InternalError(absl::StrCat("cannot sign: ", OpenSslError()));
  }
  sig.resize(len);
  out->set_algorithm(kAlgorithm);
  out->set_signer_certificate(id.certificate_der);
  out->set_signature(std::move(sig));
  return absl::OkStatus();
}

}  // namespace

absl::Status RecordSigner::SignDigest(const std::string& province, const std::string& digest32,
                                      v1::RecordSignature* out) {
  std::shared_ptr<const Identity> id = Current();
  if (province != id->province) {
    return absl::FailedPreconditionError(
        absl::StrCat("a record of province '", absl::CHexEscape(province),
                     "': this node signs for province ", id->province));
  }
  return SignWith(*id, digest32, out);
}

absl::Status RecordSigner::SignEvent(const std::string& application_id,
                                     v1::ApplicationEvent* event) {
  // One identity for the check and the signature (a renewal may land between
  // two Current() calls), so the province check is made here rather than by
  // SignDigest, with the event's own message.
  std::shared_ptr<const Identity> id = Current();
  if (event->province_code() != id->province) {
    return absl::FailedPreconditionError(absl::StrCat(
        "event ", event->event_id(), " of ", application_id, " is authored by province '",
        event->province_code(), "'; this node signs for province ", id->province));
  }
  event->clear_signature();
  return SignWith(*id, EventSigningDigest(application_id, *event), event->mutable_signature());
}

// ---------------------------------------------------------------------------
// RecordVerifier.

namespace {

// What a verified signer certificate allows, computed once per certificate
// and trust generation.
struct SignerInfo {
  X509Ptr cert;          // owns the public key
  EVP_PKEY* key = nullptr;  // X509_get0_pubkey(cert)
  std::string province;  // empty: see province_problem
  std::string province_problem;
  std::string serial;
  // Validity window of the whole chain (leaf and CA).
  absl::Time not_before = absl::InfinitePast();
  absl::Time not_after = absl::InfiniteFuture();
  // Revocation per the CRL of the issuing CA (when a CRL directory is set).
  bool crl_missing = false;
  bool revoked = false;
  absl::Time revoked_at = absl::InfinitePast();
};

}  // namespace

struct RecordVerifier::Trust {
  StorePtr store;
  std::vector<X509Ptr> cas;
  std::string crl_directory;
  // The newest CRL (by lastUpdate) of each CA that is signed by it, by CA index.
  std::vector<CrlPtr> crl_of_ca;
  std::string stamp;

  mutable absl::Mutex mu;
  mutable absl::flat_hash_map<std::string, std::shared_ptr<const SignerInfo>> cache;  // by SHA-256(DER)

  // The signer info of a DER certificate, or an explanation.
  absl::StatusOr<std::shared_ptr<const SignerInfo>> Lookup(const std::string& der) const;
};

struct RecordVerifier::State {
  std::string ca_file;
  std::string crl_directory;
  absl::Duration recheck_interval;
  absl::Mutex mu;
  std::shared_ptr<const Trust> current;  // guarded by mu
  absl::Time last_check;                 // guarded by mu

  std::shared_ptr<const Trust> Current();
};

namespace {

std::string TrustStamp(const std::string& ca_file, const std::string& crl_directory) {
  return FileStamp(ca_file) + "#" + DirectoryStamp(crl_directory);
}

absl::StatusOr<std::shared_ptr<RecordVerifier::Trust>> LoadTrust(const std::string& ca_file,
                                                                 const std::string& crl_directory) {
  auto trust = std::make_shared<RecordVerifier::Trust>();
  trust->stamp = TrustStamp(ca_file, crl_directory);
  trust->crl_directory = crl_directory;
  bool ok = false;
  std::string pem = ReadFile(ca_file, &ok);
  if (!ok) return absl::FailedPreconditionError(absl::StrCat("CA bundle ", ca_file, " is unreadable"));
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    trust->cas.emplace_back(ca);
  }
  ERR_clear_error();  // the end of the file reads as an error
  if (trust->cas.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("CA bundle ", ca_file, " holds no PEM certificate"));
  }
  trust->store.reset(X509_STORE_new());
  for (const X509Ptr& ca : trust->cas) {
    if (X509_STORE_add_cert(trust->store.get(), ca.get()) != 1) ERR_clear_error();  // duplicates
  }
  if (!crl_directory.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(crl_directory, ec)) {
      return absl::FailedPreconditionError(
          absl::StrCat("CRL directory ", crl_directory, " does not exist"));
    }
    for (const X509Ptr& ca : trust->cas) {
      const X509_NAME* subject = X509_get_subject_name(ca.get());
      EVP_PKEY* ca_key = X509_get0_pubkey(ca.get());
      int hash_ok = 0;
      unsigned long hash = X509_NAME_hash_ex(subject, nullptr, nullptr, &hash_ok);
      CrlPtr best;
      absl::Time best_update = absl::InfinitePast();
      // As OpenSSL's hash_dir lookup: suffixes 0, 1, ... until one is missing.
      for (int k = 0; k < 100; ++k) {
        char name[32];
        std::snprintf(name, sizeof(name), "%08lx.r%d", hash, k);
        std::string path = absl::StrCat(crl_directory, "/", name);
        std::string crl_pem = ReadFile(path, &ok);
        if (!ok) break;
        BioPtr crl_bio(BIO_new_mem_buf(crl_pem.data(), static_cast<int>(crl_pem.size())));
        CrlPtr crl(PEM_read_bio_X509_CRL(crl_bio.get(), nullptr, nullptr, nullptr));
        if (crl == nullptr) {
          ERR_clear_error();
          break;
        }
        if (X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), subject) != 0) continue;
        if (ca_key == nullptr || X509_CRL_verify(crl.get(), ca_key) != 1) {
          ERR_clear_error();
          continue;
        }
        absl::Time update = AsnTime(X509_CRL_get0_lastUpdate(crl.get()));
        if (best == nullptr || update > best_update) {
          best = std::move(crl);
          best_update = update;
        }
      }
      trust->crl_of_ca.push_back(std::move(best));
    }
  }
  return trust;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const SignerInfo>> RecordVerifier::Trust::Lookup(
    const std::string& der) const {
  std::string key = Sha256(der);
  {
    absl::MutexLock lock(&mu);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  if (der.empty() || der.size() > 64 * 1024) {
    return absl::PermissionDeniedError("signer certificate is empty or oversized");
  }
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (cert == nullptr || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    ERR_clear_error();
    return absl::PermissionDeniedError("signer certificate is not a DER X.509 certificate");
  }
  auto info = std::make_shared<SignerInfo>();
  // Chain to the federation CA; the time is checked per event against the
  // chain's validity window below (one chain build per certificate).
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (ctx == nullptr || X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1) {
    return absl::InternalError(absl::StrCat("cannot verify certificates: ", OpenSslError()));
  }
  X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_NO_CHECK_TIME);
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return absl::PermissionDeniedError(
        absl::StrCat("signer certificate does not chain to the federation CA (",
                     X509_verify_cert_error_string(err), ")"));
  }
  ChainPtr chain(X509_STORE_CTX_get1_chain(ctx.get()));
  int n = chain == nullptr ? 0 : sk_X509_num(chain.get());
  for (int i = 0; i < n; ++i) {
    X509* c = sk_X509_value(chain.get(), i);
    info->not_before = std::max(info->not_before, AsnTime(X509_get0_notBefore(c)));
    info->not_after = std::min(info->not_after, AsnTime(X509_get0_notAfter(c)));
  }
  info->key = X509_get0_pubkey(cert.get());
  if (!IsP256(info->key)) {
    return absl::PermissionDeniedError("signer certificate's key is not ECDSA P-256");
  }
  if (!ProvinceOf(cert.get(), &info->province, &info->province_problem)) info->province.clear();
  info->serial = SerialHex(cert.get());
  if (!crl_directory.empty()) {
    // The issuing CA: the chain's second certificate (a trusted CA presented
    // as a signer is its own issuer and names no province anyway).
    X509* issuer = n > 1 ? sk_X509_value(chain.get(), 1) : cert.get();
    const X509_CRL* crl = nullptr;
    for (size_t i = 0; i < cas.size(); ++i) {
      if (X509_cmp(cas[i].get(), issuer) == 0) {
        crl = crl_of_ca[i].get();
        break;
      }
    }
    if (crl == nullptr) {
      info->crl_missing = true;
    } else {
      X509_REVOKED* revoked = nullptr;
      if (X509_CRL_get0_by_cert(const_cast<X509_CRL*>(crl), &revoked, cert.get()) == 1 &&
          revoked != nullptr) {
        info->revoked = true;
        info->revoked_at = AsnTime(X509_REVOKED_get0_revocationDate(revoked));
      }
    }
  }
  info->cert = std::move(cert);
  std::shared_ptr<const SignerInfo> out = info;
  absl::MutexLock lock(&mu);
  if (cache.size() >= kMaxCachedCertificates) cache.clear();
  cache.emplace(key, out);
  return out;
}

std::shared_ptr<const RecordVerifier::Trust> RecordVerifier::State::Current() {
  absl::MutexLock lock(&mu);
  absl::Time now = absl::Now();
  if (now - last_check >= recheck_interval) {
    last_check = now;
    if (TrustStamp(ca_file, crl_directory) != current->stamp) {
      // A bundle or CRL caught mid-write keeps the previous trust until the
      // next check reads a good one.
      absl::StatusOr<std::shared_ptr<Trust>> fresh = LoadTrust(ca_file, crl_directory);
      if (fresh.ok()) current = *std::move(fresh);
    }
  }
  return current;
}

RecordVerifier::RecordVerifier(std::string ca_file, std::string crl_directory,
                               absl::Duration recheck_interval)
    : state_(std::make_unique<State>()) {
  state_->ca_file = std::move(ca_file);
  state_->crl_directory = std::move(crl_directory);
  state_->recheck_interval = recheck_interval;
}

RecordVerifier::~RecordVerifier() = default;

absl::StatusOr<std::unique_ptr<RecordVerifier>> RecordVerifier::Create(
    const std::string& ca_file, const std::string& crl_directory, absl::Duration recheck_interval) {
  absl::StatusOr<std::shared_ptr<Trust>> trust = LoadTrust(ca_file, crl_directory);
  if (!trust.ok()) return trust.status();
  std::unique_ptr<RecordVerifier> verifier(
      new RecordVerifier(ca_file, crl_directory, recheck_interval));
  verifier->state_->current = *std::move(trust);
  verifier->state_->last_check = absl::Now();
  return verifier;
}

size_t RecordVerifier::cached_certificates() const {
  std::shared_ptr<const Trust> trust = state_->Current();
  absl::MutexLock lock(&trust->mu);
  return trust->cache.size();
}

namespace {

// How a reason names the record it is about.
struct RecordWording {
  // "signer certificate names province X, <mismatch> Y".
  const char* mismatch;
  // "has no time<no_time_what>: cannot tell whether the signer was valid".
  const char* no_time_what;
  // "... at <time_what> <time>".
  const char* time_what;
};

constexpr RecordWording kEventWording = {"event is authored by", " (`at`)", "the event's time"};
constexpr RecordWording kRecordWording = {"the record is of province", "", "the record's time"};

// Why `sig` over `digest32` is not a valid signature of a record of
// `expected_province` made at `at` (InfinitePast: the record has no time), or
// "" when it is. `after_province` is a problem of the record itself reported
// once the signer's province is known to be right ("" for none).
std::string SignatureProblem(const v1::RecordSignature& sig, const std::string& expected_province,
                             const std::string& digest32, absl::Time at, VerifyMode mode,
                             absl::Time now, const RecordVerifier::Trust& trust,
                             const RecordWording& wording, const std::string& after_province) {
  if (sig.signature().empty() && sig.signer_certificate().empty()) return "not signed";
  if (sig.algorithm() != kAlgorithm) {
    return absl::StrCat("unknown signature algorithm '", absl::CHexEscape(sig.algorithm()),
                        "' (expected ", kAlgorithm, ")");
  }
  absl::StatusOr<std::shared_ptr<const SignerInfo>> looked_up =
      trust.Lookup(sig.signer_certificate());
  if (!looked_up.ok()) return std::string(looked_up.status().message());
  const SignerInfo& info = **looked_up;
  if (info.province.empty()) return info.province_problem;
  if (info.province != expected_province) {
    return absl::StrCat("signer certificate names province ", info.province, ", ", wording.mismatch,
                        " ", absl::CHexEscape(expected_province));
  }
  if (!after_province.empty()) return after_province;
  absl::Time t = now;
  std::string when = absl::StrCat("now (", TimeText(now), ")");
  if (mode == VerifyMode::kHistorical) {
    if (at == absl::InfinitePast()) {
      return absl::StrCat("has no time", wording.no_time_what,
                          ": cannot tell whether the signer was valid");
    }
    t = at;
    when = absl::StrCat(wording.time_what, " ", TimeText(t));
  }
  if (t < info.not_before) {
    return absl::StrCat("signer certificate (serial ", info.serial, ") is not yet valid at ", when,
                        ": valid from ", TimeText(info.not_before));
  }
  if (t > info.not_after) {
    return absl::StrCat("signer certificate (serial ", info.serial, ") expired at ",
                        TimeText(info.not_after), ", before ", when);
  }
  if (info.crl_missing) {
    return absl::StrCat("no CRL of the signer's CA in ", trust.crl_directory,
                        ": cannot check revocation");
  }
  if (info.revoked) {
    if (mode == VerifyMode::kReceiving) {
      return absl::StrCat("signer certificate revoked (serial ", info.serial, ", since ",
                          TimeText(info.revoked_at), ")");
    }
    if (info.revoked_at <= t) {
      return absl::StrCat("signer certificate revoked (serial ", info.serial, ") at ",
                          TimeText(info.revoked_at), ", before ", when);
    }
  }
  // A digest of another length never verifies (EVP_PKEY_verify refuses it
  // for SHA-256).
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, info.key, nullptr));
  int rc = -1;
  if (ctx != nullptr && EVP_PKEY_verify_init(ctx.get()) == 1 &&
      EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) == 1) {
    rc = EVP_PKEY_verify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.signature().data()),
                         sig.signature().size(),
                         reinterpret_cast<const unsigned char*>(digest32.data()), digest32.size());
  }
  ERR_clear_error();
  if (rc != 1) return "signature does not verify";
  return "";
}

// Why `event` does not verify, or "" when it does.
std::string EventProblem(const std::string& application_id, const v1::ApplicationEvent& event,
                         absl::Time now, VerifyMode mode, const RecordVerifier::Trust& trust) {
  std::string id_problem;
  if (EventNumber(event.event_id(), event.province_code()) == 0) {
    id_problem =
        absl::StrCat("event id '", absl::CHexEscape(event.event_id()),
                     "' is not <authoring province>-<n> (province ", event.province_code(), ")");
  }
  return SignatureProblem(event.signature(), event.province_code(),
                          EventSigningDigest(application_id, event),
                          event.has_at() ? EventTime(event) : absl::InfinitePast(), mode, now,
                          trust, kEventWording, id_problem);
}

}  // namespace

absl::Status RecordVerifier::VerifySignature(const v1::RecordSignature& sig,
                                             const std::string& expected_province,
                                             const std::string& digest32, absl::Time at,
                                             VerifyMode mode, absl::Time now,
                                             const std::string& what) const {
  std::shared_ptr<const Trust> trust = state_->Current();
  std::string problem =
      SignatureProblem(sig, expected_province, digest32, at, mode, now, *trust, kRecordWording, "");
  if (problem.empty()) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(what, ": ", problem));
}

absl::Status RecordVerifier::VerifyEvent(const std::string& application_id,
                                         const v1::ApplicationEvent& event, absl::Time now,
                                         VerifyMode mode) const {
  std::shared_ptr<const Trust> trust = state_->Current();
  std::string problem = EventProblem(application_id, event, now, mode, *trust);
  if (problem.empty()) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("event ", absl::CHexEscape(event.event_id()),
                                                  " of ", application_id, ": ", problem));
}

// ---------------------------------------------------------------------------
// VerifyHistory.

bool HistoryVerdict::ok() const {
  if (!problems.empty()) return false;
  return std::all_of(events.begin(), events.end(), [](const EventVerdict& e) { return e.ok(); });
}

HistoryVerdict VerifyHistory(const std::string& application_id, const v1::ApplicationFiling* filing,
                             const std::vector<v1::ApplicationEvent>& events,
                             const RecordVerifier& verifier) {
  HistoryVerdict verdict;
  v1::ApplicationFiling empty_filing;
  if (filing == nullptr || filing->application_id().empty()) {
    verdict.problems.push_back(
        "no filing record: the chains (which start at the filing hash) cannot be checked");
    filing = &empty_filing;
  } else if (filing->application_id() != application_id) {
    verdict.problems.push_back(absl::StrCat("the filing record is of ",
                                            absl::CHexEscape(filing->application_id()),
                                            ", not of ", application_id));
  }
  absl::StatusOr<ApplicationIdParts> parts = ParseApplicationId(application_id);
  if (!parts.ok()) {
    verdict.problems.push_back(std::string(parts.status().message()));
  } else if (filing != &empty_filing &&
             (filing->accepting_province() != parts->accepting_province ||
              filing->handling_province() != parts->handling_province)) {
    verdict.problems.push_back(absl::StrCat(
        "the filing record names accepting province ", filing->accepting_province(),
        " and handling province ", filing->handling_province(), ", the id names ",
        parts->accepting_province, " and ", parts->handling_province));
  }
  if (events.empty()) verdict.problems.push_back("no events");

  const std::string accepting =
      parts.ok() ? parts->accepting_province : filing->accepting_province();
  struct Chain {
    int64_t last_n = 0;
    std::string last_id;
    std::string last_hash;
  };
  std::map<std::string, Chain> chains;
  const std::string filing_hash = FilingHash(*filing);
  // Historical mode does not use `now`.
  const absl::Time now = absl::Now();
  bool accepting_seen = false;
  for (const v1::ApplicationEvent& e : events) {
    EventVerdict v;
    v.event_id = e.event_id();
    v.province = e.province_code();
    v.action = v1::ApplicationAction_Name(e.action());
    if (v.action.empty()) v.action = absl::StrCat("action ", static_cast<int>(e.action()));
    v.at = e.has_at() ? EventTime(e) : absl::InfinitePast();
    if (IsLocalRecord(e)) {
      v.local_record = true;
      verdict.events.push_back(std::move(v));
      continue;
    }
    absl::Status sig = verifier.VerifyEvent(application_id, e, now, VerifyMode::kHistorical);
    if (!sig.ok()) {
      // Drop the "event <id> of <application>: " prefix, the report names both.
      std::string message(sig.message());
      size_t colon = message.find(": ");
      v.problems.push_back(colon == std::string::npos ? message : message.substr(colon + 2));
    }
    Chain& chain = chains[e.province_code()];
    int64_t n = EventNumber(e.event_id(), e.province_code());
    if (n == 0) {
      v.problems.push_back(absl::StrCat("event id is not ", e.province_code(), "-<n>"));
    } else if (n != chain.last_n + 1) {
      if (n > chain.last_n + 1) {
        v.problems.push_back(absl::StrCat(
            "expected ", e.province_code(), "-", chain.last_n + 1,
            n == chain.last_n + 2 ? "" : absl::StrCat("..", n - 1).c_str(),
            chain.last_n == 0 ? " first" : absl::StrCat(" after ", chain.last_id).c_str(),
            ": missing (removed or reordered)"));
      } else {
        v.problems.push_back(absl::StrCat("comes after ", chain.last_id,
                                          ": duplicated or reordered"));
      }
    }
    const std::string& expected = chain.last_id.empty() ? filing_hash : chain.last_hash;
    if (e.previous_hash() != expected) {
      v.problems.push_back(absl::StrCat(
          "previous_hash does not match ",
          chain.last_id.empty()
              ? absl::StrCat("the filing record (first event of province ", e.province_code(), ")")
              : absl::StrCat("event ", chain.last_id),
          ": an event was altered, removed or reordered"));
    }
    if (n > 0) chain.last_n = n;
    chain.last_id = e.event_id();
    chain.last_hash = EventChainHash(e);
    if (e.province_code() == accepting && !accepting_seen) {
      accepting_seen = true;
      if (e.action() != v1::APPLICATION_ACTION_SUBMIT) {
        v.problems.push_back(absl::StrCat("the accepting province's first event is ", v.action,
                                          ", not SUBMIT"));
      }
    } else if (e.action() == v1::APPLICATION_ACTION_SUBMIT) {
      v.problems.push_back(e.province_code() == accepting
                               ? std::string("a second SUBMIT")
                               : absl::StrCat("SUBMIT authored by ", e.province_code(),
                                              ", not the accepting province ", accepting));
    }
    verdict.events.push_back(std::move(v));
  }
  if (!events.empty() && !accepting_seen) {
    verdict.problems.push_back(absl::StrCat("no event by the accepting province ", accepting,
                                            ": its signed SUBMIT is missing"));
  }
  return verdict;
}

}  // namespace tongban::signing
