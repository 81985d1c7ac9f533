// anifarm-coordinator: the farm's server.
//
//   anifarm-coordinator --listen HOST:PORT --state-dir DIR [--models-dir DIR]
//                       [--chunk-frames N] [--lease-timeout SECONDS]
//                       [--keep-intermediates] [--http HOST:PORT]
//                       [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]
//                       [--tokens FILE] [--insecure]
//
// Transport policy: on a loopback address plaintext and open access are the
// single-user default. Anywhere else the coordinator wants TLS and a token
// file, and starts without them only with --insecure (and says so).
extern "C" {
#include <libavutil/log.h>
}

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_split.h"
#include "common/cli_args.h"
#include "common/logging.h"
#include "common/model_catalog.h"
#include "common/termination.h"
#include "coordinator/access_control.h"
#include "coordinator/coordinator.h"
#include "coordinator/dashboard.h"
#include "coordinator/server_credentials.h"
#include "coordinator/service.h"

namespace {

constexpr char kUsage[] =
    "usage: anifarm-coordinator --listen HOST:PORT --state-dir DIR [--models-dir DIR]\n"
    "                           [--chunk-frames N] [--lease-timeout SECONDS]\n"
    "                           [--keep-intermediates] [--http HOST:PORT]\n"
    "                           [--node-failures N] [--chunk-failure-nodes N]\n"
    "                           [--stall-grace SECONDS]\n"
    "                           [--roots DIR[,DIR...]]\n"
    "                           [--tls-cert FILE --tls-key FILE] [--tls-client-ca FILE]\n"
    "                           [--tokens FILE] [--insecure] [--health HOST:PORT]\n"
    "                           [--max-frame-side N] [--max-frames-per-job N]\n"
    "                           [--max-jobs-per-user N] [--max-upload-size SIZE]\n"
    "                           [--max-message-size SIZE] [--series-cache SIZE]\n"
    "  --tls-cert/--tls-key: serve gRPC (and the dashboard) over TLS with this PEM pair\n"
    "  --tls-client-ca: verify node client certificates against this CA (mutual TLS)\n"
    "  --tokens: bearer tokens and their roles, one `ROLE NAME TOKEN [EXPIRES]` per line\n"
    "            (roles viewer, submitter, admin, node; docs/security.md)\n"
    "  --insecure: allow plaintext or open access on a non-loopback address\n"
    "  --health HOST:PORT: plaintext grpc.health.v1 only, for probes that cannot use TLS\n"
    "Limits, refused before any work (docs/security.md):\n"
    "  --max-frame-side N: input and output frame width/height [16384]\n"
    "  --max-frames-per-job N: frames of one input, 0 = none [0]\n"
    "  --max-jobs-per-user N: unfinished jobs per user, 0 = none [0]\n"
    "  --max-upload-size SIZE: one uploaded input, e.g. 20G [64G]\n"
    "  --max-message-size SIZE: one gRPC message [512M]\n"
    "  --roots: inputs and outputs must resolve inside these folders (default: anywhere)\n"
    "  --node-failures: failed attempts after which a node gets no more chunks of a job [3]\n"
    "  --chunk-failure-nodes: distinct nodes a chunk may fail on before its job fails [3]\n"
    "  --stall-grace: how long a running job may have queued chunks no live node can\n"
    "                 take before it fails saying why [two lease timeouts]\n"
    "  --http serves the web dashboard and /metrics (e.g. --http 127.0.0.1:8080)\n"
    "  --series-cache SIZE: upscaled pictures kept across jobs (openings, endings), 0 = off\n"
    "                       [10G]; `anifarm cache` shows and clears it\n"
    "Exit status: 0 stopped, 2 bad usage, 3 the state folder or database cannot be opened.\n";

int UsageError(const std::string& message) {
  std::cerr << "anifarm-coordinator: " << message << "\n" << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // libavcodec reports every encoder statistic at INFO; users want errors.
  av_log_set_level(AV_LOG_WARNING);
  anifarm::BlockTerminationSignals();
  anifarm::InitLogging("anifarm-coordinator", /*daemon=*/true);
  anifarm::CliArgs args(
      {"listen", "state-dir", "models-dir", "chunk-frames", "lease-timeout", "http",
       "node-failures", "chunk-failure-nodes", "stall-grace", "roots", "tls-cert", "tls-key",
       "tls-client-ca", "tokens", "health", "max-frame-side", "max-frames-per-job",
       "max-jobs-per-user", "max-upload-size", "max-message-size", "series-cache"},
      {"keep-intermediates", "help", "insecure"});
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
  if (args.Has("stall-grace")) {
    absl::StatusOr<int> grace = args.GetInt("stall-grace", 0);
    if (!grace.ok()) return UsageError(std::string(grace.status().message()));
    if (*grace < 1) return UsageError("--stall-grace must be at least 1");
    options.stall_grace_seconds = *grace;
  }

  for (auto [flag, target] : {std::pair<const char*, int*>{"max-frame-side",
                                                           &options.limits.max_frame_side},
                              {"max-jobs-per-user", &options.limits.max_jobs_per_user}}) {
    absl::StatusOr<int> value = args.GetInt(flag, *target);
    if (!value.ok()) return UsageError(std::string(value.status().message()));
    if (*value < 0) return UsageError(std::string("--") + flag + " must not be negative");
    *target = *value;
  }
  if (options.limits.max_frame_side < 16) return UsageError("--max-frame-side must be at least 16");
  if (args.Has("max-frames-per-job")) {
    absl::StatusOr<int> frames = args.GetInt("max-frames-per-job", 0);
    if (!frames.ok() || *frames < 0) {
      return UsageError("--max-frames-per-job '" + args.Get("max-frames-per-job") +
                        "' is not a frame count");
    }
    options.limits.max_frames_per_job = *frames;
  }
  if (args.Has("max-upload-size")) {
    options.limits.max_upload_bytes = anifarm::ParseByteSize(args.Get("max-upload-size"));
    if (options.limits.max_upload_bytes <= 0) {
      return UsageError("--max-upload-size '" + args.Get("max-upload-size") +
                        "' is not a size like 20G or 512M");
    }
  }
  if (args.Has("series-cache")) {
    const std::string size = args.Get("series-cache");
    options.series_cache_bytes = size == "0" ? 0 : anifarm::ParseByteSize(size);
    if (options.series_cache_bytes < 0 || (options.series_cache_bytes == 0 && size != "0")) {
      return UsageError("--series-cache '" + size + "' is not a size like 10G, or 0");
    }
  }
  int64_t max_message_bytes = anifarm::kMaxMessageBytes;
  if (args.Has("max-message-size")) {
    max_message_bytes = anifarm::ParseByteSize(args.Get("max-message-size"));
    // Below a few MiB a chunk's result no longer fits; gRPC takes an int.
    if (max_message_bytes < (4 << 20) || max_message_bytes > (int64_t{2} << 30) - 1) {
      return UsageError("--max-message-size '" + args.Get("max-message-size") +
                        "' is not a size between 4M and 2047M");
    }
  }

  // Who may call, and over what.
  anifarm::AccessControl access;
  if (args.Has("tokens")) {
    absl::StatusOr<anifarm::AccessControl> loaded =
        anifarm::AccessControl::FromTokenFile(args.Get("tokens"));
    if (!loaded.ok()) return UsageError(std::string(loaded.status().message()));
    access = *std::move(loaded);
  }
  const bool tls = args.Has("tls-cert") || args.Has("tls-key");
  if (args.Has("tls-cert") != args.Has("tls-key")) {
    return UsageError("--tls-cert and --tls-key go together");
  }
  if (args.Has("tls-client-ca") && !tls) return UsageError("--tls-client-ca needs --tls-cert");
  for (const auto& [flag, address] :
       {std::pair<std::string, std::string>{"--listen", listen},
        {"--http", args.Has("http") ? args.Get("http") : "127.0.0.1:0"}}) {
    if (anifarm::IsLoopbackAddress(address)) continue;
    std::string missing;
    if (!tls) missing = "--tls-cert/--tls-key";
    if (!access.enabled()) missing += missing.empty() ? "--tokens" : " and --tokens";
    if (missing.empty()) continue;
    if (!args.Has("insecure")) {
      return UsageError(flag + " " + address + " is reachable from other machines: give " +
                        missing + ", or --insecure to run without (not recommended)");
    }
    spdlog::warn("{} {} without {} (--insecure): anyone on the network can {}", flag, address,
                 missing, access.enabled() ? "read the traffic" : "control this farm");
  }
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (tls) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> made = anifarm::MakeServerCredentials(
        args.Get("tls-cert"), args.Get("tls-key"), args.Get("tls-client-ca"));
    if (!made.ok()) return UsageError(std::string(made.status().message()));
    credentials = *std::move(made);
  }

