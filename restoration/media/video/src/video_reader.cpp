// FFmpeg 5.1 demux + decode with per-frame QP. See video_reader.h.
#include "lucid/video/video_reader.h"

#include <cmath>
#include <map>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libavutil/video_enc_params.h>
}

// The packet -> frame tag: AVCodecContext.reordered_opaque in FFmpeg 5.x (copied into the frame
// the packet decodes to, frame threads and libdav1d included); it was replaced by
// AV_CODEC_FLAG_COPY_OPAQUE + AVPacket/AVFrame.opaque in libavcodec 60 (FFmpeg 6.0).
#if LIBAVCODEC_VERSION_MAJOR >= 60
#define LUCID_COPY_OPAQUE 1
#else
#define LUCID_COPY_OPAQUE 0
#endif

#include "av_util.h"

namespace lucid::video {

namespace {

std::string or_unknown(const char* s) { return s ? s : "unknown"; }

PictType from_av(AVPictureType t) {
  switch (t) {
    case AV_PICTURE_TYPE_I:
    case AV_PICTURE_TYPE_SI:
      return PictType::I;
    case AV_PICTURE_TYPE_P:
    case AV_PICTURE_TYPE_SP:
      return PictType::P;
    case AV_PICTURE_TYPE_B:
    case AV_PICTURE_TYPE_BI:
      return PictType::B;
    default:
      return PictType::Unknown;
  }
}

// Pixel formats the restorer can take: planar YUV 4:2:0 / 4:2:2 / 4:4:4 at 8 or 10 bit.
bool supported_pix_fmt(AVPixelFormat f) {
  switch (f) {
    case AV_PIX_FMT_YUV420P: case AV_PIX_FMT_YUVJ420P: case AV_PIX_FMT_YUV420P10LE:
    case AV_PIX_FMT_YUV422P: case AV_PIX_FMT_YUVJ422P: case AV_PIX_FMT_YUV422P10LE:
    case AV_PIX_FMT_YUV444P: case AV_PIX_FMT_YUVJ444P: case AV_PIX_FMT_YUV444P10LE:
      return true;
    default:
      return false;
  }
}


}  // namespace

std::string qp_scale(const std::string& codec) {
  if (codec == "hevc") return "HEVC luma QP (SliceQpY, 0..51 at 8 bit; mean over slices)";
  if (codec == "av1") return "AV1 base_q_idx (0..255)";
  if (codec == "h264") return "H.264 luma QP (0..51 at 8 bit; mean over macroblocks)";
  if (codec == "vp9") return "VP9 base_q_idx (0..255)";
  if (codec == "mpeg2video") return "MPEG-2 quantiser_scale (1..112; mean over macroblocks)";
  return "none";
}

struct VideoFrame::Impl {
  av::FramePtr frame{av_frame_alloc()};
};
VideoFrame::VideoFrame() : impl(std::make_unique<Impl>()) {}
VideoFrame::~VideoFrame() = default;
VideoFrame::VideoFrame(VideoFrame&&) noexcept = default;
VideoFrame& VideoFrame::operator=(VideoFrame&&) noexcept = default;
const uint8_t* VideoFrame::data(int plane) const {
  return impl && plane >= 0 && plane < AV_NUM_DATA_POINTERS ? impl->frame->data[plane] : nullptr;
}
int VideoFrame::stride(int plane) const {
  return impl && plane >= 0 && plane < AV_NUM_DATA_POINTERS ? impl->frame->linesize[plane] : 0;
}

struct VideoReader::Impl {
  ReaderOptions opt;
  StreamInfo info;
  av::InputPtr fmt;
  av::CodecPtr dec;
  av::PacketPtr pkt{av_packet_alloc()};
  av::FramePtr frame{av_frame_alloc()};
  std::optional<HevcQpParser> hevc;
  std::optional<Av1QpParser> av1;
  bool side_data_qp = false;
  std::map<int64_t, PictureQp> packet_qp;  // packet sequence number -> parsed picture
  int64_t packet_seq = 0;
  int64_t frames_out = 0;
  int64_t packets_in = 0;
  bool draining = false;
  bool done = false;
  std::vector<std::string> errors;
  std::vector<std::string> warnings;

  [[noreturn]] void fail(VideoErrorKind k, const std::string& msg) { throw VideoError(k, msg); }

