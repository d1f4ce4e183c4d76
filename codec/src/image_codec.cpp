#include "lucid/codec/image_codec.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <omp.h>

#include "lucid/entropy/cdf.h"
#include "lucid/entropy/container.h"
#include "lucid/entropy/crc32.h"
#include "lucid/entropy/rans.h"
#include "lucid/models/device.h"
#include "lucid/models/fat_codec.h"
#include "lucid/models/model_files.h"
#include "lucid/models/tiling.h"
#include "lucid/models/weights.h"

#include "exact_params.h"
#include "refine.h"

namespace lucid::codec {

namespace {

// Means and LRP corrections are rounded to multiples of 1/64: the refined latents are then exact
// binary fractions, identical bits on both sides, and a checksum over them covers everything
// that reaches the synthesis transform.
constexpr double kLatentGrid = 64.0;
constexpr int kStride = models::FatConfig::kStride;  // total downsampling of the hyper-latent
constexpr int kLatentStride = models::FatConfig::kLatentStride;  // of the latents

Status status_for(entropy::ParseStatus s) {
  switch (s) {
    case entropy::ParseStatus::kOk: return Status::kOk;
    case entropy::ParseStatus::kUnsupportedVersion: return Status::kUnsupportedVersion;
    case entropy::ParseStatus::kTruncated: return Status::kTruncated;
    case entropy::ParseStatus::kHeaderCrcMismatch:
    case entropy::ParseStatus::kChunkCrcMismatch:
    case entropy::ParseStatus::kInconsistentLength: return Status::kCorrupt;
    default: return Status::kBadStream;
  }
}

// Sets LibTorch's intra-op thread count for a scope.
class ThreadScope {
 public:
  explicit ThreadScope(int n) : saved_(torch::get_num_threads()) { torch::set_num_threads(n); }
  ~ThreadScope() { torch::set_num_threads(saved_); }

 private:
  int saved_;
};

// Runs fn over x [1, C, H, W] tile by tile (tiling::grid_spans: core tiles of tile - 2*margin
// plus a margin of context each side, output copied from the cores) when x is larger than one
// tile; the output is scaled by num/den in each spatial dimension. H, W, tile and margin must be
// multiples of den.
torch::Tensor tiled_apply(const std::function<torch::Tensor(const torch::Tensor&)>& fn,
                          const torch::Tensor& x, int64_t tile, int64_t margin, int64_t num,
                          int64_t den) {
  const int64_t H = x.size(2), W = x.size(3);
  if (H <= tile && W <= tile) return fn(x);
  const int64_t core = tile - 2 * margin;
  const auto ys = tiling::grid_spans(H, core, margin), xs = tiling::grid_spans(W, core, margin);
  torch::Tensor out;
  for (const tiling::Span& sy : ys) {
    for (const tiling::Span& sx : xs) {
      torch::Tensor part =
          fn(x.slice(2, sy.outer_lo, sy.outer_hi).slice(3, sx.outer_lo, sx.outer_hi));
      if (!out.defined())
        out = torch::empty({1, part.size(1), H * num / den, W * num / den}, part.options());
      out.slice(2, sy.lo * num / den, sy.hi * num / den)
          .slice(3, sx.lo * num / den, sx.hi * num / den)
          .copy_(part.slice(2, sy.offset() * num / den, (sy.offset() + sy.size()) * num / den)
                     .slice(3, sx.offset() * num / den, (sx.offset() + sx.size()) * num / den));
    }
  }
  return out;
}

// Synthesis whose pixels do not depend on the thread count. OpenBLAS GEMMs (attention, FFN, and
// the convolutions LibTorch routes to im2col + GEMM at small sizes) round differently with 1 and
// 2 threads (oneDNN convolutions too, at small sizes), so every tile is computed on one thread
// and the tiles run in parallel. The tile grid (tiling::even_spans, hard cuts between the cores)
// depends only on the latent size and the tile option, never on the thread count.
// x: [1, M, H, W] latents.
torch::Tensor invariant_synthesis(const std::function<torch::Tensor(const torch::Tensor&)>& fn,
                                  const torch::Tensor& x, int64_t max_tile, int threads) {
  constexpr int64_t kMargin = 4, kUp = kLatentStride;
  const int64_t H = x.size(2), W = x.size(3);
  const int64_t core_max = std::max<int64_t>(8, max_tile - 2 * kMargin);
  int64_t ny = tiling::parts_for(H, core_max), nx = tiling::parts_for(W, core_max);
  // A medium image still gets two tiles, so that two cores have work (~17% extra compute).
  if (ny * nx == 1 && std::max(H, W) >= 32) (W >= H ? nx : ny) = 2;
  const auto ys = tiling::even_spans(H, ny, kMargin), xs = tiling::even_spans(W, nx, kMargin);
  torch::Tensor out = torch::empty({1, 3, H * kUp, W * kUp}, x.options());
  auto run_tile = [&](int64_t t) {
    const tiling::Span& sy = ys[t / nx];
    const tiling::Span& sx = xs[t % nx];
    torch::Tensor part =
        fn(x.slice(2, sy.outer_lo, sy.outer_hi).slice(3, sx.outer_lo, sx.outer_hi).contiguous());
    out.slice(2, sy.lo * kUp, sy.hi * kUp)
        .slice(3, sx.lo * kUp, sx.hi * kUp)
        .copy_(part.slice(2, sy.offset() * kUp, (sy.offset() + sy.size()) * kUp)
                   .slice(3, sx.offset() * kUp, (sx.offset() + sx.size()) * kUp));
  };
  const int64_t n = ny * nx;
  ThreadScope one(1);  // LibTorch's global settings (thread pools) exactly as in serial
  if (threads <= 1 || n == 1) {
    for (int64_t t = 0; t < n; ++t) run_tile(t);
    return out;
  }
  // Worker threads, each pinned to one OpenMP thread (its own ICV: ATen, oneDNN and OpenBLAS
  // all read it), take tiles in turn; the caller's thread settings are left alone.
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  std::vector<std::thread> workers;
  for (int64_t k = 0; k < std::min<int64_t>(threads, n); ++k)
    workers.emplace_back([&] {
      omp_set_num_threads(1);
      torch::NoGradGuard no_grad;  // grad mode is per thread
      for (int64_t t; (t = next++) < n;) {
        try {
          run_tile(t);
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (!error) error = std::current_exception();
        }
      }
    });
  for (auto& w : workers) w.join();
  if (error) std::rethrow_exception(error);
  return out;
}

// Stage timings on stderr when LUCID_TIMING is set (for profiling; off by default).
class StageTimer {
 public:
  StageTimer() : on_(std::getenv("LUCID_TIMING") != nullptr), t_(now()) {}
  void mark(const char* stage) {
    if (!on_) return;
    const double t = now();
    std::fprintf(stderr, "lucid timing: %-16s %7.1f ms\n", stage, (t - t_) * 1e3);
    t_ = t;
  }

