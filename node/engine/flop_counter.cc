// LibTorch's release builds (Debian's, PyTorch's wheels) are compiled with
// NDEBUG, and RecordFunction's layout depends on it (a debug-only member sits
// before its inputs and outputs), so this file reads it with the library's
// layout whatever this build's own type.
#ifndef NDEBUG
#define NDEBUG
#endif

#include "node/engine/flop_counter.h"

#include <ATen/record_function.h>
#include <torch/torch.h>

#include <atomic>
#include <cstring>
#include <memory>

namespace anifarm::engine {
namespace {

std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_flops{0};
// Counted operators open on this thread: one inside another is not counted
// again (aten::convolution's backend call, an attention's bmm).
thread_local int t_counted_depth = 0;
// FlopCountPause on this thread.
thread_local bool t_paused = false;

bool Counting() { return !t_paused && g_counting.load(std::memory_order_relaxed); }

enum class Kind { kNone, kConvolution, kMm, kAddmm, kBmm, kBaddbmm, kAttention };

Kind Classify(const char* name) {
  if (std::strncmp(name, "aten::", 6) != 0) return Kind::kNone;
  const char* op = name + 6;
  if (std::strcmp(op, "convolution") == 0) return Kind::kConvolution;
  if (std::strcmp(op, "mm") == 0) return Kind::kMm;
  if (std::strcmp(op, "addmm") == 0) return Kind::kAddmm;
  if (std::strcmp(op, "bmm") == 0) return Kind::kBmm;
  if (std::strcmp(op, "baddbmm") == 0) return Kind::kBaddbmm;
  if (std::strcmp(op, "scaled_dot_product_attention") == 0) return Kind::kAttention;
  return Kind::kNone;
}

// What the start callback learnt from the inputs, which are only readable
// there; a non-transposed convolution's cost also needs its output's size.
struct CountedOp : at::ObserverContext {
  bool outermost = false;
  int64_t flops = 0;             // known from the inputs alone
  int64_t weights_per_output = 0;  // > 0: add 2 * this * output elements at the end
};

const at::Tensor* TensorAt(c10::ArrayRef<const c10::IValue> inputs, size_t i) {
  if (i >= inputs.size() || !inputs[i].isTensor()) return nullptr;
  return &inputs[i].toTensor();
}

// 2 * M * N * K of a @ b, for [.., M, K] @ [.., K, N] (batch dims in a).
int64_t MatmulFlops(const at::Tensor* a, const at::Tensor* b) {
  if (a == nullptr || b == nullptr || a->dim() < 2 || b->dim() < 2) return 0;
  return 2 * a->numel() * b->size(-1);
}

void Inspect(Kind kind, c10::ArrayRef<const c10::IValue> inputs, CountedOp& op) {
  switch (kind) {
    case Kind::kConvolution: {
      // convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
      const at::Tensor* input = TensorAt(inputs, 0);
      const at::Tensor* weight = TensorAt(inputs, 1);
      if (input == nullptr || weight == nullptr || weight->dim() < 1 || weight->size(0) == 0) return;
      // weight: [Cout, Cin/groups, k...] or, transposed, [Cin, Cout/groups, k...]:
      // either way each output (input) element meets numel / size(0) weights.
      const int64_t per_element = weight->numel() / weight->size(0);
      const bool transposed = inputs.size() > 6 && inputs[6].isBool() && inputs[6].toBool();
      if (transposed) {
        op.flops = ConvolutionFlops(input->numel(), per_element);
      } else {
        op.weights_per_output = per_element;
      }
      return;
    }
    case Kind::kMm:
    case Kind::kBmm:
      op.flops = MatmulFlops(TensorAt(inputs, 0), TensorAt(inputs, 1));
      return;
    case Kind::kAddmm:
    case Kind::kBaddbmm:
      op.flops = MatmulFlops(TensorAt(inputs, 1), TensorAt(inputs, 2));
      return;
    case Kind::kAttention: {
      // q [.., L, E], k [.., S, E], v [.., S, Ev]: QK^T then (L x S) @ V.
      const at::Tensor* q = TensorAt(inputs, 0);
      const at::Tensor* k = TensorAt(inputs, 1);
      const at::Tensor* v = TensorAt(inputs, 2);
      if (q == nullptr || k == nullptr || v == nullptr || q->dim() < 2 || k->dim() < 2 || v->dim() < 2 ||
          q->size(-1) == 0) {
        return;
      }
      const int64_t s = k->size(-2);
      op.flops = 2 * q->numel() * s + 2 * (q->numel() / q->size(-1)) * s * v->size(-1);
      return;
    }
    case Kind::kNone:
      return;
  }
}

std::unique_ptr<at::ObserverContext> OnStart(const at::RecordFunction& fn) {
  const Kind kind = Classify(fn.name());
  if (kind == Kind::kNone) return nullptr;
  auto op = std::make_unique<CountedOp>();
  op->outermost = t_counted_depth++ == 0;
  if (op->outermost) Inspect(kind, fn.inputs(), *op);
  return op;
}

void OnEnd(const at::RecordFunction& fn, at::ObserverContext* context) {
  auto* op = static_cast<CountedOp*>(context);
  if (op == nullptr) return;
  --t_counted_depth;
  if (!op->outermost) return;
  int64_t flops = op->flops;
  if (op->weights_per_output > 0 && !fn.outputs().empty() && fn.outputs()[0].isTensor()) {
    flops += ConvolutionFlops(fn.outputs()[0].toTensor().numel(), op->weights_per_output);
  }
  if (Counting()) g_flops.fetch_add(flops, std::memory_order_relaxed);
}

}  // namespace

absl::StatusOr<FlopCounter> FlopCounter::Start() {
  bool expected = false;
  if (!g_counting.compare_exchange_strong(expected, true)) {
    return absl::FailedPreconditionError("a FlopCounter is already counting");
  }
  g_flops.store(0);
  const at::CallbackHandle handle = at::addGlobalCallback(at::RecordFunctionCallback(&OnStart, &OnEnd)
                                                              .needsInputs(true)
                                                              .needsOutputs(true)
                                                              .scopes({at::RecordScope::FUNCTION}));
  return FlopCounter(handle);
}

FlopCounter::FlopCounter(FlopCounter&& other) noexcept : handle_(other.handle_), active_(other.active_) {
  other.active_ = false;
}

FlopCounter::~FlopCounter() {
  if (!active_) return;
  at::removeCallback(handle_);
  g_counting.store(false);
}

int64_t FlopCounter::flops() const { return g_flops.load(); }

FlopCountPause::FlopCountPause() : was_paused_(t_paused) { t_paused = true; }
FlopCountPause::~FlopCountPause() { t_paused = was_paused_; }

void AddFlops(int64_t flops) {
  if (Counting()) g_flops.fetch_add(flops, std::memory_order_relaxed);
}

}  // namespace anifarm::engine
