// AV1 OBU parser, far enough into the uncompressed frame header to read base_q_idx
// (AV1 bitstream specification 1.0.0 with errata 1, sections 5.3-5.9.12). Keeps the state the
// frame header depends on across packets: the sequence header and, per reference slot, frame
// type, size, order hint and base_q_idx (a show_existing_frame header reports the QP of the
// frame it shows).
#include <algorithm>
#include <array>
#include <optional>

#include "bit_reader.h"
#include "lucid/video/qp_parsers.h"

namespace lucid::video {

using detail::BitReader;
using detail::BitstreamError;

namespace {

enum ObuType { kSequenceHeader = 1, kTemporalDelimiter = 2, kFrameHeader = 3, kTileGroup = 4,
               kMetadata = 5, kFrame = 6, kRedundantFrameHeader = 7, kTileList = 8, kPadding = 15 };
enum FrameType { kKeyFrame = 0, kInterFrame = 1, kIntraOnlyFrame = 2, kSwitchFrame = 3 };
constexpr int kSelect = 2;  // SELECT_SCREEN_CONTENT_TOOLS / SELECT_INTEGER_MV
constexpr int kPrimaryRefNone = 7;

struct SequenceHeader {
  int profile = 0;
  bool reduced_still_picture_header = false;
  bool decoder_model_info_present = false;
  bool equal_picture_interval = false;
  int buffer_removal_time_length = 0;
  int frame_presentation_time_length = 0;
  int operating_points = 1;
  std::array<uint32_t, 32> operating_point_idc{};
  std::array<bool, 32> decoder_model_present_for_op{};
  int frame_width_bits = 1, frame_height_bits = 1;
  uint32_t max_width = 1, max_height = 1;
  bool frame_id_numbers_present = false;
  int delta_frame_id_length = 0;  // delta_frame_id_length_minus_2 + 2
  int frame_id_length = 0;        // idLen
  bool use_128x128_superblock = false;
  bool enable_order_hint = false;
  bool enable_ref_frame_mvs = false;
  int seq_force_screen_content_tools = kSelect;
  int seq_force_integer_mv = kSelect;
  int order_hint_bits = 0;
  bool enable_superres = false;
  bool film_grain_params_present = false;
};

struct RefSlot {
  bool valid = false;
  int frame_type = kKeyFrame;
  uint32_t upscaled_width = 0, frame_width = 0, frame_height = 0;
  int base_q_idx = 0;
};

// 5.5.2 color_config(): only read past.
void skip_color_config(BitReader& br, int profile) {
  const bool high_bitdepth = br.bit();
  int bit_depth = high_bitdepth ? 10 : 8;
  if (profile == 2 && high_bitdepth) bit_depth = br.bit() ? 12 : 10;
  const bool mono = profile == 1 ? false : static_cast<bool>(br.bit());
  int cp = 2, tc = 2, mc = 2;
  if (br.bit()) {  // color_description_present_flag
    cp = static_cast<int>(br.bits(8));
    tc = static_cast<int>(br.bits(8));
    mc = static_cast<int>(br.bits(8));
  }
  if (mono) {
    br.bit();  // color_range
    return;    // separate_uv_delta_q = 0, not coded
  }
  if (cp == 1 && tc == 13 && mc == 0) {
    // sRGB: full range 4:4:4, nothing coded
  } else {
    br.bit();  // color_range
    int ss_x = 1, ss_y = 1;
    if (profile == 1) {
      ss_x = ss_y = 0;
    } else if (profile == 2) {
      if (bit_depth == 12) {
        ss_x = static_cast<int>(br.bit());
        ss_y = ss_x ? static_cast<int>(br.bit()) : 0;
      } else {
        ss_y = 0;
      }
    }
    if (ss_x && ss_y) br.bits(2);  // chroma_sample_position
  }
  br.bit();  // separate_uv_delta_q
}

// 5.5.1 sequence_header_obu()
SequenceHeader parse_sequence_header(BitReader& br) {
  SequenceHeader sh;
  sh.profile = static_cast<int>(br.bits(3));
  if (sh.profile > 2) throw BitstreamError("seq_profile > 2");
  br.bit();  // still_picture
  sh.reduced_still_picture_header = br.bit();
  if (sh.reduced_still_picture_header) {
    br.bits(5);  // seq_level_idx[0]
  } else {
    bool initial_display_delay_present = false;
    int buffer_delay_length = 0;
    if (br.bit()) {  // timing_info_present_flag
      br.bits(32);   // num_units_in_display_tick
      br.bits(32);   // time_scale
      sh.equal_picture_interval = br.bit();
      if (sh.equal_picture_interval) br.uvlc();  // num_ticks_per_picture_minus_1
      sh.decoder_model_info_present = br.bit();
      if (sh.decoder_model_info_present) {
        buffer_delay_length = static_cast<int>(br.bits(5)) + 1;
        br.bits(32);  // num_units_in_decoding_tick
        sh.buffer_removal_time_length = static_cast<int>(br.bits(5)) + 1;
        sh.frame_presentation_time_length = static_cast<int>(br.bits(5)) + 1;
      }
    }
    initial_display_delay_present = br.bit();
    sh.operating_points = static_cast<int>(br.bits(5)) + 1;
    for (int i = 0; i < sh.operating_points; ++i) {
      sh.operating_point_idc[i] = br.bits(12);
      const uint32_t level = br.bits(5);
      if (level > 7) br.bit();  // seq_tier
      if (sh.decoder_model_info_present) {
        sh.decoder_model_present_for_op[i] = br.bit();
        if (sh.decoder_model_present_for_op[i]) {
          br.bits(buffer_delay_length);  // decoder_buffer_delay
          br.bits(buffer_delay_length);  // encoder_buffer_delay
          br.bit();                      // low_delay_mode_flag
        }
      }
      if (initial_display_delay_present) {
        if (br.bit()) br.bits(4);
      }
    }
  }
  sh.frame_width_bits = static_cast<int>(br.bits(4)) + 1;
  sh.frame_height_bits = static_cast<int>(br.bits(4)) + 1;
  sh.max_width = br.bits(sh.frame_width_bits) + 1u;
  sh.max_height = br.bits(sh.frame_height_bits) + 1u;
  if (!sh.reduced_still_picture_header) sh.frame_id_numbers_present = br.bit();
  if (sh.frame_id_numbers_present) {
    sh.delta_frame_id_length = static_cast<int>(br.bits(4)) + 2;
    const int additional = static_cast<int>(br.bits(3)) + 1;
    sh.frame_id_length = additional + sh.delta_frame_id_length;
    if (sh.frame_id_length > 16) throw BitstreamError("frame id length > 16");
  }
  sh.use_128x128_superblock = br.bit();
  br.bit();  // enable_filter_intra
  br.bit();  // enable_intra_edge_filter
  if (!sh.reduced_still_picture_header) {
    br.bit();  // enable_interintra_compound
    br.bit();  // enable_masked_compound
    br.bit();  // enable_warped_motion
    br.bit();  // enable_dual_filter
    sh.enable_order_hint = br.bit();
    if (sh.enable_order_hint) {
      br.bit();  // enable_jnt_comp
      sh.enable_ref_frame_mvs = br.bit();
    }
    if (br.bit()) sh.seq_force_screen_content_tools = kSelect;  // seq_choose_screen_content_tools
    else sh.seq_force_screen_content_tools = static_cast<int>(br.bit());
    if (sh.seq_force_screen_content_tools > 0) {
      if (br.bit()) sh.seq_force_integer_mv = kSelect;  // seq_choose_integer_mv
      else sh.seq_force_integer_mv = static_cast<int>(br.bit());
    } else {
      sh.seq_force_integer_mv = kSelect;
    }
    if (sh.enable_order_hint) sh.order_hint_bits = static_cast<int>(br.bits(3)) + 1;
  }
  sh.enable_superres = br.bit();
  br.bit();  // enable_cdef
  br.bit();  // enable_restoration
  skip_color_config(br, sh.profile);
  sh.film_grain_params_present = br.bit();
  return sh;
}

int tile_log2(uint32_t blk, uint32_t target) {
  int k = 0;
  while ((uint64_t{blk} << k) < target) ++k;
  return k;
}

}  // namespace

struct Av1QpParser::State {
  std::optional<SequenceHeader> seq;
  std::array<RefSlot, 8> refs{};
  bool annexb = false;
  std::string extradata_error;
  // Between a frame header and the last tile group of its frame, further frame headers are
  // copies (5.9.1 / 7.5); tile info of the current frame for the tile-group OBU:
  bool seen_frame_header = false;
  int tile_cols_log2 = 0, tile_rows_log2 = 0;
  uint32_t num_tiles = 1;

