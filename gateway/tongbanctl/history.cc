#include "history.h"

#include <chrono>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "tls_credentials.h"
#include "tongban/v1/application.grpc.pb.h"

namespace tongban::ctl {
namespace {

google::protobuf::Timestamp Ts(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  ts.set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(absl::ToUnixSeconds(t)))));
  return ts;
}

std::string TimeText(absl::Time t) {
  if (t == absl::InfinitePast()) return "(no time)           ";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string TimeOf(const google::protobuf::Timestamp& ts) {
  return TimeText(absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos()));
}

// "APPLICATION_ACTION_SUBMIT" -> "SUBMIT".
std::string ShortAction(const std::string& action) {
  constexpr char kPrefix[] = "APPLICATION_ACTION_";
  return action.rfind(kPrefix, 0) == 0 ? action.substr(sizeof(kPrefix) - 1) : action;
}

}  // namespace

v1::SignedHistory MakeSignedHistory(const v1::Application& application, absl::Time exported_at,
                                    const std::string& exported_by) {
  v1::SignedHistory history;
  history.set_format(kSignedHistoryFormat);
  history.set_application_id(application.application_id());
  if (application.has_filing()) *history.mutable_filing() = application.filing();
  *history.mutable_events() = application.events();
  *history.mutable_exported_at() = Ts(exported_at);
  history.set_exported_by(exported_by);
  return history;
}

absl::StatusOr<std::string> SignedHistoryToJson(const v1::SignedHistory& history) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(history, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot encode the history as JSON: ", status.ToString()));
  }
  if (json.empty() || json.back() != '\n') json += '\n';
  return json;
}

absl::StatusOr<v1::SignedHistory> SignedHistoryFromJson(const std::string& json) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  v1::SignedHistory history;
  auto status = google::protobuf::util::JsonStringToMessage(json, &history, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not a signed history (JSON of tongban.v1.SignedHistory; fields this tongbanctl does not "
        "know cannot be verified): ",
        status.message().ToString()));
  }
  if (history.format() != kSignedHistoryFormat) {
    return absl::InvalidArgumentError(absl::StrCat("format is '", history.format(), "', expected '",
                                                   kSignedHistoryFormat, "'"));
  }
  return history;
}

absl::StatusOr<v1::SignedHistory> FetchSignedHistory(const ExportOptions& options) {
  v1::TlsFiles files;
  files.set_cert_file(options.cert_file);
  files.set_key_file(options.key_file);
  files.set_ca_file(options.ca_file);
  if (absl::Status s = CheckTlsFiles(files); !s.ok()) return s;
  absl::StatusOr<std::string> me = ReadCertificateUri(options.cert_file);
  if (!me.ok()) return me.status();
  auto channel = grpc::CreateChannel(options.node, MakeChannelCredentials(files));
  auto stub = v1::ApplicationService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::seconds(options.deadline_seconds));
  v1::GetApplicationRequest req;
  req.set_application_id(options.application_id);
  v1::GetApplicationResponse resp;
  grpc::Status s = stub->GetApplication(&ctx, req, &resp);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        absl::StrCat("GetApplication ", options.application_id, " at ",
                                     options.node, ": ", s.error_message()));
  }
  if (!resp.application().has_filing()) {
    return absl::FailedPreconditionError(absl::StrCat(
        options.application_id, " at ", options.node,
        " has no filing record (filed before records were signed?): nothing to verify against"));
  }
  return MakeSignedHistory(resp.application(), absl::Now(),
                           absl::StrCat(*me, " from ", options.node));
}

signing::HistoryVerdict VerifySignedHistory(const v1::SignedHistory& history,
                                            const signing::RecordVerifier& verifier) {
  std::vector<v1::ApplicationEvent> events(history.events().begin(), history.events().end());
  return signing::VerifyHistory(history.application_id(),
                                history.has_filing() ? &history.filing() : nullptr, events,
                                verifier);
}

std::string FormatVerdict(const v1::SignedHistory& history,
                          const signing::HistoryVerdict& verdict) {
  std::string out = absl::StrCat("application ", history.application_id(), "\n");
  if (history.has_filing()) {
    const v1::ApplicationFiling& f = history.filing();
    absl::StrAppend(&out, "  filed ", TimeOf(f.filed_at()), " at ", f.accepting_province(),
                    " for ", f.handling_province(), ", item ", f.item_code(), ", guide version ",
                    f.guide_version(), "\n");
  }
  absl::StrAppend(&out, "  exported ", TimeOf(history.exported_at()), " by ",
                  history.exported_by().empty() ? "(unknown)" : history.exported_by(), "\n");
  absl::StrAppend(&out, "  ", history.events_size(), " events\n");
  size_t failed = 0;
  for (const signing::EventVerdict& e : verdict.events) {
    absl::StrAppend(&out, e.local_record ? "local " : e.ok() ? "ok    " : "FAIL  ",
                    e.event_id.empty() ? "(no id)" : e.event_id, "  ", TimeText(e.at), "  ",
                    ShortAction(e.action),
                    e.local_record ? "  (kept by this province only: not signed, not shared)" : "",
                    "\n");
    for (const std::string& p : e.problems) absl::StrAppend(&out, "        ", p, "\n");
    if (!e.ok()) ++failed;
  }
  for (const std::string& p : verdict.problems) absl::StrAppend(&out, "FAIL  history: ", p, "\n");
  if (verdict.ok()) {
    absl::StrAppend(&out,
                    "VERIFIED: every event is signed by its authoring province with a certificate "
                    "valid when it was signed, and every province's chain from the filing is "
                    "intact\n");
  } else {
    absl::StrAppend(&out, "NOT VERIFIED: ", failed, " of ", verdict.events.size(),
                    " events failed", verdict.problems.empty() ? "" : ", ",
                    verdict.problems.empty() ? ""
                                             : absl::StrCat(verdict.problems.size(),
                                                            " history problems"),
                    "\n");
  }
  return out;
}

}  // namespace tongban::ctl
