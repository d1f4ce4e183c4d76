// Video file reader: libavformat demux + libavcodec decode of the best video stream, with the
// stream's format and colour tags and each decoded frame's QP and picture type.
// FFmpeg types stay out of this header so that users of the reader need no libav* headers.
//
// Per-frame QP (one scale per codec; see qp_scale()):
//   HEVC   slice headers (HevcQpParser): luma QP, mean over the picture's slices (0..51 at 8 bit)
//   AV1    frame header (Av1QpParser): base_q_idx, 0..255
//   H.264  decoder side data (AV_FRAME_DATA_VIDEO_ENC_PARAMS): luma QP, mean over macroblocks
//   VP9    decoder side data: base_q_idx (qindex 0..255)
//   MPEG-2 decoder side data: quantiser_scale as FFmpeg exports it, mean over macroblocks
//   other  none, unless ReaderOptions::qp_override is set
// The parsed QP of a packet is carried to the frame it decodes to through the decoder's
// reordered_opaque, so B-frame reordering keeps each frame with its own QP.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "lucid/media/limits.h"
#include "lucid/video/qp_parsers.h"

namespace lucid::video {

enum class VideoErrorKind {
  kOpen,         // cannot open / read / probe the file (missing, empty, not a media file)
  kNoVideo,      // no video stream
  kUnsupported,  // codec without decoder, pixel format, mid-stream format change
  kLimits,       // dimensions beyond ReaderOptions limits (checked before any allocation)
  kCorrupt,      // decode error in the stream
  kCancelled,    // the caller's cancel callback asked to stop (writer)
};

struct VideoError : std::runtime_error {
  VideoError(VideoErrorKind k, const std::string& what) : std::runtime_error(what), kind(k) {}
  VideoErrorKind kind;
};

struct ReaderOptions {
  // Untrusted-input limits, checked on the stream parameters before the decoder allocates and
  // passed to the decoder (AVCodecContext.max_pixels) for every frame. Default: 8K UHD.
  int max_width = static_cast<int>(media::kMaxVideoSide);
  int max_height = static_cast<int>(media::kMaxVideoSide);
  int64_t max_pixels = static_cast<int64_t>(media::kMaxVideoPixels);
  // A decode error ends reading with VideoError(kCorrupt, "frame N: ..."); when false the
  // error is recorded in VideoReader::errors() and decoding continues with the next packet.
  bool stop_on_error = true;
  // Replaces every frame's QP (the --qp flag).
  std::optional<double> qp_override;
  int threads = 1;  // decoder threads (0: FFmpeg chooses)
};

// One stream of the container, whatever its type.
struct ContainerStream {
  int index = 0;
  std::string type;   // video, audio, subtitle, data, attachment
  std::string codec;  // short codec name
};

struct StreamInfo {
  int index = -1;           // stream index in the container
  int stream_count = 0;     // all streams in the container
  std::vector<ContainerStream> streams;
  std::string format;       // container (e.g. "mov,mp4,m4a,3gp,3g2,mj2")
  std::string codec;        // short name (hevc, av1, h264, ...)
  std::string codec_long;
  std::string decoder;      // decoder actually used (libdav1d, hevc, ...)
  std::string profile;
  int width = 0, height = 0;
  std::string pix_fmt;
  int bit_depth = 0;
  int chroma_shift_w = 0, chroma_shift_h = 0;  // log2 subsampling: 1,1 = 4:2:0
  std::string color_range, color_primaries, color_transfer, color_matrix;
  int frame_rate_num = 0, frame_rate_den = 1;  // r_frame_rate / avg, 0 if unknown
  int time_base_num = 0, time_base_den = 1;
  int64_t container_frames = 0;  // nb_frames from the container header (0 if unknown)
  double duration_s = 0;
  std::string qp_source;  // "slice headers", "frame headers", "decoder side data", "--qp", "none"
  std::string qp_scale;   // e.g. "HEVC luma QP (0..51)"
};

// One decoded frame. Plane pointers stay valid until the next read() or the frame is destroyed.
struct VideoFrame {
  VideoFrame();
  ~VideoFrame();
  VideoFrame(VideoFrame&&) noexcept;
  VideoFrame& operator=(VideoFrame&&) noexcept;

  int64_t index = -1;      // output order, from 0
  int64_t pts = 0;         // best-effort timestamp in the stream time base (INT64_MIN: none)
  int width = 0, height = 0;
  PictType pict_type = PictType::Unknown;         // from the decoder
  std::optional<double> qp;                       // frame QP on the codec's scale
  PictType stream_pict_type = PictType::Unknown;  // from the QP parser (HEVC/AV1)
  const uint8_t* data(int plane) const;
  int stride(int plane) const;  // bytes

  struct Impl;
  std::unique_ptr<Impl> impl;
};

class VideoReader {
 public:
  // Opens path and the decoder of its best video stream. Throws VideoError.
  explicit VideoReader(const std::string& path, const ReaderOptions& options = {});
  ~VideoReader();
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  const StreamInfo& info() const;
  // Decodes the next frame in output order; false at the end. Throws VideoError.
  bool read(VideoFrame& frame);
  // Errors recorded with stop_on_error = false, and QP parser complaints ("frame N: ...").
  const std::vector<std::string>& errors() const;
  const std::vector<std::string>& warnings() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The QP scale of a codec (short FFmpeg name), as documented above.
std::string qp_scale(const std::string& codec);

}  // namespace lucid::video
