#include "citizen_api.h"

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "application_id.h"
#include "grpc_server_metrics.h"
#include "grpc_status.h"
#include "input_validation.h"
#include "page_token.h"

namespace tongban::edge {
namespace {

using gateway::CallNode;
using gateway::FanOut;
using gateway::NodeResult;
using gateway::NodeStubs;

constexpr char kApplications[] = "tongban.v1.ApplicationService";
constexpr char kLicences[] = "tongban.v1.LicenceService";
// Believed by nodes only from the gateway's certificate (node/service/authz_policy.h).
constexpr char kCitizenIdMetadata[] = "x-tongban-citizen-id";
constexpr int kMaxNodePage = 200;  // the nodes' largest page
constexpr size_t kMaxListToken = 8192;

grpc::Status NeedsCitizen() {
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      "this call needs a signed-in citizen: send Authorization: Bearer <token>");
}

// Adds the verified citizen id; only the gateway's certificate makes nodes believe it.
std::function<void(grpc::ClientContext*)> Stamp(const CitizenCaller& caller) {
  return
      [id = caller.citizen_id](grpc::ClientContext* c) { c->AddMetadata(kCitizenIdMetadata, id); };
}

// Where a citizen's listing stands in one province: the node page to read
// (its token) and how many of that page were already shown.
struct ProvinceCursor {
  std::string node_token;
  int skip = 0;
};

// Refuses a token of another citizen's listing or one altered by hand.
uint32_t ListTokenCheck(absl::string_view citizen, absl::string_view body) {
  return PageTokenCheck(citizen, body);
}

// The list token: "province:skip:node_token" per province still to read,
// comma-separated after "my2", then ",#" and the check over the citizen and
// all before it; web-safe base64 around it. Provinces absent from a token
// are finished; an empty token starts over with every province. A first
// page's token holds skips only (no node token, which the nodes bind to
// the applicant themselves): the check is what makes it the citizen's.
std::string EncodeListToken(absl::string_view citizen,
                            const std::map<std::string, ProvinceCursor>& cursors) {
  std::string raw = "my2";
  for (const auto& [province, c] : cursors) {
    absl::StrAppend(&raw, ",", province, ":", c.skip, ":", c.node_token);
  }
  absl::StrAppend(&raw, ",#", ListTokenCheck(citizen, raw));
  return absl::WebSafeBase64Escape(raw);
}

absl::StatusOr<std::map<std::string, ProvinceCursor>> DecodeListToken(absl::string_view citizen,
                                                                      absl::string_view token) {
  auto bad = [] {
    return absl::InvalidArgumentError(
        "page_token is not a token from ListMyApplications: pass next_page_token unchanged, or "
        "leave it empty for the first page");
  };
  std::string raw;
  if (token.size() > kMaxListToken || !absl::WebSafeBase64Unescape(token, &raw)) return bad();
  const size_t check_at = raw.rfind(",#");
  if (check_at == std::string::npos) return bad();
  const absl::string_view body = absl::string_view(raw).substr(0, check_at);
  if (absl::string_view(raw).substr(check_at + 2) !=
      absl::StrCat(ListTokenCheck(citizen, body))) {
    return bad();
  }
  std::vector<std::string> parts = absl::StrSplit(body, ',');
  if (parts.empty() || parts[0] != "my2") return bad();
  std::map<std::string, ProvinceCursor> out;
  for (size_t i = 1; i < parts.size(); ++i) {
    std::vector<std::string> f = absl::StrSplit(parts[i], absl::MaxSplits(':', 2));
    ProvinceCursor c;
    if (f.size() != 3 || !ValidateProvinceCode("page_token", f[0]).ok() ||
        !absl::SimpleAtoi(f[1], &c.skip) || c.skip < 0 || c.skip >= kMaxNodePage) {
      return bad();
    }
    c.node_token = f[2];
    out[f[0]] = std::move(c);
  }
  return out;
}

// The same answer for "no such id" and "another citizen's", whichever node
// and method said it, so nothing can be learnt from the wording.
grpc::Status NotYours(const std::string& id) {
  return grpc::Status(grpc::StatusCode::NOT_FOUND,
                      absl::StrCat("application_id ", id, ": no such application of yours"));
}

grpc::Status Uniform(grpc::Status s, const std::string& id) {
  return s.error_code() == grpc::StatusCode::NOT_FOUND ? NotYours(id) : s;
}

}  // namespace