  void open(const std::string& path) {
    AVFormatContext* raw = nullptr;
    int rc = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
    if (rc < 0) fail(VideoErrorKind::kOpen, path + ": " + av::error_string(rc));
    fmt.reset(raw);
    rc = avformat_find_stream_info(fmt.get(), nullptr);
    if (rc < 0) fail(VideoErrorKind::kOpen, path + ": cannot read stream info: " + av::error_string(rc));
    info.stream_count = static_cast<int>(fmt->nb_streams);
    info.format = or_unknown(fmt->iformat ? fmt->iformat->name : nullptr);
    for (unsigned i = 0; i < fmt->nb_streams; ++i) {
      const AVCodecParameters* sp = fmt->streams[i]->codecpar;
      info.streams.push_back({static_cast<int>(i), or_unknown(av_get_media_type_string(sp->codec_type)),
                              or_unknown(avcodec_get_name(sp->codec_id))});
    }
    const AVCodec* codec = nullptr;
    const int idx = av_find_best_stream(fmt.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (idx == AVERROR_STREAM_NOT_FOUND) fail(VideoErrorKind::kNoVideo, path + ": no video stream");
    if (idx < 0 || codec == nullptr) {
      // a video stream exists but no decoder for it
      int any = -1;
      for (unsigned i = 0; i < fmt->nb_streams; ++i)
        if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) any = static_cast<int>(i);
      if (any < 0) fail(VideoErrorKind::kNoVideo, path + ": no video stream");
      fail(VideoErrorKind::kUnsupported, path + ": no decoder for the video codec " +
                                             or_unknown(avcodec_get_name(fmt->streams[any]->codecpar->codec_id)));
    }
    AVStream* st = fmt->streams[idx];
    const AVCodecParameters* par = st->codecpar;
    info.index = idx;
    info.codec = or_unknown(avcodec_get_name(par->codec_id));
    const AVCodecDescriptor* desc = avcodec_descriptor_get(par->codec_id);
    info.codec_long = desc && desc->long_name ? desc->long_name : info.codec;
    info.decoder = codec->name;
    info.width = par->width;
    info.height = par->height;
    // Limits before the decoder allocates anything.
    if (par->width <= 0 || par->height <= 0)
      fail(VideoErrorKind::kUnsupported, path + ": video stream without a frame size");
    if (par->width > opt.max_width || par->height > opt.max_height ||
        int64_t{par->width} * par->height > opt.max_pixels)
      fail(VideoErrorKind::kLimits, path + ": " + std::to_string(par->width) + "x" + std::to_string(par->height) +
                                        " exceeds the limit of " + std::to_string(opt.max_width) + "x" +
                                        std::to_string(opt.max_height) + " (" + std::to_string(opt.max_pixels) +
                                        " pixels)");
    dec.reset(avcodec_alloc_context3(codec));
    if (!dec) fail(VideoErrorKind::kOpen, "out of memory");
    rc = avcodec_parameters_to_context(dec.get(), par);
    if (rc < 0) fail(VideoErrorKind::kOpen, path + ": " + av::error_string(rc));
    dec->max_pixels = opt.max_pixels;
    // Report bitstream errors instead of concealing them silently.
    dec->err_recognition |= AV_EF_EXPLODE;
    dec->thread_count = opt.threads;
    dec->pkt_timebase = st->time_base;
#if LUCID_COPY_OPAQUE
    dec->flags |= AV_CODEC_FLAG_COPY_OPAQUE;
#endif
    AVDictionary* dopts = nullptr;
    side_data_qp = par->codec_id == AV_CODEC_ID_H264 || par->codec_id == AV_CODEC_ID_VP9 ||
                   par->codec_id == AV_CODEC_ID_MPEG2VIDEO;
    if (side_data_qp) av_dict_set(&dopts, "export_side_data", "venc_params", 0);
    rc = avcodec_open2(dec.get(), codec, &dopts);
    av_dict_free(&dopts);
    if (rc < 0) fail(VideoErrorKind::kUnsupported, path + ": cannot open the " + info.codec + " decoder: " + av::error_string(rc));

    const AVPixelFormat pf = static_cast<AVPixelFormat>(par->format);
    info.pix_fmt = or_unknown(av_get_pix_fmt_name(pf));
    if (const AVPixFmtDescriptor* pd = av_pix_fmt_desc_get(pf)) {
      info.bit_depth = pd->comp[0].depth;
      info.chroma_shift_w = pd->log2_chroma_w;
      info.chroma_shift_h = pd->log2_chroma_h;
    }
    if (pf != AV_PIX_FMT_NONE && !supported_pix_fmt(pf))
      fail(VideoErrorKind::kUnsupported, path + ": unsupported pixel format " + info.pix_fmt +
                                             " (supported: 8/10-bit planar YUV 4:2:0, 4:2:2, 4:4:4)");
    info.color_range = or_unknown(av_color_range_name(par->color_range));
    info.color_primaries = or_unknown(av_color_primaries_name(par->color_primaries));
    info.color_transfer = or_unknown(av_color_transfer_name(par->color_trc));
    info.color_matrix = or_unknown(av_color_space_name(par->color_space));
    info.profile = or_unknown(avcodec_profile_name(par->codec_id, par->profile));
    AVRational fr = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
    info.frame_rate_num = fr.num;
    info.frame_rate_den = fr.den ? fr.den : 1;
    info.time_base_num = st->time_base.num;
    info.time_base_den = st->time_base.den;
    info.container_frames = st->nb_frames;
    if (st->duration != AV_NOPTS_VALUE) info.duration_s = static_cast<double>(st->duration) * av_q2d(st->time_base);
    else if (fmt->duration != AV_NOPTS_VALUE) info.duration_s = static_cast<double>(fmt->duration) / AV_TIME_BASE;

    if (par->codec_id == AV_CODEC_ID_HEVC) {
      hevc.emplace(par->extradata, static_cast<size_t>(par->extradata_size));
      if (!hevc->extradata_error().empty()) warnings.push_back("hvcC: " + hevc->extradata_error());
      info.qp_source = "slice headers";
    } else if (par->codec_id == AV_CODEC_ID_AV1) {
      // FFmpeg's demuxers hand AV1 over in the low-overhead format (the obu demuxer converts
      // Annex-B input), so the parser reads that.
      av1.emplace(par->extradata, static_cast<size_t>(par->extradata_size), false);
      if (!av1->extradata_error().empty()) warnings.push_back("av1C: " + av1->extradata_error());
      info.qp_source = "frame headers";
    } else if (side_data_qp) {
      info.qp_source = "decoder side data";
    } else {
      info.qp_source = "none";
    }
    info.qp_scale = qp_scale(info.codec);
    if (opt.qp_override) info.qp_source = "--qp";
  }

