// tongbanctl: operator tool of the Tongban federation.
//   tongbanctl certs check <dir> [--ca FILE] [--crl_dir DIR] [--warn_days N]
//                                [--crl_warn_hours N] [--json]
//   tongbanctl token mint --key FILE --sub RESIDENT_ID [--iss S] [--aud S]
//                         [--ttl SECONDS] [--kid K] [--not_before_in SECONDS] [--jti S]
//   tongbanctl history export --node ADDR --id APPLICATION_ID --cert F --key F --ca F [--out FILE]
//   tongbanctl history verify FILE --ca FILE [--crl_dir DIR]
//   tongbanctl outbox list|show|replay|discard ...   (outbox_command.h)
//   tongbanctl overdue ...                           (overdue_command.h)
//   tongbanctl licences log|show|verify ...          (licence_command.h)
// Exit codes: 0 success (certs check: no problems; history verify: verified),
// 1 problems found, 2 usage error or cannot check / mint / export / read.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cert_check.h"
#include "citizen_token.h"
#include "outbox_command.h"
#include "overdue_command.h"
#include "history.h"
#include "licence_command.h"
#include "resident_id.h"

namespace {

constexpr char kUsage[] =
    "Usage: tongbanctl certs check <dir> [options]\n"
    "       tongbanctl token mint --key FILE --sub RESIDENT_ID [options]\n"
    "       tongbanctl history export --node ADDR --id APPLICATION_ID --cert FILE --key FILE\n"
    "                                 --ca FILE [--out FILE]\n"
    "       tongbanctl history verify FILE --ca FILE [--crl_dir DIR]\n"
    "       tongbanctl outbox list|show ID|replay ID|discard ID --reason TEXT --node ADDR\n"
    "                         --cert FILE --key FILE --ca FILE   (tongbanctl outbox --help)\n"
    "       tongbanctl overdue [--clock legal|promised|either] --node ADDR --cert FILE\n"
    "                         --key FILE --ca FILE               (tongbanctl overdue --help)\n"
    "       tongbanctl licences log|show LICENCE_ID|verify ... --node ADDR --cert FILE\n"
    "                         --key FILE --ca FILE               (tongbanctl licences --help)\n"
    "       tongbanctl --help\n"
    "\n"
    "certs check\n"
    "Checks every certificate named cert.pem below <dir> (e.g. certs/dev, or a node's\n"
    "TLS directory) as a Tongban node or gateway would see it, and lists the problems:\n"
    "expired or expiring (< --warn_days) certificates, a key.pem next to it that is\n"
    "missing or does not match, no chain to the CA bundle, revoked by a CRL of\n"
    "--crl_dir, no (or a duplicate) spiffe://tongban identity; also expiring CA\n"
    "certificates and CRL directory problems (missing, expired or soon-expiring CRLs).\n"
    "\n"
    "  --ca FILE             CA bundle (default <dir>/ca/ca.pem)\n"
    "  --crl_dir DIR         hashed CRL directory (default <dir>/crl when it exists;\n"
    "                        --crl_dir= (empty) skips revocation checks)\n"
    "  --warn_days N         certificates expiring within N days are problems (default 14)\n"
    "  --crl_warn_hours N    CRLs expiring within N hours are problems (default 48)\n"
    "  --json                machine-readable output\n"
    "\n"
    "Exit code: 0 no problems, 1 problems found, 2 usage error or nothing to check.\n"
    "\n"
    "token mint\n"
    "Prints a citizen bearer token (ES256 JWT) for the gateway's public edge\n"
    "(Authorization: Bearer <token>), signed with an EC P-256 private key. DEV AND\n"
    "TESTS ONLY: production tokens come from the citizens' identity provider. The\n"
    "defaults match the dev federation (certs/gen-dev-certs.sh makes the key pair).\n"
    "\n"
    "  --key FILE            signing key, PEM (dev: certs/dev/citizen-tokens/signing-key.pem)\n"
    "  --sub RESIDENT_ID     the citizen: an 18-character resident id number (a warning,\n"
    "                        not an error, when it is not valid: the gateway refuses it)\n"
    "  --iss S               issuer (default https://id.tongban.dev)\n"
    "  --aud S               audience (default tongban-public-api)\n"
    "  --kid K               key id header (default dev-1; --kid= (empty) for none)\n"
    "  --ttl SECONDS         lifetime from now (default 3600); negative mints an already\n"
    "                        expired token, for tests. The gateway refuses lifetimes over\n"
    "                        its max_lifetime_seconds (default 86400)\n"
    "  --not_before_in SECONDS  adds nbf = now + SECONDS (may be negative); positive\n"
    "                        mints a not-yet-valid token. Default: no nbf\n"
    "  --jti S               token id claim (default none)\n"
    "\n"
    "Exit code: 0 token printed on stdout, 2 usage error or cannot mint.\n"
    "\n"
    "history export\n"
    "Writes an application's signed history (filing record and every event with its\n"
    "hash-chain link and signature; JSON, format tongban.signed-history.v1, see\n"
    "docs/protocol.md \"Signed records\") as read from a node with GetApplication.\n"
    "\n"
    "  --node ADDR           the node, host:port (e.g. 127.0.0.1:21017)\n"
    "  --id APPLICATION_ID   e.g. TB-430000-310000-20261125-00000042\n"
    "  --cert FILE, --key FILE  client certificate and key: an officer of the node's\n"
    "                        province (e.g. certs/dev/province/430000/officer/officer-01/)\n"
    "  --ca FILE             CA bundle (e.g. certs/dev/ca/ca.pem)\n"
    "  --out FILE            write there instead of stdout\n"
    "\n"
    "Exit code: 0 written, 2 usage error or cannot export.\n"
    "\n"
    "history verify\n"
    "Verifies an exported history offline, with only the CA certificate and the CRLs:\n"
    "every event signed by its authoring province with a certificate valid (and not yet\n"
    "revoked) at the event's time, every province's hash chain from the filing record\n"
    "intact, event numbers consecutive, the accepting province's first event SUBMIT.\n"
    "Prints one line per event and a verdict.\n"
    "\n"
    "  --ca FILE             the federation CA bundle\n"
    "  --crl_dir DIR         hashed CRL directory (<issuer-hash>.r<n>); without it\n"
    "                        revocation is not checked\n"
    "\n"
    "Exit code: 0 verified, 1 not verified, 2 usage error or unreadable file.\n";

int Usage(const char* error) {
  if (error != nullptr) std::fprintf(stderr, "tongbanctl: %s\n\n", error);
  std::fputs(kUsage, error != nullptr ? stderr : stdout);
  return error != nullptr ? 2 : 0;
}

bool ParseInt(const std::string& s, int* out) {
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < 0 || v > 100000) return false;
  *out = static_cast<int>(v);
  return true;
}

