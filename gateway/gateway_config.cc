#include "gateway_config.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "http_conventions.h"
#include "input_validation.h"
#include "text_config.h"

namespace tongban::gateway {
namespace {

absl::Status InRange(const char* key, int value, int lo, int hi) {
  if (value < lo || value > hi) {
    return absl::InvalidArgumentError(absl::StrCat(key, " is ", value, ": must be ", lo, " to ", hi));
  }
  return absl::OkStatus();
}

void Default(int32_t value, int32_t fallback, void (v1::GatewayConfig::*set)(int32_t),
             v1::GatewayConfig* c) {
  if (value == 0) (c->*set)(fallback);
}

// The public gRPC port's limits (docs/public-api.md "The gRPC face: limits").
absl::Status FinishPublicGrpcLimits(v1::PublicEdgeConfig* e) {
  if (e->grpc_max_connections() == 0) e->set_grpc_max_connections(10000);
  if (e->grpc_max_connections_per_address() == 0) e->set_grpc_max_connections_per_address(64);
  if (e->grpc_max_concurrent_streams() == 0) e->set_grpc_max_concurrent_streams(32);
  if (e->grpc_handshake_timeout_seconds() == 0) e->set_grpc_handshake_timeout_seconds(10);
  if (e->grpc_idle_timeout_seconds() == 0) e->set_grpc_idle_timeout_seconds(300);
  if (e->grpc_max_connection_age_seconds() == 0) e->set_grpc_max_connection_age_seconds(3600);
  if (e->grpc_max_threads() == 0) e->set_grpc_max_threads(256);
  for (absl::Status s :
       {InRange("public_edge.grpc_max_connections", e->grpc_max_connections(), 1, 1000000),
        InRange("public_edge.grpc_max_connections_per_address",
                e->grpc_max_connections_per_address(), 1, e->grpc_max_connections()),
        InRange("public_edge.grpc_max_concurrent_streams", e->grpc_max_concurrent_streams(), 1,
                10000),
        InRange("public_edge.grpc_handshake_timeout_seconds", e->grpc_handshake_timeout_seconds(),
                1, 300),
        InRange("public_edge.grpc_idle_timeout_seconds", e->grpc_idle_timeout_seconds(), 1,
                86400),
        InRange("public_edge.grpc_max_connection_age_seconds",
                e->grpc_max_connection_age_seconds(), 60, 604800),
        InRange("public_edge.grpc_max_threads", e->grpc_max_threads(), 4, 10000)}) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// The public edge: defaults, and the keys it cannot run without.
absl::Status FinishPublicEdge(v1::PublicEdgeConfig* e) {
  if (e->https_address().empty() && e->grpc_address().empty()) return absl::OkStatus();
  if (e->cert_file().empty() || e->key_file().empty()) {
    return absl::InvalidArgumentError(
        "public_edge.cert_file and public_edge.key_file are required when public_edge serves "
        "(https_address or grpc_address set)");
  }
  v1::CitizenTokenConfig* t = e->mutable_tokens();
  if (t->issuer().empty() || t->audience().empty() ||
      (t->keys().empty() && t->jwks_file().empty())) {
    return absl::InvalidArgumentError(
        "public_edge.tokens.issuer, .audience and at least one .keys entry or a .jwks_file are "
        "required: citizen tokens are always verified");
  }
  if (t->leeway_seconds() == 0) t->set_leeway_seconds(60);
  if (t->max_lifetime_seconds() == 0) t->set_max_lifetime_seconds(86400);
  if (e->rate_limit_per_second() == 0) e->set_rate_limit_per_second(10);
  if (e->rate_limit_burst() == 0) e->set_rate_limit_burst(20);
  if (e->max_request_bytes() == 0) e->set_max_request_bytes(65536);
  if (e->https_threads() == 0) e->set_https_threads(64);
  if (e->https_keep_alive_seconds() == 0) e->set_https_keep_alive_seconds(30);
  if (e->tls_refresh_seconds() == 0) e->set_tls_refresh_seconds(60);
  if (e->https_max_connections() == 0) e->set_https_max_connections(10000);
  if (e->https_max_connections_per_address() == 0) e->set_https_max_connections_per_address(64);
  if (e->https_handshake_timeout_ms() == 0) e->set_https_handshake_timeout_ms(10000);
  if (e->https_header_timeout_ms() == 0) e->set_https_header_timeout_ms(10000);
  if (e->https_body_timeout_ms() == 0) e->set_https_body_timeout_ms(30000);
  if (e->https_max_header_bytes() == 0) e->set_https_max_header_bytes(16384);
  if (e->https_io_threads() == 0) e->set_https_io_threads(2);
  if (e->https_hsts_max_age_seconds() == 0) e->set_https_hsts_max_age_seconds(31536000);
  if (e->max_calls_in_flight_per_address() == 0) e->set_max_calls_in_flight_per_address(32);
  if (e->max_watches_per_citizen() == 0) e->set_max_watches_per_citizen(5);
  if (e->max_watches() == 0) e->set_max_watches(10000);
  if (e->watch_heartbeat_seconds() == 0) e->set_watch_heartbeat_seconds(15);
  if (e->watch_max_stream_seconds() == 0) e->set_watch_max_stream_seconds(1800);
  if (e->cors_allowed_headers().empty()) {
    for (const std::string& h : edge::DefaultCorsAllowedHeaders()) e->add_cors_allowed_headers(h);
  }
  const std::vector<std::string> origins(e->cors_allowed_origins().begin(),
                                         e->cors_allowed_origins().end());
  const std::vector<std::string> headers(e->cors_allowed_headers().begin(),
                                         e->cors_allowed_headers().end());
  for (absl::Status s : {edge::ValidateCorsOrigins("public_edge.cors_allowed_origins", origins),
                         edge::ValidateCorsHeaders("public_edge.cors_allowed_headers", headers)}) {
    if (!s.ok()) return s;
  }
  if (e->rate_limit_per_second() < 0.01 || e->rate_limit_per_second() > 100000) {
    return absl::InvalidArgumentError(absl::StrCat("public_edge.rate_limit_per_second is ",
                                                   e->rate_limit_per_second(),
                                                   ": must be 0.01 to 100000"));
  }
  for (absl::Status s :
       {InRange("public_edge.tokens.leeway_seconds", t->leeway_seconds(), 0, 600),
        InRange("public_edge.tokens.max_lifetime_seconds", t->max_lifetime_seconds(), 60, 2592000),
        InRange("public_edge.rate_limit_burst", e->rate_limit_burst(), 1, 100000),
        InRange("public_edge.max_request_bytes", e->max_request_bytes(), 1024, 16777216),
        InRange("public_edge.https_threads", e->https_threads(), 2, 4096),
        InRange("public_edge.https_keep_alive_seconds", e->https_keep_alive_seconds(), 1, 3600),
        InRange("public_edge.tls_refresh_seconds", e->tls_refresh_seconds(), 1, 86400),
        InRange("public_edge.https_max_connections", e->https_max_connections(), 1, 1000000),
        InRange("public_edge.https_max_connections_per_address",
                e->https_max_connections_per_address(), 1, 1000000),
        InRange("public_edge.https_handshake_timeout_ms", e->https_handshake_timeout_ms(), 100,
                600000),
        InRange("public_edge.https_header_timeout_ms", e->https_header_timeout_ms(), 100, 600000),
        InRange("public_edge.https_body_timeout_ms", e->https_body_timeout_ms(), 100, 600000),
        InRange("public_edge.https_max_header_bytes", e->https_max_header_bytes(), 1024, 1048576),
        InRange("public_edge.https_io_threads", e->https_io_threads(), 1, 64),
        InRange("public_edge.max_calls_in_flight_per_address", e->max_calls_in_flight_per_address(),
                1, 100000),
        InRange("public_edge.max_watches_per_citizen", e->max_watches_per_citizen(), 1, 1000),
        InRange("public_edge.max_watches", e->max_watches(), 1, 1000000),
        InRange("public_edge.watch_heartbeat_seconds", e->watch_heartbeat_seconds(), 1, 300),
        InRange("public_edge.watch_max_stream_seconds", e->watch_max_stream_seconds(), 10, 86400),
        InRange("public_edge.https_hsts_max_age_seconds", e->https_hsts_max_age_seconds(), -1,
                1000000000)}) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::GatewayConfig> ReadGatewayConfig(const std::string& path) {
  v1::GatewayConfig config;
  if (path.empty()) return config;
  absl::Status read = ReadTextProtoFile(path, &config);
  if (!read.ok()) return read;
  return config;
}

absl::StatusOr<v1::GatewayConfig> FinishGatewayConfig(v1::GatewayConfig c) {
  if (c.listen_address().empty()) c.set_listen_address("127.0.0.1:0");
  if (c.directory_file().empty()) {
    return absl::InvalidArgumentError("directory_file is required: the federation directory");
  }
  if (c.tls().cert_file().empty() || c.tls().key_file().empty() || c.tls().ca_file().empty()) {
    return absl::InvalidArgumentError(
        "tls.cert_file, tls.key_file and tls.ca_file are required: every hop is mTLS");
  }
  Default(c.directory_poll_ms(), 1000, &v1::GatewayConfig::set_directory_poll_ms, &c);
  Default(c.node_deadline_ms(), 500, &v1::GatewayConfig::set_node_deadline_ms, &c);
  Default(c.relay_budget_ms(), 20, &v1::GatewayConfig::set_relay_budget_ms, &c);
  Default(c.catalog_refresh_ms(), 1000, &v1::GatewayConfig::set_catalog_refresh_ms, &c);
  Default(c.catalog_serve_stale_seconds(), 86400,
          &v1::GatewayConfig::set_catalog_serve_stale_seconds, &c);
  Default(c.eject_after_failures(), 3, &v1::GatewayConfig::set_eject_after_failures, &c);
  Default(c.eject_base_ms(), 2000, &v1::GatewayConfig::set_eject_base_ms, &c);
  Default(c.shutdown_grace_seconds(), 10, &v1::GatewayConfig::set_shutdown_grace_seconds, &c);
  Default(c.drain_delay_ms(), 500, &v1::GatewayConfig::set_drain_delay_ms, &c);
  Default(c.max_message_bytes(), 4 * 1024 * 1024, &v1::GatewayConfig::set_max_message_bytes, &c);
  if (absl::Status edge = FinishPublicEdge(c.mutable_public_edge()); !edge.ok()) return edge;
  if (!c.public_edge().grpc_address().empty()) {
    if (absl::Status limits = FinishPublicGrpcLimits(c.mutable_public_edge()); !limits.ok()) {
      return limits;
    }
  }
  for (absl::Status s : {InRange("directory_poll_ms", c.directory_poll_ms(), 50, 600000),
                         InRange("node_deadline_ms", c.node_deadline_ms(), 10, 60000),
                         InRange("relay_budget_ms", c.relay_budget_ms(), 1, 10000),
                         InRange("catalog_refresh_ms", c.catalog_refresh_ms(), 50, 600000),
                         InRange("catalog_serve_stale_seconds", c.catalog_serve_stale_seconds(), 1,
                                 2592000),
                         InRange("eject_after_failures", c.eject_after_failures(), 1, 1000),
                         InRange("eject_base_ms", c.eject_base_ms(), 10, 600000),
                         InRange("shutdown_grace_seconds", c.shutdown_grace_seconds(), 1, 600),
                         InRange("drain_delay_ms", c.drain_delay_ms(), 0, 60000),
                         InRange("max_message_bytes", c.max_message_bytes(), 65536, 67108864)}) {
    if (!s.ok()) return s;
  }
  return c;
}

absl::StatusOr<v1::FederationDirectory> ReadDirectory(const std::string& path) {
  v1::FederationDirectory directory;
  absl::Status read = ReadTextProtoFile(path, &directory);
  if (!read.ok()) return read;
  std::set<std::string> seen;
  for (int i = 0; i < directory.nodes_size(); ++i) {
    const v1::DirectoryNode& n = directory.nodes(i);
    std::string field = absl::StrCat(path, ": nodes[", i, "]");
    absl::Status s = ValidateProvinceCode(field + ".province_code", n.province_code());
    if (!s.ok()) return s;
    if (!seen.insert(n.province_code()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".province_code ", n.province_code(), " is listed twice"));
    }
    if (n.address().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".address is required"));
    }
  }
  return directory;
}

}  // namespace tongban::gateway
