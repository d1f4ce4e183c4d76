#include "lucid/media/jpeg_io.h"

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

// jpeglib.h needs FILE and size_t declared first.
#include <jerror.h>
#include <jpeglib.h>

namespace lucid::jpeg {

const char* status_str(Status s) {
  switch (s) {
    case Status::kOk: return "ok";
    case Status::kNotJpeg: return "not a JPEG file";
    case Status::kCorrupt: return "corrupt JPEG data";
    case Status::kTruncated: return "truncated JPEG data";
    case Status::kTooLarge: return "image too large";
    case Status::kUnsupported: return "unsupported JPEG variant";
    case Status::kOutOfMemory: return "out of memory";
  }
  return "unknown status";
}

namespace {

// ---------------------------------------------------------------------------------------------
// Error handling. libjpeg reports fatal errors through error_exit (whose default calls exit())
// and recoverable damage through emit_message(-1). Both are redirected here: the handler records
// a Status and a message and longjmps back to the single setjmp in run_decode/run_encode.
//
// To keep setjmp/longjmp well defined in C++, the function that calls setjmp keeps everything it
// reads after a longjmp in a job struct owned by its caller, and no C++ object with a destructor
// lives in any frame that a longjmp unwinds (only libjpeg's C frames and these handlers).
// ---------------------------------------------------------------------------------------------

struct ErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg hands us a jpeg_error_mgr*
  std::jmp_buf jump;
  Status status;
  char message[JMSG_LENGTH_MAX];
  // True once the header (everything up to the first SOS) has been read; from then on any
  // skipped bytes mean an entropy-coded segment did not decode to its full length.
  bool in_scan_data;
};

ErrorManager* manager_of(j_common_ptr cinfo) {
  return reinterpret_cast<ErrorManager*>(cinfo->err);
}

Status classify_error(int code) {
  switch (code) {
    case JERR_OUT_OF_MEMORY: return Status::kOutOfMemory;
    case JERR_IMAGE_TOO_BIG:
    case JERR_WIDTH_OVERFLOW: return Status::kTooLarge;
    case JERR_NO_SOI: return Status::kNotJpeg;
    case JERR_INPUT_EMPTY:
    case JERR_INPUT_EOF: return Status::kTruncated;
    case JERR_BAD_PRECISION:
    case JERR_SOF_UNSUPPORTED:
    case JERR_NOT_COMPILED:
    case JERR_NOTIMPL:
    case JERR_ARITH_NOTIMPL:
    case JERR_CONVERSION_NOTIMPL:
    case JERR_CCIR601_NOTIMPL:
    case JERR_FRACT_SAMPLE_NOTIMPL: return Status::kUnsupported;
    default: return Status::kCorrupt;
  }
}

// kOk means the warning is harmless and decoding continues.
Status classify_warning(int code, bool in_scan_data) {
  switch (code) {
    case JWRN_JPEG_EOF: return Status::kTruncated;
    case JWRN_ADOBE_XFORM:
    case JWRN_JFIF_MAJOR:
    case JWRN_BOGUS_ICC: return Status::kOk;
    // Junk between header markers is common in camera files and harmless; after the first SOS
    // it means a damaged entropy-coded segment.
    case JWRN_EXTRANEOUS_DATA: return in_scan_data ? Status::kCorrupt : Status::kOk;
    default: return Status::kCorrupt;  // bad Huffman/arithmetic code, hit marker, resync, ...
  }
}

[[noreturn]] void fail_with(j_common_ptr cinfo, Status status) {
  ErrorManager* em = manager_of(cinfo);
  em->status = status;
  (*cinfo->err->format_message)(cinfo, em->message);
  std::longjmp(em->jump, 1);
}

void on_error_exit(j_common_ptr cinfo) { fail_with(cinfo, classify_error(cinfo->err->msg_code)); }

void on_emit_message(j_common_ptr cinfo, int msg_level) {
  if (msg_level >= 0) return;  // trace messages
  cinfo->err->num_warnings++;
  const Status s = classify_warning(cinfo->err->msg_code, manager_of(cinfo)->in_scan_data);
  if (s != Status::kOk) fail_with(cinfo, s);
}

void on_output_message(j_common_ptr) {}  // never print to stderr

void install_error_manager(ErrorManager* em) {
  jpeg_std_error(&em->pub);
  em->pub.error_exit = on_error_exit;
  em->pub.emit_message = on_emit_message;
  em->pub.output_message = on_output_message;
  em->status = Status::kOk;
  em->message[0] = '\0';
  em->in_scan_data = false;
}

// Stops files with absurdly many scans; libjpeg calls this while absorbing scans.
struct ScanGuard {
  jpeg_progress_mgr pub;  // first member
  uint32_t max_scans;
};

void on_progress(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  auto* guard = reinterpret_cast<ScanGuard*>(cinfo->progress);
  auto* dinfo = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (dinfo->input_scan_number > 0 &&
      static_cast<uint32_t>(dinfo->input_scan_number) > guard->max_scans) {
    ErrorManager* em = manager_of(cinfo);
    em->status = Status::kCorrupt;
    std::snprintf(em->message, sizeof(em->message), "more than %u scans",
                  static_cast<unsigned>(guard->max_scans));
    std::longjmp(em->jump, 1);
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

// One reading job: everything the function that calls setjmp uses after a longjmp lives here.
template <class Out>
struct ReadJob {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  ScanGuard guard;
  bool created = false;
  const uint8_t* data = nullptr;
  size_t size = 0;
  const Limits* limits = nullptr;
  Out* out = nullptr;
};
using DecodeJob = ReadJob<DecodedJpeg>;

std::string describe_subsampling(const jpeg_decompress_struct& c) {
  if (c.num_components == 1) return "gray";
  const jpeg_component_info* ci = c.comp_info;
  if (c.num_components == 3 && ci[1].h_samp_factor == ci[2].h_samp_factor &&
      ci[1].v_samp_factor == ci[2].v_samp_factor &&
      ci[0].h_samp_factor % ci[1].h_samp_factor == 0 &&
      ci[0].v_samp_factor % ci[1].v_samp_factor == 0) {
    const int h = ci[0].h_samp_factor / ci[1].h_samp_factor;
    const int v = ci[0].v_samp_factor / ci[1].v_samp_factor;
    if (h == 1 && v == 1) return "4:4:4";
    if (h == 2 && v == 1) return "4:2:2";
    if (h == 2 && v == 2) return "4:2:0";
    if (h == 1 && v == 2) return "4:4:0";
    if (h == 4 && v == 1) return "4:1:1";
    if (h == 4 && v == 2) return "4:1:0";
  }
  std::string s = "custom(";
  for (int i = 0; i < c.num_components; ++i) {
    if (i) s += ',';
    s += std::to_string(ci[i].h_samp_factor) + 'x' + std::to_string(ci[i].v_samp_factor);
  }
  return s + ')';
}

void read_quant_tables(const jpeg_decompress_struct& c, QuantTables* qt) {
  *qt = QuantTables{};
  for (int t = 0; t < 4 && t < NUM_QUANT_TBLS; ++t) {
    const JQUANT_TBL* tbl = c.quant_tbl_ptrs[t];
    if (!tbl) continue;
    for (int k = 0; k < 64; ++k) qt->tables[t][k] = static_cast<uint16_t>(tbl->quantval[k]);
    qt->defined[t] = true;
    qt->count = t + 1;
  }
  qt->num_components = std::min(c.num_components, 4);
  for (int i = 0; i < qt->num_components; ++i) qt->component_table[i] = c.comp_info[i].quant_tbl_no;
}

// Checks the parsed header against the limits before anything large is allocated.
bool within_limits(const jpeg_decompress_struct& c, const Limits& lim, ErrorManager* err) {
  const uint64_t pixels = uint64_t{c.image_width} * c.image_height;
  if (c.image_width <= lim.max_side && c.image_height <= lim.max_side && pixels <= lim.max_pixels)
    return true;
  err->status = Status::kTooLarge;
  std::snprintf(err->message, sizeof(err->message),
                "%ux%u exceeds the limits (%u per side, %llu pixels)",
                static_cast<unsigned>(c.image_width), static_cast<unsigned>(c.image_height),
                static_cast<unsigned>(lim.max_side), static_cast<unsigned long long>(lim.max_pixels));
  return false;
}

// Creates the decompressor, installs the guards and reads the header. Must be called from the
// function that did the setjmp.
void start_reading(jpeg_decompress_struct* c, ErrorManager* err, ScanGuard* guard,
                   const Limits& limits, const uint8_t* data, size_t size, bool* created) {
  jpeg_create_decompress(c);
  *created = true;
  guard->pub.progress_monitor = on_progress;
  guard->max_scans = limits.max_scans;
  c->progress = &guard->pub;
  jpeg_mem_src(c, data, static_cast<unsigned long>(size));
  jpeg_read_header(c, TRUE);
  err->in_scan_data = true;
}

void unsupported_color(const jpeg_decompress_struct& c, ErrorManager* err) {
  err->status = Status::kUnsupported;
  std::snprintf(err->message, sizeof(err->message), "unsupported colour space (%d components%s)",
                c.num_components, c.num_components == 4 ? ", CMYK/YCCK" : "");
}

// Returns with job->err.status/message describing the outcome. Any libjpeg error longjmps back
// to the setjmp below.
Status run_decode(DecodeJob* job) {
  jpeg_decompress_struct* c = &job->cinfo;
  c->err = &job->err.pub;
  install_error_manager(&job->err);
  if (setjmp(job->err.jump)) return job->err.status;

  start_reading(c, &job->err, &job->guard, *job->limits, job->data, job->size, &job->created);

  DecodedJpeg* out = job->out;
  out->width = static_cast<int>(c->image_width);
  out->height = static_cast<int>(c->image_height);
  out->components = c->num_components;
  out->progressive = c->progressive_mode != 0;
  out->subsampling = describe_subsampling(*c);
  read_quant_tables(*c, &out->qt);

  switch (c->jpeg_color_space) {
    case JCS_GRAYSCALE: c->out_color_space = JCS_GRAYSCALE; break;
    case JCS_YCbCr:
    case JCS_RGB: c->out_color_space = JCS_RGB; break;
    default: unsupported_color(*c, &job->err); return job->err.status;
  }

  if (!within_limits(*c, *job->limits, &job->err)) return job->err.status;

  c->dct_method = JDCT_ISLOW;
  c->do_fancy_upsampling = TRUE;
  jpeg_start_decompress(c);
  const int channels = c->out_color_space == JCS_GRAYSCALE ? 1 : 3;
  if (c->output_width != c->image_width || c->output_height != c->image_height ||
      c->output_components != channels) {
    job->err.status = Status::kUnsupported;
    std::snprintf(job->err.message, sizeof(job->err.message), "unexpected output format");
    return job->err.status;
  }

  const size_t row_bytes = size_t{c->output_width} * 3;
  try {
    out->rgb.assign(row_bytes * c->output_height, 0);
  } catch (const std::bad_alloc&) {
    job->err.status = Status::kOutOfMemory;
    std::snprintf(job->err.message, sizeof(job->err.message), "cannot allocate %zu bytes",
                  row_bytes * c->output_height);
    return job->err.status;
  }

  while (c->output_scanline < c->output_height) {
    uint8_t* row = out->rgb.data() + size_t{c->output_scanline} * row_bytes;
    JSAMPROW rows[1] = {row};
    if (jpeg_read_scanlines(c, rows, 1) != 1) {  // only a suspending source returns 0
      job->err.status = Status::kTruncated;
      std::snprintf(job->err.message, sizeof(job->err.message), "decoder stalled");
      return job->err.status;
    }
    if (channels == 1) {  // expand in place, back to front, so no sample is overwritten early
      for (size_t x = c->output_width; x-- > 0;) {
        const uint8_t v = row[x];
        row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = v;
      }
    }
  }
  jpeg_finish_decompress(c);
  return Status::kOk;
}

// ---------------------------------------------------------------------------------------------
// Coefficients
// ---------------------------------------------------------------------------------------------

using CoefficientJob = ReadJob<JpegCoefficients>;

Status run_read_coefficients(CoefficientJob* job) {
  jpeg_decompress_struct* c = &job->cinfo;
  c->err = &job->err.pub;
  install_error_manager(&job->err);
  if (setjmp(job->err.jump)) return job->err.status;
  start_reading(c, &job->err, &job->guard, *job->limits, job->data, job->size, &job->created);

  JpegCoefficients* out = job->out;
  switch (c->jpeg_color_space) {
    case JCS_GRAYSCALE: out->color = JpegCoefficients::Color::kGray; break;
    case JCS_YCbCr: out->color = JpegCoefficients::Color::kYCbCr; break;
    case JCS_RGB: out->color = JpegCoefficients::Color::kRGB; break;
    default: unsupported_color(*c, &job->err); return job->err.status;
  }
  if (c->num_components != (out->color == JpegCoefficients::Color::kGray ? 1 : 3)) {
    unsupported_color(*c, &job->err);
    return job->err.status;
  }
  if (!within_limits(*c, *job->limits, &job->err)) return job->err.status;

  jvirt_barray_ptr* arrays = jpeg_read_coefficients(c);
  out->width = static_cast<int>(c->image_width);
  out->height = static_cast<int>(c->image_height);
  out->max_h = c->max_h_samp_factor;
  out->max_v = c->max_v_samp_factor;
  try {
    out->components.resize(static_cast<size_t>(c->num_components));
    for (int i = 0; i < c->num_components; ++i) {
      const jpeg_component_info& ci = c->comp_info[i];
      JpegCoefficients::Component& comp = out->components[static_cast<size_t>(i)];
      comp.h = ci.h_samp_factor;
      comp.v = ci.v_samp_factor;
      comp.blocks_w = static_cast<int>(ci.width_in_blocks);
      comp.blocks_h = static_cast<int>(ci.height_in_blocks);
      const JQUANT_TBL* q = ci.quant_table ? ci.quant_table : c->quant_tbl_ptrs[ci.quant_tbl_no];
      if (!q) {
        job->err.status = Status::kCorrupt;
        std::snprintf(job->err.message, sizeof(job->err.message),
                      "component %d has no quantization table", i);
        return job->err.status;
      }
      for (int k = 0; k < 64; ++k) comp.quant[static_cast<size_t>(k)] = q->quantval[k];
      comp.coef.resize(size_t{ci.width_in_blocks} * ci.height_in_blocks * 64);
      for (JDIMENSION by = 0; by < ci.height_in_blocks; ++by) {
        JBLOCKARRAY row = (*c->mem->access_virt_barray)(reinterpret_cast<j_common_ptr>(c),
                                                         arrays[i], by, 1, FALSE);
        for (JDIMENSION bx = 0; bx < ci.width_in_blocks; ++bx) {
          int16_t* dst = comp.coef.data() + (size_t{by} * ci.width_in_blocks + bx) * 64;
          for (int k = 0; k < 64; ++k) dst[k] = row[0][bx][k];
        }
      }
    }
  } catch (const std::bad_alloc&) {
    job->err.status = Status::kOutOfMemory;
    std::snprintf(job->err.message, sizeof(job->err.message), "cannot allocate coefficients");
    return job->err.status;
  }
  jpeg_finish_decompress(c);
  return Status::kOk;
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

struct EncodeJob {
  jpeg_compress_struct cinfo;
  ErrorManager err;
  bool created = false;
  unsigned char* buffer = nullptr;  // malloc'ed by jpeg_mem_dest; freed by the caller
  unsigned long buffer_size = 0;
  const uint8_t* rgb = nullptr;
  int width = 0, height = 0, quality = 0;
  Subsampling subsampling = Subsampling::k420;
  bool optimize = true, progressive = false;
};

Status run_encode(EncodeJob* job) {
  jpeg_compress_struct* c = &job->cinfo;
  c->err = &job->err.pub;
  install_error_manager(&job->err);
  if (setjmp(job->err.jump)) return job->err.status;

  jpeg_create_compress(c);
  job->created = true;
  jpeg_mem_dest(c, &job->buffer, &job->buffer_size);
  c->image_width = static_cast<JDIMENSION>(job->width);
  c->image_height = static_cast<JDIMENSION>(job->height);
  c->input_components = 3;
  c->in_color_space = JCS_RGB;
  jpeg_set_defaults(c);
  jpeg_set_quality(c, job->quality, TRUE);
  c->dct_method = JDCT_ISLOW;
  int h = 2, v = 2;
  switch (job->subsampling) {
    case Subsampling::k444: h = 1; v = 1; break;
    case Subsampling::k422: h = 2; v = 1; break;
    case Subsampling::k420: h = 2; v = 2; break;
    case Subsampling::k440: h = 1; v = 2; break;
    case Subsampling::k411: h = 4; v = 1; break;
    case Subsampling::kGray: h = 1; v = 1; break;
  }
  if (job->subsampling == Subsampling::kGray) {
    jpeg_set_colorspace(c, JCS_GRAYSCALE);  // libjpeg converts the RGB rows to Y
    c->comp_info[0].h_samp_factor = c->comp_info[0].v_samp_factor = 1;
  } else {
    c->comp_info[0].h_samp_factor = h;
    c->comp_info[0].v_samp_factor = v;
    for (int i = 1; i < 3; ++i) c->comp_info[i].h_samp_factor = c->comp_info[i].v_samp_factor = 1;
  }
  c->optimize_coding = job->optimize ? TRUE : FALSE;
  if (job->progressive) jpeg_simple_progression(c);

  jpeg_start_compress(c, TRUE);
  const size_t row_bytes = size_t(job->width) * 3;
  while (c->next_scanline < c->image_height) {
    // libjpeg never writes through the input rows; JSAMPROW is just not const-qualified.
    JSAMPROW rows[1] = {const_cast<uint8_t*>(job->rgb + size_t{c->next_scanline} * row_bytes)};
    jpeg_write_scanlines(c, rows, 1);
  }
  jpeg_finish_compress(c);
  return Status::kOk;
}

// ---------------------------------------------------------------------------------------------
// Quality estimation
// ---------------------------------------------------------------------------------------------

// ITU-T T.81 Annex K, tables K.1 and K.2, natural order.
constexpr uint8_t kAnnexKLuma[64] = {
    16, 11, 10, 16, 24,  40,  51,  61,   //
    12, 12, 14, 19, 26,  58,  60,  55,   //
    14, 13, 16, 24, 40,  57,  69,  56,   //
    14, 17, 22, 29, 51,  87,  80,  62,   //
    18, 22, 37, 56, 68,  109, 103, 77,   //
    24, 35, 55, 64, 81,  104, 113, 92,   //
    49, 64, 78, 87, 103, 121, 120, 101,  //
    72, 92, 95, 98, 112, 100, 103, 99};
constexpr uint8_t kAnnexKChroma[64] = {
    17, 18, 24, 47, 99, 99, 99, 99,  //
    18, 21, 26, 66, 99, 99, 99, 99,  //
    24, 26, 56, 99, 99, 99, 99, 99,  //
    47, 66, 99, 99, 99, 99, 99, 99,  //
    99, 99, 99, 99, 99, 99, 99, 99,  //
    99, 99, 99, 99, 99, 99, 99, 99,  //
    99, 99, 99, 99, 99, 99, 99, 99,  //
    99, 99, 99, 99, 99, 99, 99, 99};

// libjpeg's jpeg_quality_scaling: percentage scale factor for a quality.
int ijg_scale(int quality) {
  quality = std::clamp(quality, 1, 100);
  return quality < 50 ? 5000 / quality : 200 - quality * 2;
}

double quality_from_scale(double scale) {
  double q = scale <= 100.0 ? (200.0 - scale) / 2.0 : 5000.0 / scale;
  return std::clamp(q, 1.0, 100.0);
}

}  // namespace

std::array<uint16_t, 64> ijg_table(int quality, bool chroma) {
  const int scale = ijg_scale(quality);
  const uint8_t* base = chroma ? kAnnexKChroma : kAnnexKLuma;
  std::array<uint16_t, 64> t{};
  for (int k = 0; k < 64; ++k) {
    const long v = (long{base[k]} * scale + 50) / 100;
    t[k] = static_cast<uint16_t>(std::clamp(v, 1L, 255L));
  }
  return t;
}

QualityEstimate estimate_quality(const QuantTables& qt) {
  // Which slot is luma and which slots are chroma.
  int luma = -1;
  std::array<bool, 4> chroma{};
  if (qt.num_components > 0 && qt.component_table[0] >= 0 && qt.component_table[0] < 4) {
    luma = qt.component_table[0];
    for (int i = 1; i < qt.num_components && i < 4; ++i) {
      const int t = qt.component_table[i];
      if (t >= 0 && t < 4) chroma[t] = true;
    }
  } else {
    for (int t = 0; t < qt.count && t < 4; ++t) {
      if (!qt.defined[t]) continue;
      if (luma < 0) luma = t; else chroma[t] = true;
    }
  }
  if (luma < 0 || !qt.defined[luma]) {  // fall back to the first defined slot
    luma = -1;
    for (int t = 0; t < qt.count && t < 4; ++t) if (qt.defined[t]) { luma = t; break; }
  }
  if (luma < 0) return {0.0, false};

  // Exact match: every defined slot must equal the IJG table of its role for one quality.
  for (int q = 1; q <= 100; ++q) {
    const auto luma_ref = ijg_table(q, false);
    const auto chroma_ref = ijg_table(q, true);
    bool all = true;
    for (int t = 0; t < qt.count && t < 4 && all; ++t) {
      if (!qt.defined[t]) continue;
      const bool is_luma = t == luma, is_chroma = chroma[t];
      if (is_luma && qt.tables[t] != luma_ref) all = false;
      if (is_chroma && qt.tables[t] != chroma_ref) all = false;
      if (!is_luma && !is_chroma && qt.tables[t] != luma_ref && qt.tables[t] != chroma_ref)
        all = false;  // an unreferenced table still has to be one of the two
    }
    if (all) return {double(q), true};
  }

  // Least-squares fit of table ~= base * scale / 100 on the luma table. Entries pinned at the
  // baseline ceiling carry no information about the scale, so they are left out.
  const auto& t = qt.tables[luma];
  const bool clamped = *std::max_element(t.begin(), t.end()) == 255;
  double tb = 0.0, bb = 0.0;
  for (int k = 0; k < 64; ++k) {
    if (clamped && t[k] >= 255) continue;
    tb += double(t[k]) * kAnnexKLuma[k];
    bb += double(kAnnexKLuma[k]) * kAnnexKLuma[k];
  }
  if (bb == 0.0) return {1.0, false};  // every entry at 255: coarser than quality 1 allows
  const double scale = 100.0 * tb / bb;
  if (scale <= 0.0) return {100.0, false};
  return {quality_from_scale(scale), false};
}

namespace {
// Cheap checks before libjpeg sees the bytes: returns the reason (and sets *st) or nullptr.
const char* precheck(const uint8_t* data, size_t size, Status* st) {
  *st = Status::kNotJpeg;
  if (size == 0 || !data) return "empty input";
  if (data[0] != 0xFF || (size >= 2 && data[1] != 0xD8)) return "no JPEG start-of-image marker";
  *st = Status::kTruncated;
  if (size < 2) return "input ends inside the start-of-image marker";
  *st = Status::kTooLarge;
  if (size > static_cast<size_t>(static_cast<unsigned long>(-1)))
    return "input larger than libjpeg can address";
  *st = Status::kOk;
  return nullptr;
}

// The public readers share one shape: cheap checks, one libjpeg job, errors to a Status.
template <class Out, class Job>
Status run_reader(const uint8_t* data, size_t size, Out* out, std::string* error,
                  const Limits& limits, Status (*run)(Job*)) {
  auto fail = [&](Status s, const std::string& why) {
    if (out) *out = Out{};
    if (error) *error = why;
    return s;
  };
  if (!out) return fail(Status::kCorrupt, "no output object");
  Status st = Status::kOk;
  if (const char* why = precheck(data, size, &st)) return fail(st, why);
  *out = Out{};
  Job job;
  job.data = data;
  job.size = size;
  job.limits = &limits;
  job.out = out;
  const Status s = run(&job);
  if (job.created) jpeg_destroy_decompress(&job.cinfo);
  if (s != Status::kOk) return fail(s, job.err.message[0] ? job.err.message : status_str(s));
  if (error) error->clear();
  return Status::kOk;
}

}  // namespace

Status decode_jpeg(const uint8_t* data, size_t size, DecodedJpeg* out, std::string* error,
                   const Limits& limits) {
  return run_reader(data, size, out, error, limits, &run_decode);
}

Status read_jpeg_coefficients(const uint8_t* data, size_t size, JpegCoefficients* out,
                              std::string* error, const Limits& limits) {
  return run_reader(data, size, out, error, limits, &run_read_coefficients);
}

std::vector<uint8_t> encode_jpeg(const uint8_t* rgb, int width, int height, int quality,
                                 Subsampling s, bool optimize_huffman, bool progressive) {
  if (!rgb) throw std::runtime_error("encode_jpeg: null pixel buffer");
  if (width < 1 || height < 1 || width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION)
    throw std::runtime_error("encode_jpeg: image size " + std::to_string(width) + "x" +
                             std::to_string(height) + " outside 1.." +
                             std::to_string(JPEG_MAX_DIMENSION));
  if (quality < 1 || quality > 100)
    throw std::runtime_error("encode_jpeg: quality " + std::to_string(quality) +
                             " outside 1..100");

  EncodeJob job;
  job.rgb = rgb;
  job.width = width;
  job.height = height;
  job.quality = quality;
  job.subsampling = s;
  job.optimize = optimize_huffman;
  job.progressive = progressive;
  const Status st = run_encode(&job);
  if (job.created) jpeg_destroy_compress(&job.cinfo);
  std::vector<uint8_t> bytes;
  if (st == Status::kOk && job.buffer) {
    try {
      bytes.assign(job.buffer, job.buffer + job.buffer_size);
    } catch (...) {
      std::free(job.buffer);
      throw;
    }
  }
  std::free(job.buffer);
  if (st != Status::kOk)
    throw std::runtime_error(std::string("encode_jpeg: ") +
                             (job.err.message[0] ? job.err.message : status_str(st)));
  return bytes;
}

}  // namespace lucid::jpeg
