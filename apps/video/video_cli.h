// Shared pieces of the `lucid-video` tool. Exit codes are those of `lucid` (README).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "flags.h"
#include "lucid/video/video_reader.h"
#include "lucid/video_restore/frame.h"
#include "lucid/video_restore/frame_restorer.h"
#include "lucid/video_restore/restorer_factory.h"

namespace lucid::video_cli {

enum Exit : int {
  kExitOk = 0,
  kExitUsage = 1,       // bad flags or arguments
  kExitUnreadable = 2,  // input missing / unreadable / not a media file
  kExitCorrupt = 3,     // corrupt stream, no video stream, unsupported format, over the limits
  kExitModel = 4,       // --model: no such restorer (this build: only the identity)
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
int cmd_bench(const std::vector<std::string>& args);

// --- helpers shared by the commands (video_cli.cpp) ---

// Flag values (lucid::flags, apps/common/flags.h, the parser of all three tools): out of range
// is flags::UsageError("FLAG: expected ..."), exit 1 with the usage.
using flags::parse_int;
// --qp: the QP the restorer is told, a number in -48..255.
double parse_qp(const std::string& v);
// --tile: 0 (whole frames) or 16..65536.
int parse_tile(const std::string& v);
// The exit code of a reader/writer error: 2 for files that cannot be opened, else 3.
int exit_for(video::VideoErrorKind k);
// Checks --device: "cpu", or "cuda[:N]" with that CUDA device visible (else exit 6). No LibTorch
// in this tool: a CUDA device is a /dev/nvidiaN node the process may use. `identity_note`: say
// that the identity restorer runs on the CPU anyway (-v with --model identity).
void check_device(const std::string& device, bool identity_note);
// The video restorer model of --model (default "identity"), loaded once by the one factory
// (lucid/video_restore/restorer_factory.h); each file or clip makes its own restorer from it.
// Its errors become exit 4 (model), 6 (device) or 3 (input).
std::shared_ptr<const video_restore::RestorerModel> restorer_for(const std::string& model, const std::string& device);
// A decoded frame copied into the restorer's working format (rows packed), its QP on `scale`
// (video_restore::qp_scale_for_codec() of the stream's codec).
video_restore::Frame to_restore_frame(const video::VideoFrame& vf, const video_restore::PlaneFormat& pf,
                                      video_restore::QpScale scale);
// The restorer's plane format of a stream.
video_restore::PlaneFormat plane_format(const video::StreamInfo& info);

}  // namespace lucid::video_cli
