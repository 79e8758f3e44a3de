// Loads tongban-node's configuration: a protobuf text-format file
// (NodeConfig in protos/tongban/v1/node_config.proto) with defaults filled
// in and every value checked, so a mistake stops the node at start-up with a
// message naming the key.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "tongban/v1/node_config.pb.h"

namespace tongban::node {

// Reads and parses `path` (empty = an empty config, from flags alone).
absl::StatusOr<v1::NodeConfig> ReadNodeConfig(const std::string& path);

// Fills defaults and validates; returns the effective config.
absl::StatusOr<v1::NodeConfig> FinishNodeConfig(v1::NodeConfig config);

}  // namespace tongban::node
