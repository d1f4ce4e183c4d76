// `lucid-video info`: JSON frames array, exit codes and error lines.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "video_test_util.h"

namespace {

using lucid::video::test::make_clip;
using lucid::video::test::run;

int info(const std::string& args, std::string* out) {
  return run(std::string(LUCID_VIDEO_CLI) + " info " + args + " 2>&1", out);
}

TEST(VideoInfoCli, JsonFramesWithQpAndPictType) {
  if (!lucid::video::test::have_encoder("libx265")) GTEST_SKIP();
  const auto path = make_clip("cli.mp4", "-c:v libx265 -x265-params qp=32:bframes=3:log-level=error");
  std::string out;
  ASSERT_EQ(run(std::string(LUCID_VIDEO_CLI) + " info --json '" + path + "'", &out), 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["video"]["codec"], "hevc");
  ASSERT_EQ(j["streams"].size(), 1u);
  EXPECT_EQ(j["streams"][0]["type"], "video");
  EXPECT_EQ(j["video"]["width"], 192);
  EXPECT_EQ(j["video"]["bit_depth"], 8);
  EXPECT_EQ(j["video"]["pix_fmt"], "yuv420p");
  EXPECT_EQ(j["video"]["frame_count"], 12);
  ASSERT_EQ(j["frames"].size(), 12u);
  EXPECT_EQ(j["frames"][0]["pict_type"], "I");
  EXPECT_EQ(j["frames"][0]["qp"], 29.0);
  std::string types;
  for (const auto& f : j["frames"]) {
    types += f["pict_type"].get<std::string>();
    if (f["pict_type"] == "P") {
      EXPECT_EQ(f["qp"], 32.0);
    }
  }
  EXPECT_EQ(types, "IBPBBPBBBPBP");
  ASSERT_EQ(run(std::string(LUCID_VIDEO_CLI) + " info --json --qp 40 '" + path + "'", &out), 0);
  EXPECT_EQ(nlohmann::json::parse(out)["frames"][5]["qp"], 40.0);
  ASSERT_EQ(info("'" + path + "'", &out), 0);
  EXPECT_NE(out.find("I:29 B:34 P:32"), std::string::npos) << out;
}

TEST(VideoInfoCli, ListsEveryStream) {
  if (!lucid::video::test::have_encoder("libx264")) GTEST_SKIP();
  const auto path = make_clip("cli_av.mkv", "-map 0:v -map 1:a -frames:v 12 -c:v libx264 -qp 30 -c:a pcm_s16le",
                              "-f lavfi -i testsrc2=size=192x128:rate=25 -f lavfi -i sine=d=0.48");
  std::string out;
  ASSERT_EQ(run(std::string(LUCID_VIDEO_CLI) + " info --json '" + path + "'", &out), 0) << out;
  const auto j = nlohmann::json::parse(out);
  ASSERT_EQ(j["streams"].size(), 2u);
  EXPECT_EQ(j["streams"][1]["type"], "audio");
  EXPECT_EQ(j["streams"][1]["codec"], "pcm_s16le");
  EXPECT_EQ(j["video"]["frame_count"], 12);
  ASSERT_EQ(info("'" + path + "'", &out), 0);
  EXPECT_NE(out.find("  #1 audio: pcm_s16le\n"), std::string::npos) << out;
}

TEST(VideoInfoCli, UsageErrors) {
  std::string out;
  EXPECT_EQ(info("", &out), 1);
  EXPECT_NE(out.find("error: info: expected exactly one input file"), std::string::npos) << out;
  EXPECT_EQ(info("a.mp4 b.mp4", &out), 1);
  EXPECT_EQ(info("--frobnicate a.mp4", &out), 1);
  EXPECT_NE(out.find("error: info: unknown option '--frobnicate'"), std::string::npos) << out;
  EXPECT_EQ(info("--qp abc a.mp4", &out), 1);
  EXPECT_EQ(run(std::string(LUCID_VIDEO_CLI) + " frobnicate 2>&1", &out), 1);
}

TEST(VideoInfoCli, BadInputExitCodes) {
  const std::string dir = lucid::video::test::temp_dir();
  std::string out;
  EXPECT_EQ(info("'" + dir + "/does-not-exist.mkv'", &out), 2);
  EXPECT_NE(out.find("error: " + dir + "/does-not-exist.mkv: No such file or directory"), std::string::npos) << out;
  std::ofstream(dir + "/zero.mp4").close();
  EXPECT_EQ(info("'" + dir + "/zero.mp4'", &out), 2) << out;
  EXPECT_EQ(out.rfind("error: ", 0), 0u) << out;
  if (!lucid::video::test::have_encoder("aac")) GTEST_SKIP() << "no ffmpeg CLI with the aac encoder";
  const auto audio = make_clip("cli_audio.m4a", "", "-f lavfi -i sine=d=0.3");
  EXPECT_EQ(info("'" + audio + "'", &out), 3);
  EXPECT_NE(out.find(": no video stream"), std::string::npos) << out;
}

TEST(VideoInfoCli, TruncatedFileExitsCorruptWithFrameNumber) {
  if (!lucid::video::test::have_encoder("libx264")) GTEST_SKIP();
  const auto full = make_clip("cli_fs.mp4", "-c:v libx264 -qp 30 -movflags +faststart",
                              "-f lavfi -i testsrc2=size=192x128:rate=25 -frames:v 24");
  const std::string cut = lucid::video::test::temp_dir() + "/cli_fs_cut.mp4";
  std::ifstream in(full, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  std::string out;
  EXPECT_EQ(info("'" + cut + "'", &out), 3) << out;
  EXPECT_NE(out.find("error: " + cut + ": frame "), std::string::npos) << out;
}

}  // namespace
