/* Lucid: learned image compression and restoration. C API.
 *
 * The shortest working program (error handling abbreviated):
 *
 *   #include <lucid/lucid.h>
 *   lucid_context* ctx = NULL;
 *   if (lucid_context_create(NULL, LUCID_MODEL_CODEC, &ctx) != LUCID_OK) return 1;
 *   uint8_t* bytes = NULL; size_t size = 0;
 *   lucid_status s = lucid_encode_image(ctx, rgb, width, height, width * 3, 75.0f,
 *                                       &bytes, &size);
 *   if (s != LUCID_OK) fprintf(stderr, "%s\n", lucid_last_error(ctx));
 *   uint8_t* pixels = NULL; uint32_t w = 0, h = 0;
 *   s = lucid_decode_image(ctx, bytes, size, &pixels, &w, &h);
 *   lucid_free(bytes); lucid_free(pixels);
 *   lucid_context_destroy(ctx);
 *
 * Conventions: every function returns a lucid_status; on failure the context's
 * lucid_last_error() explains why. No C++ exception and no abort() crosses this API. Memory
 * that Lucid returns is released with lucid_free(). Images are 8-bit RGB, interleaved, rows
 * `stride` bytes apart.
 *
 * Models and contexts (whisper.cpp's model/state split): a lucid_model holds loaded weights,
 * immutable and shared by any number of threads; a lucid_context is the per-call state over
 * one model (options, progress callback, last error). Several threads share one model with
 * one context each (a context is used by one thread at a time):
 *
 *   lucid_context_params p;  lucid_context_params_init(&p);   p.kind = LUCID_MODEL_CODEC;
 *   lucid_model* model = NULL;  lucid_model_load(&p, &model);   (weights loaded once)
 *   per thread:  lucid_context* ctx = NULL;  lucid_context_create_from_model(model, &ctx);
 *                ... lucid_encode_image(ctx, ...) ...;  lucid_context_destroy(ctx);
 *   lucid_model_destroy(model);   (contexts keep the weights alive until they are destroyed)
 *
 * lucid_context_create() and lucid_context_create_ex() load a model and make one context over
 * it in one call (a context that owns its weights). LibTorch's thread count is process-wide:
 * set LUCID_OPT_THREADS to the same value on contexts used concurrently.
 */
#ifndef LUCID_LUCID_H_
#define LUCID_LUCID_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LUCID_API __attribute__((visibility("default")))
#else
#define LUCID_API
#endif

/* Version of this header (the library's own: lucid_version_number(), lucid_version()). */
#define LUCID_VERSION_MAJOR 0
#define LUCID_VERSION_MINOR 1
#define LUCID_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH, e.g. 100 for 0.1.0: compare with #if. */
#define LUCID_VERSION_NUMBER \
  (LUCID_VERSION_MAJOR * 10000 + LUCID_VERSION_MINOR * 100 + LUCID_VERSION_PATCH)

/* Stable and append-only: values never change meaning. */
typedef enum lucid_status {
  LUCID_OK = 0,
  LUCID_ERROR_INVALID_ARGUMENT = 1, /* NULL pointer, bad size, quality out of range, ... */
  LUCID_ERROR_OUT_OF_MEMORY = 2,
  LUCID_ERROR_LIMIT_EXCEEDED = 3,   /* image larger than the context's limits */
  LUCID_ERROR_MODEL = 4,            /* weight file missing, corrupt or of the wrong kind */
  LUCID_ERROR_MODEL_MISMATCH = 5,   /* stream made with other weights than the context's */
  LUCID_ERROR_BAD_STREAM = 6,       /* not a .lucid stream, bad magic, bad fields */
  LUCID_ERROR_UNSUPPORTED_VERSION = 7,
  LUCID_ERROR_TRUNCATED = 8,
  LUCID_ERROR_CORRUPT = 9,          /* CRC mismatch, entropy decoding failure */
  LUCID_ERROR_CHECKSUM_MISMATCH = 10, /* decoded latents differ from the encoder's */
  LUCID_ERROR_ABORTED = 11,         /* the progress callback asked to stop */
  LUCID_ERROR_DEVICE = 12,          /* requested device unavailable */
  LUCID_ERROR_BAD_IMAGE = 13,       /* input image (e.g. JPEG) unreadable or unsupported */
  LUCID_ERROR_INTERNAL = 14,
  /* Not errors: the video stream's pull has no restored frame for you yet. */
  LUCID_NEED_MORE_INPUT = 15,       /* push more frames (or flush) first */
  LUCID_END_OF_STREAM = 16          /* flushed, and every restored frame has been pulled */
} lucid_status;