absl::StatusOr<std::string> IdempotencyKeyOf(const CitizenCaller& caller,
                                             const v1::SubmitMyApplicationRequest& req) {
  // The IETF draft makes the header a structured-field string ("..."); many
  // clients send the bare key. Both mean the key inside.
  absl::string_view header = absl::StripAsciiWhitespace(caller.idempotency_key);
  if (header.size() >= 2 && header.front() == '"' && header.back() == '"') {
    header = header.substr(1, header.size() - 2);
  }
  if (req.idempotency_key().empty()) return std::string(header);
  if (!header.empty() && header != req.idempotency_key()) {
    // Which one would the client retry with? Neither guess is safe.
    return absl::InvalidArgumentError(
        "idempotency_key differs from the Idempotency-Key header: send the key once, or the "
        "same key in both");
  }
  return req.idempotency_key();
}

absl::Status ValidatePreviewMyLicence(const v1::PreviewMyLicenceRequest& req) {
  absl::Status s = ValidateProvinceCode("issuing_province", req.issuing_province());
  if (s.ok() && !req.has_use()) {
    s = absl::InvalidArgumentError(
        "use is required: the item_code, handling_province and material_id the licence is for");
  }
  return s;
}

absl::Status ValidateConfirmMyLicence(const v1::ConfirmMyLicenceRequest& req) {
  if (!req.has_grant()) {
    return absl::InvalidArgumentError(
        "grant is required: the grant of the preview (PreviewMyLicence), unchanged");
  }
  return ValidateProvinceCode("grant.issuing_province", req.grant().issuing_province());
}

absl::Status ValidateListMyLicenceDisclosures(const v1::ListMyLicenceDisclosuresRequest& req) {
  absl::Status s = ValidateProvinceCode("issuing_province", req.issuing_province());
  int unused = 0;
  if (s.ok()) s = ValidatePageSize("page_size", req.page_size(), &unused);
  return s;
}

absl::Status ValidateLicenceMaterialCount(int count) {
  if (count > kMaxLicenceMaterialsPerRequest) {
    return absl::InvalidArgumentError(absl::StrCat("licence_materials lists ", count,
                                                   " licences, at most ",
                                                   kMaxLicenceMaterialsPerRequest));
  }
  return absl::OkStatus();
}

namespace {

bool Newer(const v1::Application& a, const v1::Application& b) {
  auto key = [](const v1::Application& x) {
    return std::make_tuple(x.created_at().seconds(), x.created_at().nanos(), x.application_id());
  };
  return key(a) > key(b);
}

}  // namespace

CitizenApi::CitizenApi(gateway::NodeCaller nodes, gateway::QueryServiceImpl* queries,
                       CitizenApiOptions options)
    : nodes_(nodes),
      queries_(queries),
      options_(options),
      own_log_(options.log == nullptr ? std::make_unique<EventLog>("gateway") : nullptr),
      log_(options.log != nullptr ? options.log : own_log_.get()) {}

template <typename Body>
grpc::Status CitizenApi::Logged(const CitizenCaller& caller, const char* method, Body body) {
  // Runs on the caller's thread, as do the node calls' starts (node_call.h).
  const ScopedRequestId request_id(caller.request_id);
  const absl::Time start = absl::Now();
  grpc::Status s = body();
  log_->Info("citizen.call",
             {{"method", method},
              {"code", GrpcCodeName(s.error_code())},
              {"ms", absl::StrCat(absl::ToInt64Milliseconds(absl::Now() - start))}});
  return s;
}

absl::Time CitizenApi::NodeDeadline(const CitizenCaller& caller) const {
  return queries_->NodeDeadline(caller.deadline);
}

