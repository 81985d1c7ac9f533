#include "node/engine/cuda/cudnn_conv_prelu.h"

#include <cudnn.h>

#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace anifarm::engine::cuda {
namespace {

// Unique ids of the graph's tensors: the five Execute binds, then the
// virtual ones that live only inside the fused kernel.
enum TensorId : int64_t {
  kX = 1,
  kW = 2,
  kBias = 3,
  kSlope = 4,
  kY = 5,
  kConvOut = 100,
  kBiased = 101,
  kPositive = 102,
  kNegated = 103,
  kNegativePart = 104,
  kScaledNegativePart = 105,
};

// Heuristics return their engines best first; a few are enough to find one
// that finalizes, and each runtime-compiled candidate costs a compilation.
constexpr int64_t kMaxCandidates = 12;

const char* TypeName(StorageType type) {
  switch (type) {
    case StorageType::kFloat32: return "fp32";
    case StorageType::kFloat16: return "fp16";
    case StorageType::kBFloat16: return "bf16";
  }
  return "?";
}

cudnnDataType_t DataType(StorageType type) {
  switch (type) {
    case StorageType::kFloat32: return CUDNN_DATA_FLOAT;
    case StorageType::kFloat16: return CUDNN_DATA_HALF;
    case StorageType::kBFloat16: return CUDNN_DATA_BFLOAT16;
  }
  return CUDNN_DATA_FLOAT;
}

// cuDNN 9's status codes come in families of a thousand; 3xxx is "not
// supported", which for a fused graph means "no kernel for this", not a bug.
absl::Status ToStatus(cudnnStatus_t status, absl::string_view what, const ConvPreluShape& shape) {
  std::string message = absl::StrCat("cuDNN fusion, ", shape.ToString(), ": ", what, ": ", cudnnGetErrorString(status));
  std::array<char, 512> detail{};
  cudnnGetLastErrorString(detail.data(), detail.size());
  if (detail[0] != '\0') absl::StrAppend(&message, " (", detail.data(), ")");
  if (status / 1000 == CUDNN_STATUS_NOT_SUPPORTED / 1000) return absl::UnimplementedError(message);
  return absl::InternalError(message);
}

// Makes descriptors and sets their attributes, keeping the first failure:
// after one, every later call does nothing, so a graph reads as a list of
// settings with one status check at the end.
class Builder {
 public:
  explicit Builder(const ConvPreluShape& shape) : shape_(shape) {}

  BackendDescriptor Make(cudnnBackendDescriptorType_t type, absl::string_view what) {
    void* raw = nullptr;
    if (status_.ok()) Note(cudnnBackendCreateDescriptor(type, &raw), what);
    return BackendDescriptor(raw);
  }
  void Set(const BackendDescriptor& d, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
           int64_t count, const void* values, absl::string_view what) {
    if (status_.ok()) Note(cudnnBackendSetAttribute(d.get(), name, type, count, values), what);
  }
  void SetDescriptor(const BackendDescriptor& d, cudnnBackendAttributeName_t name, const BackendDescriptor& value,
                     absl::string_view what) {
    void* raw = value.get();
    Set(d, name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw, what);
  }
  void Finalize(const BackendDescriptor& d, absl::string_view what) {
    if (status_.ok()) Note(cudnnBackendFinalize(d.get()), what);
  }

  // A dense channels-last tensor of dims [N, C, H, W] (or a filter
  // [K, C, R, S]: the same strides make it K-R-S-C).
  BackendDescriptor Tensor(int64_t id, cudnnDataType_t type, std::array<int64_t, 4> dims, bool is_virtual) {
    const std::array<int64_t, 4> strides = {dims[1] * dims[2] * dims[3], 1, dims[3] * dims[1], dims[1]};
    const int64_t alignment = 16;
    const bool virtual_flag = is_virtual;
    BackendDescriptor d = Make(CUDNN_BACKEND_TENSOR_DESCRIPTOR, "tensor descriptor");
    Set(d, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type, "tensor type");
    Set(d, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims.data(), "tensor dimensions");
    Set(d, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides.data(), "tensor strides");
    Set(d, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &id, "tensor id");
    Set(d, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment, "tensor alignment");
    Set(d, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &virtual_flag, "tensor virtual flag");
    Finalize(d, absl::StrCat("tensor ", id));
    return d;
  }

