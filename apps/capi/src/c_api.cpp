// The C API: a thin exception-free shell over the pipelines (lucid::codec's ImageCodec,
// lucid::restoration's JpegRestorer, and the video restorer's RestorePipeline with the restorer
// from lucid::video_restore's factory), which know nothing of it.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <deque>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "lucid/codec/image_codec.h"
#include "lucid/entropy/container.h"
#include "lucid/lucid.h"
#include "lucid/media/limits.h"
#include "lucid/models/device.h"
#include "lucid/restoration/jpeg_restorer.h"
#include "lucid/video_restore/restore_pipeline.h"
#include "lucid/video_restore/restorer_factory.h"

namespace codec = lucid::codec;
namespace rs = lucid::restoration;
namespace vr = lucid::video_restore;

// Restoration settings of a context (LUCID_OPT_JPEG_*).
struct RestoreSettings {
  bool constraint = true;  // project onto the file's constraint set + high-quality shrink
  int qf = 0;              // 1..100 overrides the file's quality factor
};

// Loaded weights: immutable once built, shared by every context made from them (the pipelines'
// const methods may run concurrently).
struct LoadedModel {
  lucid_model_kind kind = LUCID_MODEL_CODEC;
  std::unique_ptr<const codec::ImageCodec> codec;
  std::unique_ptr<const rs::JpegRestorer> restorer;
  // The video restorer model (restorer_factory.h): immutable, shared by every stream over this
  // handle; each stream makes its own FrameRestorer from it.
  std::shared_ptr<const vr::RestorerModel> video;
  std::string model_id;
};

// The model handle: a reference to shared weights (contexts hold their own reference, so the
// handle may be destroyed before them).
struct lucid_model {
  std::shared_ptr<const LoadedModel> loaded;
};

// Per-call state over shared weights: options, callback, last error.
struct lucid_context {
  std::shared_ptr<const LoadedModel> model;
  codec::RunOptions opts;
  RestoreSettings restore;
  std::string last_error;
};

// One video being restored: the streaming pipeline over the model's restorer, the restored
// frames not yet pulled, and the frame the caller's last pull points at.
struct lucid_video_stream {
  std::shared_ptr<const LoadedModel> model;
  vr::PipelineOptions options;
  // Made at the first push, for that frame's QP scale (a network is made for its stream's codec).
  std::unique_ptr<vr::FrameRestorer> restorer;
  std::unique_ptr<vr::RestorePipeline> pipeline;
  uint64_t max_pixels = 0;
  std::deque<vr::Frame> ready;
  vr::Frame pulled;
  bool have_format = false;
  vr::PlaneFormat format;
  lucid_qp_scale qp_scale = LUCID_QP_NONE;  // the first frame's; later frames: that or NONE
  int64_t next_index = 0;
  bool flushed = false;
  bool broken = false;  // the restorer failed mid-frame: the stream cannot go on
  std::string last_error;
};

namespace {

// An error the C API itself raises (argument checks).
class ApiError : public std::runtime_error {
 public:
  ApiError(lucid_status status, const std::string& what)
      : std::runtime_error(what), status_(status) {}
  lucid_status status() const { return status_; }

