#include "lucid/media/image_io.h"

#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "lucid/media/jpeg_io.h"
#include "metrics.h"
#include "rd_plot.h"

namespace lucid::app {
namespace {

using namespace lucid::media;  // image_io lives in lucid::media; rd_plot stays in lucid::app

namespace fs = std::filesystem;

class ImageIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "lucid-image-io-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::set<std::string> entries() const {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.insert(e.path().filename().string());
    return names;
  }
  void put(const std::string& name, const std::vector<uint8_t>& bytes) const {
    std::ofstream f(path(name), std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  }
  void put(const std::string& name, const std::string& bytes) const {
    put(name, std::vector<uint8_t>(bytes.begin(), bytes.end()));
  }
  std::vector<uint8_t> get(const std::string& name) const {
    std::ifstream f(path(name), std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  }
  fs::path dir_;
};

Image random_image(int w, int h, uint32_t seed) {
  std::mt19937 rng(seed);
  Image img{w, h, std::vector<uint8_t>(size_t(w) * h * 3)};
  for (auto& v : img.rgb) v = uint8_t(rng());
  return img;
}

Image smooth_image(int w, int h) {
  Image img{w, h, std::vector<uint8_t>(size_t(w) * h * 3)};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &img.rgb[(size_t(y) * w + x) * 3];
      p[0] = uint8_t(x * 255 / std::max(1, w - 1));
      p[1] = uint8_t(y * 255 / std::max(1, h - 1));
      p[2] = uint8_t(128 + 100 * std::sin(x * 0.1 + y * 0.07));
    }
  return img;
}

// Writes a PNG with the full libpng API; `samples` holds big-endian 16-bit values when depth 16,
// packed pixels for depth < 8.
std::vector<uint8_t> make_png(int w, int h, int color_type, int depth,
                              const std::vector<uint8_t>& samples, bool interlaced = false,
                              const std::vector<png_color>& palette = {},
                              const std::vector<uint8_t>& trns = {}) {
  std::vector<uint8_t> out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep d, size_t n) {
        auto* v = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(p));
        v->insert(v->end(), d, d + n);
      },
      [](png_structp) {});
  png_set_IHDR(png, info, png_uint_32(w), png_uint_32(h), depth, color_type,
               interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!palette.empty()) png_set_PLTE(png, info, palette.data(), int(palette.size()));
  if (!trns.empty()) png_set_tRNS(png, info, trns.data(), int(trns.size()), nullptr);
  png_write_info(png, info);
  const size_t stride = samples.size() / size_t(h);
  std::vector<png_bytep> rows(static_cast<size_t>(h));
  for (int y = 0; y < h; ++y) rows[size_t(y)] = const_cast<uint8_t*>(samples.data()) + stride * y;
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

