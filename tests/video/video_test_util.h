// Helpers of the video tests: make clips with the ffmpeg CLI in a per-process temp folder.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace lucid::video::test {

inline std::string temp_dir() {
  static const std::string dir = [] {
    std::string d = ::testing::TempDir() + "lucid_video_" + std::to_string(getpid());
    std::system(("mkdir -p '" + d + "'").c_str());
    std::atexit([] {  // the clips of this process only
      std::system(("rm -rf '" + ::testing::TempDir() + "lucid_video_" + std::to_string(getpid()) + "'").c_str());
    });
    return d;
  }();
  return dir;
}

// Runs a shell command; returns its exit status and (optionally) its stdout.
inline int run(const std::string& cmd, std::string* out = nullptr) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) s.append(buf, n);
  const int st = pclose(p);
  if (out) *out = s;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

inline bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

#ifdef LUCID_VIDEO_CLI
// rc of `lucid-video ARGS` (the CLI tests define LUCID_VIDEO_CLI); stdout in *out, stderr in
// *err.
inline int cli(const std::string& args, std::string* out = nullptr, std::string* err = nullptr) {
  const std::string errf = temp_dir() + "/cli_stderr.txt";
  const int rc = run(std::string(LUCID_VIDEO_CLI) + " " + args + " 2>'" + errf + "'", out);
  if (err) {
    std::ifstream e(errf);
    *err = std::string(std::istreambuf_iterator<char>(e), {});
  }
  return rc;
}
#endif

inline bool have_encoder(const std::string& name) {
  static std::string list;
  if (list.empty()) run("ffmpeg -hide_banner -encoders 2>/dev/null", &list);
  return list.find(" " + name + " ") != std::string::npos;
}

// Encodes 12 frames (unless `input` says otherwise) of a 192x128 test pattern:
// ffmpeg -f lavfi -i testsrc2=size=192x128:rate=25 -frames:v 12 ARGS -y DIR/NAME.
// Returns the path; fails the test if ffmpeg fails.
inline std::string make_clip(const std::string& name, const std::string& args,
                             const std::string& input = "-f lavfi -i testsrc2=size=192x128:rate=25 -frames:v 12") {
  const std::string path = temp_dir() + "/" + name;
  const std::string cmd = "ffmpeg -nostdin -hide_banner -loglevel error " + input + " " + args + " -y '" + path + "' 2>&1";
  std::string log;
  const int rc = run(cmd, &log);
  EXPECT_EQ(rc, 0) << cmd << "\n" << log;
  return path;
}

// x265's per-frame CSV (csv-log-level=1): POC -> QP.
inline std::map<int, double> read_x265_csv(const std::string& path) {
  std::map<int, double> qp;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string enc, type, poc, q;
    if (!std::getline(ss, enc, ',') || !std::getline(ss, type, ',') || !std::getline(ss, poc, ',') ||
        !std::getline(ss, q, ','))
      continue;
    qp[std::stoi(poc)] = std::stod(q);
  }
  return qp;
}

}  // namespace lucid::video::test
