// `lucid-video restore` end to end (label video): identity restore bit-exact in the decoded
// pixels, audio packets copied, timestamps / frame count / colour tags kept, --frames, --tile,
// -y, atomic output under SIGKILL / SIGINT with --resume, manifest shards, bad input.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "lucid/video/video_reader.h"
#include "video_test_util.h"

using lucid::video::test::cli;
using lucid::video::test::exists;
using lucid::video::test::make_clip;
using lucid::video::test::run;
using lucid::video::test::temp_dir;
using json = nlohmann::json;

namespace {

const std::string kCli = LUCID_VIDEO_CLI;


struct Decoded {
  lucid::video::StreamInfo info;
  std::vector<double> pts_s;
  std::vector<uint64_t> hash;  // FNV-1a over the visible samples of the 3 planes
};

Decoded decode(const std::string& path) {
  Decoded d;
  lucid::video::VideoReader r(path);
  d.info = r.info();
  lucid::video::VideoFrame f;
  const double tb = static_cast<double>(d.info.time_base_num) / d.info.time_base_den;
  const int bps = d.info.bit_depth > 8 ? 2 : 1;
  while (r.read(f)) {
    uint64_t h = 1469598103934665603ull;
    for (int p = 0; p < 3; ++p) {
      const int w = p ? (f.width + (1 << d.info.chroma_shift_w) - 1) >> d.info.chroma_shift_w : f.width;
      const int hh = p ? (f.height + (1 << d.info.chroma_shift_h) - 1) >> d.info.chroma_shift_h : f.height;
      for (int y = 0; y < hh; ++y) {
        const uint8_t* row = f.data(p) + static_cast<ptrdiff_t>(y) * f.stride(p);
        for (int x = 0; x < w * bps; ++x) h = (h ^ row[x]) * 1099511628211ull;
      }
    }
    d.hash.push_back(h);
    d.pts_s.push_back(f.pts * tb);
  }
  return d;
}

// Packets of the first stream of a type (a, s, d): size + MD5 of the data, and pts in seconds.
struct Packets {
  std::vector<std::string> data;
  std::vector<double> pts_s;
};
Packets packets(const std::string& path, const std::string& type) {
  std::string out;
  run("ffprobe -v error -select_streams " + type + ":0 -show_data_hash MD5 -show_entries packet=pts_time,size,data_hash -of json '" +
          path + "'",
      &out);
  Packets p;
  const json j = json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.contains("packets")) return p;
  for (const auto& k : j["packets"]) {
    p.data.push_back(k.value("size", "") + " " + k.value("data_hash", ""));
    p.pts_s.push_back(std::stod(k.value("pts_time", "nan")));
  }
  return p;
}

std::string probe(const std::string& path, const std::string& entries) {
  std::string out;
  run("ffprobe -v error -select_streams v:0 -show_entries " + entries + " -of default=nw=1 '" + path + "'", &out);
  return out;
}

void expect_same_video(const Decoded& a, const Decoded& b, size_t a_first = 0) {
  ASSERT_GE(a.hash.size(), a_first + b.hash.size());
  for (size_t i = 0; i < b.hash.size(); ++i) {
    EXPECT_EQ(a.hash[a_first + i], b.hash[i]) << "frame " << i;
    EXPECT_NEAR(a.pts_s[a_first + i], b.pts_s[i], 0.0011) << "frame " << i;  // Matroska: ms
  }
}

// A 10-bit HEVC clip with BT.709 tags, SAR 4:3 and an AAC track (48 frames unless told).
std::string hevc_with_audio(const std::string& name, int frames = 24, const std::string& audio = "-c:a aac") {
  if (!lucid::video::test::have_encoder("libx265") || !lucid::video::test::have_encoder("aac")) return {};
  return make_clip(name,
                   "-c:v libx265 -x265-params log-level=error:bframes=3 -pix_fmt yuv420p10le -color_primaries bt709 "
                   "-color_trc bt709 -colorspace bt709 -color_range tv -vf setsar=4/3 " + audio,
                   "-f lavfi -i testsrc2=size=192x128:rate=25 -f lavfi -i sine=frequency=440:sample_rate=48000 -t " +
                       std::to_string(frames / 25.0));
}

