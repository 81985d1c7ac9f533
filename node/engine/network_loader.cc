#include "node/engine/network_loader.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "node/engine/dat.h"
#include "node/engine/ncnn_model.h"
#include "node/engine/omnisr.h"
#include "node/engine/pth_checkpoint.h"
#include "node/engine/realplksr.h"
#include "node/engine/rrdbnet.h"
#include "node/engine/safetensors.h"
#include "node/engine/span.h"
#include "node/engine/srvgg_compact.h"
#include "node/engine/torchscript_net.h"

namespace anifarm::engine {
namespace {

template <typename Net>
absl::StatusOr<std::unique_ptr<Network>> AsNetwork(absl::StatusOr<std::unique_ptr<Net>> net) {
  if (!net.ok()) return net.status();
  return std::unique_ptr<Network>(std::move(*net));
}

int64_t BytesAt(int64_t elements, const Network& net) {
  return elements * static_cast<int64_t>(c10::elementSize(net.dtype()));
}

int64_t StateDictElements(const TensorMap& weights) {
  int64_t elements = 0;
  for (const auto& [name, t] : weights) elements += t.numel();
  return elements;
}

int64_t GraphElements(const NcnnGraph& graph) {
  int64_t elements = 0;
  for (const NcnnLayer& layer : graph.layers) {
    if (layer.weight.defined()) elements += layer.weight.numel();
    if (layer.bias.defined()) elements += layer.bias.numel();
  }
  return elements;
}

// Anything not recognised as RRDBNet, OmniSR, SPAN, RealPLKSR or DAT goes to
// CompactNet, whose error lists the keys and the supported architectures.
absl::StatusOr<std::unique_ptr<Network>> CreateFromStateDict(const TensorMap& weights, const std::string& path,
                                                             torch::Device device, torch::ScalarType dtype,
                                                             LoadedNetworkInfo* info) {
  const std::string architecture = GuessArchitecture(weights);
  if (absl::StartsWith(architecture, "ESRGAN/RRDBNet")) {
    info->family = "RRDBNet";
    return AsNetwork(RrdbNet::Create(weights, path, device, dtype));
  }
  info->family = architecture;
  if (architecture == "OmniSR") return AsNetwork(OmniSrNet::Create(weights, path, device, dtype));
  if (architecture == "SPAN") return AsNetwork(SpanNet::Create(weights, path, device, dtype));
  if (architecture == "RealPLKSR") return AsNetwork(RealPlksrNet::Create(weights, path, device, dtype));
  if (architecture == "DAT") {
    // Spandrel marks DAT supports_half=False: half precision would overflow
    // in its attention, so a farm-wide fp16 setting runs it in fp32 rather
    // than failing or producing garbage.
    info->fp32_only = kDatFp32OnlyReason;
    if (dtype != torch::kFloat32) {
      std::cerr << "anifarm-engine: " << path << ": DAT runs in fp32 only (" << kDatFp32OnlyReason << "); "
                << PrecisionName(dtype) << " requested, using fp32\n";
    }
    return AsNetwork(DatNet::Create(weights, path, device, torch::kFloat32));
  }
  info->family = "SRVGGNetCompact";
  return AsNetwork(CompactNet::Create(weights, path, device, dtype));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Network>> LoadNetwork(const std::string& path, torch::Device device,
                                                     torch::ScalarType dtype, LoadedNetworkInfo* info) {
  LoadedNetworkInfo ignored;
  if (info == nullptr) info = &ignored;
  *info = LoadedNetworkInfo();
  if (absl::EndsWith(path, ".param")) {
    info->family = "ncnn graph";
    ASSIGN_OR_RETURN(NcnnGraph graph, LoadNcnnModel(path));
    ASSIGN_OR_RETURN(std::unique_ptr<Network> net, AsNetwork(NcnnNet::Create(graph, device, dtype)));
    info->weight_bytes = BytesAt(GraphElements(graph), *net);
    return net;
  }
  if (absl::EndsWith(path, ".bin")) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": an ncnn model is loaded from its .param file (the .bin is found next to it)"));
  }
  for (const char* ext : {".onnx", ".engine", ".xml"}) {
    if (absl::EndsWith(path, ext)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": unsupported model format (", ext,
                       "); the LibTorch engine reads PyTorch .pth, .safetensors and ncnn .param/.bin models"));
    }
  }
  std::string head(16, '\0');
  {
    std::ifstream in(path, std::ios::binary);
    in.read(head.data(), head.size());
    head.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  }
  TensorMap weights;
  if (absl::EndsWith(path, ".safetensors") || LooksLikeSafetensors(head)) {
    ASSIGN_OR_RETURN(weights, LoadSafetensors(path));
  } else if (IsTorchScriptArchive(path)) {
    // The one format whose code runs: the user's escape hatch, chosen by the
    // file's content (a scripted module), see torchscript_net.h.
    info->family = "TorchScript";
    ASSIGN_OR_RETURN(std::unique_ptr<Network> net, AsNetwork(TorchScriptNet::Load(path, device, dtype)));
    std::error_code error;
    const std::uintmax_t size = std::filesystem::file_size(path, error);
    info->weight_bytes = error ? 0 : static_cast<int64_t>(size);
    return net;
  } else {
    ASSIGN_OR_RETURN(weights, LoadPthCheckpoint(path));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Network> net, CreateFromStateDict(weights, path, device, dtype, info));
  info->weight_bytes = BytesAt(StateDictElements(weights), *net);
  return net;
}

}  // namespace anifarm::engine