typedef enum lucid_model_kind {
  LUCID_MODEL_CODEC = 1,         /* learned image codec (encode/decode) */
  LUCID_MODEL_RESTORE = 2,       /* JPEG artifact removal */
  LUCID_MODEL_VIDEO_RESTORER = 3 /* compressed-video restoration (lucid_video_stream_*) */
} lucid_model_kind;

/* Options, set with lucid_context_set_option(). Range and default in each comment. */
typedef enum lucid_option {
  LUCID_OPT_THREADS = 1,    /* intra-op CPU threads, 1..256; default 2 */
  LUCID_OPT_MAX_PIXELS = 2, /* largest accepted width*height, 1..2^28; default 2^28 */
  LUCID_OPT_TILE = 3,       /* tile side in pixels for large images, 256..4096; default 1024 */
  /* restoration: 1 keeps the result consistent with the input: lucid_restore_jpeg projects it
   * onto the file's quantized DCT coefficients (quantization constraint set), and above
   * quality 75 both calls keep only part of the network's change (all of it at 75, 55% at 95);
   * 0 returns the network output as is; default 1 */
  LUCID_OPT_JPEG_CONSTRAINT = 4,
  /* lucid_restore_jpeg: quality factor the restorer assumes, 1..100, or 0 to read it from the
   * file's quantization tables; default 0 */
  LUCID_OPT_JPEG_QF = 5,
  /* encoder effort, 1..9 (higher is slower and smaller for the same quality: above 1 the
   * encoder refines the latents for this image's rate-distortion cost; decoding and the
   * bitstream are the same at every effort); default 1 */
  LUCID_OPT_EFFORT = 6
} lucid_option;

/* Where a context runs its models. The entropy-parameter path of the codec always runs on
 * the CPU in a fixed order, so a stream encoded on one device decodes on any other. */
typedef enum lucid_device {
  LUCID_DEVICE_CPU = 0,
  LUCID_DEVICE_CUDA = 1
} lucid_device;

/* Creation parameters. Size-prefixed: call lucid_context_params_init() first, then set the
 * fields you need; fields added in later versions keep their defaults for older callers. */
typedef struct lucid_context_params {
  uint32_t struct_size;     /* sizeof(lucid_context_params); set by lucid_context_params_init */
  lucid_model_kind kind;    /* default LUCID_MODEL_CODEC */
  const char* weights_path; /* NULL: the default model of `kind` */
  lucid_device device;      /* default LUCID_DEVICE_CPU */
  int32_t device_index;     /* CUDA ordinal, 0.. ; default 0 */
} lucid_context_params;

typedef struct lucid_model lucid_model;
typedef struct lucid_context lucid_context;

/* Called with done/total work units; return non-zero to abort (LUCID_ERROR_ABORTED). */
typedef int (*lucid_progress_fn)(void* user_data, uint64_t done, uint64_t total);

LUCID_API const char* lucid_version(void);
/* LUCID_VERSION_NUMBER of the library (may differ from the header's a program was built with). */
LUCID_API uint32_t lucid_version_number(void);
/* Build details: Lucid version, LibTorch version, devices. */
LUCID_API const char* lucid_build_info(void);
LUCID_API const char* lucid_status_str(lucid_status status);

/* Loads weights on the CPU. `weights_path` NULL selects the default model of `kind` (from
 * the LUCID_MODEL_DIR environment variable, else the installed model folder). Same as
 * lucid_context_create_ex with the default parameters. */
LUCID_API lucid_status lucid_context_create(const char* weights_path, lucid_model_kind kind,
                                            lucid_context** out);
/* Fills `params` with the defaults (CPU, codec, default weights). */
LUCID_API void lucid_context_params_init(lucid_context_params* params);
/* Creates a context on the device of `params`. A CUDA device that is not present (no GPU, or
 * a CPU-only build) fails with LUCID_ERROR_DEVICE, never a silent fallback to the CPU. */
LUCID_API lucid_status lucid_context_create_ex(const lucid_context_params* params,
                                               lucid_context** out);
/* Loads weights (kind, weights_path, device of `params`, which must not be NULL) into a model
 * handle, immutable and shareable across threads. On failure *out is NULL and
 * lucid_last_error(NULL) explains (LUCID_ERROR_MODEL, LUCID_ERROR_DEVICE, ...). */