 private:
  static double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  bool on_;
  double t_;
};

void append_u32(std::vector<uint8_t>& v, uint32_t x) {
  for (int i = 0; i < 4; ++i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
}

}  // namespace

struct ImageCodec::Impl {
  models::FatConfig cfg;
  mutable models::FatCodec model{nullptr};  // forward() is non-const in LibTorch
  // The transforms' device, and the model copy that runs them there (`model` itself on CPU).
  torch::Device device{torch::kCPU};
  mutable models::FatCodec transforms{nullptr};
  std::string model_id;
  std::array<uint8_t, 8> hash{};
  entropy::CdfSet cdfs;
  std::vector<double> scales;
  int z_base = 0;
  torch::Tensor z_median;  // [Nz]

  // Per-slice entropy parameters, computed identically by encoder and decoder.
  struct SliceParams {
    torch::Tensor mean;            // [1, S, h, w], on the 1/64 grid
    std::vector<int32_t> indexes;  // scale-table index per element (channel-major)
  };
  SliceParams slice_params(models::ChannelTransformerImpl::State& st) const {
    auto [mean, scale] = model->tca()->predict(st);
    SliceParams p;
    p.mean = (torch::round(mean * kLatentGrid) / kLatentGrid).contiguous();
    torch::Tensor sc = scale.contiguous();
    const float* s = sc.data_ptr<float>();
    p.indexes.resize(static_cast<size_t>(sc.numel()));
    for (size_t i = 0; i < p.indexes.size(); ++i)
      p.indexes[i] = entropy::scale_to_index(scales, s[i]);
    return p;
  }

  // Refines a decoded slice (symbols + mean + LRP) and folds it into the checksum.
  torch::Tensor commit_slice(models::ChannelTransformerImpl::State& st, const torch::Tensor& sym,
                             const torch::Tensor& mean, uint32_t& crc) const {
    torch::Tensor refined = model->tca()->commit(st, sym + mean, kLatentGrid).contiguous();
    torch::Tensor fixed = torch::round(refined * kLatentGrid).to(torch::kInt32).contiguous();
    crc = entropy::crc32(reinterpret_cast<const uint8_t*>(fixed.data_ptr<int32_t>()),
                         static_cast<size_t>(fixed.numel()) * 4, crc);
    return refined;
  }

  torch::Tensor hyper_context(const torch::Tensor& z_sym) const {
    return model->hyper_synthesis(z_sym + z_median.view({1, -1, 1, 1}));
  }

