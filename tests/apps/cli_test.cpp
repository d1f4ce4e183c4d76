// The lucid CLI as a user meets it: exit codes, "error: what: why" lines, no overwriting.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace fs = std::filesystem;

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
  Result run(const std::string& args) {
    const std::string err = (dir_ / "stderr.txt").string();
    const std::string cmd = std::string(LUCID_CLI) + " " + args + " > /dev/null 2> " + err;
    const int rc = std::system(cmd.c_str());
    std::ifstream in(err);
    std::stringstream s;
    s << in.rdbuf();
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, s.str()};
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

TEST_F(Cli, TargetSizeIsRespected) {
  auto r = run("encode " + sample() + " -o " + p("t.lucid") + " --target-size 6000 --model " +
               model());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LE(fs::file_size(p("t.lucid")), 6000u);
}

}  // namespace
