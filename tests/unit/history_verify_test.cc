// `tongbanctl history verify`: the real binary on exported histories (JSON of
// tongban.v1.SignedHistory) made with an in-test PKI: a good history, tampered
// ones, a signer revoked after signing, malformed files. Also the JSON round
// trip of gateway/tongbanctl/history.
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "history.h"
#include "record_signing.h"
#include "signing_test_pki.h"

namespace tongban::ctl {
namespace {

namespace pki = ::tongban::testing::signing_pki;
using ::testing::HasSubstr;

constexpr char kApp[] = "TB-430000-310000-20261125-00000042";

int RunCommand(const std::string& command, std::string* output) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  output->clear();
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

google::protobuf::Timestamp Ts(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  return ts;
}

class HistoryVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = pki::MakeTempDir("history-verify-");
    ASSERT_FALSE(dir_.empty());
    ca_ = pki::MakeCa("Tongban Test CA");
    ASSERT_TRUE(pki::WritePem(dir_ + "/ca.pem", ca_.cert));
    mkdir((dir_ + "/crl").c_str(), 0700);
    ASSERT_TRUE(pki::WriteCrl(dir_ + "/crl", ca_, {}));
    hunan_node_ = pki::MakeNode(ca_, "430000");
    shanghai_node_ = pki::MakeNode(ca_, "310000");
    hunan_ = Signer("430000", hunan_node_);
    shanghai_ = Signer("310000", shanghai_node_);

    v1::Application app;
    app.set_application_id(kApp);
    v1::ApplicationFiling* filing = app.mutable_filing();
    filing->set_application_id(kApp);
    filing->set_accepting_province("430000");
    filing->set_handling_province("310000");
    filing->set_item_code("GG00020600");
    filing->mutable_applicant()->set_id_number("11010519491231002X");
    filing->mutable_applicant()->set_name("张三");
    *filing->mutable_filed_at() = Ts(absl::Now() - absl::Hours(5));
    absl::Time t = absl::Now() - absl::Hours(4);
    Add(&app, hunan_.get(), "430000-1", v1::APPLICATION_ACTION_SUBMIT, t);
    Add(&app, shanghai_.get(), "310000-1", v1::APPLICATION_ACTION_DELIVER, t + absl::Minutes(1));
    Add(&app, shanghai_.get(), "310000-2", v1::APPLICATION_ACTION_ACCEPT, t + absl::Minutes(2));
    Add(&app, shanghai_.get(), "310000-3", v1::APPLICATION_ACTION_APPROVE, t + absl::Minutes(3));
    history_ = MakeSignedHistory(app, absl::Now(), "spiffe://tongban/province/430000/officer/o1");
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<signing::RecordSigner> Signer(const std::string& province, const pki::Key& k) {
    std::string d = dir_ + "/" + province;
    mkdir(d.c_str(), 0700);
    EXPECT_TRUE(pki::WritePair(d, k));
    auto s = signing::RecordSigner::Create(d + "/key.pem", d + "/cert.pem");
    EXPECT_TRUE(s.ok()) << s.status();
    return *std::move(s);
  }

  void Add(v1::Application* app, signing::RecordSigner* signer, const std::string& id,
           v1::ApplicationAction action, absl::Time at) {
    v1::ApplicationEvent e;
    e.set_event_id(id);
    e.set_action(action);
    e.set_state_after(v1::APPLICATION_STATE_RECEIVED);
    e.set_province_code(signer->province());
    e.set_actor("spiffe://tongban/province/" + signer->province());
    *e.mutable_at() = Ts(at);
    e.set_previous_hash(signing::PreviousHashFor(app->filing(), app->events(), e.province_code()));
    ASSERT_TRUE(signer->SignEvent(kApp, &e).ok());
    *app->add_events() = e;
  }

  std::string Write(const v1::SignedHistory& h, const std::string& name) {
    absl::StatusOr<std::string> json = SignedHistoryToJson(h);
    EXPECT_TRUE(json.ok());
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << *json;
    return path;
  }

  int Verify(const std::string& file, std::string* out, bool crl = true) {
    std::string cmd = std::string(TONGBANCTL_BINARY) + " history verify " + file + " --ca " +
                      dir_ + "/ca.pem";
    if (crl) cmd += " --crl-dir " + dir_ + "/crl";
    return RunCommand(cmd, out);
  }

