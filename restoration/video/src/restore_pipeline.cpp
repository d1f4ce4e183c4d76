#include "lucid/video_restore/restore_pipeline.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "lucid/models/tiling.h"

namespace lucid::video_restore {

namespace {

// Weighted sum of tile outputs (float per sample; weights sum to 1, see restore_next).
class Blend {
 public:
  explicit Blend(const PlaneFormat& f) : f_(f) {
    for (int p = 0; p < 3; ++p) acc_[p].assign(static_cast<size_t>(f.plane_width(p)) * f.plane_height(p), 0.0f);
  }
  // Adds tile `t` (covering `outer`, luma coordinates) with the ramps of `inner`.
  void add(const Frame& t, const Rect& outer, const Rect& inner, int b) {
    for (int p = 0; p < 3; ++p) {
      const int sw = p ? f_.chroma_shift_w : 0, sh = p ? f_.chroma_shift_h : 0;
      const int pw = f_.plane_width(p), ph = f_.plane_height(p);
      const int ox = outer.x >> sw, oy = outer.y >> sh;
      const int tw = t.format.plane_width(p), th = t.format.plane_height(p);
      // The feathered weights in this plane's samples: inner starts round down, ends up; the
      // frame's edges are those of the luma tile.
      const std::vector<float> wx = tiling::feather_ramp(
          ox, static_cast<size_t>(tw), inner.x >> sw, inner.x == 0,
          (inner.x + inner.w + (1 << sw) - 1) >> sw, inner.x + inner.w >= f_.width, b >> sw);
      const std::vector<float> wy = tiling::feather_ramp(
          oy, static_cast<size_t>(th), inner.y >> sh, inner.y == 0,
          (inner.y + inner.h + (1 << sh) - 1) >> sh, inner.y + inner.h >= f_.height, b >> sh);
      for (int y = 0; y < th && oy + y < ph; ++y) {
        if (wy[y] == 0) continue;
        float* row = acc_[p].data() + static_cast<size_t>(oy + y) * pw + ox;
        const uint8_t* src = t.row(p, y);
        for (int x = 0; x < tw && ox + x < pw; ++x) {
          const float w = wx[x] * wy[y];
          if (w == 0) continue;
          float v;
          if (f_.bytes_per_sample() == 1) {
            v = src[x];
          } else {
            uint16_t u;
            std::memcpy(&u, src + 2 * x, 2);
            v = u;
          }
          row[x] += w * v;
        }
      }
    }
  }
  void write(Frame& out) const {
    const float maxv = static_cast<float>((1 << f_.bit_depth) - 1);
    for (int p = 0; p < 3; ++p) {
      const auto& a = acc_[p];
      for (size_t i = 0; i < a.size(); ++i) {
        const float v = std::clamp(std::nearbyint(a[i]), 0.0f, maxv);
        if (f_.bytes_per_sample() == 1) {
          out.planes[p][i] = static_cast<uint8_t>(v);
        } else {
          const uint16_t u = static_cast<uint16_t>(v);
          std::memcpy(&out.planes[p][2 * i], &u, 2);
        }
      }
    }
  }

