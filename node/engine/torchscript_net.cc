#include "node/engine/torchscript_net.h"

#include <c10/core/InferenceMode.h>
#include <torch/script.h>

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace anifarm::engine {
namespace {

constexpr int kProbeSide = 16;
constexpr int kMaxScale = 16;

}  // namespace

TorchScriptNet::TorchScriptNet(std::unique_ptr<torch::jit::Module> module, std::string type_name,
                               torch::Device device, torch::ScalarType dtype)
    : module_(std::move(module)), type_name_(std::move(type_name)), device_(device), dtype_(dtype) {}

TorchScriptNet::~TorchScriptNet() = default;

std::string TorchScriptNet::ToString() const {
  return absl::StrCat("TorchScript(", type_name_, ", scale=", scale_, ")");
}

absl::StatusOr<std::unique_ptr<TorchScriptNet>> TorchScriptNet::Load(const std::string& path,
                                                                     torch::Device device,
                                                                     torch::ScalarType dtype) {
  std::unique_ptr<TorchScriptNet> net;
  try {
    auto module = std::make_unique<torch::jit::Module>(torch::jit::load(path, device));
    module->eval();
    module->to(device, dtype);
    std::string type_name = "module";
    if (module->type()->name().has_value()) type_name = module->type()->name()->qualifiedName();
    net.reset(new TorchScriptNet(std::move(module), std::move(type_name), device, dtype));
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot load TorchScript archive: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot load TorchScript archive: ", e.what()));
  }
  // The scale is not stored anywhere: ask the module once.
  try {
    c10::InferenceMode guard;
    torch::Tensor probe = torch::arange(3 * kProbeSide * kProbeSide, torch::kFloat32)
                              .div_(3.0 * kProbeSide * kProbeSide)
                              .reshape({1, 3, kProbeSide, kProbeSide})
                              .to(device, dtype);
    torch::Tensor out = net->module_->forward({probe}).toTensor();
    const int64_t s = out.dim() == 4 ? out.size(2) / kProbeSide : 0;
    if (out.dim() != 4 || out.size(0) != 1 || out.size(1) != 3 || s < 1 || s > kMaxScale ||
        out.size(2) != s * kProbeSide || out.size(3) != s * kProbeSide) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": the TorchScript module maps [1,3,16,16] to [",
                                                     absl::StrJoin(out.sizes(), ","),
                                                     "], not to an RGB image upscaled by an integer factor"));
    }
    net->scale_ = static_cast<int>(s);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": the TorchScript module fails on a [1,3,16,16] input: ", e.what_without_backtrace()));
  }
  return net;
}

torch::Tensor TorchScriptNet::Forward(const torch::Tensor& x) const {
  torch::Tensor y = module_->forward({x}).toTensor();
  TORCH_CHECK(y.dim() == 4 && y.size(0) == x.size(0) && y.size(1) == 3 && y.size(2) == x.size(2) * scale_ &&
                  y.size(3) == x.size(3) * scale_,
              "TorchScript module returned ", y.sizes(), " for input ", x.sizes(), " (scale ", scale_, ")");
  return y;
}

}  // namespace anifarm::engine