grpc::Status CitizenApi::SearchGuides(const CitizenCaller& caller,
                                      const v1::SearchGuidesRequest& req,
                                      v1::SearchGuidesResponse* resp) {
  return Logged(caller, "SearchGuides", [&]() -> grpc::Status {
    v1::SearchFederationRequest q;
    q.set_query(req.query());
    *q.mutable_provinces() = req.provinces();
    q.set_page_size(req.page_size());
    q.set_page_token(req.page_token());
    v1::SearchFederationResponse r;
    grpc::Status s = queries_->Search(q, NodeDeadline(caller), &r);
    if (!s.ok()) return s;
    resp->mutable_guides()->Swap(r.mutable_guides());
    resp->set_next_page_token(r.next_page_token());
    resp->mutable_missing_provinces()->Swap(r.mutable_missing_provinces());
    resp->mutable_relevance()->Swap(r.mutable_relevance());
    resp->mutable_stale_provinces()->Swap(r.mutable_stale_provinces());
    return s;
  });
}

grpc::Status CitizenApi::FindWhereToFile(const CitizenCaller& caller,
                                         const v1::FindWhereToFileRequest& req,
                                         v1::FindWhereToFileResponse* resp) {
  return Logged(caller, "FindWhereToFile", [&]() -> grpc::Status {
    v1::FindFilingOptionsRequest q;
    q.set_item_code(req.item_code());
    q.set_accepting_province(req.accepting_province());
    v1::FindFilingOptionsResponse r;
    grpc::Status s = queries_->FilingOptions(q, NodeDeadline(caller), &r);
    if (!s.ok()) return s;
    if (r.options().empty() && r.missing_provinces().empty()) {
      return grpc::Status(
          grpc::StatusCode::NOT_FOUND,
          absl::StrCat("item_code ", req.item_code(), " cannot be filed for from province ",
                       req.accepting_province(), " (no province offers it there)"));
    }
    resp->mutable_options()->Swap(r.mutable_options());
    resp->mutable_missing_provinces()->Swap(r.mutable_missing_provinces());
    return s;
  });
}

grpc::Status CitizenApi::GetItemGuide(const CitizenCaller& caller,
                                      const v1::GetItemGuideRequest& req,
                                      v1::GetItemGuideResponse* resp) {
  return Logged(caller, "GetItemGuide", [&]() -> grpc::Status {
    v1::GetProvinceGuideRequest q;
    q.set_province_code(req.province_code());
    q.set_item_code(req.item_code());
    v1::GetProvinceGuideResponse r;
    grpc::Status s = queries_->ProvinceGuide(q, NodeDeadline(caller), &r);
    if (s.ok()) resp->mutable_guide()->Swap(r.mutable_guide());
    return s;
  });
}

grpc::Status CitizenApi::FindLicenceEvidence(const CitizenCaller& caller,
                                             const v1::FindMyLicenceEvidenceRequest& req,
                                             v1::FindMyLicenceEvidenceResponse* resp) {
  return Logged(caller, "FindLicenceEvidence", [&]() -> grpc::Status {
    if (caller.citizen_id.empty()) return NeedsCitizen();
    v1::FindLicenceEvidenceRequest q;
    q.set_province_code(req.province_code());
    q.set_item_code(req.item_code());
    q.set_holder_id(caller.citizen_id);  // a resident identity number (the token's subject)
    v1::FindLicenceEvidenceResponse r;
    grpc::Status s = queries_->LicenceEvidence(q, NodeDeadline(caller), &r);
    if (!s.ok()) return s;
    resp->set_province_code(r.province_code());
    resp->set_item_code(r.item_code());
    resp->set_guide_version(r.guide_version());
    resp->mutable_materials()->Swap(r.mutable_materials());
    return s;
  });
}

grpc::Status CitizenApi::PreviewMyLicence(const CitizenCaller& caller,
                                          const v1::PreviewMyLicenceRequest& req,
                                          v1::PreviewLicenceResponse* resp) {
  return Logged(caller, "PreviewMyLicence", [&]() -> grpc::Status {
    if (caller.citizen_id.empty()) return NeedsCitizen();
    if (absl::Status v = ValidatePreviewMyLicence(req); !v.ok()) return ToGrpcStatus(v);
    v1::PreviewLicenceRequest q;
    q.set_issuing_province(req.issuing_province());
    q.set_type_code(req.type_code());
    // holder_id stays empty: the node takes the stamped citizen's.
    *q.mutable_use() = req.use();
    // At the issuing province's node: it holds the licence and signs the
    // grant (requester_province = itself, for citizens through the gateway).
    return CallNode(
        nodes_, req.issuing_province(), kLicences, "PreviewLicence", NodeDeadline(caller),
        [&](const NodeStubs& stubs, grpc::ClientContext* c, v1::PreviewLicenceResponse* out) {
          return stubs.licences->PreviewLicence(c, q, out);
        },
        resp, Stamp(caller));
  });
}