  // Parses the packet's QP and sends it to the decoder tagged with its sequence number.
  void send(AVPacket* p) {
    if (p != nullptr) {
      const int64_t seq = packet_seq++;
      PacketQp q;
      if (hevc) q = hevc->parse_packet(p->data, static_cast<size_t>(p->size));
      else if (av1) q = av1->parse_packet(p->data, static_cast<size_t>(p->size));
      if (!q.error.empty())
        warnings.push_back("packet " + std::to_string(seq) + ": QP parser: " + q.error);
      const PictureQp* pick = nullptr;
      for (const PictureQp& pic : q.pictures) {
        // The decoder outputs the shown picture of an AV1 temporal unit; an HEVC access unit
        // has one picture (layer 0).
        if (pic.shown || pic.show_existing) pick = &pic;
        if (hevc) break;
      }
      if (pick) packet_qp[seq] = *pick;
      // Packets the decoder dropped (corrupt, or skipped leading pictures) never come out; a
      // reorder delay is at most 16 frames, so entries far behind are stale.
      while (!packet_qp.empty() && packet_qp.begin()->first < seq - 64) packet_qp.erase(packet_qp.begin());
#if LUCID_COPY_OPAQUE
      p->opaque = reinterpret_cast<void*>(static_cast<intptr_t>(seq));
#else
      dec->reordered_opaque = seq;
#endif
    }
    const int rc = avcodec_send_packet(dec.get(), p);
    if (rc < 0 && rc != AVERROR_EOF && rc != AVERROR(EAGAIN)) {
      const std::string msg = "frame " + std::to_string(frames_out) + " (packet " + std::to_string(packets_in) +
                              "): decode error: " + av::error_string(rc);
      if (opt.stop_on_error) fail(VideoErrorKind::kCorrupt, msg);
      errors.push_back(msg);
    }
  }

