// Metric labels of gRPC calls stay bounded: only methods the binary's protos
// define keep their names; invented ones share one "unknown" label.
#include "grpc_server_metrics.h"

#include <gtest/gtest.h>

#include "prometheus/registry.h"
#include "tongban/v1/application.pb.h"
#include "tongban/v1/citizen.pb.h"

namespace tongban {
namespace {

TEST(GrpcServerMetricsTest, KnownMethodsKeepTheirNames) {
  (void)v1::GetMyApplicationRequest::descriptor();  // links citizen.proto into the pool
  MethodLabels l = LabelsOfMethod("/tongban.v1.CitizenService/GetMyApplication");
  EXPECT_EQ(l.service, "tongban.v1.CitizenService");
  EXPECT_EQ(l.method, "GetMyApplication");
  l = LabelsOfMethod("/tongban.v1.ApplicationService/SubmitApplication");
  EXPECT_EQ(l.method, "SubmitApplication");
}

TEST(GrpcServerMetricsTest, InventedMethodNamesShareOneLabel) {
  for (const char* name :
       {"/tongban.v1.CitizenService/NoSuchMethod", "/no.such.Service/Method", "/x/y", "", "/",
        "//", "noslash", "/tongban.v1.CitizenService/", "/tongban.v1/CitizenService/GetMyApplication",
        "/tongban.v1.CitizenService.GetMyApplication", "/tongban.v1.Applicant/Name"}) {
    SCOPED_TRACE(name);
    MethodLabels l = LabelsOfMethod(name);
    EXPECT_EQ(l.service, "unknown");
    EXPECT_EQ(l.method, "unknown");
  }
  MethodLabels l = LabelsOfMethod(nullptr);
  EXPECT_EQ(l.method, "unknown");
}

}  // namespace
}  // namespace tongban
