#include "command_flags.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace tongban::tongbanctl {

std::string Flags::Take(const std::string& name) {
  auto it = values.find(name);
  if (it == values.end()) return std::string();
  std::string v = std::move(it->second);
  values.erase(it);
  return v;
}

bool ParseFlags(const std::vector<std::string>& args, size_t first, Flags* flags,
                std::string* error) {
  for (size_t i = first; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      flags->help = true;
      continue;
    }
    if (a == "--json") {
      flags->json = true;
      continue;
    }
    if (a.rfind("--", 0) != 0) {
      flags->positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::string value;
    bool have_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      have_value = true;
    }
    for (char& c : name) {
      if (c == '-') c = '_';
    }
    if (!have_value) {
      if (i + 1 >= args.size()) {
        *error = absl::StrCat("--", name, " needs a value");
        return false;
      }
      value = args[++i];
    }
    flags->values[name] = value;
  }
  return true;
}

bool TakeNodeConnection(Flags* flags, const std::string& identity, NodeConnection* out,
                        std::string* error) {
  out->node = flags->Take("node");
  out->tls.set_cert_file(flags->Take("cert"));
  out->tls.set_key_file(flags->Take("key"));
  out->tls.set_ca_file(flags->Take("ca"));
  out->tls.set_crl_directory(flags->Take("crl_dir"));
  out->province = flags->Take("province");
  const std::string timeout = flags->Take("timeout");
  if (out->node.empty()) {
    *error = "--node HOST:PORT is required";
    return false;
  }
  if (out->tls.cert_file().empty() || out->tls.key_file().empty() || out->tls.ca_file().empty()) {
    *error = absl::StrCat("--cert, --key and --ca are required (", identity, " mTLS identity)");
    return false;
  }
  if (!timeout.empty()) {
    out->timeout_seconds = std::atoi(timeout.c_str());
    if (out->timeout_seconds < 1 || out->timeout_seconds > 600) {
      *error = "--timeout needs 1..600 seconds";
      return false;
    }
  }
  return true;
}

int ReportFailedCall(const char* command, int code, const std::string& message) {
  static const char* const kNames[] = {
      "OK",        "CANCELLED",         "UNKNOWN",        "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",      "UNAVAILABLE",    "DATA_LOSS",
      "UNAUTHENTICATED"};
  std::fprintf(stderr, "tongbanctl %s: %s: %s\n", command,
               code >= 0 && code <= 16 ? kNames[code] : "UNKNOWN", message.c_str());
  return 1;
}

}  // namespace tongban::tongbanctl
