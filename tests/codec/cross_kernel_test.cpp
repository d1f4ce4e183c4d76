// Streams decode across CPU kernel sets: the lucid CLI encodes with ATen's baseline kernels
// (ATEN_CPU_CAPABILITY=default) and decodes with the vectorised ones this CPU picks by itself,
// and the reverse, at 1 and 2 threads, on several images and qualities. Every decode must pass
// the latent checksum (encoder and decoder computed the same entropy parameters), and a
// decoder's pixels must not depend on its thread count.
//
// Format version 1 (the LibTorch entropy path) fails this: run the test with
// LUCID_STREAM_VERSION=1 in the environment (the encoders then write version 1) to see
// checksum mismatches and desynchronised slices.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "lucid/media/image_io.h"

namespace fs = std::filesystem;

namespace {

struct Result {
  int code;
  std::string err;
};

class CrossKernel : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lucid-xkernel-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs the CLI with ATen's baseline kernels (`baseline`) or the CPU's own choice, and with
  // the exact path's matrix kernel forced to `exact_kernel` (empty: its own choice).
  Result run(bool baseline, const std::string& exact_kernel, const std::string& args) {
    const std::string err = (dir_ / "stderr.txt").string();
    std::string env = baseline ? "env ATEN_CPU_CAPABILITY=default " : "env -u ATEN_CPU_CAPABILITY ";
    env += exact_kernel.empty() ? "-u LUCID_EXACT_KERNEL "
                                : "LUCID_EXACT_KERNEL=" + exact_kernel + " ";
    const std::string cmd = env + LUCID_CLI + " " + args + " > /dev/null 2> " + err;
    const int rc = std::system(cmd.c_str());
    std::ifstream in(err);
    std::stringstream s;
    s << in.rdbuf();
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, s.str()};
  }
  std::string p(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

lucid::media::Image crop(const lucid::media::Image& src, int x0, int y0, int w, int h) {
  lucid::media::Image c;
  c.width = w;
  c.height = h;
  for (int y = 0; y < h; ++y)
    c.rgb.insert(c.rgb.end(), src.rgb.begin() + ((y0 + y) * src.width + x0) * 3,
                 src.rgb.begin() + ((y0 + y) * src.width + x0 + w) * 3);
  return c;
}

// Smooth gradients, hard edges and noise.
lucid::media::Image synthetic(int w, int h) {
  lucid::media::Image img;
  img.width = w;
  img.height = h;
  uint32_t r = 12345;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        r = r * 1664525u + 1013904223u;
        int v = 40 + 150 * x / w + 50 * y / h + 20 * c + static_cast<int>(r >> 28) - 8;
        if (((x / 19) ^ (y / 23)) & 1) v = 255 - v;
        img.rgb.push_back(static_cast<uint8_t>(std::min(255, std::max(0, v))));
      }
  return img;
}

TEST_F(CrossKernel, StreamsDecodeAcrossKernelSetsAndThreadCounts) {
  const std::string model =
      std::string(" --model ") + LUCID_SOURCE_DIR + "/models/weights/fat-small.lucidw";
  const lucid::media::Image sample =
      lucid::media::read_image(LUCID_SOURCE_DIR "/tests/data/sample.png");
  struct Case {
    std::string name;
    lucid::media::Image img;
    int q;
  };
  const std::vector<Case> cases = {{"sample", sample, 50},
                                   {"crop", crop(sample, 37, 61, 400, 272), 95},
                                   {"synthetic", synthetic(333, 197), 5}};
  // (encoder: ATen's baseline kernels?, the exact path's matrix kernel, threads); each stream
  // is decoded with the other ATen kernel set (and another exact kernel) at 1 and 2 threads.
  struct Enc {
    bool baseline;
    const char* exact;
    int threads;
    const char* decoder_exact;
  };
  for (const Case& c : cases) {
    const std::string png = p(c.name + ".png");
    lucid::media::write_image(png, c.img, true);
    for (const Enc e : {Enc{true, "scalar", 1, ""}, Enc{false, "", 2, "sse"}}) {
      const std::string tag =
          c.name + "-q" + std::to_string(c.q) + (e.baseline ? "-baseline" : "-vectorised");
      const std::string stream = p(tag + ".lucid");
      Result r = run(e.baseline, e.exact,
                     "encode " + png + " -o " + stream + " -q " + std::to_string(c.q) +
                         " -y -j " + std::to_string(e.threads) + model);
      ASSERT_EQ(r.code, 0) << tag << ": " << r.err;
      std::vector<std::vector<uint8_t>> pixels;
      for (int j : {1, 2}) {
        const std::string out = p(tag + "-j" + std::to_string(j) + ".png");
        r = run(!e.baseline, e.decoder_exact,
                "decode " + stream + " -o " + out + " -y -j " + std::to_string(j) + model);
        EXPECT_EQ(r.code, 0) << tag << " decoded by the other kernels at -j " << j << ": "
                             << r.err;
        if (r.code == 0) pixels.push_back(lucid::media::read_image(out).rgb);
      }
      if (pixels.size() == 2) {
        EXPECT_EQ(pixels[0], pixels[1]) << tag << ": -j 1 and -j 2 decode to other pixels";
      }
    }
  }
}

}  // namespace
