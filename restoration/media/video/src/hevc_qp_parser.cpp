// HEVC (ITU-T H.265) slice-header parser, just far enough to read slice_qp_delta.
// Section numbers refer to H.265 (v8, 08/2021). Everything the slice header's syntax depends on
// before slice_qp_delta is parsed from the SPS and PPS: short-term RPS (including inter-RPS
// prediction, needed for NumPicTotalCurr), long-term refs, num_extra_slice_header_bits,
// output_flag_present, dependent slices, separate colour planes, SAO, weighted prediction,
// list modification, temporal MVP. Only nuh_layer_id 0 is read. SCC profiles (which add
// use_integer_mv_flag before slice_qp_delta from an SPS extension) are refused.
#include "lucid/video/qp_parsers.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>

#include "bit_reader.h"

namespace lucid::video {

using detail::BitReader;
using detail::BitstreamError;
using detail::ceil_log2;

namespace {

constexpr int kMaxDpb = 16;

struct ShortTermRps {
  int num_negative = 0;
  int num_positive = 0;
  std::array<int32_t, kMaxDpb> delta_s0{};
  std::array<int32_t, kMaxDpb> delta_s1{};
  std::array<bool, kMaxDpb> used_s0{};
  std::array<bool, kMaxDpb> used_s1{};
  int num_delta() const { return num_negative + num_positive; }
  int num_used() const {
    int n = 0;
    for (int i = 0; i < num_negative; ++i) n += used_s0[i];
    for (int i = 0; i < num_positive; ++i) n += used_s1[i];
    return n;
  }
};

struct Sps {
  int chroma_format_idc = 1;
  bool separate_colour_plane = false;
  uint32_t width = 0, height = 0;
  int bit_depth_luma = 8;
  int log2_max_poc_lsb = 4;
  int log2_ctb_size = 4;
  bool sao = false;
  std::vector<ShortTermRps> st_rps;
  bool long_term_refs = false;
  int num_long_term_sps = 0;
  std::array<bool, 33> used_by_curr_lt_sps{};
  bool temporal_mvp = false;
  int chroma_array_type() const { return separate_colour_plane ? 0 : chroma_format_idc; }
  uint32_t pic_size_in_ctbs() const {
    const uint32_t ctb = 1u << log2_ctb_size;
    return ((width + ctb - 1) >> log2_ctb_size) * ((height + ctb - 1) >> log2_ctb_size);
  }
};

struct Pps {
  int sps_id = 0;
  bool dependent_slices = false;
  bool output_flag_present = false;
  int num_extra_slice_header_bits = 0;
  bool cabac_init_present = false;
  int num_ref_idx_l0_default = 1;
  int num_ref_idx_l1_default = 1;
  int init_qp = 26;  // 26 + init_qp_minus26
  bool weighted_pred = false;
  bool weighted_bipred = false;
  bool lists_modification_present = false;
};

// 7.3.3 profile_tier_level(1, max_sub_layers_minus1); returns general_profile_idc and whether
// the SCC compatibility flag (profile 9) is set.
void parse_profile_tier_level(BitReader& br, int max_sub_layers_minus1, int* profile_idc,
                              bool* scc) {
  br.bits(2);                       // general_profile_space
  br.bit();                         // general_tier_flag
  *profile_idc = static_cast<int>(br.bits(5));
  const uint32_t compat = br.bits(32);
  *scc = *profile_idc == 9 || ((compat >> (31 - 9)) & 1u);
  br.skip(4 + 43 + 1);              // progressive..frame_only, 43 constraint bits, inbld/reserved
  br.bits(8);                       // general_level_idc
  std::array<bool, 8> profile_present{}, level_present{};
  for (int i = 0; i < max_sub_layers_minus1; ++i) {
    profile_present[i] = br.bit();
    level_present[i] = br.bit();
  }
  if (max_sub_layers_minus1 > 0)
    for (int i = max_sub_layers_minus1; i < 8; ++i) br.bits(2);
  for (int i = 0; i < max_sub_layers_minus1; ++i) {
    if (profile_present[i]) br.skip(88);
    if (level_present[i]) br.skip(8);
  }
}

// 7.3.4 scaling_list_data(): only skipped.
void skip_scaling_list_data(BitReader& br) {
  for (int size_id = 0; size_id < 4; ++size_id) {
    for (int matrix_id = 0; matrix_id < 6; matrix_id += (size_id == 3) ? 3 : 1) {
      if (!br.bit()) {               // scaling_list_pred_mode_flag
        br.ue_max(matrix_id * (size_id == 3 ? 3 : 1), "scaling_list_pred_matrix_id_delta");
      } else {
        const int coef_num = std::min(64, 1 << (4 + (size_id << 1)));
        if (size_id > 1) br.se_range(-7, 247, "scaling_list_dc_coef_minus8");
        for (int i = 0; i < coef_num; ++i) br.se_range(-128, 127, "scaling_list_delta_coef");
      }
    }
  }
}

// 7.3.7 st_ref_pic_set(idx) with the derivation of 7.4.8. `sets` holds the sets 0..idx-1 (for
// inter-RPS prediction); num_sps_sets is num_short_term_ref_pic_sets.
ShortTermRps parse_st_rps(BitReader& br, int idx, int num_sps_sets,
                          const std::vector<ShortTermRps>& sets) {
  ShortTermRps rps;
  const bool inter = idx != 0 && br.bit();
  if (inter) {
    int delta_idx = 1;
    if (idx == num_sps_sets) delta_idx = static_cast<int>(br.ue_max(idx - 1, "delta_idx_minus1")) + 1;
    const int sign = static_cast<int>(br.bit());
    const int abs_delta = static_cast<int>(br.ue_max(1u << 15, "abs_delta_rps_minus1")) + 1;
    const int delta_rps = (1 - 2 * sign) * abs_delta;
    const ShortTermRps& ref = sets.at(idx - delta_idx);
    std::array<bool, kMaxDpb + 1> used{}, use_delta{};
    for (int j = 0; j <= ref.num_delta(); ++j) {
      used[j] = br.bit();
      use_delta[j] = used[j] ? true : static_cast<bool>(br.bit());
    }
    auto push0 = [&](int32_t d, bool u) {
      if (rps.num_negative >= kMaxDpb) throw BitstreamError("too many negative pictures in RPS");
      rps.delta_s0[rps.num_negative] = d;
      rps.used_s0[rps.num_negative++] = u;
    };
    auto push1 = [&](int32_t d, bool u) {
      if (rps.num_positive >= kMaxDpb) throw BitstreamError("too many positive pictures in RPS");
      rps.delta_s1[rps.num_positive] = d;
      rps.used_s1[rps.num_positive++] = u;
    };
    // (7-61)
    for (int j = ref.num_positive - 1; j >= 0; --j) {
      const int32_t d = ref.delta_s1[j] + delta_rps;
      if (d < 0 && use_delta[ref.num_negative + j]) push0(d, used[ref.num_negative + j]);
    }
    if (delta_rps < 0 && use_delta[ref.num_delta()]) push0(delta_rps, used[ref.num_delta()]);
    for (int j = 0; j < ref.num_negative; ++j) {
      const int32_t d = ref.delta_s0[j] + delta_rps;
      if (d < 0 && use_delta[j]) push0(d, used[j]);
    }
    // (7-62)
    for (int j = ref.num_negative - 1; j >= 0; --j) {
      const int32_t d = ref.delta_s0[j] + delta_rps;
      if (d > 0 && use_delta[j]) push1(d, used[j]);
    }
    if (delta_rps > 0 && use_delta[ref.num_delta()]) push1(delta_rps, used[ref.num_delta()]);
    for (int j = 0; j < ref.num_positive; ++j) {
      const int32_t d = ref.delta_s1[j] + delta_rps;
      if (d > 0 && use_delta[ref.num_negative + j]) push1(d, used[ref.num_negative + j]);
    }
  } else {
    rps.num_negative = static_cast<int>(br.ue_max(kMaxDpb, "num_negative_pics"));
    rps.num_positive = static_cast<int>(br.ue_max(kMaxDpb - rps.num_negative, "num_positive_pics"));
    int32_t poc = 0;
    for (int i = 0; i < rps.num_negative; ++i) {
      poc -= static_cast<int32_t>(br.ue_max(1u << 15, "delta_poc_s0_minus1")) + 1;
      rps.delta_s0[i] = poc;
      rps.used_s0[i] = br.bit();
    }
    poc = 0;
    for (int i = 0; i < rps.num_positive; ++i) {
      poc += static_cast<int32_t>(br.ue_max(1u << 15, "delta_poc_s1_minus1")) + 1;
      rps.delta_s1[i] = poc;
      rps.used_s1[i] = br.bit();
    }
  }
  if (rps.num_delta() > kMaxDpb) throw BitstreamError("RPS larger than the DPB");
  return rps;
}

// 7.3.2.2 seq_parameter_set_rbsp(), up to the fields slice headers need.
std::pair<int, Sps> parse_sps(BitReader& br) {
  Sps sps;
  br.bits(4);  // sps_video_parameter_set_id
  const int max_sub_layers_minus1 = static_cast<int>(br.bits(3));
  if (max_sub_layers_minus1 > 6) throw BitstreamError("sps_max_sub_layers_minus1 > 6");
  br.bit();    // sps_temporal_id_nesting_flag
  int profile = 0;
  bool scc = false;
  parse_profile_tier_level(br, max_sub_layers_minus1, &profile, &scc);
  if (scc) throw BitstreamError("HEVC screen content coding profile is not supported");
  const int id = static_cast<int>(br.ue_max(15, "sps_seq_parameter_set_id"));
  sps.chroma_format_idc = static_cast<int>(br.ue_max(3, "chroma_format_idc"));
  if (sps.chroma_format_idc == 3) sps.separate_colour_plane = br.bit();
  sps.width = br.ue_max(16888, "pic_width_in_luma_samples");   // level 6.2 limit
  sps.height = br.ue_max(16888, "pic_height_in_luma_samples");
  if (sps.width == 0 || sps.height == 0) throw BitstreamError("zero picture size in SPS");
  if (br.bit()) {  // conformance_window_flag
    for (int i = 0; i < 4; ++i) br.ue();
  }
  sps.bit_depth_luma = 8 + static_cast<int>(br.ue_max(8, "bit_depth_luma_minus8"));
  br.ue_max(8, "bit_depth_chroma_minus8");
  sps.log2_max_poc_lsb = 4 + static_cast<int>(br.ue_max(12, "log2_max_pic_order_cnt_lsb_minus4"));
  const bool ordering_all = br.bit();
  for (int i = ordering_all ? 0 : max_sub_layers_minus1; i <= max_sub_layers_minus1; ++i) {
    br.ue_max(kMaxDpb - 1, "sps_max_dec_pic_buffering_minus1");
    br.ue_max(kMaxDpb, "sps_max_num_reorder_pics");
    br.ue();  // sps_max_latency_increase_plus1
  }
  const int log2_min_cb = 3 + static_cast<int>(br.ue_max(3, "log2_min_luma_coding_block_size_minus3"));
  const int log2_diff_cb = static_cast<int>(br.ue_max(3, "log2_diff_max_min_luma_coding_block_size"));
  sps.log2_ctb_size = log2_min_cb + log2_diff_cb;
  if (sps.log2_ctb_size > 6 || sps.log2_ctb_size < 4) throw BitstreamError("CTB size out of range");
  br.ue_max(3, "log2_min_luma_transform_block_size_minus2");
  br.ue_max(3, "log2_diff_max_min_luma_transform_block_size");
  br.ue_max(4, "max_transform_hierarchy_depth_inter");
  br.ue_max(4, "max_transform_hierarchy_depth_intra");
  if (br.bit()) {              // scaling_list_enabled_flag
    if (br.bit()) skip_scaling_list_data(br);  // sps_scaling_list_data_present_flag
  }
  br.bit();                    // amp_enabled_flag
  sps.sao = br.bit();
  if (br.bit()) {              // pcm_enabled_flag
    br.bits(4);
    br.bits(4);
    br.ue();
    br.ue();
    br.bit();
  }
  const int num_sets = static_cast<int>(br.ue_max(64, "num_short_term_ref_pic_sets"));
  for (int i = 0; i < num_sets; ++i) sps.st_rps.push_back(parse_st_rps(br, i, num_sets, sps.st_rps));
  sps.long_term_refs = br.bit();
  if (sps.long_term_refs) {
    sps.num_long_term_sps = static_cast<int>(br.ue_max(32, "num_long_term_ref_pics_sps"));
    for (int i = 0; i < sps.num_long_term_sps; ++i) {
      br.bits(sps.log2_max_poc_lsb);  // lt_ref_pic_poc_lsb_sps
      sps.used_by_curr_lt_sps[i] = br.bit();
    }
  }
  sps.temporal_mvp = br.bit();
  // strong_intra_smoothing, VUI and extensions do not affect the slice header before
  // slice_qp_delta (the SCC extension would; it is refused above).
  return {id, sps};
}

// 7.3.2.3 pic_parameter_set_rbsp(), up to lists_modification_present_flag.
std::pair<int, Pps> parse_pps(BitReader& br) {
  Pps pps;
  const int id = static_cast<int>(br.ue_max(63, "pps_pic_parameter_set_id"));
  pps.sps_id = static_cast<int>(br.ue_max(15, "pps_seq_parameter_set_id"));
  pps.dependent_slices = br.bit();
  pps.output_flag_present = br.bit();
  pps.num_extra_slice_header_bits = static_cast<int>(br.bits(3));
  br.bit();  // sign_data_hiding_enabled_flag
  pps.cabac_init_present = br.bit();
  pps.num_ref_idx_l0_default = 1 + static_cast<int>(br.ue_max(14, "num_ref_idx_l0_default_active_minus1"));
  pps.num_ref_idx_l1_default = 1 + static_cast<int>(br.ue_max(14, "num_ref_idx_l1_default_active_minus1"));
  pps.init_qp = 26 + br.se_range(-(26 + 6 * 8), 25, "init_qp_minus26");
  br.bit();  // constrained_intra_pred_flag
  br.bit();  // transform_skip_enabled_flag
  if (br.bit()) br.ue();  // cu_qp_delta_enabled_flag -> diff_cu_qp_delta_depth
  br.se_range(-12, 12, "pps_cb_qp_offset");
  br.se_range(-12, 12, "pps_cr_qp_offset");
  br.bit();  // pps_slice_chroma_qp_offsets_present_flag
  pps.weighted_pred = br.bit();
  pps.weighted_bipred = br.bit();
  br.bit();  // transquant_bypass_enabled_flag
  const bool tiles = br.bit();
  br.bit();  // entropy_coding_sync_enabled_flag
  if (tiles) {
    const uint32_t cols = br.ue_max(19, "num_tile_columns_minus1");
    const uint32_t rows = br.ue_max(21, "num_tile_rows_minus1");
    if (!br.bit()) {  // uniform_spacing_flag
      for (uint32_t i = 0; i < cols; ++i) br.ue();
      for (uint32_t i = 0; i < rows; ++i) br.ue();
    }
    br.bit();  // loop_filter_across_tiles_enabled_flag
  }
  br.bit();  // pps_loop_filter_across_slices_enabled_flag
  if (br.bit()) {  // deblocking_filter_control_present_flag
    br.bit();      // deblocking_filter_override_enabled_flag
    if (!br.bit()) {  // pps_deblocking_filter_disabled_flag
      br.se_range(-6, 6, "pps_beta_offset_div2");
      br.se_range(-6, 6, "pps_tc_offset_div2");
    }
  }
  if (br.bit()) skip_scaling_list_data(br);  // pps_scaling_list_data_present_flag
  pps.lists_modification_present = br.bit();
  // log2_parallel_merge_level, slice_segment_header_extension_present_flag and the extensions
  // come after slice_qp_delta in the slice header or do not affect it.
  return {id, pps};
}

struct SliceInfo {
  bool first_in_pic = false;
  bool dependent = false;
  int qp = 0;
  int slice_type = 2;  // 0 B, 1 P, 2 I
};

bool is_irap(int t) { return t >= 16 && t <= 23; }
bool is_idr(int t) { return t == 19 || t == 20; }

// 7.3.6.3 pred_weight_table(): only skipped.
void skip_pred_weight_table(BitReader& br, int chroma_array_type, int slice_type, int n_l0, int n_l1) {
  br.ue_max(7, "luma_log2_weight_denom");
  if (chroma_array_type != 0) br.se_range(-7, 7, "delta_chroma_log2_weight_denom");
  for (int list = 0; list < (slice_type == 0 ? 2 : 1); ++list) {
    const int n = list == 0 ? n_l0 : n_l1;
    // Single layer: a reference picture never has the current picture's POC (the condition
    // of the spec is true for every entry; pps_curr_pic_ref is SCC-only and refused).
    std::array<bool, 16> luma{}, chroma{};
    for (int i = 0; i < n; ++i) luma[i] = br.bit();
    if (chroma_array_type != 0)
      for (int i = 0; i < n; ++i) chroma[i] = br.bit();
    for (int i = 0; i < n; ++i) {
      if (luma[i]) {
        br.se_range(-128, 127, "delta_luma_weight");
        br.se();  // luma_offset (range depends on high_precision_offsets)
      }
      if (chroma[i]) {
        for (int j = 0; j < 2; ++j) {
          br.se_range(-128, 127, "delta_chroma_weight");
          br.se();
        }
      }
    }
  }
}

}  // namespace

struct HevcQpParser::State {
  std::array<std::optional<Sps>, 16> sps;
  std::array<std::optional<Pps>, 64> pps;
  size_t nal_length_size = 0;  // 0: Annex-B
  std::string extradata_error;
  int last_independent_qp = 0;
  int last_independent_type = 2;

