#include "lucid/restoration/jpeg_restorer.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <new>

#include "lucid/models/codiff.h"
#include "lucid/models/device.h"
#include "lucid/models/model_files.h"
#include "lucid/media/image_io.h"
#include "lucid/models/tiling.h"
#include "lucid/models/weights.h"
#include "lucid/restoration/jpeg_constraint.h"
#include "lucid/media/jpeg_io.h"

namespace lucid::restoration {

namespace F = torch::nn::functional;
using Kind = RestoreError::Kind;

std::string default_weights_path() {
  try {
    return models::find_model_file("codiff-small.lucidw");
  } catch (const std::runtime_error& e) {
    throw RestoreError(RestoreError::Kind::kModel, e.what());
  }
}

const char* quality_source_str(QualitySource s) {
  switch (s) {
    case QualitySource::kUser: return "user";
    case QualitySource::kFileExact: return "file (IJG tables)";
    case QualitySource::kFileEstimate: return "file (estimated from tables)";
    case QualitySource::kCave: return "CaVE estimate";
  }
  return "unknown";
}

struct JpegRestorer::Impl {
  std::string model_id, config_text;
  models::CodiffConfig cfg;
  models::Codiff model{nullptr};
  torch::Device device{torch::kCPU};
};

double detail_keep(int quality) {
  // Measured on 16 training photos (512 crops, QF 10..95, codiff-small step 35997): the plain
  // projection (keep 1) is best up to QF 70; above it the best keep falls to about 0.85 at
  // QF 85 and 0.7 at QF 95, while the worst image wants less (0.4..0.55 at QF 95). This line
  // gives up at most 0.01 dB of the mean for a much better worst case.
  if (quality <= 75) return 1.0;
  return std::max(0.55, 1.0 - 0.45 * (quality - 75) / 20.0);
}

namespace {

// Training covers quality factors 5..95; known higher qualities are passed through.
constexpr int kMaxTrainedQuality = 95;

// One axis of the tile grid: the fewest tiles of at most about `tile` pixels whose neighbours
// overlap by at least `overlap`, spread evenly, with starts on multiples of 8 (so every tile
// sees the JPEG block grid as the whole image does). Tiles may be up to 15 pixels longer than
// `tile` (rounding), the last one ends at the border. Each tile owns all it sees
// ([outer_lo, outer_hi)); the overlaps are blended.
constexpr int64_t kBlock = 8;
std::vector<tiling::Span> tile_spans(int64_t n, int64_t tile, int64_t overlap) {
  return tiling::overlapping_spans(n, tile, overlap, kBlock);
}

// Blending weights along one axis of a tile: 1 inside, a linear ramp across the part shared
// with the previous / next tile, so that the weighted mean changes smoothly between tiles.
torch::Tensor axis_weights(const std::vector<tiling::Span>& spans, size_t i) {
  return torch::tensor(tiling::overlap_ramp(spans, i));
}

// [1, 3, h, w] float in [0, 1] from a window of the interleaved input.
torch::Tensor window(const uint8_t* rgb, size_t stride, int64_t y0, int64_t x0, int64_t h,
                     int64_t w) {
  auto* p = const_cast<uint8_t*>(rgb) + y0 * static_cast<int64_t>(stride) + x0 * 3;
  torch::Tensor t = torch::from_blob(p, {h, w, 3}, {static_cast<int64_t>(stride), 3, 1},
                                     torch::kUInt8);
  return t.permute({2, 0, 1}).to(torch::kFloat).div_(255.0).unsqueeze(0);
}

torch::Tensor pad_to_multiple(const torch::Tensor& x, int m) {
  const int64_t ph = (m - x.size(2) % m) % m, pw = (m - x.size(3) % m) % m;
  if (!ph && !pw) return x;
  return F::pad(x, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReplicate));
}

}  // namespace

