// Requests and fixtures shared by the node integration tests. Items and
// materials are the demo catalog's fixtures (node/demo_catalog/README.md).
#pragma once

#include <string>
#include <vector>

#include "resident_id.h"
#include "tongban/v1/application.pb.h"

namespace tongban::testing {

// 社会保障卡申领: Shanghai (310000) adds key material M09; M03 is 容缺-able.
inline constexpr char kSocialSecurityCard[] = "GG00020600";
// 残疾人证迁移, on the south-west five provinces' alliance list.
inline constexpr char kSouthwestItem[] = "GG92000100";
// Guangxi's 经营性互联网文化单位设立, open to other provinces.
inline constexpr char kGuangxiOpenItem[] = "XK45000101";
// Beijing's 北京市工作居住证办理, not open to other provinces.
inline constexpr char kBeijingClosedItem[] = "GG11000100";

inline v1::SuppliedMaterial Material(const std::string& id) {
  v1::SuppliedMaterial m;
  m.set_material_id(id);
  m.set_content_sha256(std::string(64, 'a'));
  m.set_size_bytes(123456);
  m.set_media_type("application/pdf");
  return m;
}

inline v1::Applicant Applicant(const std::string& first17 = "43122619900101123",
                               const std::string& name = "张三") {
  v1::Applicant a;
  a.set_id_number(MakeResidentId(first17));
  a.set_name(name);
  a.set_phone("13800138000");
  return a;
}

inline v1::SubmitApplicationRequest Submission(const std::string& key, const std::string& item,
                                               const std::string& handling,
                                               const std::vector<std::string>& materials) {
  v1::SubmitApplicationRequest r;
  r.set_idempotency_key(key);
  r.set_item_code(item);
  r.set_handling_province(handling);
  *r.mutable_applicant() = Applicant();
  for (const auto& id : materials) *r.add_materials() = Material(id);
  return r;
}

}  // namespace tongban::testing