  // y = mode(x[, b]) in fp32, as an operation of the graph.
  BackendDescriptor Pointwise(cudnnPointwiseMode_t mode, const BackendDescriptor& x, const BackendDescriptor* b,
                              const BackendDescriptor& y) {
    const cudnnDataType_t precision = CUDNN_DATA_FLOAT;
    BackendDescriptor pointwise = Make(CUDNN_BACKEND_POINTWISE_DESCRIPTOR, "pointwise descriptor");
    Set(pointwise, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode, "pointwise mode");
    Set(pointwise, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &precision, "pointwise precision");
    Finalize(pointwise, absl::StrCat("pointwise mode ", static_cast<int>(mode)));
    BackendDescriptor op = Make(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, "pointwise operation");
    SetDescriptor(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pointwise, "pointwise operation mode");
    SetDescriptor(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x, "pointwise input");
    if (b != nullptr) SetDescriptor(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, *b, "pointwise second input");
    SetDescriptor(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y, "pointwise output");
    Finalize(op, absl::StrCat("pointwise operation ", static_cast<int>(mode)));
    return op;
  }

  const absl::Status& status() const { return status_; }

 private:
  void Note(cudnnStatus_t status, absl::string_view what) {
    if (status != CUDNN_STATUS_SUCCESS && status_.ok()) status_ = ToStatus(status, what, shape_);
  }

  const ConvPreluShape& shape_;
  absl::Status status_;
};

// The engine of an engine configuration, as a descriptor of its own (null
// when cuDNN will not say).
BackendDescriptor EngineOf(void* config) {
  void* engine = nullptr;
  if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &engine) != CUDNN_STATUS_SUCCESS) {
    return BackendDescriptor();
  }
  BackendDescriptor owned(engine);
  int64_t count = 0;
  if (cudnnBackendGetAttribute(config, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count,
                               &engine) != CUDNN_STATUS_SUCCESS) {
    return BackendDescriptor();
  }
  return owned;
}

// An engine's notes of one kind (behaviour or numerics), as cuDNN lists them.
template <typename Note, int kCount>
std::vector<Note> NotesOf(void* engine, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type) {
  std::array<Note, kCount> notes{};
  int64_t count = 0;
  if (cudnnBackendGetAttribute(engine, name, type, kCount, &count, notes.data()) != CUDNN_STATUS_SUCCESS) return {};
  return std::vector<Note>(notes.begin(), notes.begin() + std::clamp<int64_t>(count, 0, kCount));
}

// "engine 7 (runtime compiled)", from an engine configuration's engine.
std::string DescribeEngine(void* config) {
  const BackendDescriptor engine = EngineOf(config);
  if (!engine) return "engine ?";
  int64_t index = -1;
  int64_t count = 0;
  cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &count, &index);
  const std::vector<cudnnBackendBehaviorNote_t> notes =
      NotesOf<cudnnBackendBehaviorNote_t, CUDNN_BEHAVIOR_NOTE_TYPE_COUNT>(engine.get(), CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE,
                                                                          CUDNN_TYPE_BEHAVIOR_NOTE);
  const bool compiled = std::find(notes.begin(), notes.end(), CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) != notes.end();
  return absl::StrCat("engine ", index, compiled ? " (runtime compiled)" : "");
}

// Why an engine's arithmetic is not the one asked for ("down-converts its
// inputs"), or "" when it is: no lower-precision inputs or reductions, and
// TF32 tensor cores for fp32 storage only where allowed.
std::string UnwantedNumerics(void* config, StorageType type, bool allow_tf32) {
  const BackendDescriptor engine = EngineOf(config);
  if (!engine) return "";
  for (const cudnnBackendNumericalNote_t note :
       NotesOf<cudnnBackendNumericalNote_t, CUDNN_NUMERICAL_NOTE_TYPE_COUNT>(
           engine.get(), CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE)) {
    if (note == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS) return "down-converts its inputs";
    if (note == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION) return "reduces in reduced precision";
    if (note == CUDNN_NUMERICAL_NOTE_TENSOR_CORE && type == StorageType::kFloat32 && !allow_tf32) {
      return "runs fp32 on TF32 tensor cores, which LibTorch's settings forbid";
    }
  }
  return "";
}

}  // namespace