grpc::Status CitizenApi::ConfirmMyLicence(const CitizenCaller& caller,
                                          const v1::ConfirmMyLicenceRequest& req,
                                          v1::ConfirmLicenceResponse* resp) {
  return Logged(caller, "ConfirmMyLicence", [&]() -> grpc::Status {
    if (caller.citizen_id.empty()) return NeedsCitizen();
    if (absl::Status v = ValidateConfirmMyLicence(req); !v.ok()) return ToGrpcStatus(v);
    v1::ConfirmLicenceRequest q;
    *q.mutable_grant() = req.grant();
    q.set_confirm(req.confirm());
    // The node that signed the grant judges it (an altered one's signature fails there).
    return CallNode(
        nodes_, req.grant().issuing_province(), kLicences, "ConfirmLicence", NodeDeadline(caller),
        [&](const NodeStubs& stubs, grpc::ClientContext* c, v1::ConfirmLicenceResponse* out) {
          return stubs.licences->ConfirmLicence(c, q, out);
        },
        resp, Stamp(caller));
  });
}

grpc::Status CitizenApi::ListMyLicenceDisclosures(const CitizenCaller& caller,
                                                  const v1::ListMyLicenceDisclosuresRequest& req,
                                                  v1::ListLicenceDisclosuresResponse* resp) {
  return Logged(caller, "ListMyLicenceDisclosures", [&]() -> grpc::Status {
    if (caller.citizen_id.empty()) return NeedsCitizen();
    if (absl::Status v = ValidateListMyLicenceDisclosures(req); !v.ok()) return ToGrpcStatus(v);
    v1::ListHolderDisclosuresRequest q;
    // holder_id stays empty: the node lists the stamped citizen's.
    q.set_page_size(req.page_size());
    q.set_page_token(req.page_token());
    return CallNode(
        nodes_, req.issuing_province(), kLicences, "ListHolderDisclosures", NodeDeadline(caller),
        [&](const NodeStubs& stubs, grpc::ClientContext* c,
            v1::ListLicenceDisclosuresResponse* out) {
          return stubs.licences->ListHolderDisclosures(c, q, out);
        },
        resp, Stamp(caller));
  });
}

grpc::Status CitizenApi::CheckMaterials(const CitizenCaller& caller,
                                        const v1::CheckMaterialsRequest& req,
                                        v1::CheckMaterialsResponse* resp) {
  return Logged(caller, "CheckMaterials", [&]() -> grpc::Status {
    if (caller.citizen_id.empty()) return NeedsCitizen();
    absl::Status valid = ValidateProvinceCode("accepting_province", req.accepting_province());
    if (!valid.ok()) return ToGrpcStatus(valid);
    v1::PrecheckApplicationRequest q;
    q.set_item_code(req.item_code());
    q.set_handling_province(req.handling_province());
    *q.mutable_material_ids() = req.material_ids();
    v1::PrecheckApplicationResponse r;
    grpc::Status s = CallNode(
        nodes_, req.accepting_province(), kApplications, "PrecheckApplication",
        NodeDeadline(caller),
        [&](const NodeStubs& stubs, grpc::ClientContext* c, v1::PrecheckApplicationResponse* out) {
          return stubs.applications->PrecheckApplication(c, q, out);
        },
        &r, Stamp(caller));
    if (!s.ok()) return s;
    resp->set_outcome(r.outcome());
    resp->mutable_missing_key()->Swap(r.mutable_missing_key());
    resp->mutable_missing_deficiency_allowed()->Swap(r.mutable_missing_deficiency_allowed());
    resp->set_supplement_days(r.supplement_days());
    resp->set_guide_version(r.guide_version());
    return s;
  });
}

