#include "lucid/video_restore/restore_pipeline.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace lucid::video_restore {

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
    const int W = center.format.width, H = center.format.height;
    const int ax = 1 << center.format.chroma_shift_w, ay = 1 << center.format.chroma_shift_h;
    const int align = std::max(ax, ay);
    int tile = options_.tile > 0 ? (options_.tile + align - 1) / align * align : 0;
    if (tile <= 0 || (tile >= W && tile >= H)) {
      run(whole, out);
    } else {
      const int ov = (std::max(0, restorer_.tile_overlap()) + align - 1) / align * align;
      for (int ty = 0; ty < H; ty += tile) {
        for (int tx = 0; tx < W; tx += tile) {
          Rect inner{tx, ty, std::min(tile, W - tx), std::min(tile, H - ty)};
          Rect outer;
          outer.x = std::max(0, tx - ov);
          outer.y = std::max(0, ty - ov);
          outer.w = std::min(W, tx + inner.w + ov) - outer.x;
          outer.h = std::min(H, ty + inner.h + ov) - outer.y;
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
          paste(tout, Rect{tx - outer.x, ty - outer.y, inner.w, inner.h}, out, tx, ty);
        }
      }
    }
    ++restored_;
    sink_(out);
  }
  // Drop what no later frame needs as a behind neighbour.
  while (!held_.empty() && held_.front().index < next_ - window_.behind) held_.pop_front();
}

}  // namespace lucid::video_restore
