#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "lucid/video_restore/frame.h"

namespace lucid::video_restore {

QpScale qp_scale_for_codec(const char* codec) {
  const std::string c = codec ? codec : "";
  if (c == "hevc" || c == "h264" || c == "mpeg2video") return QpScale::kH26x;
  if (c == "av1" || c == "vp9") return QpScale::kAv1;
  return QpScale::kUnknown;
}

namespace {
// Rect r in plane p's coordinates.
Rect plane_rect(const PlaneFormat& f, const Rect& r, int p) {
  if (p == 0) return r;
  const int sw = f.chroma_shift_w, sh = f.chroma_shift_h;
  Rect c;
  c.x = r.x >> sw;
  c.y = r.y >> sh;
  c.w = ((r.x + r.w + (1 << sw) - 1) >> sw) - c.x;
  c.h = ((r.y + r.h + (1 << sh) - 1) >> sh) - c.y;
  return c;
}
}  // namespace

Frame crop(const Frame& src, const Rect& r) {
  if (r.x < 0 || r.y < 0 || r.w <= 0 || r.h <= 0 || r.x + r.w > src.format.width || r.y + r.h > src.format.height)
    throw std::invalid_argument("crop: rectangle outside the frame");
  PlaneFormat f = src.format;
  f.width = r.w;
  f.height = r.h;
  Frame out = Frame::blank(f);
  out.index = src.index;
  out.pts = src.pts;
  out.qp = src.qp;
  out.qp_scale = src.qp_scale;
  const int bps = f.bytes_per_sample();
  for (int p = 0; p < 3; ++p) {
    const Rect c = plane_rect(src.format, r, p);
    const int w = std::min(c.w, f.plane_width(p)), h = std::min(c.h, f.plane_height(p));
    for (int y = 0; y < h; ++y)
      std::memcpy(out.row(p, y), src.row(p, c.y + y) + static_cast<ptrdiff_t>(c.x) * bps, static_cast<size_t>(w) * bps);
  }
  return out;
}

void paste(const Frame& src, const Rect& from, Frame& dst, int to_x, int to_y) {
  const int bps = src.format.bytes_per_sample();
  for (int p = 0; p < 3; ++p) {
    const Rect s = plane_rect(src.format, from, p);
    const Rect d = plane_rect(dst.format, Rect{to_x, to_y, from.w, from.h}, p);
    const int w = std::min({s.w, d.w, dst.format.plane_width(p) - d.x, src.format.plane_width(p) - s.x});
    const int h = std::min({s.h, d.h, dst.format.plane_height(p) - d.y, src.format.plane_height(p) - s.y});
    for (int y = 0; y < h; ++y)
      std::memcpy(dst.row(p, d.y + y) + static_cast<ptrdiff_t>(d.x) * bps,
                  src.row(p, s.y + y) + static_cast<ptrdiff_t>(s.x) * bps, static_cast<size_t>(w) * bps);
  }
}

}  // namespace lucid::video_restore
