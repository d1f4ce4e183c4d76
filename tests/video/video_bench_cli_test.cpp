// `lucid-video bench` end to end (label video): clean clips made here with the ffmpeg CLI (FFV1,
// lossless, 8 and 10 bit), encoded by the bench at constant QPs with libx265 / libsvtav1,
// decoded, restored with the identity, scored. Checked: the identity's gain is exactly 0, the
// streams really are at the QPs asked for (the QP parsers on the kept streams), PSNR-Y agrees
// with FFmpeg's own psnr filter frame by frame (10 bit on the 1023 scale), frames are paired by
// index even when the clean clip's timestamps are irregular, JSON / plot / table, and bad input.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "video_test_util.h"

using lucid::video::test::have_encoder;
using lucid::video::test::cli;
using lucid::video::test::exists;
using lucid::video::test::make_clip;
using lucid::video::test::run;
using lucid::video::test::temp_dir;
using json = nlohmann::json;

namespace {



json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

// A folder with two clean clips: 8-bit and 10-bit 4:2:0, lossless FFV1.
std::string clean_dir() {
  static const std::string dir = [] {
    const std::string d = temp_dir() + "/clean";
    run("mkdir -p '" + d + "'");
    make_clip("clean/a8.mkv", "-c:v ffv1");
    make_clip("clean/b10.mkv", "-pix_fmt yuv420p10le -c:v ffv1");
    std::ofstream(d + "/notes.txt") << "not a clip\n";  // other files in the folder are ignored
    return d;
  }();
  return dir;
}

// Per-frame PSNR-Y of `test` against `ref` from FFmpeg's psnr filter (native bit depth).
std::vector<double> ffmpeg_psnr_y(const std::string& test, const std::string& ref) {
  const std::string stats = temp_dir() + "/psnr.log";
  std::string log;
  EXPECT_EQ(run("ffmpeg -nostdin -hide_banner -loglevel error -i '" + test + "' -i '" + ref +
                    "' -lavfi \"[0:v]setpts=N[a];[1:v]setpts=N[b];[a][b]psnr=stats_file='" + stats + "'\" -f null - 2>&1",
                &log),
            0)
      << log;
  std::vector<double> out;
  std::ifstream in(stats);
  std::string line;
  while (std::getline(in, line)) {
    const size_t p = line.find("psnr_y:");
    if (p == std::string::npos) continue;
    const std::string v = line.substr(p + 7, line.find(' ', p) - p - 7);
    out.push_back(v == "inf" ? INFINITY : std::stod(v));
  }
  return out;
}

TEST(VideoBenchCli, HevcIdentityGainsExactlyNothingAtTheQpsAskedFor) {
  if (!have_encoder("libx265")) GTEST_SKIP() << "no libx265";
  const std::string dir = clean_dir();
  const std::string keep = temp_dir() + "/keep-hevc";
  run("mkdir -p '" + keep + "'");
  const std::string js = temp_dir() + "/hevc.json", plot = temp_dir() + "/hevc.png";
  std::string out, err;
  ASSERT_EQ(cli("bench --model identity '" + dir + "' --codec hevc --qp 22,37 --json '" + js + "' --plot '" + plot + "' --keep '" + keep + "'",
                &out, &err),
            0)
      << err;
  const json j = read_json(js);
  EXPECT_EQ(j["codec"], "hevc");
  EXPECT_EQ(j["encoder"], "libx265");
  EXPECT_EQ(j["restorer"], "identity");
  ASSERT_EQ(j["clips"].size(), 2u);  // notes.txt is not a clip
  EXPECT_EQ(j["clips"][0]["bit_depth"], 8);
  EXPECT_EQ(j["clips"][1]["bit_depth"], 10);
  ASSERT_EQ(j["results"].size(), 4u);
  for (const json& r : j["results"]) {
    SCOPED_TRACE(r["clip"].get<std::string>() + " QP " + std::to_string(r["qp"].get<int>()));
    EXPECT_EQ(r["frames"], 12);
    // Constant QP: every frame (the I frame too) at the QP asked for, as the stream's slice
    // headers say.
    EXPECT_DOUBLE_EQ(r["stream_qp_mean"].get<double>(), r["qp"].get<double>());
    // The identity restores nothing: restored == decoded, bit for bit, so the gain is exactly 0.
    EXPECT_EQ(r["delta_psnr_y"].get<double>(), 0.0);
    EXPECT_EQ(r["psnr_y_restored"], r["psnr_y_decoded"]);
    EXPECT_EQ(r["ssim_y_restored"], r["ssim_y_decoded"]);
    EXPECT_EQ(r["per_frame"]["psnr_y_decoded"].size(), 12u);
    EXPECT_GT(r["restore_fps"].get<double>(), 0.0);
    EXPECT_GT(r["bytes"].get<int64_t>(), 0);
    const double psnr = r["psnr_y_decoded"].get<double>();
    EXPECT_GT(psnr, r["qp"] == 22 ? 42.0 : 28.0);
    EXPECT_LT(psnr, r["qp"] == 22 ? 55.0 : 40.0);
    const double ssim = r["ssim_y_decoded"].get<double>();
    EXPECT_GT(ssim, 0.8);
    EXPECT_LT(ssim, 1.0);
  }
  // Higher QP: fewer bits, lower quality.
  for (int c = 0; c < 2; ++c) {
    EXPECT_LT(j["results"][2 * c + 1]["bpp"].get<double>(), j["results"][2 * c]["bpp"].get<double>());
    EXPECT_LT(j["results"][2 * c + 1]["psnr_y_decoded"].get<double>(), j["results"][2 * c]["psnr_y_decoded"].get<double>());
  }
  // Summary per QP: the mean of the clips' means.
  ASSERT_EQ(j["summary"].size(), 2u);
  for (int q = 0; q < 2; ++q) {
    const json& s = j["summary"][q];
    EXPECT_EQ(s["clips"], 2);
    EXPECT_EQ(s["frames"], 24);
    EXPECT_EQ(s["delta_psnr_y"].get<double>(), 0.0);
    EXPECT_NEAR(s["psnr_y_decoded"].get<double>(),
                (j["results"][q]["psnr_y_decoded"].get<double>() + j["results"][2 + q]["psnr_y_decoded"].get<double>()) / 2, 1e-9);
  }

  // PSNR-Y per frame agrees with FFmpeg's psnr filter on the kept streams, 8 and 10 bit (FFmpeg
  // uses the native peak too: 1023 at 10 bit).
  const std::string streams[2][2] = {{keep + "/0-a8-hevc-qp22.mkv", dir + "/a8.mkv"},
                                     {keep + "/1-b10-hevc-qp37.mkv", dir + "/b10.mkv"}};
  const json* results[2] = {&j["results"][0], &j["results"][3]};
  for (int k = 0; k < 2; ++k) {
    ASSERT_TRUE(exists(streams[k][0])) << streams[k][0];
    const std::vector<double> ref = ffmpeg_psnr_y(streams[k][0], streams[k][1]);
    const json& ours = (*results[k])["per_frame"]["psnr_y_decoded"];
    ASSERT_EQ(ref.size(), ours.size());
    for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(ours[i].get<double>(), ref[i], 0.01) << "frame " << i;
  }
  // The kept stream has no B-frames (low-delay P) and the constant QP, by `lucid-video info`.
  std::string info;
  ASSERT_EQ(cli("info --json '" + keep + "/0-a8-hevc-qp22.mkv'", &info), 0);
  const json ji = json::parse(info);
  ASSERT_EQ(ji["frames"].size(), 12u);
  for (const json& fr : ji["frames"]) {
    EXPECT_NE(fr["pict_type"], "B");
    EXPECT_EQ(fr["qp"], 22.0);
  }

  // Table on stdout: a row per clip and QP and a mean row per QP.
  EXPECT_NE(out.find("a8.mkv"), std::string::npos) << out;
  EXPECT_NE(out.find("mean of 2 clip(s)"), std::string::npos) << out;
  EXPECT_NE(out.find("+0.000"), std::string::npos) << out;
  // The plot: a 960x640 PNG.
  std::ifstream png(plot, std::ios::binary);
  std::string head(24, '\0');
  png.read(&head[0], 24);
  ASSERT_EQ(head.substr(1, 3), "PNG");
  auto be32 = [&](int o) {
    return (uint32_t(uint8_t(head[o])) << 24) | (uint32_t(uint8_t(head[o + 1])) << 16) | (uint32_t(uint8_t(head[o + 2])) << 8) |
           uint32_t(uint8_t(head[o + 3]));
  };
  EXPECT_EQ(be32(16), 960u);
  EXPECT_EQ(be32(20), 640u);

  // Outputs are not replaced without -y.
  EXPECT_EQ(cli("bench --model identity '" + dir + "' --codec hevc --qp 22 --json '" + js + "'", nullptr, &err), 5);
  EXPECT_NE(err.find("exists"), std::string::npos) << err;
}

TEST(VideoBenchCli, Av1AtAConstantQpAndAListFileAndTiles) {
  if (!have_encoder("libsvtav1")) GTEST_SKIP() << "no libsvtav1";
  const std::string dir = clean_dir();
  const std::string list = temp_dir() + "/clips.txt";
  std::ofstream(list) << "# clean clips\n" << dir << "/b10.mkv\n\n";
  const std::string js = temp_dir() + "/av1.json";
  std::string err;
  ASSERT_EQ(cli("bench --model identity '" + list + "' --codec av1 --qp 30 --tile 16 --frames 5 --quiet --json '" + js + "'", nullptr, &err), 0)
      << err;
  const json j = read_json(js);
  ASSERT_EQ(j["results"].size(), 1u);
  const json& r = j["results"][0];
  EXPECT_EQ(r["frames"], 5);
  EXPECT_DOUBLE_EQ(r["stream_qp_mean"].get<double>(), 120.0);  // base_q_idx = 4 x 30 on every frame
  EXPECT_EQ(r["delta_psnr_y"].get<double>(), 0.0);
  EXPECT_GT(r["psnr_y_decoded"].get<double>(), 30.0);
  EXPECT_EQ(j["tile"], 16);
}

// A quality floor of the shipped video restorer (diqp-small), which nothing else guards: 16
// frames of camera motion over the bundled photograph (as data_scripts/make_sample_clip.sh makes
// the bundled clip, here lossless), HEVC at QP 27 / 37 / 47. Measured at step 33311 (one thread):
// +0.010 / +0.082 / +0.208 dB; the floors leave 0.03 dB for arithmetic that differs between
// machines and thread counts, so weights that lost quality fail here.
TEST(VideoBenchCli, ShippedDiqpSmallKeepsItsGainOnTheBundledScene) {
  if (!have_encoder("libx265")) GTEST_SKIP() << "no libx265";
  const std::string src = LUCID_SOURCE_DIR;
  const std::string weights = src + "/models/weights/diqp-small.lucidw";
  ASSERT_TRUE(exists(weights)) << weights;
  run("mkdir -p '" + temp_dir() + "/scene'");
  make_clip("scene/scene.mkv",
            "-filter_complex \"[0:v]scale=640:640,zoompan=z='1.25+0.004*on':x='80+2*on':"
            "y='120+on':d=1:s=320x240:fps=24,format=yuv420p[v]\" -map \"[v]\" -frames:v 16 -c:v ffv1",
            "-loop 1 -framerate 24 -i '" + src + "/tests/data/sample.png'");
  const std::string js = temp_dir() + "/diqp.json";
  std::string err;
  ASSERT_EQ(cli("bench '" + temp_dir() + "/scene' --codec hevc --qp 27,37,47 --frames 16 -j 1 --model '" +
                    weights + "' --quiet --json '" + js + "'",
                nullptr, &err),
            0)
      << err;
  const json j = read_json(js);
  ASSERT_EQ(j["summary"].size(), 3u);
  const double floors[] = {-0.02, 0.05, 0.17};
  for (int i = 0; i < 3; ++i) {
    const json& r = j["summary"][i];
    EXPECT_EQ(r["frames"], 16);
    EXPECT_GE(r["delta_psnr_y"].get<double>(), floors[i]) << "QP " << r["qp"];
  }
}

TEST(VideoBenchCli, FramesArePairedByIndexNotTimestamp) {
  if (!have_encoder("libx265")) GTEST_SKIP() << "no libx265";
  // Irregular timestamps (0, 10, 40, 90, ... ms) on a moving pattern: pairing by time would
  // compare different frames.
  const std::string d = temp_dir() + "/vfr";
  run("mkdir -p '" + d + "'");
  make_clip("vfr/vfr.mkv", "-vf settb=1/1000,setpts=N*N*10 -fps_mode passthrough -c:v ffv1");
  const std::string js = temp_dir() + "/vfr.json";
  std::string err;
  ASSERT_EQ(cli("bench --model identity '" + d + "/vfr.mkv' --codec hevc --qp 22 --quiet --json '" + js + "'", nullptr, &err), 0) << err;
  const json j = read_json(js);
  ASSERT_EQ(j["results"][0]["frames"], 12);
  for (const json& p : j["results"][0]["per_frame"]["psnr_y_decoded"]) EXPECT_GT(p.get<double>(), 40.0);
}

TEST(VideoBenchCli, BadInputGivesClearErrorsAndExitCodes) {
  const std::string dir = clean_dir();
  std::string err;
  EXPECT_EQ(cli("bench --model identity '" + dir + "'", nullptr, &err), 1);
  EXPECT_NE(err.find("--codec"), std::string::npos) << err;
  EXPECT_EQ(cli("bench --model identity '" + dir + "' --codec vp9", nullptr, &err), 1);
  EXPECT_EQ(cli("bench --model identity '" + dir + "' --codec hevc --qp 22,60", nullptr, &err), 1);
  EXPECT_NE(err.find("0..51"), std::string::npos) << err;
  EXPECT_EQ(cli("bench --model identity '" + dir + "' --codec av1 --qp 0", nullptr, &err), 1);
  EXPECT_EQ(cli("bench --model identity '" + dir + "' --codec hevc --qp 22,,27", nullptr, &err), 1);
  EXPECT_EQ(cli("bench --model identity '" + dir + "' --codec hevc --qp 22,22", nullptr, &err), 1);
  EXPECT_EQ(cli("bench", nullptr, &err), 1);
  EXPECT_EQ(cli("bench --model identity '" + dir + "' --codec hevc --bogus", nullptr, &err), 1);

  EXPECT_EQ(cli("bench /nonexistent/clips --codec hevc", nullptr, &err), 2);
  EXPECT_NE(err.find("no such file or folder"), std::string::npos) << err;
  const std::string empty = temp_dir() + "/empty";
  run("mkdir -p '" + empty + "'");
  EXPECT_EQ(cli("bench --model identity '" + empty + "' --codec hevc", nullptr, &err), 2);
  EXPECT_NE(err.find("no video files"), std::string::npos) << err;
  // A clip that is not a video, and one cut short in the middle of its data.
  const std::string bad = temp_dir() + "/bad";
  run("mkdir -p '" + bad + "' && yes 'not a video' | head -c 3000 > '" + bad + "/noise.mkv'");
  EXPECT_EQ(cli("bench --model identity '" + bad + "' --codec hevc --qp 22", nullptr, &err), 2) << err;
  EXPECT_NE(err.find("noise.mkv"), std::string::npos) << err;
  EXPECT_EQ(cli("bench --model identity '" + bad + "/missing.mkv' --codec hevc --qp 22", nullptr, &err), 2) << err;

  // A --model that is not a weight file: exit 4, said clearly.
  EXPECT_EQ(cli("bench '" + dir + "' --codec hevc --qp 22 --model /models/video-net.lucidw", nullptr, &err), 4);
  EXPECT_NE(err.find("cannot open weight file"), std::string::npos) << err;
  // Outputs: a missing folder.
  EXPECT_EQ(cli("bench --model identity '" + dir + "' --codec hevc --qp 22 --json /nonexistent/dir/b.json", nullptr, &err), 5);
  EXPECT_EQ(cli("bench --model identity '" + dir + "' --codec hevc --qp 22 --keep /nonexistent/dir", nullptr, &err), 5);
  if (!exists("/dev/nvidia0")) {
    EXPECT_EQ(cli("bench --model identity '" + dir + "' --codec hevc --qp 22 --device cuda", nullptr, &err), 6);
    EXPECT_NE(err.find("no CUDA device"), std::string::npos) << err;
  }
  // 4:4:4 is not something SVT-AV1 encodes: refused with the encoder's name and the format.
  if (have_encoder("libsvtav1")) {
    const std::string d444 = temp_dir() + "/c444";
    run("mkdir -p '" + d444 + "'");
    make_clip("c444/c444.mkv", "-pix_fmt yuv444p -c:v ffv1");
    EXPECT_EQ(cli("bench --model identity '" + d444 + "' --codec av1 --qp 30", nullptr, &err), 3);
    EXPECT_NE(err.find("libsvtav1"), std::string::npos) << err;
  }
}

TEST(VideoRestoreCli, ModelOptionGoesThroughTheFactory) {
  const std::string in = clean_dir() + "/a8.mkv";
  const std::string out = temp_dir() + "/restored-model.mkv";
  std::string err;
  EXPECT_EQ(cli("restore '" + in + "' -o '" + out + "' --model /models/video-net.lucidw --quiet", nullptr, &err), 4);
  EXPECT_NE(err.find("cannot open weight file"), std::string::npos) << err;
  EXPECT_FALSE(exists(out));
  EXPECT_EQ(cli("restore '" + in + "' -o '" + out + "' --model identity --quiet", nullptr, &err), 0) << err;
  EXPECT_TRUE(exists(out));
}

// Without --model, restore uses the shipped network (diqp-small and its QP gate): on the bundled
// HEVC QP 37 clip it changes every frame; with --model identity the frames pass through.
TEST(VideoRestoreCli, DefaultIsTheShippedNetwork) {
  const std::string src = LUCID_SOURCE_DIR;
  if (!exists(src + "/models/weights/diqp-small.lucidw")) GTEST_SKIP() << "no shipped model";
  const std::string in = src + "/tests/data/sample-hevc-qp37.mkv";
  const std::string net = temp_dir() + "/default-net.mkv", id = temp_dir() + "/default-id.mkv";
  std::string js, err;
  ASSERT_EQ(cli("restore '" + in + "' -o '" + net + "' --frames 0:3 --json -y", &js, &err), 0) << err;
  EXPECT_EQ(json::parse(js)["restorer"], "default") << js;
  ASSERT_EQ(cli("restore --model identity '" + in + "' -o '" + id + "' --frames 0:3 --quiet -y", nullptr, &err), 0)
      << err;
  auto md5s = [](const std::string& f) {
    std::string out;
    run("ffmpeg -v error -i '" + f + "' -map 0:v -f framemd5 - | grep -v '^#'", &out);
    std::vector<std::string> lines;
    std::istringstream is(out);
    for (std::string l; std::getline(is, l);) lines.push_back(l.substr(l.rfind(',') + 1));
    return lines;
  };
  const auto a = md5s(net), b = md5s(id), dec = md5s(in);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NE(a[i], b[i]) << "frame " << i << ": the network changed nothing";
    EXPECT_EQ(b[i], dec[i]) << "frame " << i << ": the identity is the decoded frame";
  }
}

}  // namespace