JpegRestorer::JpegRestorer(const std::string& path, const std::string& device)
    : impl_(std::make_unique<Impl>()) {
  try {
    impl_->device = models::resolve_device(device);
  } catch (const models::DeviceError& e) {
    throw RestoreError(Kind::kDevice, e.what());
  }
  try {
    const models::ModelFile f = models::load_model_file(path, "codiff", "a JPEG restorer");
    impl_->model_id = f.model_id;
    impl_->config_text = f.config;
    impl_->model = models::build_model<models::Codiff>(f, path, &impl_->cfg);
  } catch (const models::WeightError& e) {
    throw RestoreError(Kind::kModel, e.what());
  }
  impl_->model->to(impl_->device);
  // One tiny pass builds CaVE's cached DCT filters now, so later const calls mutate nothing.
  c10::InferenceMode guard;
  impl_->model->cave()->pooled_features(torch::zeros({1, 3, 8, 8}, impl_->device));
}

JpegRestorer::~JpegRestorer() = default;

const std::string& JpegRestorer::model_id() const { return impl_->model_id; }
const std::string& JpegRestorer::config() const { return impl_->config_text; }

RestoredImage JpegRestorer::restore(const uint8_t* rgb, int width, int height, size_t stride,
                                    int known_qf, const RestoreOptions& o) const {
  if (!rgb) throw RestoreError(Kind::kInvalidArgument, "NULL pixel buffer");
  if (width < 1 || height < 1)
    throw RestoreError(Kind::kInvalidArgument, "image has zero width or height");
  if (stride < static_cast<size_t>(width) * 3)
    throw RestoreError(Kind::kInvalidArgument, "stride is smaller than width * 3");
  if (known_qf < 0 || known_qf > 100)
    throw RestoreError(Kind::kInvalidArgument, "quality factor must be 0 (unknown) or 1..100");
  const uint64_t pixels = static_cast<uint64_t>(width) * static_cast<uint64_t>(height);
  if (pixels > o.max_pixels)
    throw RestoreError(Kind::kTooLarge, std::to_string(width) + "x" + std::to_string(height) +
                                            " exceeds the limit of " +
                                            std::to_string(o.max_pixels) + " pixels");
  if (o.threads < 1 || o.threads > 256)
    throw RestoreError(Kind::kInvalidArgument, "threads must be in 1..256");
  const int64_t tile = std::max<int64_t>(64, (o.tile / 8) * 8);
  const int64_t overlap = std::min<int64_t>(tile / 2, std::max(0, o.overlap / 8) * 8);
  torch::set_num_threads(o.threads);
  c10::InferenceMode guard;
  auto& model = impl_->model;
  auto cave = model->cave();
  const torch::Device dev = impl_->device;
  models::Tf32Scope tf32(dev);
  const int64_t W = width, H = height;

  // CaVE over non-overlapping tiles: the global average pool is the area-weighted mean.
  torch::Tensor pooled;
  {
    const auto ys = tile_spans(H, tile, 0), xs = tile_spans(W, tile, 0);
    double area = 0;  // the last tile of a row may overlap its neighbour: normalise by area
    for (const auto& sy : ys)
      for (const auto& sx : xs) {
        const int64_t th = sy.outer_size(), tw = sx.outer_size();
        const double a = static_cast<double>(th) * static_cast<double>(tw);
        torch::Tensor f =
            cave->pooled_features(window(rgb, stride, sy.outer_lo, sx.outer_lo, th, tw).to(dev)) *
            a;
        pooled = pooled.defined() ? pooled + f : f;
        area += a;
      }
    pooled = pooled / area;
  }
  torch::Tensor emb = cave->embed(pooled);
  const double cave_q = cave->predict_qf(emb).clamp(0.01, 1.0).item<double>();
  RestoredImage out;
  out.width = width;
  out.height = height;
  out.cave_quality = cave_q * 100;
  double qf01 = cave_q;
  if (known_qf > 0) {
    qf01 = known_qf / 100.0;
    out.quality = known_qf;
    out.quality_source = QualitySource::kUser;
  } else {
    out.quality = std::max(1, static_cast<int>(std::lround(cave_q * 100)));
    out.quality_source = QualitySource::kCave;
  }
  if (known_qf > kMaxTrainedQuality) {
    // Above the trained range the JPEG is close to lossless: pass it through unchanged.
    out.rgb.resize(static_cast<size_t>(pixels) * 3);
    for (int64_t y = 0; y < H; ++y)
      std::copy(rgb + y * stride, rgb + y * stride + W * 3, out.rgb.begin() + y * W * 3);
    return out;
  }
  const torch::Tensor qf_t = torch::full({1}, qf01, dev);
  const torch::Tensor known_t = torch::full({1}, known_qf > 0 ? 1.0 : 0.0, dev);

  // Restorer over overlapping tiles, one row of tiles at a time: only the rows that later
  // tiles still overlap are kept in float; finished rows go straight to the 8-bit output.
  const auto ys = tile_spans(H, tile, overlap), xs = tile_spans(W, tile, overlap);
  const uint64_t total = ys.size() * xs.size();
  out.tiles = static_cast<int>(total);
  out.rgb.resize(static_cast<size_t>(pixels) * 3);
  uint64_t done = 0;
  torch::Tensor acc, wsum;  // [3, rows, W], [1, rows, W] for rows [acc_y0, acc_y0 + rows)
  int64_t acc_y0 = 0;
  // Without the file's coefficients, the high-quality shrink blends toward the input pixels.
  const double keep = o.high_quality_shrink ? detail_keep(out.quality) : 1.0;
  auto flush = [&](int64_t y_end) {  // writes rows [acc_y0, y_end) to the output
    const int64_t n = y_end - acc_y0;
    if (n <= 0) return;
    torch::Tensor v = acc.slice(1, 0, n) / wsum.slice(1, 0, n).clamp_min(1e-8);
    if (keep < 1) {
      const torch::Tensor in = window(rgb, stride, acc_y0, 0, n, W)[0];
      v = in + (v - in) * keep;
    }
    v = v.clamp(0, 1).mul(255).round().to(torch::kUInt8).permute({1, 2, 0}).contiguous();
    std::copy(v.data_ptr<uint8_t>(), v.data_ptr<uint8_t>() + n * W * 3,
              out.rgb.begin() + acc_y0 * W * 3);
    acc = acc.slice(1, n).clone();
    wsum = wsum.slice(1, n).clone();
    acc_y0 = y_end;
  };
  for (size_t r = 0; r < ys.size(); ++r) {
    const tiling::Span& sy = ys[r];
    const int64_t y0 = sy.outer_lo, th = sy.outer_size();
    // Grow the accumulators to cover this row of tiles.
    const int64_t need = sy.outer_hi - acc_y0;
    const int64_t have = acc.defined() ? acc.size(1) : 0;
    if (need > have) {
      torch::Tensor za = torch::zeros({3, need - have, W}), zw = torch::zeros({1, need - have, W});
      acc = have ? torch::cat({acc, za}, 1) : za;
      wsum = have ? torch::cat({wsum, zw}, 1) : zw;
    }
    const torch::Tensor wy = axis_weights(ys, r).view({1, -1, 1});
    for (size_t c = 0; c < xs.size(); ++c) {
      const tiling::Span& sx = xs[c];
      const int64_t x0 = sx.outer_lo, tw = sx.outer_size();
      torch::Tensor x = window(rgb, stride, y0, x0, th, tw);
      torch::Tensor y = model->restore(
          pad_to_multiple(x.to(dev), models::CodiffConfig::kMultiple), emb, qf_t, known_t);
      y = y[0].slice(1, 0, th).slice(2, 0, tw).clamp(0, 1).to(torch::kCPU);
      const torch::Tensor w = wy * axis_weights(xs, c).view({1, 1, -1});
      const int64_t oy = y0 - acc_y0;
      acc.slice(1, oy, oy + th).slice(2, x0, x0 + tw).add_(y * w);
      wsum.slice(1, oy, oy + th).slice(2, x0, x0 + tw).add_(w);
      ++done;
      if (o.progress && !o.progress(done, total))
        throw RestoreError(Kind::kAborted, "aborted by the progress callback");
    }
    flush(r + 1 < ys.size() ? ys[r + 1].outer_lo : H);
  }
  return out;
}