// Signed seconds, at most ten years either way (far past any sensible token).
bool ParseSeconds(const std::string& s, int64_t* out) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  constexpr long long kTenYears = 10LL * 366 * 86400;
  if (s.empty() || *end != '\0' || errno != 0 || v < -kTenYears || v > kTenYears) return false;
  *out = static_cast<int64_t>(v);
  return true;
}

// Walks the options of a subcommand: "--name value" or "--name=value";
// underscores and dashes are the same in names (--crl_dir, --crl-dir).
class Options {
 public:
  Options(const std::vector<std::string>& args, size_t first) : args_(args), i_(first) {}

  // The next argument: an option (name() starts with "--") or a positional.
  bool Next() {
    if (i_ >= args_.size()) return false;
    name_ = args_[i_++];
    raw_name_ = name_;
    inline_value_.reset();
    if (name_.rfind("--", 0) == 0) {
      if (size_t eq = name_.find('='); eq != std::string::npos) {
        inline_value_ = name_.substr(eq + 1);
        name_ = name_.substr(0, eq);
        raw_name_ = name_;
      }
      for (size_t k = 2; k < name_.size(); ++k) {
        if (name_[k] == '-') name_[k] = '_';
      }
    }
    return true;
  }
  const std::string& name() const { return name_; }          // dashes as underscores
  const std::string& raw_name() const { return raw_name_; }  // as typed, for messages
  // The option's value (inline, or the next argument); false when none.
  bool Value(std::string* value) {
    if (inline_value_.has_value()) {
      *value = *inline_value_;
      return true;
    }
    if (i_ >= args_.size()) return false;
    *value = args_[i_++];
    return true;
  }

 private:
  const std::vector<std::string>& args_;
  size_t i_;
  std::string name_;
  std::string raw_name_;
  std::optional<std::string> inline_value_;
};

