// Request ids: which client values are believed (X-Request-Id, W3C
// traceparent), generated ids, and the log scope that puts them on lines.
#include "request_id.h"

#include <set>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "structured_log.h"

namespace tongban {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";

TEST(IsValidRequestId, PrintableTokensUpTo128) {
  for (const std::string& ok :
       {std::string("a"), std::string("req-42"),
        std::string("f81d4fae-7dec-11d0-a765-00a0c91e6bf6"),
        std::string("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"),
        std::string("abc/DEF+ghi=="), std::string(128, 'x')}) {
    EXPECT_TRUE(IsValidRequestId(ok)) << ok;
  }
  for (const std::string& bad :
       {std::string(""), std::string(129, 'x'), std::string("a b"), std::string("a\tb"),
        std::string("a\nlevel=error"), std::string("a\rb"), std::string("a\x7f"),
        std::string("\xe4\xb8\xad"), std::string("a\"b"), std::string("a\\b"),
        std::string("one, two"), std::string("a,b"), std::string("a\0b", 3)}) {
    EXPECT_FALSE(IsValidRequestId(bad)) << bad;
  }
}

TEST(TraceIdOfTraceparent, Version00Only) {
  EXPECT_EQ(TraceIdOfTraceparent(kTraceparent), kTraceId);
  EXPECT_EQ(TraceIdOfTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
            kTraceId);
  const std::string bad[] = {
      "",
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // another version
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // zero trace-id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // zero parent-id
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // upper case
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",    // short trace-id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",    // short flags
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  // trailing
      "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  // not hex
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
  };
  for (const std::string& tp : bad) EXPECT_EQ(TraceIdOfTraceparent(tp), "") << tp;
}

TEST(NewRequestId, RandomHex128) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewRequestId();
    EXPECT_THAT(id, MatchesRegex("[0-9a-f]{32}"));
    EXPECT_TRUE(IsValidRequestId(id));
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(ChooseRequestId, HeaderThenTraceparentThenNew) {
  EXPECT_EQ(ChooseRequestId("req-1", kTraceparent), "req-1");
  EXPECT_EQ(ChooseRequestId("", kTraceparent), kTraceId);
  EXPECT_EQ(ChooseRequestId("bad id", kTraceparent), kTraceId);
  EXPECT_EQ(ChooseRequestId(std::string(129, 'x'), kTraceparent), kTraceId);
  std::string fresh = ChooseRequestId("evil\nlevel=error", "00-zz");
  EXPECT_THAT(fresh, MatchesRegex("[0-9a-f]{32}"));
  EXPECT_NE(ChooseRequestId("", ""), ChooseRequestId("", ""));
}

TEST(ChooseRequestId, FromGrpcMetadata) {
  GrpcMetadata md;
  EXPECT_THAT(ChooseRequestId(md), MatchesRegex("[0-9a-f]{32}"));
  EXPECT_EQ(RequestIdOfCall(md), "");
  md.emplace("traceparent", kTraceparent);
  EXPECT_EQ(ChooseRequestId(md), kTraceId);
  EXPECT_EQ(RequestIdOfCall(md), "");  // nodes take only x-request-id
  md.emplace("x-request-id", "req-7");
  EXPECT_EQ(ChooseRequestId(md), "req-7");
  EXPECT_EQ(RequestIdOfCall(md), "req-7");
  GrpcMetadata hostile;
  hostile.emplace("x-request-id", "a\" level=error x=\"");
  EXPECT_EQ(RequestIdOfCall(hostile), "");
}

// ---- the log scope ----------------------------------------------------------

TEST(ScopedRequestId, LinesInTheScopeCarryTheId) {
  EventLog log("node");
  EXPECT_THAT(log.Format("info", "e", {{"a", "1"}}), Not(HasSubstr("request_id")));
  {
    ScopedRequestId scope("req-42");
    EXPECT_EQ(CurrentRequestId(), "req-42");
    EXPECT_THAT(log.Format("info", "application.submitted", {{"id", "X"}}),
                EndsWith(" event=application.submitted id=X request_id=req-42\n"));
    {
      ScopedRequestId inner("req-43");
      EXPECT_THAT(log.Format("info", "e", {}), EndsWith(" event=e request_id=req-43\n"));
    }
    EXPECT_THAT(log.Format("info", "e", {}), EndsWith(" event=e request_id=req-42\n"));
    // A line that names its own request_id keeps it, once.
    std::string own = log.Format("info", "e", {{"request_id", "other"}});
    EXPECT_THAT(own, EndsWith(" event=e request_id=other\n"));
    // Other threads are not in the scope.
    std::string elsewhere;
    std::thread([&] { elsewhere = log.Format("info", "e", {}); }).join();
    EXPECT_THAT(elsewhere, Not(HasSubstr("request_id")));
  }
  EXPECT_EQ(CurrentRequestId(), "");
  EXPECT_THAT(log.Format("info", "e", {}), Not(HasSubstr("request_id")));
}

TEST(ScopedRequestId, InvalidIdsMarkNothing) {
  EventLog log("node");
  for (const std::string& bad : {std::string(""), std::string("a\nts=x level=error"),
                                 std::string("a b"), std::string(200, 'x')}) {
    ScopedRequestId scope(bad);
    EXPECT_EQ(CurrentRequestId(), "");
    EXPECT_THAT(log.Format("info", "e", {}), Not(HasSubstr("request_id"))) << bad;
  }
  // Inside a valid scope, an invalid inner one hides the outer id rather
  // than keep a stale one: the inner call has no id.
  ScopedRequestId outer("req-1");
  {
    ScopedRequestId inner("bad id");
    EXPECT_EQ(CurrentRequestId(), "");
  }
  EXPECT_EQ(CurrentRequestId(), "req-1");
}

}  // namespace
}  // namespace tongban
