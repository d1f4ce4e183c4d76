// FFmpeg 5.1 encode + mux for the video restorer. See video_writer.h.
#include "lucid/video/video_writer.h"

#include <cstring>
#include <deque>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
}

#include "av_util.h"

namespace lucid::video {

namespace {

[[noreturn]] void fail(VideoErrorKind k, const std::string& msg) { throw VideoError(k, msg); }


av::InputPtr open_input(const std::string& path) {
  AVFormatContext* raw = nullptr;
  int rc = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (rc < 0) fail(VideoErrorKind::kOpen, path + ": " + av::error_string(rc));
  av::InputPtr in(raw);
  rc = avformat_find_stream_info(in.get(), nullptr);
  if (rc < 0) fail(VideoErrorKind::kOpen, path + ": cannot read stream info: " + av::error_string(rc));
  return in;
}

int best_video_stream(AVFormatContext* in) {
  const AVCodec* codec = nullptr;
  int idx = av_find_best_stream(in, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (idx < 0) idx = av_find_best_stream(in, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  return idx;
}

// An output file being written; closes (and leaves as is) on destruction.
struct OutputFile {
  AVFormatContext* oc = nullptr;
  std::string path;
  bool header = false;
  OutputFile(const std::string& p, const char* format_name) : path(p) {
    int rc = avformat_alloc_output_context2(&oc, nullptr, format_name, p.c_str());
    if (rc < 0 || !oc) {
      oc = nullptr;
      rc = avformat_alloc_output_context2(&oc, nullptr, "matroska", p.c_str());
    }
    if (rc < 0 || !oc) fail(VideoErrorKind::kOpen, p + ": cannot create the muxer: " + av::error_string(rc));
  }
  ~OutputFile() {
    if (oc && !(oc->oformat->flags & AVFMT_NOFILE)) avio_closep(&oc->pb);
    avformat_free_context(oc);
  }
  void open_and_write_header(AVDictionary** opts = nullptr) {
    if (!(oc->oformat->flags & AVFMT_NOFILE)) {
      const int rc = avio_open(&oc->pb, path.c_str(), AVIO_FLAG_WRITE);
      if (rc < 0) fail(VideoErrorKind::kOpen, path + ": cannot create: " + av::error_string(rc));
    }
    const int rc = avformat_write_header(oc, opts);
    if (rc < 0) fail(VideoErrorKind::kUnsupported, path + ": cannot write the header: " + av::error_string(rc));
    header = true;
  }
  void write(AVPacket* pkt) {
    const int rc = av_interleaved_write_frame(oc, pkt);
    if (rc < 0) fail(VideoErrorKind::kOpen, path + ": write error: " + av::error_string(rc));
  }
  void finish() {
    int rc = av_write_trailer(oc);
    if (rc < 0) fail(VideoErrorKind::kOpen, path + ": cannot write the trailer: " + av::error_string(rc));
    if (!(oc->oformat->flags & AVFMT_NOFILE)) {
      rc = avio_closep(&oc->pb);
      if (rc < 0) fail(VideoErrorKind::kOpen, path + ": cannot close: " + av::error_string(rc));
    }
  }
};

const char* encoder_name(const std::string& codec) {
  if (codec == "ffv1") return "ffv1";
  if (codec == "x265") return "libx265";
  if (codec == "svtav1") return "libsvtav1";
  if (codec == "x264") return "libx264";
  return nullptr;
}

// FFV1 slice count: 4 or more from 320x240 up (slice threads), and enough that no slice exceeds
// the encoder's limit (width/h * height/v * (bits + 1) * planes <= 2^27; 8K 10-bit needs 9).
// Searched in the encoder's own order of v x h grids.
int ffv1_slices(const VideoFormat& f) {
  const int min_slices = int64_t{f.width} * f.height >= 320 * 240 ? 4 : 1;
  const int64_t planes = 3;  // Y, Cb, Cr (measured: 8K 10-bit fails with 6 slices, takes 9)
  for (int v = 1; v < 32; ++v)
    for (int h = v; h < 2 * v; ++h) {
      if (h * v < min_slices || h * v > 256) continue;
      const int64_t maxw = (f.width + h - 1) / h, maxh = (f.height + v - 1) / v;
      if (maxw * maxh * (f.bit_depth + 1) * planes > (int64_t{8} << 24)) continue;
      return h * v;
    }
  return 0;  // let the encoder choose
}

av::CodecPtr open_encoder(const std::string& codec, const VideoFormat& f,
                                                        const OutputOptions& o, bool global_header) {
  const char* name = encoder_name(codec);
  if (!name) fail(VideoErrorKind::kUnsupported, "unknown output codec '" + codec + "' (ffv1, x265, svtav1, x264)");
  const AVCodec* enc = avcodec_find_encoder_by_name(name);
  if (!enc) fail(VideoErrorKind::kUnsupported, std::string("this FFmpeg has no ") + name + " encoder");
  av::CodecPtr ctx(avcodec_alloc_context3(enc));
  if (!ctx) fail(VideoErrorKind::kOpen, "out of memory");
  ctx->width = f.width;
  ctx->height = f.height;
  ctx->pix_fmt = static_cast<AVPixelFormat>(f.pix_fmt);
  ctx->time_base = AVRational{f.time_base_num, f.time_base_den};
  if (f.frame_rate_num > 0) ctx->framerate = AVRational{f.frame_rate_num, f.frame_rate_den};
  if (f.sar_num > 0) ctx->sample_aspect_ratio = AVRational{f.sar_num, f.sar_den};
  ctx->color_range = static_cast<AVColorRange>(f.color_range);
  ctx->color_primaries = static_cast<AVColorPrimaries>(f.color_primaries);
  ctx->color_trc = static_cast<AVColorTransferCharacteristic>(f.color_trc);
  ctx->colorspace = static_cast<AVColorSpace>(f.color_space);
  ctx->chroma_sample_location = static_cast<AVChromaLocation>(f.chroma_location);
  ctx->thread_count = o.threads;
  if (global_header) ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  AVDictionary* opts = nullptr;
  if (codec == "ffv1") {
    ctx->gop_size = 1;  // every frame a keyframe: segments concatenate anywhere
    // The slice count is in the FFV1 v3 header (extradata): fix it by the frame size, not by
    // the thread count, so that segments written by runs with different -j share one header.
    ctx->slices = ffv1_slices(f);
    av_dict_set(&opts, "level", "3", 0);
    av_dict_set(&opts, "slicecrc", "1", 0);
  } else {
    if (o.qp) av_dict_set_int(&opts, "qp", *o.qp, 0);
    if (o.crf) av_dict_set_int(&opts, "crf", *o.crf, 0);
    const std::string extra = o.encoder_params;
    if (codec == "x265")
      av_dict_set(&opts, "x265-params", ("log-level=error" + (extra.empty() ? "" : ":" + extra)).c_str(), 0);
    else if (!extra.empty())
      av_dict_set(&opts, codec == "svtav1" ? "svtav1-params" : "x264-params", extra.c_str(), 0);
  }
  const int rc = avcodec_open2(ctx.get(), enc, &opts);
  av_dict_free(&opts);
  if (rc < 0)
    fail(VideoErrorKind::kUnsupported, std::string("cannot open the ") + name + " encoder for " +
                                           std::to_string(f.width) + "x" + std::to_string(f.height) + " " +
                                           (av_get_pix_fmt_name(ctx->pix_fmt) ? av_get_pix_fmt_name(ctx->pix_fmt) : "?") +
                                           ": " + av::error_string(rc));
  return ctx;
}

void set_stream_format(AVStream* st, const VideoFormat& f) {
  if (f.frame_rate_num > 0) {
    st->avg_frame_rate = AVRational{f.frame_rate_num, f.frame_rate_den};
    st->r_frame_rate = st->avg_frame_rate;
  }
  if (f.sar_num > 0) st->sample_aspect_ratio = AVRational{f.sar_num, f.sar_den};
}

}  // namespace

VideoFormat probe_video_format(const std::string& path, const StreamInfo& info) {
  av::InputPtr in = open_input(path);
  const int idx = best_video_stream(in.get());
  if (idx < 0) fail(VideoErrorKind::kNoVideo, path + ": no video stream");
  const AVStream* st = in->streams[idx];
  const AVCodecParameters* par = st->codecpar;
  VideoFormat f;
  f.width = info.width > 0 ? info.width : par->width;
  f.height = info.height > 0 ? info.height : par->height;
  f.pix_fmt = av_get_pix_fmt(info.pix_fmt.c_str());
  if (f.pix_fmt == AV_PIX_FMT_NONE) f.pix_fmt = par->format;
  if (const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(f.pix_fmt)))
    f.bit_depth = d->comp[0].depth;
  f.time_base_num = st->time_base.num;
  f.time_base_den = st->time_base.den;
  const AVRational fr = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
  f.frame_rate_num = fr.num;
  f.frame_rate_den = fr.den ? fr.den : 1;
  const AVRational sar = st->sample_aspect_ratio.num > 0 ? st->sample_aspect_ratio : par->sample_aspect_ratio;
  f.sar_num = sar.num;
  f.sar_den = sar.den ? sar.den : 1;
  f.color_range = par->color_range;
  f.color_primaries = par->color_primaries;
  f.color_trc = par->color_trc;
  f.color_space = par->color_space;
  f.chroma_location = par->chroma_location;
  return f;
}

bool have_output_encoder(const std::string& codec) {
  const char* name = encoder_name(codec);
  return name && avcodec_find_encoder_by_name(name);
}

// ---------------------------------------------------------------------------------------------
struct SegmentWriter::Impl {
  VideoFormat format;
  OutputFile out;
  std::string codec;
  av::CodecPtr enc;
  AVStream* st = nullptr;
  av::PacketPtr pkt{av_packet_alloc()};
  int64_t frames = 0;
  bool finished = false;
  Impl(const std::string& path, const VideoFormat& f, const OutputOptions& o)
      : format(f), out(path, "matroska"), codec(o.codec == "ffv1" ? "FFV1" : o.codec) {
    enc = open_encoder(o.codec, f, o, out.oc->oformat->flags & AVFMT_GLOBALHEADER);
    st = avformat_new_stream(out.oc, nullptr);
    if (!st) fail(VideoErrorKind::kOpen, "out of memory");
    const int rc = avcodec_parameters_from_context(st->codecpar, enc.get());
    if (rc < 0) fail(VideoErrorKind::kOpen, path + ": " + av::error_string(rc));
    st->time_base = enc->time_base;
    set_stream_format(st, f);
    out.open_and_write_header();
  }
  void drain() {
    for (;;) {
      const int rc = avcodec_receive_packet(enc.get(), pkt.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      if (rc < 0) fail(VideoErrorKind::kCorrupt, out.path + ": " + codec + " encoder: " + av::error_string(rc));
      av_packet_rescale_ts(pkt.get(), enc->time_base, st->time_base);
      pkt->stream_index = st->index;
      out.write(pkt.get());
    }
  }
};

namespace {
OutputOptions ffv1_options(int threads) {
  OutputOptions o;
  o.codec = "ffv1";
  o.threads = threads;
  return o;
}
}  // namespace

SegmentWriter::SegmentWriter(const std::string& path, const VideoFormat& format, int threads)
    : impl_(std::make_unique<Impl>(path, format, ffv1_options(threads))) {}
SegmentWriter::SegmentWriter(const std::string& path, const VideoFormat& format, const OutputOptions& options)
    : impl_(std::make_unique<Impl>(path, format, options)) {}
SegmentWriter::~SegmentWriter() = default;
int64_t SegmentWriter::frames() const { return impl_->frames; }

void SegmentWriter::write(const RawPicture& p) {
  Impl& s = *impl_;
  av::FramePtr f(av_frame_alloc());
  f->format = s.format.pix_fmt;
  f->width = s.format.width;
  f->height = s.format.height;
  int rc = av_frame_get_buffer(f.get(), 0);
  if (rc < 0) fail(VideoErrorKind::kOpen, "out of memory for a frame");
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(s.format.pix_fmt));
  const int bps = s.format.bit_depth > 8 ? 2 : 1;
  for (int plane = 0; plane < 3; ++plane) {
    const int w = plane == 0 ? f->width : AV_CEIL_RSHIFT(f->width, d->log2_chroma_w);
    const int h = plane == 0 ? f->height : AV_CEIL_RSHIFT(f->height, d->log2_chroma_h);
    for (int y = 0; y < h; ++y)
      std::memcpy(f->data[plane] + static_cast<ptrdiff_t>(y) * f->linesize[plane],
                  p.data[plane] + y * p.stride[plane], static_cast<size_t>(w) * bps);
  }
  f->pts = p.pts;
  f->color_range = s.enc->color_range;
  f->color_primaries = s.enc->color_primaries;
  f->color_trc = s.enc->color_trc;
  f->colorspace = s.enc->colorspace;
  f->sample_aspect_ratio = s.enc->sample_aspect_ratio;
  rc = avcodec_send_frame(s.enc.get(), f.get());
  if (rc < 0) fail(VideoErrorKind::kCorrupt, s.out.path + ": " + s.codec + " encoder: " + av::error_string(rc));
  ++s.frames;
  s.drain();
}

void SegmentWriter::finish() {
  Impl& s = *impl_;
  if (s.finished) return;
  avcodec_send_frame(s.enc.get(), nullptr);
  s.drain();
  s.out.finish();
  s.finished = true;
}

// ---------------------------------------------------------------------------------------------
namespace {

// The restored video as packets for the output stream: the segments' FFV1 packets copied, or
// decoded and encoded once with the requested encoder.
class VideoPacketSource {
 public:
  VideoPacketSource(const std::vector<std::string>& segments, const VideoFormat& f, const OutputOptions& o,
                    AVCodecContext* encoder, AVStream* out_stream)
      : segments_(segments), format_(f), opt_(o), enc_(encoder), out_(out_stream) {}