void BackendDescriptorDeleter::operator()(void* descriptor) const {
  if (descriptor != nullptr) cudnnBackendDestroyDescriptor(descriptor);
}

std::string ConvPreluShape::ToString() const {
  return absl::StrCat(batch, "x", in_channels, "x", height, "x", width, " ", TypeName(type), " ", kernel, "x", kernel,
                      " ", in_channels, "->", out_channels);
}

absl::StatusOr<std::unique_ptr<CudnnConvPreluPlan>> CudnnConvPreluPlan::Create(void* handle,
                                                                               const ConvPreluShape& shape) {
  absl::StatusOr<std::vector<std::unique_ptr<CudnnConvPreluPlan>>> candidates = CreateCandidates(handle, shape, 1);
  if (!candidates.ok()) return candidates.status();
  return std::move(candidates->front());
}

absl::StatusOr<std::vector<std::unique_ptr<CudnnConvPreluPlan>>> CudnnConvPreluPlan::CreateCandidates(
    void* handle, const ConvPreluShape& shape, int max_plans, bool allow_tf32) {
  absl::StatusOr<std::vector<std::unique_ptr<CudnnConvPreluPlan>>> negated =
      CreateCandidatesInForm(handle, shape, max_plans, allow_tf32, PreluForm::kNegated);
  if (negated.ok() || negated.status().code() == absl::StatusCode::kInvalidArgument) return negated;
  absl::StatusOr<std::vector<std::unique_ptr<CudnnConvPreluPlan>>> subtracted =
      CreateCandidatesInForm(handle, shape, max_plans, allow_tf32, PreluForm::kSubtracted);
  if (subtracted.ok()) return subtracted;
  return absl::Status(negated.status().code(), absl::StrCat(negated.status().message(), "; as B - relu(B): ",
                                                            subtracted.status().message()));
}

