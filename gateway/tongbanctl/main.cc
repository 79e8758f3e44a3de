// tongbanctl: operator tool of the Tongban federation.
//   tongbanctl certs check <dir> [--ca FILE] [--crl_dir DIR] [--warn_days N]
//                                [--crl_warn_hours N] [--json]
// Exit codes: 0 no problems, 1 problems found, 2 usage or cannot check.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "cert_check.h"

namespace {

constexpr char kUsage[] =
    "Usage: tongbanctl certs check <dir> [options]\n"
    "\n"
    "Checks every certificate named cert.pem below <dir> (e.g. certs/dev, or a node's\n"
    "TLS directory) as a Tongban node or gateway would see it, and lists the problems:\n"
    "expired or expiring (< --warn_days) certificates, a key.pem next to it that is\n"
    "missing or does not match, no chain to the CA bundle, revoked by a CRL of\n"
    "--crl_dir, no (or a duplicate) spiffe://tongban identity; also expiring CA\n"
    "certificates and CRL directory problems (missing, expired or soon-expiring CRLs).\n"
    "\n"
    "Options:\n"
    "  --ca FILE             CA bundle (default <dir>/ca/ca.pem)\n"
    "  --crl_dir DIR         hashed CRL directory (default <dir>/crl when it exists;\n"
    "                        --crl_dir= (empty) skips revocation checks)\n"
    "  --warn_days N         certificates expiring within N days are problems (default 14)\n"
    "  --crl_warn_hours N    CRLs expiring within N hours are problems (default 48)\n"
    "  --json                machine-readable output\n"
    "  --help                this help\n"
    "\n"
    "Exit code: 0 no problems, 1 problems found, 2 usage error or nothing to check.\n";

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

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h" || a == "help") return Usage(nullptr);
  }
  if (args.size() < 2 || args[0] != "certs" || args[1] != "check") {
    return Usage("unknown command (only `certs check <dir>` exists)");
  }
  tongban::ctl::CertCheckOptions options;
  bool json = false;
  bool crl_dir_given = false;
  for (size_t i = 2; i < args.size(); ++i) {
    std::string a = args[i];
    std::string value;
    bool has_value = false;
    if (a.rfind("--", 0) == 0) {
      size_t eq = a.find('=');
      if (eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
        has_value = true;
      }
    }
    auto take = [&](const char* name) -> bool {
      if (has_value) return true;
      if (i + 1 >= args.size()) return false;
      value = args[++i];
      (void)name;
      return true;
    };
    if (a == "--json") {
      json = true;
    } else if (a == "--ca") {
      if (!take("--ca")) return Usage("--ca needs a file");
      options.ca_file = value;
    } else if (a == "--crl_dir" || a == "--crl-dir") {
      if (!take("--crl_dir")) return Usage("--crl_dir needs a directory");
      options.crl_dir = value;
      crl_dir_given = true;
    } else if (a == "--warn_days" || a == "--warn-days") {
      if (!take("--warn_days") || !ParseInt(value, &options.warn_days)) {
        return Usage("--warn_days needs a number of days");
      }
    } else if (a == "--crl_warn_hours" || a == "--crl-warn-hours") {
      if (!take("--crl_warn_hours") || !ParseInt(value, &options.crl_warn_hours)) {
        return Usage("--crl_warn_hours needs a number of hours");
      }
    } else if (a.rfind("--", 0) == 0) {
      return Usage(("unknown option " + a).c_str());
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