  // Next packet in the output stream's time base; false at the end.
  bool next(AVPacket* pkt) {
    for (;;) {
      if (!ready_.empty()) {
        av_packet_move_ref(pkt, ready_.front().get());
        ready_.pop_front();
        return true;
      }
      if (done_) return false;
      if (!fill()) done_ = true;
    }
  }
  int64_t frames() const { return frames_; }

 private:
  // Reads more of the current segment; false when every segment and the encoder are drained.
  bool fill() {
    if (!seg_) {
      if (next_segment_ >= segments_.size()) {
        if (enc_ && !enc_flushed_) {
          avcodec_send_frame(enc_, nullptr);
          enc_flushed_ = true;
          receive_encoded();
          return true;
        }
        return false;
      }
      seg_ = open_input(segments_[next_segment_++]);
      if (seg_->nb_streams < 1 || seg_->streams[0]->codecpar->codec_type != AVMEDIA_TYPE_VIDEO)
        fail(VideoErrorKind::kCorrupt, segments_[next_segment_ - 1] + ": not a video segment");
      // Packets of every segment go out under the first one's header: they must agree.
      const AVCodecParameters* sp = seg_->streams[0]->codecpar;
      if (!enc_ && out_->codecpar->extradata_size == sp->extradata_size &&
          (sp->extradata_size == 0 || std::memcmp(out_->codecpar->extradata, sp->extradata, sp->extradata_size) == 0) &&
          out_->codecpar->width == sp->width && out_->codecpar->height == sp->height &&
          out_->codecpar->format == sp->format) {
        // same stream parameters
      } else if (!enc_) {
        fail(VideoErrorKind::kCorrupt, segments_[next_segment_ - 1] + ": segment made with other FFV1 settings than the first");
      }
      if (enc_) {
        const AVCodec* dc = avcodec_find_decoder(seg_->streams[0]->codecpar->codec_id);
        if (!dc) fail(VideoErrorKind::kUnsupported, "no FFV1 decoder");
        dec_.reset(avcodec_alloc_context3(dc));
        avcodec_parameters_to_context(dec_.get(), seg_->streams[0]->codecpar);
        dec_->pkt_timebase = seg_->streams[0]->time_base;
        dec_->thread_count = opt_.threads;
        const int rc = avcodec_open2(dec_.get(), dc, nullptr);
        if (rc < 0) fail(VideoErrorKind::kUnsupported, "cannot open the FFV1 decoder: " + av::error_string(rc));
      }
    }
    av::PacketPtr p(av_packet_alloc());
    const int rc = av_read_frame(seg_.get(), p.get());
    const AVRational seg_tb = seg_->streams[0]->time_base;
    if (rc < 0) {
      if (rc != AVERROR_EOF) fail(VideoErrorKind::kCorrupt, segments_[next_segment_ - 1] + ": " + av::error_string(rc));
      if (enc_) {
        avcodec_send_packet(dec_.get(), nullptr);
        receive_decoded(seg_tb);
        dec_.reset();
      }
      seg_.reset();
      return true;
    }
    if (p->stream_index != 0) return true;
    if (!enc_) {
      av_packet_rescale_ts(p.get(), seg_tb, out_->time_base);
      p->stream_index = out_->index;
      p->pos = -1;
      ready_.push_back(std::move(p));
      ++frames_;
      return true;
    }
    const int sr = avcodec_send_packet(dec_.get(), p.get());
    if (sr < 0) fail(VideoErrorKind::kCorrupt, segments_[next_segment_ - 1] + ": FFV1 decoder: " + av::error_string(sr));
    receive_decoded(seg_tb);
    return true;
  }

