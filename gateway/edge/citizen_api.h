// CitizenApi: what the public CitizenService does, whichever way it is
// reached (gRPC or REST). Catalog questions are answered like the federation
// queries (cache, fan-out); application calls go to the nodes with the
// verified citizen id stamped (x-tongban-citizen-id), and the nodes enforce
// the citizen's rules (own applications only; another's answers NOT_FOUND).
// Authentication and rate limiting happen before, in CitizenGate.
#pragma once

#include <string>

#include "absl/time/time.h"
#include "grpcpp/support/status.h"
#include "node_call.h"
#include "query_service.h"
#include "tongban/v1/citizen.pb.h"

namespace tongban::edge {

// Who is calling and until when.
struct CitizenCaller {
  std::string citizen_id;  // "" = anonymous (catalog routes only)
  absl::Time deadline = absl::InfiniteFuture();
};

struct CitizenApiOptions {
  absl::Duration node_deadline = absl::Milliseconds(500);  // each node of a fan-out
};

class CitizenApi {
 public:
  // Pointers are not owned and must outlive the API.
  CitizenApi(gateway::NodeCaller nodes, gateway::QueryServiceImpl* queries,
             CitizenApiOptions options);

  grpc::Status SearchGuides(const CitizenCaller& caller, const v1::SearchGuidesRequest& req,
                            v1::SearchGuidesResponse* resp);
  grpc::Status FindWhereToFile(const CitizenCaller& caller, const v1::FindWhereToFileRequest& req,
                               v1::FindWhereToFileResponse* resp);
  grpc::Status GetItemGuide(const CitizenCaller& caller, const v1::GetItemGuideRequest& req,
                            v1::GetItemGuideResponse* resp);
  grpc::Status CheckMaterials(const CitizenCaller& caller, const v1::CheckMaterialsRequest& req,
                              v1::CheckMaterialsResponse* resp);
  grpc::Status SubmitMyApplication(const CitizenCaller& caller,
                                   const v1::SubmitMyApplicationRequest& req,
                                   v1::SubmitMyApplicationResponse* resp);
  grpc::Status ListMyApplications(const CitizenCaller& caller,
                                  const v1::ListMyApplicationsRequest& req,
                                  v1::ListMyApplicationsResponse* resp);
  grpc::Status GetMyApplication(const CitizenCaller& caller, const v1::GetMyApplicationRequest& req,
                                v1::GetMyApplicationResponse* resp);
  grpc::Status SupplementMyMaterials(const CitizenCaller& caller,
                                     const v1::SupplementMyMaterialsRequest& req,
                                     v1::SupplementMyMaterialsResponse* resp);
  grpc::Status WithdrawMyApplication(const CitizenCaller& caller,
                                     const v1::WithdrawMyApplicationRequest& req,
                                     v1::WithdrawMyApplicationResponse* resp);

 private:
  absl::Time NodeDeadline(const CitizenCaller& caller) const;

  const gateway::NodeCaller nodes_;
  gateway::QueryServiceImpl* const queries_;
  const CitizenApiOptions options_;
};

}  // namespace tongban::edge