 private:
  PlaneFormat f_;
  std::array<std::vector<float>, 3> acc_;
};

}  // namespace

RestorePipeline::RestorePipeline(FrameRestorer& restorer, const PipelineOptions& options, Sink sink, Wanted wanted)
    : restorer_(restorer), options_(options), window_(restorer.window()), sink_(std::move(sink)), wanted_(std::move(wanted)) {
  if (window_.behind < 0 || window_.ahead < 0 || window_.far_ahead < 0)
    throw std::invalid_argument("restorer window: negative size");
  if (restorer.working_format() != WorkingFormat::kYuvNative)
    throw std::invalid_argument("restorer working format not offered by the pipeline");
}

const Frame& RestorePipeline::at(int64_t index) const {
  index = std::clamp<int64_t>(index, 0, last_);
  const int64_t first = held_.front().index;
  // The window never reaches below what is held: behind frames are kept until no longer needed;
  // at the clip's start the clamp to 0 lands on a held frame.
  index = std::max(index, first);
  return held_[static_cast<size_t>(index - first)];
}

void RestorePipeline::push(Frame frame) {
  if (frame.index != last_ + 1)
    throw std::invalid_argument("pipeline: frame " + std::to_string(frame.index) + " after " + std::to_string(last_));
  if (last_ >= 0 && !(frame.format == format_))
    throw std::invalid_argument("pipeline: frame " + std::to_string(frame.index) + " changes the frame format");
  last_ = frame.index;
  format_ = frame.format;
  held_.push_back(std::move(frame));
  max_held_ = std::max(max_held_, held_.size());
  while (next_ + window_.lookahead() <= last_) restore_next(false);
}

void RestorePipeline::finish() {
  while (next_ <= last_) restore_next(true);
  held_.clear();
}

void RestorePipeline::restore_next(bool /*at_end*/) {
  const int64_t c = next_++;
  if (!wanted_ || wanted_(c)) {
    const Frame& center = at(c);
    auto run = [&](const RestoreInput& in, Frame& out) { restorer_.restore(in, out); };
    RestoreInput whole;
    whole.center = &center;
    whole.qp = center.qp.value_or(0.0);
    for (int k = 1; k <= window_.behind; ++k) whole.behind.push_back(&at(c - k));
    for (int k = 1; k <= window_.ahead; ++k) whole.ahead.push_back(&at(c + k));
    if (window_.far_ahead > 0) whole.far_ahead = &at(c + window_.far_ahead);

    Frame out = Frame::blank(center.format);
    out.index = center.index;
    out.pts = center.pts;
    out.qp = center.qp;
    out.qp_scale = center.qp_scale;
    const int W = center.format.width, H = center.format.height;
    const int ax = 1 << center.format.chroma_shift_w, ay = 1 << center.format.chroma_shift_h;
    const int align = std::max(ax, ay);
    const int want = options_.tile < 0 ? restorer_.preferred_tile() : options_.tile;
    int tile = want > 0 ? (want + align - 1) / align * align : 0;
    if (tile <= 0 || (tile >= W && tile >= H)) {
      run(whole, out);
    } else {
      const int ov = (std::max(0, restorer_.tile_overlap()) + align - 1) / align * align;
      // Feathered blending: across each inner tile boundary a band of 2b pixels (b = ov / 2,
      // rounded to the chroma factor, at most half a tile) ramps one tile's weight down as its
      // neighbour's rises; the weights sum to 1 everywhere and the outer half of every margin
      // (the least reliable pixels of a tile) has weight 0. Without overlap: a hard cut.
      const int b = std::min(ov / 2 / align * align, tile / 2 / align * align);
      Blend blend(center.format);
      // Inner tiles of `tile` from 0, each seen with `ov` of context (clipped to the frame).
      const auto ys = tiling::grid_spans(H, tile, ov), xs = tiling::grid_spans(W, tile, ov);
      for (const tiling::Span& sy : ys) {
        for (const tiling::Span& sx : xs) {
          const Rect inner{static_cast<int>(sx.lo), static_cast<int>(sy.lo),
                           static_cast<int>(sx.size()), static_cast<int>(sy.size())};
          const Rect outer{static_cast<int>(sx.outer_lo), static_cast<int>(sy.outer_lo),
                           static_cast<int>(sx.outer_size()), static_cast<int>(sy.outer_size())};
          Frame ccrop = crop(center, outer);
          std::vector<Frame> crops;  // behind, ahead, far, in that order
          crops.reserve(whole.behind.size() + whole.ahead.size() + 1);
          for (const Frame* f : whole.behind) crops.push_back(crop(*f, outer));
          for (const Frame* f : whole.ahead) crops.push_back(crop(*f, outer));
          if (whole.far_ahead) crops.push_back(crop(*whole.far_ahead, outer));
          RestoreInput in;
          in.center = &ccrop;
          in.qp = whole.qp;
          in.whole_center = &center;
          in.whole_far_ahead = whole.far_ahead;
          in.tile = outer;
          size_t k = 0;
          for (size_t i = 0; i < whole.behind.size(); ++i) in.behind.push_back(&crops[k++]);
          for (size_t i = 0; i < whole.ahead.size(); ++i) in.ahead.push_back(&crops[k++]);
          if (whole.far_ahead) in.far_ahead = &crops[k++];
          Frame tout = Frame::blank(ccrop.format);
          run(in, tout);
          blend.add(tout, outer, inner, b);
        }
      }
      blend.write(out);
    }
    ++restored_;
    sink_(out);
  }
  // Drop what no later frame needs as a behind neighbour.
  while (!held_.empty() && held_.front().index < next_ - window_.behind) held_.pop_front();
}

}  // namespace lucid::video_restore