  std::string dir_;
  pki::Key ca_;
  pki::Key hunan_node_;
  pki::Key shanghai_node_;
  std::unique_ptr<signing::RecordSigner> hunan_;
  std::unique_ptr<signing::RecordSigner> shanghai_;
  v1::SignedHistory history_;
};

TEST_F(HistoryVerifyTest, JsonRoundTripIsReadableAndExact) {
  absl::StatusOr<std::string> json = SignedHistoryToJson(history_);
  ASSERT_TRUE(json.ok());
  EXPECT_THAT(*json, HasSubstr("\"format\": \"tongban.signed-history.v1\""));
  EXPECT_THAT(*json, HasSubstr("\"action\": \"APPLICATION_ACTION_SUBMIT\""));
  EXPECT_THAT(*json, HasSubstr("\"algorithm\": \"ecdsa-p256-sha256\""));
  absl::StatusOr<v1::SignedHistory> back = SignedHistoryFromJson(*json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(signing::DeterministicBytes(*back), signing::DeterministicBytes(history_));
  EXPECT_EQ(SignedHistoryFromJson("{\"format\":\"other\"}").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SignedHistoryFromJson("{\"format\":\"tongban.signed-history.v1\",\"x\":1}")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(HistoryVerifyTest, GoodHistoryVerifies) {
  std::string out;
  EXPECT_EQ(Verify(Write(history_, "good.json"), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("ok    430000-1"));
  EXPECT_THAT(out, HasSubstr("ok    310000-3"));
  EXPECT_THAT(out, HasSubstr("VERIFIED"));
  EXPECT_EQ(Verify(Write(history_, "good2.json"), &out, /*crl=*/false), 0) << out;
}

TEST_F(HistoryVerifyTest, TamperedHistoriesFail) {
  std::string out;
  {
    v1::SignedHistory h = history_;
    h.mutable_events(3)->set_state_after(v1::APPLICATION_STATE_DENIED);
    EXPECT_EQ(Verify(Write(h, "altered.json"), &out), 1) << out;
    EXPECT_THAT(out, HasSubstr("FAIL  310000-3"));
    EXPECT_THAT(out, HasSubstr("signature does not verify"));
    EXPECT_THAT(out, HasSubstr("NOT VERIFIED: 1 of 4 events failed"));
  }
  {
    v1::SignedHistory h = history_;
    h.mutable_events()->DeleteSubrange(2, 1);  // 310000-2 removed
    EXPECT_EQ(Verify(Write(h, "removed.json"), &out), 1) << out;
    EXPECT_THAT(out, HasSubstr("previous_hash does not match event 310000-1"));
  }
  {
    v1::SignedHistory h = history_;
    h.mutable_events()->SwapElements(2, 3);
    EXPECT_EQ(Verify(Write(h, "reordered.json"), &out), 1) << out;
  }
  {
    v1::SignedHistory h = history_;
    h.mutable_filing()->mutable_applicant()->set_name("李四");
    EXPECT_EQ(Verify(Write(h, "filing.json"), &out), 1) << out;
    EXPECT_THAT(out, HasSubstr("does not match the filing record"));
  }
  {  // Edited in the JSON text itself.
    absl::StatusOr<std::string> json = SignedHistoryToJson(history_);
    std::string text = *json;
    size_t at = text.find("APPLICATION_ACTION_APPROVE");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, 26, "APPLICATION_ACTION_DENY");
    std::ofstream(dir_ + "/edited.json") << text;
    EXPECT_EQ(Verify(dir_ + "/edited.json", &out), 1) << out;
  }
}

TEST_F(HistoryVerifyTest, SignerRevokedAfterSigningStillVerifies) {
  std::string out;
  ASSERT_TRUE(pki::WriteCrl(dir_ + "/crl", ca_, {{&shanghai_node_, absl::Now() - absl::Minutes(5)}}));
  EXPECT_EQ(Verify(Write(history_, "later.json"), &out), 0) << out;
  ASSERT_TRUE(pki::WriteCrl(dir_ + "/crl", ca_, {{&shanghai_node_, absl::Now() - absl::Hours(10)}}));
  EXPECT_EQ(Verify(Write(history_, "earlier.json"), &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("signer certificate revoked"));
}

TEST_F(HistoryVerifyTest, ForeignCaAndBadFiles) {
  std::string out;
  pki::Key other = pki::MakeCa("Other CA");
  ASSERT_TRUE(pki::WritePem(dir_ + "/other-ca.pem", other.cert));
  std::string good = Write(history_, "good.json");
  EXPECT_EQ(RunCommand(std::string(TONGBANCTL_BINARY) + " history verify " + good + " --ca " + dir_ +
                    "/other-ca.pem",
                &out),
            1)
      << out;
  EXPECT_THAT(out, HasSubstr("does not chain to the federation CA"));
  std::ofstream(dir_ + "/garbage.json") << "not json";
  EXPECT_EQ(Verify(dir_ + "/garbage.json", &out), 2) << out;
  EXPECT_EQ(Verify(dir_ + "/missing.json", &out), 2) << out;
  EXPECT_EQ(RunCommand(std::string(TONGBANCTL_BINARY) + " history verify " + good, &out), 2) << out;
  EXPECT_THAT(out, HasSubstr("--ca"));
}

}  // namespace
}  // namespace tongban::ctl
