// Quantized-coefficient reading and projection onto a JPEG file's quantization constraint set.
#include "lucid/restoration/jpeg_constraint.h"

#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "lucid/media/jpeg_io.h"

namespace lucid::jpeg {
namespace {

// Photograph-like content: smooth gradients, edges and fine texture; odd sides.
std::vector<uint8_t> test_image(int w, int h, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-12, 12);
  std::vector<uint8_t> rgb(size_t(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &rgb[(size_t(y) * w + x) * 3];
      const double edge = (x + 2 * y) % 37 < 18 ? 60.0 : -60.0;
      const double base = 128 + 50 * std::sin(x * 0.11) * std::cos(y * 0.07) + edge * 0.5;
      p[0] = uint8_t(std::clamp(base + u(rng), 0.0, 255.0));
      p[1] = uint8_t(std::clamp(255.0 * x / std::max(1, w - 1) + u(rng), 0.0, 255.0));
      p[2] = uint8_t(std::clamp(base * 0.5 + 255.0 * y / std::max(1, h - 1) * 0.5 + u(rng), 0.0,
                                255.0));
    }
  return rgb;
}

double psnr(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  double se = 0.0;
  for (size_t i = 0; i < a.size(); ++i) se += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return se == 0 ? 100.0 : 10.0 * std::log10(255.0 * 255.0 / (se / double(a.size())));
}

std::vector<uint8_t> decoded(const std::vector<uint8_t>& jpg) {
  DecodedJpeg d;
  std::string why;
  if (decode_jpeg(jpg.data(), jpg.size(), &d, &why) != Status::kOk) throw std::runtime_error(why);
  return d.rgb;
}

JpegCoefficients coefficients(const std::vector<uint8_t>& jpg) {
  JpegCoefficients c;
  std::string why;
  const Status s = read_jpeg_coefficients(jpg.data(), jpg.size(), &c, &why);
  if (s != Status::kOk) throw std::runtime_error(why);
  return c;
}

// Makes the decoded image worse in a way a restorer might: noise plus a shift of brightness.
std::vector<uint8_t> damaged(std::vector<uint8_t> rgb, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(-14, 14);
  for (auto& v : rgb) v = uint8_t(std::clamp(int(v) + u(rng) + 3, 0, 255));
  return rgb;
}

const Subsampling kAll[] = {Subsampling::k444, Subsampling::k422, Subsampling::k420,
                            Subsampling::k440, Subsampling::k411};

TEST(JpegCoefficients, DequantizedCoefficientsReproduceTheDecodedImage) {
  // Grayscale 4:4:4 file: pixels = IDCT(k * q) + 128 must match libjpeg's decode to within the
  // integer IDCT's rounding. This pins the coefficient order, block layout and tables.
  const int w = 37, h = 29;
  const auto rgb = test_image(w, h, 1);
  std::vector<uint8_t> gray(size_t(w) * h);
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = rgb[3 * i];
  tjhandle tj = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  ASSERT_EQ(tjCompress2(tj, gray.data(), w, 0, h, TJPF_GRAY, &buf, &size, TJSAMP_GRAY, 75,
                        TJFLAG_ACCURATEDCT), 0);
  const std::vector<uint8_t> jpg(buf, buf + size);
  tjFree(buf);
  tjDestroy(tj);
  const JpegCoefficients c = coefficients(jpg);
  ASSERT_EQ(c.color, JpegCoefficients::Color::kGray);
  ASSERT_EQ(c.components.size(), 1u);
  const auto& comp = c.components[0];
  ASSERT_EQ(comp.blocks_w, 5);
  ASSERT_EQ(comp.blocks_h, 4);
  const auto dec = decoded(jpg);
  const double pi = std::acos(-1.0);
  int worst = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int16_t* k = comp.coef.data() + (size_t(y / 8) * comp.blocks_w + x / 8) * 64;
      double s = 0;
      for (int v = 0; v < 8; ++v)
        for (int u = 0; u < 8; ++u) {
          const double cu = u ? 1.0 : std::sqrt(0.5), cv = v ? 1.0 : std::sqrt(0.5);
          s += 0.25 * cu * cv * k[v * 8 + u] * comp.quant[size_t(v * 8 + u)] *
               std::cos((2 * (x % 8) + 1) * u * pi / 16) * std::cos((2 * (y % 8) + 1) * v * pi / 16);
        }
      const int mine = int(std::lround(std::clamp(s + 128, 0.0, 255.0)));
      worst = std::max(worst, std::abs(mine - int(dec[(size_t(y) * w + x) * 3])));
    }
  EXPECT_LE(worst, 1);
}

TEST(JpegCoefficients, ProgressiveAndBaselineCarryTheSameCoefficients) {
  const int w = 50, h = 34;
  const auto rgb = test_image(w, h, 2);
  const JpegCoefficients a = coefficients(encode_jpeg(rgb.data(), w, h, 60, Subsampling::k420));
  const JpegCoefficients b =
      coefficients(encode_jpeg(rgb.data(), w, h, 60, Subsampling::k420, true, true));
  ASSERT_EQ(a.components.size(), 3u);
  EXPECT_EQ(a.max_h, 2);
  EXPECT_EQ(a.max_v, 2);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a.components[i].coef, b.components[i].coef);
    EXPECT_EQ(a.components[i].quant, b.components[i].quant);
  }
  EXPECT_EQ(a.components[1].blocks_w, 4);  // chroma 25 samples wide
}

