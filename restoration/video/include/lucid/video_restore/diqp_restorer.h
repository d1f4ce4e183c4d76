// The trained video restorer (models/diqp.h) behind the FrameRestorer seam. No LibTorch in
// this header: media applications and lucid-video include it without the torch headers.
//
// A DiqpModel holds immutable weights on one device and can be shared by any number of streams
// and threads; each stream makes its own DiqpRestorer (it caches the current frame's
// look-around context, so it is not shared).
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

// The stream's QP scale, from the codec's short FFmpeg name (hevc, h264, mpeg2video: 0..51;
// av1, vp9: qindex 0..255; anything else: unknown).
int qp_scale_for_codec(const std::string& codec);

class DiqpModel {
 public:
  // Loads a .lucidw file with arch=diqp onto `device` ("cpu", "cuda", "cuda:N", "auto").
  // Throws RestorerError (kModel: unreadable or not a video restorer; kDevice).
  DiqpModel(const std::string& weights_path, const std::string& device);
  ~DiqpModel();
  const std::string& model_id() const;
  const std::string& config() const;
  std::string device() const;
  TemporalWindow window() const;
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

class DiqpRestorer : public FrameRestorer {
 public:
  // qp_scale: qp_scale_for_codec() of the stream.
  DiqpRestorer(std::shared_ptr<const DiqpModel> model, int qp_scale);
  ~DiqpRestorer() override;
  std::string name() const override;
  TemporalWindow window() const override;
  int tile_overlap() const override { return 32; }
  void restore(const RestoreInput& in, Frame& out) override;

 private:
  struct State;
  std::shared_ptr<const DiqpModel> model_;
  int qp_scale_;
  std::unique_ptr<State> state_;
};

}  // namespace lucid::video_restore
