// Precompiled (fuzzers.mk) for model_loader_fuzzer's sources: parsing the
// LibTorch headers is most of each one's compile time.
#include <torch/types.h>