 private:
  lucid_status status_;
};

// The codec's statuses carry the numbers of the lucid_status of the same name.
#define LUCID_SAME_STATUS(c, k) \
  static_assert(static_cast<int>(codec::Status::k) == c, #c " and codec::Status::" #k " differ")
LUCID_SAME_STATUS(LUCID_OK, kOk);
LUCID_SAME_STATUS(LUCID_ERROR_INVALID_ARGUMENT, kInvalidArgument);
LUCID_SAME_STATUS(LUCID_ERROR_OUT_OF_MEMORY, kOutOfMemory);
LUCID_SAME_STATUS(LUCID_ERROR_LIMIT_EXCEEDED, kLimitExceeded);
LUCID_SAME_STATUS(LUCID_ERROR_MODEL, kModel);
LUCID_SAME_STATUS(LUCID_ERROR_MODEL_MISMATCH, kModelMismatch);
LUCID_SAME_STATUS(LUCID_ERROR_BAD_STREAM, kBadStream);
LUCID_SAME_STATUS(LUCID_ERROR_UNSUPPORTED_VERSION, kUnsupportedVersion);
LUCID_SAME_STATUS(LUCID_ERROR_TRUNCATED, kTruncated);
LUCID_SAME_STATUS(LUCID_ERROR_CORRUPT, kCorrupt);
LUCID_SAME_STATUS(LUCID_ERROR_CHECKSUM_MISMATCH, kChecksumMismatch);
LUCID_SAME_STATUS(LUCID_ERROR_ABORTED, kAborted);
LUCID_SAME_STATUS(LUCID_ERROR_DEVICE, kDevice);
LUCID_SAME_STATUS(LUCID_ERROR_BAD_IMAGE, kBadImage);
LUCID_SAME_STATUS(LUCID_ERROR_INTERNAL, kInternal);
#undef LUCID_SAME_STATUS

// One size limit for every pipeline: the media module's, which the .lucid container shares.
constexpr uint64_t kMaxPixels = lucid::media::kMaxImagePixels;
constexpr uint32_t kMaxSide = lucid::media::kMaxImageSide;
static_assert(kMaxPixels == lucid::entropy::kMaxPixels && kMaxSide == lucid::entropy::kMaxSide,
              "image limits and .lucid container limits differ");
// Video frames: the limits of lucid-video's reader.
constexpr uint32_t kMaxVideoSide = lucid::media::kMaxVideoSide;
constexpr uint64_t kMaxVideoPixels = lucid::media::kMaxVideoPixels;

lucid_status status_for(rs::RestoreError::Kind k) {
  switch (k) {
    case rs::RestoreError::Kind::kInvalidArgument: return LUCID_ERROR_INVALID_ARGUMENT;
    case rs::RestoreError::Kind::kModel: return LUCID_ERROR_MODEL;
    case rs::RestoreError::Kind::kBadImage: return LUCID_ERROR_BAD_IMAGE;
    case rs::RestoreError::Kind::kTooLarge: return LUCID_ERROR_LIMIT_EXCEEDED;
    case rs::RestoreError::Kind::kAborted: return LUCID_ERROR_ABORTED;
    case rs::RestoreError::Kind::kDevice: return LUCID_ERROR_DEVICE;
  }
  return LUCID_ERROR_INTERNAL;
}

rs::RestoreOptions restore_options(const lucid_context& ctx) {
  rs::RestoreOptions r;
  r.threads = ctx.opts.threads;
  r.max_pixels = ctx.opts.max_pixels;
  r.tile = ctx.opts.tile;
  r.jpeg_constraint = ctx.restore.constraint;
  r.high_quality_shrink = ctx.restore.constraint;  // one switch: off returns the network's output
  r.progress = ctx.opts.progress;
  return r;
}

thread_local std::string g_create_error;

// Runs fn, turning every exception into a status and a message in `error`.
template <typename Fn>
lucid_status guarded_into(std::string& error, Fn&& fn) {
  error.clear();
  try {
    fn();
    return LUCID_OK;
  } catch (const ApiError& e) {
    error = e.what();
    return e.status();
  } catch (const codec::CodecError& e) {
    error = e.what();
    return static_cast<lucid_status>(e.status());
  } catch (const rs::RestoreError& e) {
    error = e.what();
    return status_for(e.kind());
  } catch (const vr::RestorerError& e) {
    error = e.what();
    return e.kind == vr::RestorerError::Kind::kModel    ? LUCID_ERROR_MODEL
           : e.kind == vr::RestorerError::Kind::kDevice ? LUCID_ERROR_DEVICE
                                                        : LUCID_ERROR_INVALID_ARGUMENT;
  } catch (const std::bad_alloc&) {
    error = "out of memory";
    return LUCID_ERROR_OUT_OF_MEMORY;
  } catch (const c10::Error& e) {
    error = std::string("internal error: ") + e.what_without_backtrace();
    return LUCID_ERROR_INTERNAL;
  } catch (const std::exception& e) {
    error = std::string("internal error: ") + e.what();
    return LUCID_ERROR_INTERNAL;
  } catch (...) {
    error = "internal error: unknown exception";
    return LUCID_ERROR_INTERNAL;
  }
}

// The same with the context's message.
template <typename Fn>
lucid_status guarded(lucid_context* ctx, Fn&& fn) {
  if (!ctx) return LUCID_ERROR_INVALID_ARGUMENT;
  return guarded_into(ctx->last_error, std::forward<Fn>(fn));
}

const char* kind_name(lucid_model_kind k) {
  switch (k) {
    case LUCID_MODEL_CODEC: return "a codec model";
    case LUCID_MODEL_RESTORE: return "a JPEG restoration model";
    case LUCID_MODEL_VIDEO_RESTORER: return "a video restorer model";
  }
  return "an unknown model";
}

const codec::ImageCodec& codec_of(const lucid_context* ctx) {
  if (!ctx->model->codec)
    throw ApiError(LUCID_ERROR_INVALID_ARGUMENT,
                   std::string("this context holds ") + kind_name(ctx->model->kind) + ", not a codec");
  return *ctx->model->codec;
}

const rs::JpegRestorer& restorer_of(const lucid_context* ctx) {
  if (!ctx->model->restorer)
    throw ApiError(LUCID_ERROR_INVALID_ARGUMENT,
                   std::string("this context holds ") + kind_name(ctx->model->kind) +
                       ", not a JPEG restorer");
  return *ctx->model->restorer;
}

lucid_quality_source source_for(rs::QualitySource s) {
  switch (s) {
    case rs::QualitySource::kUser: return LUCID_QUALITY_FROM_USER;
    case rs::QualitySource::kFileExact: return LUCID_QUALITY_FROM_FILE_TABLES;
    case rs::QualitySource::kFileEstimate: return LUCID_QUALITY_FROM_FILE_ESTIMATE;
    case rs::QualitySource::kCave: return LUCID_QUALITY_FROM_MODEL;
  }
  return LUCID_QUALITY_FROM_MODEL;
}

// Checks a caller's lucid_restore_info before any work (NULL is fine: no metadata wanted).
void check_info(const lucid_restore_info* info) {
  if (info && (info->struct_size < sizeof(uint32_t) || info->struct_size > (1u << 16)))
    throw ApiError(LUCID_ERROR_INVALID_ARGUMENT,
                   "lucid_restore_info.struct_size is not set (call lucid_restore_info_init)");
}

// Writes the fields the caller's struct has room for (older callers have a shorter struct).
void fill_info(lucid_restore_info* info, const rs::RestoredImage& img) {
  if (!info) return;
  lucid_restore_info full;
  lucid_restore_info_init(&full);
  full.width = static_cast<uint32_t>(img.width);
  full.height = static_cast<uint32_t>(img.height);
  full.quality = img.quality;
  full.quality_source = source_for(img.quality_source);
  full.model_quality = static_cast<float>(img.cave_quality);
  full.constrained = img.constrained ? 1 : 0;
  full.tiles = img.tiles;
  full.gray = img.gray ? 1 : 0;
  const uint32_t n = std::min<uint32_t>(info->struct_size, sizeof full);
  full.struct_size = info->struct_size;
  std::memcpy(info, &full, n);
}

// Parses creation parameters into a device string; false with `error` set when invalid.
bool read_params(const lucid_context_params* params, lucid_context_params* p,
                 std::string* device, std::string* error) {
  // Callers built against an older, shorter struct get the defaults for the fields they lack.
  lucid_context_params_init(p);
  if (params) {
    if (params->struct_size < offsetof(lucid_context_params, device) ||
        params->struct_size > sizeof *p) {
      *error = "lucid_context_params.struct_size is not a size this library knows "
               "(call lucid_context_params_init)";
      return false;
    }
    std::memcpy(p, params, params->struct_size);
  }
  if (!params || (p->kind != LUCID_MODEL_CODEC && p->kind != LUCID_MODEL_RESTORE &&
                  p->kind != LUCID_MODEL_VIDEO_RESTORER)) {
    *error = "invalid argument";
    return false;
  }
  if (p->device == LUCID_DEVICE_CPU) {
    *device = "cpu";
  } else if (p->device == LUCID_DEVICE_CUDA && p->device_index >= 0 && p->device_index < 1000) {
    *device = "cuda:" + std::to_string(p->device_index);
  } else {
    *error = "unknown device or device index";
    return false;
  }
  return true;
}

uint8_t* copy_out(const std::vector<uint8_t>& v) {
  auto* p = static_cast<uint8_t*>(std::malloc(v.empty() ? 1 : v.size()));
  if (!p) throw std::bad_alloc();
  if (!v.empty()) std::memcpy(p, v.data(), v.size());
  return p;
}

}  // namespace

extern "C" {

const char* lucid_version(void) { return LUCID_VERSION_STRING; }

uint32_t lucid_version_number(void) { return LUCID_VERSION_NUMBER; }

const char* lucid_build_info(void) {
  static const std::string info = [] {
    std::string s = std::string("lucid ") + LUCID_VERSION_STRING + "; LibTorch " + TORCH_VERSION;
#ifdef LUCID_TORCH_CUDA_VERSION
    s += std::string("; CUDA support: yes (built with CUDA ") + LUCID_TORCH_CUDA_VERSION + ")";
#else
    s += "; CUDA support: no (CPU-only LibTorch)";
#endif
    const int n = lucid::models::cuda_device_count();
    s += "; devices: cpu";
    if (n > 0) s += ", cuda (" + std::to_string(n) + " GPU" + (n > 1 ? "s" : "") + ")";
    else s += " (no CUDA device present)";
    return s;
  }();
  return info.c_str();
}

int lucid_cuda_device_count(void) {
  try {
    return lucid::models::cuda_device_count();
  } catch (...) {
    return 0;
  }
}

void lucid_context_params_init(lucid_context_params* p) {
  if (!p) return;
  std::memset(p, 0, sizeof *p);
  p->struct_size = sizeof *p;
  p->kind = LUCID_MODEL_CODEC;
  p->device = LUCID_DEVICE_CPU;
}

const char* lucid_status_str(lucid_status s) {
  switch (s) {
    case LUCID_OK: return "success";
    case LUCID_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case LUCID_ERROR_OUT_OF_MEMORY: return "out of memory";
    case LUCID_ERROR_LIMIT_EXCEEDED: return "image exceeds the size limit";
    case LUCID_ERROR_MODEL: return "model weights missing, corrupt or of the wrong kind";
    case LUCID_ERROR_MODEL_MISMATCH: return "stream was made with different model weights";
    case LUCID_ERROR_BAD_STREAM: return "not a valid .lucid stream";
    case LUCID_ERROR_UNSUPPORTED_VERSION: return "unsupported .lucid format version";
    case LUCID_ERROR_TRUNCATED: return "stream is truncated";
    case LUCID_ERROR_CORRUPT: return "stream is corrupt";
    case LUCID_ERROR_CHECKSUM_MISMATCH: return "decoded latents fail the checksum";
    case LUCID_ERROR_ABORTED: return "aborted";
    case LUCID_ERROR_DEVICE: return "device unavailable";
    case LUCID_ERROR_BAD_IMAGE: return "input image unreadable or unsupported";
    case LUCID_ERROR_INTERNAL: return "internal error";
    case LUCID_NEED_MORE_INPUT: return "need more input";
    case LUCID_END_OF_STREAM: return "end of stream";
  }
  return "unknown status";
}

lucid_status lucid_context_create(const char* weights_path, lucid_model_kind kind,
                                  lucid_context** out) {
  lucid_context_params p;
  lucid_context_params_init(&p);
  p.weights_path = weights_path;
  p.kind = kind;
  return lucid_context_create_ex(&p, out);
}

lucid_status lucid_model_load(const lucid_context_params* params, lucid_model** out) {
  g_create_error.clear();
  if (!out) {
    g_create_error = "invalid argument";
    return LUCID_ERROR_INVALID_ARGUMENT;
  }
  *out = nullptr;
  lucid_context_params p;
  std::string device;
  if (!read_params(params, &p, &device, &g_create_error)) return LUCID_ERROR_INVALID_ARGUMENT;
  auto model = std::unique_ptr<lucid_model>(new (std::nothrow) lucid_model());
  if (!model) return LUCID_ERROR_OUT_OF_MEMORY;
  std::string error;
  const lucid_status s = guarded_into(error, [&] {
    auto loaded = std::make_shared<LoadedModel>();
    loaded->kind = p.kind;
    if (p.kind == LUCID_MODEL_CODEC) {
      const std::string path = p.weights_path ? p.weights_path : codec::default_weights_path();
      loaded->codec = std::make_unique<const codec::ImageCodec>(path, device);
      loaded->model_id = loaded->codec->model_id();
    } else if (p.kind == LUCID_MODEL_RESTORE) {
      const std::string path = p.weights_path ? p.weights_path : rs::default_weights_path();
      loaded->restorer = std::make_unique<const rs::JpegRestorer>(path, device);
      loaded->model_id = loaded->restorer->model_id();
    } else {
      // No silent CPU fallback, even for the identity (which needs no device).
      if (p.device == LUCID_DEVICE_CUDA) {
        const int n = lucid::models::cuda_device_count();
        if (p.device_index >= n)
          throw ApiError(LUCID_ERROR_DEVICE,
                         device + ": " + (n == 0 ? std::string("no CUDA device is available")
                                                 : "only " + std::to_string(n) + " CUDA device(s)"));
      }
      // NULL: the default video restorer (this version: the pass-through).
      loaded->video = vr::load_restorer(p.weights_path ? p.weights_path : "", device);
      loaded->model_id = loaded->video->name();
    }
    model->loaded = std::move(loaded);
  });
  if (s != LUCID_OK) {
    g_create_error = error;
    return s;
  }
  *out = model.release();
  return LUCID_OK;
}

void lucid_model_destroy(lucid_model* model) { delete model; }

const char* lucid_model_id(const lucid_model* model) {
  return model && model->loaded ? model->loaded->model_id.c_str() : "";
}

lucid_model_kind lucid_model_get_kind(const lucid_model* model) {
  return model && model->loaded ? model->loaded->kind : LUCID_MODEL_CODEC;
}

lucid_status lucid_context_create_from_model(lucid_model* model, lucid_context** out) {
  g_create_error.clear();
  if (!model || !model->loaded || !out) {
    g_create_error = "invalid argument";
    return LUCID_ERROR_INVALID_ARGUMENT;
  }
  *out = nullptr;
  auto ctx = std::unique_ptr<lucid_context>(new (std::nothrow) lucid_context());
  if (!ctx) return LUCID_ERROR_OUT_OF_MEMORY;
  ctx->model = model->loaded;
  *out = ctx.release();
  return LUCID_OK;
}

lucid_status lucid_context_create_ex(const lucid_context_params* params, lucid_context** out) {
  if (out) *out = nullptr;
  lucid_model* model = nullptr;
  lucid_status s = lucid_model_load(params, &model);
  if (s != LUCID_OK) return s;
  if (!out) {
    lucid_model_destroy(model);
    g_create_error = "invalid argument";
    return LUCID_ERROR_INVALID_ARGUMENT;
  }
  s = lucid_context_create_from_model(model, out);
  lucid_model_destroy(model);  // the context keeps the weights alive
  return s;
}

void lucid_context_destroy(lucid_context* ctx) { delete ctx; }

const char* lucid_last_error(const lucid_context* ctx) {
  return ctx ? ctx->last_error.c_str() : g_create_error.c_str();
}

const char* lucid_context_model_id(const lucid_context* ctx) {
  return ctx && ctx->model ? ctx->model->model_id.c_str() : "";
}

lucid_status lucid_context_set_option(lucid_context* ctx, lucid_option option, int64_t value) {
  return guarded(ctx, [&] {
    auto bad = [&](const char* what) {
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT, what);
    };
    switch (option) {
      case LUCID_OPT_THREADS:
        if (value < 1 || value > 256) bad("LUCID_OPT_THREADS must be in 1..256");
        ctx->opts.threads = static_cast<int>(value);
        break;
      case LUCID_OPT_MAX_PIXELS:
        if (value < 1 || static_cast<uint64_t>(value) > kMaxPixels)
          bad("LUCID_OPT_MAX_PIXELS must be in 1..2^28");
        ctx->opts.max_pixels = static_cast<uint64_t>(value);
        break;
      case LUCID_OPT_TILE:
        if (value < 256 || value > 4096) bad("LUCID_OPT_TILE must be in 256..4096");
        ctx->opts.tile = static_cast<int>(value);
        break;
      case LUCID_OPT_JPEG_CONSTRAINT:
        if (value != 0 && value != 1) bad("LUCID_OPT_JPEG_CONSTRAINT must be 0 or 1");
        ctx->restore.constraint = value == 1;
        break;
      case LUCID_OPT_JPEG_QF:
        if (value < 0 || value > 100) bad("LUCID_OPT_JPEG_QF must be in 0..100");
        ctx->restore.qf = static_cast<int>(value);
        break;
      case LUCID_OPT_EFFORT:
        if (value < 1 || value > 9) bad("LUCID_OPT_EFFORT must be in 1..9");
        ctx->opts.effort = static_cast<int>(value);
        break;
      default:
        bad("unknown option");
    }
  });
}

lucid_status lucid_context_set_progress(lucid_context* ctx, lucid_progress_fn fn,
                                        void* user_data) {
  return guarded(ctx, [&] {
    if (!fn) {
      ctx->opts.progress = nullptr;
      return;
    }
    ctx->opts.progress = [fn, user_data](uint64_t done, uint64_t total) {
      return fn(user_data, done, total) == 0;
    };
  });
}

lucid_status lucid_encode_image(lucid_context* ctx, const uint8_t* rgb, uint32_t width,
                                uint32_t height, size_t stride, float quality, uint8_t** out,
                                size_t* out_size) {
  return guarded(ctx, [&] {
    if (!rgb || !out || !out_size)
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT, "NULL argument");
    *out = nullptr;
    *out_size = 0;
    const codec::ImageCodec& c = codec_of(ctx);
    if (!(quality >= 1.0f && quality <= 100.0f))
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT,
                     "quality must be in [1, 100]");
    auto bytes = c.encode(rgb, width, height, stride, (quality - 1.0) / 99.0, ctx->opts);
    *out = copy_out(bytes);
    *out_size = bytes.size();
  });
}

