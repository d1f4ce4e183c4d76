// The three tools' command lines on their one parser (lucid::flags): help, unknown flags,
// missing and bad values, as a user meets them (exit code, stdout, the one `error:` line).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace {

struct Outcome {
  int code;
  std::string out, err;
};

// Runs `tool args` with stdout and stderr captured apart.
Outcome run(const std::string& tool, const std::string& args) {
  const std::string base = ::testing::TempDir() + "flags_cli_" + std::to_string(::getpid());
  const std::string cmd = tool + " " + args + " > " + base + ".out 2> " + base + ".err";
  const int rc = std::system(cmd.c_str());
  auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    std::remove(p.c_str());
    return s.str();
  };
  Outcome r{WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, "", ""};
  r.out = slurp(base + ".out");
  r.err = slurp(base + ".err");
  return r;
}

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

TEST(FlagsCli, LucidHelpOfEveryCommandExitsZero) {
  for (const char* cmd : {"encode --help", "decode -h", "info x.lucid --help", "bench -h", "restore --help",
                          "bench-restore --help", "--help"}) {
    const Outcome r = run(LUCID_CLI, cmd);
    EXPECT_EQ(r.code, 0) << cmd << ": " << r.err;
    EXPECT_TRUE(starts_with(r.out, "lucid: learned image compression")) << cmd << ": " << r.out;
    EXPECT_EQ(r.err, "") << cmd;
  }
}

// `tool args` exits 1 with stderr `err`: the whole of it (one line), or its start where the
// tool prints its usage after the error line (`then_usage`).
void expect_usage_error(const char* tool, const std::string& args, const std::string& err,
                        bool then_usage = false) {
  const Outcome r = run(tool, args);
  EXPECT_EQ(r.code, 1) << args;
  if (then_usage)
    EXPECT_TRUE(starts_with(r.err, err + "\nusage:")) << args << ": " << r.err;
  else
    EXPECT_EQ(r.err, err + "\n") << args;
}

TEST(FlagsCli, LucidBadFlagsExitOneWithOneErrorLine) {
  expect_usage_error(LUCID_CLI, "encode a.png --bogus -o a.lucid", "error: --bogus: unknown option");
  expect_usage_error(LUCID_CLI, "encode a.png -o", "error: -o: needs a value");
  // --name=value; the message names -q as before
  expect_usage_error(LUCID_CLI, "encode a.png --quality=500 -o a.lucid", "error: -q: expected a number in 1..100, got '500'");
  // -j and --threads are one flag: the last value counts
  expect_usage_error(LUCID_CLI, "decode a.lucid -o a.png -j 2 --threads 0",
                     "error: --threads: expected an integer in 1..256, got '0'");
  expect_usage_error(LUCID_CLI, "restore a.jpg -o a.png --tile=100", "error: --tile: expected an integer in 256..4096, got '100'");
  expect_usage_error(LUCID_CLI, "bench d --device gpu", "error: --device: expected cpu, cuda or cuda:N, got 'gpu'");
  // after --, "-o" is an input too
  expect_usage_error(LUCID_CLI, "encode -- --a.png -o a.lucid", "error: encode: expected exactly one input (see --help)");
}

TEST(FlagsCli, TrainHelpAndBadFlags) {
  const Outcome r = run(LUCID_TRAIN, "codec --help");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(starts_with(r.out, "usage: lucid-train codec")) << r.out;
  // unknown flags and missing values: the error, then the usage; a bad value: the error alone
  expect_usage_error(LUCID_TRAIN, "video --train a.txt --bogus 1", "error: --bogus: unknown option", true);
  expect_usage_error(LUCID_TRAIN, "export-codec --run d --out", "error: --out: needs a value", true);
  expect_usage_error(LUCID_TRAIN, "shelve --run a stray", "error: stray: unknown option", true);
  expect_usage_error(LUCID_TRAIN, "restore --batch x", "error: --batch: invalid value 'x'");
  expect_usage_error(LUCID_TRAIN, "codec --train=a.txt --val a.txt -j 1 --threads 0 --device gpu",
                     "error: codec: crops must be multiples of 64, batch and threads >= 1");
  expect_usage_error(LUCID_TRAIN, "codec --train a.txt --val a.txt --device gpu", "error: --device: expected cpu or cuda");
}

#ifdef LUCID_VIDEO_CLI
TEST(FlagsCli, VideoHelpAndBadFlags) {
  for (const char* cmd : {"info --help", "restore x.mp4 -o y.mkv --help", "bench -h"}) {
    const Outcome r = run(LUCID_VIDEO_CLI, cmd);
    EXPECT_EQ(r.code, 0) << cmd << ": " << r.err;
    EXPECT_TRUE(starts_with(r.out, "usage:\n  lucid-video info")) << cmd << ": " << r.out;
  }
  // every usage error: the error line, then the usage
  expect_usage_error(LUCID_VIDEO_CLI, "restore x.mp4 -o y.mkv --tile=3", "error: --tile: expected 0 (whole frames) or 16..65536", true);
  expect_usage_error(LUCID_VIDEO_CLI, "info a.mp4 --qp", "error: --qp: missing value", true);
  expect_usage_error(LUCID_VIDEO_CLI, "bench d --codec hevc --frames 0",
                     "error: --frames: expected an integer in 1..1099511627776, got '0'", true);
  expect_usage_error(LUCID_VIDEO_CLI, "bench d --cdec hevc", "error: bench: unknown option '--cdec'", true);
}
#endif

}  // namespace
