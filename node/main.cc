// anifarm-node: a GPU (or CPU) worker of the farm.
//
//   anifarm-node --coordinator HOST:PORT --cache-dir DIR [--device DEVICE[,DEVICE...]]
//
// One worker per device: `--device cuda:all` (or `cuda:0,cuda:1`) runs a
// worker on each GPU, each registered as its own node and leasing its own
// chunks, sharing the process's model cache folder and connection.
//                [--tls-ca FILE [--tls-cert FILE --tls-key FILE]] [--token-file FILE]
extern "C" {
#include <libavutil/log.h>
}

#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>
#include <iostream>

#include <spdlog/spdlog.h>

#include "absl/strings/str_split.h"
#include "common/cli_args.h"
#include "common/grpc_client.h"
#include "common/logging.h"
#include "common/termination.h"
#include "node/engine/torch_engine.h"
#include "node/grpc_work_source.h"
#include "node/node_worker.h"

namespace {

constexpr char kUsage[] =
    "usage: anifarm-node --coordinator HOST:PORT --cache-dir DIR [--device DEVICE[,DEVICE...]]\n"
    "                    [--max-memory SIZE] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]\n"
    "                    [--token-file FILE]\n"
    "  --device: cpu, cuda, cuda:N, cuda:all, or a comma-separated list: one worker\n"
    "  (and one node on the coordinator) per device [cpu]\n"
    "  --max-memory caps the memory advertised to the coordinator (e.g. 6G, 512M):\n"
    "  jobs whose model needs more are not given to this node [the device's memory]\n"
    "  --tls-ca: CA of the coordinator's certificate; the connection uses TLS\n"
    "  --tls-cert/--tls-key: this node's client certificate (mutual TLS; its common\n"
    "  name is the node's name on the coordinator)\n"
    "  --token-file: file holding this node's enrollment token [$ANIFARM_NODE_TOKEN]\n"
    "  $ANIFARM_MODEL_CACHE: memory budget of the model cache (e.g. 2G) [a quarter\n"
    "  of the device's memory]\n"
    "Exit status: 0 stopped, 2 bad usage, 3 bad device, 6 credentials refused.\n";

// "cuda:all" → every CUDA device; a comma-separated list → its items.
absl::StatusOr<std::vector<std::string>> ExpandDevices(const std::string& spec) {
  std::vector<std::string> devices;
  for (absl::string_view item : absl::StrSplit(spec, ',', absl::SkipEmpty())) {
    if (item == "cuda:all") {
      const int count = anifarm::CudaDeviceCount();
      if (count == 0) {
        return absl::InvalidArgumentError("--device cuda:all: no CUDA device is available");
      }
      for (int i = 0; i < count; ++i) devices.push_back("cuda:" + std::to_string(i));
    } else {
      devices.emplace_back(item);
    }
  }
  if (devices.empty()) return absl::InvalidArgumentError("--device names no device");
  return devices;
}

int UsageError(const std::string& message) {
  std::cerr << "anifarm-node: " << message << "\n" << kUsage;
  return 2;
}

std::string Hostname() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

}  // namespace

int main(int argc, char** argv) {
  // libavcodec reports every encoder statistic at INFO; users want errors.
  av_log_set_level(AV_LOG_WARNING);
  anifarm::BlockTerminationSignals();
  anifarm::InitLogging("anifarm-node", /*daemon=*/true);
  anifarm::CliArgs args({"coordinator", "cache-dir", "device", "max-memory", "tls-ca", "tls-cert",
                         "tls-key", "token-file"},
                        {"help"});
  if (absl::Status s = args.Parse(argc, argv, 1); !s.ok()) return UsageError(std::string(s.message()));
  if (args.Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  if (!args.positional().empty()) return UsageError("unexpected argument " + args.positional()[0]);
  const char* env_coordinator = std::getenv("ANIFARM_COORDINATOR");
  const std::string coordinator =
      args.Get("coordinator", env_coordinator && *env_coordinator ? env_coordinator
                                                                   : "127.0.0.1:50051");
  anifarm::NodeWorkerOptions options;
  options.cache_dir = args.Get("cache-dir");
  if (options.cache_dir.empty()) return UsageError("--cache-dir is required");
  options.hostname = Hostname();
  if (args.Has("max-memory")) {
    options.max_memory_bytes = anifarm::ParseByteSize(args.Get("max-memory"));
    if (options.max_memory_bytes <= 0) {
      return UsageError("--max-memory '" + args.Get("max-memory") + "' is not a size like 6G or 512M");
    }
  }
  absl::StatusOr<std::vector<std::string>> devices = ExpandDevices(args.Get("device", "cpu"));
  if (!devices.ok()) return UsageError(std::string(devices.status().message()));
  std::vector<std::unique_ptr<anifarm::UpscalerEngine>> engines;
  for (const std::string& device : *devices) {
    absl::StatusOr<std::unique_ptr<anifarm::UpscalerEngine>> engine =
        anifarm::CreateTorchEngine(device);
    if (!engine.ok()) {
      spdlog::error("--device {}: {}", device, std::string(engine.status().message()));
      return engine.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 3;
    }
    engines.push_back(*std::move(engine));
  }
  anifarm::ChannelSecurity security;
  security.tls_ca_file = args.Get("tls-ca");
  security.tls_cert_file = args.Get("tls-cert");
  security.tls_key_file = args.Get("tls-key");
  // A token never goes on the command line, where `ps` shows it.
  if (args.Has("token-file")) {
    absl::StatusOr<std::string> token = anifarm::ReadTokenFile(args.Get("token-file"));
    if (!token.ok()) return UsageError(std::string(token.status().message()));
    security.token = *token;
  } else if (const char* env = std::getenv("ANIFARM_NODE_TOKEN"); env && *env) {
    security.token = env;
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      anifarm::MakeCoordinatorChannel(coordinator, security);
  if (!channel.ok()) return UsageError(std::string(channel.status().message()));
  anifarm::GrpcWorkSource source(coordinator, *channel);
  std::atomic<bool> stop{false};
  anifarm::OnTerminationSignal([&stop] {
    spdlog::info("stopping");
    stop = true;
  });
  std::mutex refused_mu;
  absl::Status refused;
  std::vector<std::thread> workers;
  for (const std::unique_ptr<anifarm::UpscalerEngine>& engine : engines) {
    spdlog::info("worker on {} ({}), coordinator {}", engine->device(), engine->device_name(),
                 coordinator);
    workers.emplace_back([&, engine = engine.get()] {
      anifarm::NodeWorker worker(&source, engine, options);
      if (absl::Status run = worker.Run(stop); !run.ok()) {
        std::lock_guard<std::mutex> lock(refused_mu);
        refused = run;
        stop = true;  // the same credentials would be refused for every worker
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  if (!refused.ok()) {
    spdlog::error("the coordinator at {} refused this node: {}", coordinator,
                  std::string(refused.message()));
    return 6;
  }
  spdlog::info("stopped");
  return 0;
}
