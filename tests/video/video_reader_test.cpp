// VideoReader: stream description, limits and bad input.
#include <gtest/gtest.h>

#include <fstream>

#include "lucid/video/video_reader.h"
#include "video_test_util.h"

namespace lucid::video {
namespace {

using test::have_encoder;
using test::make_clip;

VideoErrorKind open_error(const std::string& path, const ReaderOptions& o = {}) {
  try {
    VideoReader r(path, o);
    VideoFrame f;
    while (r.read(f)) {
    }
  } catch (const VideoError& e) {
    return e.kind;
  }
  ADD_FAILURE() << path << ": no error";
  return VideoErrorKind::kOpen;
}

std::string error_text(const std::string& path, const ReaderOptions& o = {}) {
  try {
    VideoReader r(path, o);
    VideoFrame f;
    while (r.read(f)) {
    }
  } catch (const VideoError& e) {
    return e.what();
  }
  return "";
}

TEST(VideoReader, DescribesStreamAndColourTags) {
  if (!have_encoder("libx265")) GTEST_SKIP();
  const auto path = make_clip("tags.mkv", "-c:v libx265 -x265-params qp=30:log-level=error -color_range pc "
                                          "-color_primaries bt709 -color_trc bt709 -colorspace bt709 -r 30000/1001");
  VideoReader r(path);
  const StreamInfo& s = r.info();
  EXPECT_EQ(s.codec, "hevc");
  EXPECT_EQ(s.width, 192);
  EXPECT_EQ(s.height, 128);
  EXPECT_EQ(s.pix_fmt, "yuvj420p");  // FFmpeg's name for full-range 4:2:0
  EXPECT_EQ(s.bit_depth, 8);
  EXPECT_EQ(s.chroma_shift_w, 1);
  EXPECT_EQ(s.chroma_shift_h, 1);
  EXPECT_EQ(s.color_range, "pc");
  EXPECT_EQ(s.color_primaries, "bt709");
  EXPECT_EQ(s.color_transfer, "bt709");
  EXPECT_EQ(s.color_matrix, "bt709");
  EXPECT_EQ(s.frame_rate_num, 30000);
  EXPECT_EQ(s.frame_rate_den, 1001);
  VideoFrame f;
  int n = 0;
  int64_t last_pts = INT64_MIN;
  while (r.read(f)) {
    EXPECT_EQ(f.index, n);
    EXPECT_GT(f.pts, last_pts);  // output order
    last_pts = f.pts;
    ASSERT_NE(f.data(0), nullptr);
    EXPECT_GE(f.stride(0), 192);
    ++n;
  }
  EXPECT_EQ(n, 12);
}

TEST(VideoReader, Handles422And444) {
  if (!have_encoder("libx264")) GTEST_SKIP();
  for (const char* pf : {"yuv422p", "yuv444p"}) {
    VideoReader r(make_clip(std::string(pf) + ".mkv", std::string("-pix_fmt ") + pf + " -c:v libx264 -qp 25 -bf 0"));
    EXPECT_EQ(r.info().pix_fmt, pf);
    EXPECT_EQ(r.info().chroma_shift_h, 0);
    VideoFrame f;
    int n = 0;
    while (r.read(f)) EXPECT_EQ(f.qp.value_or(-1), n++ == 0 ? 22.0 : 25.0);  // x264 ipratio
    EXPECT_EQ(n, 12);
  }
}

TEST(VideoReader, ZeroLengthFile) {
  const std::string path = test::temp_dir() + "/empty.mp4";
  std::ofstream(path).close();
  EXPECT_EQ(open_error(path), VideoErrorKind::kOpen);
}

TEST(VideoReader, NotAVideoFile) {
  const std::string path = test::temp_dir() + "/text.mkv";
  std::ofstream(path) << "this is not a video file at all\n";
  EXPECT_EQ(open_error(path), VideoErrorKind::kOpen);
  EXPECT_EQ(open_error(test::temp_dir() + "/missing.mkv"), VideoErrorKind::kOpen);
}

TEST(VideoReader, NoVideoStream) {
  if (!have_encoder("aac")) GTEST_SKIP() << "no ffmpeg CLI with the aac encoder";
  const auto path = make_clip("audio.m4a", "", "-f lavfi -i sine=d=0.3");
  EXPECT_EQ(open_error(path), VideoErrorKind::kNoVideo);
}

// Limits are checked on the stream parameters before the decoder is opened.
TEST(VideoReader, AbsurdDimensionsRefusedBeforeDecoding) {
  if (!have_encoder("ffv1")) GTEST_SKIP() << "no ffmpeg CLI with the ffv1 encoder";
  const auto big = make_clip("big.mkv", "-c:v ffv1", "-f lavfi -i color=size=9000x16 -frames:v 1");
  EXPECT_EQ(open_error(big), VideoErrorKind::kLimits);
  EXPECT_NE(error_text(big).find("9000x16 exceeds the limit"), std::string::npos) << error_text(big);
  ReaderOptions small;
  small.max_pixels = 100 * 100;
  const auto clip = make_clip("ffv1.mkv", "-c:v ffv1");
  EXPECT_EQ(open_error(clip, small), VideoErrorKind::kLimits);
}

TEST(VideoReader, UnsupportedPixelFormat) {
  if (!have_encoder("ffv1")) GTEST_SKIP() << "no ffmpeg CLI with the ffv1 encoder";
  const auto path = make_clip("rgb.mkv", "-pix_fmt bgr0 -c:v ffv1");
  EXPECT_EQ(open_error(path), VideoErrorKind::kUnsupported);
  EXPECT_NE(error_text(path).find("unsupported pixel format bgr0"), std::string::npos);
}

// Two H.264 elementary streams of different sizes back to back.
TEST(VideoReader, MidStreamResolutionChangeRefused) {
  if (!have_encoder("libx264")) GTEST_SKIP();
  const auto a = make_clip("a.h264", "-c:v libx264 -qp 20 -f h264");
  const auto b = make_clip("b.h264", "-c:v libx264 -qp 20 -f h264", "-f lavfi -i testsrc2=size=128x96:rate=25 -frames:v 5");
  const std::string mixed = test::temp_dir() + "/mixed.h264";
  ASSERT_EQ(test::run("cat '" + a + "' '" + b + "' > '" + mixed + "'"), 0);
  EXPECT_EQ(open_error(mixed), VideoErrorKind::kUnsupported);
  EXPECT_EQ(error_text(mixed), "frame 12: resolution changed mid-stream from 192x128 to 128x96 (not supported)");
}

// A faststart MP4 cut to two thirds: the index lists 24 frames, the data ends early. The reader
// reports the decode error with its frame number, or the shortfall, never hangs or crashes.
TEST(VideoReader, TruncatedFileReportsFrameNumber) {
  if (!have_encoder("libx265")) GTEST_SKIP();
  const auto full = make_clip("fs.mp4", "-c:v libx265 -x265-params qp=32:log-level=error -movflags +faststart",
                              "-f lavfi -i testsrc2=size=192x128:rate=25 -frames:v 24");
  const std::string cut = test::temp_dir() + "/fs_cut.mp4";
  std::ifstream in(full, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() * 2 / 3);
  ReaderOptions o;
  o.stop_on_error = false;
  VideoReader r(cut, o);
  VideoFrame f;
  int n = 0;
  while (r.read(f)) ++n;
  EXPECT_LT(n, 24);
  ASSERT_FALSE(r.errors().empty());
  EXPECT_EQ(r.errors().back().rfind("frame ", 0), 0u) << r.errors().back();
  EXPECT_NE(r.errors().back().find("the container lists 24"), std::string::npos) << r.errors().back();
  EXPECT_EQ(open_error(cut), VideoErrorKind::kCorrupt);  // stop_on_error (default) throws
}

// Every byte of a short HEVC stream flipped in turn would take long; flip a spread of bytes.
TEST(VideoReader, CorruptStreamNoCrash) {
  if (!have_encoder("libx265")) GTEST_SKIP();
  const auto clean = make_clip("corrupt_src.hevc", "-c:v libx265 -x265-params qp=30:bframes=2:log-level=error -f hevc");
  std::ifstream in(clean, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  for (int seed = 0; seed < 8; ++seed) {
    std::string b = bytes;
    for (size_t i = 200 + seed * 13; i < b.size(); i += 61 + seed) b[i] = static_cast<char>(b[i] ^ (0x11 << (seed % 4)));
    const std::string path = test::temp_dir() + "/corrupt" + std::to_string(seed) + ".hevc";
    std::ofstream(path, std::ios::binary) << b;
    ReaderOptions o;
    o.stop_on_error = false;
    try {
      VideoReader r(path, o);
      VideoFrame f;
      int n = 0;
      while (r.read(f)) ASSERT_LT(++n, 1000);
    } catch (const VideoError&) {
      // acceptable: a clear error
    }
  }
}

}  // namespace
}  // namespace lucid::video