int CertsCheck(const std::vector<std::string>& args) {
  tongban::ctl::CertCheckOptions options;
  bool json = false;
  bool crl_dir_given = false;
  Options opt(args, 2);
  while (opt.Next()) {
    const std::string& a = opt.name();
    std::string value;
    if (a == "--json") {
      json = true;
    } else if (a == "--ca") {
      if (!opt.Value(&value)) return Usage("--ca needs a file");
      options.ca_file = value;
    } else if (a == "--crl_dir") {
      if (!opt.Value(&value)) return Usage("--crl_dir needs a directory");
      options.crl_dir = value;
      crl_dir_given = true;
    } else if (a == "--warn_days") {
      if (!opt.Value(&value) || !ParseInt(value, &options.warn_days)) {
        return Usage("--warn_days needs a number of days");
      }
    } else if (a == "--crl_warn_hours") {
      if (!opt.Value(&value) || !ParseInt(value, &options.crl_warn_hours)) {
        return Usage("--crl_warn_hours needs a number of hours");
      }
    } else if (a.rfind("--", 0) == 0) {
      return Usage(("unknown option " + opt.raw_name() + " for certs check").c_str());
    } else if (options.dir.empty()) {
      options.dir = a;
    } else {
      return Usage("only one <dir>");
    }
  }
  if (options.dir.empty()) return Usage("certs check needs a <dir>");
  if (!crl_dir_given) {
    std::error_code ec;
    std::filesystem::path crl = std::filesystem::path(options.dir) / "crl";
    if (std::filesystem::is_directory(crl, ec)) options.crl_dir = crl.string();
  }
  absl::StatusOr<tongban::ctl::CheckReport> report = tongban::ctl::CheckCertificates(options);
  if (!report.ok()) {
    std::fprintf(stderr, "tongbanctl: %s\n", std::string(report.status().message()).c_str());
    return 2;
  }
  std::string out = json ? tongban::ctl::FormatJson(*report) : tongban::ctl::FormatText(*report);
  std::fputs(out.c_str(), stdout);
  return report->ok() ? 0 : 1;
}

int TokenMint(const std::vector<std::string>& args) {
  // Defaults: the dev federation's token config (issuer, audience, key id).
  std::string key_file;
  tongban::CitizenTokenClaims claims;
  claims.issuer = "https://id.tongban.dev";
  claims.audience = "tongban-public-api";
  claims.kid = "dev-1";
  int64_t ttl = 3600;
  bool has_not_before = false;
  int64_t not_before_in = 0;
  Options opt(args, 2);
  while (opt.Next()) {
    const std::string& a = opt.name();
    std::string value;
    if (a == "--key") {
      if (!opt.Value(&key_file) || key_file.empty()) return Usage("--key needs a file");
    } else if (a == "--sub") {
      if (!opt.Value(&claims.subject) || claims.subject.empty()) {
        return Usage("--sub needs a resident id number");
      }
    } else if (a == "--iss") {
      if (!opt.Value(&claims.issuer) || claims.issuer.empty()) return Usage("--iss needs a value");
    } else if (a == "--aud") {
      if (!opt.Value(&claims.audience) || claims.audience.empty()) {
        return Usage("--aud needs a value");
      }
    } else if (a == "--kid") {
      if (!opt.Value(&claims.kid)) return Usage("--kid needs a value (--kid= for none)");
    } else if (a == "--jti") {
      if (!opt.Value(&claims.jti)) return Usage("--jti needs a value");
    } else if (a == "--ttl") {
      if (!opt.Value(&value) || !ParseSeconds(value, &ttl)) {
        return Usage("--ttl needs a number of seconds (negative for an expired token)");
      }
    } else if (a == "--not_before_in") {
      if (!opt.Value(&value) || !ParseSeconds(value, &not_before_in)) {
        return Usage("--not_before_in needs a number of seconds");
      }
      has_not_before = true;
    } else if (a.rfind("--", 0) == 0) {
      return Usage(("unknown option " + opt.raw_name() + " for token mint").c_str());
    } else {
      return Usage(("unexpected argument " + a + " for token mint").c_str());
    }
  }
  if (key_file.empty()) return Usage("token mint needs --key FILE (the signing key)");
  if (claims.subject.empty()) return Usage("token mint needs --sub RESIDENT_ID");
  if (absl::Status id = tongban::ValidateResidentId("--sub", claims.subject); !id.ok()) {
    std::fprintf(stderr, "tongbanctl: warning: %s; the gateway will refuse this token\n",
                 std::string(id.message()).c_str());
  }

  std::ifstream in(key_file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "tongbanctl: cannot read --key %s: %s\n", key_file.c_str(),
                 std::strerror(errno));
    return 2;
  }
  std::ostringstream pem;
  pem << in.rdbuf();

  // Whole seconds: the token's dates are integers anyway.
  absl::Time now = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  claims.issued_at = now;
  claims.expires_at = now + absl::Seconds(ttl);
  claims.not_before = has_not_before ? now + absl::Seconds(not_before_in) : absl::InfinitePast();
  absl::StatusOr<std::string> token = tongban::MintCitizenToken(pem.str(), claims);
  if (!token.ok()) {
    std::fprintf(stderr, "tongbanctl: %s: %s\n", key_file.c_str(),
                 std::string(token.status().message()).c_str());
    return 2;
  }
  std::printf("%s\n", token->c_str());
  return 0;
}

