#include "licence_service.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpc_status.h"
#include "input_validation.h"
#include "page_token.h"

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

LicenceServiceImpl::LicenceServiceImpl(LicenceRegistry* registry, FederationClient* federation,
                                       EventLog* log)
    : registry_(registry),
      federation_(federation),
      log_(log),
      authz_(Policy(registry->own_province())) {}

AuthzPolicy LicenceServiceImpl::Policy(const std::string& own_province) {
  std::map<std::string, Rule, std::less<>> rules;
  for (const char* name :
       {"IssueLicence", "RevokeLicence", "GetLicence", "ListLicences", "VerifyLicence"}) {
    rules.emplace(Method(name), Rule::kOwnOfficer);
  }
  rules.emplace(Method("ListLicenceTypes"), Rule::kOwnOfficerOrOperator);
  rules.emplace(Method("ListLicenceDisclosures"), Rule::kOwnOfficerOrOperator);
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

grpc::Status LicenceServiceImpl::VerifyLicence(grpc::ServerContext* ctx,
                                               const v1::VerifyLicenceRequest* req,
                                               v1::VerifyLicenceResponse* resp) {
  absl::StatusOr<Caller> caller = authz_.Authorize(*ctx, Method("VerifyLicence"));
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (absl::Status s = ValidateProvinceCode("issuing_province", req->issuing_province()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  LicenceQuestion question{req->type_code(),      req->number(),
                           req->holder_id(),      req->purpose(),
                           req->application_id(), registry_->own_province(),
                           caller->actor()};
  if (absl::Status s = ValidateLicenceQuestion(question, registry_->types()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (req->issuing_province() == registry_->own_province()) {
    absl::StatusOr<v1::VerifyLicenceResponse> answer = registry_->Check(question);
    if (!answer.ok()) return ToGrpcStatus(answer.status());
    *resp = *std::move(answer);
    return grpc::Status::OK;
  }
  if (federation_ == nullptr) {
    return ToGrpcStatus(absl::UnavailableError(absl::StrCat(
        "this node has no gateway_address, so it cannot ask issuing province ",
        req->issuing_province())));
  }
  v1::CheckLicenceRequest check;
  check.set_issuing_province(req->issuing_province());
  check.set_type_code(req->type_code());
  check.set_number(req->number());
  check.set_holder_id(req->holder_id());
  check.set_purpose(req->purpose());
  check.set_application_id(req->application_id());
  check.set_requester(caller->actor());
  absl::StatusOr<v1::VerifyLicenceResponse> answer = federation_->CheckLicence(check);
  if (!answer.ok()) {
    const absl::Status& s = answer.status();
    log_->Warn("licence.check_failed",
               {{"issuing_province", req->issuing_province()}, {"error", s.ToString()}});
    return ToGrpcStatus(absl::Status(
        s.code(), absl::StrCat("issuing province ", req->issuing_province(),
                               " could not answer the check: ", s.message())));
  }
  *resp = *std::move(answer);
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
  int page_size = 0;
  if (absl::Status s = ValidatePageSize("page_size", req->page_size(), &page_size); !s.ok()) {
    return ToGrpcStatus(s);
  }
  const std::string list = absl::StrCat("disclosures:", filter.holder_id, ":", filter.licence_id,
                                        ":", filter.requester_province);
  absl::StatusOr<std::string> cursor = DecodePageToken("page_token", list, req->page_token());
  if (!cursor.ok()) return ToGrpcStatus(cursor.status());
  int64_t before = 0;
  if (!cursor->empty() && (!absl::SimpleAtoi(*cursor, &before) || before <= 0)) {
    return ToGrpcStatus(absl::InvalidArgumentError("page_token is not a token of this listing"));
  }
  absl::StatusOr<std::vector<StoredDisclosure>> page =
      registry_->ListDisclosures(filter, before, page_size + 1);
  if (!page.ok()) return ToGrpcStatus(page.status());
  const bool more = static_cast<int>(page->size()) > page_size;
  if (more) page->pop_back();
  for (StoredDisclosure& row : *page) *resp->add_disclosures() = std::move(row.disclosure);
  if (more) resp->set_next_page_token(EncodePageToken(list, absl::StrCat(page->back().sequence)));
  return grpc::Status::OK;
}

}  // namespace tongban::node
