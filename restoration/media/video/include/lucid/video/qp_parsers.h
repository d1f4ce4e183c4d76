// Per-picture QP read from the compressed stream, for the codecs whose FFmpeg 5.1 decoder does not
// export AV_FRAME_DATA_VIDEO_ENC_PARAMS: HEVC (slice headers) and AV1 (frame headers).
// Pure C++17, no FFmpeg: the parsers take packet bytes and keep the parameter-set / reference
// state they need between packets. They never throw; a packet they cannot parse yields no
// picture and an error string, and later packets are parsed again normally.
//
// QP scales (documented in README "Video"):
//   HEVC: luma SliceQpY = 26 + init_qp_minus26 + slice_qp_delta, -QpBdOffsetY..51 (0..51 at 8 bit);
//         a picture's QP is the mean over its (independent) slices.
//   AV1:  the frame header's base_q_idx, 0..255 (0 with lossless segments is lossless).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lucid::video {

enum class PictType : char { Unknown = '?', I = 'I', P = 'P', B = 'B' };

// One coded picture as the parser saw it.
struct PictureQp {
  double qp = 0;          // frame QP on the codec's scale (see above)
  int qp_min = 0;         // smallest / largest slice QP (HEVC); both base_q_idx for AV1
  int qp_max = 0;
  PictType type = PictType::Unknown;  // HEVC: B if any B slice, else P if any P slice, else I.
                                      // AV1: key/intra-only -> I, inter -> P (AV1 has no B
                                      // type; compound prediction is not a frame type).
  int slices = 0;         // HEVC independent slices seen; AV1: 1
  bool shown = true;      // AV1: false for frames decoded but not shown (show_frame = 0)
  bool show_existing = false;  // AV1: a show_existing_frame header (re-shows a decoded frame;
                               // qp/type are those of the frame shown)
};

// Result of parsing one packet.
struct PacketQp {
  std::vector<PictureQp> pictures;  // pictures that start in this packet, in bitstream order
  std::string error;                // empty when everything in the packet parsed
};

class HevcQpParser {
 public:
  // extradata: the stream's hvcC record (MP4/Matroska) or Annex-B parameter sets; may be empty.
  // With an hvcC record, packets are length-prefixed NAL units; otherwise Annex-B start codes.
  HevcQpParser(const uint8_t* extradata, size_t size);
  HevcQpParser();
  ~HevcQpParser();
  HevcQpParser(HevcQpParser&&) noexcept;
  HevcQpParser& operator=(HevcQpParser&&) noexcept;

  PacketQp parse_packet(const uint8_t* data, size_t size);
  // Error from parsing the extradata (empty if fine).
  const std::string& extradata_error() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

class Av1QpParser {
 public:
  // extradata: an av1C record (4 bytes + configOBUs) or raw OBUs; may be empty.
  // annexb: packets are Annex-B length-delimited (temporal_unit_size / frame_unit_size /
  // obu_length); otherwise the low-overhead format of MP4, Matroska, IVF and WebM.
  Av1QpParser(const uint8_t* extradata, size_t size, bool annexb = false);
  Av1QpParser();
  ~Av1QpParser();
  Av1QpParser(Av1QpParser&&) noexcept;
  Av1QpParser& operator=(Av1QpParser&&) noexcept;

  PacketQp parse_packet(const uint8_t* data, size_t size);
  const std::string& extradata_error() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace lucid::video
