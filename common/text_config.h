// Reads a protobuf text-format file (our config format: typed, `# comments`,
// unknown keys rejected) into a message, with errors that name the file,
// line and column.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace tongban {

// NOT_FOUND when the file cannot be read; INVALID_ARGUMENT with the first
// parse error's position otherwise.
absl::Status ReadTextProtoFile(const std::string& path, google::protobuf::Message* message);

}  // namespace tongban