pid_t spawn(const std::string& cmd) {
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int journal_segments(const std::string& journal) {
  std::ifstream j(journal);
  std::string line;
  int n = 0;
  while (std::getline(j, line)) n += line.rfind("segment ", 0) == 0;
  return n;
}

bool wait_for_segments(const std::string& journal, int n) {
  for (int i = 0; i < 600; ++i) {
    if (journal_segments(journal) >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::vector<std::string> tmp_files(const std::string& dir) {
  std::string out;
  run("ls -a '" + dir + "' | grep lucid-tmp", &out);
  std::vector<std::string> v;
  std::istringstream s(out);
  std::string l;
  while (std::getline(s, l)) v.push_back(l);
  return v;
}

}  // namespace

TEST(VideoRestoreCli, IdentityIsBitExactAndKeepsAudioTimestampsAndTags) {
  const std::string in = hevc_with_audio("bitexact.mp4");
  if (in.empty()) GTEST_SKIP() << "no libx265/aac in the ffmpeg CLI";
  const std::string out = temp_dir() + "/bitexact.mkv";
  std::string js, err;
  ASSERT_EQ(cli("restore --model identity '" + in + "' -o '" + out + "' --json --segment 7", &js, &err), 0) << err;
  const json j = json::parse(js);
  EXPECT_EQ(j["frames_written"], 24);
  EXPECT_EQ(j["segments"], 4);
  EXPECT_EQ(j["copied_streams"], 1);
  const Decoded a = decode(in), b = decode(out);
  EXPECT_EQ(b.info.codec, "ffv1");
  EXPECT_EQ(b.info.pix_fmt, "yuv420p10le");
  EXPECT_EQ(b.info.color_primaries, "bt709");
  EXPECT_EQ(b.info.color_transfer, "bt709");
  EXPECT_EQ(b.info.color_matrix, "bt709");
  EXPECT_EQ(b.info.color_range, "tv");
  ASSERT_EQ(a.hash.size(), 24u);
  ASSERT_EQ(b.hash.size(), 24u);
  expect_same_video(a, b);
  EXPECT_NE(probe(out, "stream=sample_aspect_ratio").find("4:3"), std::string::npos) << probe(out, "stream=sample_aspect_ratio");
  EXPECT_NE(probe(out, "stream=avg_frame_rate").find("25/1"), std::string::npos);
  const Packets pa = packets(in, "a"), pb = packets(out, "a");
  ASSERT_GT(pa.data.size(), 40u);
  EXPECT_EQ(pa.data, pb.data);
  ASSERT_EQ(pa.pts_s.size(), pb.pts_s.size());
  for (size_t i = 0; i < pa.pts_s.size(); ++i) EXPECT_NEAR(pa.pts_s[i], pb.pts_s[i], 0.0011) << "audio packet " << i;
  // No work folder or temporary file left.
  EXPECT_TRUE(tmp_files(temp_dir()).empty());
  EXPECT_FALSE(exists(temp_dir() + "/.bitexact.mkv.lucid-work"));
}

TEST(VideoRestoreCli, OpusTrackAndTilesInMatroska) {
  if (!lucid::video::test::have_encoder("libopus") || !lucid::video::test::have_encoder("libx264"))
    GTEST_SKIP() << "no libopus/libx264";
  const std::string in = make_clip("opus.mkv", "-c:v libx264 -pix_fmt yuv420p -c:a libopus",
                                   "-f lavfi -i testsrc2=size=200x120:rate=30 -f lavfi -i sine=sample_rate=48000 -t 0.5");
  const std::string out = temp_dir() + "/opus_out.mkv";
  std::string err;
  ASSERT_EQ(cli("restore --model identity '" + in + "' -o '" + out + "' --tile 48 --quiet", nullptr, &err), 0) << err;
  expect_same_video(decode(in), decode(out));
  const Packets pa = packets(in, "a");
  EXPECT_GT(pa.data.size(), 20u);
  EXPECT_EQ(pa.data, packets(out, "a").data);
}

TEST(VideoRestoreCli, VariableFrameRateTimestampsSurvive) {
  if (!lucid::video::test::have_encoder("libx264")) GTEST_SKIP() << "no libx264";
  const std::string in = make_clip("vfr.mkv", "-vf setpts='N*N/TB/25' -fps_mode passthrough -c:v libx264 -pix_fmt yuv420p",
                                   "-f lavfi -i testsrc2=size=96x64:rate=25 -frames:v 10");
  const std::string out = temp_dir() + "/vfr_out.mkv";
  ASSERT_EQ(cli("restore --model identity '" + in + "' -o '" + out + "' --quiet"), 0);
  const Decoded a = decode(in), b = decode(out);
  ASSERT_EQ(a.pts_s.size(), 10u);
  EXPECT_NEAR(a.pts_s[3], 0.36, 0.002);  // frame n at n*n/25 s
  expect_same_video(a, b);
}

TEST(VideoRestoreCli, FramesRangeCutsVideoAndAudio) {
  const std::string in = hevc_with_audio("range.mp4");
  if (in.empty()) GTEST_SKIP() << "no libx265/aac";
  const std::string out = temp_dir() + "/range.mkv";
  std::string js, err;
  ASSERT_EQ(cli("restore --model identity '" + in + "' -o '" + out + "' --frames 5:17 --json --segment 5", &js, &err), 0) << err;
  EXPECT_EQ(json::parse(js)["frames_written"], 12);
  const Decoded a = decode(in), b = decode(out);
  ASSERT_EQ(b.hash.size(), 12u);
  expect_same_video(a, b, 5);
  const Packets pb = packets(out, "a");
  ASSERT_FALSE(pb.pts_s.empty());
  EXPECT_GE(pb.pts_s.front(), 0.2 - 1e-3);
  EXPECT_LT(pb.pts_s.back(), 0.68);
  EXPECT_EQ(cli("restore --model identity '" + in + "' -o '" + temp_dir() + "/r2.mkv' --frames 9:3", nullptr, &err), 1);
  EXPECT_NE(err.find("error: --frames: empty range"), std::string::npos) << err;
  EXPECT_EQ(cli("restore --model identity '" + in + "' -o '" + temp_dir() + "/r3.mkv' --frames 500:", nullptr, &err), 1);
  EXPECT_NE(err.find("has 24 frames"), std::string::npos) << err;
  EXPECT_FALSE(exists(temp_dir() + "/r3.mkv"));
}

TEST(VideoRestoreCli, ExistingOutputNeedsY) {
  if (!lucid::video::test::have_encoder("libx264")) GTEST_SKIP();
  const std::string in = make_clip("y.mp4", "-c:v libx264 -pix_fmt yuv420p", "-f lavfi -i testsrc2=size=64x64:rate=25 -frames:v 4");
  const std::string out = temp_dir() + "/y.mkv";
  { std::ofstream(out) << "precious"; }
  std::string err;
  EXPECT_EQ(cli("restore --model identity '" + in + "' -o '" + out + "'", nullptr, &err), 5);
  EXPECT_NE(err.find("error: " + out + ": exists (use -y to replace it)"), std::string::npos) << err;
  std::ifstream f(out);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(f), {}), "precious");
  // A temporary output of a killed run (its PID is gone) is cleaned up by the next run.
  const std::string stale = temp_dir() + "/.lucid-tmp-999999999-y.mkv";
  { std::ofstream(stale) << "half"; }
  EXPECT_EQ(cli("restore --model identity '" + in + "' -o '" + out + "' -y --quiet"), 0);
  EXPECT_EQ(decode(out).hash.size(), 4u);
  EXPECT_FALSE(exists(stale));
}

TEST(VideoRestoreCli, LossyOutputCodecs) {
  if (!lucid::video::test::have_encoder("libx264")) GTEST_SKIP();
  const std::string in = make_clip("lossy.mp4", "-c:v libx264 -pix_fmt yuv420p", "-f lavfi -i testsrc2=size=96x64:rate=25 -frames:v 12");
  for (const std::string codec : {"x264", "x265", "svtav1"}) {
    const std::string enc = codec == "x264" ? "libx264" : codec == "x265" ? "libx265" : "libsvtav1";
    if (!lucid::video::test::have_encoder(enc)) continue;
    const std::string out = temp_dir() + "/lossy_" + codec + ".mkv";
    std::string err;
    ASSERT_EQ(cli("restore --model identity '" + in + "' -o '" + out + "' --codec " + codec + " --crf 30 --segment 5 --quiet", nullptr, &err), 0)
        << codec << ": " << err;
    const Decoded a = decode(in), b = decode(out);
    EXPECT_EQ(b.info.codec, codec == "x264" ? "h264" : codec == "x265" ? "hevc" : "av1");
    ASSERT_EQ(b.pts_s.size(), 12u) << codec;
    for (size_t i = 0; i < 12; ++i) EXPECT_NEAR(a.pts_s[i], b.pts_s[i], 0.0011) << codec << " frame " << i;
  }
  std::string err;
  EXPECT_EQ(cli("restore --model identity '" + in + "' -o '" + temp_dir() + "/x.mkv' --crf 20", nullptr, &err), 1);
  EXPECT_NE(err.find("FFV1 is lossless"), std::string::npos) << err;
}

// SIGKILL mid-run: no output; --resume reuses the finished segments and the result equals an
// uninterrupted run.
TEST(VideoRestoreCli, KilledRunResumesToTheSameOutput) {
  const std::string in = hevc_with_audio("kill.mp4", 40);
  if (in.empty()) GTEST_SKIP() << "no libx265/aac";
  const std::string ref = temp_dir() + "/kill_ref.mkv", out = temp_dir() + "/kill.mkv";
  ASSERT_EQ(cli("restore --model identity '" + in + "' -o '" + ref + "' --segment 4 --quiet"), 0);
  const std::string journal = temp_dir() + "/.kill.mkv.lucid-work/journal";
  const pid_t pid = spawn(kCli + " restore --model identity '" + in + "' -o '" + out + "' --segment 4 --quiet --debug-frame-delay-ms 40");
  ASSERT_TRUE(wait_for_segments(journal, 3)) << "no segments appeared";
  kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFSIGNALED(st));
  EXPECT_FALSE(exists(out));
  const int finished = journal_segments(journal);
  ASSERT_LT(finished, 10) << "the run ended before the kill";
  std::string js, err;
  ASSERT_EQ(cli("restore --model identity '" + in + "' -o '" + out + "' --segment 4 --resume --json", &js, &err), 0) << err;
  const json j = json::parse(js);
  EXPECT_GE(j["segments_reused"].get<int>(), finished);
  EXPECT_EQ(j["frames_restored"].get<int>(), 40 - 4 * j["segments_reused"].get<int>());
  const Decoded a = decode(ref), b = decode(out);
  ASSERT_EQ(b.hash.size(), 40u);
  expect_same_video(a, b);
  EXPECT_EQ(packets(ref, "a").data, packets(out, "a").data);
  expect_same_video(decode(in), b);
  EXPECT_FALSE(exists(temp_dir() + "/.kill.mkv.lucid-work"));
}

