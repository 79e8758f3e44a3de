// Command-line flags of the tongbanctl subcommands that talk to one node
// (`outbox`, `overdue`): "--name value" or "--name=value" (dashes and
// underscores alike), --help, --json, positional words, and the connection
// flags every such command takes (--node, --cert, --key, --ca, --crl_dir,
// --province, --timeout).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tongban/v1/node_config.pb.h"

namespace tongban::tongbanctl {

struct Flags {
  std::map<std::string, std::string> values;  // --name -> value, not yet taken
  std::vector<std::string> positional;
  bool help = false;
  bool json = false;

  // The value of --name ("" when absent), removed so that what is left at
  // the end can be reported as unknown.
  std::string Take(const std::string& name);
};

// Parses args[first..]; false with `error` set for a flag without a value.
bool ParseFlags(const std::vector<std::string>& args, size_t first, Flags* flags,
                std::string* error);

// The node to call and the operator's mTLS identity.
struct NodeConnection {
  std::string node;  // host:port
  v1::TlsFiles tls;
  std::string province;  // expected province of the node, "" = any
  int timeout_seconds = 10;
};

// Takes the connection flags out of `flags`; false with `error` set (a
// message for the usage text) when one is missing or out of range.
// `identity` names whose certificate --cert is ("the operator's").
bool TakeNodeConnection(Flags* flags, const std::string& identity, NodeConnection* out,
                        std::string* error);

// Prints "tongbanctl <command>: <CODE>: <message>" on stderr (the code by
// its google.rpc.Code name, as operators see it in docs and logs); returns 1,
// the exit code of a call the node refused or could not answer.
int ReportFailedCall(const char* command, int code, const std::string& message);

}  // namespace tongban::tongbanctl