  absl::StatusOr<std::unique_ptr<anifarm::Coordinator>> coordinator =
      anifarm::Coordinator::Start(options);
  if (!coordinator.ok()) {
    spdlog::error("{}", std::string(coordinator.status().message()));
    return 3;
  }
  anifarm::CoordinatorService service(coordinator->get(), &access);
  // The standard grpc.health.v1 service, for load balancers and Kubernetes
  // gRPC probes: SERVING once the database is open and the port is bound.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(listen, credentials, &bound_port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(max_message_bytes));
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound_port == 0) {
    spdlog::error("cannot listen on --listen {}", listen);
    return 2;
  }
  // Kubernetes' gRPC probes cannot speak TLS: --health serves only
  // grpc.health.v1, in plaintext, on a port of its own (it reveals nothing
  // but SERVING).
  std::unique_ptr<grpc::Server> health_server;
  std::unique_ptr<grpc::ServerCompletionQueue> health_queue;
  std::thread health_poller;
  if (args.Has("health")) {
    grpc::ServerBuilder health_builder;
    int health_port = 0;
    health_builder.AddListeningPort(args.Get("health"), grpc::InsecureServerCredentials(),
                                    &health_port);
    // With no service of ours on it, gRPC serves the default health
    // service on its own thread but insists on one polled queue.
    health_queue = health_builder.AddCompletionQueue(/*is_frequently_polled=*/true);
    health_server = health_builder.BuildAndStart();
    health_poller = std::thread([queue = health_queue.get()] {
      void* tag;
      bool ok;
      while (queue->Next(&tag, &ok)) {
      }
    });
    if (!health_server || health_port == 0) {
      spdlog::error("cannot listen on --health {}", args.Get("health"));
      return 2;
    }
  }
  std::unique_ptr<anifarm::Dashboard> dashboard;
  if (args.Has("http")) {
    absl::StatusOr<std::unique_ptr<anifarm::Dashboard>> started =
        anifarm::Dashboard::Start(coordinator->get(), args.Get("http"), &access,
                                  {args.Get("tls-cert"), args.Get("tls-key")});
    if (!started.ok()) {
      spdlog::error("{}", std::string(started.status().message()));
      return 2;
    }
    dashboard = std::move(*started);
    spdlog::info("dashboard on {}{}/", tls ? "https://" : "http://", args.Get("http"));
  }
  spdlog::info("listening on {} ({}{}{}), state in {}, models in {}", listen,
               tls ? "TLS" : "plaintext",
               args.Has("tls-client-ca") ? ", node certificates verified" : "",
               access.enabled() ? ", tokens required" : ", open access", options.state_dir,
               options.models_dir);
  anifarm::OnTerminationSignal([&server, &health_server] {
    spdlog::info("stopping");
    if (health_server) health_server->Shutdown();
    server->Shutdown();
  });
  server->Wait();
  if (health_server) {
    health_server->Wait();
    health_queue->Shutdown();
    health_poller.join();
  }
  dashboard.reset();
  coordinator->reset();
  spdlog::info("stopped");
  return 0;
}