  // Frame size state of the frame being parsed.
  uint32_t frame_width = 0, frame_height = 0, upscaled_width = 0;

  void frame_size(BitReader& br, bool override_flag) {
    const SequenceHeader& sh = *seq;
    if (override_flag) {
      frame_width = br.bits(sh.frame_width_bits) + 1u;
      frame_height = br.bits(sh.frame_height_bits) + 1u;
      if (frame_width > sh.max_width || frame_height > sh.max_height)
        throw BitstreamError("frame size above the sequence maximum");
    } else {
      frame_width = sh.max_width;
      frame_height = sh.max_height;
    }
    superres_params(br);
  }
  void superres_params(BitReader& br) {
    upscaled_width = frame_width;
    if (seq->enable_superres && br.bit()) {  // use_superres
      const uint32_t denom = br.bits(3) + 9;  // SUPERRES_DENOM_MIN
      frame_width = (upscaled_width * 8 + denom / 2) / denom;
    }
  }
  static void render_size(BitReader& br) {
    if (br.bit()) br.skip(32);  // render_and_frame_size_different -> render_{width,height}_minus_1
  }

  // 5.9.15 tile_info()
  void tile_info(BitReader& br) {
    const uint32_t mi_cols = 2 * ((frame_width + 7) >> 3);
    const uint32_t mi_rows = 2 * ((frame_height + 7) >> 3);
    const bool sb128 = seq->use_128x128_superblock;
    const uint32_t sb_cols = sb128 ? (mi_cols + 31) >> 5 : (mi_cols + 15) >> 4;
    const uint32_t sb_rows = sb128 ? (mi_rows + 31) >> 5 : (mi_rows + 15) >> 4;
    const int sb_shift = sb128 ? 5 : 4;
    const int sb_size = sb_shift + 2;
    const uint32_t max_tile_width_sb = 4096u >> sb_size;
    uint32_t max_tile_area_sb = (4096u * 2304u) >> (2 * sb_size);
    const int min_log2_tile_cols = tile_log2(max_tile_width_sb, sb_cols);
    const int max_log2_tile_cols = tile_log2(1, std::min<uint32_t>(sb_cols, 64));
    const int max_log2_tile_rows = tile_log2(1, std::min<uint32_t>(sb_rows, 64));
    const int min_log2_tiles = std::max(min_log2_tile_cols, tile_log2(max_tile_area_sb, sb_rows * sb_cols));
    uint32_t tile_cols = 0, tile_rows = 0;
    if (br.bit()) {  // uniform_tile_spacing_flag
      tile_cols_log2 = min_log2_tile_cols;
      while (tile_cols_log2 < max_log2_tile_cols && br.bit()) ++tile_cols_log2;
      const uint32_t w = (sb_cols + (1u << tile_cols_log2) - 1) >> tile_cols_log2;
      tile_cols = (sb_cols + w - 1) / w;
      const int min_log2_tile_rows = std::max(min_log2_tiles - tile_cols_log2, 0);
      tile_rows_log2 = min_log2_tile_rows;
      while (tile_rows_log2 < max_log2_tile_rows && br.bit()) ++tile_rows_log2;
      const uint32_t h = (sb_rows + (1u << tile_rows_log2) - 1) >> tile_rows_log2;
      tile_rows = (sb_rows + h - 1) / h;
    } else {
      uint32_t widest = 0, start = 0;
      for (; start < sb_cols; ++tile_cols) {
        const uint32_t max_w = std::min(sb_cols - start, max_tile_width_sb);
        const uint32_t size = br.ns(max_w) + 1;
        widest = std::max(size, widest);
        start += size;
      }
      tile_cols_log2 = tile_log2(1, tile_cols);
      if (min_log2_tiles > 0) max_tile_area_sb = (sb_rows * sb_cols) >> (min_log2_tiles + 1);
      else max_tile_area_sb = sb_rows * sb_cols;
      const uint32_t max_tile_height_sb = std::max<uint32_t>(max_tile_area_sb / widest, 1);
      start = 0;
      for (; start < sb_rows; ++tile_rows) {
        const uint32_t max_h = std::min(sb_rows - start, max_tile_height_sb);
        start += br.ns(max_h) + 1;
      }
      tile_rows_log2 = tile_log2(1, tile_rows);
    }
    if (tile_cols > 64 || tile_rows > 64) throw BitstreamError("more than 64 tile columns or rows");
    num_tiles = tile_cols * tile_rows;
    if (tile_cols_log2 > 0 || tile_rows_log2 > 0) {
      br.bits(tile_rows_log2 + tile_cols_log2);  // context_update_tile_id
      br.bits(2);                                 // tile_size_bytes_minus_1
    }
  }