  // Format version 2 computes the same path (hyper synthesis, T-CA, LRP) with Lucid's own
  // fixed-order implementation (exact_params.h): bit-identical on every CPU kernel set, thread
  // count and device, where the LibTorch path above (version 1, still decoded) is not.
  exact::Model exact;
  // The version code() writes: entropy::kFormatVersion, or 1 (the LibTorch path) when the
  // environment has LUCID_STREAM_VERSION=1 (for comparisons and tests).
  uint16_t write_version = entropy::kFormatVersion;

  // Copies the h_s and tca parameters and the prior's medians (once, at construction).
  static exact::Model load_exact(models::FatCodecImpl& fat, const models::FatConfig& config) {
    std::map<std::string, exact::Param> params;
    for (const auto& kv : fat.named_parameters()) {
      if (kv.key().rfind("h_s.", 0) != 0 && kv.key().rfind("tca.", 0) != 0) continue;
      const torch::Tensor t = kv.value().detach().to(torch::kCPU, torch::kFloat).contiguous();
      exact::Param p;
      p.shape.assign(t.sizes().begin(), t.sizes().end());
      p.data.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
      params.emplace(kv.key(), std::move(p));
    }
    const torch::Tensor med =
        fat.prior()->medians().detach().to(torch::kCPU, torch::kFloat).contiguous();
    return exact::model_from_parameters(
        params, std::vector<float>(med.data_ptr<float>(), med.data_ptr<float>() + med.numel()),
        config.slices, config.tca_heads, config.tca_layers);
  }

  // The next slice's means (1/64 grid) and scale-table indexes, channel-major.
  void exact_slice_params(exact::Session& st, std::vector<float>& mean,
                          std::vector<int32_t>& indexes) const {
    std::vector<float> scale(mean.size());
    st.predict(mean.data(), scale.data());
    for (size_t i = 0; i < indexes.size(); ++i)
      indexes[i] = entropy::scale_to_index(scales, scale[i]);
  }

  // Refines a decoded slice (symbols + mean + LRP) into `refined` (channel-major) and folds it
  // into the checksum.
  void exact_commit_slice(exact::Session& st, const std::vector<int32_t>& sym, float* refined,
                          uint32_t& crc) const {
    std::vector<int32_t> fixed(sym.size());  // round(refined * 64), as version 1 checks
    st.commit(sym.data(), refined, fixed.data());
    crc = entropy::crc32(reinterpret_cast<const uint8_t*>(fixed.data()), fixed.size() * 4, crc);
  }

  // round(v) as a symbol (NaN as 0, the int32 range saturated).
  static int32_t to_symbol(float v) {
    const float r = std::nearbyint(v);
    if (!(r == r)) return 0;
    if (r >= 2147483648.0f) return INT32_MAX;
    if (r < -2147483648.0f) return INT32_MIN;
    return static_cast<int32_t>(r);
  }