lucid_status lucid_encode_image_to_size(lucid_context* ctx, const uint8_t* rgb, uint32_t width,
                                        uint32_t height, size_t stride, size_t max_bytes,
                                        uint8_t** out, size_t* out_size, float* quality_out) {
  return guarded(ctx, [&] {
    if (!rgb || !out || !out_size)
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT, "NULL argument");
    *out = nullptr;
    *out_size = 0;
    double q01 = 0;
    auto bytes = codec_of(ctx).encode_to_size(rgb, width, height, stride, max_bytes, ctx->opts, &q01);
    *out = copy_out(bytes);
    *out_size = bytes.size();
    if (quality_out) *quality_out = static_cast<float>(1.0 + 99.0 * q01);
  });
}

lucid_status lucid_decode_image(lucid_context* ctx, const uint8_t* data, size_t size,
                                uint8_t** rgb, uint32_t* width, uint32_t* height) {
  return guarded(ctx, [&] {
    if ((!data && size) || !rgb || !width || !height)
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT, "NULL argument");
    *rgb = nullptr;
    *width = *height = 0;
    auto img = codec_of(ctx).decode(data, size, ctx->opts);
    *rgb = copy_out(img.rgb);
    *width = img.width;
    *height = img.height;
  });
}

lucid_status lucid_stream_get_info(const uint8_t* data, size_t size, lucid_stream_info* info) {
  if (!data || !info) return LUCID_ERROR_INVALID_ARGUMENT;
  try {
    lucid::entropy::Container c;
    const auto st = lucid::entropy::parse(data, size, &c, nullptr);
    switch (st) {
      case lucid::entropy::ParseStatus::kOk: break;
      case lucid::entropy::ParseStatus::kUnsupportedVersion: return LUCID_ERROR_UNSUPPORTED_VERSION;
      case lucid::entropy::ParseStatus::kTruncated: return LUCID_ERROR_TRUNCATED;
      case lucid::entropy::ParseStatus::kHeaderCrcMismatch:
      case lucid::entropy::ParseStatus::kChunkCrcMismatch:
      case lucid::entropy::ParseStatus::kInconsistentLength: return LUCID_ERROR_CORRUPT;
      default: return LUCID_ERROR_BAD_STREAM;
    }
    std::memset(info, 0, sizeof *info);
    info->width = c.header.width;
    info->height = c.header.height;
    info->quality = 1.0f + 99.0f * c.header.quality;
    std::memcpy(info->model_id, c.header.model_id.data(),
                std::min<size_t>(64, c.header.model_id.size()));
    std::memcpy(info->weight_hash, c.header.weight_hash.data(), 8);
    return LUCID_OK;
  } catch (...) {
    return LUCID_ERROR_INTERNAL;
  }
}