LUCID_API lucid_status lucid_model_load(const lucid_context_params* params, lucid_model** out);
/* NULL-safe. Contexts made from the model keep its weights alive until they are destroyed. */
LUCID_API void lucid_model_destroy(lucid_model* model);
/* Stable model id (e.g. "fat-small") of the loaded weights; "" for NULL. */
LUCID_API const char* lucid_model_id(const lucid_model* model);
LUCID_API lucid_model_kind lucid_model_get_kind(const lucid_model* model);
/* Per-call state over a loaded model: cheap (no weights are copied). Options start at their
 * defaults. Fails only for a NULL argument or out of memory (message in lucid_last_error(NULL)). */
LUCID_API lucid_status lucid_context_create_from_model(lucid_model* model, lucid_context** out);
/* Number of usable CUDA devices: 0 without a GPU or in a CPU-only build. */
LUCID_API int lucid_cuda_device_count(void);
LUCID_API void lucid_context_destroy(lucid_context* ctx); /* NULL-safe */
/* The last error message of this context ("" if none). Valid until the next call on ctx.
 * With a NULL ctx (creation failed), the message of the last failed lucid_context_create,
 * lucid_model_load or lucid_video_stream_create on this thread. */
LUCID_API const char* lucid_last_error(const lucid_context* ctx);
LUCID_API lucid_status lucid_context_set_option(lucid_context* ctx, lucid_option option,
                                                int64_t value);
LUCID_API lucid_status lucid_context_set_progress(lucid_context* ctx, lucid_progress_fn fn,
                                                  void* user_data);
/* Stable model id (e.g. "fat-small") of the loaded weights. */
LUCID_API const char* lucid_context_model_id(const lucid_context* ctx);

/* ---- Learned image codec --------------------------------------------------------------- */

/* Encodes an RGB image at `quality` in [1, 100] (continuous; higher = more bits). */
LUCID_API lucid_status lucid_encode_image(lucid_context* ctx, const uint8_t* rgb, uint32_t width,
                                          uint32_t height, size_t stride, float quality,
                                          uint8_t** out, size_t* out_size);
/* Encodes at the highest quality whose stream fits in `max_bytes` (header included), found by
 * bisection; `quality_out` (may be NULL) receives that quality in [1, 100]. Fails with
 * LUCID_ERROR_INVALID_ARGUMENT if even quality 1 does not fit. */
LUCID_API lucid_status lucid_encode_image_to_size(lucid_context* ctx, const uint8_t* rgb,
                                                  uint32_t width, uint32_t height, size_t stride,
                                                  size_t max_bytes, uint8_t** out,
                                                  size_t* out_size, float* quality_out);
/* Decodes a .lucid stream into a newly allocated RGB buffer (stride = width * 3). */
LUCID_API lucid_status lucid_decode_image(lucid_context* ctx, const uint8_t* data, size_t size,
                                          uint8_t** rgb, uint32_t* width, uint32_t* height);

typedef struct lucid_stream_info {
  uint32_t width;
  uint32_t height;
  float quality;      /* 1..100 */
  char model_id[65];  /* NUL-terminated */
  uint8_t weight_hash[8];
} lucid_stream_info;
/* Parses and validates a stream's header and chunk table without decoding it. */
LUCID_API lucid_status lucid_stream_get_info(const uint8_t* data, size_t size,
                                             lucid_stream_info* info);

/* ---- JPEG artifact removal ------------------------------------------------------------- */

/* Where the quality factor given to the restorer came from. Append-only. */
typedef enum lucid_quality_source {
  LUCID_QUALITY_FROM_USER = 1,           /* LUCID_OPT_JPEG_QF or lucid_restore_rgb's known_qf */
  LUCID_QUALITY_FROM_FILE_TABLES = 2,    /* the file's tables are IJG tables of that quality */
  LUCID_QUALITY_FROM_FILE_ESTIMATE = 3,  /* the file's tables fitted to the nearest IJG quality */
  LUCID_QUALITY_FROM_MODEL = 4           /* no usable tables: the model's (CaVE's) estimate */
} lucid_quality_source;

/* What a restoration did. Size-prefixed: call lucid_restore_info_init() first; a library
 * newer than the caller writes only the fields the caller's struct_size covers. */
