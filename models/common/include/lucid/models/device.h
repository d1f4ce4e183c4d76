// Compute devices for the pipelines and trainers: "cpu", "cuda" or "cuda:N".
#pragma once

#include <torch/torch.h>

#include <stdexcept>
#include <string>

namespace lucid::models {

// The requested device is malformed, or CUDA was asked for and this build or machine has none.
// Every front door maps it to its documented device error (lucid_status LUCID_ERROR_DEVICE,
// exit code 6); nothing falls back to the CPU silently.
class DeviceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses and checks a device name; throws DeviceError.
torch::Device resolve_device(const std::string& name);

// Number of usable CUDA devices (0 on a CPU-only build or a machine without a GPU). The first
// call loads LibTorch's CUDA libraries, which Lucid does not link: a CPU-only run never pays
// their start-up time and memory. Ask before any CPU work if the process will use CUDA.
int cuda_device_count();
// Why cuda_device_count() is 0 (empty when it is not).
std::string cuda_unavailable_reason();
// Whether LibTorch's CUDA libraries are loaded in this process (they are not until asked for).
bool cuda_runtime_loaded();

// While alive, CUDA matmuls and convolutions may use TF32 (about 10 mantissa bits). For the
// transforms only: the entropy-parameter path never runs under it (it runs on the CPU).
class Tf32Scope {
 public:
  explicit Tf32Scope(const torch::Device& d);
  ~Tf32Scope();
  Tf32Scope(const Tf32Scope&) = delete;
  Tf32Scope& operator=(const Tf32Scope&) = delete;

 private:
  bool active_ = false, cublas_ = false, cudnn_ = false;
};

}  // namespace lucid::models
