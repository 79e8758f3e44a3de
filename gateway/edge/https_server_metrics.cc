#include "https_server_metrics.h"

#include <string>

namespace tongban::edge {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void Add(MetricFamily* f, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f->type == MetricType::Gauge) {
    m.gauge.value = value;
  } else {
    m.counter.value = value;
  }
  f->metric.push_back(std::move(m));
}

}  // namespace

std::vector<MetricFamily> HttpsServerCollector::Collect() const {
  const HttpsServerStats s = stats_();
  std::vector<MetricFamily> out;
  MetricFamily open = Family("tongban_edge_https_connections",
                             "HTTPS connections open on the public edge", MetricType::Gauge);
  Add(&open, static_cast<double>(s.open_connections));
  out.push_back(std::move(open));
  MetricFamily accepted = Family("tongban_edge_https_connections_accepted_total",
                                 "HTTPS connections admitted", MetricType::Counter);
  Add(&accepted, static_cast<double>(s.accepted));
  out.push_back(std::move(accepted));
  MetricFamily refused =
      Family("tongban_edge_https_refused_total",
             "HTTPS connections or requests refused by a limit: per_address and total "
             "(connections, closed before TLS), overloaded (requests answered 503)",
             MetricType::Counter);
  Add(&refused, static_cast<double>(s.refused_address_limit), {{"reason", "per_address"}});
  Add(&refused, static_cast<double>(s.refused_total_limit), {{"reason", "total"}});
  Add(&refused, static_cast<double>(s.overloaded), {{"reason", "overloaded"}});
  out.push_back(std::move(refused));
  MetricFamily closed = Family("tongban_edge_https_closed_total",
                               "HTTPS connections the edge closed on a client's fault: timeout "
                               "(handshake excluded), handshake (failed or timed out), "
                               "bad_request (framing or size: 400/413/431)",
                               MetricType::Counter);
  Add(&closed, static_cast<double>(s.timeouts), {{"reason", "timeout"}});
  Add(&closed, static_cast<double>(s.handshake_failures), {{"reason", "handshake"}});
  Add(&closed, static_cast<double>(s.bad_framing), {{"reason", "bad_request"}});
  out.push_back(std::move(closed));
  MetricFamily h2 = Family("tongban_edge_https_http2_connections_total",
                           "HTTPS connections that chose HTTP/2 (ALPN h2)", MetricType::Counter);
  Add(&h2, static_cast<double>(s.http2_connections));
  out.push_back(std::move(h2));
  return out;
}

}  // namespace tongban::edge
