#include "metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>

#include "lucid/media/jpeg_io.h"

namespace lucid::app {
namespace {

Image filled(int w, int h, uint8_t v) {
  return Image{w, h, std::vector<uint8_t>(size_t(w) * h * 3, v)};
}

Image textured(int w, int h) {
  Image img{w, h, std::vector<uint8_t>(size_t(w) * h * 3)};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        img.rgb[(size_t(y) * w + x) * 3 + c] =
            uint8_t(100 + 60 * std::sin(x * 0.3 + c) * std::cos(y * 0.2 - c));
  return img;
}

Image with_noise(const Image& img, double sigma, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> n(0.0, sigma);
  Image out = img;
  for (auto& v : out.rgb) v = uint8_t(std::clamp(std::lround(v + n(rng)), 0L, 255L));
  return out;
}

// Same value in all three channels, given per pixel.
Image from_gray(int w, int h, const std::function<uint8_t(int, int)>& f) {
  Image img{w, h, std::vector<uint8_t>(size_t(w) * h * 3)};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) img.rgb[(size_t(y) * w + x) * 3 + c] = f(x, y);
  return img;
}

TEST(Metrics, PsnrHandComputed) {
  const Image a = filled(8, 6, 0), b = filled(8, 6, 10);
  EXPECT_DOUBLE_EQ(mse(a, b), 100.0);
  EXPECT_NEAR(psnr(a, b), 28.130803608679106, 1e-12);  // 10 log10(255^2 / 100)
  EXPECT_EQ(psnr(a, a), std::numeric_limits<double>::infinity());

  // 2x2 RGB = 12 samples, one off by 255: MSE = 255^2 / 12, PSNR = 10 log10(12).
  Image c = filled(2, 2, 0);
  Image d = c;
  d.rgb[5] = 255;
  EXPECT_NEAR(psnr(c, d), 10.79181246047625, 1e-12);
  EXPECT_DOUBLE_EQ(psnr(c, d), psnr(d, c));
}

TEST(Metrics, RejectsMismatchedOrEmptyImages) {
  EXPECT_THROW(psnr(filled(4, 4, 0), filled(4, 5, 0)), std::invalid_argument);
  EXPECT_THROW(ssim(filled(4, 4, 0), filled(5, 4, 0)), std::invalid_argument);
  EXPECT_THROW(ms_ssim(Image{}, Image{}), std::invalid_argument);
  EXPECT_THROW(psnr_b(Image{2, 2, {1, 2, 3}}, Image{2, 2, {1, 2, 3}}), std::invalid_argument);
  EXPECT_THROW(blocking_effect_factor(filled(4, 4, 0), 3), std::invalid_argument);
}

TEST(Metrics, SsimOfIdenticalIsOne) {
  for (auto [w, h] : {std::pair{64, 48}, std::pair{5, 7}, std::pair{1, 1}, std::pair{300, 200}}) {
    const Image img = with_noise(textured(w, h), 20.0, 1);
    EXPECT_EQ(ssim(img, img), 1.0);
    EXPECT_EQ(ms_ssim(img, img), 1.0);
  }
}

TEST(Metrics, SsimOfConstantImagesIsTheLuminanceTerm) {
  // Zero variance everywhere: the contrast-structure term is exactly C2 / C2 = 1, so SSIM is
  // (2 * 100 * 110 + C1) / (100^2 + 110^2 + C1) with C1 = (0.01 * 255)^2.
  const double l = 0.9954764440915066;
  EXPECT_NEAR(ssim(filled(32, 32, 100), filled(32, 32, 110)), l, 1e-9);
  // MS-SSIM: cs = 1 at every scale, so only the coarsest scale's l^w remains.
  // 256x256 uses all 5 scales: w5 = 0.1333 / 1.0001 (weights renormalized to sum 1).
  EXPECT_NEAR(ms_ssim(filled(256, 256, 100), filled(256, 256, 110)), 0.9993958850217243, 1e-9);
  // 64x64: 64 >> 3 = 8 < 11, so 3 scales with w3 = 0.3001 / (0.0448 + 0.2856 + 0.3001).
  EXPECT_NEAR(ms_ssim(filled(64, 64, 100), filled(64, 64, 110)), 0.9978443587358946, 1e-9);
}

TEST(Metrics, ConstantShiftKeepsStructure) {
  const Image a = textured(48, 40);
  Image b = a;
  for (auto& v : b.rgb) v = uint8_t(v + 15);  // textured() stays in [40, 160]: no clipping
  const double s = ssim(a, b);
  EXPECT_LT(s, 1.0);
  EXPECT_GT(s, 0.98);  // luminance-only change around mean ~100
  // Noise of the same MSE hurts structure much more than the shift.
  const Image noisy = with_noise(a, 15.0, 2);
  EXPECT_LT(ssim(a, noisy), s);
}

TEST(Metrics, SsimOrderingAndSymmetry) {
  const Image a = textured(96, 80);
  const Image n5 = with_noise(a, 5.0, 3), n20 = with_noise(a, 20.0, 3);
  EXPECT_GT(ssim(a, n5), ssim(a, n20));
  EXPECT_GT(ms_ssim(a, n5), ms_ssim(a, n20));
  EXPECT_NEAR(ssim(a, n20), ssim(n20, a), 1e-12);
  EXPECT_NEAR(ms_ssim(a, n20), ms_ssim(n20, a), 1e-12);
  EXPECT_GT(ssim(a, n20), -1.0);
  EXPECT_LT(ssim(a, n5), 1.0);
  EXPECT_GE(ms_ssim(a, n20), 0.0);
  EXPECT_LT(ms_ssim(a, n5), 1.0);
}

TEST(Metrics, SmallImagesFallBackGracefully) {
  // Shorter side < 22: a single scale, so MS-SSIM is SSIM (positive here).
  const Image a = textured(20, 15), b = with_noise(a, 10.0, 4);
  EXPECT_NEAR(ms_ssim(a, b), ssim(a, b), 1e-12);
  const Image tiny = textured(3, 2), tiny_b = with_noise(tiny, 10.0, 5);
  const double s = ssim(tiny, tiny_b);
  EXPECT_TRUE(std::isfinite(s));
  EXPECT_TRUE(std::isfinite(ms_ssim(tiny, tiny_b)));
  EXPECT_TRUE(std::isfinite(ms_ssim(textured(1, 500), with_noise(textured(1, 500), 8.0, 6))));
}

TEST(Metrics, BlockingEffectFactorHandComputed) {
  // 8x8 checkerboard of 120/136 blocks on 64x64: every boundary pair differs by 16, no inner
  // pair differs. D_B = 256, D_Bc = 0, eta = log2(8) / log2(64) = 0.5, BEF = 128.
  const Image blocks = from_gray(64, 64, [](int x, int y) {
    return uint8_t(((x / 8 + y / 8) % 2) ? 136 : 120);
  });
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(blocking_effect_factor(blocks, c), 128.0, 1e-9);
  const Image ref = filled(64, 64, 128);
  // MSE = 64; MSE-B = 64 + 128 = 192.
  EXPECT_NEAR(psnr(ref, blocks), 30.069003868840234, 1e-9);
  EXPECT_NEAR(psnr_b(ref, blocks), 25.297791321643608, 1e-9);
  // The BEF is a property of the test image: swapping the arguments removes it.
  EXPECT_EQ(blocking_effect_factor(ref, 0), 0.0);
  EXPECT_NEAR(psnr_b(blocks, ref), psnr(ref, blocks), 1e-12);

  // 20x12, vertical stripes 50 | 80 | 110 changing at x = 8 and x = 16: per row two boundary
  // pairs with difference 30 and 17 inner pairs with 0; vertically 20 boundary pairs (y 7|8) and
  // 200 inner pairs, all 0. D_B = 24 * 900 / (24 + 20), D_Bc = 0, eta = 3 / log2(12).
  const Image stripes =
      from_gray(20, 12, [](int x, int) { return uint8_t(x < 8 ? 50 : x < 16 ? 80 : 110); });
  EXPECT_NEAR(blocking_effect_factor(stripes, 1), 3.0 / std::log2(12.0) * (24.0 * 900.0 / 44.0),
              1e-9);

  // Inner variation larger than at boundaries: no blocking.
  const Image busy = from_gray(32, 32, [](int x, int) {
    const int k = x % 8;
    return uint8_t(k == 7 || k % 2 == 0 ? 0 : 100);
  });
  EXPECT_EQ(blocking_effect_factor(busy, 2), 0.0);
  // Images without any block boundary.
  EXPECT_EQ(blocking_effect_factor(textured(8, 8), 0), 0.0);
  EXPECT_EQ(psnr_b(filled(8, 8, 3), filled(8, 8, 3)), std::numeric_limits<double>::infinity());
}

TEST(Metrics, JpegArtifactsLowerPsnrB) {
  const Image src = textured(128, 96);
  double last_ms = 1.0;
  for (int q : {90, 30, 5}) {
    const auto bytes = lucid::jpeg::encode_jpeg(src.rgb.data(), src.width, src.height, q);
    lucid::jpeg::DecodedJpeg d;
    ASSERT_EQ(lucid::jpeg::decode_jpeg(bytes.data(), bytes.size(), &d, nullptr),
              lucid::jpeg::Status::kOk);
    const Image dec{d.width, d.height, d.rgb};
    EXPECT_LE(psnr_b(src, dec), psnr(src, dec));
    const double ms = ms_ssim(src, dec);
    EXPECT_LT(ms, last_ms) << q;
    last_ms = ms;
    if (q == 5) {
      EXPECT_GT(blocking_effect_factor(dec, 0), 0.0);
      EXPECT_LT(psnr_b(src, dec), psnr(src, dec));
    }
  }
}


// ---- One plane at its native bit depth (video luma) -----------------------------------------

// A plane of w x h samples (2 bytes each above 8 bits), rows `pad` samples longer than needed.
struct TestPlane {
  std::vector<uint8_t> bytes;
  SamplePlane view;
};
TestPlane make_plane(int w, int h, int bit_depth, const std::function<int(int, int)>& f, int pad = 0) {
  TestPlane t;
  const int bps = bit_depth > 8 ? 2 : 1;
  const ptrdiff_t stride = static_cast<ptrdiff_t>(w + pad) * bps;
  t.bytes.assign(static_cast<size_t>(stride) * h, 0xEE);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int v = f(x, y);
      if (bps == 1) {
        t.bytes[static_cast<size_t>(y * stride + x)] = static_cast<uint8_t>(v);
      } else {
        const uint16_t s16 = static_cast<uint16_t>(v);
        std::memcpy(&t.bytes[static_cast<size_t>(y * stride + 2 * x)], &s16, 2);
      }
    }
  t.view = SamplePlane{t.bytes.data(), stride, w, h, bit_depth};
  return t;
}