grpc::Status CitizenApi::SubmitMyApplication(const CitizenCaller& caller,
                                             const v1::SubmitMyApplicationRequest& req,
                                             v1::SubmitMyApplicationResponse* resp) {
  return Logged(caller, "SubmitMyApplication", [&]() -> grpc::Status {
    if (caller.citizen_id.empty()) return NeedsCitizen();
    absl::Status valid = ValidateProvinceCode("accepting_province", req.accepting_province());
    if (!valid.ok()) return ToGrpcStatus(valid);
    v1::SubmitApplicationRequest q;
    absl::StatusOr<std::string> key = IdempotencyKeyOf(caller, req);
    if (!key.ok()) return ToGrpcStatus(key.status());
    q.set_idempotency_key(*std::move(key));
    q.set_item_code(req.item_code());
    q.set_handling_province(req.handling_province());
    *q.mutable_applicant() = req.applicant();
    // The token says who the applicant is; an explicit id must agree (the node checks).
    if (q.applicant().id_number().empty()) q.mutable_applicant()->set_id_number(caller.citizen_id);
    *q.mutable_materials() = req.materials();
    q.set_note(req.note());
    *q.mutable_joint_roles() = req.joint_roles();
    if (absl::Status v = ValidateLicenceMaterialCount(req.licence_materials_size()); !v.ok()) {
      return ToGrpcStatus(v);
    }
    *q.mutable_licence_materials() = req.licence_materials();
    v1::SubmitApplicationResponse r;
    grpc::Status s = CallNode(
        nodes_, req.accepting_province(), kApplications, "SubmitApplication", NodeDeadline(caller),
        [&](const NodeStubs& stubs, grpc::ClientContext* c, v1::SubmitApplicationResponse* out) {
          return stubs.applications->SubmitApplication(c, q, out);
        },
        &r, Stamp(caller));
    if (!s.ok()) return s;
    resp->mutable_application()->Swap(r.mutable_application());
    resp->set_replayed(r.replayed());
    resp->set_precheck_outcome(r.precheck_outcome());
    return s;
  });
}

