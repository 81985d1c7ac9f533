// LibTorch's CUDA caching allocator, seen from the engine: what it holds
// (the VRAM figures a node reports) and giving its cached blocks back to the
// driver (the guide's torch.cuda.empty_cache after an out-of-memory error).
//
// The caching allocator lives in libc10_cuda, which only a CUDA build of
// LibTorch has; node/engine/CMakeLists.txt compiles this module against it
// where found (ANIFARM_WITH_C10_CUDA). Without it (Debian's CPU LibTorch)
// the figures read as unknown and releasing is a no-op, so callers need no
// #ifdefs of their own.
#ifndef ANIFARM_NODE_ENGINE_CUDA_ALLOCATOR_H_
#define ANIFARM_NODE_ENGINE_CUDA_ALLOCATOR_H_

#include <cstdint>

namespace anifarm::engine {

struct CudaAllocatorStats {
  // Bytes in live tensors on the device (torch.cuda.memory_allocated).
  int64_t allocated_bytes = -1;
  // Bytes the allocator holds from the driver, live or cached for reuse
  // (torch.cuda.memory_reserved). -1 = unknown, for both.
  int64_t reserved_bytes = -1;
};

// The allocator's figures for CUDA device `device_index`; unknown (-1) in a
// build without the CUDA allocator or before it has allocated anything.
CudaAllocatorStats ReadCudaAllocatorStats(int device_index);

// Returns the allocator's cached, unused blocks to the driver, so that a
// retry with smaller tiles, or another process, can have them. Tensors in
// use are untouched. A no-op without the CUDA allocator.
void ReleaseCachedCudaMemory();

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_CUDA_ALLOCATOR_H_