  void fill(VideoFrame& out) {
    AVFrame* f = frame.get();
    if (f->width != info.width || f->height != info.height) {
      fail(VideoErrorKind::kUnsupported,
           "frame " + std::to_string(frames_out) + ": resolution changed mid-stream from " + std::to_string(info.width) +
               "x" + std::to_string(info.height) + " to " + std::to_string(f->width) + "x" + std::to_string(f->height) +
               " (not supported)");
    }
    const std::string pf = or_unknown(av_get_pix_fmt_name(static_cast<AVPixelFormat>(f->format)));
    if (frames_out == 0 && info.pix_fmt == "unknown") {
      // The probe did not get as far as a pixel format: take and check the first frame's.
      const AVPixelFormat fpf = static_cast<AVPixelFormat>(f->format);
      if (!supported_pix_fmt(fpf))
        fail(VideoErrorKind::kUnsupported, "frame 0: unsupported pixel format " + pf +
                                               " (supported: 8/10-bit planar YUV 4:2:0, 4:2:2, 4:4:4)");
      info.pix_fmt = pf;
      if (const AVPixFmtDescriptor* pd = av_pix_fmt_desc_get(fpf)) {
        info.bit_depth = pd->comp[0].depth;
        info.chroma_shift_w = pd->log2_chroma_w;
        info.chroma_shift_h = pd->log2_chroma_h;
      }
    }
    if (pf != info.pix_fmt) {
      fail(VideoErrorKind::kUnsupported, "frame " + std::to_string(frames_out) + ": pixel format changed mid-stream from " +
                                             info.pix_fmt + " to " + pf + " (not supported)");
    }
    if (f->decode_error_flags != 0 || (f->flags & AV_FRAME_FLAG_CORRUPT))
      errors.push_back("frame " + std::to_string(frames_out) + ": decoded with errors (concealed)");
    out.index = frames_out++;
    out.pts = f->best_effort_timestamp == AV_NOPTS_VALUE ? INT64_MIN : f->best_effort_timestamp;
    out.width = f->width;
    out.height = f->height;
    out.pict_type = from_av(f->pict_type);
    out.qp.reset();
    out.stream_pict_type = PictType::Unknown;
    if (hevc || av1) {
#if LUCID_COPY_OPAQUE
      auto it = packet_qp.find(static_cast<int64_t>(reinterpret_cast<intptr_t>(f->opaque)));
#else
      auto it = packet_qp.find(f->reordered_opaque);
#endif
      if (it != packet_qp.end()) {
        out.qp = it->second.qp;
        out.stream_pict_type = it->second.type;
        packet_qp.erase(it);
      } else {
        warnings.push_back("frame " + std::to_string(out.index) + ": no QP parsed for its packet");
      }
    } else if (side_data_qp) {
      if (const AVFrameSideData* sd = av_frame_get_side_data(f, AV_FRAME_DATA_VIDEO_ENC_PARAMS)) {
        const auto* par = reinterpret_cast<const AVVideoEncParams*>(sd->data);
        double qp = par->qp;
        if (par->nb_blocks > 0) {
          // Mean over blocks weighted by area (H.264 / MPEG-2 give per-macroblock deltas).
          double sum = 0, area = 0;
          for (unsigned i = 0; i < par->nb_blocks; ++i) {
            const AVVideoBlockParams* b = av_video_enc_params_block(const_cast<AVVideoEncParams*>(par), i);
            const double a = double(b->w) * b->h;
            sum += a * (par->qp + b->delta_qp);
            area += a;
          }
          if (area > 0) qp = sum / area;
        }
        out.qp = qp;
      }
    }
    if (opt.qp_override) out.qp = *opt.qp_override;
    if (!out.impl) out.impl = std::make_unique<VideoFrame::Impl>();  // a moved-from frame
    av_frame_unref(out.impl->frame.get());
    av_frame_move_ref(out.impl->frame.get(), f);
  }

  bool read(VideoFrame& out) {
    while (!done) {
      int rc = avcodec_receive_frame(dec.get(), frame.get());
      if (rc == 0) {
        fill(out);
        return true;
      }
      if (rc == AVERROR_EOF) {
        done = true;
        if (info.container_frames > 0 && frames_out < info.container_frames)
          errors.push_back("frame " + std::to_string(frames_out) + ": stream ends after " + std::to_string(frames_out) +
                           " frames, the container lists " + std::to_string(info.container_frames) + " (truncated?)");
        break;
      }
      if (rc != AVERROR(EAGAIN)) {
        const std::string msg = "frame " + std::to_string(frames_out) + ": decode error: " + av::error_string(rc);
        if (opt.stop_on_error || draining) fail(VideoErrorKind::kCorrupt, msg);
        errors.push_back(msg);
        continue;
      }
      if (draining) {  // EAGAIN after flushing: nothing more will come
        done = true;
        break;
      }
      // Feed the next packet of our stream.
      for (;;) {
        rc = av_read_frame(fmt.get(), pkt.get());
        if (rc == AVERROR_EOF) {
          draining = true;
          send(nullptr);
          break;
        }
        if (rc < 0) {
          const std::string msg = "frame " + std::to_string(frames_out) + ": read error: " + av::error_string(rc);
          if (opt.stop_on_error) fail(VideoErrorKind::kCorrupt, msg);
          errors.push_back(msg);
          draining = true;
          send(nullptr);
          break;
        }
        if (pkt->stream_index != info.index) {
          av_packet_unref(pkt.get());
          continue;
        }
        send(pkt.get());
        ++packets_in;
        av_packet_unref(pkt.get());
        break;
      }
    }
    return false;
  }
};

VideoReader::VideoReader(const std::string& path, const ReaderOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->opt = options;
  impl_->open(path);
}
VideoReader::~VideoReader() = default;
const StreamInfo& VideoReader::info() const { return impl_->info; }
bool VideoReader::read(VideoFrame& frame) { return impl_->read(frame); }
const std::vector<std::string>& VideoReader::errors() const { return impl_->errors; }
const std::vector<std::string>& VideoReader::warnings() const { return impl_->warnings; }

}  // namespace lucid::video