TEST(JpegCoefficients, BadInputIsAnErrorNotACrash) {
  JpegCoefficients c;
  std::string why;
  EXPECT_EQ(read_jpeg_coefficients(nullptr, 0, &c, &why), Status::kNotJpeg);
  const std::string text = "not a jpeg at all";
  EXPECT_EQ(read_jpeg_coefficients(reinterpret_cast<const uint8_t*>(text.data()), text.size(), &c,
                                   &why),
            Status::kNotJpeg);
  const int w = 40, h = 24;
  const auto rgb = test_image(w, h, 3);
  const auto jpg = encode_jpeg(rgb.data(), w, h, 50, Subsampling::k420);
  for (size_t len = 1; len < jpg.size(); len += 7) {
    const Status s = read_jpeg_coefficients(jpg.data(), len, &c, &why);
    EXPECT_EQ(s, Status::kTruncated) << len;
    EXPECT_TRUE(c.components.empty());
    EXPECT_FALSE(why.empty());
  }
  Limits tiny;
  tiny.max_pixels = 100;
  EXPECT_EQ(read_jpeg_coefficients(jpg.data(), jpg.size(), &c, &why, tiny), Status::kTooLarge);
}

TEST(JpegConstraint, ProjectionBringsADamagedImageCloserToTheOriginal) {
  // The constraint set is convex and holds the original, so projecting onto it must reduce the
  // error of an image that violates it, for every chroma layout.
  const int w = 61, h = 45;
  const auto orig = test_image(w, h, 4);
  for (Subsampling s : kAll)
    for (int q : {20, 50, 90}) {
      const auto jpg = encode_jpeg(orig.data(), w, h, q, s);
      auto img = damaged(decoded(jpg), 5);
      const double before = psnr(orig, img);
      ProjectionStats st;
      ASSERT_TRUE(project_to_constraints(coefficients(jpg), img.data(), w, h, size_t(w) * 3, &st));
      EXPECT_GT(st.clipped, 0u);
      // Noise of +-14 mostly fits inside the wide intervals of low qualities; at q 90 the
      // intervals are narrow and most of it is removed.
      EXPECT_GT(psnr(orig, img), before + (q >= 90 ? 0.5 : 0.05))
          << "subsampling " << int(s) << " q " << q;
    }
}

TEST(JpegConstraint, ProjectionIsNearlyIdempotentAndKeepsTheDecodedImage) {
  const int w = 48, h = 40;
  const auto orig = test_image(w, h, 6);
  for (Subsampling s : {Subsampling::k444, Subsampling::k420}) {
    const auto jpg = encode_jpeg(orig.data(), w, h, 40, s);
    const JpegCoefficients c = coefficients(jpg);
    // The decoder's own output lies (up to rounding) in the set: projecting barely moves it.
    auto dec = decoded(jpg);
    const auto dec0 = dec;
    ASSERT_TRUE(project_to_constraints(c, dec.data(), w, h, size_t(w) * 3));
    EXPECT_GT(psnr(dec0, dec), 40.0);
    // A second projection changes only what 8-bit rounding moved out of the set.
    auto img = damaged(dec0, 7);
    ASSERT_TRUE(project_to_constraints(c, img.data(), w, h, size_t(w) * 3));
    auto again = img;
    ASSERT_TRUE(project_to_constraints(c, again.data(), w, h, size_t(w) * 3));
    EXPECT_GT(psnr(img, again), 45.0);
  }
}

