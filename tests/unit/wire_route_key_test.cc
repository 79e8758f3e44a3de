// gateway/wire_route_key: the route key read from the bytes is the one
// protobuf's parser reads, on random requests, merged fragments, unknown
// fields of every wire type and mutated bytes; malformed input is refused.
#include "wire_route_key.h"

#include <random>
#include <string>

#include "google/protobuf/unknown_field_set.h"
#include "gtest/gtest.h"
#include "tongban/v1/federation.pb.h"

namespace tongban::gateway {
namespace {

namespace pb = google::protobuf;

std::string RandomId(std::mt19937& rng) {
  static const char* kIds[] = {"", "TB-430000-310000-20261205-00000001",
                               "TB-310000-430000-20261205-00000002", "x", "湖南"};
  return kIds[rng() % 5];
}

void AddUnknown(pb::Message* m, std::mt19937& rng) {
  pb::UnknownFieldSet* u = m->GetReflection()->MutableUnknownFields(m);
  const int number = 100 + static_cast<int>(rng() % 50);
  switch (rng() % 4) {
    case 0:
      u->AddVarint(number, rng());
      break;
    case 1:
      u->AddFixed32(number, static_cast<uint32_t>(rng()));
      break;
    case 2:
      u->AddFixed64(number, rng());
      break;
    default:
      u->AddLengthDelimited(number, std::string(rng() % 20, '\x0a'));
      break;
  }
}

// One fragment of a DeliverApplicationRequest: with or without the
// application, its id, and unknown fields at both levels.
std::string ApplicationFragment(std::mt19937& rng) {
  v1::DeliverApplicationRequest req;
  if (rng() % 4 != 0) {
    v1::Application* app = req.mutable_application();
    if (rng() % 3 != 0) app->set_application_id(RandomId(rng));
    if (rng() % 2 == 0) app->set_item_code("GG00020600");
    if (rng() % 2 == 0) app->add_missing_material_ids("M02");
    if (rng() % 3 == 0) AddUnknown(app, rng);
  }
  if (rng() % 3 == 0) AddUnknown(&req, rng);
  return req.SerializeAsString();
}

TEST(WireRouteKeyTest, SameKeyAsProtobufOnMergedFragments) {
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::string bytes;
    const int fragments = static_cast<int>(rng() % 4);
    for (int f = 0; f < fragments; ++f) bytes += ApplicationFragment(rng);
    v1::DeliverApplicationRequest parsed;
    ASSERT_TRUE(parsed.ParseFromString(bytes));
    absl::StatusOr<std::string> key = ReadStringField(bytes, {1, 1});
    ASSERT_TRUE(key.ok()) << key.status();
    ASSERT_EQ(*key, parsed.application().application_id()) << i;
  }
}

TEST(WireRouteKeyTest, TopLevelFieldsLikeDeliverEventAndFetchGuide) {
  std::mt19937 rng(11);
  for (int i = 0; i < 5000; ++i) {
    std::string bytes;
    for (int f = 0, n = static_cast<int>(rng() % 4); f < n; ++f) {
      v1::DeliverEventRequest e;
      if (rng() % 2 == 0) e.set_application_id(RandomId(rng));
      if (rng() % 2 == 0) e.mutable_event()->set_note("补正材料");
      if (rng() % 3 == 0) AddUnknown(&e, rng);
      bytes += e.SerializeAsString();
    }
    v1::DeliverEventRequest parsed;
    ASSERT_TRUE(parsed.ParseFromString(bytes));
    absl::StatusOr<std::string> key = ReadStringField(bytes, {1});
    ASSERT_TRUE(key.ok()) << key.status();
    ASSERT_EQ(*key, parsed.application_id());
  }
  v1::FetchGuideRequest g;
  g.set_province_code("440000");
  g.set_item_code("GG00020600");
  g.set_cached_version(9);
  absl::StatusOr<std::string> province = ReadStringField(g.SerializeAsString(), {1});
  ASSERT_TRUE(province.ok());
  EXPECT_EQ(*province, "440000");
}

// Whatever the bytes, the scanner never reads a key protobuf would not: when
// both accept, they agree (the scanner may refuse more, never differ).
TEST(WireRouteKeyTest, MutatedBytesNeverGiveADifferentKey) {
  std::mt19937 rng(13);
  int both_accepted = 0;
  for (int i = 0; i < 50000; ++i) {
    std::string bytes = ApplicationFragment(rng) + ApplicationFragment(rng);
    for (int k = 0, n = 1 + static_cast<int>(rng() % 3); k < n && !bytes.empty(); ++k) {
      bytes[rng() % bytes.size()] = static_cast<char>(rng());
    }
    if (rng() % 4 == 0) bytes.resize(rng() % (bytes.size() + 1));
    v1::DeliverApplicationRequest parsed;
    // ParsePartial: a proto3 parser also accepts invalid UTF-8 in a string
    // with an error log only; compare the raw field either way.
    const bool proto_ok = parsed.ParsePartialFromString(bytes);
    absl::StatusOr<std::string> key = ReadStringField(bytes, {1, 1});
    if (proto_ok && key.ok()) {
      ++both_accepted;
      ASSERT_EQ(*key, parsed.application().application_id()) << i;
    }
  }
  EXPECT_GT(both_accepted, 1000);
}

TEST(WireRouteKeyTest, MalformedInputIsRefusedWithAReason) {
  struct Case {
    std::string bytes;
    const char* why;
  };
  const Case cases[] = {
      {std::string("\x0a\x05\x0a\x03TB", 6), "length runs past the end"},
      {std::string("\x0a", 1), "length is truncated"},
      {std::string("\x08\x01", 2), "field 1 has wire type 0"},
      {std::string("\x13\x14", 2), "groups"},
      {std::string("\x00\x01", 2), "field number 0"},
      {std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11), "tag"},
      {std::string("\x15\x01\x02", 3), "fixed32 is truncated"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::string> key = ReadStringField(c.bytes, {1, 1});
    ASSERT_FALSE(key.ok()) << c.why;
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(key.status().message().find(c.why), absl::string_view::npos)
        << key.status() << " / " << c.why;
  }
  EXPECT_EQ(*ReadStringField("", {1, 1}), "");
}

}  // namespace
}  // namespace tongban::gateway
