// A node for fuzz targets: the real CatalogService, ApplicationService and
// FederationService of one province over a real SQLite store in a temporary
// directory (under /dev/shm when there is one, so commits cost no disk
// flush), seeded with the demo catalog, with a fixed clock, metrics in a
// private registry and logs thrown away. Built once per process.
//
// Calls reach the services' public gRPC methods with a grpc::ServerContext
// that carries what a real mTLS call would: an authenticated peer whose only
// URI SAN is the caller's SPIFFE id, and the gateway's metadata stamps.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "derived_test_key.h"
#include "catalog/demo_catalog.h"
#include "clock.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/security/auth_context.h"
#include "grpcpp/server_context.h"
#include "grpcpp/test/server_context_test_spouse.h"
#include "prometheus/registry.h"
#include "record_signing.h"
#include "service/application_service.h"
#include "service/authz_policy.h"
#include "service/catalog_service.h"
#include "service/federation_service.h"
#include "service/guide_resolver.h"
#include "service/application_events.h"
#include "service/demo_licences.h"
#include "service/licence_registry.h"
#include "service/licence_service.h"
#include "service/node_admin_service.h"
#include "service/node_metrics.h"
#include "store/sqlite_application_store.h"
#include "store/sqlite_catalog_store.h"
#include "store/sqlite_database.h"
#include "store/sqlite_licence_store.h"
#include "structured_log.h"
#include "worker_pool.h"
#include "working_day_calendar.h"

namespace tongban::fuzz {

// 2026-03-01T02:00:00Z (10:00 in China): every id made by a fixture node is
// dated 20260301.
inline constexpr int64_t kFixtureNowUnixSeconds = 1772330400;

// The peer of a verified mTLS connection, as gRPC's SSL transport describes
// it: authenticated, with the certificate's URI SAN as "peer_uri" (and as
// x509_subject_alternative_name, where gRPC also lists it).
class FakeTlsAuthContext final : public grpc::AuthContext {
 public:
  explicit FakeTlsAuthContext(std::string uri_san) {
    props_.emplace_back(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME, GRPC_SSL_TRANSPORT_SECURITY_TYPE);
    props_.emplace_back(GRPC_X509_SAN_PROPERTY_NAME, uri_san);
    props_.emplace_back(GRPC_PEER_URI_PROPERTY_NAME, uri_san);
  }
  bool IsPeerAuthenticated() const override { return true; }
  std::vector<grpc::string_ref> GetPeerIdentity() const override {
    return FindPropertyValues(GRPC_X509_SAN_PROPERTY_NAME);
  }
  std::string GetPeerIdentityPropertyName() const override { return GRPC_X509_SAN_PROPERTY_NAME; }
  std::vector<grpc::string_ref> FindPropertyValues(const std::string& name) const override {
    std::vector<grpc::string_ref> out;
    for (const auto& [key, value] : props_) {
      if (key == name) out.emplace_back(value.data(), value.size());
    }
    return out;
  }
  // Iteration over properties is not used by the node: an empty range.
  struct EmptyIterator : grpc::AuthPropertyIterator {
    EmptyIterator() : grpc::AuthPropertyIterator() {}
  };
  grpc::AuthPropertyIterator begin() const override { return EmptyIterator(); }
  grpc::AuthPropertyIterator end() const override { return EmptyIterator(); }
  void AddProperty(const std::string& key, const grpc::string_ref& value) override {
    props_.emplace_back(key, std::string(value.data(), value.size()));
  }
  bool SetPeerIdentityPropertyName(const std::string&) override { return false; }