RestoredImage JpegRestorer::restore_jpeg(const uint8_t* data, size_t size,
                                         const RestoreOptions& o, int qf_override) const {
  if (size == 0) throw RestoreError(Kind::kBadImage, "empty input: not a JPEG file");
  if (!data) throw RestoreError(Kind::kInvalidArgument, "NULL JPEG buffer");
  if (qf_override < 0 || qf_override > 100)
    throw RestoreError(Kind::kInvalidArgument, "quality factor must be 0 (from the file) or 1..100");
  jpeg::Limits limits;
  limits.max_pixels = o.max_pixels;
  jpeg::DecodedJpeg d;
  std::string why;
  const jpeg::Status st = jpeg::decode_jpeg(data, size, &d, &why, limits);
  switch (st) {
    case jpeg::Status::kOk: break;
    case jpeg::Status::kTooLarge: throw RestoreError(Kind::kTooLarge, "too large: " + why);
    case jpeg::Status::kOutOfMemory: throw std::bad_alloc();
    case jpeg::Status::kUnsupported:
      throw RestoreError(Kind::kBadImage,
                         why + (d.components == 4 || why.find("CMYK") != std::string::npos
                                    ? " (convert CMYK JPEGs to RGB first)"
                                    : ""));
    default:
      throw RestoreError(Kind::kBadImage,
                         "cannot read: " + (why.empty() ? std::string(jpeg::status_str(st)) : why));
  }
  const bool gray = d.components == 1;
  int qf = qf_override;
  QualitySource src = QualitySource::kUser;
  if (!qf) {
    const jpeg::QualityEstimate q = jpeg::estimate_quality(d.qt);
    if (q.quality > 0) {
      qf = std::clamp(static_cast<int>(std::lround(q.quality)), 1, 100);
      src = q.exact ? QualitySource::kFileExact : QualitySource::kFileEstimate;
    }
  }
  // With the projection the shrink happens on the file's coefficients, not on the pixels.
  RestoreOptions ro = o;
  ro.high_quality_shrink = o.high_quality_shrink && !o.jpeg_constraint;
  RestoredImage r = restore(d.rgb.data(), d.width, d.height, static_cast<size_t>(d.width) * 3,
                            qf, ro);
  if (qf) r.quality_source = src;
  if (o.jpeg_constraint && qf <= kMaxTrainedQuality) {  // above it restore() passes through
    const float keep =
        o.high_quality_shrink ? static_cast<float>(detail_keep(r.quality)) : 1.0f;
    // The decoded pixels are only needed again if the projection is refused and the shrink
    // must then blend toward them instead; otherwise free them before reading coefficients.
    if (keep >= 1.0f) d = jpeg::DecodedJpeg{};
    jpeg::JpegCoefficients jc;
    if (jpeg::read_jpeg_coefficients(data, size, &jc, &why, limits) == jpeg::Status::kOk)
      r.constrained = jpeg::project_to_constraints(jc, r.rgb.data(), r.width, r.height,
                                                   static_cast<size_t>(r.width) * 3, nullptr,
                                                   keep);
    if (!r.constrained && keep < 1.0f && d.rgb.size() == r.rgb.size())
      for (size_t i = 0; i < r.rgb.size(); ++i)
        r.rgb[i] = static_cast<uint8_t>(std::clamp(
            std::lround(d.rgb[i] + (static_cast<float>(r.rgb[i]) - d.rgb[i]) * keep), 0L, 255L));
  }
  // A grayscale file restores to gray: the luma of the result (the projection already gives
  // R = G = B; without it the network's output may carry a tint).
  r.gray = gray;
  if (r.gray) media::reduce_to_luma(r.rgb);
  return r;
}

}  // namespace lucid::restoration