void lucid_restore_info_init(lucid_restore_info* info) {
  if (!info) return;
  std::memset(info, 0, sizeof *info);
  info->struct_size = sizeof *info;
}

lucid_status lucid_restore_jpeg_ex(lucid_context* ctx, const uint8_t* jpeg, size_t size,
                                   uint8_t** rgb, lucid_restore_info* info) {
  return guarded(ctx, [&] {
    if (!jpeg || !rgb) throw ApiError(LUCID_ERROR_INVALID_ARGUMENT, "NULL argument");
    *rgb = nullptr;
    check_info(info);
    const rs::JpegRestorer& r = restorer_of(ctx);
    auto img = r.restore_jpeg(jpeg, size, restore_options(*ctx), ctx->restore.qf);
    *rgb = copy_out(img.rgb);
    fill_info(info, img);
  });
}

lucid_status lucid_restore_jpeg(lucid_context* ctx, const uint8_t* jpeg, size_t size,
                                uint8_t** rgb, uint32_t* width, uint32_t* height) {
  if (!width || !height) {
    if (ctx) ctx->last_error = "NULL argument";
    return LUCID_ERROR_INVALID_ARGUMENT;
  }
  *width = *height = 0;
  lucid_restore_info info;
  lucid_restore_info_init(&info);
  const lucid_status s = lucid_restore_jpeg_ex(ctx, jpeg, size, rgb, &info);
  if (s == LUCID_OK) {
    *width = info.width;
    *height = info.height;
  }
  return s;
}