  // 5.9.2 uncompressed_header(), up to base_q_idx. temporal_id / spatial_id come from the OBU
  // extension header.
  PictureQp frame_header(BitReader& br, int temporal_id, int spatial_id) {
    if (!seq) throw BitstreamError("frame header before any sequence header");
    const SequenceHeader& sh = *seq;
    PictureQp pic;
    pic.slices = 1;
    int frame_type = kKeyFrame;
    bool show_frame = true;
    bool error_resilient = false;
    if (sh.reduced_still_picture_header) {
      error_resilient = true;
    } else {
      if (br.bit()) {  // show_existing_frame
        const int idx = static_cast<int>(br.bits(3));
        if (sh.decoder_model_info_present && !sh.equal_picture_interval)
          br.bits(sh.frame_presentation_time_length);  // temporal_point_info()
        if (sh.frame_id_numbers_present) br.bits(sh.frame_id_length);  // display_frame_id
        const RefSlot& r = refs[idx];
        if (!r.valid) throw BitstreamError("show_existing_frame of an empty reference slot");
        pic.show_existing = true;
        pic.qp = pic.qp_min = pic.qp_max = r.base_q_idx;
        pic.type = (r.frame_type == kKeyFrame || r.frame_type == kIntraOnlyFrame) ? PictType::I : PictType::P;
        if (r.frame_type == kKeyFrame) {
          const RefSlot shown = r;  // 7.21: showing a key frame refreshes every slot
          refs.fill(shown);
        }
        return pic;
      }
      frame_type = static_cast<int>(br.bits(2));
      show_frame = br.bit();
      if (show_frame && sh.decoder_model_info_present && !sh.equal_picture_interval)
        br.bits(sh.frame_presentation_time_length);
      if (!show_frame) br.bit();  // showable_frame
      if (frame_type == kSwitchFrame || (frame_type == kKeyFrame && show_frame)) error_resilient = true;
      else error_resilient = br.bit();
    }
    const bool intra = frame_type == kKeyFrame || frame_type == kIntraOnlyFrame;
    if (frame_type == kKeyFrame && show_frame) {
      for (RefSlot& r : refs) r.valid = false;
    }
    const bool disable_cdf_update = br.bit();
    int allow_screen_content_tools = sh.seq_force_screen_content_tools;
    if (allow_screen_content_tools == kSelect) allow_screen_content_tools = static_cast<int>(br.bit());
    bool force_integer_mv = false;
    if (allow_screen_content_tools) {
      force_integer_mv = sh.seq_force_integer_mv == kSelect ? static_cast<bool>(br.bit())
                                                            : sh.seq_force_integer_mv != 0;
    }
    if (intra) force_integer_mv = true;
    if (sh.frame_id_numbers_present) br.bits(sh.frame_id_length);  // current_frame_id
    bool size_override = false;
    if (frame_type == kSwitchFrame) size_override = true;
    else if (!sh.reduced_still_picture_header) size_override = br.bit();
    br.bits(sh.order_hint_bits);  // order_hint
    if (!(intra || error_resilient)) br.bits(3);  // primary_ref_frame
    if (sh.decoder_model_info_present) {
      if (br.bit()) {  // buffer_removal_time_present_flag
        for (int op = 0; op < sh.operating_points; ++op) {
          if (!sh.decoder_model_present_for_op[op]) continue;
          const uint32_t idc = sh.operating_point_idc[op];
          const bool in_t = (idc >> temporal_id) & 1u;
          const bool in_s = (idc >> (spatial_id + 8)) & 1u;
          if (idc == 0 || (in_t && in_s)) br.bits(sh.buffer_removal_time_length);
        }
      }
    }
    uint32_t refresh = 0xff;
    if (!(frame_type == kSwitchFrame || (frame_type == kKeyFrame && show_frame))) refresh = br.bits(8);
    if (intra && frame_type == kIntraOnlyFrame && refresh == 0xff)
      throw BitstreamError("intra-only frame refreshing every slot");
    if ((!intra || refresh != 0xff) && error_resilient && sh.enable_order_hint) {
      for (int i = 0; i < 8; ++i) br.bits(sh.order_hint_bits);  // ref_order_hint[i]
    }
    if (intra) {
      frame_size(br, size_override);
      render_size(br);
      if (allow_screen_content_tools && upscaled_width == frame_width) br.bit();  // allow_intrabc
    } else {
      std::array<int, 7> ref_idx{};
      bool short_signaling = false;
      if (sh.enable_order_hint) {
        short_signaling = br.bit();  // frame_refs_short_signaling
        if (short_signaling) {
          br.bits(3);  // last_frame_idx
          br.bits(3);  // gold_frame_idx
        }
      }
      for (int i = 0; i < 7; ++i) {
        if (!short_signaling) ref_idx[i] = static_cast<int>(br.bits(3));
        if (sh.frame_id_numbers_present) br.bits(sh.delta_frame_id_length);  // delta_frame_id_minus_1
      }
      if (short_signaling) {
        // set_frame_refs() (7.8) picks the slots from order hints; its result only matters
        // below for frame_size_with_refs(), so accept it only when every slot has one size.
        for (int i = 1; i < 8; ++i)
          if (refs[i].upscaled_width != refs[0].upscaled_width || refs[i].frame_height != refs[0].frame_height)
            throw BitstreamError("frame_refs_short_signaling with references of different sizes is not supported");
      }
      for (int i = 0; i < 7; ++i)
        if (!refs[ref_idx[i]].valid) throw BitstreamError("inter frame refers to an empty reference slot");
      if (size_override && !error_resilient) {
        bool found = false;
        for (int i = 0; i < 7 && !found; ++i) {
          if (br.bit()) {  // found_ref
            const RefSlot& r = refs[ref_idx[i]];
            upscaled_width = r.upscaled_width;
            frame_width = upscaled_width;
            frame_height = r.frame_height;
            found = true;
          }
        }
        if (!found) {
          frame_size(br, size_override);
          render_size(br);
        } else {
          frame_width = upscaled_width;
          superres_params(br);
        }
      } else {
        frame_size(br, size_override);
        render_size(br);
      }
      if (!force_integer_mv) br.bit();  // allow_high_precision_mv
      if (!br.bit()) br.bits(2);  // is_filter_switchable / interpolation_filter
      br.bit();                   // is_motion_mode_switchable
      if (!(error_resilient || !sh.enable_ref_frame_mvs)) br.bit();  // use_ref_frame_mvs
    }
    if (!(sh.reduced_still_picture_header || disable_cdf_update)) br.bit();  // disable_frame_end_update_cdf
    tile_info(br);
    const int base_q_idx = static_cast<int>(br.bits(8));
    pic.qp = pic.qp_min = pic.qp_max = base_q_idx;
    pic.type = intra ? PictType::I : PictType::P;
    pic.shown = show_frame;
    for (int i = 0; i < 8; ++i) {
      if (refresh & (1u << i)) {
        RefSlot& r = refs[i];
        r.valid = true;
        r.frame_type = frame_type;
        r.upscaled_width = upscaled_width;
        r.frame_width = frame_width;
        r.frame_height = frame_height;
        r.base_q_idx = base_q_idx;
      }
    }
    return pic;
  }

