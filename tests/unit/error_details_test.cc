#include "error_details.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "google/rpc/code.pb.h"
#include "google/rpc/error_details.pb.h"
#include "grpc_status.h"
#include "http_conventions.h"

namespace tongban::edge {
namespace {

using grpc::StatusCode;

// The BadRequest of a rich status; "" fields when there is none.
google::rpc::BadRequest BadRequestOf(const google::rpc::Status& rich) {
  google::rpc::BadRequest bad;
  for (const auto& any : rich.details()) {
    if (any.Is<google::rpc::BadRequest>()) {
      EXPECT_TRUE(any.UnpackTo(&bad));
    }
  }
  return bad;
}

TEST(ErrorDetailsTest, NamesTheFieldAMessageStartsWith) {
  struct Case {
    StatusCode code;
    std::string message;
    std::string proto_field, json_field;  // "" = no violation
  };
  const Case cases[] = {
      {StatusCode::INVALID_ARGUMENT, "materials[0].content_sha256 \"x\" must be a SHA-256",
       "materials[0].content_sha256", "materials[0].contentSha256"},
      {StatusCode::INVALID_ARGUMENT, "item_code is required: an item code", "item_code",
       "itemCode"},
      {StatusCode::INVALID_ARGUMENT, "applicant is required", "applicant", "applicant"},
      {StatusCode::OUT_OF_RANGE, "page_size is 500: must be 0 (default 50) to 200", "page_size",
       "pageSize"},
      {StatusCode::FAILED_PRECONDITION, "applicant.id_number must be the signed-in citizen's",
       "applicant.id_number", "applicant.idNumber"},
      // The REST binding's messages name the parameter as the client spelled it.
      {StatusCode::INVALID_ARGUMENT, "query parameter pageSize: \"x\" is not an integer",
       "pageSize", "pageSize"},
      {StatusCode::INVALID_ARGUMENT, "query parameter page_size: \"x\" is not an integer",
       "page_size", "pageSize"},
      // English, not a field.
      {StatusCode::INVALID_ARGUMENT, "refused: key materials missing", "", ""},
      {StatusCode::INVALID_ARGUMENT, "token expired", "", ""},
      {StatusCode::INVALID_ARGUMENT, "", "", ""},
      // Not about the request's content, whatever the message says.
      {StatusCode::NOT_FOUND, "application_id TB-1: no such application of yours", "", ""},
      {StatusCode::PERMISSION_DENIED, "item_code is not allowed here", "", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    const grpc::Status status(c.code, c.message);
    EXPECT_EQ(FieldAtFault(status, FieldPathStyle::kProtoNames), c.proto_field);
    EXPECT_EQ(FieldAtFault(status, FieldPathStyle::kJsonNames), c.json_field);
    const google::rpc::Status rich = RichStatus(status, FieldPathStyle::kProtoNames);
    EXPECT_EQ(rich.code(), static_cast<int>(c.code));
    EXPECT_EQ(rich.message(), c.message);
    const google::rpc::BadRequest bad = BadRequestOf(rich);
    if (c.proto_field.empty()) {
      EXPECT_EQ(rich.details_size(), 0);
    } else {
      ASSERT_EQ(rich.details_size(), 1);
      ASSERT_EQ(bad.field_violations_size(), 1);
      EXPECT_EQ(bad.field_violations(0).field(), c.proto_field);
      EXPECT_EQ(bad.field_violations(0).description(), c.message);
      EXPECT_EQ(
          BadRequestOf(RichStatus(status, FieldPathStyle::kJsonNames)).field_violations(0).field(),
          c.json_field);
    }
  }
}

TEST(ErrorDetailsTest, CodesAreGoogleRpcCodes) {
  // grpc::StatusCode and google.rpc.Code share their numbers.
  EXPECT_EQ(
      RichStatus(grpc::Status(StatusCode::NOT_FOUND, "x"), FieldPathStyle::kProtoNames).code(),
      google::rpc::NOT_FOUND);
  EXPECT_EQ(RichStatus(grpc::Status(StatusCode::UNAUTHENTICATED, "x"), FieldPathStyle::kProtoNames)
                .code(),
            google::rpc::UNAUTHENTICATED);
  EXPECT_EQ(RichStatus(grpc::Status::OK, FieldPathStyle::kProtoNames).code(), google::rpc::OK);
}

TEST(ErrorDetailsTest, WithErrorDetailsSerializesTheRichStatus) {
  const grpc::Status status(StatusCode::INVALID_ARGUMENT, "note is too long: 501 characters");
  const grpc::Status with = WithErrorDetails(status);
  EXPECT_EQ(with.error_code(), status.error_code());
  EXPECT_EQ(with.error_message(), status.error_message());
  google::rpc::Status rich;
  ASSERT_TRUE(rich.ParseFromString(with.error_details()));
  EXPECT_EQ(rich.code(), google::rpc::INVALID_ARGUMENT);
  EXPECT_EQ(BadRequestOf(rich).field_violations(0).field(), "note");

  // Every error gets a Status, even without a field.
  google::rpc::Status plain;
  ASSERT_TRUE(plain.ParseFromString(
      WithErrorDetails(grpc::Status(StatusCode::UNAVAILABLE, "node down")).error_details()));
  EXPECT_EQ(plain.code(), google::rpc::UNAVAILABLE);
  EXPECT_EQ(plain.message(), "node down");
  EXPECT_EQ(plain.details_size(), 0);

  // OK stays OK; existing details are kept.
  EXPECT_TRUE(WithErrorDetails(grpc::Status::OK).error_details().empty());
  const grpc::Status own(StatusCode::ABORTED, "x", "already");
  EXPECT_EQ(WithErrorDetails(own).error_details(), "already");
}

TEST(ErrorDetailsTest, MessagesBecomeValidUtf8) {
  const grpc::Status status(StatusCode::INVALID_ARGUMENT, "note \"\xff\xfe\" is not valid UTF-8");
  const google::rpc::Status rich = RichStatus(status, FieldPathStyle::kProtoNames);
  EXPECT_EQ(rich.message(), "note \"\xEF\xBF\xBD\xEF\xBF\xBD\" is not valid UTF-8");
  EXPECT_EQ(BadRequestOf(rich).field_violations(0).description(), rich.message());
  EXPECT_EQ(ValidUtf8("张三"), "张三");
  EXPECT_EQ(ValidUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
}

}  // namespace
}  // namespace tongban::edge

namespace tongban::edge {
namespace {

// A node's typed refusal (common/grpc_status.h WithReason + ToGrpcStatus).
grpc::Status NodeRefusal(absl::Status s, absl::string_view reason) {
  return ToGrpcStatus(WithReason(std::move(s), reason));
}

google::rpc::ErrorInfo ErrorInfoOf(const google::rpc::Status& rich) {
  google::rpc::ErrorInfo info;
  int found = 0;
  for (const auto& any : rich.details()) {
    if (any.Is<google::rpc::ErrorInfo>()) {
      EXPECT_TRUE(any.UnpackTo(&info));
      ++found;
    }
  }
  EXPECT_EQ(found, 1);
  return info;
}

TEST(ErrorDetailsTest, RichStatusKeepsTheNodesErrorInfo) {
  const grpc::Status node = NodeRefusal(
      absl::NotFoundError("province 510000 holds no such licence of this applicant"),
      "LICENCE_NOT_FOUND");
  for (FieldPathStyle style : {FieldPathStyle::kProtoNames, FieldPathStyle::kJsonNames}) {
    const google::rpc::Status rich = RichStatus(node, style);
    EXPECT_EQ(rich.code(), google::rpc::NOT_FOUND);
    EXPECT_EQ(rich.message(), node.error_message());
    EXPECT_EQ(rich.details_size(), 1);
    const google::rpc::ErrorInfo info = ErrorInfoOf(rich);
    EXPECT_EQ(info.reason(), "LICENCE_NOT_FOUND");
    EXPECT_EQ(info.domain(), "tongban.v1");
  }
}

TEST(ErrorDetailsTest, RichStatusAddsABadRequestNextToTheErrorInfo) {
  const grpc::Status node = NodeRefusal(
      absl::InvalidArgumentError("licence_materials[0].licence is not signed by its issuer"),
      "LICENCE_NOT_VERIFIED");
  const google::rpc::Status rich = RichStatus(node, FieldPathStyle::kJsonNames);
  EXPECT_EQ(rich.details_size(), 2);
  EXPECT_EQ(ErrorInfoOf(rich).reason(), "LICENCE_NOT_VERIFIED");
  ASSERT_EQ(BadRequestOf(rich).field_violations_size(), 1);
  EXPECT_EQ(BadRequestOf(rich).field_violations(0).field(), "licenceMaterials[0].licence");

  // The public gRPC face: the node's ErrorInfo stays, the BadRequest is added.
  const grpc::Status with = WithErrorDetails(node);
  google::rpc::Status sent;
  ASSERT_TRUE(sent.ParseFromString(with.error_details()));
  EXPECT_EQ(ErrorInfoOf(sent).reason(), "LICENCE_NOT_VERIFIED");
  EXPECT_EQ(BadRequestOf(sent).field_violations(0).field(), "licence_materials[0].licence");
  // Once only: a second pass adds nothing.
  google::rpc::Status again;
  ASSERT_TRUE(again.ParseFromString(WithErrorDetails(with).error_details()));
  EXPECT_EQ(again.details_size(), 2);
}

TEST(ErrorDetailsTest, RestErrorBodyCarriesTheErrorInfo) {
  const v1::ErrorBody body = MakeErrorBody(NodeRefusal(
      absl::FailedPreconditionError("licence 510000-MZ01-X was revoked: 登记错误"),
      "LICENCE_REVOKED"));
  EXPECT_EQ(body.code(), "FAILED_PRECONDITION");
  ASSERT_TRUE(body.has_error_info());
  EXPECT_EQ(body.error_info().reason(), "LICENCE_REVOKED");
  EXPECT_EQ(body.error_info().domain(), "tongban.v1");
  EXPECT_EQ(body.details_size(), 0);
  // Without a reason, no error_info.
  EXPECT_FALSE(MakeErrorBody(grpc::Status(StatusCode::NOT_FOUND, "x")).has_error_info());
  EXPECT_THAT(ErrorBodyJson(NodeRefusal(absl::NotFoundError("none"), "LICENCE_NOT_FOUND")),
              ::testing::HasSubstr(
                  R"("errorInfo":{"reason":"LICENCE_NOT_FOUND","domain":"tongban.v1"})"));
}

}  // namespace
}  // namespace tongban::edge
