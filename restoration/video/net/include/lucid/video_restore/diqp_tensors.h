// Frames <-> the video restorer's tensors, shared by inference (diqp_restorer.cpp) and training
// (apps/train/train_video.cpp) so that both see exactly the same numbers. Uses LibTorch: not
// for media applications (they use diqp_restorer.h).
//
// Layout: six planes at half the luma resolution, values in [0, 1] (sample / (2^depth - 1)):
// the luma's 2x2 space-to-depth (4 planes) then Cb, Cr. Sides are padded (edge replication) to
// the network's multiple. 4:2:0 chroma is used as it is; other subsampling is area-resampled to
// the half-resolution grid for the input and passed through untouched on output.
#pragma once

#include <torch/torch.h>

#include "lucid/video_restore/frame.h"

namespace lucid::video_restore {

// Y [H, W], Cb and Cr [ceil(H/2), ceil(W/2)] floats in [0, 1] -> [6, Hp/2, Wp/2].
torch::Tensor planes_from_yuv(const torch::Tensor& y, const torch::Tensor& cb, const torch::Tensor& cr,
                              int Hp, int Wp);
// A frame's planes as floats in [0, 1]: Y [H, W] and Cb, Cr at their own size.
std::array<torch::Tensor, 3> frame_planes(const Frame& f);
torch::Tensor frame_to_planes(const Frame& f, int Hp, int Wp);
// Writes the network output [6, h, w] (CPU) into `out` (sized like `like`): rounded and clipped
// to the bit depth; non-4:2:0 chroma is copied from `like`.
void planes_to_frame(const torch::Tensor& planes, const Frame& like, Frame& out);
// The whole frame downscaled to fit s x s: [3, h, w] (Y, Cb, Cr), values in [0, 1].
torch::Tensor frame_thumbnail(const Frame& f, int s);
torch::Tensor yuv_thumbnail(const torch::Tensor& y, const torch::Tensor& cb, const torch::Tensor& cr, int s);

}  // namespace lucid::video_restore