lucid_status lucid_restore_rgb_ex(lucid_context* ctx, const uint8_t* rgb, uint32_t width,
                                  uint32_t height, size_t stride, int known_qf, uint8_t** out,
                                  lucid_restore_info* info) {
  return guarded(ctx, [&] {
    if (!rgb || !out) throw ApiError(LUCID_ERROR_INVALID_ARGUMENT, "NULL argument");
    *out = nullptr;
    check_info(info);
    const rs::JpegRestorer& r = restorer_of(ctx);
    if (known_qf < 0 || known_qf > 100)
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT, "known_qf must be 0 (unknown) or in [1, 100]");
    if (width == 0 || height == 0 || width > kMaxSide || height > kMaxSide)
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT, "width and height must be in 1..65535");
    auto img = r.restore(rgb, static_cast<int>(width), static_cast<int>(height), stride, known_qf,
                         restore_options(*ctx));
    *out = copy_out(img.rgb);
    fill_info(info, img);
  });
}

lucid_status lucid_restore_rgb(lucid_context* ctx, const uint8_t* rgb, uint32_t width,
                               uint32_t height, size_t stride, int known_qf, uint8_t** out) {
  return lucid_restore_rgb_ex(ctx, rgb, width, height, stride, known_qf, out, nullptr);
}

