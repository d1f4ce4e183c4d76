#include "lucid/models/device.h"

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <dlfcn.h>

#include <mutex>
#include <typeinfo>

namespace lucid::models {

namespace {
// LibTorch's CUDA part is not linked (see cmake/FindLucidTorch.cmake): it is loaded here, from
// the folder libtorch_cpu.so was loaded from, the first time CUDA is asked about. Its static
// initialisers register the CUDA kernels and hooks. ATen fixes its CUDA hooks the first time
// anything asks for them, so a process that touched them before this load stays CPU-only;
// that is reported instead of "no GPU".
struct CudaRuntime {
  bool loaded = false;
  bool hooks_frozen = false;  // CUDA hooks were fixed before the load: CUDA stays off
  std::string error;
};

const CudaRuntime& cuda_runtime() {
  static CudaRuntime rt;
  static std::once_flag once;
  std::call_once(once, [] {
    Dl_info info{};
    if (!dladdr(reinterpret_cast<void*>(&at::globalContext), &info) || !info.dli_fname) {
      rt.error = "cannot locate libtorch_cpu.so";
      return;
    }
    std::string dir = info.dli_fname;
    dir = dir.substr(0, dir.find_last_of('/') + 1);
    if (dlopen((dir + "libtorch_cuda.so").c_str(), RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) {
      rt.loaded = true;  // linked in by the program itself (the gpu tests)
    } else if (dlopen((dir + "libtorch_cuda.so").c_str(), RTLD_NOW | RTLD_GLOBAL)) {
      rt.loaded = true;
    } else {
      const char* e = dlerror();
      rt.error = e ? e : "libtorch_cuda.so did not load";
      return;
    }
    rt.hooks_frozen = typeid(at::detail::getCUDAHooks()) == typeid(at::CUDAHooksInterface);
  });
  return rt;
}
}  // namespace

bool cuda_runtime_loaded() {
  void* h = dlopen("libtorch_cuda.so", RTLD_NOW | RTLD_NOLOAD);
  if (h) dlclose(h);
  return h != nullptr;
}

int cuda_device_count() {
  const CudaRuntime& rt = cuda_runtime();
  if (!rt.loaded || rt.hooks_frozen) return 0;
  return torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
}

std::string cuda_unavailable_reason() {
  const CudaRuntime& rt = cuda_runtime();
  if (!rt.loaded) return "LibTorch's CUDA libraries did not load: " + rt.error;
  if (rt.hooks_frozen)
    return "CUDA was initialised as absent before its libraries were loaded (ask for the CUDA "
           "device before any CPU work in this process)";
  if (!torch::cuda::is_available()) return "CUDA runtime found no GPU";
  return "";
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
                      std::string(TORCH_VERSION) + "; " + cuda_unavailable_reason() + ")");
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
