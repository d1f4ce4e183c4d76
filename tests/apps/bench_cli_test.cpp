// `lucid bench` against the baseline codecs: each available tool gives its points in order of
// rate, BD-rates are finite, a missing tool is a one-line note, a failing one a clear error.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

namespace {

struct Result {
  int code;
  std::string err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Where `program` is in this process's PATH, or "".
std::string which(const std::string& program) {
  const char* p = std::getenv("PATH");
  std::stringstream dirs(p ? p : "");
  for (std::string d; std::getline(dirs, d, ':');)
    if (!d.empty() && ::access((d + "/" + program).c_str(), X_OK) == 0) return d + "/" + program;
  return "";
}

// A textured RGB picture (gradients, a few edges, some noise) as a binary PPM.
void write_ppm(const fs::path& p, int w, int h, uint32_t seed) {
  std::ofstream o(p, std::ios::binary);
  o << "P6\n" << w << " " << h << "\n255\n";
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      seed = seed * 1664525u + 1013904223u;
      const int n = int(seed >> 27) - 16;
      const int edge = ((x / 24 + y / 16) % 2) * 60;
      const int r = 40 + x * 150 / w + edge + n, g = 60 + y * 120 / h + n,
                b = 120 + int(60 * std::sin(x * 0.15 + y * 0.05)) + n / 2;
      for (int v : {r, g, b}) o.put(char(std::min(255, std::max(0, v))));
    }
}

// A JSON file parsed; one that is not JSON fails the test and gives null.
Json read_json(const fs::path& p) {
  const std::string text = slurp(p);
  Json j = Json::parse(text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << p << " is not JSON: " << text;
  return j.is_discarded() ? Json() : j;
}

// The numbers of a CompressAI file's results[key]; empty if missing.
std::vector<double> results_array(const Json& codec, const std::string& key) {
  std::vector<double> out;
  if (!codec.contains("results") || !codec["results"].contains(key)) return out;
  for (const auto& v : codec["results"][key]) out.push_back(v.get<double>());
  return out;
}

// obj[key] as a number; NaN for null (a BD-rate that cannot be computed) or a missing key.
double number(const Json& obj, const std::string& key) {
  if (!obj.is_object() || !obj.contains(key) || !obj[key].is_number()) return NAN;
  return obj[key].get<double>();
}

class BenchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lucid-bench-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "imgs");
    // Two small images, one with a name a shell would misread.
    write_ppm(dir_ / "imgs" / "a.ppm", 128, 96, 1);
    write_ppm(dir_ / "imgs" / "b $(touch x); 'q'.ppm", 112, 80, 2);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // Runs lucid with `env` (e.g. "PATH=/x") in front; stderr is captured.
  Result run(const std::string& args, const std::string& env = "") {
    const std::string err = (dir_ / "stderr.txt").string();
    const std::string cmd =
        (env.empty() ? "" : "env " + env + " ") + LUCID_CLI + " " + args + " > /dev/null 2> " + err;
    const int rc = std::system(cmd.c_str());
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(err)};
  }
  std::string bench_args(const std::string& out, const std::string& extra = "") {
    return "bench " + (dir_ / "imgs").string() + " -o " + (dir_ / out).string() +
           " --qualities 10,50,90 -j 1 --model " + LUCID_SOURCE_DIR +
           "/models/weights/fat-small.lucidw " + extra;
  }
  // A folder of links to the named tools (those that exist), for a PATH with only them.
  fs::path tool_dir(const std::string& name, const std::vector<std::string>& tools) {
    fs::path d = dir_ / name;
    fs::create_directories(d);
    for (const auto& t : tools)
      if (!which(t).empty()) fs::create_symlink(which(t), d / t);
    return d;
  }
  fs::path dir_;
};

struct Baseline {
  const char* key;
  const char* encoder;
  const char* decoder;
  size_t points;
};
const Baseline kBaselines[] = {
    {"webp", "cwebp", "dwebp", 10},
    {"avif", "avifenc", "avifdec", 10}, {"jxl", "cjxl", "djxl", 10}};