TEST(PlaneMetrics, PsnrUsesTheNativePeak) {
  const auto a8 = make_plane(20, 12, 8, [](int, int) { return 100; });
  const auto b8 = make_plane(20, 12, 8, [](int, int) { return 110; });
  EXPECT_DOUBLE_EQ(plane_mse(a8.view, b8.view), 100.0);
  EXPECT_DOUBLE_EQ(plane_psnr(a8.view, b8.view), 10.0 * std::log10(255.0 * 255.0 / 100.0));
  // 10 bit: peak 1023, not 255; the same error on the native scale.
  const auto a10 = make_plane(20, 12, 10, [](int, int) { return 400; });
  const auto b10 = make_plane(20, 12, 10, [](int, int) { return 410; }, 3);
  EXPECT_DOUBLE_EQ(plane_peak(a10.view), 1023.0);
  EXPECT_DOUBLE_EQ(plane_mse(a10.view, b10.view), 100.0);
  EXPECT_DOUBLE_EQ(plane_psnr(a10.view, b10.view), 10.0 * std::log10(1023.0 * 1023.0 / 100.0));
  EXPECT_EQ(plane_psnr(a10.view, a10.view), std::numeric_limits<double>::infinity());
}

TEST(PlaneMetrics, SsimIsTheImageSsimOnOnePlane) {
  // An 8-bit plane scores as the RGB SSIM of the gray image made of it (same window, constants).
  auto fa = [](int x, int y) { return int(100 + 60 * std::sin(x * 0.3) * std::cos(y * 0.2)); };
  auto fb = [&](int x, int y) { return std::clamp(fa(x, y) + ((x * 7 + y * 13) % 11) - 5, 0, 255); };
  const auto a = make_plane(40, 30, 8, fa, 5), b = make_plane(40, 30, 8, fb);
  const double s8 = plane_ssim(a.view, b.view);
  EXPECT_DOUBLE_EQ(s8, ssim(from_gray(40, 30, [&](int x, int y) { return uint8_t(fa(x, y)); }),
                            from_gray(40, 30, [&](int x, int y) { return uint8_t(fb(x, y)); })));
  EXPECT_LT(s8, 1.0);
  EXPECT_GT(s8, 0.5);
  EXPECT_EQ(plane_ssim(a.view, a.view), 1.0);
  // The same picture at 10 bits (samples x 4): the constants follow the peak, so the score is
  // (almost: 1023 is not 4 x 255) the same.
  const auto a10 = make_plane(40, 30, 10, [&](int x, int y) { return 4 * fa(x, y); });
  const auto b10 = make_plane(40, 30, 10, [&](int x, int y) { return 4 * fb(x, y); }, 2);
  EXPECT_NEAR(plane_ssim(a10.view, b10.view), s8, 1e-4);
}

TEST(PlaneMetrics, RejectsMismatchedOrBrokenPlanes) {
  const auto a = make_plane(8, 8, 8, [](int, int) { return 1; });
  const auto b = make_plane(8, 9, 8, [](int, int) { return 1; });
  const auto c = make_plane(8, 8, 10, [](int, int) { return 1; });
  EXPECT_THROW(plane_psnr(a.view, b.view), std::invalid_argument);
  EXPECT_THROW(plane_ssim(a.view, c.view), std::invalid_argument);
  SamplePlane short_stride = a.view;
  short_stride.stride = 7;
  EXPECT_THROW(plane_mse(a.view, short_stride), std::invalid_argument);
  SamplePlane null = a.view;
  null.data = nullptr;
  EXPECT_THROW(plane_psnr(null, a.view), std::invalid_argument);
}

}  // namespace
}  // namespace lucid::app