  // 5.11.1 tile_group_obu(): returns true when it holds the frame's last tile.
  bool tile_group_ends_frame(BitReader& br) const {
    bool start_end_present = false;
    if (num_tiles > 1) start_end_present = br.bit();
    if (num_tiles == 1 || !start_end_present) return true;
    const int bits = tile_cols_log2 + tile_rows_log2;
    br.bits(bits);  // tg_start
    return br.bits(bits) == num_tiles - 1;
  }

  // A run of OBUs (low-overhead format, or Annex-B obu_length-prefixed when sized_units);
  // appends the frame headers' pictures to out.
  void parse_obu_sequence(const uint8_t* data, size_t size, PacketQp& out, bool sized_units) {
    size_t pos = 0;
    while (pos < size) {
      size_t unit_size = size - pos;
      if (sized_units) {  // Annex-B obu_length
        unit_size = read_leb128(data, size, &pos);
        if (unit_size > size - pos) throw BitstreamError("obu_length beyond the frame unit");
      }
      const uint8_t* p = data + pos;
      const size_t avail = unit_size;
      if (avail < 1) throw BitstreamError("empty OBU");
      if (p[0] & 0x80) throw BitstreamError("obu_forbidden_bit set");
      const int type = (p[0] >> 3) & 0xf;
      const bool ext = p[0] & 4;
      const bool has_size = p[0] & 2;
      size_t hdr = 1;
      int temporal_id = 0, spatial_id = 0;
      if (ext) {
        if (avail < 2) throw BitstreamError("OBU extension header truncated");
        temporal_id = p[1] >> 5;
        spatial_id = (p[1] >> 3) & 3;
        hdr = 2;
      }
      size_t payload = avail - hdr;
      if (has_size) {
        size_t q = hdr;
        payload = read_leb128(p, avail, &q);
        hdr = q;
        if (payload > avail - hdr) throw BitstreamError("obu_size beyond the packet");
      } else if (!sized_units && pos + avail != size) {
        throw BitstreamError("OBU without size field before the end of the packet");
      }
      const size_t obu_total = hdr + payload;
      BitReader br(p + hdr, payload);
      // Operating point 0 only (7.1: drop OBUs outside it).
      bool in_op = true;
      if (seq && ext && type != kSequenceHeader && type != kTemporalDelimiter) {
        const uint32_t idc = seq->operating_point_idc[0];
        if (idc != 0) in_op = ((idc >> temporal_id) & 1u) && ((idc >> (spatial_id + 8)) & 1u);
      }
      if (type == kSequenceHeader) {
        seq = parse_sequence_header(br);
      } else if (type == kTemporalDelimiter) {
        seen_frame_header = false;
      } else if (in_op && (type == kFrameHeader || type == kFrame || type == kRedundantFrameHeader)) {
        if (!seen_frame_header) {
          // (a redundant frame header seen first stands in for a lost original)
          PictureQp pic = frame_header(br, temporal_id, spatial_id);
          out.pictures.push_back(pic);
          if (!pic.show_existing) {
            seen_frame_header = true;
            if (type == kFrame) {
              // frame_obu: byte_alignment() then tile_group_obu(sz)
              const size_t skip = (8 - br.position() % 8) % 8;
              br.skip(skip);
              if (tile_group_ends_frame(br)) seen_frame_header = false;
            }
          }
        }
      } else if (in_op && type == kTileGroup) {
        if (!seen_frame_header) throw BitstreamError("tile group without a frame header");
        if (tile_group_ends_frame(br)) seen_frame_header = false;
      }
      pos += sized_units ? unit_size : obu_total;
      if (sized_units && obu_total > unit_size) throw BitstreamError("OBU larger than obu_length");
    }
  }


