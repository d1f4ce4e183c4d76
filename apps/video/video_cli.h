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
  kExitInternal = 7,    // internal error
};

// A failure with its exit code; main() prints "error: <what>: <why>".
struct CliError : std::runtime_error {
  CliError(int c, const std::string& what_why) : std::runtime_error(what_why), code(c) {}
  int code;
};

int cmd_info(const std::vector<std::string>& args);

}  // namespace lucid::video_cli