int HistoryExport(const std::vector<std::string>& args) {
  tongban::ctl::ExportOptions options;
  std::string out_file;
  Options opt(args, 2);
  while (opt.Next()) {
    const std::string& a = opt.name();
    std::string* target = nullptr;
    if (a == "--node") {
      target = &options.node;
    } else if (a == "--id") {
      target = &options.application_id;
    } else if (a == "--cert") {
      target = &options.cert_file;
    } else if (a == "--key") {
      target = &options.key_file;
    } else if (a == "--ca") {
      target = &options.ca_file;
    } else if (a == "--out") {
      target = &out_file;
    } else if (a.rfind("--", 0) == 0) {
      return Usage(("unknown option " + opt.raw_name() + " for history export").c_str());
    } else {
      return Usage(("unexpected argument " + a + " for history export").c_str());
    }
    if (!opt.Value(target) || target->empty()) {
      return Usage((opt.raw_name() + " needs a value").c_str());
    }
  }
  if (options.node.empty() || options.application_id.empty() || options.cert_file.empty() ||
      options.key_file.empty() || options.ca_file.empty()) {
    return Usage("history export needs --node, --id, --cert, --key and --ca");
  }
  absl::StatusOr<tongban::v1::SignedHistory> history = tongban::ctl::FetchSignedHistory(options);
  absl::StatusOr<std::string> json =
      history.ok() ? tongban::ctl::SignedHistoryToJson(*history) : history.status();
  if (!json.ok()) {
    std::fprintf(stderr, "tongbanctl: %s\n", std::string(json.status().message()).c_str());
    return 2;
  }
  if (out_file.empty()) {
    std::fputs(json->c_str(), stdout);
    return 0;
  }
  std::ofstream out(out_file, std::ios::binary | std::ios::trunc);
  out << *json;
  out.close();
  if (!out) {
    std::fprintf(stderr, "tongbanctl: cannot write %s: %s\n", out_file.c_str(),
                 std::strerror(errno));
    return 2;
  }
  std::fprintf(stderr, "tongbanctl: wrote %s (%d events)\n", out_file.c_str(),
               history->events_size());
  return 0;
}

int HistoryVerify(const std::vector<std::string>& args) {
  std::string file;
  std::string ca_file;
  std::string crl_dir;
  Options opt(args, 2);
  while (opt.Next()) {
    const std::string& a = opt.name();
    if (a == "--ca") {
      if (!opt.Value(&ca_file) || ca_file.empty()) return Usage("--ca needs a file");
    } else if (a == "--crl_dir") {
      if (!opt.Value(&crl_dir)) return Usage("--crl_dir needs a directory");
    } else if (a.rfind("--", 0) == 0) {
      return Usage(("unknown option " + opt.raw_name() + " for history verify").c_str());
    } else if (file.empty()) {
      file = a;
    } else {
      return Usage("only one FILE");
    }
  }
  if (file.empty()) return Usage("history verify needs a FILE (made by history export)");
  if (ca_file.empty()) return Usage("history verify needs --ca FILE (the federation CA bundle)");
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "tongbanctl: cannot read %s: %s\n", file.c_str(), std::strerror(errno));
    return 2;
  }
  std::ostringstream text;
  text << in.rdbuf();
  absl::StatusOr<tongban::v1::SignedHistory> history =
      tongban::ctl::SignedHistoryFromJson(text.str());
  if (!history.ok()) {
    std::fprintf(stderr, "tongbanctl: %s: %s\n", file.c_str(),
                 std::string(history.status().message()).c_str());
    return 2;
  }
  absl::StatusOr<std::unique_ptr<tongban::signing::RecordVerifier>> verifier =
      tongban::signing::RecordVerifier::Create(ca_file, crl_dir);
  if (!verifier.ok()) {
    std::fprintf(stderr, "tongbanctl: %s\n", std::string(verifier.status().message()).c_str());
    return 2;
  }
  tongban::signing::HistoryVerdict verdict =
      tongban::ctl::VerifySignedHistory(*history, **verifier);
  std::fputs(tongban::ctl::FormatVerdict(*history, verdict).c_str(), stdout);
  return verdict.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "help") return Usage(nullptr);
  // Before the global --help: `outbox <command> --help` (and `licences
  // <command> --help`) explains that command.
  if (!args.empty() && args[0] == "outbox") return tongban::tongbanctl::OutboxCommand(args);
  if (!args.empty() && args[0] == "overdue") return tongban::tongbanctl::OverdueCommand(args);
  if (!args.empty() && args[0] == "licences") return tongban::tongbanctl::LicenceCommand(args);
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") return Usage(nullptr);
  }
  if (args.size() >= 2 && args[0] == "certs" && args[1] == "check") return CertsCheck(args);
  if (args.size() >= 2 && args[0] == "token" && args[1] == "mint") return TokenMint(args);
  if (args.size() >= 2 && args[0] == "history" && args[1] == "export") return HistoryExport(args);
  if (args.size() >= 2 && args[0] == "history" && args[1] == "verify") return HistoryVerify(args);
  return Usage(
      "unknown command (the commands are `certs check <dir>`, `token mint`, `history export` and "
      "`history verify`)");
}
