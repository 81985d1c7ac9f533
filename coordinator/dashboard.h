// Dashboard: the coordinator's small HTTP face (cpp-httplib).
//
//   GET  /                          the live web UI (dashboard_page.h)
//   GET  /api/jobs                  v1::ListJobsResponse as JSON
//   GET  /api/jobs/{id}/chunks      v1::ListChunksResponse as JSON
//   GET  /api/jobs/{id}/preview?side=after|before   PNG of the latest frame
//   POST /api/jobs/{id}/cancel      cancel a job
//   GET  /api/nodes                 v1::ListNodesResponse as JSON
//   GET  /metrics                   Prometheus text format
//
// JSON uses the protobuf JSON mapping with the .proto field names, the same
// as `anifarm ... --json`.
//
// Every route but the page itself acts as the caller named by an
// "Authorization: Bearer TOKEN" header, with the same rules as the gRPC API
// (client_api.h): 401 without valid credentials when access control is on,
// 403 for what the caller's role may not do. /metrics needs a viewer token.
#ifndef ANIFARM_COORDINATOR_DASHBOARD_H_
#define ANIFARM_COORDINATOR_DASHBOARD_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "coordinator/access_control.h"
#include "coordinator/coordinator.h"

namespace httplib {
class Server;
}

namespace anifarm {

// PEM certificate and key: set, the dashboard speaks HTTPS only.
struct DashboardTls {
  std::string cert_file;
  std::string key_file;
};

class Dashboard {
 public:
  // Serves on `address` (HOST:PORT) from a background thread until
  // destroyed; `access` (not owned) must outlive it. InvalidArgument when
  // the address cannot be bound or the certificate cannot be used.
  static absl::StatusOr<std::unique_ptr<Dashboard>> Start(Coordinator* coordinator,
                                                          const std::string& address,
                                                          const AccessControl* access,
                                                          const DashboardTls& tls = {});
  ~Dashboard();

  int port() const { return port_; }

 private:
  Dashboard() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// The /metrics body, exposed for tests.
std::string PrometheusMetrics(Coordinator* coordinator);

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_DASHBOARD_H_