TEST(VideoRestoreCli, SigintAndSigtermLeaveNoOutput) {
  const std::string in = hevc_with_audio("int.mp4", 40);
  if (in.empty()) GTEST_SKIP() << "no libx265/aac";
  for (int sig : {SIGINT, SIGTERM}) {
    const std::string out = temp_dir() + "/int" + std::to_string(sig) + ".mkv";
    const std::string journal = temp_dir() + "/.int" + std::to_string(sig) + ".mkv.lucid-work/journal";
    const pid_t pid = spawn(kCli + " restore --model identity '" + in + "' -o '" + out + "' --segment 4 --quiet --debug-frame-delay-ms 40 2>/dev/null");
    ASSERT_TRUE(wait_for_segments(journal, 1));
    kill(pid, sig);
    int st = 0;
    waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 130);
    EXPECT_FALSE(exists(out));
    EXPECT_TRUE(tmp_files(temp_dir()).empty());
    // Without --resume a new run starts over and still succeeds.
    std::string js;
    ASSERT_EQ(cli("restore --model identity '" + in + "' -o '" + out + "' --segment 4 --json", &js), 0);
    EXPECT_EQ(json::parse(js)["segments_reused"], 0);
  }
}

TEST(VideoRestoreCli, ManifestShardsPartitionAndRecordFailures) {
  if (!lucid::video::test::have_encoder("libx264")) GTEST_SKIP();
  const std::string dir = temp_dir() + "/manifest";
  run("mkdir -p '" + dir + "/out'");
  std::vector<std::string> items;
  for (int i = 0; i < 7; ++i)
    items.push_back(make_clip("manifest/c" + std::to_string(i) + ".mp4", "-c:v libx264 -pix_fmt yuv420p",
                              "-f lavfi -i testsrc2=size=64x48:rate=25 -frames:v " + std::to_string(3 + i)));
  { std::ofstream(dir + "/bad.mp4") << "not a video"; }
  items.insert(items.begin() + 4, dir + "/bad.mp4");
  {
    std::ofstream m(dir + "/list.txt");
    m << "# clips\n\n";
    for (const auto& s : items) m << s << "\n";
  }
  std::multiset<std::string> seen;
  for (int s = 0; s < 3; ++s) {
    std::string js, err;
    const int rc = cli("restore --model identity --manifest '" + dir + "/list.txt' --shard " + std::to_string(s) + "/3 -o '" + dir + "/out' --json", &js, &err);
    const json j = json::parse(js);
    for (const auto& r : j["restored"]) seen.insert(r["input"].get<std::string>());
    for (const auto& r : j["failures"]) seen.insert(r["input"].get<std::string>());
    const bool has_bad = s == 4 % 3;
    EXPECT_EQ(rc, has_bad ? 8 : 0) << err;
    std::ifstream ff(dir + "/out/failures-" + std::to_string(s) + "-of-3.json");
    const json fj = json::parse(ff);
    ASSERT_EQ(fj["failures"].size(), has_bad ? 1u : 0u);
    if (has_bad) {
      EXPECT_EQ(fj["failures"][0]["input"], dir + "/bad.mp4");
      EXPECT_EQ(fj["failures"][0]["exit_code"], 2);
    }
  }
  EXPECT_EQ(seen, std::multiset<std::string>(items.begin(), items.end()));  // each exactly once
  for (int i = 0; i < 7; ++i) {
    const std::string o = dir + "/out/c" + std::to_string(i) + ".mkv";
    ASSERT_TRUE(exists(o));
    EXPECT_EQ(decode(o).hash, decode(items[i < 4 ? i : i + 1]).hash);
  }
  // Done outputs are skipped; the shard comes from Slurm's or Kubernetes' variables.
  std::string js;
  EXPECT_EQ(run("SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3 " + kCli + " restore --model identity --manifest '" + dir +
                    "/list.txt' -o '" + dir + "/out' --json --quiet",
                &js),
            8);  // index 4 (bad.mp4) is in shard 1
  json j = json::parse(js);
  EXPECT_EQ(j["shard"]["index"], 1);
  EXPECT_EQ(j["shard"]["source"], "slurm");
  EXPECT_EQ(j["restored"].size(), 0u);
  EXPECT_EQ(j["skipped"].size(), 2u);
  EXPECT_EQ(run("JOB_COMPLETION_INDEX=2 LUCID_SHARD_COUNT=3 " + kCli + " restore --model identity --manifest '" + dir + "/list.txt' -o '" +
                    dir + "/out' --json --quiet",
                &js),
            0);
  j = json::parse(js);
  EXPECT_EQ(j["shard"]["index"], 2);
  EXPECT_EQ(j["shard"]["source"], "kubernetes");
  EXPECT_EQ(j["skipped"].size(), 2u);
}

