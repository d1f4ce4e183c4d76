// JPEG decode/encode and quantization-table analysis (lucid::media: the CLI, the trainers and
// the JPEG restorer read JPEG files through it).
//
// Plain C++17 on top of the libjpeg API of libjpeg-turbo: no LibTorch, no OpenCV. Decoding is
// safe on untrusted bytes: every libjpeg error and every data-integrity warning ends in a Status,
// never in exit(), a crash or an unbounded loop, and the declared size is checked against Limits
// before any pixel buffer is allocated.
//
// Thread safety: all functions are reentrant (no global state; each call owns its libjpeg
// object and error manager).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lucid/media/limits.h"

namespace lucid::jpeg {

// Quantization tables as read from the DQT markers.
//
// ORDER: every table is in NATURAL (row-major 8x8) order, i.e. tables[t][v * 8 + u] is the
// quantizer of the coefficient at vertical frequency v and horizontal frequency u; entry 0 is
// DC. This is libjpeg's JQUANT_TBL::quantval order, NOT the zigzag order of the DQT marker.
struct QuantTables {
  // Number of table slots in use: slots 0 .. count-1. A slot inside that range that the stream
  // never defined is all zeros and has defined[t] == false.
  int count = 0;
  std::array<std::array<uint16_t, 64>, 4> tables{};
  std::array<bool, 4> defined{};
  // Number of colour components in the frame (1 gray, 3 YCbCr/RGB) and the table slot each
  // uses (component_table[c] for c < num_components; -1 beyond).
  int num_components = 0;
  std::array<int, 4> component_table{{-1, -1, -1, -1}};
};

struct DecodedJpeg {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;   // width*height*3 bytes, interleaved RGB8; gray is expanded to RGB
  int components = 0;         // components in the file: 1 (gray) or 3
  bool progressive = false;
  // "4:4:4", "4:2:2", "4:2:0", "4:4:0", "4:1:1", "4:1:0", "gray", or for unusual factors
  // "custom(HxV,HxV,HxV)" listing each component's sampling factors.
  std::string subsampling;
  QuantTables qt;
};

// Limits for untrusted input, checked after the header is parsed and before any pixel buffer
// is allocated. libjpeg itself cannot decode sides above 65500 (reported as kTooLarge too).
// Peak memory is about 3 bytes per pixel for the output, plus for progressive files libjpeg's
// coefficient buffer (2 bytes per coded sample: 6 B/pixel at 4:4:4, 3 B/pixel at 4:2:0), so
// the default 2^28-pixel limit admits up to ~2.4 GB; lower max_pixels for untrusted services.
struct Limits {
  uint64_t max_pixels = media::kMaxImagePixels;
  uint32_t max_side = media::kMaxImageSide;
  // Progressive files may carry thousands of tiny scans that make decoding very slow (a known
  // denial-of-service pattern); more SOS markers than this is kCorrupt. Real encoders use < 20.
  uint32_t max_scans = 500;
};

// Append-only: values are stable.
enum class Status {
  kOk = 0,
  kNotJpeg,       // does not start with SOI (includes empty input)
  kCorrupt,       // malformed markers or entropy-coded data
  kTruncated,     // data ends early ("premature end of JPEG file" and friends)
  kTooLarge,      // exceeds Limits (or libjpeg's 65500-pixel side limit)
  kUnsupported,   // CMYK/YCCK, 12-bit, lossless, unusual component counts
  kOutOfMemory,
};

const char* status_str(Status s);

// Decodes a complete JPEG file in memory. On kOk fills *out; on any other status *out is reset
// to an empty DecodedJpeg and *error (when non-null) says why in one line.
//
// Colour: YCbCr and Adobe-RGB files come out as RGB; grayscale is expanded to RGB. CMYK and
// YCCK files are rejected with kUnsupported (converting them correctly needs the ICC profile,
// which this library does not apply).
//
// Strictness: libjpeg recovers from damaged data by emitting a warning and padding the image.
// Here a premature end of the data is kTruncated and the corrupt-data warnings (bad Huffman or
// arithmetic code, marker inside a segment, resync, bogus progression) are kCorrupt, so damaged
// files are never silently accepted. Harmless warnings (unknown JFIF revision, Adobe transform
// code, extraneous bytes between markers, bad ICC marker) are tolerated.
Status decode_jpeg(const uint8_t* data, size_t size, DecodedJpeg* out, std::string* error,
                   const Limits& limits = {});

// The quantized DCT coefficients of a JPEG file, as the decoder's entropy stage produces them
// (no dequantization, no IDCT): what the file actually says about the image. Used to keep a
// restored image consistent with the file (see jpeg_constraint.h).
struct JpegCoefficients {
  enum class Color { kGray, kYCbCr, kRGB };
  int width = 0, height = 0;  // image size in pixels
  Color color = Color::kYCbCr;
  int max_h = 1, max_v = 1;   // largest sampling factors over the components
  struct Component {
    int h = 1, v = 1;                     // sampling factors
    int blocks_w = 0, blocks_h = 0;       // component size in 8x8 blocks (image area only)
    std::array<uint16_t, 64> quant{};     // natural order
    std::vector<int16_t> coef;            // blocks_h * blocks_w blocks of 64, natural order
  };
  std::vector<Component> components;
};

// Reads the quantized coefficients of a complete JPEG file (baseline or progressive). Same
// statuses, strictness and limits as decode_jpeg; CMYK/YCCK is kUnsupported. Memory: 2 bytes per
// coded sample (e.g. 3 bytes per pixel at 4:2:0), plus libjpeg's own copy while reading.
Status read_jpeg_coefficients(const uint8_t* data, size_t size, JpegCoefficients* out,
                              std::string* error, const Limits& limits = {});

struct QualityEstimate {
  double quality = 0.0;  // IJG quality 1..100; 0 when no table is defined
  bool exact = false;    // true: every table equals the IJG table for this integer quality
};

// Recovers the IJG quality (libjpeg's jpeg_set_quality, Annex K tables, baseline clamp to 255)
// that produced the tables. exact == true only when every table in use matches: the luma
// component's table equals the scaled Annex K luminance table and every chroma component's table
// the scaled chrominance table for the same quality. Otherwise a best estimate: the IJG scale
// factor is fitted by least squares to the luma table (entries clamped at 1 or 255 excluded),
// mapped back through the IJG quality formula and clamped to [1, 100].
// Without component information, slot 0 is taken as luma and the other slots as chroma.
QualityEstimate estimate_quality(const QuantTables& qt);

// The IJG table for a quality (1..100) in natural order: luma (chroma == false) or chroma.
std::array<uint16_t, 64> ijg_table(int quality, bool chroma);

// kGray: one luma component (Y of the RGB input), as `cjpeg -grayscale` writes.
enum class Subsampling { k444, k422, k420, k440, k411, kGray };

// Encodes interleaved RGB8 (width*height*3 bytes) with libjpeg's defaults: IJG quality tables
// forced to baseline (jpeg_set_quality(q, TRUE)), accurate integer DCT, YCbCr with the given
// chroma subsampling. optimize_huffman builds per-image Huffman tables; progressive uses
// libjpeg's standard progression script. quality must be 1..100 and sides 1..65500.
// Throws std::runtime_error on invalid arguments or any libjpeg error.
std::vector<uint8_t> encode_jpeg(const uint8_t* rgb, int width, int height, int quality,
                                 Subsampling s = Subsampling::k420, bool optimize_huffman = true,
                                 bool progressive = false);

}  // namespace lucid::jpeg
