#include "lucid/video_restore/diqp_tensors.h"

#include <cstring>

#include "lucid/models/diqp.h"

namespace lucid::video_restore {

namespace F = torch::nn::functional;

namespace {

torch::Tensor pad_to(const torch::Tensor& p, int h, int w) {  // [C, ph, pw] -> [C, h, w]
  const int64_t dh = h - p.size(1), dw = w - p.size(2);
  if (dh == 0 && dw == 0) return p;
  return F::pad(p.unsqueeze(0), F::PadFuncOptions({0, dw, 0, dh}).mode(torch::kReplicate)).squeeze(0);
}

torch::Tensor plane_tensor(const Frame& f, int p) {
  const int w = f.format.plane_width(p), h = f.format.plane_height(p);
  const double maxv = static_cast<double>((1 << f.format.bit_depth) - 1);
  torch::Tensor t;
  if (f.format.bytes_per_sample() == 1) {
    t = torch::from_blob(const_cast<uint8_t*>(f.planes[p].data()), {h, w}, torch::kUInt8);
  } else {
    t = torch::from_blob(const_cast<uint8_t*>(f.planes[p].data()), {h, w}, torch::kInt16);
  }
  return t.to(torch::kFloat32) / maxv;
}

bool is420(const Frame& f) { return f.format.chroma_shift_w == 1 && f.format.chroma_shift_h == 1; }

void write_plane(const torch::Tensor& v, const Frame& like, int p, Frame& out) {  // v [h, w] in [0, 1]
  const double maxv = static_cast<double>((1 << like.format.bit_depth) - 1);
  const int w = like.format.plane_width(p), h = like.format.plane_height(p);
  torch::Tensor q = (v.narrow(0, 0, h).narrow(1, 0, w) * maxv).round_().clamp_(0, maxv).contiguous();
  if (like.format.bytes_per_sample() == 1) {
    q = q.to(torch::kUInt8).contiguous();
  } else {
    q = q.to(torch::kInt16).contiguous();
  }
  std::memcpy(out.planes[p].data(), q.data_ptr(), out.planes[p].size());
}

}  // namespace

torch::Tensor planes_from_yuv(const torch::Tensor& y, const torch::Tensor& cb, const torch::Tensor& cr,
                              int Hp, int Wp) {
  torch::Tensor luma = F::pixel_unshuffle(pad_to(y.unsqueeze(0), Hp, Wp).unsqueeze(0), 2).squeeze(0);
  torch::Tensor chroma = pad_to(torch::stack({cb, cr}), Hp / 2, Wp / 2);
  return torch::cat({luma, chroma}, 0);
}

std::array<torch::Tensor, 3> frame_planes(const Frame& f) {
  return {plane_tensor(f, 0), plane_tensor(f, 1), plane_tensor(f, 2)};
}

torch::Tensor frame_to_planes(const Frame& f, int Hp, int Wp) {
  auto p = frame_planes(f);
  if (!is420(f)) {  // resample chroma to the 4:2:0 grid (input only)
    const int64_t ch = (f.format.height + 1) / 2, cw = (f.format.width + 1) / 2;
    for (int i = 1; i < 3; ++i)
      p[i] = F::adaptive_avg_pool2d(p[i].unsqueeze(0).unsqueeze(0), F::AdaptiveAvgPool2dFuncOptions({ch, cw})).squeeze(0).squeeze(0);
  }
  return planes_from_yuv(p[0], p[1], p[2], Hp, Wp);
}

void planes_to_frame(const torch::Tensor& planes, const Frame& like, Frame& out) {
  const torch::Tensor luma = F::pixel_shuffle(planes.narrow(0, 0, 4).unsqueeze(0), 2).squeeze(0).squeeze(0);
  write_plane(luma, like, 0, out);
  if (is420(like)) {
    write_plane(planes[4], like, 1, out);
    write_plane(planes[5], like, 2, out);
  } else {
    out.planes[1] = like.planes[1];
    out.planes[2] = like.planes[2];
  }
}

torch::Tensor yuv_thumbnail(const torch::Tensor& y, const torch::Tensor& cb, const torch::Tensor& cr, int s) {
  const torch::Tensor ty = models::thumbnail(y.unsqueeze(0), s);  // [1, h, w]
  const int64_t h = ty.size(1), w = ty.size(2);
  const torch::Tensor tc = F::adaptive_avg_pool2d(torch::stack({cb, cr}), F::AdaptiveAvgPool2dFuncOptions({h, w}));
  return torch::cat({ty, tc}, 0);
}

torch::Tensor frame_thumbnail(const Frame& f, int s) {
  const auto p = frame_planes(f);
  return yuv_thumbnail(p[0], p[1], p[2], s);
}

}  // namespace lucid::video_restore
