// The C API: a thin exception-free shell over the pipelines (lucid::codec's ImageCodec and
// lucid::restoration's JpegRestorer), which know nothing of it.
#include <torch/torch.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

#include "lucid/codec/image_codec.h"
#include "lucid/entropy/container.h"
#include "lucid/lucid.h"
#include "lucid/media/limits.h"
#include "lucid/models/device.h"
#include "lucid/restoration/jpeg_restorer.h"

namespace codec = lucid::codec;
namespace rs = lucid::restoration;

// Restoration settings of a context (LUCID_OPT_JPEG_*).
struct RestoreSettings {
  bool constraint = true;  // project onto the file's constraint set + high-quality shrink
  int qf = 0;              // 1..100 overrides the file's quality factor
};

struct lucid_context {
  lucid_model_kind kind = LUCID_MODEL_CODEC;
  std::unique_ptr<codec::ImageCodec> codec;
  std::unique_ptr<rs::JpegRestorer> restorer;
  std::string model_id;
  codec::RunOptions opts;
  RestoreSettings restore;
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

// Runs fn, turning every exception into a status and the context's message.
template <typename Fn>
lucid_status guarded(lucid_context* ctx, Fn&& fn) {
  if (!ctx) return LUCID_ERROR_INVALID_ARGUMENT;
  ctx->last_error.clear();
  try {
    fn();
    return LUCID_OK;
  } catch (const ApiError& e) {
    ctx->last_error = e.what();
    return e.status();
  } catch (const codec::CodecError& e) {
    ctx->last_error = e.what();
    return static_cast<lucid_status>(e.status());
  } catch (const rs::RestoreError& e) {
    ctx->last_error = e.what();
    return status_for(e.kind());
  } catch (const std::bad_alloc&) {
    ctx->last_error = "out of memory";
    return LUCID_ERROR_OUT_OF_MEMORY;
  } catch (const c10::Error& e) {
    ctx->last_error = std::string("internal error: ") + e.what_without_backtrace();
    return LUCID_ERROR_INTERNAL;
  } catch (const std::exception& e) {
    ctx->last_error = std::string("internal error: ") + e.what();
    return LUCID_ERROR_INTERNAL;
  } catch (...) {
    ctx->last_error = "internal error: unknown exception";
    return LUCID_ERROR_INTERNAL;
  }
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

lucid_status lucid_context_create_ex(const lucid_context_params* params, lucid_context** out) {
  g_create_error.clear();
  // Callers built against an older, shorter struct get the defaults for the fields they lack.
  lucid_context_params p;
  lucid_context_params_init(&p);
  if (params) {
    if (params->struct_size < offsetof(lucid_context_params, device) ||
        params->struct_size > sizeof p) {
      g_create_error = "lucid_context_params.struct_size is not a size this library knows "
                       "(call lucid_context_params_init)";
      return LUCID_ERROR_INVALID_ARGUMENT;
    }
    std::memcpy(&p, params, params->struct_size);
  }
  const char* weights_path = p.weights_path;
  const lucid_model_kind kind = p.kind;
  if (!params || !out || (kind != LUCID_MODEL_CODEC && kind != LUCID_MODEL_RESTORE)) {
    g_create_error = "invalid argument";
    return LUCID_ERROR_INVALID_ARGUMENT;
  }
  *out = nullptr;
  std::string device;
  if (p.device == LUCID_DEVICE_CPU) {
    device = "cpu";
  } else if (p.device == LUCID_DEVICE_CUDA && p.device_index >= 0 && p.device_index < 1000) {
    device = "cuda:" + std::to_string(p.device_index);
  } else {
    g_create_error = "unknown device or device index";
    return LUCID_ERROR_INVALID_ARGUMENT;
  }
  auto ctx = std::unique_ptr<lucid_context>(new (std::nothrow) lucid_context());
  if (!ctx) return LUCID_ERROR_OUT_OF_MEMORY;
  ctx->kind = kind;
  lucid_status s = guarded(ctx.get(), [&] {
    if (kind == LUCID_MODEL_CODEC) {
      const std::string path = weights_path ? weights_path : codec::default_weights_path();
      ctx->codec = std::make_unique<codec::ImageCodec>(path, device);
      ctx->model_id = ctx->codec->model_id();
    } else {
      const std::string path = weights_path ? weights_path : rs::default_weights_path();
      ctx->restorer = std::make_unique<rs::JpegRestorer>(path, device);
      ctx->model_id = ctx->restorer->model_id();
    }
  });
  if (s != LUCID_OK) {
    g_create_error = ctx->last_error;
    return s;
  }
  *out = ctx.release();
  return LUCID_OK;
}

void lucid_context_destroy(lucid_context* ctx) { delete ctx; }

const char* lucid_last_error(const lucid_context* ctx) {
  return ctx ? ctx->last_error.c_str() : g_create_error.c_str();
}

const char* lucid_context_model_id(const lucid_context* ctx) {
  return ctx ? ctx->model_id.c_str() : "";
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
    if (!ctx->codec)
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT,
                                     "this context holds a restoration model, not a codec");
    if (!(quality >= 1.0f && quality <= 100.0f))
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT,
                                     "quality must be in [1, 100]");
    auto bytes = ctx->codec->encode(rgb, width, height, stride, (quality - 1.0) / 99.0, ctx->opts);
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
    if (!ctx->codec)
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT,
                                     "this context holds a restoration model, not a codec");
    double q01 = 0;
    auto bytes = ctx->codec->encode_to_size(rgb, width, height, stride, max_bytes, ctx->opts, &q01);
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
    if (!ctx->codec)
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT,
                                     "this context holds a restoration model, not a codec");
    auto img = ctx->codec->decode(data, size, ctx->opts);
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

lucid_status lucid_restore_jpeg(lucid_context* ctx, const uint8_t* jpeg, size_t size,
                                uint8_t** rgb, uint32_t* width, uint32_t* height) {
  return guarded(ctx, [&] {
    if (!jpeg || !rgb || !width || !height)
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT, "NULL argument");
    *rgb = nullptr;
    *width = *height = 0;
    if (!ctx->restorer)
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT,
                                     "this context holds a codec model, not a restorer");
    auto img = ctx->restorer->restore_jpeg(jpeg, size, restore_options(*ctx), ctx->restore.qf);
    *rgb = copy_out(img.rgb);
    *width = static_cast<uint32_t>(img.width);
    *height = static_cast<uint32_t>(img.height);
  });
}

lucid_status lucid_restore_rgb(lucid_context* ctx, const uint8_t* rgb, uint32_t width,
                               uint32_t height, size_t stride, int known_qf, uint8_t** out) {
  return guarded(ctx, [&] {
    if (!rgb || !out)
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT, "NULL argument");
    *out = nullptr;
    if (!ctx->restorer)
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT,
                                     "this context holds a codec model, not a restorer");
    if (known_qf < 0 || known_qf > 100)
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT,
                                     "known_qf must be 0 (unknown) or in [1, 100]");
    if (width == 0 || height == 0 || width > kMaxSide || height > kMaxSide)
      throw ApiError(LUCID_ERROR_INVALID_ARGUMENT, "width and height must be in 1..65535");
    auto img = ctx->restorer->restore(rgb, static_cast<int>(width), static_cast<int>(height),
                                      stride, known_qf, restore_options(*ctx));
    *out = copy_out(img.rgb);
  });
}

void lucid_free(void* p) { std::free(p); }

}  // extern "C"
