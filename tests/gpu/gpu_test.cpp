// GPU tests (label `gpu`): they run when a CUDA device is present and skip with a message
// otherwise. What they check:
//  - the codec round trip on the GPU, and streams crossing devices (encode on the CPU, decode on
//    the GPU, and the reverse): the entropy parameters run on the CPU in a fixed order on both
//    sides, so every decode must pass the latent checksum;
//  - decoded and restored pixels on the GPU against the CPU within a stated tolerance (TF32
//    convolutions and other kernels round differently; the latents are identical);
//  - a few training steps of each trainer with --device cuda;
//  - a 12-megapixel image through each model within a stated GPU memory bound.
#include <gtest/gtest.h>

#include <torch/torch.h>
#include <c10/cuda/CUDACachingAllocator.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../codec/codec_test_util.h"
#include "lucid/lucid.h"

namespace fs = std::filesystem;

namespace {

#define LUCID_REQUIRE_GPU()                                                             \
  do {                                                                                  \
    if (lucid_cuda_device_count() == 0)                                                 \
      GTEST_SKIP() << "no CUDA device on this machine (" << lucid_build_info()          \
                   << "): GPU test skipped";                                            \
  } while (0)

std::string shipped(const char* name) {
  return std::string(LUCID_SOURCE_DIR) + "/models/weights/" + name;
}

struct Ctx {
  lucid_context* ctx = nullptr;
  lucid_status status = LUCID_OK;
  Ctx(const std::string& path, lucid_model_kind kind, lucid_device device) {
    lucid_context_params p;
    lucid_context_params_init(&p);
    p.kind = kind;
    p.weights_path = path.c_str();
    p.device = device;
    status = lucid_context_create_ex(&p, &ctx);
  }
  ~Ctx() { lucid_context_destroy(ctx); }
};

double psnr(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  double se = 0;
  for (size_t i = 0; i < a.size(); ++i) se += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return se == 0 ? 99.0 : 10 * std::log10(255.0 * 255.0 * a.size() / se);
}

int max_abs_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  int m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(int(a[i]) - int(b[i])));
  return m;
}

int64_t peak_gpu_bytes() {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(0);
  return stats.reserved_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)]
      .peak;
}
void reset_gpu_peak() {
  c10::cuda::CUDACachingAllocator::emptyCache();
  c10::cuda::CUDACachingAllocator::resetPeakStats(0);
}

TEST(Gpu, CodecRoundTripAndCrossDevice) {
  LUCID_REQUIRE_GPU();
  Ctx cpu(shipped("fat-small.lucidw"), LUCID_MODEL_CODEC, LUCID_DEVICE_CPU);
  Ctx gpu(shipped("fat-small.lucidw"), LUCID_MODEL_CODEC, LUCID_DEVICE_CUDA);
  ASSERT_EQ(cpu.status, LUCID_OK);
  ASSERT_EQ(gpu.status, LUCID_OK) << lucid_last_error(nullptr);
  for (const auto& [w, h, q] : std::vector<std::tuple<uint32_t, uint32_t, float>>{
           {768, 512, 50.f}, {333, 217, 5.f}, {1024, 640, 95.f}}) {
    const auto img = lucid::test::synthetic_image(w, h, w + h);
    const auto s_cpu = lucid::test::encode(cpu.ctx, img, w, h, q);
    const auto s_gpu = lucid::test::encode(gpu.ctx, img, w, h, q);
    ASSERT_FALSE(s_cpu.empty());
    ASSERT_FALSE(s_gpu.empty()) << lucid_last_error(gpu.ctx);
    std::vector<uint8_t> a, b, c, d;
    uint32_t ow, oh;
    // The round trip on the GPU, and both crossings: the checksum must pass every time.
    ASSERT_EQ(lucid::test::decode(gpu.ctx, s_gpu, &a, &ow, &oh), LUCID_OK) << lucid_last_error(gpu.ctx);
    ASSERT_EQ(lucid::test::decode(gpu.ctx, s_cpu, &b, &ow, &oh), LUCID_OK) << lucid_last_error(gpu.ctx);
    ASSERT_EQ(lucid::test::decode(cpu.ctx, s_gpu, &c, &ow, &oh), LUCID_OK) << lucid_last_error(cpu.ctx);
    ASSERT_EQ(lucid::test::decode(cpu.ctx, s_cpu, &d, &ow, &oh), LUCID_OK);
    EXPECT_GT(psnr(img, a), 24.0) << w << "x" << h << " q" << q;
    // Same stream, two devices: only the synthesis differs (TF32 on the GPU).
    EXPECT_GT(psnr(b, d), 40.0) << "GPU vs CPU synthesis of one stream";
    EXPECT_GT(psnr(c, a), 40.0);
  }
}