absl::StatusOr<std::vector<std::unique_ptr<CudnnConvPreluPlan>>> CudnnConvPreluPlan::CreateCandidatesInForm(
    void* handle, const ConvPreluShape& shape, int max_plans, bool allow_tf32, PreluForm form) {
  if (handle == nullptr || shape.batch < 1 || shape.in_channels < 1 || shape.out_channels < 1 || shape.kernel < 1 ||
      shape.padding < 0 || shape.out_height() < 1 || shape.out_width() < 1 || max_plans < 1) {
    return absl::InvalidArgumentError(absl::StrCat("cuDNN fusion: no plan for ", shape.ToString()));
  }
  Builder b(shape);
  const cudnnDataType_t storage = DataType(shape.type);
  const cudnnDataType_t fp32 = CUDNN_DATA_FLOAT;
  const std::array<int64_t, 4> out_dims = {shape.batch, shape.out_channels, shape.out_height(), shape.out_width()};
  const std::array<int64_t, 4> per_channel = {1, shape.out_channels, 1, 1};
  BackendDescriptor x = b.Tensor(kX, storage, {shape.batch, shape.in_channels, shape.height, shape.width}, false);
  BackendDescriptor w =
      b.Tensor(kW, storage, {shape.out_channels, shape.in_channels, shape.kernel, shape.kernel}, false);
  BackendDescriptor bias = b.Tensor(kBias, fp32, per_channel, false);
  BackendDescriptor slope = b.Tensor(kSlope, fp32, per_channel, false);
  BackendDescriptor y = b.Tensor(kY, storage, out_dims, false);
  BackendDescriptor conv_out = b.Tensor(kConvOut, fp32, out_dims, true);
  BackendDescriptor biased = b.Tensor(kBiased, fp32, out_dims, true);
  BackendDescriptor positive = b.Tensor(kPositive, fp32, out_dims, true);
  BackendDescriptor negated = b.Tensor(kNegated, fp32, out_dims, true);
  BackendDescriptor negative_part = b.Tensor(kNegativePart, fp32, out_dims, true);
  BackendDescriptor scaled_negative_part = b.Tensor(kScaledNegativePart, fp32, out_dims, true);

  const int64_t spatial_dims = 2;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  const std::array<int64_t, 2> padding = {shape.padding, shape.padding};
  const std::array<int64_t, 2> ones = {1, 1};
  BackendDescriptor conv = b.Make(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, "convolution descriptor");
  b.Set(conv, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial_dims, "convolution dimensions");
  b.Set(conv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &fp32, "convolution compute type");
  b.Set(conv, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode, "convolution mode");
  b.Set(conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, padding.data(), "convolution padding");
  b.Set(conv, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, padding.data(), "convolution padding");
  b.Set(conv, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, ones.data(), "convolution dilations");
  b.Set(conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, ones.data(), "convolution strides");
  b.Finalize(conv, "convolution descriptor");

  const float alpha = 1.0f;
  const float beta = 0.0f;
  BackendDescriptor conv_op = b.Make(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, "convolution");
  b.SetDescriptor(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, x, "convolution input");
  b.SetDescriptor(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, w, "convolution filter");
  b.SetDescriptor(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, conv_out, "convolution output");
  b.SetDescriptor(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, conv, "convolution descriptor");
  b.Set(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha, "convolution alpha");
  b.Set(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta, "convolution beta");
  b.Finalize(conv_op, "convolution operation");

  std::vector<BackendDescriptor> ops;
  ops.push_back(std::move(conv_op));
  ops.push_back(b.Pointwise(CUDNN_POINTWISE_ADD, conv_out, &bias, biased));
  ops.push_back(b.Pointwise(CUDNN_POINTWISE_RELU_FWD, biased, nullptr, positive));
  if (form == PreluForm::kNegated) {
    ops.push_back(b.Pointwise(CUDNN_POINTWISE_NEG, biased, nullptr, negated));
    ops.push_back(b.Pointwise(CUDNN_POINTWISE_RELU_FWD, negated, nullptr, negative_part));
    ops.push_back(b.Pointwise(CUDNN_POINTWISE_MUL, negative_part, &slope, scaled_negative_part));
    ops.push_back(b.Pointwise(CUDNN_POINTWISE_SUB, positive, &scaled_negative_part, y));
  } else {
    // min(B, 0) = B - relu(B) exactly, then relu(B) + slope * min(B, 0).
    ops.push_back(b.Pointwise(CUDNN_POINTWISE_SUB, biased, &positive, negative_part));
    ops.push_back(b.Pointwise(CUDNN_POINTWISE_MUL, negative_part, &slope, scaled_negative_part));
    ops.push_back(b.Pointwise(CUDNN_POINTWISE_ADD, positive, &scaled_negative_part, y));
  }
  std::vector<void*> raw_ops(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) raw_ops[i] = ops[i].get();
  BackendDescriptor graph = b.Make(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, "operation graph");
  b.Set(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, static_cast<int64_t>(raw_ops.size()),
        raw_ops.data(), "graph operations");
  b.Set(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "graph handle");
  b.Finalize(graph, "operation graph");
  if (!b.status().ok()) return b.status();
  auto parts = std::make_shared<std::vector<BackendDescriptor>>();
  for (BackendDescriptor* d : {&x, &w, &bias, &slope, &y, &conv_out, &biased, &positive, &negated, &negative_part,
                               &scaled_negative_part, &conv}) {
    parts->push_back(std::move(*d));
  }
  for (BackendDescriptor& op : ops) parts->push_back(std::move(op));
  parts->push_back(std::move(graph));
  const BackendDescriptor& graph_descriptor = parts->back();

  // The heuristics' engines in order, then the fallback list if mode A gave
  // nothing that finalizes. Every failure is kept so that "none" can say
  // why.
  std::vector<std::unique_ptr<CudnnConvPreluPlan>> plans;
  absl::Status last = absl::UnimplementedError(
      absl::StrCat("cuDNN fusion, ", shape.ToString(), ": the heuristics offered no engine"));
  for (const cudnnBackendHeurMode_t heuristic : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
    if (!plans.empty()) break;
    Builder h(shape);
    const BackendDescriptor heur = h.Make(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, "heuristics");
    h.SetDescriptor(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph_descriptor, "heuristics graph");
    h.Set(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &heuristic, "heuristics mode");
    h.Finalize(heur, "heuristics");
    if (!h.status().ok()) {
      last = h.status();
      continue;
    }
    int64_t available = 0;
    const cudnnStatus_t counted = cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                           CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &available, nullptr);
    if (counted != CUDNN_STATUS_SUCCESS) {
      last = ToStatus(counted, "heuristics count", shape);
      continue;
    }
    available = std::clamp<int64_t>(available, 0, kMaxCandidates);
    if (available == 0) continue;
    std::vector<BackendDescriptor> configs;
    std::vector<void*> raw_configs;
    for (int64_t i = 0; i < available; ++i) {
      configs.push_back(h.Make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, "engine configuration"));
      raw_configs.push_back(configs.back().get());
    }
    int64_t returned = 0;
    if (h.status().ok()) {
      const cudnnStatus_t got = cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                         CUDNN_TYPE_BACKEND_DESCRIPTOR, available, &returned,
                                                         raw_configs.data());
      if (got != CUDNN_STATUS_SUCCESS) last = ToStatus(got, "heuristics results", shape);
    } else {
      last = h.status();
    }
    for (int64_t i = 0; i < std::min(returned, available) && static_cast<int>(plans.size()) < max_plans; ++i) {
      const std::string numerics = UnwantedNumerics(configs[i].get(), shape.type, allow_tf32);
      if (!numerics.empty()) {
        last = absl::UnimplementedError(absl::StrCat("cuDNN fusion, ", shape.ToString(), ": ",
                                                     DescribeEngine(configs[i].get()), " ", numerics));
        continue;
      }
      Builder p(shape);
      BackendDescriptor plan = p.Make(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, "execution plan");
      p.Set(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "plan handle");
      p.SetDescriptor(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, configs[i], "plan engine");
      p.Finalize(plan, "execution plan");
      if (!p.status().ok()) {
        last = p.status();
        continue;
      }
      int64_t workspace = 0;
      int64_t count = 0;
      const cudnnStatus_t got = cudnnBackendGetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                                         CUDNN_TYPE_INT64, 1, &count, &workspace);
      if (got != CUDNN_STATUS_SUCCESS) {  // this candidate only: the others stand
        last = ToStatus(got, "plan workspace size", shape);
        continue;
      }
      const std::string engine = absl::StrCat(DescribeEngine(configs[i].get()), ", candidate ", i + 1, " of ",
                                              returned, heuristic == CUDNN_HEUR_MODE_A ? "" : " (fallback list)",
                                              form == PreluForm::kNegated ? "" : ", PReLU as B - relu(B)");
      plans.push_back(std::unique_ptr<CudnnConvPreluPlan>(new CudnnConvPreluPlan(
          shape, parts, std::move(configs[i]), std::move(plan), std::max<int64_t>(workspace, 0), engine)));
    }
  }
  if (plans.empty()) return absl::UnimplementedError(last.message());
  return plans;
}

absl::Status CudnnConvPreluPlan::Execute(void* handle, const void* x, const void* w, const float* bias,
                                         const float* slope, void* y, void* workspace) const {
  const std::array<int64_t, 5> ids = {kX, kW, kBias, kSlope, kY};
  std::array<void*, 5> pointers = {const_cast<void*>(x), const_cast<void*>(w), const_cast<float*>(bias),
                                   const_cast<float*>(slope), y};
  Builder b(shape_);
  const BackendDescriptor pack = b.Make(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, "variant pack");
  b.Set(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, static_cast<int64_t>(ids.size()), ids.data(),
        "variant pack ids");
  b.Set(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, static_cast<int64_t>(pointers.size()),
        pointers.data(), "variant pack pointers");
  b.Set(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace, "variant pack workspace");
  b.Finalize(pack, "variant pack");
  if (!b.status().ok()) return b.status();
  const cudnnStatus_t status = cudnnBackendExecute(static_cast<cudnnHandle_t>(handle), plan_.get(), pack.get());
  if (status != CUDNN_STATUS_SUCCESS) return ToStatus(status, "execute", shape_);
  return absl::OkStatus();
}

}  // namespace anifarm::engine::cuda
