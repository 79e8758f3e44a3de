#include "licence_service.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "application_id.h"
#include "grpc_status.h"
#include "input_validation.h"
#include "licence_signing.h"
#include "page_token.h"
#include "service/callback_reply.h"

namespace tongban::node {
namespace {

constexpr char kService[] = "/tongban.v1.LicenceService/";

std::string Method(absl::string_view name) { return absl::StrCat(kService, name); }

// A holder filter only has to be the shape of a holder id: the listing
// answers nothing for an id no licence has.
absl::Status ValidateHolderFilter(absl::string_view value) {
  if (value.size() != 18 ||
      !std::all_of(value.begin(), value.end(), [](char c) { return absl::ascii_isalnum(c); })) {
    return absl::InvalidArgumentError(absl::StrCat(
        "holder_id must be an 18-character resident identity number or unified social credit "
        "code; got ",
        Shown(value)));
  }
  return absl::OkStatus();
}

}  // namespace

LicenceServiceImpl::LicenceServiceImpl(LicenceServiceDeps deps)
    : registry_(deps.registry),
      federation_(deps.federation),
      guides_(deps.guides),
      verifier_(deps.verifier),
      clock_(deps.clock),
      log_(deps.log),
      applications_(deps.applications),
      authz_(Policy(deps.registry->own_province())) {}

AuthzPolicy LicenceServiceImpl::Policy(const std::string& own_province) {
  std::map<std::string, Rule, std::less<>> rules;
  for (const char* name :
       {"IssueLicence", "RevokeLicence", "GetLicence", "ListLicences", "VerifyLicence"}) {
    rules.emplace(Method(name), Rule::kOwnOfficer);
  }
  rules.emplace(Method("ListLicenceTypes"), Rule::kOwnOfficerOrOperator);
  rules.emplace(Method("ListLicenceDisclosures"), Rule::kOwnOfficerOrOperator);
  rules.emplace(Method("PreviewLicence"), Rule::kOwnOfficerOrCitizen);
  rules.emplace(Method("ConfirmLicence"), Rule::kOwnOfficerOrCitizen);
  rules.emplace(Method("ListHolderDisclosures"), Rule::kOwnOfficerOrCitizen);
  rules.emplace(Method("CheckApplicationLicences"), Rule::kOwnOfficer);
  return AuthzPolicy(own_province, std::move(rules));
}

grpc::Status LicenceServiceImpl::ListLicenceTypes(grpc::ServerContext* ctx,
                                                  const v1::ListLicenceTypesRequest*,
                                                  v1::ListLicenceTypesResponse* resp) {
  absl::StatusOr<Caller> caller = authz_.Authorize(*ctx, Method("ListLicenceTypes"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  for (const v1::LicenceType& type : registry_->types().all()) *resp->add_types() = type;
  return grpc::Status::OK;
}

grpc::Status LicenceServiceImpl::IssueLicence(grpc::ServerContext* ctx,
                                              const v1::IssueLicenceRequest* req,
                                              v1::IssueLicenceResponse* resp) {
  absl::StatusOr<Caller> caller = authz_.Authorize(*ctx, Method("IssueLicence"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<v1::Licence> licence = registry_->Issue(*req, caller->actor());
  if (!licence.ok()) return ToGrpcStatus(licence.status());
  log_->Info("licence.issued", {{"licence_id", licence->content().licence_id()},
                                {"by", caller->actor()}});
  *resp->mutable_licence() = *std::move(licence);
  return grpc::Status::OK;
}

grpc::Status LicenceServiceImpl::RevokeLicence(grpc::ServerContext* ctx,
                                               const v1::RevokeLicenceRequest* req,
                                               v1::RevokeLicenceResponse* resp) {
  absl::StatusOr<Caller> caller = authz_.Authorize(*ctx, Method("RevokeLicence"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<v1::Licence> licence =
      registry_->Revoke(req->licence_id(), req->reason(), caller->actor());
  if (!licence.ok()) return ToGrpcStatus(licence.status());
  log_->Info("licence.revoked", {{"licence_id", req->licence_id()}, {"by", caller->actor()}});
  *resp->mutable_licence() = *std::move(licence);
  return grpc::Status::OK;
}

grpc::Status LicenceServiceImpl::GetLicence(grpc::ServerContext* ctx,
                                            const v1::GetLicenceRequest* req,
                                            v1::GetLicenceResponse* resp) {
  absl::StatusOr<Caller> caller = authz_.Authorize(*ctx, Method("GetLicence"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<v1::Licence> licence = registry_->Get(req->licence_id());
  if (!licence.ok()) return ToGrpcStatus(licence.status());
  *resp->mutable_licence() = *std::move(licence);
  return grpc::Status::OK;
}

grpc::Status LicenceServiceImpl::ListLicences(grpc::ServerContext* ctx,
                                              const v1::ListLicencesRequest* req,
                                              v1::ListLicencesResponse* resp) {
  absl::StatusOr<Caller> caller = authz_.Authorize(*ctx, Method("ListLicences"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  LicenceFilter filter;
  if (!req->type_code().empty()) {
    if (registry_->types().Find(req->type_code()) == nullptr) {
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
          "type_code ", Shown(req->type_code()), " is not a licence type (ListLicenceTypes)")));
    }
    filter.type_code = req->type_code();
  }
  if (!req->holder_id().empty()) {
    if (absl::Status s = ValidateHolderFilter(req->holder_id()); !s.ok()) return ToGrpcStatus(s);
    filter.holder_id = req->holder_id();
  }
  if (!v1::LicenceStatus_IsValid(req->status())) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("status ", static_cast<int>(req->status()),
                     " is not a LicenceStatus (VALID, REVOKED, EXPIRED or unset)")));
  }
  int page_size = 0;
  if (absl::Status s = ValidatePageSize("page_size", req->page_size(), &page_size); !s.ok()) {
    return ToGrpcStatus(s);
  }
  const std::string list = absl::StrCat("licences:", filter.holder_id, ":", filter.type_code, ":",
                                        static_cast<int>(req->status()));
  absl::StatusOr<std::string> cursor = DecodePageToken("page_token", list, req->page_token());
  if (!cursor.ok()) return ToGrpcStatus(cursor.status());
  absl::StatusOr<LicenceRegistry::Page> page =
      registry_->List(filter, req->status(), *cursor, page_size);
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (v1::Licence& licence : page->licences) *resp->add_licences() = std::move(licence);
  if (!page->next_after.empty()) {
    resp->set_next_page_token(EncodePageToken(list, page->next_after));
  }
  return grpc::Status::OK;
}

absl::StatusOr<LicenceQuestion> LicenceServiceImpl::VerifyQuestion(
    const grpc::ServerContextBase& ctx, const v1::VerifyLicenceRequest& req) {
  absl::StatusOr<Caller> caller = authz_.Authorize(ctx, Method("VerifyLicence"));
  if (!caller.ok()) return caller.status();
  if (absl::Status s = ValidateProvinceCode("issuing_province", req.issuing_province()); !s.ok()) {
    return s;
  }
  LicenceQuestion question{req.type_code(), req.number(),         req.holder_id(),
                           req.purpose(),   req.application_id(), registry_->own_province(),
                           caller->actor()};
  if (absl::Status s = ValidateLicenceQuestion(question, registry_->types()); !s.ok()) return s;
  return question;
}

grpc::ServerUnaryReactor* LicenceServiceImpl::VerifyLicence(grpc::CallbackServerContext* ctx,
                                                            const v1::VerifyLicenceRequest* req,
                                                            v1::VerifyLicenceResponse* resp) {
  absl::StatusOr<LicenceQuestion> question = VerifyQuestion(*ctx, *req);
  if (!question.ok()) return Refuse(ctx, question.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  AskAsync(req->issuing_province(), *question, FinishWith(reactor, resp));
  return reactor;
}

grpc::Status LicenceServiceImpl::VerifyLicenceNow(const grpc::ServerContextBase& ctx,
                                                  const v1::VerifyLicenceRequest& req,
                                                  v1::VerifyLicenceResponse* resp) {
  absl::StatusOr<LicenceQuestion> question = VerifyQuestion(ctx, req);
  if (!question.ok()) return ToGrpcStatus(question.status());
  return Answered(Ask(req.issuing_province(), *question), resp);
}

namespace {

v1::CheckLicenceRequest RelayedCheck(const std::string& issuing_province,
                                     const LicenceQuestion& question) {
  v1::CheckLicenceRequest check;
  check.set_issuing_province(issuing_province);
  check.set_type_code(question.type_code);
  check.set_number(question.number);
  check.set_holder_id(question.holder_id);
  check.set_purpose(question.purpose);
  check.set_application_id(question.application_id);
  check.set_requester(question.requester);
  return check;
}

absl::Status NoGateway(const std::string& issuing_province) {
  return absl::UnavailableError(absl::StrCat(
      "this node has no gateway_address, so it cannot ask issuing province ", issuing_province));
}

// The issuing province's failure as this node's answer, logged.
absl::Status CheckFailed(EventLog* log, const std::string& issuing_province,
                         const absl::Status& s) {
  log->Warn("licence.check_failed",
            {{"issuing_province", issuing_province}, {"error", s.ToString()}});
  return absl::Status(s.code(), absl::StrCat("issuing province ", issuing_province,
                                             " could not answer the check: ", s.message()));
}

}  // namespace

absl::StatusOr<v1::VerifyLicenceResponse> LicenceServiceImpl::Ask(
    const std::string& issuing_province, const LicenceQuestion& question) {
  if (issuing_province == registry_->own_province()) return registry_->Check(question);
  if (federation_ == nullptr) return NoGateway(issuing_province);
  absl::StatusOr<v1::VerifyLicenceResponse> answer =
      federation_->CheckLicence(RelayedCheck(issuing_province, question));
  if (!answer.ok()) return CheckFailed(log_, issuing_province, answer.status());
  return answer;
}

void LicenceServiceImpl::AskAsync(const std::string& issuing_province,
                                  const LicenceQuestion& question,
                                  LicenceRegistry::Done<v1::VerifyLicenceResponse> done) {
  if (issuing_province == registry_->own_province()) {
    registry_->CheckAsync(question, std::move(done));
    return;
  }
  if (federation_ == nullptr) {
    done(NoGateway(issuing_province));
    return;
  }
  federation_->CheckLicenceAsync(RelayedCheck(issuing_province, question),
                                 [log = log_, issuing_province, done = std::move(done)](
                                     absl::StatusOr<v1::VerifyLicenceResponse> answer) {
                                   if (!answer.ok()) {
                                     done(CheckFailed(log, issuing_province, answer.status()));
                                   } else {
                                     done(std::move(answer));
                                   }
                                 });
}

grpc::Status LicenceServiceImpl::CheckApplicationLicences(
    grpc::ServerContext* ctx, const v1::CheckApplicationLicencesRequest* req,
    v1::CheckApplicationLicencesResponse* resp) {
  absl::StatusOr<Caller> caller = authz_.Authorize(*ctx, Method("CheckApplicationLicences"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<ApplicationIdParts> id = ParseApplicationId(req->application_id(), "application_id");
  if (!id.ok()) return ToGrpcStatus(id.status());
  absl::StatusOr<v1::Application> app =
      applications_->GetApplication(req->application_id(), /*with_events=*/false);
  if (!app.ok()) return ToGrpcStatus(app.status());
  for (const v1::SuppliedMaterial& m : app->materials()) {
    if (!m.has_licence()) continue;
    const v1::LicenceContent& c = m.licence().content();
    LicenceQuestion question{c.type_code(),
                             c.number(),
                             c.holder_id(),
                             absl::StrCat("licence material ", m.material_id(), " of application ",
                                          req->application_id()),
                             req->application_id(),
                             registry_->own_province(),
                             caller->actor()};
    absl::StatusOr<v1::VerifyLicenceResponse> answer = Ask(c.issuing_province(), question);
    if (!answer.ok()) return ToGrpcStatus(answer.status());
    v1::ApplicationLicenceStatus* out = resp->add_licences();
    out->set_material_id(m.material_id());
    out->set_licence_id(c.licence_id());
    *out->mutable_answer() = *std::move(answer);
  }
  return grpc::Status::OK;
}

grpc::Status LicenceServiceImpl::ListLicenceDisclosures(
    grpc::ServerContext* ctx, const v1::ListLicenceDisclosuresRequest* req,
    v1::ListLicenceDisclosuresResponse* resp) {
  absl::StatusOr<Caller> caller = authz_.Authorize(*ctx, Method("ListLicenceDisclosures"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  DisclosureFilter filter;
  if (!req->holder_id().empty()) {
    if (absl::Status s = ValidateHolderFilter(req->holder_id()); !s.ok()) return ToGrpcStatus(s);
    filter.holder_id = req->holder_id();
  }
  if (!req->licence_id().empty()) {
    if (absl::Status s = ValidateLicenceId("licence_id", req->licence_id()); !s.ok()) {
      return ToGrpcStatus(s);
    }
    filter.licence_id = req->licence_id();
  }
  if (!req->requester_province().empty()) {
    if (absl::Status s = ValidateProvinceCode("requester_province", req->requester_province());
        !s.ok()) {
      return ToGrpcStatus(s);
    }
    filter.requester_province = req->requester_province();
  }
  const std::string list = absl::StrCat("disclosures:", filter.holder_id, ":", filter.licence_id,
                                        ":", filter.requester_province);
  return ToGrpcStatus(DisclosurePage(filter, list, req->page_size(), req->page_token(), resp));
}

absl::Status LicenceServiceImpl::DisclosurePage(const DisclosureFilter& filter,
                                                const std::string& list, int32_t page_size_asked,
                                                const std::string& page_token,
                                                v1::ListLicenceDisclosuresResponse* resp) {
  int page_size = 0;
  if (absl::Status s = ValidatePageSize("page_size", page_size_asked, &page_size); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> cursor = DecodePageToken("page_token", list, page_token);
  if (!cursor.ok()) return cursor.status();
  int64_t before = 0;
  if (!cursor->empty() && (!absl::SimpleAtoi(*cursor, &before) || before <= 0)) {
    return absl::InvalidArgumentError("page_token is not a token of this listing");
  }
  absl::StatusOr<std::vector<StoredDisclosure>> page =
      registry_->ListDisclosures(filter, before, page_size + 1);
  if (!page.ok()) return page.status();
  const bool more = static_cast<int>(page->size()) > page_size;
  if (more) page->pop_back();
  for (StoredDisclosure& row : *page) *resp->add_disclosures() = std::move(row.disclosure);
  if (more) resp->set_next_page_token(EncodePageToken(list, absl::StrCat(page->back().sequence)));
  return absl::OkStatus();
}

grpc::Status LicenceServiceImpl::ListHolderDisclosures(
    grpc::ServerContext* ctx, const v1::ListHolderDisclosuresRequest* req,
    v1::ListLicenceDisclosuresResponse* resp) {
  absl::StatusOr<Caller> caller = authz_.Authorize(*ctx, Method("ListHolderDisclosures"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  DisclosureFilter filter;
  if (caller->is_citizen()) {
    // A citizen reads only their own: anyone else's answers as an empty log.
    filter.holder_id = caller->citizen_id;
    if (!req->holder_id().empty() && req->holder_id() != caller->citizen_id) return grpc::Status::OK;
  } else {
    if (absl::Status s = ValidateHolderFilter(req->holder_id()); !s.ok()) return ToGrpcStatus(s);
    filter.holder_id = req->holder_id();
  }
  return ToGrpcStatus(DisclosurePage(filter, absl::StrCat("holder-disclosures:", filter.holder_id),
                                     req->page_size(), req->page_token(), resp));
}

absl::Status LicenceServiceImpl::CheckUse(const v1::LicenceUse& use,
                                          const std::string& type_code) {
  absl::StatusOr<GuideResolver::GuidePtr> guide = guides_->Resolve(use.handling_province(), use.item_code());
  if (!guide.ok()) return guide.status();
  for (const v1::MaterialRequirement& m : (*guide)->materials()) {
    if (m.material_id() != use.material_id()) continue;
    for (const std::string& t : m.licence_types()) {
      if (t == type_code) return absl::OkStatus();
    }
    return WithReason(
        absl::FailedPreconditionError(absl::StrCat(
            "province ", use.handling_province(), "'s guide of item ", use.item_code(),
            " does not take licence type ", type_code, " for material ", use.material_id(), " (",
            m.name_zh(), ")",
            m.licence_types().empty()
                ? ": that material is uploaded only"
                : absl::StrCat(": it takes ", absl::StrJoin(m.licence_types(), ", ")))),
        kReasonTypeNotAccepted);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "use.material_id ", Shown(use.material_id()), " is not a material of province ",
      use.handling_province(), "'s guide of item ", use.item_code()));
}

absl::StatusOr<LicenceServiceImpl::PreviewAsk> LicenceServiceImpl::PreviewAsked(
    const grpc::ServerContextBase& ctx, const v1::PreviewLicenceRequest& req) {
  absl::StatusOr<Caller> caller = authz_.Authorize(ctx, Method("PreviewLicence"));
  if (!caller.ok()) return caller.status();
  if (absl::Status s = ValidateProvinceCode("issuing_province", req.issuing_province()); !s.ok()) {
    return s;
  }
  std::string holder = req.holder_id();
  if (caller->is_citizen()) {
    // A citizen fetches only their own licences; asking for anyone else's
    // answers as a licence that does not exist.
    if (!holder.empty() && holder != caller->citizen_id) {
      return WithReason(
          absl::NotFoundError(absl::StrCat("province ", req.issuing_province(),
                                           " holds no such licence of this applicant")),
          kReasonLicenceNotFound);
    }
    holder = caller->citizen_id;
  } else if (holder.empty()) {
    return absl::InvalidArgumentError(
        "holder_id is required: the applicant's resident identity number or credit code");
  }
  PreviewAsk ask{req.issuing_province(),
                 LicenceFetch{req.type_code(), holder, req.use(), registry_->own_province(),
                              caller->actor()}};
  if (absl::Status s = ValidateLicenceFetch(ask.fetch, registry_->types()); !s.ok()) return s;
  if (absl::Status s = CheckUse(req.use(), req.type_code()); !s.ok()) return s;
  if (ask.issuing_province != registry_->own_province() && federation_ == nullptr) {
    return NoGateway(ask.issuing_province);
  }
  return ask;
}

v1::FetchLicencePreviewRequest LicenceServiceImpl::RelayedPreview(const PreviewAsk& ask) const {
  v1::FetchLicencePreviewRequest relayed;
  relayed.set_issuing_province(ask.issuing_province);
  relayed.set_type_code(ask.fetch.type_code);
  relayed.set_holder_id(ask.fetch.holder_id);
  *relayed.mutable_use() = ask.fetch.use;
  relayed.set_requester(ask.fetch.requester);
  return relayed;
}

absl::StatusOr<v1::PreviewLicenceResponse> LicenceServiceImpl::CheckedPreview(
    const PreviewAsk& ask, absl::StatusOr<v1::PreviewLicenceResponse> preview) {
  const std::string& holder = ask.fetch.holder_id;
  if (preview.ok() && (preview->preview().grant().issuing_province() != ask.issuing_province ||
                       preview->preview().grant().holder_id() != holder ||
                       preview->preview().content().holder_id() != holder)) {
    // Never pass on another holder's data, whatever the other node said.
    log_->Warn("licence.preview_refused", {{"issuing_province", ask.issuing_province}});
    return absl::UnavailableError(absl::StrCat("issuing province ", ask.issuing_province,
                                               " answered a preview of another holder"));
  }
  return preview;
}

grpc::ServerUnaryReactor* LicenceServiceImpl::PreviewLicence(grpc::CallbackServerContext* ctx,
                                                             const v1::PreviewLicenceRequest* req,
                                                             v1::PreviewLicenceResponse* resp) {
  absl::StatusOr<PreviewAsk> ask = PreviewAsked(*ctx, *req);
  if (!ask.ok()) return Refuse(ctx, ask.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  auto finish = FinishWith(reactor, resp);
  if (ask->issuing_province == registry_->own_province()) {
    registry_->PreviewAsync(ask->fetch, std::move(finish));
    return reactor;
  }
  const v1::FetchLicencePreviewRequest relayed = RelayedPreview(*ask);
  federation_->FetchLicencePreviewAsync(
      relayed, [this, ask = *std::move(ask), finish = std::move(finish)](
                   absl::StatusOr<v1::PreviewLicenceResponse> preview) {
        finish(CheckedPreview(ask, std::move(preview)));
      });
  return reactor;
}

grpc::Status LicenceServiceImpl::PreviewLicenceNow(const grpc::ServerContextBase& ctx,
                                                   const v1::PreviewLicenceRequest& req,
                                                   v1::PreviewLicenceResponse* resp) {
  absl::StatusOr<PreviewAsk> ask = PreviewAsked(ctx, req);
  if (!ask.ok()) return ToGrpcStatus(ask.status());
  if (ask->issuing_province == registry_->own_province()) {
    return Answered(registry_->Preview(ask->fetch), resp);
  }
  return Answered(CheckedPreview(*ask, federation_->FetchLicencePreview(RelayedPreview(*ask))),
                  resp);
}

absl::StatusOr<std::string> LicenceServiceImpl::ConfirmAsker(const grpc::ServerContextBase& ctx,
                                                             const v1::ConfirmLicenceRequest& req) {
  absl::StatusOr<Caller> caller = authz_.Authorize(ctx, Method("ConfirmLicence"));
  if (!caller.ok()) return caller.status();
  const v1::LicenceGrant& grant = req.grant();
  if (!req.has_grant() || grant.grant_id().empty()) {
    return absl::InvalidArgumentError(
        "grant is required: the grant of the preview (PreviewLicence), unchanged");
  }
  if (absl::Status s = ValidateProvinceCode("grant.issuing_province", grant.issuing_province());
      !s.ok()) {
    return s;
  }
  if (caller->is_citizen() && grant.holder_id() != caller->citizen_id) {
    return WithReason(absl::NotFoundError("no such licence of this applicant"),
                      kReasonLicenceNotFound);
  }
  if (grant.issuing_province() != registry_->own_province() && federation_ == nullptr) {
    return NoGateway(grant.issuing_province());
  }
  return caller->actor();
}

absl::StatusOr<v1::ConfirmLicenceResponse> LicenceServiceImpl::CheckedRelease(
    const v1::LicenceGrant& grant, absl::StatusOr<v1::ConfirmLicenceResponse> decided) {
  if (!decided.ok() || !decided->has_licence()) return decided;
  // What another node released is checked here before anyone relies on it.
  const v1::Licence& licence = decided->licence();
  absl::Status verified = signing::VerifyLicence(*verifier_, licence, clock_->Now(),
                                                 signing::VerifyMode::kHistorical);
  if (verified.ok() && (licence.content().licence_id() != grant.licence_id() ||
                        licence.content().holder_id() != grant.holder_id())) {
    verified = absl::PermissionDeniedError("the released licence is not the one granted");
  }
  if (!verified.ok()) {
    log_->Warn("licence.release_refused",
               {{"grant", grant.grant_id()}, {"reason", verified.ToString()}});
    return absl::UnavailableError(absl::StrCat("issuing province ", grant.issuing_province(),
                                               " released a licence that does not verify: ",
                                               verified.message()));
  }
  return decided;
}

namespace {

v1::ReleaseLicenceRequest RelayedRelease(const v1::ConfirmLicenceRequest& req,
                                         const std::string& asker) {
  v1::ReleaseLicenceRequest release;
  release.set_issuing_province(req.grant().issuing_province());
  *release.mutable_grant() = req.grant();
  release.set_confirm(req.confirm());
  release.set_requester(asker);
  return release;
}

}  // namespace

grpc::ServerUnaryReactor* LicenceServiceImpl::ConfirmLicence(grpc::CallbackServerContext* ctx,
                                                             const v1::ConfirmLicenceRequest* req,
                                                             v1::ConfirmLicenceResponse* resp) {
  absl::StatusOr<std::string> asker = ConfirmAsker(*ctx, *req);
  if (!asker.ok()) return Refuse(ctx, asker.status());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const v1::LicenceGrant& grant = req->grant();
  auto finish = [this, grant, done = FinishWith(reactor, resp)](
                    absl::StatusOr<v1::ConfirmLicenceResponse> decided) {
    done(CheckedRelease(grant, std::move(decided)));
  };
  if (grant.issuing_province() == registry_->own_province()) {
    registry_->ReleaseAsync(grant, req->confirm(), registry_->own_province(), *asker,
                            std::move(finish));
    return reactor;
  }
  federation_->ReleaseLicenceAsync(RelayedRelease(*req, *asker), std::move(finish));
  return reactor;
}

grpc::Status LicenceServiceImpl::ConfirmLicenceNow(const grpc::ServerContextBase& ctx,
                                                   const v1::ConfirmLicenceRequest& req,
                                                   v1::ConfirmLicenceResponse* resp) {
  absl::StatusOr<std::string> asker = ConfirmAsker(ctx, req);
  if (!asker.ok()) return ToGrpcStatus(asker.status());
  const v1::LicenceGrant& grant = req.grant();
  absl::StatusOr<v1::ConfirmLicenceResponse> decided =
      grant.issuing_province() == registry_->own_province()
          ? registry_->Release(grant, req.confirm(), registry_->own_province(), *asker)
          : federation_->ReleaseLicence(RelayedRelease(req, *asker));
  return Answered(CheckedRelease(grant, std::move(decided)), resp);
}

}  // namespace tongban::node