TEST(JpegConstraint, KeepShrinksTowardTheFilesOwnCoefficients) {
  // keep scales each coefficient's deviation from the file's dequantized value: 0 gives the
  // decoder's image back, 0.5 a quarter of the full projection's squared deviation from it.
  const int w = 56, h = 40;
  const auto orig = test_image(w, h, 8);
  const auto jpg = encode_jpeg(orig.data(), w, h, 60, Subsampling::k444);
  const JpegCoefficients c = coefficients(jpg);
  const auto dec = decoded(jpg);
  auto mse_to_dec = [&](float keep) {
    auto img = damaged(dec, 9);
    EXPECT_TRUE(project_to_constraints(c, img.data(), w, h, size_t(w) * 3, nullptr, keep));
    double se = 0;
    for (size_t i = 0; i < img.size(); ++i) se += (double(img[i]) - dec[i]) * (img[i] - dec[i]);
    return se / double(img.size());
  };
  const double full = mse_to_dec(1.0f), half = mse_to_dec(0.5f), none = mse_to_dec(0.0f);
  EXPECT_GT(full, 4.0);
  EXPECT_LT(none, 1.0);  // integer IDCT and 8-bit rounding only
  EXPECT_NEAR(half / full, 0.25, 0.08);
}

TEST(JpegConstraint, StrideAndGrayFiles) {
  const int w = 33, h = 17;
  const auto rgb = test_image(w, h, 8);
  std::vector<uint8_t> gray(size_t(w) * h);
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = rgb[3 * i + 1];
  tjhandle tj = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  ASSERT_EQ(tjCompress2(tj, gray.data(), w, 0, h, TJPF_GRAY, &buf, &size, TJSAMP_GRAY, 30, 0), 0);
  const std::vector<uint8_t> jpg(buf, buf + size);
  tjFree(buf);
  tjDestroy(tj);
  // Rows 4 bytes apart beyond the pixels; the padding must stay untouched.
  const size_t stride = size_t(w) * 3 + 4;
  std::vector<uint8_t> img(stride * h, 0xAB);
  for (int y = 0; y < h; ++y)
    std::copy(rgb.begin() + long(y) * w * 3, rgb.begin() + long(y + 1) * w * 3,
              img.begin() + long(y * stride));
  ASSERT_TRUE(project_to_constraints(coefficients(jpg), img.data(), w, h, stride));
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const uint8_t* p = &img[y * stride + size_t(x) * 3];
      ASSERT_EQ(p[0], p[1]);
      ASSERT_EQ(p[0], p[2]);
    }
    for (int k = 0; k < 4; ++k) ASSERT_EQ(img[y * stride + size_t(w) * 3 + k], 0xAB);
  }
}

TEST(JpegConstraint, MismatchedImagesAreLeftUntouched) {
  const int w = 24, h = 16;
  const auto rgb = test_image(w, h, 9);
  const JpegCoefficients c = coefficients(encode_jpeg(rgb.data(), w, h, 50));
  auto img = rgb;
  EXPECT_FALSE(project_to_constraints(c, img.data(), w - 1, h, size_t(w) * 3));
  EXPECT_FALSE(project_to_constraints(c, img.data(), w, h, size_t(w) * 3 - 1));
  EXPECT_FALSE(project_to_constraints(c, nullptr, w, h, size_t(w) * 3));
  JpegCoefficients broken = c;
  broken.components[1].coef.pop_back();
  EXPECT_FALSE(project_to_constraints(broken, img.data(), w, h, size_t(w) * 3));
  EXPECT_EQ(img, rgb);
}

}  // namespace
}  // namespace lucid::jpeg