  // Parses one NAL unit (header included, emulation prevention still in).
  void parse_nal(const uint8_t* p, size_t n, PacketQp& out) {
    if (n < 2) throw BitstreamError("NAL unit shorter than its header");
    if (p[0] & 0x80) throw BitstreamError("forbidden_zero_bit set");
    const int type = (p[0] >> 1) & 0x3f;
    const int layer = ((p[0] & 1) << 5) | (p[1] >> 3);
    if ((p[1] & 7) == 0) throw BitstreamError("nuh_temporal_id_plus1 is 0");
    if (layer != 0) return;
    if (type > 21 && type != 33 && type != 34) return;  // VPS, AUD, SEI, reserved...: not needed
    // A slice header up to slice_qp_delta is far below 4 KiB even with full weight tables and
    // list modification; only that much of a VCL NAL unit (mostly slice data) is unescaped.
    const size_t keep = type <= 21 ? std::min<size_t>(n - 2, 4096) : n - 2;
    const std::vector<uint8_t> rbsp = detail::unescape_rbsp(p + 2, keep);
    BitReader br(rbsp.data(), rbsp.size());
    if (type == 33) {
      auto [id, s] = parse_sps(br);
      sps[id] = std::move(s);
    } else if (type == 34) {
      auto [id, pp] = parse_pps(br);
      pps[id] = pp;
    } else if (type <= 9 || is_irap(type)) {
      if (type >= 10 && type <= 15) return;  // reserved VCL types (not reached: filtered above)
      const SliceInfo si = parse_slice(br, type);
      if (si.first_in_pic) {
        PictureQp pic;
        pic.qp_min = 1 << 30;
        pic.qp_max = -(1 << 30);
        out.pictures.push_back(pic);
      }
      if (out.pictures.empty()) throw BitstreamError("slice of a picture that started in an earlier packet");
      if (si.dependent) return;  // carries the preceding slice's QP and type
      PictureQp& pic = out.pictures.back();
      pic.qp = (pic.qp * pic.slices + si.qp) / (pic.slices + 1);
      ++pic.slices;
      pic.qp_min = std::min(pic.qp_min, si.qp);
      pic.qp_max = std::max(pic.qp_max, si.qp);
      const PictType t = si.slice_type == 0 ? PictType::B : si.slice_type == 1 ? PictType::P : PictType::I;
      if (pic.type == PictType::Unknown || t == PictType::B || (t == PictType::P && pic.type == PictType::I))
        pic.type = t;
    }
  }

