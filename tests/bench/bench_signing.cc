// tongban-signing-bench: the CPU cost of signed records (docs/performance.md,
// "Signing cost"): signing an event with the node's key, verifying it on
// receipt (signer certificate cached, and the first time a certificate is
// seen), the chain hashes, and per forwarded application (filing hash, sign
// SUBMIT, verify SUBMIT). Single thread, in-process, a P-256 PKI made at
// start (the same key type as certs/gen-dev-certs.sh).
//   tongban-signing-bench [iterations]   (default 5000)
#include <sys/resource.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "record_signing.h"
#include "rusage_cpu.h"
#include "signing_test_pki.h"

namespace {

namespace pki = ::tongban::testing::signing_pki;
namespace signing = ::tongban::signing;
namespace v1 = ::tongban::v1;

constexpr char kApp[] = "TB-430000-310000-20261125-00000042";

// Runs fn n times; prints wall and CPU µs per call.
void Measure(const char* what, int n, const std::function<void(int)>& fn) {
  for (int i = 0; i < n / 10 + 1; ++i) fn(i);  // warm-up
  double cpu0 = ::tongban::bench::RusageCpuSeconds(RUSAGE_SELF);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) fn(i);
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cpu = ::tongban::bench::RusageCpuSeconds(RUSAGE_SELF) - cpu0;
  std::printf("| %-66s | %8.1f | %8.1f | %6d |\n", what, wall / n * 1e6, cpu / n * 1e6, n);
  std::fflush(stdout);
}

void Check(const absl::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "tongban-signing-bench: %s\n", s.ToString().c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 5000;
  if (n <= 0) n = 5000;
  std::string dir = pki::MakeTempDir("signing-bench-");
  pki::Key ca = pki::MakeCa("Tongban Bench CA");
  pki::Key hunan = pki::MakeNode(ca, "430000");
  pki::WritePem(dir + "/ca.pem", ca.cert);
  mkdir((dir + "/crl").c_str(), 0700);
  // A CRL with 200 revoked certificates, a realistic size for a federation CA.
  std::vector<pki::Key> revoked_keys;
  std::vector<pki::Revocation> revoked;
  for (int i = 0; i < 200; ++i) revoked_keys.push_back(pki::MakeNode(ca, "110000"));
  for (const pki::Key& k : revoked_keys) revoked.push_back({&k, absl::Now() - absl::Hours(1)});
  pki::WriteCrl(dir + "/crl", ca, revoked);
  pki::WritePair(dir, hunan);
  auto signer = signing::RecordSigner::Create(dir + "/key.pem", dir + "/cert.pem");
  Check(signer.status());
  auto verifier = signing::RecordVerifier::Create(dir + "/ca.pem", dir + "/crl");
  Check(verifier.status());

  v1::ApplicationFiling filing;
  filing.set_application_id(kApp);
  filing.set_accepting_province("430000");
  filing.set_handling_province("310000");
  filing.set_item_code("GG00020600");
  filing.mutable_applicant()->set_id_number("11010519491231002X");
  filing.mutable_applicant()->set_name("张三");
  filing.mutable_applicant()->set_phone("13800000000");
  for (const char* m : {"M01", "M02", "M03", "M09"}) {
    v1::SuppliedMaterial* s = filing.add_materials();
    s->set_material_id(m);
    s->set_content_sha256(std::string(64, 'a'));
    s->set_size_bytes(123456);
    s->set_media_type("application/pdf");
  }
  filing.mutable_filed_at()->set_seconds(absl::ToUnixSeconds(absl::Now()));
  filing.set_guide_version(7);

  v1::ApplicationEvent submit;
  submit.set_event_id("430000-1");
  submit.set_action(v1::APPLICATION_ACTION_SUBMIT);
  submit.set_state_after(v1::APPLICATION_STATE_RECEIVED);
  submit.set_actor("spiffe://tongban/province/430000/officer/officer-01");
  submit.set_province_code("430000");
  submit.mutable_at()->set_seconds(absl::ToUnixSeconds(absl::Now()));
  for (const char* m : {"M01", "M02", "M03", "M09"}) submit.add_material_ids(m);
  submit.set_previous_hash(signing::FilingHash(filing));

  v1::ApplicationEvent signed_submit = submit;
  Check((*signer)->SignEvent(kApp, &signed_submit));
  std::printf("signed SUBMIT event: %zu bytes (signature block %zu: certificate %zu, signature %zu)\n\n",
              signed_submit.ByteSizeLong(), signed_submit.signature().ByteSizeLong(),
              signed_submit.signature().signer_certificate().size(),
              signed_submit.signature().signature().size());
  std::printf("| %-66s | %8s | %8s | %6s |\n", "operation (one thread)", "wall µs", "CPU µs", "n");
  std::printf("|%s|%s|%s|%s|\n", std::string(68, '-').c_str(), std::string(10, '-').c_str(),
              std::string(10, '-').c_str(), std::string(8, '-').c_str());

  Measure("FilingHash (deterministic encoding + SHA-256)", n * 4,
          [&](int) { (void)signing::FilingHash(filing); });
  Measure("EventChainHash of a signed event", n * 4,
          [&](int) { (void)signing::EventChainHash(signed_submit); });
  Measure("sign an event (SignEvent)", n, [&](int) {
    v1::ApplicationEvent e = submit;
    Check((*signer)->SignEvent(kApp, &e));
  });
  Measure("verify on receipt (VerifyEvent, signer certificate cached)", n, [&](int) {
    Check((*verifier)->VerifyEvent(kApp, signed_submit, absl::Now(),
                                   signing::VerifyMode::kReceiving));
  });
  Measure("verify, historical mode (cached)", n, [&](int) {
    Check((*verifier)->VerifyEvent(kApp, signed_submit, absl::Now(),
                                   signing::VerifyMode::kHistorical));
  });
  // A fresh verifier per call: loads CA + CRL, parses and chains the certificate.
  Measure("verify with a cold verifier (load CA+CRL, chain the certificate)", n / 10 + 1, [&](int) {
    auto v = signing::RecordVerifier::Create(dir + "/ca.pem", dir + "/crl");
    Check(v.status());
    Check((*v)->VerifyEvent(kApp, signed_submit, absl::Now(), signing::VerifyMode::kReceiving));
  });
  Measure("CheckChainLink (incoming after 10 stored events)", n, [&, stored = std::vector<v1::ApplicationEvent>(10, signed_submit)](int) {
    (void)signing::CheckChainLink(filing, stored, signed_submit);
  });
  Measure("per forwarded application: FilingHash + sign SUBMIT + verify", n, [&](int) {
    v1::ApplicationEvent e = submit;
    e.set_previous_hash(signing::FilingHash(filing));
    Check((*signer)->SignEvent(kApp, &e));
    Check((*verifier)->VerifyEvent(kApp, e, absl::Now(), signing::VerifyMode::kReceiving));
    if (e.previous_hash() != signing::FilingHash(filing)) std::exit(1);
  });
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