// ---- Video restoration stream ---------------------------------------------------------

void lucid_video_stream_params_init(lucid_video_stream_params* params) {
  if (!params) return;
  std::memset(params, 0, sizeof *params);
  params->struct_size = sizeof *params;
  params->tile = 0;
  params->max_pixels = kMaxVideoPixels;
}

void lucid_video_frame_init(lucid_video_frame* frame) {
  if (!frame) return;
  std::memset(frame, 0, sizeof *frame);
  frame->struct_size = sizeof *frame;
  frame->bit_depth = 8;
  frame->chroma_shift_w = frame->chroma_shift_h = 1;
  frame->qp_scale = LUCID_QP_NONE;
  frame->index = -1;
}

lucid_status lucid_video_stream_create(lucid_model* model, const lucid_video_stream_params* params,
                                       lucid_video_stream** out) {
  g_create_error.clear();
  if (out) *out = nullptr;
  return guarded_into(g_create_error, [&] {
    if (!model || !model->loaded || !out) throw ApiError(LUCID_ERROR_INVALID_ARGUMENT, "NULL argument");
    if (!model->loaded->video)
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT,
                     std::string("lucid_video_stream_create: the model is ") +
                         kind_name(model->loaded->kind) + ", not a video restorer (LUCID_MODEL_VIDEO_RESTORER)");
    lucid_video_stream_params p;
    lucid_video_stream_params_init(&p);
    if (params) {
      if (params->struct_size < sizeof(uint32_t) || params->struct_size > (1u << 16))
        throw ApiError(LUCID_ERROR_INVALID_ARGUMENT,
                       "lucid_video_stream_params.struct_size is not set (call lucid_video_stream_params_init)");
      std::memcpy(&p, params, std::min<size_t>(params->struct_size, sizeof p));
      p.struct_size = sizeof p;
    }
    if (p.tile != 0 && (p.tile < 16 || p.tile > 65536))
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT, "lucid_video_stream_params.tile must be 0 or in 16..65536");
    if (p.max_pixels < 1 || p.max_pixels > kMaxVideoPixels)
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT,
                     "lucid_video_stream_params.max_pixels must be in 1.." + std::to_string(kMaxVideoPixels));
    auto st = std::make_unique<lucid_video_stream>();
    st->model = model->loaded;
    st->max_pixels = p.max_pixels;
    st->options.tile = p.tile == 0 ? -1 : p.tile;  // 0: the restorer's preferred tile
    *out = st.release();
  });
}

