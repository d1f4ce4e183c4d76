#include "lucid/models/device.h"

#include <ATen/Context.h>

namespace lucid::models {

int cuda_device_count() {
  return torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
}

torch::Device resolve_device(const std::string& name) {
  if (name == "cpu") return torch::Device(torch::kCPU);
  int index = 0;
  if (name != "cuda") {
    const std::string prefix = "cuda:";
    const std::string digits = name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : "";
    if (digits.empty() || digits.size() > 3 ||
        digits.find_first_not_of("0123456789") != std::string::npos)
      throw DeviceError("unknown device '" + name + "' (expected cpu, cuda or cuda:N)");
    index = std::stoi(digits);
  }
  const int n = cuda_device_count();
  if (n == 0)
    throw DeviceError("device '" + name + "': no CUDA device is available (LibTorch " +
                      std::string(TORCH_VERSION) +
                      (torch::cuda::is_available() ? "" : "; CUDA runtime found no GPU") + ")");
  if (index >= n)
    throw DeviceError("device '" + name + "': only " + std::to_string(n) +
                      " CUDA device(s) present");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

Tf32Scope::Tf32Scope(const torch::Device& d) {
  if (!d.is_cuda()) return;
  auto& ctx = at::globalContext();
  active_ = true;
  cublas_ = ctx.allowTF32CuBLAS();
  cudnn_ = ctx.allowTF32CuDNN();
  ctx.setAllowTF32CuBLAS(true);
  ctx.setAllowTF32CuDNN(true);
}

Tf32Scope::~Tf32Scope() {
  if (!active_) return;
  auto& ctx = at::globalContext();
  ctx.setAllowTF32CuBLAS(cublas_);
  ctx.setAllowTF32CuDNN(cudnn_);
}

}  // namespace lucid::models
