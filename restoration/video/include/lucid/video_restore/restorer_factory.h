// The one place that turns a restorer name or weight file into a video restorer. Every front door
// gets its restorer here and nowhere else: `lucid-video restore` and `lucid-video bench`
// (--model), and the C API's LUCID_MODEL_VIDEO_RESTORER model handle (weights_path). The trained
// network (diqp_restorer.h, lucid::video_net) is plugged in here, once.
//
// Two levels, as the network needs them: a RestorerModel holds what is loaded once (weights on a
// device), immutable and shared by any number of streams and threads (a C API model handle, a
// lucid-video run); each stream (a file, a clip at one QP, a C API stream) makes its own
// FrameRestorer from it, which may keep per-stream state and is used by one thread at a time.
#pragma once

#include <memory>
#include <string>

#include "lucid/video_restore/diqp_restorer.h"  // RestorerError (torch-free header)
#include "lucid/video_restore/frame_restorer.h"

namespace lucid::video_restore {

// The name that selects the pass-through restorer (also what an empty weights_path selects).
inline constexpr const char* kIdentityRestorer = "identity";
// The name that selects the shipped network, found like every shipped weight file
// (models/model_files.h: $LUCID_MODEL_DIR, the installed model folder, the source tree).
inline constexpr const char* kDefaultRestorer = "default";
inline constexpr const char* kDefaultRestorerFile = "diqp-small.lucidw";

class RestorerModel {
 public:
  virtual ~RestorerModel() = default;
  virtual std::string name() const = 0;
  // What identifies the restorer's behaviour (a network's model id and weight hash): output
  // made with another fingerprint is not resumed into (lucid-video's journals).
  virtual std::string fingerprint() const { return name(); }
  virtual TemporalWindow window() const = 0;
  // A restorer for one stream. `codec`: the stream's codec as FFmpeg's short name (hevc, h264,
  // mpeg2video, av1, vp9; "" when unknown), which says the scale of its frames' QP.
  virtual std::unique_ptr<FrameRestorer> make_stream_restorer(const std::string& codec) const = 0;
};

// weights_path "" or "identity": the IdentityRestorer (frames pass through bit for bit; it runs
// on the CPU whatever `device` says). "identity:B,A,F" is the same pass-through declaring the
// temporal window of a network (B frames behind, A ahead, one far look-ahead frame F ahead, each
// 0..64), so that an application can rehearse its push/pull buffering (the frames a restorer
// holds back). "default": the shipped network (kDefaultRestorerFile). Any other path: a video
// restorer weight file (arch diqp, diqp_restorer.h), loaded onto `device` ("cpu", "cuda",
// "cuda:N"; RestorerError(kDevice) for another string or a CUDA device that is not there;
// RestorerError(kModel) for a file that is missing or not a video restorer).
std::shared_ptr<const RestorerModel> load_restorer(const std::string& weights_path, const std::string& device);

// load_restorer(weights_path, device)->make_stream_restorer(codec), for one stream.
std::shared_ptr<FrameRestorer> make_restorer(const std::string& weights_path, const std::string& device,
                                             const std::string& codec = "");

}  // namespace lucid::video_restore