  // 7.3.6.1 slice_segment_header(), up to slice_qp_delta.
  SliceInfo parse_slice(BitReader& br, int nal_type) {
    SliceInfo si;
    si.first_in_pic = br.bit();
    if (is_irap(nal_type)) br.bit();  // no_output_of_prior_pics_flag
    const int pps_id = static_cast<int>(br.ue_max(63, "slice_pic_parameter_set_id"));
    if (!pps[pps_id]) throw BitstreamError("slice refers to a missing PPS " + std::to_string(pps_id));
    const Pps& p = *pps[pps_id];
    if (!sps[p.sps_id]) throw BitstreamError("PPS refers to a missing SPS " + std::to_string(p.sps_id));
    const Sps& s = *sps[p.sps_id];
    if (!si.first_in_pic) {
      if (p.dependent_slices) si.dependent = br.bit();
      const uint32_t address = br.bits(ceil_log2(s.pic_size_in_ctbs()));  // slice_segment_address
      if (address >= s.pic_size_in_ctbs()) throw BitstreamError("slice_segment_address out of range");
    }
    if (si.dependent) {
      si.qp = last_independent_qp;
      si.slice_type = last_independent_type;
      return si;
    }
    br.skip(p.num_extra_slice_header_bits);  // slice_reserved_flag[]
    si.slice_type = static_cast<int>(br.ue_max(2, "slice_type"));
    if (p.output_flag_present) br.bit();     // pic_output_flag
    if (s.separate_colour_plane) br.bits(2); // colour_plane_id
    bool slice_temporal_mvp = false;
    int num_pic_total_curr = 0;
    if (!is_idr(nal_type)) {
      br.bits(s.log2_max_poc_lsb);  // slice_pic_order_cnt_lsb
      const int num_sets = static_cast<int>(s.st_rps.size());
      if (!br.bit()) {              // short_term_ref_pic_set_sps_flag
        num_pic_total_curr += parse_st_rps(br, num_sets, num_sets, s.st_rps).num_used();
      } else {
        if (num_sets == 0) throw BitstreamError("slice uses an SPS RPS but the SPS has none");
        uint32_t idx = 0;
        if (num_sets > 1) idx = br.bits(ceil_log2(num_sets));
        if (idx >= static_cast<uint32_t>(num_sets)) throw BitstreamError("short_term_ref_pic_set_idx out of range");
        num_pic_total_curr += s.st_rps[idx].num_used();
      }
      if (s.long_term_refs) {
        uint32_t num_lt_sps = 0;
        if (s.num_long_term_sps > 0) num_lt_sps = br.ue_max(s.num_long_term_sps, "num_long_term_sps");
        const uint32_t num_lt_pics = br.ue_max(kMaxDpb, "num_long_term_pics");
        if (num_lt_sps + num_lt_pics > kMaxDpb) throw BitstreamError("too many long-term pictures");
        for (uint32_t i = 0; i < num_lt_sps + num_lt_pics; ++i) {
          bool used = false;
          if (i < num_lt_sps) {
            uint32_t lt_idx = 0;
            if (s.num_long_term_sps > 1) lt_idx = br.bits(ceil_log2(s.num_long_term_sps));
            if (lt_idx >= static_cast<uint32_t>(s.num_long_term_sps)) throw BitstreamError("lt_idx_sps out of range");
            used = s.used_by_curr_lt_sps[lt_idx];
          } else {
            br.bits(s.log2_max_poc_lsb);  // poc_lsb_lt
            used = br.bit();              // used_by_curr_pic_lt_flag
          }
          if (br.bit()) br.ue();          // delta_poc_msb_present_flag -> delta_poc_msb_cycle_lt
          num_pic_total_curr += used;
        }
      }
      if (s.temporal_mvp) slice_temporal_mvp = br.bit();
    }
    if (s.sao) {
      br.bit();                                 // slice_sao_luma_flag
      if (s.chroma_array_type() != 0) br.bit(); // slice_sao_chroma_flag
    }
    if (si.slice_type != 2) {
      if (num_pic_total_curr == 0) throw BitstreamError("inter slice without reference pictures");
      int n_l0 = p.num_ref_idx_l0_default, n_l1 = p.num_ref_idx_l1_default;
      if (br.bit()) {  // num_ref_idx_active_override_flag
        n_l0 = 1 + static_cast<int>(br.ue_max(14, "num_ref_idx_l0_active_minus1"));
        if (si.slice_type == 0) n_l1 = 1 + static_cast<int>(br.ue_max(14, "num_ref_idx_l1_active_minus1"));
      }
      if (si.slice_type != 0) n_l1 = 0;
      if (p.lists_modification_present && num_pic_total_curr > 1) {  // ref_pic_lists_modification()
        const int bits = ceil_log2(num_pic_total_curr);
        if (br.bit())
          for (int i = 0; i < n_l0; ++i) br.bits(bits);
        if (si.slice_type == 0 && br.bit())
          for (int i = 0; i < n_l1; ++i) br.bits(bits);
      }
      if (si.slice_type == 0) br.bit();      // mvd_l1_zero_flag
      if (p.cabac_init_present) br.bit();    // cabac_init_flag
      if (slice_temporal_mvp) {
        bool from_l0 = true;
        if (si.slice_type == 0) from_l0 = br.bit();  // collocated_from_l0_flag
        if ((from_l0 && n_l0 > 1) || (!from_l0 && n_l1 > 1))
          br.ue_max(static_cast<uint32_t>((from_l0 ? n_l0 : n_l1) - 1), "collocated_ref_idx");
      }
      if ((p.weighted_pred && si.slice_type == 1) || (p.weighted_bipred && si.slice_type == 0))
        skip_pred_weight_table(br, s.chroma_array_type(), si.slice_type, n_l0, n_l1);
      br.ue_max(4, "five_minus_max_num_merge_cand");
    }
    const int qp_bd_offset = 6 * (s.bit_depth_luma - 8);
    si.qp = p.init_qp + br.se();  // SliceQpY = 26 + init_qp_minus26 + slice_qp_delta (7-54)
    if (si.qp < -qp_bd_offset || si.qp > 51) throw BitstreamError("SliceQpY out of range (" + std::to_string(si.qp) + ")");
    last_independent_qp = si.qp;
    last_independent_type = si.slice_type;
    return si;
  }