TEST(Gpu, RestorerMatchesCpuWithinTolerance) {
  LUCID_REQUIRE_GPU();
  const std::string jpeg_path = std::string(LUCID_SOURCE_DIR) + "/tests/data/restore-q25.jpg";
  std::ifstream f(jpeg_path, std::ios::binary);
  const std::vector<uint8_t> jpeg((std::istreambuf_iterator<char>(f)), {});
  ASSERT_FALSE(jpeg.empty());
  Ctx cpu(shipped("codiff-small.lucidw"), LUCID_MODEL_RESTORE, LUCID_DEVICE_CPU);
  Ctx gpu(shipped("codiff-small.lucidw"), LUCID_MODEL_RESTORE, LUCID_DEVICE_CUDA);
  ASSERT_EQ(gpu.status, LUCID_OK) << lucid_last_error(nullptr);
  uint8_t *a = nullptr, *b = nullptr;
  uint32_t w1, h1, w2, h2;
  ASSERT_EQ(lucid_restore_jpeg(cpu.ctx, jpeg.data(), jpeg.size(), &a, &w1, &h1), LUCID_OK);
  ASSERT_EQ(lucid_restore_jpeg(gpu.ctx, jpeg.data(), jpeg.size(), &b, &w2, &h2), LUCID_OK)
      << lucid_last_error(gpu.ctx);
  ASSERT_EQ(w1, w2);
  ASSERT_EQ(h1, h2);
  std::vector<uint8_t> va(a, a + size_t{w1} * h1 * 3), vb(b, b + size_t{w2} * h2 * 3);
  lucid_free(a);
  lucid_free(b);
  // Tolerance: PSNR between the two results at least 45 dB and no pixel off by more than 8
  // levels (TF32 convolutions keep ~10 mantissa bits).
  EXPECT_GT(psnr(va, vb), 45.0);
  EXPECT_LE(max_abs_diff(va, vb), 8);
}

TEST(Gpu, TwelveMegapixelsWithinMemoryBound) {
  LUCID_REQUIRE_GPU();
  constexpr uint32_t W = 4000, H = 3000;
  const auto img = lucid::test::synthetic_image(W, H, 7);
  {
    Ctx gpu(shipped("fat-small.lucidw"), LUCID_MODEL_CODEC, LUCID_DEVICE_CUDA);
    ASSERT_EQ(gpu.status, LUCID_OK);
    reset_gpu_peak();
    const auto s = lucid::test::encode(gpu.ctx, img, W, H, 50.f);
    ASSERT_FALSE(s.empty()) << lucid_last_error(gpu.ctx);
    std::vector<uint8_t> out;
    uint32_t ow, oh;
    ASSERT_EQ(lucid::test::decode(gpu.ctx, s, &out, &ow, &oh), LUCID_OK);
    // Bound: 4 GiB of GPU memory for 12 MP with the default 1024-pixel tiles.
    EXPECT_LT(peak_gpu_bytes(), int64_t{4} << 30) << "codec peak " << (peak_gpu_bytes() >> 20) << " MiB";
    std::cerr << "12 MP codec: peak GPU memory " << (peak_gpu_bytes() >> 20) << " MiB\n";
  }
  {
    Ctx gpu(shipped("codiff-small.lucidw"), LUCID_MODEL_RESTORE, LUCID_DEVICE_CUDA);
    ASSERT_EQ(gpu.status, LUCID_OK);
    reset_gpu_peak();
    uint8_t* out = nullptr;
    ASSERT_EQ(lucid_restore_rgb(gpu.ctx, img.data(), W, H, size_t{W} * 3, 30, &out), LUCID_OK)
        << lucid_last_error(gpu.ctx);
    lucid_free(out);
    EXPECT_LT(peak_gpu_bytes(), int64_t{4} << 30) << "restorer peak " << (peak_gpu_bytes() >> 20) << " MiB";
    std::cerr << "12 MP restorer: peak GPU memory " << (peak_gpu_bytes() >> 20) << " MiB\n";
  }
}

int run(const std::string& args) {
  const std::string cmd = std::string(LUCID_TRAIN) + " " + args;
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(Gpu, TrainersTakeStepsOnCuda) {
  LUCID_REQUIRE_GPU();
  const fs::path dir = fs::temp_directory_path() / ("lucid-gpu-train-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream list(dir / "list.txt");
  list << std::string(LUCID_SOURCE_DIR) << "/tests/data/sample.png\n";
  list.close();
  const std::string l = (dir / "list.txt").string();
  EXPECT_EQ(run("codec --config tiny --device cuda --train " + l + " --val " + l +
                " --batch 4 --crop 128 --val-crop 128 --steps 5 --warmup 1 --eval-minutes 1000"
                " --run " + (dir / "codec").string()),
            0);
  EXPECT_TRUE(fs::exists(dir / "codec" / "last.state"));
  EXPECT_EQ(run("restore --config tiny --device cuda --train " + l + " --val " + l +
                " --batch 4 --crop 64 --val-crop 64 --steps 5 --cave-steps 2 --warmup 1"
                " --eval-minutes 1000 --run " + (dir / "restore").string()),
            0);
  EXPECT_TRUE(fs::exists(dir / "restore" / "last.state"));
  fs::remove_all(dir);
}

}  // namespace