// A merged, newest-first listing over every province. Each application is
// shown once: from its accepting province, which holds it from the moment
// it is acknowledged (the handling province's copy of a cross-province
// application is skipped). Per province the token keeps the node's own page
// token and how much of that page was shown, so no application is skipped
// or repeated between pages. A page is full unless it is the last (issue
// 11): when a province's node page runs out before the page is full and the
// node has more, its next node page is read before the merge goes on.
grpc::Status CitizenApi::ListMyApplications(const CitizenCaller& caller,
                                            const v1::ListMyApplicationsRequest& req,
                                            v1::ListMyApplicationsResponse* resp) {
  return Logged(caller, "ListMyApplications", [&]() -> grpc::Status {
    if (caller.citizen_id.empty()) return NeedsCitizen();
    int want = 0;
    absl::Status valid = ValidatePageSize("page_size", req.page_size(), &want);
    if (!valid.ok()) return ToGrpcStatus(valid);
    std::map<std::string, ProvinceCursor> cursors;
    if (req.page_token().empty()) {
      for (const std::string& p : nodes_.pool->Provinces()) cursors[p] = ProvinceCursor{};
    } else {
      absl::StatusOr<std::map<std::string, ProvinceCursor>> decoded =
          DecodeListToken(caller.citizen_id, req.page_token());
      if (!decoded.ok()) return ToGrpcStatus(decoded.status());
      cursors = std::move(*decoded);
    }
    std::function<void(grpc::ClientContext*)> stamp = Stamp(caller);
    // One node page per province in `requests`, all at once.
    auto fetch = [&](const std::map<std::string, v1::ListApplicationsByApplicantRequest>&
                         requests) {
      std::vector<std::string> provinces;
      for (const auto& [province, r] : requests) provinces.push_back(province);
      return FanOut<v1::ListApplicationsByApplicantResponse>(
          nodes_, provinces, kApplications, "ListApplicationsByApplicant", options_.node_deadline,
          NodeDeadline(caller),
          [&](const NodeStubs& stubs, grpc::ClientContext* c,
              v1::ListApplicationsByApplicantResponse* out,
              std::function<void(grpc::Status)> done) {
            const auto& r = requests.at(stubs.province);
            stamp(c);
            stubs.applications->async()->ListApplicationsByApplicant(c, &r, out, std::move(done));
          });
    };
    auto request = [](const std::string& node_token, int page_size) {
      v1::ListApplicationsByApplicantRequest r;
      r.set_page_size(std::min(kMaxNodePage, page_size));
      r.set_page_token(node_token);
      // Each province lists what its windows accepted: a node page is then
      // never filled with copies the merge drops.
      r.set_accepted_here_only(true);
      return r;
    };
    std::map<std::string, v1::ListApplicationsByApplicantRequest> requests;
    for (const auto& [province, c] : cursors) {
      requests[province] = request(c.node_token, c.skip + want);
    }

    // One stream per province that answered: the node page it holds, the
    // node token that page was read with, position = next unread index.
    struct Stream {
      std::string province;
      std::string node_token;
      v1::ListApplicationsByApplicantResponse page;
      int position;
      bool more_at_node() const { return !page.next_page_token().empty(); }
    };
    std::vector<Stream> streams;
    std::map<std::string, ProvinceCursor> next;
    for (auto& r : fetch(requests)) {
      if (!r.status.ok()) {
        if (r.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
          // The node refused its part of the token (another citizen's, or altered).
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              absl::StrCat("page_token does not belong to this listing (province ",
                                           r.province, ": ", r.status.error_message(), ")"));
        }
        v1::MissingProvince* m = resp->add_missing_provinces();
        m->set_province_code(r.province);
        m->set_reason(gateway::MissingReason(r.status));
        next[r.province] = cursors[r.province];  // read it again on the next page
        continue;
      }
      const ProvinceCursor& c = cursors[r.province];
      streams.push_back(Stream{r.province, c.node_token, std::move(r.response), c.skip});
    }
    auto shown_here = [](const Stream& s, const v1::Application& a) {
      return a.accepting_province() == s.province;
    };
    // Every round reads at least one more application from each node it asks
    // (a node sends a next token only when more follow); the cap only
    // guards against a node that breaks that.
    int rounds_left = want + static_cast<int>(streams.size()) + 1;
    while (resp->applications_size() < want) {
      Stream* best = nullptr;
      std::vector<Stream*> drained;  // node page read to its end, more at the node
      for (Stream& s : streams) {
        while (s.position < s.page.applications_size() &&
               !shown_here(s, s.page.applications(s.position))) {
          ++s.position;
        }
        if (s.position >= s.page.applications_size()) {
          if (s.more_at_node()) drained.push_back(&s);
          continue;
        }
        if (best == nullptr ||
            Newer(s.page.applications(s.position), best->page.applications(best->position))) {
          best = &s;
        }
      }
      if (!drained.empty()) {
        // Older ones may come from these provinces: read their next node
        // pages before showing anything older than what they showed.
        if (--rounds_left < 0) break;
        std::map<std::string, v1::ListApplicationsByApplicantRequest> more;
        std::map<std::string, Stream*> by_province;
        for (Stream* s : drained) {
          more[s->province] =
              request(s->page.next_page_token(), want - resp->applications_size());
          by_province[s->province] = s;
        }
        bool all_answered = true;
        for (auto& r : fetch(more)) {
          if (!r.status.ok()) {
            // The page ends here; the province's cursor stays at its next
            // node page (below), so its applications come on a later page.
            all_answered = false;
            v1::MissingProvince* m = resp->add_missing_provinces();
            m->set_province_code(r.province);
            m->set_reason(gateway::MissingReason(r.status));
            continue;
          }
          Stream& s = *by_province.at(r.province);
          s.node_token = s.page.next_page_token();
          s.page = std::move(r.response);
          s.position = 0;
        }
        if (!all_answered) break;
        continue;
      }
      if (best == nullptr) break;
      *resp->add_applications() = best->page.applications(best->position++);
    }
    nodes_.metrics->FanOut("ListMyApplications", [&] {
      std::vector<std::string> names;
      for (const auto& m : resp->missing_provinces()) names.push_back(m.province_code());
      return names;
    }());
    for (const Stream& s : streams) {
      if (s.position < s.page.applications_size()) {
        next[s.province] = ProvinceCursor{s.node_token, s.position};
      } else if (s.more_at_node()) {
        next[s.province] = ProvinceCursor{s.page.next_page_token(), 0};
      }
    }
    if (!next.empty()) resp->set_next_page_token(EncodeListToken(caller.citizen_id, next));
    return grpc::Status::OK;
  });
}

