// The default service config of a channel to a province's node, which may be
// several replicas behind one name (a headless Service, "ipv4:a,b,c"):
// round robin over every address, and client-side health checking
// (grpc.health.v1 Watch) so that a replica that answers NOT_SERVING, as a
// node does while it drains on SIGTERM (drain_delay_ms), gets no new calls.
// Without it a call picked for a draining replica in the instant before its
// GOAWAY arrives is cancelled; with it, a rolling restart fails no call
// (tests/federation/rolling_restart_test.cc).
#pragma once

namespace tongban {

inline constexpr char kReplicaServiceConfig[] =
    R"({"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":""}})";

}  // namespace tongban
