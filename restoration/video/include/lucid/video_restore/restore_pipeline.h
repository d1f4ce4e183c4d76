// Streaming restoration: decoded frames go in (push, in display order), restored frames come out
// (the sink, in the same order) once the restorer's look-ahead is available. Memory: at most
// window().frames_held() input frames plus one output frame and one tile, whatever the clip's
// length. Large frames are cut into tiles (PipelineOptions::tile) with the restorer's overlap;
// neighbouring tiles are feather-blended across their boundary (a band as wide as the overlap;
// the outer half of each margin is discarded), so seams do not show, and a pass-through
// restorer is still bit-exact with any tile size. The blend holds one float per sample of the
// frame (4 bytes: about 200 MB at 8K 4:2:0).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>

#include "lucid/video_restore/frame_restorer.h"

namespace lucid::video_restore {

struct PipelineOptions {
  // Luma tile size in pixels, rounded up to the chroma factor; 0: whole frames; -1: the
  // restorer's preferred_tile().
  int tile = -1;
};

class RestorePipeline {
 public:
  using Sink = std::function<void(const Frame& restored)>;
  // Which frames to restore and hand to the sink (all when unset). The others still feed the
  // window as neighbours: --frames and --resume skip restoring them, not reading them.
  using Wanted = std::function<bool(int64_t index)>;

  RestorePipeline(FrameRestorer& restorer, const PipelineOptions& options, Sink sink, Wanted wanted = {});
  // Frame indexes must be consecutive from 0 and share one format.
  void push(Frame frame);
  // End of clip: restores what is still held, the window clamped at the last frame.
  void finish();

  size_t max_frames_held() const { return max_held_; }
  int64_t frames_restored() const { return restored_; }

 private:
  void restore_next(bool at_end);
  const Frame& at(int64_t index) const;  // clamped to the clip

  FrameRestorer& restorer_;
  PipelineOptions options_;
  TemporalWindow window_;
  Sink sink_;
  Wanted wanted_;
  std::deque<Frame> held_;  // consecutive indexes
  int64_t next_ = 0;        // next index to restore
  int64_t last_ = -1;       // last index pushed
  PlaneFormat format_;      // of the frames pushed so far
  size_t max_held_ = 0;
  int64_t restored_ = 0;
};

}  // namespace lucid::video_restore