grpc::Status CitizenApi::GetMyApplication(const CitizenCaller& caller,
                                          const v1::GetMyApplicationRequest& req,
                                          v1::GetMyApplicationResponse* resp) {
  return Logged(caller, "GetMyApplication", [&]() -> grpc::Status {
    if (caller.citizen_id.empty()) return NeedsCitizen();
    absl::StatusOr<ApplicationIdParts> id = ParseApplicationId(req.application_id());
    if (!id.ok()) return ToGrpcStatus(id.status());
    v1::GetApplicationRequest q;
    q.set_application_id(req.application_id());
    // Both provinces keep a copy and tell each other their changes through
    // their outboxes: the citizen's own actions land first at the accepting
    // province, officers' decisions at the handling one. Ask both and answer
    // with the copy changed last, so a citizen reads their own withdrawal at
    // once, and an officer's decision as soon as it is made.
    std::vector<std::string> provinces = {id->handling_province};
    if (id->accepting_province != id->handling_province)
      provinces.push_back(id->accepting_province);
    std::function<void(grpc::ClientContext*)> stamp = Stamp(caller);
    std::vector<NodeResult<v1::GetApplicationResponse>> results =
        FanOut<v1::GetApplicationResponse>(
            nodes_, provinces, kApplications, "GetApplication", options_.node_deadline,
            NodeDeadline(caller),
            [&](const NodeStubs& stubs, grpc::ClientContext* c, v1::GetApplicationResponse* out,
                std::function<void(grpc::Status)> done) {
              stamp(c);
              stubs.applications->async()->GetApplication(c, &q, out, std::move(done));
            });
    const v1::Application* freshest = nullptr;
    grpc::Status failure;  // the most telling failure when no copy came back
    for (const auto& r : results) {
      if (r.status.ok()) {
        const v1::Application& a = r.response.application();
        auto changed = [](const v1::Application& x) {
          return std::make_pair(x.updated_at().seconds(), x.updated_at().nanos());
        };
        // Ties go to the handling province (listed first).
        if (freshest == nullptr || changed(a) > changed(*freshest)) freshest = &a;
      } else if (r.status.error_code() != grpc::StatusCode::NOT_FOUND || failure.ok()) {
        // NOT_FOUND at one end may just mean "not delivered yet": another
        // failure (unavailable, deadline) says more.
        failure = r.status;
      }
    }
    if (freshest != nullptr) {
      *resp->mutable_application() = *freshest;
      return grpc::Status::OK;
    }
    return Uniform(failure, req.application_id());
  });
}

grpc::Status CitizenApi::SupplementMyMaterials(const CitizenCaller& caller,
                                               const v1::SupplementMyMaterialsRequest& req,
                                               v1::SupplementMyMaterialsResponse* resp) {
  return Logged(caller, "SupplementMyMaterials", [&]() -> grpc::Status {
    if (caller.citizen_id.empty()) return NeedsCitizen();
    absl::StatusOr<ApplicationIdParts> id = ParseApplicationId(req.application_id());
    if (!id.ok()) return ToGrpcStatus(id.status());
    v1::SupplementMaterialsRequest q;
    q.set_application_id(req.application_id());
    *q.mutable_materials() = req.materials();
    q.set_note(req.note());
    v1::SupplementMaterialsResponse r;
    // At the accepting province: the applicant's channel, whose outbox
    // carries the change to the handling province in order.
    grpc::Status s = CallNode(
        nodes_, id->accepting_province, kApplications, "SupplementMaterials", NodeDeadline(caller),
        [&](const NodeStubs& stubs, grpc::ClientContext* c, v1::SupplementMaterialsResponse* out) {
          return stubs.applications->SupplementMaterials(c, q, out);
        },
        &r, Stamp(caller));
    if (s.ok()) resp->mutable_application()->Swap(r.mutable_application());
    return Uniform(s, req.application_id());
  });
}

