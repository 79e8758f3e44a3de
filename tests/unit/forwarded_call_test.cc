// gateway/forwarded_call: a serialized answer gains a field without being
// parsed (GetRoutedApplicationResponse.answered_by after the node's
// GetApplicationResponse), whatever slices gRPC handed it over in.
#include "forwarded_call.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tongban/v1/application.pb.h"
#include "tongban/v1/gateway.pb.h"

namespace tongban::gateway {
namespace {

v1::GetApplicationResponse NodeAnswer(int events) {
  v1::GetApplicationResponse r;
  v1::Application* app = r.mutable_application();
  app->set_application_id("TB-430000-310000-20261206-000042");
  app->set_item_name_zh("社会保障卡申领");
  for (int i = 0; i < events; ++i) {
    app->add_events()->set_event_id("310000-" + std::to_string(i + 1));
  }
  return r;
}

// `bytes` cut into slices of at most `piece` bytes, as a ByteBuffer.
grpc::ByteBuffer InSlices(const std::string& bytes, size_t piece) {
  std::vector<grpc::Slice> slices;
  for (size_t at = 0; at < bytes.size(); at += piece) {
    slices.emplace_back(bytes.substr(at, piece));
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

TEST(AppendStringField, TheAnswerReadsAsTheNodesMessagePlusTheField) {
  for (int events : {0, 1, 400}) {
    for (size_t piece : {size_t{1}, size_t{7}, size_t{1} << 20}) {
      const v1::GetApplicationResponse node = NodeAnswer(events);
      grpc::ByteBuffer answer =
          AppendStringField(InSlices(node.SerializeAsString(), piece), 2, "310000");
      absl::StatusOr<std::string> bytes = FlattenByteBuffer(answer);
      ASSERT_TRUE(bytes.ok());
      v1::GetRoutedApplicationResponse routed;
      ASSERT_TRUE(routed.ParseFromString(*bytes)) << events << " " << piece;
      EXPECT_EQ(routed.answered_by(), "310000");
      EXPECT_EQ(routed.application().SerializeAsString(),
                node.application().SerializeAsString());
    }
  }
}

TEST(AppendStringField, AnEmptyAnswerGetsJustTheField) {
  // A node answering an empty message (all defaults) sends no bytes.
  grpc::ByteBuffer answer = AppendStringField(grpc::ByteBuffer(), 2, "430000");
  v1::GetRoutedApplicationResponse routed;
  ASSERT_TRUE(routed.ParseFromString(*FlattenByteBuffer(answer)));
  EXPECT_EQ(routed.answered_by(), "430000");
  EXPECT_FALSE(routed.has_application());
}

TEST(AppendStringField, LongValuesUseAMultiByteLength) {
  const std::string value(300, 'x');
  grpc::ByteBuffer answer = AppendStringField(grpc::ByteBuffer(), 2, value);
  v1::GetRoutedApplicationResponse routed;
  ASSERT_TRUE(routed.ParseFromString(*FlattenByteBuffer(answer)));
  EXPECT_EQ(routed.answered_by(), value);
}

}  // namespace
}  // namespace tongban::gateway