typedef struct lucid_restore_info {
  uint32_t struct_size;  /* sizeof(lucid_restore_info); set by lucid_restore_info_init */
  uint32_t width;
  uint32_t height;
  int32_t quality;       /* quality factor the restorer was given, 1..100 */
  lucid_quality_source quality_source;
  float model_quality;   /* the model's own quality estimate, 1..100 (for information) */
  int32_t constrained;   /* 1: projected onto the JPEG file's quantization constraint set */
  int32_t tiles;         /* tiles the image was restored in */
  int32_t gray;          /* 1: a grayscale JPEG; the output is gray too (R = G = B) */
} lucid_restore_info;
LUCID_API void lucid_restore_info_init(lucid_restore_info* info);

/* lucid_restore_jpeg with its metadata: `info` (may be NULL) receives the size, the quality
 * factor used and its source, and whether the projection was applied. Output stride =
 * width * 3. */
LUCID_API lucid_status lucid_restore_jpeg_ex(lucid_context* ctx, const uint8_t* jpeg, size_t size,
                                             uint8_t** rgb, lucid_restore_info* info);
/* lucid_restore_rgb with its metadata (`info` may be NULL; constrained is always 0 here). */
LUCID_API lucid_status lucid_restore_rgb_ex(lucid_context* ctx, const uint8_t* rgb,
                                            uint32_t width, uint32_t height, size_t stride,
                                            int known_qf, uint8_t** out,
                                            lucid_restore_info* info);

/* Restores a JPEG file's image (bytes in, RGB out). The quality factor is read from the
 * file's quantization tables (unless LUCID_OPT_JPEG_QF sets it), and the result is kept
 * consistent with the file's quantized coefficients (unless LUCID_OPT_JPEG_CONSTRAINT is 0). */
LUCID_API lucid_status lucid_restore_jpeg(lucid_context* ctx, const uint8_t* jpeg, size_t size,
                                          uint8_t** rgb, uint32_t* width, uint32_t* height);
/* Restores decoded RGB pixels of a JPEG-compressed image. `known_qf` in [1, 100], or 0 to let
 * the model estimate it. Output stride = width * 3. */
LUCID_API lucid_status lucid_restore_rgb(lucid_context* ctx, const uint8_t* rgb, uint32_t width,
                                         uint32_t height, size_t stride, int known_qf,
                                         uint8_t** out);

/* ---- Compressed-video restoration: a streaming restorer ---------------------------------
 *
 * For applications with their own demuxer and decoder (no libavformat needed): push decoded
 * frames in display order, pull restored frames in the same order, flush at the end.
 *
 *   lucid_context_params mp;  lucid_context_params_init(&mp);
 *   mp.kind = LUCID_MODEL_VIDEO_RESTORER;           (weights_path NULL: the default restorer)
 *   lucid_model* model = NULL;  lucid_model_load(&mp, &model);     (shareable across threads)
 *   lucid_video_stream* vs = NULL;  lucid_video_stream_create(model, NULL, &vs);
 *   for each decoded frame:  lucid_video_stream_push(vs, &frame);
 *                            while (lucid_video_stream_pull(vs, &out) == LUCID_OK) use(&out);
 *   lucid_video_stream_flush(vs);
 *   while (lucid_video_stream_pull(vs, &out) == LUCID_OK) use(&out);   (then LUCID_END_OF_STREAM)
 *   lucid_video_stream_destroy(vs);  lucid_model_destroy(model);
 *
 * Frames are planar YUV at their native bit depth (1 byte per sample at 8 bits, 2 bytes, native
 * endian, value in the low bits, from 9 to 12), 4:2:0, 4:2:2 or 4:4:4, as the decoder made them.
 * The restorer holds the few neighbouring frames it needs (its temporal window), so a pull
 * returns LUCID_NEED_MORE_INPUT until enough frames are in; push refuses a frame while a
 * restored one waits to be pulled (pull until LUCID_NEED_MORE_INPUT after every push), so a
 * stream holds a bounded number of frames whatever the clip's length. All frames of a stream
 * share one size and format (a change: flush, destroy, create a new stream), and the first
 * frame's qp_scale is the stream's (the restorer is made for that codec): later frames carry it
 * or LUCID_QP_NONE.
 *
 * With weights_path NULL the restorer is the pass-through ("identity": output = input, bit for
 * bit), the default until the trained network meets its quality targets; a DiQP weight file
 * (models/weights/diqp-small.lucidw, installed beside the others) gives the QP-aware network
 * behind the same calls. A stream is used by one thread at a time;
 * any number of streams, on any threads, may share one model. */