 private:
  std::vector<std::pair<std::string, std::string>> props_;
};

namespace internal {
// grpc::ServerContextBase keeps the call's auth context in a private member
// that it fills from the call on first use; a context made outside a call
// gets ours instead. (Explicit instantiation may name private members: the
// one standard way to reach them without editing gRPC's headers.)
struct AuthContextMember {
  using type = std::shared_ptr<const grpc::AuthContext> grpc::ServerContextBase::*;
  friend type Get(AuthContextMember);
};
template <typename Tag, typename Tag::type M>
struct Steal {
  friend typename Tag::type Get(Tag) { return M; }
};
template struct Steal<AuthContextMember, &grpc::ServerContextBase::auth_context_>;
}  // namespace internal

// Who calls. `spiffe_id` empty = no client certificate.
struct FakeCaller {
  std::string spiffe_id;
  bool citizen_stamped = false;
  std::string citizen_id;
  bool origin_stamped = false;
  std::string origin_province;
};

// A server context for one call by `caller`.
class CallContext {
 public:
  explicit CallContext(const FakeCaller& caller) : spouse_(&ctx_) {
    if (!caller.spiffe_id.empty()) {
      ctx_.*Get(internal::AuthContextMember()) =
          std::make_shared<FakeTlsAuthContext>(caller.spiffe_id);
    }
    if (caller.citizen_stamped) spouse_.AddClientMetadata("x-tongban-citizen-id", caller.citizen_id);
    if (caller.origin_stamped) {
      spouse_.AddClientMetadata("x-tongban-origin-province", caller.origin_province);
    }
  }
  grpc::ServerContext* get() { return &ctx_; }

 private:
  grpc::ServerContext ctx_;
  grpc::testing::ServerContextTestSpouse spouse_;
};

// Fixed test keys of the fuzz fixtures (never used anywhere else), so that
// events signed in one process (tests/fuzz/corpus_gen.cc writing seeds)
// verify in another (the fuzz targets): certificates are made at start-up,
// but always by the same CA key under the same name.
inline const std::string& FuzzCaKeyPem() {
  static const std::string* k = new std::string(fuzzing::DerivedTestKeyPem("tongban-fuzz-ca"));
  return *k;
}
inline const std::string& FuzzNodeKeyPem(const std::string& province) {
  static const std::string* k310000 =
      new std::string(fuzzing::DerivedTestKeyPem("tongban-fuzz-node-310000"));
  static const std::string* k430000 =
      new std::string(fuzzing::DerivedTestKeyPem("tongban-fuzz-node-430000"));
  return province == "310000" ? *k310000 : *k430000;
}

// A federation CA and node certificates for the fixture nodes' record
// signing (EC P-256, URI SAN spiffe://tongban/province/<code>, valid
// 2020-2040), written as PEM files into `dir`.
class FixturePki {
 public:
  static FixturePki& Get(const std::string& dir) {
    static FixturePki* pki = new FixturePki(dir);
    return *pki;
  }
  const std::string& ca_file() const { return ca_file_; }
  // Writes <dir>/key.pem and <dir>/cert.pem for `province`.
  void IssueNode(const std::string& province, const std::string& dir) const {
    EVP_PKEY* key = province == "310000"   ? ReadKey(FuzzNodeKeyPem("310000").c_str())
                    : province == "430000" ? ReadKey(FuzzNodeKeyPem("430000").c_str())
                                           : NewKey();
    X509* cert = NewCert(key, ca_key_, ca_cert_, "node " + province,
                         "URI:spiffe://tongban/province/" + province, false);
    WritePem(dir + "/key.pem", key, nullptr);
    WritePem(dir + "/cert.pem", nullptr, cert);
    X509_free(cert);
    EVP_PKEY_free(key);
  }

