// `tongbanctl history export|verify`: an application's signed history as a
// JSON file (tongban.v1.SignedHistory, docs/protocol.md "Signed records"),
// fetched from a node and verified offline with only the CA bundle (and CRLs).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "record_signing.h"
#include "tongban/v1/application.pb.h"
#include "tongban/v1/signed_history.pb.h"

namespace tongban::ctl {

inline constexpr char kSignedHistoryFormat[] = "tongban.signed-history.v1";

// The export of an application as a node returned it (filing and events).
v1::SignedHistory MakeSignedHistory(const v1::Application& application, absl::Time exported_at,
                                    const std::string& exported_by);

// Protobuf JSON mapping (bytes base64, enums by name), indented, newline-terminated.
absl::StatusOr<std::string> SignedHistoryToJson(const v1::SignedHistory& history);
// INVALID_ARGUMENT for bad JSON, unknown fields (a record with fields this
// build does not know cannot be re-encoded, hence not verified) or another
// format than kSignedHistoryFormat.
absl::StatusOr<v1::SignedHistory> SignedHistoryFromJson(const std::string& json);

// Reads the application from a node's ApplicationService.GetApplication over
// mTLS with the given client certificate (an officer of the accepting or
// handling province) and returns its export.
struct ExportOptions {
  std::string node;  // host:port
  std::string application_id;
  std::string cert_file;
  std::string key_file;
  std::string ca_file;
  int deadline_seconds = 10;
};
absl::StatusOr<v1::SignedHistory> FetchSignedHistory(const ExportOptions& options);

// Offline verification (signing::VerifyHistory in historical mode).
signing::HistoryVerdict VerifySignedHistory(const v1::SignedHistory& history,
                                            const signing::RecordVerifier& verifier);

// Human-readable report: a heading, one line per event ("ok" or "FAIL" with
// the problems), history-level problems and the verdict line.
std::string FormatVerdict(const v1::SignedHistory& history, const signing::HistoryVerdict& verdict);

}  // namespace tongban::ctl
