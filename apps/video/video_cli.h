// Shared pieces of the `lucid-video` tool. Exit codes are those of `lucid` (README).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace lucid::video_cli {

enum Exit : int {
  kExitOk = 0,
  kExitUsage = 1,       // bad flags or arguments
  kExitUnreadable = 2,  // input missing / unreadable / not a media file
  kExitCorrupt = 3,     // corrupt stream, no video stream, unsupported format, over the limits
  kExitWrite = 5,       // output exists (without -y) or cannot be written
  kExitDevice = 6,      // --device cuda without a CUDA device
  kExitInternal = 7,    // internal error
  kExitPartial = 8,     // --manifest: some items failed (listed in the failures file)
  kExitInterrupted = 130,  // SIGINT/SIGTERM: no output written; --resume continues
};

// A failure with its exit code; main() prints "error: <what>: <why>".
struct CliError : std::runtime_error {
  CliError(int c, const std::string& what_why) : std::runtime_error(what_why), code(c) {}
  int code;
};

int cmd_info(const std::vector<std::string>& args);
int cmd_restore(const std::vector<std::string>& args);

}  // namespace lucid::video_cli