 private:
  explicit FixturePki(const std::string& dir) {
    ca_key_ = ReadKey(FuzzCaKeyPem().c_str());
    ca_cert_ = NewCert(ca_key_, nullptr, nullptr, "tongban fuzz CA", "", true);
    ca_file_ = dir + "/ca.pem";
    WritePem(ca_file_, nullptr, ca_cert_);
  }
  static void Need(bool ok, const char* what) {
    if (!ok) {
      std::fprintf(stderr, "fuzz PKI: %s failed\n", what);
      std::abort();
    }
  }
  static EVP_PKEY* NewKey() {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nullptr);
    EVP_PKEY* key = nullptr;
    Need(ctx != nullptr && EVP_PKEY_keygen_init(ctx) == 1 &&
             EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1) == 1 &&
             EVP_PKEY_keygen(ctx, &key) == 1,
         "key generation");
    EVP_PKEY_CTX_free(ctx);
    return key;
  }
  static EVP_PKEY* ReadKey(const char* pem) {
    BIO* bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    Need(key != nullptr, "reading a fixed key");
    return key;
  }
  static void AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer != nullptr ? issuer : cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
    Need(ext != nullptr && X509_add_ext(cert, ext, -1) == 1, "extension");
    X509_EXTENSION_free(ext);
  }
  static X509* NewCert(EVP_PKEY* key, EVP_PKEY* issuer_key, X509* issuer, const std::string& cn,
                       const std::string& san, bool ca) {
    static long serial = 1;
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
    ASN1_TIME_set(X509_getm_notBefore(cert), 1577836800);  // 2020-01-01
    ASN1_TIME_set(X509_getm_notAfter(cert), 2208988800);   // 2040-01-01
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(cert, issuer != nullptr ? X509_get_subject_name(issuer) : name);
    if (ca) {
      AddExt(cert, issuer, NID_basic_constraints, "critical,CA:TRUE");
      AddExt(cert, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
      AddExt(cert, issuer, NID_subject_key_identifier, "hash");
    } else {
      AddExt(cert, issuer, NID_basic_constraints, "critical,CA:FALSE");
      AddExt(cert, issuer, NID_key_usage, "critical,digitalSignature");
      AddExt(cert, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
      AddExt(cert, issuer, NID_subject_key_identifier, "hash");
      AddExt(cert, issuer, NID_authority_key_identifier, "keyid:always");
      AddExt(cert, issuer, NID_subject_alt_name, san);
    }
    Need(X509_sign(cert, issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0, "signing");
    return cert;
  }
  static void WritePem(const std::string& path, EVP_PKEY* key, X509* cert) {
    FILE* f = std::fopen(path.c_str(), "w");
    Need(f != nullptr, "writing PEM");
    if (key != nullptr) Need(PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1, "PEM key");
    if (cert != nullptr) Need(PEM_write_X509(f, cert) == 1, "PEM cert");
    std::fclose(f);
  }

  EVP_PKEY* ca_key_ = nullptr;
  X509* ca_cert_ = nullptr;
  std::string ca_file_;
};

class NodeFixture {
 public:
  // The process's node of `province` (one per province), built on first use;
  // aborts when it cannot be built (then the harness itself is broken).
  static NodeFixture& Get(const std::string& province) {
    static std::vector<std::pair<std::string, NodeFixture*>>* nodes =
        new std::vector<std::pair<std::string, NodeFixture*>>();
    for (auto& [p, n] : *nodes) {
      if (p == province) return *n;
    }
    // Never destroyed: libFuzzer may exit from any thread at any time, and the
    // store's writer thread must not be torn down under a running call.
    auto* node = new NodeFixture(province);
    nodes->emplace_back(province, node);
    return *node;
  }

  const std::string& province() const { return province_; }
  FakeClock& clock() { return clock_; }
  node::CatalogServiceImpl& catalog_service() { return *catalog_service_; }
  node::ApplicationServiceImpl& application_service() { return *application_service_; }
  node::FederationServiceImpl& federation_service() { return *federation_service_; }
  node::SqliteApplicationStore& applications() { return *applications_; }
  node::NodeAdminServiceImpl& admin_service() { return *admin_service_; }
  node::LicenceServiceImpl& licence_service() { return *licence_service_; }

 private:
  explicit NodeFixture(std::string province)
      : province_(std::move(province)), clock_(absl::FromUnixSeconds(kFixtureNowUnixSeconds)) {
    std::error_code ec;
    std::string base = std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm" : "/tmp";
    if (const char* t = getenv("TONGBAN_FUZZ_TMPDIR"); t != nullptr && *t != '\0') base = t;
    std::string pattern = base + "/tongban-fuzz-" + province_ + "-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) Die("mkdtemp " + pattern);
    dir_ = pattern;
    Dirs().push_back(dir_);
    static bool registered = [] { return atexit(&RemoveDirs) == 0; }();
    (void)registered;

    devnull_ = std::fopen("/dev/null", "w");
    log_ = std::make_unique<EventLog>("fuzz-node-" + province_, devnull_);
    metrics_ = std::make_unique<node::NodeMetrics>(registry_, province_, "fuzz");
    node::SqliteDatabaseOptions options;
    options.path = dir_ + "/node.db";
    auto db = node::SqliteDatabase::Open(std::move(options));
    if (!db.ok()) Die("open store: " + db.status().ToString());
    db_ = std::move(*db);
    catalog_ = std::make_unique<node::SqliteCatalogStore>(*db_);
    applications_ = std::make_unique<node::SqliteApplicationStore>(*db_, province_, clock_);
    absl::Status seeded = node::SeedDemoCatalogIfEmpty(TONGBAN_DEMO_CATALOG_DIR, *catalog_, nullptr);
    if (!seeded.ok()) Die("seed demo catalog: " + seeded.ToString());
    FixturePki& pki = FixturePki::Get(dir_);
    pki.IssueNode(province_, dir_);
    auto signer = signing::RecordSigner::Create(dir_ + "/key.pem", dir_ + "/cert.pem");
    if (!signer.ok()) Die("record signer: " + signer.status().ToString());
    signer_ = std::move(*signer);
    auto verifier = signing::RecordVerifier::Create(pki.ca_file());
    if (!verifier.ok()) Die("record verifier: " + verifier.status().ToString());
    verifier_ = std::move(*verifier);
    authz_ = std::make_unique<node::AuthzPolicy>(node::AuthzPolicy::ForNode(province_));
    auto calendar = WorkingDayCalendar::FromFiles({TONGBAN_WORKING_DAYS_FILE});
    if (!calendar.ok()) Die("working-day calendar: " + calendar.status().ToString());
    calendar_ = std::make_unique<WorkingDayCalendar>(std::move(*calendar));
    guides_ = std::make_unique<node::GuideResolver>(province_, catalog_.get(), nullptr, &clock_,
                                                    absl::Seconds(30));
    catalog_service_ = std::make_unique<node::CatalogServiceImpl>(authz_.get(), catalog_.get(),
                                                                  &clock_, log_.get());
    node::GuideResolver* resolver = guides_.get();
    const std::string own = province_;
    catalog_service_->set_on_guide_changed(
        [resolver, own](const std::string& item) { resolver->Invalidate(own, item); });
    node::JointCoordinatorDeps joint;
    joint.own_province = province_;
    joint.applications = applications_.get();
    joint.guides = guides_.get();
    joint.clock = &clock_;
    joint.calendar = calendar_.get();
    joint.signer = signer_.get();
    joint.log = log_.get();
    joint_ = std::make_unique<node::JointCoordinator>(std::move(joint));  // no sweep thread
    node::ApplicationServiceDeps deps;
    deps.joint = joint_.get();
    deps.authz = authz_.get();
    deps.applications = applications_.get();
    deps.catalog = catalog_.get();
    deps.guides = guides_.get();
    deps.clock = &clock_;
    deps.metrics = metrics_.get();
    deps.log = log_.get();
    deps.signer = signer_.get();
    deps.verifier = verifier_.get();
    deps.calendar = calendar_.get();
    deps.blocking_filings = &blocking_filings_;
    application_service_ = std::make_unique<node::ApplicationServiceImpl>(deps);
    node::NodeAdminServiceDeps admin;
    admin.own_province = province_;
    admin.applications = applications_.get();
    admin.clock = &clock_;
    admin.log = log_.get();
    signing::RecordSigner* signer_for_admin = signer_.get();
    admin.seal_event = [signer_for_admin](const v1::Application& app, v1::ApplicationEvent* e) {
      return node::SealEvent(app, signer_for_admin, e);
    };
    admin_service_ = std::make_unique<node::NodeAdminServiceImpl>(std::move(admin));
    federation_service_ = std::make_unique<node::FederationServiceImpl>(
        authz_.get(), applications_.get(), catalog_.get(), &clock_, metrics_.get(), log_.get(),
        "spiffe://tongban/province/" + province_, signer_.get(), verifier_.get(),
        calendar_.get());
    node::JointCoordinator* coordinator = joint_.get();
    federation_service_->set_on_application_changed(
        [coordinator](const v1::Application& app) { coordinator->TaskChanged(app); });
    // 电子证照: the register with the demo licences of this province, so checks
    // relayed from another province and officers' calls reach real records.
    licence_store_ = std::make_unique<node::SqliteLicenceStore>(*db_);
    node::LicenceRegistryDeps licences;
    licences.own_province = province_;
    licences.store = licence_store_.get();
    licences.signer = signer_.get();
    licences.clock = &clock_;
    licences.types = &LicenceTypeList::National();
    licences.verifier = verifier_.get();
    licences.metrics = metrics_.get();
    licences_ = std::make_unique<node::LicenceRegistry>(std::move(licences));
    absl::Status issued = node::SeedDemoLicencesIfEmpty(TONGBAN_DEMO_CATALOG_DIR, *licence_store_,
                                                        *licences_, nullptr);
    if (!issued.ok()) Die("seed demo licences: " + issued.ToString());
    federation_service_->set_licences(licences_.get());
    federation_service_->set_guide_answers(
        [this](const std::string& item_code) { return catalog_service_->GuideAnswer(item_code); });
    node::LicenceServiceDeps licence_service;
    licence_service.registry = licences_.get();
    licence_service.guides = guides_.get();
    licence_service.verifier = verifier_.get();
    licence_service.clock = &clock_;
    licence_service.log = log_.get();
    licence_service.applications = applications_.get();
    licence_service_ = std::make_unique<node::LicenceServiceImpl>(licence_service);
  }

  [[noreturn]] static void Die(const std::string& what) {
    std::fprintf(stderr, "fuzz node fixture: %s\n", what.c_str());
    std::abort();
  }
  static std::vector<std::string>& Dirs() {
    static auto* dirs = new std::vector<std::string>();
    return *dirs;
  }
  static void RemoveDirs() {
    for (const std::string& d : Dirs()) {
      std::error_code ignored;
      std::filesystem::remove_all(d, ignored);
    }
  }

  const std::string province_;
  FakeClock clock_;
  std::string dir_;
  FILE* devnull_ = nullptr;
  std::unique_ptr<EventLog> log_;
  prometheus::Registry registry_;
  std::unique_ptr<node::NodeMetrics> metrics_;
  std::unique_ptr<node::SqliteDatabase> db_;
  std::unique_ptr<node::SqliteCatalogStore> catalog_;
  std::unique_ptr<node::SqliteApplicationStore> applications_;
  // Unused by the fuzzers (they call SubmitApplicationNow), required by the service.
  WorkerPool blocking_filings_{1, 1};
  std::unique_ptr<signing::RecordSigner> signer_;
  std::unique_ptr<signing::RecordVerifier> verifier_;
  std::unique_ptr<node::AuthzPolicy> authz_;
  std::unique_ptr<WorkingDayCalendar> calendar_;
  std::unique_ptr<node::GuideResolver> guides_;
  std::unique_ptr<node::CatalogServiceImpl> catalog_service_;
  std::unique_ptr<node::JointCoordinator> joint_;
  std::unique_ptr<node::ApplicationServiceImpl> application_service_;
  std::unique_ptr<node::FederationServiceImpl> federation_service_;
  std::unique_ptr<node::NodeAdminServiceImpl> admin_service_;
  std::unique_ptr<node::SqliteLicenceStore> licence_store_;
  std::unique_ptr<node::LicenceRegistry> licences_;
  std::unique_ptr<node::LicenceServiceImpl> licence_service_;
};

// TONGBAN_FUZZ_VERBOSE=1: targets print each call's status (to see which
// seeds reach past validation).
inline bool Verbose() {
  static const bool verbose = [] {
    const char* v = getenv("TONGBAN_FUZZ_VERBOSE");
    return v != nullptr && *v != '\0' && *v != '0';
  }();
  return verbose;
}

}  // namespace tongban::fuzz
