// A video frame in the restorer's working format: planar YUV (Y, Cb, Cr) at the stream's native
// bit depth and chroma subsampling; 1 byte per sample at 8 bit, 2 (native endian, low bits) above.
//
// Why YUV at native depth and not RGB: the codec damaged the YUV planes, and the output goes back
// into YUV; an RGB round trip alone caps Y-PSNR (about 36 dB measured on saturated content, see
// DESIGN.md), clips out-of-gamut values, and 8-bit RGB would throw away 10-bit precision. With
// the planes as they come from the decoder, a pass-through restorer is bit-exact end to end. A
// network that wants floats or 4:4:4 converts inside its restore(), where it can be undone.
// No FFmpeg and no LibTorch here.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace lucid::video_restore {

struct PlaneFormat {
  int width = 0, height = 0;
  int bit_depth = 8;
  int chroma_shift_w = 1, chroma_shift_h = 1;  // log2 subsampling: 1,1 = 4:2:0
  int bytes_per_sample() const { return bit_depth > 8 ? 2 : 1; }
  int plane_width(int p) const { return p == 0 ? width : (width + (1 << chroma_shift_w) - 1) >> chroma_shift_w; }
  int plane_height(int p) const { return p == 0 ? height : (height + (1 << chroma_shift_h) - 1) >> chroma_shift_h; }
  bool operator==(const PlaneFormat& o) const {
    return width == o.width && height == o.height && bit_depth == o.bit_depth &&
           chroma_shift_w == o.chroma_shift_w && chroma_shift_h == o.chroma_shift_h;
  }
};

// The scale a frame's QP is on (one per codec family; the numbers are those of
// models::QpScale, which the network is conditioned on).
enum class QpScale : int {
  kH26x = 0,     // HEVC, H.264, MPEG-2: QP 0..51
  kAv1 = 1,      // AV1 (and VP9) base_q_idx 0..255
  kUnknown = 2,  // no QP, or a scale the restorer does not know
};
// From the codec's short FFmpeg name (hevc, h264, mpeg2video, av1, vp9; else kUnknown).
QpScale qp_scale_for_codec(const char* codec);

struct Frame {
  PlaneFormat format;
  std::array<std::vector<uint8_t>, 3> planes;  // rows packed: stride = plane_width * bytes_per_sample
  int64_t index = -1;                          // display order in the clip, from 0
  int64_t pts = 0;                             // input time base
  std::optional<double> qp;                    // on the codec's QP scale
  QpScale qp_scale = QpScale::kUnknown;        // which scale that is

  static Frame blank(const PlaneFormat& f) {
    Frame fr;
    fr.format = f;
    for (int p = 0; p < 3; ++p)
      fr.planes[p].assign(static_cast<size_t>(f.plane_width(p)) * f.plane_height(p) * f.bytes_per_sample(), 0);
    return fr;
  }
  ptrdiff_t stride(int p) const { return static_cast<ptrdiff_t>(format.plane_width(p)) * format.bytes_per_sample(); }
  uint8_t* row(int p, int y) { return planes[p].data() + y * stride(p); }
  const uint8_t* row(int p, int y) const { return planes[p].data() + y * stride(p); }
  size_t bytes() const { return planes[0].size() + planes[1].size() + planes[2].size(); }
};

// A luma rectangle; chroma rectangles follow by the subsampling shifts (x, y, w, h are kept
// multiples of the subsampling factor except where the frame edge cuts them).
struct Rect {
  int x = 0, y = 0, w = 0, h = 0;
};

// Copies rect `r` of `src` into a new frame of size r.w x r.h (same depth, subsampling, index,
// pts, qp).
Frame crop(const Frame& src, const Rect& r);
// Copies `src`'s region `from` (in src coordinates) to (to_x, to_y) of `dst`.
void paste(const Frame& src, const Rect& from, Frame& dst, int to_x, int to_y);

}  // namespace lucid::video_restore
