// Prints a protobuf message as proto3 JSON, byte for byte what protobuf
// 3.21's MessageToJsonString prints with always_print_primitive_fields and
// lowerCamelCase names (the REST edge's answers), walking the message by
// reflection.
//
// Why not MessageToJsonString itself: Debian 12's protobuf 3.21 serialises
// the message to binary, parses that again through a TypeResolver and, for
// always_print_primitive_fields, builds a DefaultValueObjectWriter tree of
// the whole message first. That was ~30 % of the edge's CPU per REST call
// (docs/performance.md). protobuf 22+ prints from reflection like this, but
// is not in Debian 12. tests/unit/proto_json_writer_test.cc holds the output
// equal to MessageToJsonString's on random messages of every type the edge
// answers with, so the two cannot drift apart unnoticed.
//
// Covered: every scalar type, enums (unknown numbers as numbers), repeated
// fields, nested messages, and the
// well-known types Timestamp, Duration, Empty and the wrappers. Not covered,
// because no answer of the edge has them: Any, Struct, Value, ListValue,
// FieldMask, maps, oneofs and proto3 `optional`. For a message that holds
// one of those the writer answers UNIMPLEMENTED and the caller uses
// MessageToJsonString.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace tongban::edge {

// Appends the JSON of `message` to `out`. INVALID_ARGUMENT for what proto3
// JSON cannot express (a string that is not UTF-8, a Timestamp out of range);
// UNIMPLEMENTED for the well-known types listed above. On error `out` may
// hold a partial document.
absl::Status AppendProtoJson(const google::protobuf::Message& message, std::string* out);

}  // namespace tongban::edge
