// The seam between the video pipeline and a restoration network.
//
// A restorer declares the temporal window it needs (frames behind, frames ahead, one far
// look-ahead frame) and the working format (frame.h: planar YUV at native bit depth; the only one
// the pipeline offers, see there why), and restores one frame (or one tile of it) from that
// window. The pipeline (restore_pipeline.h) keeps exactly that many frames in memory.
#pragma once

#include <string>
#include <vector>

#include "lucid/video_restore/frame.h"

namespace lucid::video_restore {

enum class WorkingFormat {
  kYuvNative,  // planar YUV, the stream's bit depth and subsampling (frame.h)
};

struct TemporalWindow {
  int behind = 0;     // frames before the one restored
  int ahead = 0;      // frames after it
  int far_ahead = 0;  // offset of one more, far look-ahead frame (0: none); e.g. 8
  int lookahead() const { return far_ahead > ahead ? far_ahead : ahead; }
  // Frames the pipeline holds at most: the restored one, those behind, and up to the far one.
  int frames_held() const { return behind + 1 + lookahead(); }
};

// What a restorer gets for one frame (or tile). At the clip's ends the window is clamped to the
// clip: a missing neighbour is the first / last frame (repeated), so every pointer is valid and
// `behind`/`ahead` always have the declared sizes.
struct RestoreInput {
  const Frame* center = nullptr;
  std::vector<const Frame*> behind;  // behind[0] is the nearest (index - 1)
  std::vector<const Frame*> ahead;   // ahead[0] is index + 1
  const Frame* far_ahead = nullptr;  // index + far_ahead, or nullptr when not asked for
  double qp = 0;                     // the frame's QP (0 when the stream has none)
  // When the frame is cut into tiles (the frames above are then crops): the whole frames, for a
  // restorer that looks around (a downscaled view of the whole frame) or detects scene cuts,
  // and where the tile lies. nullptr when the frames above are whole.
  const Frame* whole_center = nullptr;
  const Frame* whole_far_ahead = nullptr;
  Rect tile;
};

class FrameRestorer {
 public:
  virtual ~FrameRestorer() = default;
  virtual std::string name() const = 0;
  virtual TemporalWindow window() const = 0;
  virtual WorkingFormat working_format() const { return WorkingFormat::kYuvNative; }
  // Pixels of context a tile needs on each side (the pipeline crops that much more and throws
  // the margin away after restore()).
  virtual int tile_overlap() const { return 0; }
  // The tile size it runs best at when the caller does not choose one (0: whole frames).
  virtual int preferred_tile() const { return 0; }
  // Writes the restored picture of in.center into out (already sized like in.center).
  virtual void restore(const RestoreInput& in, Frame& out) = 0;
};

// Pass-through: out = center, bit for bit. The window is configurable so that the pipeline's
// window handling is testable without a network.
class IdentityRestorer : public FrameRestorer {
 public:
  explicit IdentityRestorer(TemporalWindow w = {}, int overlap = 0) : window_(w), overlap_(overlap) {}
  std::string name() const override { return "identity"; }
  TemporalWindow window() const override { return window_; }
  int tile_overlap() const override { return overlap_; }
  void restore(const RestoreInput& in, Frame& out) override { out.planes = in.center->planes; }

 private:
  TemporalWindow window_;
  int overlap_;
};

}  // namespace lucid::video_restore
