#include "baselines.h"

#include <sys/stat.h>

#include <cstdio>

#include "cli.h"

namespace lucid::cli {

std::string format_param(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::vector<std::string> ExternalCodec::encode_args(const std::string& src,
                                                    const std::string& out, double param,
                                                    int threads) const {
  const std::string p = format_param(param);
  const std::string j = std::to_string(threads);
  if (key == "webp") {
    std::vector<std::string> a = {encoder, "-quiet", "-m", "6", "-q", p};
    if (threads > 1) a.push_back("-mt");
    a.insert(a.end(), {"-o", out, "--", src});
    return a;
  }
  if (key == "avif")
    return {encoder, "-c", "aom", "-s", "4", "-y", "444", "--min", p, "--max", p, "-j", j,
            src, out};
  return {encoder, "-d", p, "-e", "7", "--num_threads=" + j, "--quiet", src, out};
}

std::vector<std::string> ExternalCodec::decode_args(const std::string& in, const std::string& out,
                                                    int threads) const {
  const std::string j = std::to_string(threads);
  if (key == "webp") {
    std::vector<std::string> a = {decoder, "-quiet", "-ppm"};
    if (threads > 1) a.push_back("-mt");
    a.insert(a.end(), {in, "-o", out});
    return a;
  }
  if (key == "avif") return {decoder, "-j", j, "-d", "8", "--png-compress", "0", in, out};
  return {decoder, "--num_threads=" + j, in, out};
}

std::vector<ExternalCodec> external_codecs() {
  std::vector<ExternalCodec> c(3);
  c[0].key = "webp";
  c[0].label = "WebP (cwebp -m 6)";
  c[0].encoder = "cwebp";
  c[0].decoder = "dwebp";
  c[0].param_name = "q";
  c[0].params = {0, 5, 10, 25, 40, 55, 70, 80, 90, 95};
  c[0].settings = "cwebp -m 6 -q Q (lossy, 4:2:0), dwebp to PPM";
  c[0].ext = "webp";
  c[0].decoded_ext = "ppm";

  c[1].key = "avif";
  c[1].label = "AVIF (libaom 4:4:4, speed 4)";
  c[1].encoder = "avifenc";
  c[1].decoder = "avifdec";
  c[1].param_name = "quantizer";
  c[1].params = {63, 56, 50, 42, 36, 30, 24, 18, 12, 6};
  c[1].settings =
      "avifenc -c aom -s 4 -y 444 --min Q --max Q (fixed AV1 quantizer 0..63), avifdec to PNG";
  c[1].ext = "avif";
  c[1].decoded_ext = "png";

  c[2].key = "jxl";
  c[2].label = "JPEG XL (cjxl -e 7)";
  c[2].encoder = "cjxl";
  c[2].decoder = "djxl";
  c[2].param_name = "distance";
  c[2].params = {15, 10, 6, 4, 3, 2, 1.5, 1, 0.7, 0.4};
  c[2].settings = "cjxl -d D -e 7 (butteraugli distance, VarDCT), djxl to PPM";
  c[2].ext = "jxl";
  c[2].decoded_ext = "ppm";
  return c;
}

std::string missing_tool(const ExternalCodec& c) {
  if (find_in_path(c.encoder).empty()) return c.encoder;
  if (find_in_path(c.decoder).empty()) return c.decoder;
  return "";
}

std::string tool_version(const ExternalCodec& c, const TempDir& tmp) {
  const std::string flag = c.key == "webp" ? "-version" : "--version";
  try {
    ToolResult r = run_tool({c.encoder, flag}, tmp.file("version.log"));
    std::string line = r.output.substr(0, r.output.find('\n'));
    if (r.exit_code != 0 || line.empty()) return "unknown version";
    // "Version: 0.11.1 (dav1d ...)" -> "0.11.1 (dav1d ...)"; "cjxl v0.7.0 [AVX2]" as is.
    if (line.rfind("Version: ", 0) == 0) line = line.substr(9);
    return line.rfind(c.encoder, 0) == 0 ? line : c.encoder + " " + line;
  } catch (const CliError&) {
    return "unknown version";
  }
}

namespace {
std::string last_line(const std::string& s) {
  size_t end = s.find_last_not_of("\r\n \t");
  if (end == std::string::npos) return "no output";
  size_t start = s.find_last_of('\n', end);
  const size_t from = start == std::string::npos ? 0 : start + 1;
  return s.substr(from, end + 1 - from);
}

void run_checked(const std::vector<std::string>& argv, const std::string& image_name,
                 const std::string& output, const TempDir& tmp, double* seconds) {
  std::remove(output.c_str());  // a stale file from the previous parameter must not count
  Timer t;
  ToolResult r = run_tool(argv, tmp.file("tool.log"));
  *seconds = t.seconds();
  struct stat st;
  if (r.exit_code != 0 || ::stat(output.c_str(), &st) != 0 || st.st_size == 0)
    throw CliError(kExitInternal,
                   image_name + ": " + argv[0] + " failed (" +
                       (r.exit_code == -1 ? std::string("killed by a signal")
                                          : "exit " + std::to_string(r.exit_code)) +
                       (r.exit_code == 0 ? ", no output file" : "") + "): " + last_line(r.output));
}
}  // namespace

RoundTrip round_trip(const ExternalCodec& c, double param, const std::string& src_png,
                     const std::string& image_name, const TempDir& tmp, int threads) {
  RoundTrip rt;
  const std::string coded = tmp.file("coded." + c.ext);
  const std::string decoded = tmp.file("decoded." + c.decoded_ext);
  run_checked(c.encode_args(src_png, coded, param, threads), image_name, coded, tmp, &rt.enc_s);
  struct stat st;
  ::stat(coded.c_str(), &st);
  rt.bytes = size_t(st.st_size);
  run_checked(c.decode_args(coded, decoded, threads), image_name, decoded, tmp, &rt.dec_s);
  try {
    rt.decoded = media::read_image(decoded);
  } catch (const media::ImageError& e) {
    throw CliError(kExitInternal, image_name + ": " + c.decoder + " wrote an unreadable image: " +
                                      e.reason());
  }
  return rt;
}

}  // namespace lucid::cli
