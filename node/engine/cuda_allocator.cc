#include "node/engine/cuda_allocator.h"

#ifdef ANIFARM_WITH_C10_CUDA
#include <c10/cuda/CUDACachingAllocator.h>

#include <exception>
#endif

namespace anifarm::engine {

#ifdef ANIFARM_WITH_C10_CUDA

CudaAllocatorStats ReadCudaAllocatorStats(int device_index) {
  CudaAllocatorStats stats;
  try {
    const auto device_stats =
        c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device_index));
    // Index 0 of each StatArray is the aggregate over the small and large
    // pools (StatType::AGGREGATE, whose namespace moved between releases).
    stats.allocated_bytes = device_stats.allocated_bytes[0].current;
    stats.reserved_bytes = device_stats.reserved_bytes[0].current;
  } catch (const std::exception&) {
    // Not initialised yet (no tensor on the device so far): unknown.
  }
  return stats;
}

void ReleaseCachedCudaMemory() {
  try {
    c10::cuda::CUDACachingAllocator::emptyCache();
  } catch (const std::exception&) {
    // Nothing allocated through it yet: nothing to release.
  }
}

#else

CudaAllocatorStats ReadCudaAllocatorStats(int) { return {}; }

void ReleaseCachedCudaMemory() {}

#endif

}  // namespace anifarm::engine