TEST_F(BenchCli, EveryAvailableBaselineGivesItsCurveAndBdRates) {
  auto r = run(bench_args("out"));
  ASSERT_EQ(r.code, 0) << r.err;
  const fs::path out = dir_ / "out";
  const Json summary = read_json(out / "summary.json");
  EXPECT_EQ(summary.value("images", 0), 2) << summary;
  EXPECT_EQ(summary.value("effort", 0), 1) << summary;
  ASSERT_TRUE(summary.contains("bd_rate_percent_overlap")) << summary;
  ASSERT_TRUE(summary.contains("bd_rate_percent_overlap_cubic")) << summary;
  // Overlap BD-rates: the tiny test images sit mostly above 1 bpp.
  const Json& overlap = summary["bd_rate_percent_overlap"];
  EXPECT_TRUE(std::isfinite(number(overlap, "lucid_vs_jpeg"))) << summary;
  EXPECT_EQ(number(summary, "bd_rate_vs_jpeg_percent_overlap"), number(overlap, "lucid_vs_jpeg"));
  // The classic cubic Bjontegaard needs 4 points: Lucid has 3 here, so it is null.
  const Json& cubic = summary["bd_rate_percent_overlap_cubic"];
  ASSERT_TRUE(cubic.contains("lucid_vs_jpeg")) << summary;
  EXPECT_TRUE(cubic["lucid_vs_jpeg"].is_null()) << summary;
  const Json lucid = read_json(out / "lucid.json");
  EXPECT_EQ(results_array(lucid, "bpp").size(), 3u);
  for (const char* key : {"psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"})
    EXPECT_EQ(results_array(lucid, key).size(), 3u) << key;
  EXPECT_EQ(results_array(read_json(out / "jpeg.json"), "bpp").size(), 12u);
  int available = 0;
  for (const auto& b : kBaselines) {
    SCOPED_TRACE(b.key);
    const fs::path json = out / (std::string(b.key) + ".json");
    if (which(b.encoder).empty() || which(b.decoder).empty()) {
      EXPECT_FALSE(fs::exists(json));
      EXPECT_NE(r.err.find(std::string("note: ") + b.key + ": skipped"), std::string::npos);
      continue;
    }
    ++available;
    const Json codec = read_json(json);
    const auto bpp = results_array(codec, "bpp");
    const auto psnr = results_array(codec, "psnr-rgb");
    ASSERT_EQ(bpp.size(), b.points) << codec;
    ASSERT_EQ(psnr.size(), b.points);
    for (size_t i = 1; i < bpp.size(); ++i) EXPECT_GT(bpp[i], bpp[i - 1]) << "point " << i;
    for (double p : psnr) EXPECT_TRUE(p > 15 && p < 99) << p;
    EXPECT_EQ(codec.value("name", ""), b.key) << codec;
    EXPECT_FALSE(codec.value("description", "").empty()) << codec;
    EXPECT_TRUE(std::isfinite(number(overlap, std::string(b.key) + "_vs_jpeg"))) << summary;
    EXPECT_TRUE(std::isfinite(number(overlap, std::string("lucid_vs_") + b.key))) << summary;
    EXPECT_TRUE(std::isfinite(number(cubic, std::string(b.key) + "_vs_jpeg"))) << summary;
  }
  // One CSV row per image and point; the odd file name is quoted, never run by a shell.
  const std::string csv = slurp(out / "points.csv");
  size_t rows = 0;
  for (char c : csv) rows += c == '\n';
  EXPECT_EQ(rows, 1 + 2 * (3 + 12 + 10 * size_t(available)));
  EXPECT_NE(csv.find("\"b $(touch x); 'q'.ppm\""), std::string::npos);
  EXPECT_FALSE(fs::exists(fs::current_path() / "x"));
  EXPECT_TRUE(fs::exists(out / "rd.png"));
  // A second run refuses to overwrite.
  r = run(bench_args("out"));
  EXPECT_EQ(r.code, 5) << r.err;
  EXPECT_NE(r.err.find("exists (use -y/--overwrite)"), std::string::npos) << r.err;
}

TEST_F(BenchCli, MissingToolIsSkippedWithANote) {
  // PATH holds WebP's tools only: AVIF is skipped, JPEG XL was not asked for.
  const fs::path bin = tool_dir("bin", {"cwebp", "dwebp"});
  auto r = run(bench_args("out", "--baselines jpeg,webp,avif"), "PATH=" + bin.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("note: avif: skipped (avifenc not found in PATH)\n"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("jxl"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "out" / "avif.json"));
  EXPECT_FALSE(fs::exists(dir_ / "out" / "jxl.json"));
  EXPECT_EQ(fs::exists(dir_ / "out" / "webp.json"), !which("cwebp").empty());
  const Json summary = read_json(dir_ / "out" / "summary.json");
  ASSERT_TRUE(summary.contains("skipped")) << summary;
  EXPECT_EQ(summary["skipped"].value("avif", ""), "avifenc not found in PATH") << summary;
  EXPECT_FALSE(summary["skipped"].contains("jxl")) << summary;

  r = run(bench_args("out2", "--baselines jpeg,heic"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("error: --baselines: heic: unknown codec"), std::string::npos) << r.err;
}

TEST_F(BenchCli, FailingToolIsAClearError) {
  const fs::path bin = dir_ / "fake";
  fs::create_directories(bin);
  for (const char* t : {"cwebp", "dwebp"}) {
    std::ofstream o(bin / t);
    o << "#!/bin/sh\necho \"something went wrong\" >&2\nexit 3\n";
    o.close();
    fs::permissions(bin / t, fs::perms::owner_all);
  }
  const fs::path tmp = dir_ / "tmp";
  fs::create_directories(tmp);
  auto r = run(bench_args("out", "--baselines webp"),
               "PATH=" + bin.string() + " TMPDIR=" + tmp.string());
  EXPECT_EQ(r.code, 7) << r.err;
  EXPECT_NE(r.err.find("/imgs/a.ppm: cwebp failed (exit 3): something went wrong"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(fs::is_empty(tmp)) << "the private temporary folder is left behind";
}

}  // namespace
