#include "request_body_decoding.h"

#include <brotli/decode.h>
#include <zlib.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace tongban::edge {
namespace {

absl::Status TooLarge(size_t limit) {
  return absl::ResourceExhaustedError(
      absl::StrCat("request body is larger than ", limit,
                   " bytes (once decompressed): materials are sent as metadata and SHA-256, "
                   "not content"));
}

absl::Status Corrupt(absl::string_view coding) {
  return absl::InvalidArgumentError(absl::StrCat(
      "request body cannot be read: cut short, or not valid ", coding, " data"));
}

// gzip or zlib (window bits 15 + 32: either header, detected).
absl::StatusOr<std::string> Inflate(absl::string_view body, size_t limit, absl::string_view coding) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) return absl::InternalError("zlib cannot start");
  std::string out;
  char chunk[16384];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  z.avail_in = static_cast<uInt>(body.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof(chunk);
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(chunk, sizeof(chunk) - z.avail_out);
    if (out.size() > limit) {
      inflateEnd(&z);
      return TooLarge(limit);
    }
    if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) break;  // input cut short
  }
  const bool complete = rc == Z_STREAM_END && z.avail_in == 0;
  inflateEnd(&z);
  if (!complete) return Corrupt(coding);
  return out;
}

absl::StatusOr<std::string> Unbrotli(absl::string_view body, size_t limit) {
  BrotliDecoderState* state = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
  if (state == nullptr) return absl::InternalError("brotli cannot start");
  std::string out;
  const uint8_t* next_in = reinterpret_cast<const uint8_t*>(body.data());
  size_t avail_in = body.size();
  BrotliDecoderResult rc = BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT;
  uint8_t chunk[16384];
  while (rc == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) {
    uint8_t* next_out = chunk;
    size_t avail_out = sizeof(chunk);
    rc = BrotliDecoderDecompressStream(state, &avail_in, &next_in, &avail_out, &next_out, nullptr);
    out.append(reinterpret_cast<const char*>(chunk), sizeof(chunk) - avail_out);
    if (out.size() > limit) {
      BrotliDecoderDestroyInstance(state);
      return TooLarge(limit);
    }
  }
  BrotliDecoderDestroyInstance(state);
  if (rc != BROTLI_DECODER_RESULT_SUCCESS || avail_in != 0) return Corrupt("br");
  return out;
}

}  // namespace

absl::StatusOr<std::string> DecodeBody(absl::string_view encoding, absl::string_view body,
                                       size_t limit) {
  const std::string coding = absl::AsciiStrToLower(absl::StripAsciiWhitespace(encoding));
  if (coding.empty() || coding == "identity") {
    if (body.size() > limit) return TooLarge(limit);
    return std::string(body);
  }
  if (coding == "gzip" || coding == "x-gzip" || coding == "deflate") {
    return Inflate(body, limit, coding);
  }
  if (coding == "br") return Unbrotli(body, limit);
  return absl::UnimplementedError(absl::StrCat(
      "Content-Encoding ", encoding, " is not supported: send gzip, deflate, br or identity"));
}

}  // namespace tongban::edge
