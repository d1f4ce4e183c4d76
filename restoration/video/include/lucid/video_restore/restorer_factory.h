// The one place that turns a restorer name or weight file into a FrameRestorer. Every front door
// gets its video restorer here and nowhere else: `lucid-video restore` and `lucid-video bench`
// (--model), and the C API's LUCID_MODEL_VIDEO_RESTORER model handle (weights_path). When the
// QP-aware network lands (issue 14), it is plugged in here, once.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include "lucid/video_restore/frame_restorer.h"

namespace lucid::video_restore {

// The name that selects the pass-through restorer (also what an empty weights_path selects).
inline constexpr const char* kIdentityRestorer = "identity";

// A restorer that cannot be made: unknown weights, or a device string that is not cpu/cuda[:N].
// The C API reports it as LUCID_ERROR_MODEL (LUCID_ERROR_INVALID_ARGUMENT for the device),
// lucid-video exits 4 (1 for the device: a usage error).
struct RestorerError : std::runtime_error {
  enum class Kind { kModel, kDevice };
  RestorerError(Kind k, const std::string& what) : std::runtime_error(what), kind(k) {}
  Kind kind;
};

// weights_path "" or "identity": the IdentityRestorer (frames pass through bit for bit; it runs
// on the CPU whatever `device` says). "identity:B,A,F" is the same pass-through declaring the
// temporal window of a network (B frames behind, A ahead, one far look-ahead frame F ahead, each
// 0..64), so that an application can rehearse its push/pull buffering (the frames a restorer
// holds back) before the network lands. Any other path: RestorerError(kModel), as this build has
// no video restorer network yet. `device` is "cpu", "cuda" or "cuda:N" (checked for its form
// only; whether the device exists is the caller's check, as the identity needs none).
//
// The restorer returned is shared: by every stream of one C API model handle, possibly from
// several threads at once, and by every clip of one lucid-video run. restore() must therefore be
// safe to call concurrently (the identity is stateless; a network keeps its weights immutable
// and its per-call state on the stack).
std::shared_ptr<FrameRestorer> make_restorer(const std::string& weights_path, const std::string& device);

}  // namespace lucid::video_restore