void lucid_video_stream_destroy(lucid_video_stream* stream) { delete stream; }

const char* lucid_video_stream_last_error(const lucid_video_stream* stream) {
  return stream ? stream->last_error.c_str() : g_create_error.c_str();
}

lucid_status lucid_video_stream_push(lucid_video_stream* stream, const lucid_video_frame* frame) {
  if (!stream) return LUCID_ERROR_INVALID_ARGUMENT;
  return guarded_into(stream->last_error, [&] {
    auto bad = [](const std::string& why) { throw ApiError(LUCID_ERROR_INVALID_ARGUMENT, why); };
    if (!frame) bad("lucid_video_stream_push: NULL frame");
    if (stream->broken) bad("lucid_video_stream_push: the stream failed earlier; destroy it");
    if (frame->struct_size < offsetof(lucid_video_frame, index) || frame->struct_size > (1u << 16))
      bad("lucid_video_frame.struct_size is not set (call lucid_video_frame_init)");
    lucid_video_frame f;
    lucid_video_frame_init(&f);
    std::memcpy(&f, frame, std::min<size_t>(frame->struct_size, sizeof f));
    if (stream->flushed) bad("lucid_video_stream_push: the stream was flushed; no more frames");
    if (!stream->ready.empty())
      bad("lucid_video_stream_push: a restored frame waits: pull it first "
          "(lucid_video_stream_pull until LUCID_NEED_MORE_INPUT after every push)");
    const std::string which = "frame " + std::to_string(stream->next_index) + ": ";
    if (f.width < 1 || f.height < 1 || f.width > kMaxVideoSide || f.height > kMaxVideoSide)
      bad(which + "width and height must be in 1.." + std::to_string(kMaxVideoSide));
    if (uint64_t{f.width} * f.height > stream->max_pixels)
      throw ApiError(LUCID_ERROR_LIMIT_EXCEEDED, which + std::to_string(f.width) + "x" + std::to_string(f.height) +
                                                     " exceeds the stream's max_pixels " +
                                                     std::to_string(stream->max_pixels));
    if (f.bit_depth < 8 || f.bit_depth > 12) bad(which + "bit_depth must be in 8..12");
    const bool sub_ok = (f.chroma_shift_w == 1 && f.chroma_shift_h == 1) ||
                        (f.chroma_shift_w == 1 && f.chroma_shift_h == 0) ||
                        (f.chroma_shift_w == 0 && f.chroma_shift_h == 0);
    if (!sub_ok) bad(which + "chroma shifts must be 1,1 (4:2:0), 1,0 (4:2:2) or 0,0 (4:4:4)");
    const vr::PlaneFormat pf{static_cast<int>(f.width), static_cast<int>(f.height), f.bit_depth, f.chroma_shift_w,
                             f.chroma_shift_h};
    for (int p = 0; p < 3; ++p) {
      const ptrdiff_t row = static_cast<ptrdiff_t>(pf.plane_width(p)) * pf.bytes_per_sample();
      if (!f.planes[p]) bad(which + "plane " + std::to_string(p) + " is NULL");
      if (f.strides[p] < row || f.strides[p] > (ptrdiff_t{1} << 24))
        bad(which + "strides[" + std::to_string(p) + "] = " + std::to_string(f.strides[p]) + " is below the row's " +
            std::to_string(row) + " bytes (or absurd)");
    }
    std::optional<double> qp;
    switch (f.qp_scale) {
      case LUCID_QP_NONE: break;
      case LUCID_QP_HEVC:
      case LUCID_QP_H264: {
        const double lo = -6.0 * (f.bit_depth - 8);
        if (!(f.qp >= lo && f.qp <= 51)) bad(which + "qp " + std::to_string(f.qp) + " outside the luma QP range");
        qp = f.qp;
        break;
      }
      case LUCID_QP_AV1:
      case LUCID_QP_VP9:
        if (!(f.qp >= 0 && f.qp <= 255)) bad(which + "qp " + std::to_string(f.qp) + " outside base_q_idx 0..255");
        qp = f.qp;
        break;
      case LUCID_QP_MPEG2:
        if (!(f.qp >= 1 && f.qp <= 112)) bad(which + "qp " + std::to_string(f.qp) + " outside quantiser_scale 1..112");
        qp = f.qp;
        break;
      default: bad(which + "unknown qp_scale " + std::to_string(static_cast<int>(f.qp_scale)));
    }
    if (stream->have_format && !(pf == stream->format))
      bad(which + "the size or format changes (" + std::to_string(stream->format.width) + "x" +
          std::to_string(stream->format.height) + " " + std::to_string(stream->format.bit_depth) + "-bit -> " +
          std::to_string(pf.width) + "x" + std::to_string(pf.height) + " " + std::to_string(pf.bit_depth) +
          "-bit or other subsampling): flush this stream and start a new one");
    if (stream->have_format && qp && f.qp_scale != stream->qp_scale)
      bad(which + "qp_scale " + std::to_string(static_cast<int>(f.qp_scale)) + " differs from the stream's " +
          std::to_string(static_cast<int>(stream->qp_scale)) +
          " (the first frame fixes it; later frames carry it or LUCID_QP_NONE)");
    // The codec behind each lucid_qp_scale (FFmpeg's short names), for the restorer's scale.
    static const char* const kCodecOf[] = {"", "hevc", "h264", "av1", "vp9", "mpeg2video"};
    const char* codec = kCodecOf[static_cast<int>(f.qp_scale)];
    if (!stream->pipeline) {
      // The stream's restorer, made for its codec's QP scale.
      stream->restorer = stream->model->video->make_stream_restorer(codec);
      lucid_video_stream* raw = stream;
      stream->pipeline = std::make_unique<vr::RestorePipeline>(
          *stream->restorer, stream->options, [raw](const vr::Frame& fr) { raw->ready.push_back(fr); });
    }

    vr::Frame fr = vr::Frame::blank(pf);
    for (int p = 0; p < 3; ++p) {
      const size_t row = static_cast<size_t>(pf.plane_width(p)) * pf.bytes_per_sample();
      for (int y = 0; y < pf.plane_height(p); ++y)
        std::memcpy(fr.row(p, y), f.planes[p] + static_cast<ptrdiff_t>(y) * f.strides[p], row);
    }
    fr.index = stream->next_index;
    fr.pts = f.pts;
    fr.qp = qp;
    fr.qp_scale = qp ? vr::qp_scale_for_codec(codec) : vr::QpScale::kUnknown;
    try {
      stream->pipeline->push(std::move(fr));
    } catch (...) {
      stream->broken = true;
      throw;
    }
    if (!stream->have_format) stream->qp_scale = f.qp_scale;
    stream->have_format = true;
    stream->format = pf;
    ++stream->next_index;
  });
}