  static size_t read_leb128(const uint8_t* p, size_t n, size_t* pos) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
      if (*pos >= n) throw BitstreamError("leb128 truncated");
      const uint8_t b = p[(*pos)++];
      v |= uint64_t{b & 0x7fu} << (7 * i);
      if (!(b & 0x80)) {
        if (v > (uint64_t{1} << 32) - 1) throw BitstreamError("leb128 value above 2^32-1");
        return static_cast<size_t>(v);
      }
    }
    throw BitstreamError("leb128 longer than 8 bytes");
  }

  void parse(const uint8_t* data, size_t size, PacketQp& out) {
    if (!annexb) {
      parse_obu_sequence(data, size, out, false);
      return;
    }
    // Annex-B: temporal_unit(sz) = frame_unit_size-delimited frame units of obu_length-delimited
    // OBUs. A packet holds one temporal unit with its temporal_unit_size prefix.
    size_t pos = 0;
    while (pos < size) {
      const size_t tu = read_leb128(data, size, &pos);
      if (tu > size - pos) throw BitstreamError("temporal_unit_size beyond the packet");
      const size_t tu_end = pos + tu;
      while (pos < tu_end) {
        const size_t fu = read_leb128(data, tu_end, &pos);
        if (fu > tu_end - pos) throw BitstreamError("frame_unit_size beyond the temporal unit");
        parse_obu_sequence(data + pos, fu, out, true);
        pos += fu;
      }
    }
  }
};

}  // namespace lucid::video

