// The external codecs `lucid bench` compares against (WebP, AVIF, JPEG XL), run through their
// Debian command-line tools (packages webp, libavif-bin, libjxl-tools): settings, parameter
// sweeps and one encode/decode round trip. libjpeg-turbo is linked in and handled by cmd_bench.
#pragma once

#include <string>
#include <vector>

#include "lucid/media/image_io.h"
#include "subprocess.h"

namespace lucid::cli {

struct ExternalCodec {
  std::string key;         // "webp", "avif", "jxl": --baselines name and <key>.json
  std::string label;       // legend text in the plot
  std::string encoder;     // tool names, looked up in $PATH
  std::string decoder;
  std::string param_name;  // what the sweep varies ("q", "quantizer", "distance")
  std::vector<double> params;  // the sweep, ordered from the fewest bits to the most
  std::string settings;    // the fixed settings, for --help, the JSON and the README
  std::string ext;         // compressed file extension
  std::string decoded_ext; // what the decoder writes ("ppm" or "png")
  // Command lines; threads is the bench's -j.
  std::vector<std::string> encode_args(const std::string& src, const std::string& out,
                                       double param, int threads) const;
  std::vector<std::string> decode_args(const std::string& in, const std::string& out,
                                       int threads) const;
};

// WebP, AVIF and JPEG XL with their default sweeps (about 0.1-2 bpp on photographs).
std::vector<ExternalCodec> external_codecs();

// "" when both tools are in $PATH, else the name of the first one missing.
std::string missing_tool(const ExternalCodec& c);

// The encoder's version line ("cwebp 1.2.4"), or "unknown version".
std::string tool_version(const ExternalCodec& c, const TempDir& tmp);

struct RoundTrip {
  size_t bytes = 0;     // size of the compressed file, container included
  media::Image decoded;
  double enc_s = 0, dec_s = 0;  // wall time of each tool run (process start included)
};

// Encodes src_png (a PNG in tmp) at one parameter, decodes it, reads the pixels back.
// Throws CliError(kExitInternal) "<image>: <tool> failed (exit N): <its last output line>".
RoundTrip round_trip(const ExternalCodec& c, double param, const std::string& src_png,
                     const std::string& image_name, const TempDir& tmp, int threads);

// A sweep value as the tools take it: 40 -> "40", 1.5 -> "1.5".
std::string format_param(double v);

}  // namespace lucid::cli