typedef struct lucid_video_stream lucid_video_stream;

/* The scale of a frame's QP, as the codec defines it (the restorer is told both). Append-only. */
typedef enum lucid_qp_scale {
  LUCID_QP_NONE = 0,   /* no QP known for this frame (qp is ignored) */
  LUCID_QP_HEVC = 1,   /* HEVC luma QP (SliceQpY, mean over slices), -6*(bit_depth-8)..51 */
  LUCID_QP_H264 = 2,   /* H.264 luma QP, -6*(bit_depth-8)..51 */
  LUCID_QP_AV1 = 3,    /* AV1 base_q_idx, 0..255 */
  LUCID_QP_VP9 = 4,    /* VP9 base_q_idx, 0..255 */
  LUCID_QP_MPEG2 = 5   /* MPEG-2 quantiser_scale, 1..112 */
} lucid_qp_scale;

/* Stream parameters. Size-prefixed: lucid_video_stream_params_init() first. */
typedef struct lucid_video_stream_params {
  uint32_t struct_size; /* sizeof(lucid_video_stream_params); set by _init */
  int32_t tile;         /* restore in tile x tile pieces (luma pixels), 16..65536, or 0: the
                         * restorer's choice (512 for the network, whole frames for the
                         * identity); default 0 */
  uint64_t max_pixels;  /* largest accepted width*height, 1..8192*4352; default 8192*4352 */
} lucid_video_stream_params;
LUCID_API void lucid_video_stream_params_init(lucid_video_stream_params* params);

/* One frame, in (push) or out (pull). Size-prefixed: lucid_video_frame_init() first. */
typedef struct lucid_video_frame {
  uint32_t struct_size;     /* sizeof(lucid_video_frame); set by lucid_video_frame_init */
  uint32_t width, height;   /* luma size, 1..8192 */
  int32_t bit_depth;        /* 8..12 */
  int32_t chroma_shift_w;   /* log2 chroma subsampling: 1,1 = 4:2:0, 1,0 = 4:2:2, 0,0 = 4:4:4 */
  int32_t chroma_shift_h;
  const uint8_t* planes[3]; /* Y, Cb, Cr */
  ptrdiff_t strides[3];     /* bytes per row, at least the plane's width * bytes per sample */
  double qp;                /* the frame's QP on `qp_scale` (from the stream's headers) */
  lucid_qp_scale qp_scale;
  int64_t pts;              /* the caller's timestamp, returned with the restored frame */
  int64_t index;            /* pull: the frame's position in the stream from 0 (push: ignored) */
} lucid_video_frame;
LUCID_API void lucid_video_frame_init(lucid_video_frame* frame);

/* Makes a stream over a LUCID_MODEL_VIDEO_RESTORER model (params NULL: the defaults). The stream
 * keeps the model's weights alive. Errors in lucid_last_error(NULL). */
LUCID_API lucid_status lucid_video_stream_create(lucid_model* model,
                                                 const lucid_video_stream_params* params,
                                                 lucid_video_stream** out);
/* Hands one decoded frame (display order) to the stream; its planes are copied, so the caller
 * may reuse them on return. LUCID_ERROR_INVALID_ARGUMENT for a bad frame, a format change, a
 * push after flush, or while a restored frame waits to be pulled. */
LUCID_API lucid_status lucid_video_stream_push(lucid_video_stream* stream,
                                               const lucid_video_frame* frame);
/* LUCID_OK: `out` (initialised with lucid_video_frame_init) describes the next restored frame;
 * its planes belong to the stream and stay valid until the next call on it. Else
 * LUCID_NEED_MORE_INPUT (push more, or flush) or LUCID_END_OF_STREAM (all pulled after flush). */
LUCID_API lucid_status lucid_video_stream_pull(lucid_video_stream* stream, lucid_video_frame* out);
/* End of input: the last frames are restored (the window clamped at the clip's end) and can
 * be pulled. Flushing again does nothing. */
LUCID_API lucid_status lucid_video_stream_flush(lucid_video_stream* stream);
LUCID_API void lucid_video_stream_destroy(lucid_video_stream* stream); /* NULL-safe */
/* The stream's last error message ("" if none); NULL: that of lucid_last_error(NULL). */
LUCID_API const char* lucid_video_stream_last_error(const lucid_video_stream* stream);

LUCID_API void lucid_free(void* p); /* NULL-safe */

#ifdef __cplusplus
}
#endif

#endif /* LUCID_LUCID_H_ */
