#include "cert_check.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "peer_identity.h"
#include "x509_files.h"

namespace tongban::ctl {
namespace {

namespace fs = std::filesystem;

struct StoreFree {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct CtxFree {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};
struct StackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
using x509::KeyPtr;
using x509::OneLine;
using x509::UnixTime;
using x509::UriSans;
using x509::X509Ptr;
using StorePtr = std::unique_ptr<X509_STORE, StoreFree>;
using CtxPtr = std::unique_ptr<X509_STORE_CTX, CtxFree>;
using StackPtr = std::unique_ptr<STACK_OF(X509), StackFree>;

constexpr int64_t kDay = 86400;

std::string SerialHex(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  char* hex = bn == nullptr ? nullptr : BN_bn2hex(bn);
  std::string out = hex == nullptr ? "" : hex;
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

// Whole days from now to t, rounded down (so "0 days" means < 24 h left).
int64_t DaysLeft(int64_t t, int64_t now) {
  int64_t d = t - now;
  return d >= 0 ? d / kDay : -((-d + kDay - 1) / kDay);
}

// Revocation as a gRPC 1.51 process sees it: OpenSSL with a hash_dir lookup
// on the CRL directory and X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL.
// The callback records what happened and lets verification go on, so one
// pass tells revoked / no CRL / good regardless of other errors (those are
// reported by the chain and validity checks).
struct RevocationState {
  bool revoked = false;
  bool no_crl = false;
};
thread_local RevocationState* g_revocation = nullptr;

int RecordRevocation(int /*ok*/, X509_STORE_CTX* ctx) {
  int error = X509_STORE_CTX_get_error(ctx);
  if (g_revocation != nullptr) {
    if (error == X509_V_ERR_CERT_REVOKED) g_revocation->revoked = true;
    if (error == X509_V_ERR_UNABLE_TO_GET_CRL && X509_STORE_CTX_get_error_depth(ctx) == 0) {
      g_revocation->no_crl = true;
    }
  }
  return 1;
}

std::string Verify(X509_STORE* store, X509* leaf, STACK_OF(X509) * untrusted,
                   RevocationState* revocation) {
  CtxPtr ctx(X509_STORE_CTX_new());
  if (!X509_STORE_CTX_init(ctx.get(), store, leaf, untrusted)) return "cannot verify";
  if (revocation != nullptr) {
    g_revocation = revocation;
    X509_STORE_CTX_set_verify_cb(ctx.get(), RecordRevocation);
  }
  int ok = X509_verify_cert(ctx.get());
  g_revocation = nullptr;
  ERR_clear_error();
  if (ok == 1) return "ok";
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string JsonStrings(const std::vector<std::string>& v) {
  std::vector<std::string> quoted;
  for (const auto& s : v) quoted.push_back(JsonString(s));
  return "[" + absl::StrJoin(quoted, ",") + "]";
}

}  // namespace

absl::StatusOr<CheckReport> CheckCertificates(const CertCheckOptions& options) {
  CheckReport report;
  std::error_code ec;
  if (!fs::is_directory(options.dir, ec)) {
    return absl::NotFoundError(absl::StrCat(options.dir, " is not a directory"));
  }
  report.dir = options.dir;
  report.ca_file = options.ca_file.empty() ? (fs::path(options.dir) / "ca" / "ca.pem").string()
                                           : options.ca_file;
  report.crl_dir = options.crl_dir;
  report.now = options.now != 0 ? options.now : static_cast<int64_t>(std::time(nullptr));
  const int64_t now = report.now;
  const int64_t warn = static_cast<int64_t>(options.warn_days) * kDay;

  std::vector<X509Ptr> cas = x509::ReadCertificates(report.ca_file);
  if (cas.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("CA bundle ", report.ca_file, " holds no PEM certificate (use --ca)"));
  }
  auto add = [&](const std::string& path, const char* kind, std::string message,
                 CertReport* cert) {
    if (cert != nullptr) cert->problems.push_back(kind);
    report.problems.push_back(Problem{path, kind, std::move(message)});
  };

  // Chain store: the bundle only, validity dates ignored (reported apart).
  StorePtr chain_store(X509_STORE_new());
  StorePtr crl_store;
  for (const X509Ptr& ca : cas) {
    X509_STORE_add_cert(chain_store.get(), ca.get());
    CaReport c;
    c.subject = OneLine(X509_get_subject_name(ca.get()));
    c.not_after = UnixTime(X509_get0_notAfter(ca.get()));
    c.days_left = DaysLeft(c.not_after, now);
    if (c.not_after <= now) {
      add("", kCa, absl::StrCat("CA '", c.subject, "' in ", report.ca_file, " expired at ",
                                x509::UtcText(c.not_after)),
          nullptr);
    } else if (c.not_after - now < warn) {
      add("", kCa, absl::StrCat("CA '", c.subject, "' in ", report.ca_file, " expires at ",
                                x509::UtcText(c.not_after), " (", c.days_left,
                                " days): rotate it (certs/rotate-ca.sh)"),
          nullptr);
    }
    report.cas.push_back(std::move(c));
  }
  X509_VERIFY_PARAM_set_flags(X509_STORE_get0_param(chain_store.get()), X509_V_FLAG_NO_CHECK_TIME);
  if (!report.crl_dir.empty()) {
    report.crl = CheckCrlDirectory(report.crl_dir, report.ca_file, now,
                                   static_cast<int64_t>(options.crl_warn_hours) * 3600);
    for (const std::string& p : report.crl.problems) add("", kCrl, p, nullptr);
    crl_store.reset(X509_STORE_new());
    for (const X509Ptr& ca : cas) X509_STORE_add_cert(crl_store.get(), ca.get());
    X509_LOOKUP* lookup = X509_STORE_add_lookup(crl_store.get(), X509_LOOKUP_hash_dir());
    if (lookup != nullptr) {
      X509_LOOKUP_add_dir(lookup, report.crl_dir.c_str(), X509_FILETYPE_PEM);
    }
    X509_VERIFY_PARAM_set_flags(X509_STORE_get0_param(crl_store.get()),
                                X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  }

  // Every cert.pem below dir; hidden entries (the ..data / .v-* versions
  // written by certs/issue.sh) are skipped: cert.pem links to the current one.
  std::vector<std::string> paths;
  fs::recursive_directory_iterator it(options.dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.filename().string().rfind('.', 0) == 0) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (p.filename() == "cert.pem") paths.push_back(p.string());
  }
  std::sort(paths.begin(), paths.end());

  std::map<std::string, std::vector<size_t>> by_identity;
  for (const std::string& full : paths) {
    CertReport cert;
    // Lexically: cert.pem is often a symlink into a version directory.
    cert.path = fs::path(full).lexically_relative(options.dir).string();
    if (cert.path.empty()) cert.path = full;
    std::vector<X509Ptr> chain = x509::ReadCertificates(full);
    if (chain.empty()) {
      cert.key = "unreadable";
      cert.chain = "unreadable";
      cert.revocation = "not_checked";
      add(cert.path, kUnreadable, absl::StrCat(cert.path, " holds no PEM certificate"), &cert);
      report.certs.push_back(std::move(cert));
      continue;
    }
    X509* leaf = chain.front().get();
    cert.subject = OneLine(X509_get_subject_name(leaf));
    cert.issuer = OneLine(X509_get_issuer_name(leaf));
    cert.serial = SerialHex(leaf);
    cert.uris = UriSans(leaf);
    cert.not_before = UnixTime(X509_get0_notBefore(leaf));
    cert.not_after = UnixTime(X509_get0_notAfter(leaf));
    cert.days_left = DaysLeft(cert.not_after, now);

    // Identity: exactly one URI SAN, a tongban SPIFFE id.
    int tongban = 0;
    for (const std::string& uri : cert.uris) {
      if (ParseSpiffeId(uri).ok()) {
        ++tongban;
        cert.identity = uri;
      }
    }
    if (cert.uris.size() != 1 || tongban != 1) {
      cert.identity.clear();
      add(cert.path, kNoIdentity,
          absl::StrCat(cert.path, " carries no single tongban identity (URI SANs: ",
                       cert.uris.empty() ? "none" : absl::StrJoin(cert.uris, ", "),
                       "): peers answer UNAUTHENTICATED"),
          &cert);
    }

    // Validity.
    if (cert.not_after <= now) {
      add(cert.path, kExpired,
          absl::StrCat(cert.path, " expired at ", x509::UtcText(cert.not_after), ": renew it (certs/issue.sh)"),
          &cert);
    } else if (cert.not_after - now < warn) {
      add(cert.path, kExpiring,
          absl::StrCat(cert.path, " expires at ", x509::UtcText(cert.not_after), " (", cert.days_left,
                       " days left, < ", options.warn_days, "): renew it (certs/issue.sh)"),
          &cert);
    }
    if (cert.not_before > now) {
      add(cert.path, kNotYetValid,
          absl::StrCat(cert.path, " is not valid before ", x509::UtcText(cert.not_before)), &cert);
    }

    // Key next to it.
    std::string key_path = (fs::path(full).parent_path() / "key.pem").string();
    if (!fs::exists(key_path, ec)) {
      cert.key = "missing";
      add(cert.path, kKeyMissing, absl::StrCat(cert.path, ": no key.pem next to it"), &cert);
    } else if (KeyPtr key = x509::ReadPrivateKey(key_path); key == nullptr) {
      cert.key = "unreadable";
      add(cert.path, kKeyMismatch, absl::StrCat(key_path, " holds no readable PEM private key"),
          &cert);
    } else if (X509_check_private_key(leaf, key.get()) != 1) {
      ERR_clear_error();
      cert.key = "mismatch";
      add(cert.path, kKeyMismatch,
          absl::StrCat(key_path, " does not belong to ", cert.path,
                       ": every handshake with this pair fails"),
          &cert);
    } else {
      cert.key = "match";
    }

    // Chain to the bundle (intermediates may follow the leaf in cert.pem).
    StackPtr untrusted(sk_X509_new_null());
    for (size_t i = 1; i < chain.size(); ++i) {
      X509_up_ref(chain[i].get());
      sk_X509_push(untrusted.get(), chain[i].get());
    }
    cert.chain = Verify(chain_store.get(), leaf, untrusted.get(), nullptr);
    if (cert.chain != "ok") {
      add(cert.path, kChain,
          absl::StrCat(cert.path, " does not chain to ", report.ca_file, " (", cert.chain,
                       "; issuer ", cert.issuer, "): peers refuse it at the handshake"),
          &cert);
    }

    // Revocation.
    if (crl_store == nullptr || cert.chain != "ok") {
      cert.revocation = "not_checked";
    } else {
      RevocationState state;
      Verify(crl_store.get(), leaf, untrusted.get(), &state);
      if (state.revoked) {
        cert.revocation = "revoked";
        add(cert.path, kRevoked,
            absl::StrCat(cert.path, " (serial ", cert.serial, ") is revoked by a CRL in ",
                         report.crl_dir),
            &cert);
      } else if (state.no_crl) {
        cert.revocation = "no_crl";  // the CRL problem is listed once, above
      } else {
        cert.revocation = "good";
      }
    }
    // Only trusted certificates compete for an identity (another CA's is a
    // chain problem already).
    if (!cert.identity.empty() && cert.chain == "ok") {
      by_identity[cert.identity].push_back(report.certs.size());
    }
    report.certs.push_back(std::move(cert));
  }

  for (const auto& [identity, indexes] : by_identity) {
    if (indexes.size() < 2) continue;
    for (size_t i : indexes) {
      std::vector<std::string> others;
      for (size_t j : indexes) {
        if (j != i) others.push_back(report.certs[j].path);
      }
      add(report.certs[i].path, kDuplicateIdentity,
          absl::StrCat(report.certs[i].path, ": identity ", identity, " is also carried by ",
                       absl::StrJoin(others, ", ")),
          &report.certs[i]);
    }
  }
  return report;
}

std::string FormatText(const CheckReport& report) {
  std::string out = absl::StrCat("certificates in ", report.dir, "\n  CA bundle ", report.ca_file,
                                 "\n  CRL dir   ",
                                 report.crl_dir.empty() ? "(none: revocation not checked)"
                                                        : report.crl_dir,
                                 "\n\n");
  for (const CaReport& ca : report.cas) {
    absl::StrAppend(&out, "CA  ", ca.subject, "  notAfter ", x509::UtcText(ca.not_after), " (",
                    ca.days_left, " days)\n");
  }
  for (const auto& crl : report.crl.cas) {
    absl::StrAppend(&out, "CRL ", crl.ca_subject, "  ",
                    crl.file.empty() ? std::string("(none usable)")
                                     : absl::StrCat(crl.file, "  nextUpdate ",
                                                    x509::UtcText(crl.next_update), "  ",
                                                    crl.revoked_count, " revoked"),
                    "\n");
  }
  out += "\n";
  for (const CertReport& c : report.certs) {
    absl::StrAppend(&out, c.problems.empty() ? "ok    " : "FAIL  ", c.path, "\n");
    if (c.subject.empty()) continue;
    absl::StrAppend(&out, "      identity ", c.identity.empty() ? "(none)" : c.identity,
                    "  subject ", c.subject, "  serial ", c.serial, "\n");
    absl::StrAppend(&out, "      notAfter ", x509::UtcText(c.not_after), " (", c.days_left,
                    " days)  key ", c.key, "  chain ", c.chain, "  revocation ", c.revocation,
                    "\n");
  }
  if (report.problems.empty()) {
    absl::StrAppend(&out, "\n", report.certs.size(), " certificates, no problems\n");
  } else {
    absl::StrAppend(&out, "\nProblems (", report.problems.size(), "):\n");
    for (const Problem& p : report.problems) {
      absl::StrAppend(&out, "  [", p.kind, "] ", p.message, "\n");
    }
  }
  return out;
}

std::string FormatJson(const CheckReport& report) {
  std::string out = "{";
  absl::StrAppend(&out, "\"dir\":", JsonString(report.dir), ",\"ca_file\":",
                  JsonString(report.ca_file), ",\"crl_dir\":", JsonString(report.crl_dir),
                  ",\"now\":", JsonString(x509::UtcText(report.now)), ",\"ok\":",
                  report.ok() ? "true" : "false", ",\"cas\":[");
  for (size_t i = 0; i < report.cas.size(); ++i) {
    const CaReport& ca = report.cas[i];
    absl::StrAppend(&out, i ? "," : "", "{\"subject\":", JsonString(ca.subject),
                    ",\"not_after\":", JsonString(x509::UtcText(ca.not_after)),
                    ",\"days_left\":", ca.days_left, "}");
  }
  out += "],\"crls\":[";
  for (size_t i = 0; i < report.crl.cas.size(); ++i) {
    const auto& crl = report.crl.cas[i];
    absl::StrAppend(&out, i ? "," : "", "{\"ca_subject\":", JsonString(crl.ca_subject),
                    ",\"file\":", JsonString(crl.file), ",\"next_update\":",
                    crl.file.empty() ? "null" : JsonString(x509::UtcText(crl.next_update)),
                    ",\"revoked\":", crl.revoked_count, "}");
  }
  out += "],\"certificates\":[";
  for (size_t i = 0; i < report.certs.size(); ++i) {
    const CertReport& c = report.certs[i];
    absl::StrAppend(&out, i ? "," : "", "{\"path\":", JsonString(c.path),
                    ",\"subject\":", JsonString(c.subject), ",\"issuer\":", JsonString(c.issuer),
                    ",\"serial\":", JsonString(c.serial), ",\"uri_sans\":", JsonStrings(c.uris),
                    ",\"identity\":", c.identity.empty() ? "null" : JsonString(c.identity),
                    ",\"not_before\":", JsonString(x509::UtcText(c.not_before)),
                    ",\"not_after\":", JsonString(x509::UtcText(c.not_after)),
                    ",\"days_left\":", c.days_left, ",\"key\":", JsonString(c.key),
                    ",\"chain\":", JsonString(c.chain), ",\"revocation\":",
                    JsonString(c.revocation), ",\"problems\":", JsonStrings(c.problems), "}");
  }
  out += "],\"problems\":[";
  for (size_t i = 0; i < report.problems.size(); ++i) {
    const Problem& p = report.problems[i];
    absl::StrAppend(&out, i ? "," : "", "{\"path\":", JsonString(p.path),
                    ",\"kind\":", JsonString(p.kind), ",\"message\":", JsonString(p.message), "}");
  }
  out += "]}\n";
  return out;
}

}  // namespace tongban::ctl