namespace lucid::video {

Av1QpParser::Av1QpParser() : s_(std::make_unique<State>()) {}
Av1QpParser::Av1QpParser(const uint8_t* extradata, size_t size, bool annexb) : Av1QpParser() {
  s_->annexb = annexb;
  if (extradata == nullptr || size == 0) return;
  PacketQp ignored;
  try {
    if ((extradata[0] & 0x80) && size >= 4) {
      // AV1CodecConfigurationRecord: marker + version byte, 3 more bytes, then configOBUs
      // (low-overhead format, with size fields).
      if (size > 4) s_->parse_obu_sequence(extradata + 4, size - 4, ignored, false);
    } else {
      s_->parse_obu_sequence(extradata, size, ignored, false);
    }
  } catch (const std::exception& e) {
    s_->extradata_error = e.what();
  }
}
Av1QpParser::~Av1QpParser() = default;
Av1QpParser::Av1QpParser(Av1QpParser&&) noexcept = default;
Av1QpParser& Av1QpParser::operator=(Av1QpParser&&) noexcept = default;

const std::string& Av1QpParser::extradata_error() const { return s_->extradata_error; }

PacketQp Av1QpParser::parse_packet(const uint8_t* data, size_t size) {
  PacketQp out;
  if (data == nullptr || size == 0) return out;
  try {
    s_->parse(data, size, out);
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

}  // namespace lucid::video