TEST(VideoRestoreCli, BadInputAndFlags) {
  const std::string d = temp_dir();
  std::string err;
  EXPECT_EQ(cli("restore --model identity '" + d + "/missing.mp4' -o '" + d + "/m.mkv'", nullptr, &err), 2);
  EXPECT_NE(err.find("error: " + d + "/missing.mp4: No such file or directory"), std::string::npos) << err;
  { std::ofstream(d + "/empty.mp4"); }
  EXPECT_EQ(cli("restore --model identity '" + d + "/empty.mp4' -o '" + d + "/e.mkv'", nullptr, &err), 2);
  EXPECT_NE(err.find("error: " + d + "/empty.mp4"), std::string::npos) << err;
  if (lucid::video::test::have_encoder("aac")) {
    const std::string a = make_clip("audio_only.m4a", "-c:a aac", "-f lavfi -i sine=duration=0.5");
    EXPECT_EQ(cli("restore --model identity '" + a + "' -o '" + d + "/a.mkv'", nullptr, &err), 3);
    EXPECT_NE(err.find("no video stream"), std::string::npos) << err;
  }
  EXPECT_EQ(cli("restore x.mp4", nullptr, &err), 1);
  EXPECT_NE(err.find("error: restore: missing -o OUT"), std::string::npos) << err;
  EXPECT_EQ(cli("restore x.mp4 -o y.mkv --codec vp8", nullptr, &err), 1);
  EXPECT_EQ(cli("restore x.mp4 -o y.mkv --tile 3", nullptr, &err), 1);
  EXPECT_EQ(cli("restore x.mp4 -o y.mkv --bogus", nullptr, &err), 1);
  EXPECT_NE(err.find("error: restore: unknown option '--bogus'"), std::string::npos) << err;
  EXPECT_EQ(cli("restore --model identity --manifest l.txt --shard 3/3 -o d", nullptr, &err), 1);
  EXPECT_NE(err.find("--shard: expected I/N"), std::string::npos) << err;
  EXPECT_EQ(cli("restore --model identity --manifest '" + d + "/nolist.txt' --shard 0/2 -o '" + d + "'", nullptr, &err), 2);
  EXPECT_EQ(cli("restore x.mp4 -o '" + d + "/no/such/dir/o.mkv'", nullptr, &err), 5);
  if (!exists("/dev/nvidia0")) {
    EXPECT_EQ(cli("restore x.mp4 -o y.mkv --device cuda", nullptr, &err), 6);
    EXPECT_NE(err.find("error: --device cuda: no CUDA device is available"), std::string::npos) << err;
  }
}

