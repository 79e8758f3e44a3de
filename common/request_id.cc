#include "request_id.h"

#include <cstdint>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "structured_log.h"

namespace tongban {
namespace {

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZeros(absl::string_view s) { return s.find_first_not_of('0') == absl::string_view::npos; }

absl::string_view Find(const GrpcMetadata& md, const char* key) {
  auto it = md.find(key);
  if (it == md.end()) return {};
  return absl::string_view(it->second.data(), it->second.size());
}

}  // namespace

bool IsValidRequestId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  for (char c : id) {
    if (c <= 0x20 || c >= 0x7F || c == '"' || c == '\\' || c == ',') return false;
  }
  return true;
}

std::string TraceIdOfTraceparent(absl::string_view tp) {
  // version "-" trace-id "-" parent-id "-" trace-flags: 2+1+32+1+16+1+2.
  if (tp.size() != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return "";
  absl::string_view version = tp.substr(0, 2), trace_id = tp.substr(3, 32),
                    parent_id = tp.substr(36, 16), flags = tp.substr(53, 2);
  if (version != "00" || !IsLowerHex(trace_id) || !IsLowerHex(parent_id) || !IsLowerHex(flags) ||
      AllZeros(trace_id) || AllZeros(parent_id)) {
    return "";
  }
  return std::string(trace_id);
}

std::string NewRequestId() {
  // absl::BitGen is seeded from the OS's entropy; ids need to be unique,
  // not secret.
  thread_local absl::BitGen gen;
  uint64_t hi = absl::Uniform<uint64_t>(gen), lo = absl::Uniform<uint64_t>(gen);
  return absl::StrCat(absl::Hex(hi, absl::kZeroPad16), absl::Hex(lo, absl::kZeroPad16));
}

std::string ChooseRequestId(absl::string_view x_request_id, absl::string_view traceparent) {
  if (IsValidRequestId(x_request_id)) return std::string(x_request_id);
  std::string trace_id = TraceIdOfTraceparent(traceparent);
  if (!trace_id.empty()) return trace_id;
  return NewRequestId();
}

std::string ChooseRequestId(const GrpcMetadata& client_metadata) {
  return ChooseRequestId(Find(client_metadata, kRequestIdMetadata),
                         Find(client_metadata, kTraceparentMetadata));
}

std::string RequestIdOfCall(const GrpcMetadata& client_metadata) {
  absl::string_view id = Find(client_metadata, kRequestIdMetadata);
  return IsValidRequestId(id) ? std::string(id) : "";
}

void PropagateRequestId(grpc::ClientContext* ctx) {
  absl::string_view id = CurrentRequestId();
  if (!id.empty()) ctx->AddMetadata(kRequestIdMetadata, std::string(id));
}

}  // namespace tongban
