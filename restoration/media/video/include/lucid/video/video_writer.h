// Video encode + mux for the video restorer (FFmpeg types stay out of this header).
//
// Restored frames are written in two stages so that a long run can stop and resume:
//  1. SegmentWriter: frames -> a video-only FFV1/Matroska segment file (lossless), one per N frames.
//  2. mux_output(): the segments' video (packets copied when the output codec is FFV1, else
//     decoded and encoded once, continuously, with libx265/libsvtav1/libx264) + the input's
//     audio, subtitle, data and attachment streams copied packet for packet -> the output.
// Timestamps are the input's own (pts in the input's time base; Matroska stores milliseconds),
// so variable frame rate survives; frame rate, sample aspect ratio, colour range, primaries,
// transfer, matrix and chroma location are copied from the input's video stream, and the pixel
// format (8 or 10 bit, 4:2:0/4:2:2/4:4:4) is kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lucid/video/video_reader.h"

namespace lucid::video {

// The input's video stream parameters that the output keeps.
struct VideoFormat {
  int width = 0, height = 0;
  int pix_fmt = -1;  // AVPixelFormat
  int bit_depth = 8;
  int time_base_num = 1, time_base_den = 25;
  int frame_rate_num = 0, frame_rate_den = 1;
  int sar_num = 0, sar_den = 1;
  int color_range = 0, color_primaries = 2, color_trc = 2, color_space = 2, chroma_location = 0;
};

// Reads the video stream parameters of `path` (best video stream, as VideoReader picks it);
// the pixel format is taken from `info` (the reader may have learned it from the first frame).
VideoFormat probe_video_format(const std::string& path, const StreamInfo& info);

// One picture in the output's pixel format: 3 planes, 1 byte per sample at 8 bit, 2 (native
// endian) above.
struct RawPicture {
  const uint8_t* data[3] = {nullptr, nullptr, nullptr};
  ptrdiff_t stride[3] = {0, 0, 0};  // bytes
  int64_t pts = 0;                  // input time base
};

struct OutputOptions;

// A video-only file written frame by frame (Matroska unless the name says otherwise).
class SegmentWriter {
 public:
  // Creates `path` (Matroska, FFV1 level 3, every frame a keyframe). Throws VideoError.
  SegmentWriter(const std::string& path, const VideoFormat& format, int threads = 1);
  // The same with any output codec of OutputOptions (codec, crf/qp, encoder_params, threads;
  // the copy fields are ignored), e.g. x265 at a constant QP for `lucid-video bench`.
  SegmentWriter(const std::string& path, const VideoFormat& format, const OutputOptions& options);
  ~SegmentWriter();
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;
  void write(const RawPicture& picture);
  // Flushes the encoder and writes the trailer; without it the file is incomplete.
  void finish();
  int64_t frames() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct OutputOptions {
  std::string codec = "ffv1";  // ffv1 | x265 | svtav1 | x264
  std::optional<int> crf;      // x265/x264: crf 0..51, svtav1: 0..63
  std::optional<int> qp;       // constant QP instead of crf
  // More encoder settings, key=value pairs joined by ':', given to the encoder as its
  // x265-params, svtav1-params or x264-params (after Lucid's own; ignored for FFV1).
  std::string encoder_params;
  int threads = 1;
  // Copied streams keep the packets whose pts lies in [start, end) seconds (all when unset),
  // for --frames.
  std::optional<double> copy_start_s, copy_end_s;
  // Polled between packets; true stops mux_output with VideoError(kCancelled) (Ctrl-C).
  std::function<bool()> cancelled;
};

struct MuxReport {
  int64_t video_frames = 0;
  int copied_streams = 0;
  int64_t copied_packets = 0;
  std::vector<std::string> warnings;  // e.g. a stream Matroska cannot hold, dropped
};

// Writes `out_path` (container guessed from its name, Matroska when unknown) from the segment
// files in order and the non-video streams of `input_path`. Writes exactly `out_path`; the
// caller does the temporary-name + rename. Throws VideoError.
MuxReport mux_output(const std::vector<std::string>& segments, const std::string& input_path,
                     const VideoFormat& format, const std::string& out_path, const OutputOptions& options);

// Whether this FFmpeg build has the encoder behind an OutputOptions::codec name.
bool have_output_encoder(const std::string& codec);

}  // namespace lucid::video