  // Splits a packet into NAL units and parses each; an error in one NAL unit is recorded and
  // the others are still parsed.
  void parse_units(const uint8_t* data, size_t size, size_t length_size, PacketQp& out) {
    auto parse_one = [&](const uint8_t* p, size_t n) {
      try {
        parse_nal(p, n, out);
      } catch (const std::exception& e) {
        if (out.error.empty()) out.error = e.what();
      }
    };
    if (length_size > 0) {
      size_t pos = 0;
      while (pos < size) {
        if (size - pos < length_size) {
          out.error = "NAL length prefix truncated";
          return;
        }
        size_t n = 0;
        for (size_t i = 0; i < length_size; ++i) n = (n << 8) | data[pos + i];
        pos += length_size;
        if (n > size - pos) {
          out.error = "NAL unit truncated";
          return;
        }
        parse_one(data + pos, n);
        pos += n;
      }
      return;
    }
    // Annex-B: find 00 00 01 start codes; trailing zero bytes of a unit belong to the next
    // start code (zero_byte) and are trimmed.
    size_t i = 0;
    auto next_start = [&](size_t from) {
      for (size_t k = from; k + 2 < size; ++k)
        if (data[k] == 0 && data[k + 1] == 0 && data[k + 2] == 1) return k;
      return size;
    };
    i = next_start(0);
    while (i < size) {
      const size_t begin = i + 3;
      size_t end = next_start(begin);
      const size_t next = end;
      while (end > begin && data[end - 1] == 0) --end;
      if (end > begin) parse_one(data + begin, end - begin);
      i = next;
    }
  }
};

HevcQpParser::HevcQpParser() : s_(std::make_unique<State>()) {}
HevcQpParser::HevcQpParser(const uint8_t* extradata, size_t size) : HevcQpParser() {
  if (extradata == nullptr || size == 0) return;
  PacketQp ignored;
  if (size >= 23 && extradata[0] == 1) {
    // HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1).
    s_->nal_length_size = (extradata[21] & 3) + 1;
    if (s_->nal_length_size == 3) {
      s_->extradata_error = "hvcC: lengthSizeMinusOne = 2 is not allowed";
      return;
    }
    size_t pos = 23;
    const int arrays = extradata[22];
    for (int a = 0; a < arrays; ++a) {
      if (size - pos < 3) {
        s_->extradata_error = "hvcC truncated";
        return;
      }
      const int count = (extradata[pos + 1] << 8) | extradata[pos + 2];
      pos += 3;
      for (int k = 0; k < count; ++k) {
        if (size - pos < 2) {
          s_->extradata_error = "hvcC truncated";
          return;
        }
        const size_t n = (size_t{extradata[pos]} << 8) | extradata[pos + 1];
        pos += 2;
        if (n > size - pos) {
          s_->extradata_error = "hvcC truncated";
          return;
        }
        try {
          s_->parse_nal(extradata + pos, n, ignored);
        } catch (const std::exception& e) {
          if (s_->extradata_error.empty()) s_->extradata_error = e.what();
        }
        pos += n;
      }
    }
  } else {
    s_->parse_units(extradata, size, 0, ignored);
    s_->extradata_error = ignored.error;
  }
}
HevcQpParser::~HevcQpParser() = default;
HevcQpParser::HevcQpParser(HevcQpParser&&) noexcept = default;
HevcQpParser& HevcQpParser::operator=(HevcQpParser&&) noexcept = default;

const std::string& HevcQpParser::extradata_error() const { return s_->extradata_error; }

PacketQp HevcQpParser::parse_packet(const uint8_t* data, size_t size) {
  PacketQp out;
  if (data == nullptr || size == 0) return out;
  s_->parse_units(data, size, s_->nal_length_size, out);
  return out;
}

}  // namespace lucid::video
