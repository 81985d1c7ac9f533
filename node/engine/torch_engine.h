// Factory of the LibTorch engine. This header has no LibTorch include: the
// engine lives in the shared library libanifarm_engine.so, linked by
// anifarm-node and loaded with dlopen by `anifarm run`.
#ifndef ANIFARM_NODE_ENGINE_TORCH_ENGINE_H_
#define ANIFARM_NODE_ENGINE_TORCH_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "node/upscaler.h"

namespace anifarm {

// device: "cpu", "cuda" or "cuda:N". InvalidArgument for an unknown device,
// FailedPrecondition when CUDA is asked for and not available.
absl::StatusOr<std::unique_ptr<UpscalerEngine>> CreateTorchEngine(const std::string& device);

// CUDA devices this process can use (0 without CUDA or with a CPU LibTorch).
int CudaDeviceCount();

// The tile edge `--tile auto` gives a GPU with `free_bytes` of free memory:
// the guide's table (4 GB -> 256 px, 6 -> 384, 8 -> 512, 12 -> 768, 16+ ->
// 1024; 128 below 4 GB), then 2048 px from 40 GB (A100, H100, H200), where a
// 1080p frame runs whole. 512 when the free memory is unknown (< 0).
int AutoTileForFreeGpuMemory(int64_t free_bytes);

// Frames a node keeps in flight on one upscaler (Upscaler::frames_in_flight),
// each upscaled from its own thread on its own CUDA stream; the engine asks
// once, when it is created. `env` is ANIFARM_FRAMES_IN_FLIGHT (may be null):
// a number from 1 to
// kMaxFramesInFlight wins; anything else is reported on stderr and ignored.
// Otherwise 2 on a GPU with 16 GB or more free (one frame's copies and host
// work overlap the other's kernels, and two frames' activations fit), and 1
// on a CPU, whose convolutions already use every core, or a smaller GPU.
inline constexpr int kMaxFramesInFlight = 8;
int FramesInFlightFor(bool cuda, int64_t free_bytes, const char* env);

// LibTorch threads a frame's inference uses on a CPU, which the engine sets
// on each thread that upscales. LibTorch's own default is the physical cores
// its cpuinfo counts, which on some VMs is 1 of 2 usable CPUs (half the
// speed, docs/benchmarks.md), and OpenMP keeps the count per calling thread.
// 0 (LibTorch's own handling kept) when OMP_NUM_THREADS or MKL_NUM_THREADS
// is set (`omp_env`, `mkl_env`, may be null); otherwise the usable CPUs
// shared among the frames in flight, at least 1 each.
int CpuThreadsFor(const char* omp_env, const char* mkl_env, int usable_cpus, int frames_in_flight);

// CPUs this process may run on (its affinity mask), at least 1.
int UsableCpus();

}  // namespace anifarm

// C entry point for dlopen: returns a new engine or nullptr with *error set.
extern "C" anifarm::UpscalerEngine* anifarm_create_torch_engine(const char* device,
                                                                std::string* error);

#endif  // ANIFARM_NODE_ENGINE_TORCH_ENGINE_H_
