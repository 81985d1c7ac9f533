#include "coordinator/dashboard.h"

#include <httplib.h>  // Debian's is built with OpenSSL: SSLServer for HTTPS

#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/proto_json.h"
#include "common/status_macros.h"
#include "coordinator/client_api.h"
#include "coordinator/dashboard_page.h"

namespace anifarm {
namespace {

// The CLI's --json mapping: 64-bit counts as numbers, which the page adds up.
std::string ToJson(const google::protobuf::Message& message) { return ProtoToJson(message); }

int HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kInvalidArgument: return 400;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kFailedPrecondition: return 409;
    case absl::StatusCode::kUnauthenticated: return 401;
    default: return 500;
  }
}

void ReplyError(httplib::Response& response, const absl::Status& status) {
  response.status = HttpStatusFor(status);
  if (response.status == 401) response.set_header("WWW-Authenticate", "Bearer");
  response.set_content(std::string(status.message()) + "\n", "text/plain");
}

}  // namespace

std::string PrometheusMetrics(Coordinator* coordinator) {
  std::string out;
  absl::StatusOr<std::vector<v1::JobStatus>> jobs = coordinator->ListJobs();
  std::map<std::string, int> by_state = {{"planning", 0}, {"running", 0}, {"assembling", 0},
                                         {"done", 0},     {"failed", 0},  {"cancelled", 0}};
  int64_t upscaled = 0, reused = 0;
  if (jobs.ok()) {
    for (const v1::JobStatus& job : *jobs) {
      std::string state = v1::JobState_Name(job.state());
      state = state.substr(state.find('_') + 1);
      for (char& c : state) c = static_cast<char>(std::tolower(c));
      ++by_state[state];
      upscaled += job.frames_upscaled();
      reused += job.frames_reused();
    }
  }
  absl::StrAppend(&out, "# HELP anifarm_jobs Jobs by state.\n# TYPE anifarm_jobs gauge\n");
  for (const auto& [state, count] : by_state) {
    absl::StrAppend(&out, "anifarm_jobs{state=\"", state, "\"} ", count, "\n");
  }
  absl::StrAppend(&out,
                  "# HELP anifarm_frames_upscaled_total Frames upscaled by nodes.\n"
                  "# TYPE anifarm_frames_upscaled_total counter\n"
                  "anifarm_frames_upscaled_total ", upscaled, "\n",
                  "# HELP anifarm_frames_reused_total Output frames filled by dedup.\n"
                  "# TYPE anifarm_frames_reused_total counter\n"
                  "anifarm_frames_reused_total ", reused, "\n");
  const Coordinator::Counters counters = coordinator->counters();
  absl::StrAppend(&out,
                  "# HELP anifarm_lease_expiries_total Leases that expired and were requeued.\n"
                  "# TYPE anifarm_lease_expiries_total counter\n"
                  "anifarm_lease_expiries_total ", counters.lease_expiries, "\n",
                  "# HELP anifarm_chunk_failures_total Chunk failures reported or refused.\n"
                  "# TYPE anifarm_chunk_failures_total counter\n"
                  "anifarm_chunk_failures_total ", counters.chunk_failures, "\n",
                  "# HELP anifarm_chunk_retries_total Chunks leased again after a failure or "
                  "an expired lease.\n"
                  "# TYPE anifarm_chunk_retries_total counter\n"
                  "anifarm_chunk_retries_total ", counters.chunk_retries, "\n");
  absl::StrAppend(&out, coordinator->rpc_stats()->PrometheusText());
  absl::StatusOr<std::vector<v1::NodeInfo>> nodes = coordinator->ListNodes();
  absl::StrAppend(&out,
                  "# HELP anifarm_node_frames_upscaled_total Frames upscaled per node.\n"
                  "# TYPE anifarm_node_frames_upscaled_total counter\n");
  if (nodes.ok()) {
    for (const v1::NodeInfo& node : *nodes) {
      absl::StrAppend(&out, "anifarm_node_frames_upscaled_total{node=\"", node.node_id(),
                      "\",device=\"", node.device(), "\"} ", node.frames_upscaled(), "\n");
    }
    absl::StrAppend(&out,
                    "# HELP anifarm_node_fps Frames upscaled per second of work, per node.\n"
                    "# TYPE anifarm_node_fps gauge\n");
    for (const v1::NodeInfo& node : *nodes) {
      absl::StrAppend(&out, "anifarm_node_fps{node=\"", node.node_id(), "\"} ", node.fps(), "\n");
    }
    // Per-node byte gauges: what the node advertised, and its memory as last
    // reported (device-wide, then its own share: LibTorch's caching
    // allocator and its model cache).
    const struct {
      const char* name;
      const char* help;
      int64_t (*value)(const v1::NodeInfo&);
    } node_gauges[] = {
        {"anifarm_node_memory_bytes", "Memory the node advertised for models.",
         [](const v1::NodeInfo& n) { return n.memory_bytes(); }},
        {"anifarm_node_memory_in_use_bytes",
         "Device memory in use, as last reported (GPU: device-wide; CPU: the node's resident memory).",
         [](const v1::NodeInfo& n) { return n.memory_usage().in_use_bytes(); }},
        {"anifarm_node_memory_free_bytes", "Device memory free, as last reported (-1 unknown).",
         [](const v1::NodeInfo& n) { return n.memory_usage().free_bytes(); }},
        {"anifarm_node_memory_allocated_bytes", "Bytes in the node's live tensors (CUDA; -1 unknown).",
         [](const v1::NodeInfo& n) { return n.memory_usage().allocated_bytes(); }},
        {"anifarm_node_memory_reserved_bytes",
         "Bytes the node's caching allocator holds from the driver (CUDA; -1 unknown).",
         [](const v1::NodeInfo& n) { return n.memory_usage().reserved_bytes(); }},
        {"anifarm_node_model_cache_bytes", "Weights of the models the node holds on its device.",
         [](const v1::NodeInfo& n) { return n.memory_usage().model_cache_bytes(); }},
        {"anifarm_node_model_cache_budget_bytes", "The memory budget of the node's model cache.",
         [](const v1::NodeInfo& n) { return n.memory_usage().model_cache_budget_bytes(); }},
    };
    for (const auto& gauge : node_gauges) {
      absl::StrAppend(&out, "# HELP ", gauge.name, " ", gauge.help, "\n# TYPE ", gauge.name, " gauge\n");
      for (const v1::NodeInfo& node : *nodes) {
        absl::StrAppend(&out, gauge.name, "{node=\"", node.node_id(), "\"} ", gauge.value(node), "\n");
      }
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Dashboard>> Dashboard::Start(Coordinator* coordinator,
                                                            const std::string& address,
                                                            const AccessControl* access,
                                                            const DashboardTls& tls) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("--http '", address, "' is not HOST:PORT"));
  }
  const std::string host = address.substr(0, colon);
  std::unique_ptr<Dashboard> dashboard(new Dashboard());
  if (tls.cert_file.empty()) {
    dashboard->server_ = std::make_unique<httplib::Server>();
  } else {
    auto https = std::make_unique<httplib::SSLServer>(tls.cert_file.c_str(), tls.key_file.c_str());
    if (!https->is_valid()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tls-cert ", tls.cert_file, " / --tls-key ", tls.key_file,
          ": not a usable certificate and key for the dashboard"));
    }
    dashboard->server_ = std::move(https);
  }
  httplib::Server& server = *dashboard->server_;

  // Every API call acts as the caller named by its Authorization header.
  auto api_for = [coordinator, access](const httplib::Request& request) -> absl::StatusOr<ClientApi> {
    std::optional<std::string_view> token;
    const std::string header = request.get_header_value("Authorization");
    if (request.has_header("Authorization")) {
      token = BearerToken(header);  // a view into `header`
      if (!token) return absl::UnauthenticatedError("Authorization is not `Bearer TOKEN`");
    }
    ASSIGN_OR_RETURN(Principal caller, access->Authenticate(token, std::nullopt,
                                                            absl::ToUnixSeconds(absl::Now())));
    return ClientApi(coordinator, std::move(caller));
  };

  server.Get("/", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(kDashboardPage, "text/html; charset=utf-8");
  });
  server.Get("/api/jobs", [api_for](const httplib::Request& request, httplib::Response& response) {
    absl::StatusOr<ClientApi> api = api_for(request);
    if (!api.ok()) return ReplyError(response, api.status());
    absl::StatusOr<std::vector<v1::JobStatus>> jobs = api->ListJobs();
    if (!jobs.ok()) return ReplyError(response, jobs.status());
    v1::ListJobsResponse list;
    for (auto& job : *jobs) *list.add_jobs() = std::move(job);
    response.set_content(ToJson(list), "application/json");
  });
  server.Get(R"(/api/jobs/([\w-]+)/chunks)",
             [api_for](const httplib::Request& request, httplib::Response& response) {
               absl::StatusOr<ClientApi> api = api_for(request);
               if (!api.ok()) return ReplyError(response, api.status());
               auto chunks = api->ListChunks(request.matches[1]);
               if (!chunks.ok()) return ReplyError(response, chunks.status());
               v1::ListChunksResponse list;
               for (auto& chunk : *chunks) *list.add_chunks() = std::move(chunk);
               response.set_content(ToJson(list), "application/json");
             });
  server.Get(R"(/api/jobs/([\w-]+)/preview)",
             [api_for](const httplib::Request& request, httplib::Response& response) {
               absl::StatusOr<ClientApi> api = api_for(request);
               if (!api.ok()) return ReplyError(response, api.status());
               const bool before = request.get_param_value("side") == "before";
               absl::StatusOr<std::string> png = api->Preview(request.matches[1], before);
               if (!png.ok()) return ReplyError(response, png.status());
               response.set_header("Cache-Control", "no-store");
               response.set_content(*png, "image/png");
             });
  // Job actions, the same as the CLI's cancel/pause/resume/retry.
  server.Post(R"(/api/jobs/([\w-]+)/(cancel|pause|resume|retry))",
              [api_for](const httplib::Request& request, httplib::Response& response) {
                absl::StatusOr<ClientApi> api = api_for(request);
                if (!api.ok()) return ReplyError(response, api.status());
                absl::StatusOr<v1::JobState> state =
                    api->Act(std::string(request.matches[2]), request.matches[1]);
                if (!state.ok()) return ReplyError(response, state.status());
                v1::JobActionResponse reply;
                reply.set_state(*state);
                response.set_content(ToJson(reply), "application/json");
              });
  server.Get("/api/nodes", [api_for](const httplib::Request& request, httplib::Response& response) {
    absl::StatusOr<ClientApi> api = api_for(request);
    if (!api.ok()) return ReplyError(response, api.status());
    auto nodes = api->ListNodes();
    if (!nodes.ok()) return ReplyError(response, nodes.status());
    v1::ListNodesResponse list;
    for (auto& node : *nodes) *list.add_nodes() = std::move(node);
    response.set_content(ToJson(list), "application/json");
  });
  server.Get("/metrics", [api_for, coordinator](const httplib::Request& request,
                                                httplib::Response& response) {
    absl::StatusOr<ClientApi> api = api_for(request);
    if (!api.ok()) return ReplyError(response, api.status());
    if (absl::Status allowed = api->CheckCanView(); !allowed.ok()) {
      return ReplyError(response, allowed);
    }
    response.set_content(PrometheusMetrics(coordinator), "text/plain; version=0.0.4");
  });

  if (port == 0) {
    dashboard->port_ = server.bind_to_any_port(host);
  } else {
    dashboard->port_ = server.bind_to_port(host, port) ? port : -1;
  }
  if (dashboard->port_ <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("--http ", address, ": cannot listen there"));
  }
  dashboard->thread_ = std::thread([&server] { server.listen_after_bind(); });
  return dashboard;
}

Dashboard::~Dashboard() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace anifarm