  void receive_decoded(AVRational seg_tb) {
    av::FramePtr f(av_frame_alloc());
    for (;;) {
      const int rc = avcodec_receive_frame(dec_.get(), f.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      if (rc < 0) fail(VideoErrorKind::kCorrupt, "FFV1 decoder: " + av::error_string(rc));
      const int64_t ts = f->best_effort_timestamp;
      f->pts = ts == AV_NOPTS_VALUE ? AV_NOPTS_VALUE : av_rescale_q(ts, seg_tb, enc_->time_base);
      f->pict_type = AV_PICTURE_TYPE_NONE;
      const int sr = avcodec_send_frame(enc_, f.get());
      if (sr < 0) fail(VideoErrorKind::kCorrupt, "encoder: " + av::error_string(sr));
      av_frame_unref(f.get());
      ++frames_;
      receive_encoded();
    }
  }

  void receive_encoded() {
    for (;;) {
      av::PacketPtr p(av_packet_alloc());
      const int rc = avcodec_receive_packet(enc_, p.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      if (rc < 0) fail(VideoErrorKind::kCorrupt, "encoder: " + av::error_string(rc));
      av_packet_rescale_ts(p.get(), enc_->time_base, out_->time_base);
      p->stream_index = out_->index;
      ready_.push_back(std::move(p));
    }
  }

  const std::vector<std::string>& segments_;
  VideoFormat format_;
  OutputOptions opt_;
  AVCodecContext* enc_;
  AVStream* out_;
  size_t next_segment_ = 0;
  av::InputPtr seg_;
  av::CodecPtr dec_;
  std::deque<av::PacketPtr> ready_;
  bool done_ = false, enc_flushed_ = false;
  int64_t frames_ = 0;
};

bool muxer_takes(const AVOutputFormat* of, const AVCodecParameters* par) {
  if (par->codec_type == AVMEDIA_TYPE_ATTACHMENT) return std::strcmp(of->name, "matroska") == 0;
  return avformat_query_codec(of, par->codec_id, FF_COMPLIANCE_NORMAL) == 1;
}

}  // namespace

MuxReport mux_output(const std::vector<std::string>& segments, const std::string& input_path,
                     const VideoFormat& format, const std::string& out_path, const OutputOptions& options) {
  if (segments.empty()) fail(VideoErrorKind::kCorrupt, out_path + ": no restored frames to write");
  MuxReport report;
  av::InputPtr in = open_input(input_path);
  const int vidx = best_video_stream(in.get());
  OutputFile out(out_path, nullptr);
  const bool global_header = out.oc->oformat->flags & AVFMT_GLOBALHEADER;

  // Video stream first.
  AVStream* vst = avformat_new_stream(out.oc, nullptr);
  if (!vst) fail(VideoErrorKind::kOpen, "out of memory");
  av::CodecPtr enc;
  if (options.codec == "ffv1") {
    av::InputPtr first = open_input(segments.front());
    const int rc = avcodec_parameters_copy(vst->codecpar, first->streams[0]->codecpar);
    if (rc < 0) fail(VideoErrorKind::kOpen, av::error_string(rc));
    vst->codecpar->codec_tag = 0;
    vst->time_base = first->streams[0]->time_base;
  } else {
    enc = open_encoder(options.codec, format, options, global_header);
    const int rc = avcodec_parameters_from_context(vst->codecpar, enc.get());
    if (rc < 0) fail(VideoErrorKind::kOpen, av::error_string(rc));
    vst->time_base = enc->time_base;
  }
  if (!muxer_takes(out.oc->oformat, vst->codecpar))
    fail(VideoErrorKind::kUnsupported, out_path + ": the " + out.oc->oformat->name + " container cannot hold " +
                                           avcodec_get_name(vst->codecpar->codec_id) + " (use .mkv)");
  set_stream_format(vst, format);
  if (vidx >= 0) {
    const AVStream* ivs = in->streams[vidx];
    // timecode: a QuickTime tmcd track arrives as this tag (no packets FFmpeg can copy), and the
    // MP4 muxer rebuilds the track from it; Matroska keeps it as a tag.
    for (const char* key : {"language", "title", "timecode"})
      if (const AVDictionaryEntry* e = av_dict_get(ivs->metadata, key, nullptr, 0))
        av_dict_set(&vst->metadata, key, e->value, 0);
    vst->disposition = ivs->disposition;
  }

  // Every other stream, copied.
  std::vector<int> map(in->nb_streams, -1);
  for (unsigned i = 0; i < in->nb_streams; ++i) {
    if (static_cast<int>(i) == vidx) continue;
    const AVStream* is = in->streams[i];
    if (!muxer_takes(out.oc->oformat, is->codecpar)) {
      if (is->codecpar->codec_tag == MKTAG('t', 'm', 'c', 'd') && av_dict_get(vst->metadata, "timecode", nullptr, 0)) {
        report.warnings.push_back("stream " + std::to_string(i) + " (tmcd) carried as the video's timecode tag");
        continue;
      }
      char tag[AV_FOURCC_MAX_STRING_SIZE] = {0};
      av_fourcc_make_string(tag, is->codecpar->codec_tag);
      const char* type = av_get_media_type_string(is->codecpar->codec_type);
      report.warnings.push_back("stream " + std::to_string(i) + " (" + (type ? type : "unknown") + ", codec " +
                                avcodec_get_name(is->codecpar->codec_id) + ", tag " + tag + ") cannot be stored in " +
                                out.oc->oformat->name + ": dropped");
      continue;
    }
    AVStream* os = avformat_new_stream(out.oc, nullptr);
    if (!os) fail(VideoErrorKind::kOpen, "out of memory");
    avcodec_parameters_copy(os->codecpar, is->codecpar);
    os->codecpar->codec_tag = 0;
    os->time_base = is->time_base;
    os->disposition = is->disposition;
    av_dict_copy(&os->metadata, is->metadata, 0);
    av_dict_set(&os->metadata, "DURATION", nullptr, 0);
    map[i] = os->index;
    ++report.copied_streams;
  }
  av_dict_copy(&out.oc->metadata, in->metadata, 0);
  av_dict_set(&out.oc->metadata, "encoder", nullptr, 0);
  // Keep the input's timestamps as they are: the default shifts every stream when one starts
  // below zero (an AAC track's priming packet in MP4), moving the video's timestamps too.
  // Matroska stores the few negative milliseconds in the first cluster's signed block offsets.
  out.oc->avoid_negative_ts = AVFMT_AVOID_NEG_TS_DISABLED;
  out.open_and_write_header();

  VideoPacketSource video(segments, format, options, enc.get(), vst);
  auto next_copy = [&](AVPacket* p) {
    for (;;) {
      const int rc = av_read_frame(in.get(), p);
      if (rc == AVERROR_EOF) return false;
      if (rc < 0) fail(VideoErrorKind::kCorrupt, input_path + ": " + av::error_string(rc));
      const int si = p->stream_index;
      if (si < 0 || si >= static_cast<int>(map.size()) || map[si] < 0) {
        av_packet_unref(p);
        continue;
      }
      const AVRational tb = in->streams[si]->time_base;
      if (p->pts != AV_NOPTS_VALUE) {
        const double t = static_cast<double>(p->pts) * av_q2d(tb);
        if ((options.copy_start_s && t < *options.copy_start_s - 1e-9) ||
            (options.copy_end_s && t >= *options.copy_end_s - 1e-9)) {
          av_packet_unref(p);
          continue;
        }
      }
      av_packet_rescale_ts(p, tb, out.oc->streams[map[si]]->time_base);
      p->stream_index = map[si];
      p->pos = -1;
      return true;
    }
  };
  // Merge the two sources by time so the muxer interleaves without buffering a whole stream.
  av::PacketPtr v(av_packet_alloc()), c(av_packet_alloc());
  bool have_v = video.next(v.get()), have_c = next_copy(c.get());
  auto when = [](const AVPacket* p) { return p->dts != AV_NOPTS_VALUE ? p->dts : p->pts; };
  while (have_v || have_c) {
    if (options.cancelled && options.cancelled()) fail(VideoErrorKind::kCancelled, out_path + ": cancelled");
    bool take_v = have_v;
    if (have_v && have_c) {
      const int64_t tv = when(v.get()), tc = when(c.get());
      take_v = tv == AV_NOPTS_VALUE || (tc != AV_NOPTS_VALUE &&
                                        av_compare_ts(tv, vst->time_base, tc, out.oc->streams[c->stream_index]->time_base) <= 0);
    }
    if (take_v) {
      out.write(v.get());
      have_v = video.next(v.get());
    } else {
      out.write(c.get());
      ++report.copied_packets;
      have_c = next_copy(c.get());
    }
  }
  out.finish();
  report.video_frames = video.frames();
  return report;
}

}  // namespace lucid::video
