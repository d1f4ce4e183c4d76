// The trained video restorer (models/diqp.h) behind the FrameRestorer seam. No LibTorch in
// this header: media applications and lucid-video include it without the torch headers.
//
// A DiqpModel holds immutable weights on one device. A DiqpRestorer on it may be shared by any
// number of streams and threads: restore() keeps its per-call state on the stack, and the only
// shared state, a small cache of the look-around context per whole frame (so that the tiles of
// one frame compute it once), is guarded by a mutex.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include "lucid/video_restore/frame_restorer.h"

namespace lucid::video_restore {

class RestorerError : public std::runtime_error {
 public:
  enum class Kind { kModel, kDevice, kInput };
  RestorerError(Kind k, const std::string& what) : std::runtime_error(what), kind(k) {}
  Kind kind;
};

class DiqpModel {
 public:
  // Loads a .lucidw file with arch=diqp onto `device` ("cpu", "cuda", "cuda:N", "auto").
  // Throws RestorerError (kModel: unreadable or not a video restorer; kDevice).
  DiqpModel(const std::string& weights_path, const std::string& device);
  ~DiqpModel();
  const std::string& model_id() const;
  const std::string& weight_hash() const;  // the weight file's content hash, 16 hex digits
  const std::string& config() const;
  std::string device() const;
  TemporalWindow window() const;
  // How much of the network's change a frame of this QP keeps (0..1; qp_scale a QpScale): the
  // weights' QP gate (meta "qp_gate" = "LO,HI" in QP levels, qp/51 for H.26x, qindex/255 for
  // AV1; a frame without a QP gets 0), 1 without one. At 0 the frame passes through unchanged.
  double strength(double qp, int qp_scale) const;
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

class DiqpRestorer : public FrameRestorer {
 public:
  // Each frame's QP is read on its Frame::qp_scale.
  explicit DiqpRestorer(std::shared_ptr<const DiqpModel> model);
  ~DiqpRestorer() override;
  std::string name() const override;
  TemporalWindow window() const override;
  int tile_overlap() const override { return 32; }
  // 512: at 1080p faster than whole frames (0.78 vs 0.48 fps on 2 cores) in half the memory.
  int preferred_tile() const override { return 512; }
  void restore(const RestoreInput& in, Frame& out) override;

 private:
  struct State;
  std::shared_ptr<const DiqpModel> model_;
  std::unique_ptr<State> state_;
};

}  // namespace lucid::video_restore