lucid_status lucid_video_stream_flush(lucid_video_stream* stream) {
  if (!stream) return LUCID_ERROR_INVALID_ARGUMENT;
  return guarded_into(stream->last_error, [&] {
    if (stream->broken) throw ApiError(LUCID_ERROR_INVALID_ARGUMENT, "lucid_video_stream_flush: the stream failed earlier; destroy it");
    if (stream->flushed) return;
    try {
      if (stream->pipeline) stream->pipeline->finish();
    } catch (...) {
      stream->broken = true;
      throw;
    }
    stream->flushed = true;
  });
}

lucid_status lucid_video_stream_pull(lucid_video_stream* stream, lucid_video_frame* out) {
  if (!stream) return LUCID_ERROR_INVALID_ARGUMENT;
  lucid_status result = LUCID_OK;
  const lucid_status s = guarded_into(stream->last_error, [&] {
    if (!out) throw ApiError(LUCID_ERROR_INVALID_ARGUMENT, "lucid_video_stream_pull: NULL frame");
    if (out->struct_size < sizeof(uint32_t) || out->struct_size > (1u << 16))
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT, "lucid_video_frame.struct_size is not set (call lucid_video_frame_init)");
    if (stream->ready.empty()) {
      result = stream->flushed ? LUCID_END_OF_STREAM : LUCID_NEED_MORE_INPUT;
      return;
    }
    stream->pulled = std::move(stream->ready.front());
    stream->ready.pop_front();
    const vr::Frame& fr = stream->pulled;
    lucid_video_frame full;
    lucid_video_frame_init(&full);
    full.width = static_cast<uint32_t>(fr.format.width);
    full.height = static_cast<uint32_t>(fr.format.height);
    full.bit_depth = fr.format.bit_depth;
    full.chroma_shift_w = fr.format.chroma_shift_w;
    full.chroma_shift_h = fr.format.chroma_shift_h;
    for (int p = 0; p < 3; ++p) {
      full.planes[p] = fr.planes[p].data();
      full.strides[p] = fr.stride(p);
    }
    full.qp = fr.qp.value_or(0.0);
    full.qp_scale = fr.qp ? stream->qp_scale : LUCID_QP_NONE;
    full.pts = fr.pts;
    full.index = fr.index;
    // Only the fields the caller's struct has room for (older callers have a shorter struct).
    const uint32_t n = std::min<uint32_t>(out->struct_size, sizeof full);
    full.struct_size = out->struct_size;
    std::memcpy(out, &full, n);
  });
  return s != LUCID_OK ? s : result;
}

void lucid_free(void* p) { std::free(p); }

}  // extern "C"
