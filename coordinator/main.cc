// anifarm-coordinator: the farm's server.
//
//   anifarm-coordinator --listen HOST:PORT --state-dir DIR [--models-dir DIR]
//                       [--chunk-frames N] [--lease-timeout SECONDS]
//                       [--keep-intermediates] [--http HOST:PORT]
extern "C" {
#include <libavutil/log.h>
}

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <cstdio>
#include <iostream>
#include <utility>
#include <mutex>

#include "absl/strings/str_split.h"
#include "common/cli_args.h"
#include "common/model_catalog.h"
#include "common/termination.h"
#include "coordinator/coordinator.h"
#include "coordinator/dashboard.h"
#include "coordinator/service.h"

namespace {

constexpr char kUsage[] =
    "usage: anifarm-coordinator --listen HOST:PORT --state-dir DIR [--models-dir DIR]\n"
    "                           [--chunk-frames N] [--lease-timeout SECONDS]\n"
    "                           [--keep-intermediates] [--http HOST:PORT]\n"
    "                           [--node-failures N] [--chunk-failure-nodes N]\n"
    "                           [--roots DIR[,DIR...]]\n"
    "  --roots: inputs and outputs must resolve inside these folders (default: anywhere)\n"
    "  --node-failures: failed attempts after which a node gets no more chunks of a job [3]\n"
    "  --chunk-failure-nodes: distinct nodes a chunk may fail on before its job fails [3]\n"
    "  --http serves the web dashboard and /metrics (e.g. --http 127.0.0.1:8080)\n";

int UsageError(const std::string& message) {
  std::cerr << "anifarm-coordinator: " << message << "\n" << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // libavcodec reports every encoder statistic at INFO; users want errors.
  av_log_set_level(AV_LOG_WARNING);
  anifarm::BlockTerminationSignals();
  anifarm::CliArgs args(
      {"listen", "state-dir", "models-dir", "chunk-frames", "lease-timeout", "http",
       "node-failures", "chunk-failure-nodes", "roots"},
      {"keep-intermediates", "help"});
  if (absl::Status s = args.Parse(argc, argv, 1); !s.ok()) return UsageError(std::string(s.message()));
  if (args.Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  if (!args.positional().empty()) return UsageError("unexpected argument " + args.positional()[0]);
  anifarm::CoordinatorOptions options;
  const std::string listen = args.Get("listen", "127.0.0.1:50051");
  options.state_dir = args.Get("state-dir");
  if (options.state_dir.empty()) return UsageError("--state-dir is required");
  options.models_dir = args.Get("models-dir", anifarm::DefaultModelsDir());
  absl::StatusOr<int> chunk_frames = args.GetInt("chunk-frames", options.chunk_frames);
  absl::StatusOr<int> lease = args.GetInt("lease-timeout", options.lease_seconds);
  if (!chunk_frames.ok()) return UsageError(std::string(chunk_frames.status().message()));
  if (!lease.ok()) return UsageError(std::string(lease.status().message()));
  if (*chunk_frames < 1) return UsageError("--chunk-frames must be at least 1");
  if (*lease < 1) return UsageError("--lease-timeout must be at least 1");
  options.chunk_frames = *chunk_frames;
  options.lease_seconds = *lease;
  options.keep_intermediates = args.Has("keep-intermediates");
  if (args.Has("roots")) options.roots = absl::StrSplit(args.Get("roots"), ',', absl::SkipEmpty());
  for (auto [flag, target] : {std::pair<const char*, int*>{"node-failures",
                                                           &options.node_failures_before_blocklist},
                              {"chunk-failure-nodes", &options.chunk_failure_nodes}}) {
    absl::StatusOr<int> value = args.GetInt(flag, *target);
    if (!value.ok()) return UsageError(std::string(value.status().message()));
    if (*value < 1) return UsageError(std::string("--") + flag + " must be at least 1");
    *target = *value;
  }

  absl::StatusOr<std::unique_ptr<anifarm::Coordinator>> coordinator =
      anifarm::Coordinator::Start(options);
  if (!coordinator.ok()) {
    std::cerr << "anifarm-coordinator: " << coordinator.status().message() << "\n";
    return 3;
  }
  anifarm::CoordinatorService service(coordinator->get());
  // The standard grpc.health.v1 service, for load balancers and Kubernetes
  // gRPC probes: SERVING once the database is open and the port is bound.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &bound_port);
  builder.SetMaxReceiveMessageSize(anifarm::kMaxMessageBytes);
  builder.SetMaxSendMessageSize(anifarm::kMaxMessageBytes);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound_port == 0) {
    std::cerr << "anifarm-coordinator: cannot listen on --listen " << listen << "\n";
    return 2;
  }
  std::unique_ptr<anifarm::Dashboard> dashboard;
  if (args.Has("http")) {
    absl::StatusOr<std::unique_ptr<anifarm::Dashboard>> started =
        anifarm::Dashboard::Start(coordinator->get(), args.Get("http"));
    if (!started.ok()) {
      std::cerr << "anifarm-coordinator: " << started.status().message() << "\n";
      return 2;
    }
    dashboard = std::move(*started);
    std::cerr << "anifarm-coordinator: dashboard on http://" << args.Get("http") << "/" << std::endl;
  }
  std::cerr << "anifarm-coordinator: listening on " << listen << ", state in "
            << options.state_dir << ", models in " << options.models_dir << std::endl;
  anifarm::OnTerminationSignal([&server] {
    std::cerr << "anifarm-coordinator: stopping" << std::endl;
    server->Shutdown();
  });
  server->Wait();
  dashboard.reset();
  coordinator->reset();
  std::cerr << "anifarm-coordinator: stopped" << std::endl;
  return 0;
}
