// The lucid CLI as a user meets it: exit codes, "error: what: why" lines, no overwriting.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lucid-cli-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // Runs lucid; stderr is returned, stdout too when `out` is given.
  Result run(const std::string& args, std::string* out = nullptr) {
    const std::string err = (dir_ / "stderr.txt").string();
    const std::string so = out ? (dir_ / "stdout.txt").string() : "/dev/null";
    const std::string cmd = std::string(LUCID_CLI) + " " + args + " > " + so + " 2> " + err;
    const int rc = std::system(cmd.c_str());
    if (out) *out = slurp(so);
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(err)};
  }
  static std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::string p(const std::string& name) { return (dir_ / name).string(); }
  std::string model() { return std::string(LUCID_SOURCE_DIR) + "/tests/data/fat-tiny.lucidw"; }
  std::string sample() { return std::string(LUCID_SOURCE_DIR) + "/tests/data/sample.png"; }
  fs::path dir_;
};

TEST_F(Cli, EncodeDecodeRoundTrip) {
  auto r = run("encode " + sample() + " -o " + p("a.lucid") + " -q 40 --model " + model());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("500x500 ->"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bpp"), std::string::npos) << r.err;
  r = run("decode " + p("a.lucid") + " -o " + p("a.png") + " --compare " + sample() +
          " --model " + model());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("PSNR"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(p("a.png")));
}

TEST_F(Cli, NeverOverwritesWithoutBeingAsked) {
  std::ofstream(p("keep.lucid")) << "precious";
  auto r = run("encode " + sample() + " -o " + p("keep.lucid") + " --model " + model());
  EXPECT_EQ(r.code, 5);
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("exists"), std::string::npos) << r.err;
  std::ifstream in(p("keep.lucid"));
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
  r = run("encode " + sample() + " -o " + p("keep.lucid") + " -y --model " + model());
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(Cli, ExitCodesAndMessages) {
  auto r = run("encode " + p("missing.png") + " -o " + p("x.lucid") + " --model " + model());
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("error: " + p("missing.png") + ": "), std::string::npos) << r.err;

  std::ofstream(p("junk.lucid")) << "this is not a lucid stream at all, definitely not";
  r = run("decode " + p("junk.lucid") + " -o " + p("x.png") + " --model " + model());
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_EQ(r.err.rfind("error: " + p("junk.lucid") + ": ", 0), 0u) << r.err;
  EXPECT_FALSE(fs::exists(p("x.png")));

  r = run("encode " + sample() + " -o " + p("x.lucid") + " --model " + p("nope.lucidw"));
  EXPECT_EQ(r.code, 4) << r.err;

  r = run("encode " + sample() + " -o " + p("x.lucid") + " -q 0 --model " + model());
  EXPECT_EQ(r.code, 1) << r.err;
  r = run("encode " + sample() + " --bogus -o " + p("x.lucid"));
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("--bogus: unknown option"), std::string::npos) << r.err;
  r = run("encode " + sample() + " -o " + p("x.lucid") + " -q 50 --target-bpp 0.5");
  EXPECT_EQ(r.code, 1) << r.err;
  r = run("frobnicate");
  EXPECT_EQ(r.code, 1) << r.err;

  // An image file given to decode is not a stream.
  r = run("decode " + sample() + " -o " + p("y.png") + " --model " + model());
  EXPECT_EQ(r.code, 3) << r.err;
}

// The keys of a JSON object, in order.
std::vector<std::string> keys(const Json& j) {
  std::vector<std::string> k;
  for (auto it = j.begin(); it != j.end(); ++it) k.push_back(it.key());
  return k;
}

// --json: one object on one line of stdout, its keys in a fixed order.
TEST_F(Cli, JsonOutputs) {
  std::string out;
  auto r = run("encode " + sample() + " -o " + p("a.lucid") + " -q 40 --json --model " + model(),
               &out);
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(out.find('\n'), out.size() - 1) << out;
  Json j = Json::parse(out);
  EXPECT_EQ(keys(j), (std::vector<std::string>{"input", "output", "width", "height", "bytes",
                                               "bpp", "quality", "seconds"}))
      << out;
  EXPECT_EQ(j["input"], sample());
  EXPECT_EQ(j["output"], p("a.lucid"));
  EXPECT_EQ(j["width"], 500);
  EXPECT_EQ(j["height"], 500);
  EXPECT_EQ(j["bytes"], fs::file_size(p("a.lucid")));
  EXPECT_DOUBLE_EQ(j["bpp"].get<double>(), 8.0 * fs::file_size(p("a.lucid")) / (500 * 500));
  EXPECT_EQ(j["quality"], 40.0);

  r = run("info " + p("a.lucid") + " --json", &out);
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(out.find('\n'), out.size() - 1) << out;
  j = Json::parse(out);
  EXPECT_EQ(keys(j), (std::vector<std::string>{"width", "height", "quality", "model_id",
                                               "weight_hash", "bytes", "bpp"}))
      << out;
  EXPECT_NEAR(j["quality"].get<double>(), 40.0, 0.01) << out;
  EXPECT_EQ(j["model_id"].get<std::string>().empty(), false) << out;
  EXPECT_EQ(j["weight_hash"].get<std::string>().size(), 16u) << out;

  r = run("decode " + p("a.lucid") + " -o " + p("a.png") + " --compare " + sample() +
              " --json --model " + model(),
          &out);
  ASSERT_EQ(r.code, 0) << r.err;
  j = Json::parse(out);
  EXPECT_EQ(keys(j), (std::vector<std::string>{"input", "output", "width", "height", "bytes",
                                               "bpp", "seconds", "psnr", "ms_ssim"}))
      << out;
  EXPECT_TRUE(j["psnr"].is_number()) << out;  // fat-tiny has random weights: a low PSNR
  EXPECT_TRUE(j["ms_ssim"].is_number()) << out;
  // Against its own decoded pixels the PSNR is infinite: written as null, still JSON.
  r = run("decode " + p("a.lucid") + " -o " + p("b.png") + " --compare " + p("a.png") +
              " --json --model " + model(),
          &out);
  ASSERT_EQ(r.code, 0) << r.err;
  j = Json::parse(out);
  EXPECT_TRUE(j["psnr"].is_null()) << out;
  EXPECT_EQ(j["ms_ssim"], 1.0) << out;
  // Without --compare there is no psnr or ms_ssim.
  r = run("decode " + p("a.lucid") + " -o " + p("c.png") + " --json --model " + model(), &out);
  ASSERT_EQ(r.code, 0) << r.err;
  j = Json::parse(out);
  EXPECT_FALSE(j.contains("psnr")) << out;
  EXPECT_FALSE(j.contains("ms_ssim")) << out;
}

TEST_F(Cli, TargetSizeIsRespected) {
  auto r = run("encode " + sample() + " -o " + p("t.lucid") + " --target-size 6000 --model " +
               model());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LE(fs::file_size(p("t.lucid")), 6000u);
}

}  // namespace
