// lucid-video: video restoration tool. This part offers `info` (streams, format, per-frame QP).
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "video_cli.h"

namespace {

const char* kUsage =
    "usage:\n"
    "  lucid-video info IN [--json] [--qp N] [-v]\n"
    "\n"
    "info: the file's streams, the video stream's codec, size, pixel format, bit depth, colour\n"
    "tags, frame rate, time base, frame count (every frame is decoded) and each frame's QP and\n"
    "picture type. QP scales: HEVC and H.264 luma QP (0..51 at 8 bit; HEVC from the slice\n"
    "headers, mean over slices), AV1 and VP9 base_q_idx (0..255), MPEG-2 quantiser_scale.\n"
    "  --json     print JSON to stdout (a \"frames\" array with each frame's qp and pict_type)\n"
    "  --qp N     report N as every frame's QP (overrides the stream's)\n"
    "  -v         also print FFmpeg's own messages and QP parser warnings\n"
    "  -h, --help this help; -V, --version the version\n"
    "Exit codes: 0 ok, 1 usage, 2 input unreadable, 3 input corrupt/unsupported/too large,\n"
    "7 internal error. Every error line reads `error: what: why`.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace lucid::video_cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fprintf(stderr, "error: lucid-video: missing command\n%s", kUsage);
    return kExitUsage;
  }
  const std::string cmd = args[0];
  if (cmd == "-h" || cmd == "--help") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (cmd == "-V" || cmd == "--version") {
    std::puts("lucid-video 0.1.0");
    return kExitOk;
  }
  try {
    if (cmd == "info") return cmd_info({args.begin() + 1, args.end()});
    throw CliError(kExitUsage, "lucid-video: unknown command '" + cmd + "' (see --help)");
  } catch (const CliError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    if (e.code == kExitUsage) std::fputs(kUsage, stderr);
    return e.code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: internal: %s\n", e.what());
    return kExitInternal;
  }
}