void expect_code(const std::function<void()>& fn, ImageErrorCode code,
                 const std::string& needle = "") {
  try {
    fn();
    ADD_FAILURE() << "no exception; expected code " << image_error_code_str(code);
  } catch (const ImageError& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_EQ(std::string(e.what()), e.path() + ": " + e.reason());
    if (!needle.empty()) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
}

TEST_F(ImageIoTest, PngAndPpmRoundTripExactly) {
  const Image img = random_image(37, 23, 1);
  for (const char* name : {"a.png", "b.ppm", "c.PNG"}) {
    write_image(path(name), img, false);
    const Image back = read_image(path(name));
    EXPECT_EQ(back.width, img.width);
    EXPECT_EQ(back.height, img.height);
    EXPECT_EQ(back.rgb, img.rgb) << name;
  }
  EXPECT_EQ(entries(), (std::set<std::string>{"a.png", "b.ppm", "c.PNG"}));
}

TEST_F(ImageIoTest, JpegRoundTrip) {
  const Image img = smooth_image(64, 48);
  write_image(path("a.jpg"), img, false, 95);
  write_image(path("b.jpeg"), img, false, 40);
  const Image a = read_image(path("a.jpg"));
  const Image b = read_image(path("b.jpeg"));
  EXPECT_EQ(a.width, 64);
  EXPECT_EQ(a.height, 48);
  EXPECT_GT(psnr(img, a), 35.0);
  EXPECT_GT(psnr(img, a), psnr(img, b));
  // The quality written is the quality asked for.
  const auto bytes = get("b.jpeg");
  lucid::jpeg::DecodedJpeg d;
  ASSERT_EQ(lucid::jpeg::decode_jpeg(bytes.data(), bytes.size(), &d, nullptr),
            lucid::jpeg::Status::kOk);
  EXPECT_EQ(lucid::jpeg::estimate_quality(d.qt).quality, 40.0);
  EXPECT_THROW(write_image(path("c.jpg"), img, false, 0), std::invalid_argument);
}

TEST_F(ImageIoTest, FormatIsDetectedByContentNotExtension) {
  const Image img = random_image(9, 7, 2);
  put("really_a_png.jpg", encode_image_for_path("x.png", img));
  put("really_a_ppm.png", encode_image_for_path("x.ppm", img));
  EXPECT_EQ(read_image(path("really_a_png.jpg")).rgb, img.rgb);
  EXPECT_EQ(read_image(path("really_a_ppm.png")).rgb, img.rgb);
}

TEST_F(ImageIoTest, GrayPngsAreExpanded) {
  const int w = 5, h = 3;
  std::vector<uint8_t> gray(size_t(w) * h);
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = uint8_t(i * 17);
  put("g8.png", make_png(w, h, PNG_COLOR_TYPE_GRAY, 8, gray));
  Image img = read_image(path("g8.png"));
  ASSERT_EQ(img.rgb.size(), size_t(w) * h * 3);
  for (size_t i = 0; i < gray.size(); ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(img.rgb[3 * i + c], gray[i]);

  // 1-bit: 8 pixels per byte, MSB first; rows padded to whole bytes.
  put("g1.png", make_png(3, 2, PNG_COLOR_TYPE_GRAY, 1, {0xA0, 0x40}));
  img = read_image(path("g1.png"));
  const uint8_t expect1[] = {255, 0, 255, 0, 255, 0};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(img.rgb[3 * i + 1], expect1[i]) << i;

  // Palette.
  put("p.png", make_png(2, 1, PNG_COLOR_TYPE_PALETTE, 8, {1, 0}, false,
                        {{10, 20, 30}, {40, 50, 60}}));
  img = read_image(path("p.png"));
  EXPECT_EQ(img.rgb, (std::vector<uint8_t>{40, 50, 60, 10, 20, 30}));
}

// Gray in is flagged; a flagged image is written with one channel (PNG, PGM, JPEG).
TEST_F(ImageIoTest, GrayImagesAreFlaggedAndWrittenGray) {
  const int w = 6, h = 4;
  std::vector<uint8_t> gray(size_t(w) * h);
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = uint8_t(i * 11);
  put("g.png", make_png(w, h, PNG_COLOR_TYPE_GRAY, 8, gray));
  Image img = read_image(path("g.png"));
  EXPECT_TRUE(img.gray);
  EXPECT_FALSE(read_image(path("g.png")).rgb.empty());
  EXPECT_FALSE(Image{}.gray);
  for (const char* name : {"out.png", "out.pgm"}) {
    write_image(path(name), img, false);
    const Image back = read_image(path(name));
    EXPECT_TRUE(back.gray) << name;
    EXPECT_EQ(back.rgb, img.rgb) << name;
  }
  const auto pgm = get("out.pgm");
  ASSERT_GE(pgm.size(), 2u);
  EXPECT_EQ(pgm[0], 'P');
  EXPECT_EQ(pgm[1], '5');
  // PNG colour type 0 (gray) in the IHDR chunk (byte 25).
  EXPECT_EQ(get("out.png")[25], 0);
  write_image(path("out.jpg"), img, false, 90);
  const auto jpg = get("out.jpg");
  lucid::jpeg::DecodedJpeg d;
  ASSERT_EQ(lucid::jpeg::decode_jpeg(jpg.data(), jpg.size(), &d, nullptr),
            lucid::jpeg::Status::kOk);
  EXPECT_EQ(d.components, 1);
  EXPECT_TRUE(read_image(path("out.jpg")).gray);
  // An RGB image stays RGB.
  const Image rgb = random_image(5, 5, 3);
  EXPECT_FALSE(rgb.gray);
  write_image(path("rgb.png"), rgb, false);
  EXPECT_FALSE(read_image(path("rgb.png")).gray);
}

TEST_F(ImageIoTest, SixteenBitPngIsRounded) {
  const uint16_t values[] = {0, 128, 129, 256, 32767, 32896, 65407, 65535, 1000};
  const int w = 3, h = 1;  // 3 RGB pixels = 9 samples
  std::vector<uint8_t> be;
  for (uint16_t v : values) {
    be.push_back(uint8_t(v >> 8));
    be.push_back(uint8_t(v & 0xFF));
  }
  put("rgb16.png", make_png(w, h, PNG_COLOR_TYPE_RGB, 16, be));
  const Image img = read_image(path("rgb16.png"));
  ASSERT_EQ(img.rgb.size(), 9u);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(img.rgb[i], std::lround(values[i] / 257.0)) << values[i];

  // 16-bit gray + fully opaque alpha: alpha is dropped.
  std::vector<uint8_t> ga = {0x12, 0x34, 0xFF, 0xFF, 0xFF, 0x00, 0xFF, 0xFF};
  put("ga16.png", make_png(2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 16, ga));
  const Image g = read_image(path("ga16.png"));
  EXPECT_EQ(g.rgb, (std::vector<uint8_t>{18, 18, 18, 254, 254, 254}));  // 0xFF00 / 257 = 254.0
}

TEST_F(ImageIoTest, InterlacedPng) {
  const Image img = random_image(13, 11, 3);
  put("i.png", make_png(13, 11, PNG_COLOR_TYPE_RGB, 8, img.rgb, true));
  EXPECT_EQ(read_image(path("i.png")).rgb, img.rgb);
}

TEST_F(ImageIoTest, AlphaMustBeOpaque) {
  std::vector<uint8_t> rgba = {1, 2, 3, 255, 4, 5, 6, 255};
  put("opaque.png", make_png(2, 1, PNG_COLOR_TYPE_RGBA, 8, rgba));
  EXPECT_EQ(read_image(path("opaque.png")).rgb, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));

  rgba[7] = 254;
  put("alpha.png", make_png(2, 1, PNG_COLOR_TYPE_RGBA, 8, rgba));
  expect_code([&] { read_image(path("alpha.png")); }, ImageErrorCode::kUnsupported,
              "has an alpha channel; flatten it first (e.g. convert IN -background white "
              "-flatten OUT)");

  // Palette transparency counts too, but only for entries that are used.
  put("trns_used.png", make_png(2, 1, PNG_COLOR_TYPE_PALETTE, 8, {0, 1}, false,
                                {{1, 1, 1}, {2, 2, 2}}, {0}));
  expect_code([&] { read_image(path("trns_used.png")); }, ImageErrorCode::kUnsupported, "alpha");
  put("trns_unused.png", make_png(2, 1, PNG_COLOR_TYPE_PALETTE, 8, {1, 1}, false,
                                  {{1, 1, 1}, {2, 2, 2}}, {0}));
  EXPECT_EQ(read_image(path("trns_unused.png")).rgb, (std::vector<uint8_t>{2, 2, 2, 2, 2, 2}));
}

TEST_F(ImageIoTest, NetpbmVariants) {
  // P5 with a comment and maxval 255.
  put("g.pgm", std::string("P5\n# comment\n3 1\n255\n") + std::string("\x00\x80\xFF", 3));
  Image img = read_image(path("g.pgm"));
  EXPECT_EQ(img.rgb, (std::vector<uint8_t>{0, 0, 0, 128, 128, 128, 255, 255, 255}));
  // P6 16-bit.
  put("c16.ppm", std::string("P6 1 1 65535\n") + std::string("\x00\x80\x01\x01\xFF\xFF", 6));
  img = read_image(path("c16.ppm"));
  EXPECT_EQ(img.rgb, (std::vector<uint8_t>{0, 1, 255}));
  // maxval 1023 (2 bytes per sample).
  put("m.pgm", std::string("P5 2 1 1023\n") + std::string("\x03\xFF\x02\x00", 4));
  img = read_image(path("m.pgm"));
  EXPECT_EQ(img.rgb[0], 255);
  EXPECT_EQ(img.rgb[3], std::lround(512 * 255.0 / 1023));

  put("ascii.ppm", "P3\n1 1\n255\n1 2 3\n");
  expect_code([&] { read_image(path("ascii.ppm")); }, ImageErrorCode::kUnsupported, "P3");
  put("short.ppm", std::string("P6\n4 4\n255\n") + std::string(47, 'x'));
  expect_code([&] { read_image(path("short.ppm")); }, ImageErrorCode::kCorrupt, "truncated");
  put("bad.ppm", "P6\n4 x\n255\n");
  expect_code([&] { read_image(path("bad.ppm")); }, ImageErrorCode::kCorrupt);
  put("maxval.ppm", "P6\n1 1\n70000\n");
  expect_code([&] { read_image(path("maxval.ppm")); }, ImageErrorCode::kCorrupt);
  put("zero.ppm", "P6\n0 1\n255\n");
  expect_code([&] { read_image(path("zero.ppm")); }, ImageErrorCode::kCorrupt);
}

TEST_F(ImageIoTest, SizeLimitsBeforeDecoding) {
  put("wide.ppm", "P6\n70000 1\n255\n");
  expect_code([&] { read_image(path("wide.ppm")); }, ImageErrorCode::kTooLarge, "70000x1");
  put("many.ppm", "P6\n20000 20000\n255\n");  // 4e8 pixels > 2^28; no raster at all
  expect_code([&] { read_image(path("many.ppm")); }, ImageErrorCode::kTooLarge);

  // A PNG header for 100000x16: a valid IHDR and an empty IDAT, no pixel data at all.
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  auto chunk = [&png](std::vector<uint8_t> type_and_data) {
    const uint32_t n = uint32_t(type_and_data.size() - 4);
    for (int s = 24; s >= 0; s -= 8) png.push_back(uint8_t(n >> s));
    png.insert(png.end(), type_and_data.begin(), type_and_data.end());
    const uLong crc = crc32(crc32(0, nullptr, 0), type_and_data.data(), uInt(type_and_data.size()));
    for (int s = 24; s >= 0; s -= 8) png.push_back(uint8_t(crc >> s));
  };
  chunk({'I', 'H', 'D', 'R', 0, 1, 0x86, 0xA0, 0, 0, 0, 16, 8, 2, 0, 0, 0});
  chunk({'I', 'D', 'A', 'T'});
  chunk({'I', 'E', 'N', 'D'});
  put("wide.png", png);
  expect_code([&] { read_image(path("wide.png")); }, ImageErrorCode::kTooLarge, "100000x16");

  // JPEG whose SOF claims 60000x60000.
  const Image small = smooth_image(16, 16);
  auto jpg = lucid::jpeg::encode_jpeg(small.rgb.data(), 16, 16, 80);
  for (size_t i = 2; i + 8 < jpg.size(); ++i)
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {
      jpg[i + 5] = 0xEA; jpg[i + 6] = 0x60;  // height 60000
      jpg[i + 7] = 0xEA; jpg[i + 8] = 0x60;  // width 60000
      break;
    }
  put("huge.jpg", jpg);
  expect_code([&] { read_image(path("huge.jpg")); }, ImageErrorCode::kTooLarge);
}

TEST_F(ImageIoTest, UnreadableAndCorruptInputs) {
  expect_code([&] { read_image(path("missing.png")); }, ImageErrorCode::kUnreadable,
              "cannot read: No such file or directory");
  expect_code([&] { read_image(dir_.string()); }, ImageErrorCode::kUnreadable, "directory");
  if (::geteuid() != 0) {  // root ignores permissions
    put("secret.png", encode_image_for_path("x.png", random_image(2, 2, 4)));
    fs::permissions(path("secret.png"), fs::perms::none);
    expect_code([&] { read_image(path("secret.png")); }, ImageErrorCode::kUnreadable);
  }
  put("empty.png", std::string());
  expect_code([&] { read_image(path("empty.png")); }, ImageErrorCode::kCorrupt, "empty");
  put("text.png", "just some text, not an image");
  expect_code([&] { read_image(path("text.png")); }, ImageErrorCode::kUnsupported);
  put("anim.gif", "GIF89a\x01\x00\x01\x00");
  expect_code([&] { read_image(path("anim.gif")); }, ImageErrorCode::kUnsupported, "GIF");

  const Image img = random_image(20, 20, 5);
  const auto png = encode_image_for_path("x.png", img);
  put("trunc.png", std::vector<uint8_t>(png.begin(), png.begin() + long(png.size() / 2)));
  expect_code([&] { read_image(path("trunc.png")); }, ImageErrorCode::kCorrupt, "corrupt PNG");
  auto flipped = png;
  flipped[png.size() / 2] ^= 0x55;  // inside IDAT: CRC mismatch or zlib error
  put("flip.png", flipped);
  expect_code([&] { read_image(path("flip.png")); }, ImageErrorCode::kCorrupt);
  // Every PNG prefix fails cleanly.
  for (size_t len = 1; len < png.size(); len += 7) {
    EXPECT_THROW(decode_image(png.data(), len, "prefix"), ImageError) << len;
  }

  const auto jpg = lucid::jpeg::encode_jpeg(img.rgb.data(), 20, 20, 90);
  put("trunc.jpg", std::vector<uint8_t>(jpg.begin(), jpg.end() - 40));
  expect_code([&] { read_image(path("trunc.jpg")); }, ImageErrorCode::kCorrupt, "truncated");
}

TEST_F(ImageIoTest, NeverOverwritesUnlessAsked) {
  const Image a = random_image(4, 4, 6), b = random_image(4, 4, 7);
  write_image(path("out.png"), a, false);
  const auto before = get("out.png");
  expect_code([&] { write_image(path("out.png"), b, false); }, ImageErrorCode::kExists,
              "already exists");
  EXPECT_EQ(get("out.png"), before);
  write_image(path("out.png"), b, true);
  EXPECT_EQ(read_image(path("out.png")).rgb, b.rgb);
  EXPECT_EQ(entries(), std::set<std::string>{"out.png"});  // no temporary left behind

  write_file_atomic(path("x.lucid"), {1, 2, 3}, false);
  expect_code([&] { write_file_atomic(path("x.lucid"), {9}, false); }, ImageErrorCode::kExists);
  EXPECT_EQ(read_file(path("x.lucid")), (std::vector<uint8_t>{1, 2, 3}));
  write_file_atomic(path("x.lucid"), {}, true);
  EXPECT_TRUE(read_file(path("x.lucid")).empty());
  EXPECT_EQ(entries(), (std::set<std::string>{"out.png", "x.lucid"}));
}

TEST_F(ImageIoTest, FailedWritesLeaveNothingBehind) {
  const Image img = random_image(4, 4, 8);
  expect_code([&] { write_image(path("no/such/dir/out.png"), img, true); },
              ImageErrorCode::kWriteFailed);
  // Target is a directory: the rename fails after the temporary was written.
  fs::create_directory(dir_ / "taken.png");
  expect_code([&] { write_image(path("taken.png"), img, true); }, ImageErrorCode::kWriteFailed);
  expect_code([&] { write_image(path("taken.png"), img, false); }, ImageErrorCode::kExists);
  expect_code([&] { write_image(path("out.bmp"), img, true); }, ImageErrorCode::kUnsupported,
              ".bmp");
  expect_code([&] { write_image(path("noext"), img, true); }, ImageErrorCode::kUnsupported);
  EXPECT_THROW(write_image(path("bad.png"), Image{3, 3, {1, 2}}, true), std::invalid_argument);
  EXPECT_EQ(entries(), std::set<std::string>{"taken.png"});
  EXPECT_TRUE(fs::is_empty(dir_ / "taken.png"));
}

TEST_F(ImageIoTest, ReadFileCap) {
  put("big.bin", std::vector<uint8_t>(1000, 7));
  EXPECT_EQ(read_file(path("big.bin"), 1000).size(), 1000u);
  expect_code([&] { read_file(path("big.bin"), 999); }, ImageErrorCode::kTooLarge);
  expect_code([&] { read_file(path("none.bin")); }, ImageErrorCode::kUnreadable);
}

TEST_F(ImageIoTest, RdPlotIsAPng) {
  std::vector<RdSeries> series = {
      {"lucid", {{0.1, 28.0}, {0.25, 31.5}, {0.5, 34.2}, {1.0, 37.9}}},
      {"JPEG (libjpeg-turbo)", {{0.3, 26.0}, {0.6, 30.0}, {1.2, 34.0}, {2.0, 37.0}}},
      {"with a NaN", {{0.4, 29.0}, {0.8, std::nan("")}}},
  };
  write_rd_plot_png(path("rd.png"), series, "Kodak, RGB PSNR");
  const Image plot = read_image(path("rd.png"));
  EXPECT_EQ(plot.width, 960);
  EXPECT_EQ(plot.height, 640);
  size_t coloured = 0, dark = 0;
  for (size_t i = 0; i < plot.rgb.size(); i += 3) {
    const int r = plot.rgb[i], g = plot.rgb[i + 1], b = plot.rgb[i + 2];
    if (std::max({r, g, b}) - std::min({r, g, b}) > 80) ++coloured;
    if (r + g + b < 100) ++dark;
  }
  EXPECT_GT(coloured, 500u);  // curves and legend swatches
  EXPECT_GT(dark, 2000u);     // axes, ticks, text
  // Replaces an existing plot; single point and degenerate ranges still work.
  write_rd_plot_png(path("rd.png"), {{"one", {{0.5, 30.0}}}}, "single");
  EXPECT_THROW(write_rd_plot_png(path("none.png"), {{"empty", {}}}, "t"), std::invalid_argument);
  EXPECT_EQ(entries(), std::set<std::string>{"rd.png"});
}

}  // namespace
}  // namespace lucid::app
