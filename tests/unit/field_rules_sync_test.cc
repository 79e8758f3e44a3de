// The (tongban.v1.field_rules) of the public API's request fields, which the
// OpenAPI document publishes, against the validators the gateway and the
// nodes actually run on those fields: every rule must hold of the code
// (a required field refused when empty, a pattern's example accepted, values
// breaking the pattern refused, lengths, item counts and bounds enforced at
// the boundary), and every rule-carrying field must have its validator here,
// so a rule cannot be added, or a validator changed, without this test
// noticing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "application_id.h"
#include "citizen_api.h"
#include "licence_types.h"
#include "service/licence_registry.h"
#include "google/protobuf/descriptor.h"
#include "input_validation.h"
#include "resident_id.h"
#include "service/application_request_validation.h"
#include "tongban/v1/api_options.pb.h"
#include "tongban/v1/citizen.pb.h"

namespace tongban {
namespace {

namespace pb = google::protobuf;

// How the code checks one field: through the value of a string or number,
// the number of elements of a repeated field, or the presence of a message.
struct Validator {
  std::function<absl::Status(const std::string&)> text;
  std::function<absl::Status(int64_t)> number;
  std::function<absl::Status(int)> count;
  std::function<absl::Status(bool)> present;
};

// Valid requests and messages the validators below start from.
v1::SuppliedMaterial Material(int n) {
  v1::SuppliedMaterial m;
  m.set_material_id(absl::StrCat("M", n / 10, n % 10));
  m.set_content_sha256(std::string(64, 'a'));
  m.set_size_bytes(1000);
  m.set_media_type("application/pdf");
  return m;
}
v1::Applicant Applicant() {
  v1::Applicant a;
  a.set_id_number("431226199001011235");
  a.set_name("张三");
  return a;
}
v1::SubmitApplicationRequest Submit() {
  v1::SubmitApplicationRequest r;
  r.set_idempotency_key("app-0001");
  r.set_item_code("GG00020600");
  r.set_handling_province("310000");
  *r.mutable_applicant() = Applicant();
  *r.add_materials() = Material(1);
  return r;
}
v1::PrecheckApplicationRequest Precheck() {
  v1::PrecheckApplicationRequest r;
  r.set_item_code("GG00020600");
  r.set_handling_province("310000");
  r.add_material_ids("M01");
  return r;
}
google::protobuf::RepeatedPtrField<v1::SuppliedMaterial> Materials(int count) {
  google::protobuf::RepeatedPtrField<v1::SuppliedMaterial> ms;
  for (int i = 1; i <= count; ++i) *ms.Add() = Material(i);
  return ms;
}

Validator Text(std::function<absl::Status(const std::string&)> f) {
  Validator v;
  v.text = std::move(f);
  return v;
}
Validator Number(std::function<absl::Status(int64_t)> f) {
  Validator v;
  v.number = std::move(f);
  return v;
}
Validator Count(std::function<absl::Status(int)> f, Validator v = Validator()) {
  v.count = std::move(f);
  return v;
}
Validator Present(std::function<absl::Status(bool)> f) {
  Validator v;
  v.present = std::move(f);
  return v;
}
Validator Province(const char* field) {
  return Text([field](const std::string& v) { return ValidateProvinceCode(field, v); });
}
Validator ItemCode() {
  return Text([](const std::string& v) { return ValidateItemCode("item_code", v); });
}
Validator ApplicationId() {
  return Text(
      [](const std::string& v) { return ParseApplicationId(v, "application_id").status(); });
}
Validator PageSize() {
  Validator v;
  v.number = [](int64_t n) {
    int out = 0;
    return ValidatePageSize("page_size", static_cast<int>(n), &out);
  };
  return v;
}
Validator Note(const char* field) {
  return Text([field](const std::string& v) {
    return ValidateText(field, v, node::kMaxNoteChars, /*required=*/false);
  });
}

// Field full name → the validator the code runs on it (the edge's
// CitizenApi for accepting_province, the nodes for the rest).
const std::map<std::string, Validator>& Validators() {
  static const auto* validators = new std::map<std::string, Validator>{
      // SearchGuides: the nodes' CatalogService (catalog_service.cc).
      {"tongban.v1.SearchGuidesRequest.query",
       Text([](const std::string& v) { return ValidateText("query", v, 64, /*required=*/true); })},
      {"tongban.v1.SearchGuidesRequest.provinces", Province("provinces")},
      {"tongban.v1.SearchGuidesRequest.page_size", PageSize()},
      {"tongban.v1.FindWhereToFileRequest.item_code", ItemCode()},
      {"tongban.v1.FindWhereToFileRequest.accepting_province", Province("accepting_province")},
      {"tongban.v1.GetItemGuideRequest.province_code", Province("province_code")},
      {"tongban.v1.GetItemGuideRequest.item_code", ItemCode()},
      // FindLicenceEvidence: the gateway (QueryServiceImpl::LicenceEvidence).
      {"tongban.v1.FindMyLicenceEvidenceRequest.province_code", Province("province_code")},
      {"tongban.v1.FindMyLicenceEvidenceRequest.item_code", ItemCode()},
      // 免证办: the edge (CitizenApi) checks what it routes by and the
      // presence of use / grant; the issuing node the rest (type code).
      {"tongban.v1.PreviewMyLicenceRequest.issuing_province", Text([](const std::string& v) {
         v1::PreviewMyLicenceRequest r;
         r.set_issuing_province(v);
         r.mutable_use();
         return edge::ValidatePreviewMyLicence(r);
       })},
      {"tongban.v1.PreviewMyLicenceRequest.type_code", Text([](const std::string& v) {
         node::LicenceFetch f{v, "430102199001011238", v1::LicenceUse(), "510000",
                              "citizen:430102199001011238"};
         f.use.set_item_code("QR00070104");
         f.use.set_handling_province("310000");
         f.use.set_material_id("M03");
         return node::ValidateLicenceFetch(f, LicenceTypeList::National());
       })},
      {"tongban.v1.PreviewMyLicenceRequest.use", Present([](bool present) {
         v1::PreviewMyLicenceRequest r;
         r.set_issuing_province("510000");
         if (present) r.mutable_use();
         return edge::ValidatePreviewMyLicence(r);
       })},
      {"tongban.v1.ConfirmMyLicenceRequest.grant", Present([](bool present) {
         v1::ConfirmMyLicenceRequest r;
         if (present) r.mutable_grant()->set_issuing_province("510000");
         return edge::ValidateConfirmMyLicence(r);
       })},
      {"tongban.v1.ListMyLicenceDisclosuresRequest.issuing_province",
       Text([](const std::string& v) {
         v1::ListMyLicenceDisclosuresRequest r;
         r.set_issuing_province(v);
         return edge::ValidateListMyLicenceDisclosures(r);
       })},
      {"tongban.v1.ListMyLicenceDisclosuresRequest.page_size", Number([](int64_t n) {
         v1::ListMyLicenceDisclosuresRequest r;
         r.set_issuing_province("510000");
         r.set_page_size(static_cast<int32_t>(n));
         return edge::ValidateListMyLicenceDisclosures(r);
       })},
      {"tongban.v1.CheckMaterialsRequest.accepting_province", Province("accepting_province")},
      {"tongban.v1.CheckMaterialsRequest.handling_province", Text([](const std::string& v) {
         auto r = Precheck();
         r.set_handling_province(v);
         return node::ValidatePrecheck(r);
       })},
      {"tongban.v1.CheckMaterialsRequest.item_code", Text([](const std::string& v) {
         auto r = Precheck();
         r.set_item_code(v);
         return node::ValidatePrecheck(r);
       })},
      {"tongban.v1.CheckMaterialsRequest.material_ids", Count(
                                                            [](int n) {
                                                              auto r = Precheck();
                                                              r.clear_material_ids();
                                                              for (int i = 1; i <= n; ++i) {
                                                                r.add_material_ids(absl::StrCat(
                                                                    "M", i / 10, i % 10));
                                                              }
                                                              return node::ValidatePrecheck(r);
                                                            },
                                                            Text([](const std::string& v) {
                                                              auto r = Precheck();
                                                              r.set_material_ids(0, v);
                                                              return node::ValidatePrecheck(r);
                                                            }))},
      {"tongban.v1.SubmitMyApplicationRequest.idempotency_key", Text([](const std::string& v) {
         auto r = Submit();
         r.set_idempotency_key(v);
         return node::ValidateSubmit(r);
       })},
      {"tongban.v1.SubmitMyApplicationRequest.accepting_province", Province("accepting_province")},
      {"tongban.v1.SubmitMyApplicationRequest.handling_province", Text([](const std::string& v) {
         auto r = Submit();
         r.set_handling_province(v);
         return node::ValidateSubmit(r);
       })},
      {"tongban.v1.SubmitMyApplicationRequest.item_code", Text([](const std::string& v) {
         auto r = Submit();
         r.set_item_code(v);
         return node::ValidateSubmit(r);
       })},
      {"tongban.v1.SubmitMyApplicationRequest.applicant", Present([](bool present) {
         auto r = Submit();
         if (!present) r.clear_applicant();
         return node::ValidateSubmit(r);
       })},
      {"tongban.v1.SubmitMyApplicationRequest.materials", Count([](int n) {
         auto r = Submit();
         *r.mutable_materials() = Materials(n);
         return node::ValidateSubmit(r);
       })},
      {"tongban.v1.SubmitMyApplicationRequest.joint_roles", Count([](int n) {
         auto r = Submit();
         for (int i = 0; i < n; ++i) {
           v1::JointRoleAssignment* a = r.add_joint_roles();
           a->set_role_id("role_" + std::to_string(i));
           a->set_province_code("110000");
         }
         return node::ValidateSubmit(r);
       })},
      {"tongban.v1.SubmitMyApplicationRequest.licence_materials",
       Count([](int n) { return edge::ValidateLicenceMaterialCount(n); })},
      {"tongban.v1.SubmitMyApplicationRequest.note", Text([](const std::string& v) {
         auto r = Submit();
         r.set_note(v);
         return node::ValidateSubmit(r);
       })},
      {"tongban.v1.ListMyApplicationsRequest.page_size", PageSize()},
      {"tongban.v1.GetMyApplicationRequest.application_id", ApplicationId()},
      {"tongban.v1.SupplementMyMaterialsRequest.application_id", ApplicationId()},
      {"tongban.v1.SupplementMyMaterialsRequest.materials", Count([](int n) {
         return node::ValidateSuppliedMaterials("materials", Materials(n), /*required=*/true);
       })},
      {"tongban.v1.SupplementMyMaterialsRequest.note", Note("note")},
      {"tongban.v1.WithdrawMyApplicationRequest.application_id", ApplicationId()},
      {"tongban.v1.WithdrawMyApplicationRequest.reason", Note("reason")},
      {"tongban.v1.RateMyApplicationRequest.application_id", ApplicationId()},
      // WatchMyApplication: the edge (CitizenApi::StartWatch) and the node check both.
      {"tongban.v1.WatchMyApplicationRequest.application_id", ApplicationId()},
      {"tongban.v1.WatchMyApplicationRequest.after_sequence",
       Number([](int64_t n) { return ValidateAfterSequence("after_sequence", n); })},
      {"tongban.v1.RateMyApplicationRequest.comment", Note("comment")},
      // Messages the requests carry.
      {"tongban.v1.Applicant.id_number", Text([](const std::string& v) {
         auto a = Applicant();
         a.set_id_number(v);
         return node::ValidateApplicant("applicant", a);
       })},
      {"tongban.v1.Applicant.name", Text([](const std::string& v) {
         auto a = Applicant();
         a.set_name(v);
         return node::ValidateApplicant("applicant", a);
       })},
      {"tongban.v1.Applicant.phone", Text([](const std::string& v) {
         auto a = Applicant();
         a.set_phone(v);
         return node::ValidateApplicant("applicant", a);
       })},
      {"tongban.v1.SuppliedMaterial.material_id", Text([](const std::string& v) {
         auto ms = Materials(1);
         ms[0].set_material_id(v);
         return node::ValidateSuppliedMaterials("materials", ms, true);
       })},
      {"tongban.v1.SuppliedMaterial.content_sha256", Text([](const std::string& v) {
         auto ms = Materials(1);
         ms[0].set_content_sha256(v);
         return node::ValidateSuppliedMaterials("materials", ms, true);
       })},
      {"tongban.v1.SuppliedMaterial.size_bytes", Number([](int64_t n) {
         auto ms = Materials(1);
         ms[0].set_size_bytes(n);
         return node::ValidateSuppliedMaterials("materials", ms, true);
       })},
      {"tongban.v1.SuppliedMaterial.media_type", Text([](const std::string& v) {
         auto ms = Materials(1);
         ms[0].set_media_type(v);
         return node::ValidateSuppliedMaterials("materials", ms, true);
       })},
  };
  return *validators;
}

// Every request message of CitizenService and the messages they carry.
void Collect(const pb::Descriptor& message, std::set<const pb::Descriptor*>* out) {
  if (!out->insert(&message).second) return;
  for (int i = 0; i < message.field_count(); ++i) {
    if (message.field(i)->message_type() != nullptr)
      Collect(*message.field(i)->message_type(), out);
  }
}
std::vector<const pb::FieldDescriptor*> RuledFields() {
  const pb::ServiceDescriptor* service =
      v1::SearchGuidesRequest::descriptor()->file()->FindServiceByName("CitizenService");
  std::set<const pb::Descriptor*> messages;
  for (int m = 0; m < service->method_count(); ++m)
    Collect(*service->method(m)->input_type(), &messages);
  std::vector<const pb::FieldDescriptor*> fields;
  for (const pb::Descriptor* message : messages) {
    for (int i = 0; i < message->field_count(); ++i) {
      if (message->field(i)->options().HasExtension(v1::field_rules))
        fields.push_back(message->field(i));
    }
  }
  return fields;
}

// Strings near `example`: each character dropped, doubled and replaced by
// characters of several classes; one character added at either end.
std::vector<std::string> Mutations(const std::string& example) {
  const std::string alphabet = "0aAzZX9M-_ T.";
  std::vector<std::string> out = {"", example + "0", "0" + example, example + "X", example + "a"};
  for (size_t i = 0; i < example.size(); ++i) {
    out.push_back(example.substr(0, i) + example.substr(i + 1));
    out.push_back(example.substr(0, i + 1) + example.substr(i));
    for (char c : alphabet) {
      std::string s = example;
      s[i] = c;
      out.push_back(s);
    }
  }
  return out;
}

TEST(FieldRulesSyncTest, EveryRuledFieldHasItsValidatorAndNoOther) {
  std::set<std::string> ruled;
  for (const pb::FieldDescriptor* f : RuledFields()) ruled.insert(f->full_name());
  std::set<std::string> known;
  for (const auto& [name, unused] : Validators()) known.insert(name);
  EXPECT_EQ(ruled, known);
}

TEST(FieldRulesSyncTest, RulesHoldOfTheValidators) {
  for (const pb::FieldDescriptor* field : RuledFields()) {
    SCOPED_TRACE(field->full_name());
    auto found = Validators().find(field->full_name());
    if (found == Validators().end()) continue;  // the test above fails
    const Validator& v = found->second;
    const v1::FieldRules& rules = field->options().GetExtension(v1::field_rules);

    if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING) {
      ASSERT_TRUE(v.text) << "a string field needs a text validator";
      if (rules.required()) {
        EXPECT_FALSE(v.text("").ok()) << "required, yet \"\" passes";
      }
      if (rules.has_pattern()) {
        ASSERT_TRUE(rules.has_example()) << "a pattern needs an example";
        const std::regex pattern(rules.pattern(), std::regex::ECMAScript);
        EXPECT_TRUE(std::regex_match(rules.example(), pattern)) << rules.example();
        EXPECT_TRUE(v.text(rules.example()).ok()) << v.text(rules.example());
        for (const std::string& s : Mutations(rules.example())) {
          if (s.empty() && !rules.required()) continue;  // absent, not a value
          const bool matches = std::regex_match(s, pattern);
          const absl::Status status = v.text(s);
          if (status.ok()) {
            EXPECT_TRUE(matches) << "accepted but breaks the pattern: " << s;
          }
          if (rules.pattern_is_complete() && matches) {
            EXPECT_TRUE(status.ok())
                << "matches the complete pattern but refused: " << s << " " << status;
          }
        }
      }
      // One character (code point) of the example, or a Chinese one.
      std::string fill = "字";
      if (rules.has_example()) {
        const std::string& e = rules.example();
        size_t n = 1;
        while (n < e.size() && (static_cast<unsigned char>(e[n]) & 0xC0) == 0x80) ++n;
        fill = e.substr(0, n);
      }
      auto repeat = [&](uint32_t n) {
        std::string s;
        for (uint32_t i = 0; i < n; ++i) s += fill;
        return s;
      };
      if (rules.has_max_length() && !rules.has_pattern()) {
        EXPECT_TRUE(v.text(repeat(rules.max_length())).ok()) << rules.max_length() << " chars";
        EXPECT_FALSE(v.text(repeat(rules.max_length() + 1)).ok()) << rules.max_length() + 1;
      }
      if (rules.has_min_length() && !rules.has_pattern() && rules.min_length() > 0) {
        EXPECT_TRUE(v.text(repeat(rules.min_length())).ok());
        EXPECT_FALSE(v.text(repeat(rules.min_length() - 1)).ok());
      }
      if (rules.has_pattern() && (rules.has_min_length() || rules.has_max_length())) {
        // The pattern and the lengths must agree with each other too.
        const std::regex pattern(rules.pattern(), std::regex::ECMAScript);
        if (rules.has_max_length()) {
          EXPECT_FALSE(std::regex_match(repeat(rules.max_length() + 1), pattern));
          EXPECT_FALSE(v.text(repeat(rules.max_length() + 1)).ok());
        }
        if (rules.has_min_length() && rules.min_length() > 0) {
          EXPECT_FALSE(v.text(repeat(rules.min_length() - 1)).ok());
        }
      }
    }
    if (rules.has_minimum() || rules.has_maximum()) {
      ASSERT_TRUE(v.number) << "bounds need a number validator";
      if (rules.has_minimum()) {
        EXPECT_TRUE(v.number(rules.minimum()).ok()) << rules.minimum();
        EXPECT_FALSE(v.number(rules.minimum() - 1).ok()) << rules.minimum() - 1;
      }
      if (rules.has_maximum()) {
        EXPECT_TRUE(v.number(rules.maximum()).ok()) << rules.maximum();
        EXPECT_FALSE(v.number(rules.maximum() + 1).ok()) << rules.maximum() + 1;
      }
    }
    if (rules.has_min_items() || rules.has_max_items()) {
      ASSERT_TRUE(v.count) << "item counts need a count validator";
      if (rules.has_max_items()) {
        EXPECT_TRUE(v.count(rules.max_items()).ok()) << rules.max_items();
        EXPECT_FALSE(v.count(rules.max_items() + 1).ok()) << rules.max_items() + 1;
      }
      if (rules.has_min_items()) {
        EXPECT_TRUE(v.count(rules.min_items()).ok()) << rules.min_items();
        if (rules.min_items() > 0) {
          EXPECT_FALSE(v.count(rules.min_items() - 1).ok());
        }
      }
    }
    if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE && !field->is_repeated() &&
        rules.required()) {
      ASSERT_TRUE(v.present) << "a required message needs a presence validator";
      EXPECT_TRUE(v.present(true).ok());
      EXPECT_FALSE(v.present(false).ok());
    }
  }
}

// The province pattern is complete: exactly the 31 codes the registry knows.
TEST(FieldRulesSyncTest, ProvincePatternIsExactlyTheRegistry) {
  const v1::FieldRules& rules = v1::GetItemGuideRequest::descriptor()
                                    ->FindFieldByName("province_code")
                                    ->options()
                                    .GetExtension(v1::field_rules);
  const std::regex pattern(rules.pattern(), std::regex::ECMAScript);
  int matched = 0;
  for (int prefix = 0; prefix < 100; ++prefix) {
    const std::string code = absl::StrCat(prefix / 10, prefix % 10, "0000");
    const bool matches = std::regex_match(code, pattern);
    matched += matches;
    EXPECT_EQ(matches, ValidateProvinceCode("p", code).ok()) << code;
  }
  EXPECT_EQ(matched, 31);
}

}  // namespace
}  // namespace tongban
