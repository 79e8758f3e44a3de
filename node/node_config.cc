#include "node_config.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "input_validation.h"

namespace tongban::node {
namespace {

// Collects parse errors with line and column instead of printing them.
class Collector final : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first.empty()) first = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ", message);
  }
  std::string first;
};

}  // namespace

absl::StatusOr<v1::NodeConfig> ReadNodeConfig(const std::string& path) {
  v1::NodeConfig config;
  if (path.empty()) return config;
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::stringstream text;
  text << in.rdbuf();
  google::protobuf::TextFormat::Parser parser;
  Collector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text.str(), &config)) {
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": ", errors.first));
  }
  return config;
}

absl::StatusOr<v1::NodeConfig> FinishNodeConfig(v1::NodeConfig c) {
  absl::Status s = ValidateProvinceCode("province_code", c.province_code());
  if (!s.ok()) return s;
  if (c.listen_address().empty()) c.set_listen_address("127.0.0.1:0");
  if (c.database_path().empty()) {
    return absl::InvalidArgumentError(
        "database_path is required (the SQLite file; created when missing)");
  }
  if (c.tls().cert_file().empty() || c.tls().key_file().empty() || c.tls().ca_file().empty()) {
    return absl::InvalidArgumentError(
        "tls.cert_file, tls.key_file and tls.ca_file are required: the node serves mTLS only");
  }
  if (c.max_message_bytes() == 0) c.set_max_message_bytes(4 * 1024 * 1024);
  if (c.max_message_bytes() < 64 * 1024 || c.max_message_bytes() > 64 * 1024 * 1024) {
    return absl::InvalidArgumentError("max_message_bytes must be 65536 to 67108864");
  }
  if (c.shutdown_grace_seconds() == 0) c.set_shutdown_grace_seconds(10);
  if (c.shutdown_grace_seconds() < 0 || c.shutdown_grace_seconds() > 600) {
    return absl::InvalidArgumentError("shutdown_grace_seconds must be 1 to 600");
  }
  if (c.max_commit_batch() == 0) c.set_max_commit_batch(256);
  if (c.max_commit_batch() < 1 || c.max_commit_batch() > 10000) {
    return absl::InvalidArgumentError("max_commit_batch must be 1 to 10000");
  }
  return c;
}

}  // namespace tongban::node