  // The pieces of a stream the encoder writes and every encoder path shares: the header, the
  // hyper-latent chunk (symbols channel-major), version 2's latent slices, the checksum.
  entropy::Container new_stream(uint32_t width, uint32_t height, float quality01) const {
    entropy::Container c;
    c.header.model_id = model_id;
    c.header.weight_hash = hash;
    c.header.width = width;
    c.header.height = height;
    c.header.quality = quality01;
    c.header.version = write_version;
    return c;
  }
  void code_hyper_latent(entropy::Container& c, const std::vector<int32_t>& zi,
                         int64_t per_channel, uint32_t& crc) const {
    entropy::RansEncoder enc(cdfs);
    for (size_t i = 0; i < zi.size(); ++i)
      enc.encode(zi[i], z_base + static_cast<int>(static_cast<int64_t>(i) / per_channel));
    crc = entropy::crc32(reinterpret_cast<const uint8_t*>(zi.data()), zi.size() * 4, crc);
    c.chunks.push_back({entropy::ChunkKind::kHyperLatent, enc.finish()});
  }
  // Version 2, slice by slice: the exact path's means and scale indexes, then `choose(k, mean,
  // sym)` sets slice k's symbols, which are coded and committed. Exact on every machine: the
  // same symbols give the same bytes.
  using ChooseSymbols =
      std::function<void(int k, const std::vector<float>& mean, std::vector<int32_t>& sym)>;
  void code_slices_exact(entropy::Container& c, const std::vector<int32_t>& zi, int zh, int zw,
                         const ChooseSymbols& choose, int threads, uint32_t& crc,
                         const std::function<void(uint64_t)>& tick) const {
    exact::Session st(exact, zi.data(), zh, zw, threads);
    const size_t n = static_cast<size_t>(st.positions()) * cfg.slice_channels();
    std::vector<float> mean(n), refined(n);
    std::vector<int32_t> indexes(n), sym(n);
    for (int k = 0; k < cfg.slices; ++k) {
      exact_slice_params(st, mean, indexes);
      choose(k, mean, sym);
      entropy::RansEncoder enc(cdfs);
      for (size_t i = 0; i < n; ++i) enc.encode(sym[i], indexes[i]);
      c.chunks.push_back({entropy::ChunkKind::kLatentSlice, enc.finish()});
      exact_commit_slice(st, sym, refined.data(), crc);
      tick(2 + k);
    }
  }
  static std::vector<uint8_t> finish_stream(entropy::Container& c, uint32_t crc) {
    std::vector<uint8_t> sum;
    append_u32(sum, crc);
    c.chunks.push_back({entropy::ChunkKind::kLatentChecksum, sum});
    return entropy::serialize(c);
  }
};

ImageCodec::ImageCodec(const std::string& path, const std::string& device)
    : impl_(std::make_unique<Impl>()) {
  try {
    impl_->device = models::resolve_device(device);
    const models::ModelFile f = models::load_model_file(path, "fat", "an image codec model");
    const models::WeightFile& w = f.weights;
    impl_->model = models::build_model<models::FatCodec>(f, path, &impl_->cfg);
    impl_->transforms = impl_->model;
    if (!impl_->device.is_cpu()) {
      impl_->transforms = models::FatCodec(impl_->cfg);
      models::import_module(*impl_->transforms, w);
      impl_->transforms->eval();
      impl_->transforms->to(impl_->device);
    }
    impl_->model_id = f.model_id;
    impl_->hash = w.hash;
    impl_->z_median = impl_->model->prior()->medians().detach().clone();
    impl_->exact = Impl::load_exact(*impl_->model, impl_->cfg);
    if (const char* v = std::getenv("LUCID_STREAM_VERSION"); v && std::string(v) == "1")
      impl_->write_version = 1;

    impl_->scales = entropy::make_scale_table();
    entropy::add_gaussian_tables(impl_->cdfs, impl_->scales);
    impl_->z_base = static_cast<int>(impl_->cdfs.size());
    models::FrozenPrior frozen;
    try {
      frozen = models::read_frozen_prior(w, impl_->cfg.Nz);
    } catch (const models::WeightError& e) {
      throw CodecError(Status::kModel, path + ": " + e.what());
    }
    for (int c = 0; c < impl_->cfg.Nz; ++c) impl_->cdfs.add(frozen.cdfs[c], frozen.offsets[c]);
  } catch (const CodecError&) {
    throw;
  } catch (const models::DeviceError& e) {
    throw CodecError(Status::kDevice, e.what());
  } catch (const std::exception& e) {
    throw CodecError(Status::kModel, e.what());
  }
}

ImageCodec::~ImageCodec() = default;

const std::string& ImageCodec::model_id() const { return impl_->model_id; }

namespace {
void check_image_args(const uint8_t* rgb, uint32_t width, uint32_t height, size_t stride,
                      const RunOptions& opts) {
  if (!rgb || width == 0 || height == 0 || stride < size_t{width} * 3)
    throw CodecError(Status::kInvalidArgument, "image is empty or stride is too small");
  if (width > entropy::kMaxSide || height > entropy::kMaxSide ||
      uint64_t{width} * height > std::min<uint64_t>(opts.max_pixels, entropy::kMaxPixels))
    throw CodecError(Status::kLimitExceeded,
                     std::to_string(width) + "x" + std::to_string(height) +
                         " exceeds the size limit");
}
}  // namespace

namespace {
// The image as the transforms see it: [1, 3, H, W] in [0, 1], edge-padded to the model stride.
torch::Tensor padded_input(const uint8_t* rgb, uint32_t width, uint32_t height, size_t stride,
                           const torch::Device& dev) {
  torch::Tensor img = torch::empty({int64_t{height}, int64_t{width}, 3}, torch::kUInt8);
  for (uint32_t y = 0; y < height; ++y)
    std::memcpy(img.data_ptr<uint8_t>() + size_t{y} * width * 3, rgb + y * stride,
                size_t{width} * 3);
  torch::Tensor x = img.to(dev).permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat).div_(255.0);
  const int64_t Hp = (height + kStride - 1) / kStride * kStride;
  const int64_t Wp = (width + kStride - 1) / kStride * kStride;
  if (Hp != height || Wp != width)
    x = torch::replication_pad2d(x, {0, Wp - width, 0, Hp - height});
  return x;
}
}  // namespace

// g_a of the edge-padded image, before the quality gain (shared by every quality tried).
torch::Tensor ImageCodec::analyze(const uint8_t* rgb, uint32_t width, uint32_t height,
                                  size_t stride, const RunOptions& opts) const {
  torch::NoGradGuard ng;
  const torch::Device dev = impl_->device;
  torch::Tensor x = padded_input(rgb, width, height, stride, dev);
  ThreadScope ts(opts.threads);
  const int64_t tile = std::max<int64_t>(256, opts.tile / kStride * kStride);
  StageTimer timer;
  models::Tf32Scope tf32(dev);
  torch::Tensor y = tiled_apply(
      [&](const torch::Tensor& t) { return impl_->transforms->analysis(t); }, x, tile,
      /*margin=*/64, 1, kLatentStride);
  y = y.to(torch::kCPU);  // the hyperprior and entropy parameters run on the CPU
  timer.mark("analysis");
  return y;
}

std::vector<uint8_t> ImageCodec::code(const torch::Tensor& y_base, uint32_t width,
                                      uint32_t height, double quality01,
                                      const RunOptions& opts) const {
  if (!(quality01 >= 0.0 && quality01 <= 1.0))
    throw CodecError(Status::kInvalidArgument, "quality out of range");
  torch::NoGradGuard ng;
  const Impl& m = *impl_;
  const int K = m.cfg.slices, S = m.cfg.slice_channels();
  const uint64_t total = K + 2;
  auto tick = [&](uint64_t done) {
    if (opts.progress && !opts.progress(done, total))
      throw CodecError(Status::kAborted, "aborted by the progress callback");
  };
  tick(1);
  StageTimer timer;
  // LibTorch single-threaded: version 1's entropy-parameter path ran so on both sides. (The
  // exact path of version 2 runs on opts.threads threads of its own: any count gives the same.)
  ThreadScope one(1);
  torch::Tensor y = y_base * m.model->gain(torch::full({1}, quality01));
  torch::Tensor z = m.model->hyper_analysis(y);
  torch::Tensor z_sym = torch::round(z - m.z_median.view({1, -1, 1, 1})).contiguous();
  timer.mark("hyper analysis");
  entropy::Container c = m.new_stream(width, height, static_cast<float>(quality01));
  uint32_t crc = 0;
  const float* zs = z_sym.data_ptr<float>();
  const std::vector<int32_t> zi(zs, zs + z_sym.numel());  // integers already (rounded)
  m.code_hyper_latent(c, zi, z_sym.size(2) * z_sym.size(3), crc);

  if (c.header.version >= 2) {
    const torch::Tensor yc = y.contiguous();
    const size_t n = static_cast<size_t>(yc.numel()) / K;
    m.code_slices_exact(
        c, zi, static_cast<int>(z_sym.size(2)), static_cast<int>(z_sym.size(3)),
        [&](int k, const std::vector<float>& mean, std::vector<int32_t>& sym) {
          const float* yk = yc.data_ptr<float>() + k * n;
          for (size_t i = 0; i < n; ++i) sym[i] = Impl::to_symbol(yk[i] - mean[i]);
        },
        opts.threads, crc, tick);
  } else {  // version 1: the LibTorch path
    auto state = m.model->tca()->begin(m.hyper_context(z_sym));
    for (int k = 0; k < K; ++k) {
      auto p = m.slice_params(state);
      torch::Tensor yk = y.slice(1, k * S, (k + 1) * S);
      torch::Tensor sym = torch::round(yk - p.mean).contiguous();
      const float* sv = sym.data_ptr<float>();
      entropy::RansEncoder enc(m.cdfs);
      for (size_t i = 0; i < p.indexes.size(); ++i)
        enc.encode(static_cast<int32_t>(sv[i]), p.indexes[i]);
      c.chunks.push_back({entropy::ChunkKind::kLatentSlice, enc.finish()});
      m.commit_slice(state, sym, p.mean, crc);
      tick(2 + k);
    }
  }
  timer.mark("entropy coding");
  tick(total);
  return Impl::finish_stream(c, crc);
}

std::vector<uint8_t> ImageCodec::encode(const uint8_t* rgb, uint32_t width, uint32_t height,
                                        size_t stride, double quality01,
                                        const RunOptions& opts) const {
  check_image_args(rgb, width, height, stride, opts);
  if (!(quality01 >= 0.0 && quality01 <= 1.0))
    throw CodecError(Status::kInvalidArgument, "quality out of range");
  torch::Tensor y = analyze(rgb, width, height, stride, opts);
  if (refinement_steps(opts.effort) > 0)
    return refine_and_code(rgb, width, height, stride, y, quality01, opts);
  return code(y, width, height, quality01, opts);
}

std::vector<uint8_t> ImageCodec::refine_and_code(const uint8_t* rgb, uint32_t width,
                                                 uint32_t height, size_t stride,
                                                 const torch::Tensor& y_base, double quality01,
                                                 const RunOptions& opts) const {
  torch::Tensor y;
  {
    // On the CPU copy of the model (the entropy-parameter side), whatever the device.
    ThreadScope ts(opts.threads);
    StageTimer timer;
    models::FatCodecImpl& model = *impl_->model;
    torch::Tensor gain;
    {
      torch::NoGradGuard ng;
      gain = model.gain(torch::full({1}, quality01));
    }
    const torch::Tensor x = padded_input(rgb, width, height, stride, torch::kCPU);
    RefineResult r = refine_latents(model, x, width, height, y_base * gain, quality01,
                                    refinement_steps(opts.effort));
    y = r.y / gain;
    timer.mark("refinement");
  }
  return code(y, width, height, quality01, opts);
}

std::vector<uint8_t> ImageCodec::encode_to_size(const uint8_t* rgb, uint32_t width,
                                                uint32_t height, size_t stride,
                                                size_t max_bytes, const RunOptions& opts,
                                                double* quality_out) const {
  check_image_args(rgb, width, height, stride, opts);
  torch::Tensor y = analyze(rgb, width, height, stride, opts);
  RunOptions quiet = opts;
  quiet.progress = nullptr;
  // Bisection on the continuous quality: the rate is monotone in it by construction of the
  // gain anchors (checked by a test), so ~12 steps reach a 1/4096 quality resolution.
  std::vector<uint8_t> best = code(y, width, height, 0.0, quiet);
  double best_q = 0.0;
  if (best.size() > max_bytes)
    throw CodecError(Status::kInvalidArgument,
                     "target of " + std::to_string(max_bytes) +
                         " bytes is below the smallest stream at the lowest quality (" +
                         std::to_string(best.size()) + " bytes)");
  double lo = 0.0, hi = 1.0;
  auto top = code(y, width, height, 1.0, quiet);
  if (top.size() <= max_bytes) {
    best = std::move(top);
    best_q = 1.0;
  } else {
    for (int it = 0; it < 12; ++it) {
      const double mid = 0.5 * (lo + hi);
      auto s = code(y, width, height, mid, quiet);
      if (s.size() <= max_bytes) {
        lo = mid;
        best = std::move(s);
        best_q = mid;
      } else {
        hi = mid;
      }
      if (opts.progress && !opts.progress(it + 1, 12))
        throw CodecError(Status::kAborted, "aborted by the progress callback");
    }
  }
  // At effort > 1, the refined latents at the quality found; kept if they still fit (they
  // usually spend fewer bits, but the refinement lowers the whole rate-distortion cost).
  if (refinement_steps(opts.effort) > 0) {
    auto refined = refine_and_code(rgb, width, height, stride, y, best_q, quiet);
    if (refined.size() <= max_bytes) best = std::move(refined);
  }
  if (quality_out) *quality_out = best_q;
  return best;
}

torch::Tensor ImageCodec::entropy_decode(const uint8_t* data, size_t size, const RunOptions& opts,
                                         bool with_symbols, StreamSymbols* out) const {
  if (!data && size) throw CodecError(Status::kInvalidArgument, "NULL stream");
  entropy::Container c;
  std::string why;
  const auto ps = entropy::parse(data, size, &c, &why);
  if (ps != entropy::ParseStatus::kOk) throw CodecError(status_for(ps), why);
  const Impl& m = *impl_;
  if (c.header.model_id != m.model_id)
    throw CodecError(Status::kModelMismatch, "stream was made with model '" +
                                                     c.header.model_id + "', this is '" +
                                                     m.model_id + "'");
  if (c.header.weight_hash != m.hash)
    throw CodecError(Status::kModelMismatch,
                     "stream was made with other weights of model '" + m.model_id +
                         "' (weight hash differs)");
  const uint32_t width = c.header.width, height = c.header.height;
  if (uint64_t{width} * height > opts.max_pixels)
    throw CodecError(Status::kLimitExceeded, std::to_string(width) + "x" +
                                                     std::to_string(height) +
                                                     " exceeds the size limit");
  const int K = m.cfg.slices;
  if (c.chunks.size() != static_cast<size_t>(K) + 2 ||
      c.chunks[0].kind != entropy::ChunkKind::kHyperLatent ||
      c.chunks.back().kind != entropy::ChunkKind::kLatentChecksum ||
      c.chunks.back().data.size() != 4)
    throw CodecError(Status::kBadStream, "chunk layout does not match model '" + m.model_id + "'");
  for (int k = 0; k < K; ++k)
    if (c.chunks[1 + k].kind != entropy::ChunkKind::kLatentSlice)
      throw CodecError(Status::kBadStream, "chunk layout does not match the model");
  if (!(c.header.quality >= 0.0f && c.header.quality <= 1.0f))
    throw CodecError(Status::kBadStream, "quality field out of range");

  torch::NoGradGuard ng;
  const uint64_t total = K + 2;
  auto tick = [&](uint64_t done) {
    if (opts.progress && !opts.progress(done, total))
      throw CodecError(Status::kAborted, "aborted by the progress callback");
  };
  auto check = [](entropy::RansDecoder& dec, const char* what) {
    const auto st = dec.finish();
    if (st == entropy::DecodeStatus::kTruncated)
      throw CodecError(Status::kTruncated, std::string(what) + " stream is truncated");
    if (st != entropy::DecodeStatus::kOk)
      throw CodecError(Status::kCorrupt, std::string(what) + " stream is corrupt");
  };

  const int64_t Hp = (height + kStride - 1) / kStride * kStride;
  const int64_t Wp = (width + kStride - 1) / kStride * kStride;
  const int S = m.cfg.slice_channels();
  torch::Tensor y_hat;
  uint32_t crc = 0;
  StageTimer timer;
  {
    ThreadScope one(1);
    torch::Tensor z_sym = torch::empty({1, m.cfg.Nz, Hp / kStride, Wp / kStride});
    std::vector<int32_t> zi(static_cast<size_t>(z_sym.numel()));
    {
      entropy::RansDecoder dec(m.cdfs, c.chunks[0].data.data(), c.chunks[0].data.size());
      float* zs = z_sym.data_ptr<float>();
      const int64_t per_channel = z_sym.size(2) * z_sym.size(3);
      for (int64_t i = 0; i < z_sym.numel(); ++i) {
        zi[i] = dec.decode(m.z_base + static_cast<int>(i / per_channel));
        zs[i] = static_cast<float>(zi[i]);
      }
      check(dec, "hyper-latent");
      crc = entropy::crc32(reinterpret_cast<const uint8_t*>(zi.data()), zi.size() * 4, crc);
    }
    out->y.clear();
    if (with_symbols) {
      out->y.reserve(static_cast<size_t>(m.cfg.M) * (Hp / kLatentStride) * (Wp / kLatentStride));
    }
    if (c.header.version >= 2) {
      exact::Session st(m.exact, zi.data(), static_cast<int>(Hp / kStride),
                        static_cast<int>(Wp / kStride), opts.threads);
      const size_t n = static_cast<size_t>(st.positions()) * S;
      y_hat = torch::empty({1, m.cfg.M, Hp / kLatentStride, Wp / kLatentStride});
      std::vector<float> mean(n);
      std::vector<int32_t> indexes(n), sym(n);
      for (int k = 0; k < K; ++k) {
        m.exact_slice_params(st, mean, indexes);
        const auto& chunk = c.chunks[1 + k].data;
        entropy::RansDecoder dec(m.cdfs, chunk.data(), chunk.size());
        for (size_t i = 0; i < n; ++i) sym[i] = dec.decode(indexes[i]);
        check(dec, ("latent slice " + std::to_string(k)).c_str());
        if (with_symbols) out->y.insert(out->y.end(), sym.begin(), sym.end());
        m.exact_commit_slice(st, sym, y_hat.data_ptr<float>() + k * n, crc);
        tick(1 + k);
      }
    } else {  // version 1: the LibTorch path
      auto state = m.model->tca()->begin(m.hyper_context(z_sym));
      std::vector<torch::Tensor> slices;
      for (int k = 0; k < K; ++k) {
        auto p = m.slice_params(state);
        torch::Tensor sym = torch::empty({1, S, Hp / kLatentStride, Wp / kLatentStride});
        float* sv = sym.data_ptr<float>();
        const auto& chunk = c.chunks[1 + k].data;
        entropy::RansDecoder dec(m.cdfs, chunk.data(), chunk.size());
        for (size_t i = 0; i < p.indexes.size(); ++i) {
          const int32_t v = dec.decode(p.indexes[i]);
          sv[i] = static_cast<float>(v);
          if (with_symbols) out->y.push_back(v);
        }
        check(dec, ("latent slice " + std::to_string(k)).c_str());
        slices.push_back(m.commit_slice(state, sym, p.mean, crc));
        tick(1 + k);
      }
      y_hat = torch::cat(slices, 1);
    }
    out->z = with_symbols ? std::move(zi) : std::vector<int32_t>();
  }
  timer.mark("entropy decoding");
  const auto& cs = c.chunks.back().data;
  const uint32_t stored = uint32_t{cs[0]} | uint32_t{cs[1]} << 8 | uint32_t{cs[2]} << 16 |
                          uint32_t{cs[3]} << 24;
  if (stored != crc)
    throw CodecError(Status::kChecksumMismatch,
                     "decoded latents differ from the encoder's (checksum mismatch): the stream "
                     "was made on a machine whose arithmetic differs from this one, or it is "
                     "corrupt");
  out->width = width;
  out->height = height;
  out->quality01 = c.header.quality;
  out->version = c.header.version;
  return y_hat;
}

StreamSymbols ImageCodec::decode_symbols(const uint8_t* data, size_t size,
                                         const RunOptions& opts) const {
  StreamSymbols s;
  entropy_decode(data, size, opts, /*with_symbols=*/true, &s);
  return s;
}

RgbImage ImageCodec::decode(const uint8_t* data, size_t size, const RunOptions& opts) const {
  StreamSymbols s;  // the header's fields only
  const torch::Tensor y_hat = entropy_decode(data, size, opts, /*with_symbols=*/false, &s);
  const Impl& m = *impl_;
  const uint32_t width = s.width, height = s.height;
  StageTimer timer;
  torch::Tensor x_hat;
  {
    ThreadScope ts(opts.threads);
    torch::Tensor q = torch::full({1}, static_cast<double>(s.quality01));
    torch::Tensor yin = (y_hat * m.model->inverse_gain(q)).to(m.device);
    models::Tf32Scope tf32(m.device);
    // On a GPU the tiles run one after another (threads 1): the grid bounds its memory.
    x_hat = invariant_synthesis(
        [&](const torch::Tensor& t) { return m.transforms->synthesis(t); }, yin,
        std::max<int64_t>(16, opts.tile / kLatentStride), m.device.is_cpu() ? opts.threads : 1);
    x_hat = x_hat.to(torch::kCPU);
  }
  timer.mark("synthesis");
  torch::Tensor out = x_hat.slice(2, 0, height)
                          .slice(3, 0, width)
                          .clamp(0, 1)
                          .mul(255)
                          .round()
                          .to(torch::kUInt8)
                          .squeeze(0)
                          .permute({1, 2, 0})
                          .contiguous();
  RgbImage r;
  r.width = width;
  r.height = height;
  r.rgb.assign(out.data_ptr<uint8_t>(), out.data_ptr<uint8_t>() + out.numel());
  const uint64_t total = m.cfg.slices + 2;
  if (opts.progress && !opts.progress(total, total))
    throw CodecError(Status::kAborted, "aborted by the progress callback");
  return r;
}

std::vector<uint8_t> ImageCodec::encode_symbols(const StreamSymbols& s,
                                                const RunOptions& opts) const {
  const Impl& m = *impl_;
  if (m.write_version < 2 || s.version < 2)
    throw CodecError(Status::kUnsupportedVersion,
                     "encode_symbols writes format version 2 and later only, from symbols of "
                     "version 2 or later (version 1's latents depend on the machine)");
  if (s.width == 0 || s.height == 0)
    throw CodecError(Status::kInvalidArgument, "image has zero width or height");
  if (s.width > entropy::kMaxSide || s.height > entropy::kMaxSide ||
      uint64_t{s.width} * s.height > std::min<uint64_t>(opts.max_pixels, entropy::kMaxPixels))
    throw CodecError(Status::kLimitExceeded, std::to_string(s.width) + "x" +
                                                 std::to_string(s.height) +
                                                 " exceeds the size limit");
  if (!(s.quality01 >= 0.0f && s.quality01 <= 1.0f))
    throw CodecError(Status::kInvalidArgument, "quality out of range");
  const int zh = static_cast<int>((s.height + kStride - 1) / kStride);
  const int zw = static_cast<int>((s.width + kStride - 1) / kStride);
  const size_t per_channel = static_cast<size_t>(zh) * zw;
  const size_t n = per_channel * (kStride / kLatentStride) * (kStride / kLatentStride) *
                   m.cfg.slice_channels();  // one slice's symbols
  if (s.z.size() != per_channel * m.cfg.Nz || s.y.size() != n * m.cfg.slices)
    throw CodecError(Status::kInvalidArgument, "symbol counts do not fit the image size");
  torch::NoGradGuard ng;
  entropy::Container c = m.new_stream(s.width, s.height, s.quality01);
  uint32_t crc = 0;
  m.code_hyper_latent(c, s.z, static_cast<int64_t>(per_channel), crc);
  m.code_slices_exact(
      c, s.z, zh, zw,
      [&](int k, const std::vector<float>&, std::vector<int32_t>& sym) {
        std::copy(s.y.begin() + k * n, s.y.begin() + (k + 1) * n, sym.begin());
      },
      opts.threads, crc, [](uint64_t) {});
  return Impl::finish_stream(c, crc);
}

std::string default_weights_path() {
  try {
    return models::find_model_file("fat-small.lucidw");
  } catch (const std::runtime_error& e) {
    throw CodecError(Status::kModel, e.what());
  }
}

}  // namespace lucid::codec
