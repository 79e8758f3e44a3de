#include "page_token.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace tongban {

uint32_t PageTokenCheck(absl::string_view list, absl::string_view cursor) {
  uint32_t h = 2166136261u;
  for (absl::string_view part : {list, absl::string_view("\x1f"), cursor}) {
    for (unsigned char c : part) {
      h ^= c;
      h *= 16777619u;
    }
  }
  return h;
}

std::string EncodePageToken(absl::string_view list, absl::string_view cursor) {
  return absl::WebSafeBase64Escape(
      absl::StrCat("v1\x1f", list, "\x1f", cursor, "\x1f", PageTokenCheck(list, cursor)));
}

absl::StatusOr<std::string> DecodePageToken(absl::string_view field, absl::string_view list,
                                            absl::string_view token) {
  if (token.empty()) return std::string();
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " is not a token this listing issued: pass the next_page_token of the previous "
               "response with the same filters, or leave it empty for the first page"));
  };
  std::string raw;
  if (token.size() > 512 || !absl::WebSafeBase64Unescape(token, &raw)) return bad();
  // v1 \x1f list \x1f cursor \x1f check
  size_t a = raw.find('\x1f');
  size_t c = raw.rfind('\x1f');
  if (a == std::string::npos || c == a || raw.substr(0, a) != "v1") return bad();
  absl::string_view body = absl::string_view(raw).substr(a + 1, c - a - 1);
  size_t b = body.rfind('\x1f');
  if (b == absl::string_view::npos) return bad();
  absl::string_view got_list = body.substr(0, b);
  absl::string_view cursor = body.substr(b + 1);
  if (got_list != list || raw.substr(c + 1) != absl::StrCat(PageTokenCheck(got_list, cursor))) return bad();
  return std::string(cursor);
}

}  // namespace tongban