grpc::Status CitizenApi::WithdrawMyApplication(const CitizenCaller& caller,
                                               const v1::WithdrawMyApplicationRequest& req,
                                               v1::WithdrawMyApplicationResponse* resp) {
  return Logged(caller, "WithdrawMyApplication", [&]() -> grpc::Status {
    if (caller.citizen_id.empty()) return NeedsCitizen();
    absl::StatusOr<ApplicationIdParts> id = ParseApplicationId(req.application_id());
    if (!id.ok()) return ToGrpcStatus(id.status());
    v1::WithdrawApplicationRequest q;
    q.set_application_id(req.application_id());
    q.set_reason(req.reason());
    v1::WithdrawApplicationResponse r;
    grpc::Status s = CallNode(
        nodes_, id->accepting_province, kApplications, "WithdrawApplication", NodeDeadline(caller),
        [&](const NodeStubs& stubs, grpc::ClientContext* c, v1::WithdrawApplicationResponse* out) {
          return stubs.applications->WithdrawApplication(c, q, out);
        },
        &r, Stamp(caller));
    if (s.ok()) resp->mutable_application()->Swap(r.mutable_application());
    return Uniform(s, req.application_id());
  });
}

grpc::Status CitizenApi::RateMyApplication(const CitizenCaller& caller,
                                           const v1::RateMyApplicationRequest& req,
                                           v1::RateMyApplicationResponse* resp) {
  return Logged(caller, "RateMyApplication", [&]() -> grpc::Status {
    if (caller.citizen_id.empty()) return NeedsCitizen();
    absl::StatusOr<ApplicationIdParts> id = ParseApplicationId(req.application_id());
    if (!id.ok()) return ToGrpcStatus(id.status());
    v1::RateApplicationRequest q;
    q.set_application_id(req.application_id());
    q.set_level(req.level());
    q.set_comment(req.comment());
    v1::RateApplicationResponse r;
    grpc::Status s = CallNode(
        nodes_, id->accepting_province, kApplications, "RateApplication", NodeDeadline(caller),
        [&](const NodeStubs& stubs, grpc::ClientContext* c, v1::RateApplicationResponse* out) {
          return stubs.applications->RateApplication(c, q, out);
        },
        &r, Stamp(caller));
    if (s.ok()) resp->mutable_application()->Swap(r.mutable_application());
    return Uniform(s, req.application_id());
  });
}

grpc::Status CitizenApi::StartWatch(const CitizenCaller& caller,
                                    const v1::WatchMyApplicationRequest& req, WatchSink* sink,
                                    std::shared_ptr<WatchRelay>* relay) {
  return Logged(caller, "WatchMyApplication", [&]() -> grpc::Status {
    if (caller.citizen_id.empty()) return NeedsCitizen();
    absl::StatusOr<ApplicationIdParts> id = ParseApplicationId(req.application_id());
    if (!id.ok()) return ToGrpcStatus(id.status());
    absl::Status after = ValidateAfterSequence("after_sequence", req.after_sequence());
    if (!after.ok()) return ToGrpcStatus(after);
    if (options_.watches == nullptr) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "watching applications is not available");
    }
    absl::StatusOr<WatchLimits::Slot> slot = options_.watches->Acquire(caller.citizen_id);
    if (!slot.ok()) return ToGrpcStatus(slot.status());
    WatchRelayParams p;
    p.citizen_id = caller.citizen_id;
    p.request_id = caller.request_id;
    p.application_id = req.application_id();
    // The accepting province holds the whole history: its own events and
    // every event the handling province delivers back through the outbox.
    p.accepting_province = id->accepting_province;
    p.after_sequence = req.after_sequence();
    p.heartbeat_seconds = options_.watch_heartbeat_seconds;
    p.max_stream = options_.watch_max_stream;
    absl::StatusOr<std::shared_ptr<WatchRelay>> started =
        WatchRelay::Start(nodes_, std::move(p), std::move(*slot), sink);
    if (!started.ok()) return ToGrpcStatus(started.status());
    *relay = std::move(*started);
    return grpc::Status::OK;
  });
}

}  // namespace tongban::edge