// Elementary streams have no timestamps: the output is timed by the frame rate, with a warning.
TEST(VideoRestoreCli, ElementaryStreamGetsFrameRateTimestamps) {
  if (!lucid::video::test::have_encoder("libx265")) GTEST_SKIP();
  const std::string in = make_clip("raw.hevc", "-c:v libx265 -x265-params log-level=error",
                                   "-f lavfi -i testsrc2=size=96x64:rate=25 -frames:v 10");
  const std::string out = temp_dir() + "/raw.mkv";
  std::string js, err;
  ASSERT_EQ(cli("restore --model identity '" + in + "' -o '" + out + "' --json", &js, &err), 0) << err;
  EXPECT_NE(err.find("warning: " + in + ": 10 frame(s) without (increasing) timestamps; timed by the frame rate"),
            std::string::npos) << err;
  const Decoded a = decode(in), b = decode(out);
  ASSERT_EQ(b.pts_s.size(), 10u);
  for (size_t i = 0; i < 10; ++i) EXPECT_NEAR(b.pts_s[i], 0.04 * i, 0.0011);
  EXPECT_EQ(a.hash, b.hash);
}

TEST(VideoRestoreCli, SubtitleStreamIsCopied) {
  if (!lucid::video::test::have_encoder("libx264") || !lucid::video::test::have_encoder("srt")) GTEST_SKIP();
  const std::string srt = temp_dir() + "/subs.srt";
  {
    std::ofstream s(srt);
    s << "1\n00:00:00,100 --> 00:00:00,300\nfirst\n\n2\n00:00:00,350 --> 00:00:00,450\nsecond\n";
  }
  const std::string in = make_clip("subs.mkv", "-map 0:v -map 1:s -c:v libx264 -pix_fmt yuv420p -c:s srt -metadata:s:s:0 language=fra",
                                   "-f lavfi -i testsrc2=size=96x64:rate=25 -i '" + srt + "' -t 0.48");
  const std::string out = temp_dir() + "/subs_out.mkv";
  std::string err;
  ASSERT_EQ(cli("restore --model identity '" + in + "' -o '" + out + "' --quiet", nullptr, &err), 0) << err;
  const Packets a = packets(in, "s"), b = packets(out, "s");
  ASSERT_EQ(a.data.size(), 2u);
  EXPECT_EQ(a.data, b.data);
  EXPECT_EQ(a.pts_s, b.pts_s);
  std::string lang;
  run("ffprobe -v error -select_streams s:0 -show_entries stream_tags=language -of csv=p=0 '" + out + "'", &lang);
  EXPECT_EQ(lang, "fra\n");
}

