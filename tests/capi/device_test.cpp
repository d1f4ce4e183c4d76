// Device selection without a GPU: asking for CUDA is the documented device error
// (LUCID_ERROR_DEVICE, CLI exit code 6), never a crash or a silent CPU fallback.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "lucid/lucid.h"

namespace {

std::string shipped(const char* name) {
  return std::string(LUCID_SOURCE_DIR) + "/models/weights/" + name;
}

lucid_status create(const std::string& path, lucid_model_kind kind, lucid_device device,
                    int index, lucid_context** ctx) {
  lucid_context_params p;
  lucid_context_params_init(&p);
  p.kind = kind;
  p.weights_path = path.c_str();
  p.device = device;
  p.device_index = index;
  return lucid_context_create_ex(&p, ctx);
}

TEST(Device, ParamsDefaultToTheCpuCodec) {
  lucid_context_params p;
  lucid_context_params_init(&p);
  EXPECT_EQ(p.struct_size, sizeof p);
  EXPECT_EQ(p.kind, LUCID_MODEL_CODEC);
  EXPECT_EQ(p.device, LUCID_DEVICE_CPU);
  EXPECT_EQ(p.weights_path, nullptr);
  lucid_context* ctx = nullptr;
  p.weights_path = LUCID_SOURCE_DIR "/tests/data/fat-tiny.lucidw";
  ASSERT_EQ(lucid_context_create_ex(&p, &ctx), LUCID_OK) << lucid_last_error(nullptr);
  EXPECT_STREQ(lucid_context_model_id(ctx), "fat-tiny");
  lucid_context_destroy(ctx);
}

TEST(Device, BadParamsAreRefused) {
  lucid_context* ctx = nullptr;
  EXPECT_EQ(lucid_context_create_ex(nullptr, &ctx), LUCID_ERROR_INVALID_ARGUMENT);
  lucid_context_params p;
  lucid_context_params_init(&p);
  p.struct_size = 3;  // not a size any version had
  EXPECT_EQ(lucid_context_create_ex(&p, &ctx), LUCID_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(lucid_last_error(nullptr)).find("struct_size"), std::string::npos);
  EXPECT_EQ(create(shipped("fat-small.lucidw"), LUCID_MODEL_CODEC,
                   static_cast<lucid_device>(7), 0, &ctx),
            LUCID_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(create(shipped("fat-small.lucidw"), LUCID_MODEL_CODEC, LUCID_DEVICE_CUDA, -1, &ctx),
            LUCID_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ctx, nullptr);
}

TEST(Device, BuildInfoNamesLibTorchAndCuda) {
  const std::string info = lucid_build_info();
  EXPECT_NE(info.find("LibTorch 2."), std::string::npos) << info;
  EXPECT_NE(info.find("CUDA support"), std::string::npos) << info;
}

TEST(Device, CudaWithoutAGpuIsTheDeviceError) {
  if (lucid_cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  for (const auto& [name, kind] :
       {std::pair{"fat-small.lucidw", LUCID_MODEL_CODEC},
        std::pair{"codiff-small.lucidw", LUCID_MODEL_RESTORE}}) {
    lucid_context* ctx = nullptr;
    EXPECT_EQ(create(shipped(name), kind, LUCID_DEVICE_CUDA, 0, &ctx), LUCID_ERROR_DEVICE);
    EXPECT_EQ(ctx, nullptr);
    EXPECT_NE(std::string(lucid_last_error(nullptr)).find("no CUDA device"), std::string::npos)
        << lucid_last_error(nullptr);
  }
}

TEST(Device, CliCudaWithoutAGpuExitsWithTheDeviceCode) {
  if (lucid_cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  const std::string in = std::string(LUCID_SOURCE_DIR) + "/tests/data/sample.png";
  for (const std::string dev : {"cuda", "cuda:1"}) {
    const std::string cmd = std::string(LUCID_CLI) + " encode " + in +
                            " -o /tmp/lucid-device-test.lucid -y --device " + dev + " 2>/dev/null";
    const int rc = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(rc));
    EXPECT_EQ(WEXITSTATUS(rc), 6) << dev;
  }
  const std::string bad = std::string(LUCID_CLI) + " encode " + in +
                          " -o /tmp/lucid-device-test.lucid -y --device gpu 2>/dev/null";
  const int rc = std::system(bad.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 1);  // usage error (kExitUsage)
}

bool cuda_libraries_mapped() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find("libtorch_cuda.so") != std::string::npos) return true;
  return false;
}

// LibTorch's CUDA libraries are loaded only when CUDA is asked about: CPU work never maps them
// (they cost every process ~0.3 s and ~350 MB at start). ctest runs each test in its own process.
TEST(Device, CpuWorkDoesNotLoadTheCudaLibraries) {
  lucid_context* ctx = nullptr;
  ASSERT_EQ(create(LUCID_SOURCE_DIR "/tests/data/fat-tiny.lucidw", LUCID_MODEL_CODEC,
                   LUCID_DEVICE_CPU, 0, &ctx),
            LUCID_OK);
  std::vector<uint8_t> rgb(64 * 64 * 3, 128);
  uint8_t* out = nullptr;
  size_t size = 0;
  ASSERT_EQ(lucid_encode_image(ctx, rgb.data(), 64, 64, 64 * 3, 50, &out, &size), LUCID_OK);
  lucid_free(out);
  lucid_context_destroy(ctx);
  EXPECT_FALSE(cuda_libraries_mapped());
  lucid_cuda_device_count();
  const bool cuda_build = std::string(lucid_build_info()).find("CUDA support: yes") !=
                          std::string::npos;
  EXPECT_EQ(cuda_libraries_mapped(), cuda_build);
}

}  // namespace