// A QuickTime timecode track has no packets FFmpeg copies: it travels as the timecode tag.
TEST(VideoRestoreCli, TimecodeTrackBecomesATag) {
  if (!lucid::video::test::have_encoder("libx264")) GTEST_SKIP();
  const std::string in = make_clip("tc.mp4", "-c:v libx264 -pix_fmt yuv420p -timecode 01:00:00:00",
                                   "-f lavfi -i testsrc2=size=96x64:rate=25 -t 0.4");
  const std::string out = temp_dir() + "/tc.mkv";
  std::string err, tc;
  ASSERT_EQ(cli("restore --model identity '" + in + "' -o '" + out + "'", nullptr, &err), 0) << err;
  EXPECT_NE(err.find("(tmcd) carried as the video's timecode tag"), std::string::npos) << err;
  run("ffprobe -v error -select_streams v:0 -show_entries stream_tags=timecode -of csv=p=0 '" + out + "'", &tc);
  EXPECT_EQ(tc, "01:00:00:00\n");
}

// A stream cut short: the decode error names the frame, exit 3, no output and no work folder.
TEST(VideoRestoreCli, TruncatedInputFailsCleanly) {
  if (!lucid::video::test::have_encoder("libx264")) GTEST_SKIP();
  const std::string full = make_clip("cut_full.mp4", "-c:v libx264 -pix_fmt yuv420p -movflags +faststart",
                                     "-f lavfi -i testsrc2=size=192x128:rate=25 -frames:v 24");
  const std::string in = temp_dir() + "/cut.mp4";
  struct stat st;
  ASSERT_EQ(::stat(full.c_str(), &st), 0);
  ASSERT_EQ(run("head -c " + std::to_string(st.st_size * 2 / 3) + " '" + full + "' > '" + in + "'"), 0);
  const std::string out = temp_dir() + "/cut.mkv";
  std::string err;
  const int rc = cli("restore --model identity '" + in + "' -o '" + out + "' --segment 4", nullptr, &err);
  EXPECT_EQ(rc, 3) << err;
  EXPECT_EQ(err.rfind("error: " + in + ": frame ", 0), 0u) << err;
  EXPECT_FALSE(exists(out));
  EXPECT_FALSE(exists(temp_dir() + "/.cut.mkv.lucid-work"));
  EXPECT_TRUE(tmp_files(temp_dir()).empty());
}
