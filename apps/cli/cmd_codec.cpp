// lucid encode / decode / info
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "lucid/media/image_io.h"
#include "metrics.h"

namespace lucid::cli {

namespace {

void refuse_existing(const std::string& out, bool overwrite) {
  if (!overwrite && std::filesystem::exists(out))
    throw CliError(kExitWrite, out + ": exists (use -y/--overwrite to replace it)");
}

std::string one_input(const std::vector<std::string>& pos, const char* cmd) {
  if (pos.size() != 1)
    throw CliError(kExitUsage, std::string(cmd) + ": expected exactly one input (see --help)");
  return pos[0];
}

}  // namespace

int cmd_encode(int argc, char** argv) {
  flags::Parser p("encode");
  CommonFlags f;
  add_common_flags(p, &f);
  std::optional<std::string> quality_arg, bpp_arg, size_arg, effort_arg;
  p.value("-q,--quality", &quality_arg);
  p.value("--target-bpp", &bpp_arg);
  p.value("--target-size", &size_arg);
  p.value("-e,--effort", &effort_arg);
  const auto pos = p.parse(argc, argv, 2);
  double quality = 75;
  int modes = 0;
  double target_bpp = -1;
  long long target_size = -1;
  if (quality_arg) {
    quality = parse_double("-q", *quality_arg, 1, 100);
    ++modes;
  }
  if (bpp_arg) {
    target_bpp = parse_double("--target-bpp", *bpp_arg, 1e-4, 48);
    ++modes;
  }
  if (size_arg) {
    target_size = parse_int("--target-size", *size_arg, 1, 2000000000);
    ++modes;
  }
  int effort = 1;
  if (effort_arg) effort = static_cast<int>(parse_int("--effort", *effort_arg, 1, 9));
  const std::string in = one_input(pos, "encode");
  if (modes > 1)
    throw CliError(kExitUsage, "encode: -q, --target-bpp and --target-size are exclusive");
  if (f.output.empty()) throw CliError(kExitUsage, "encode: -o OUT.lucid is required");
  check_device(f);
  refuse_existing(f.output, f.overwrite);

  media::Image img = media::read_image(in);
  Context ctx(f.model, LUCID_MODEL_CODEC, f);
  ctx.check(lucid_context_set_option(ctx.get(), LUCID_OPT_EFFORT, effort), "--effort");
  Timer t;
  uint8_t* bytes = nullptr;
  size_t size = 0;
  float used_quality = static_cast<float>(quality);
  const size_t stride = static_cast<size_t>(img.width) * 3;
  if (target_bpp > 0 || target_size > 0) {
    const double pixels = static_cast<double>(img.width) * img.height;
    const size_t budget = target_size > 0 ? static_cast<size_t>(target_size)
                                          : static_cast<size_t>(target_bpp * pixels / 8.0);
    ctx.check(lucid_encode_image_to_size(ctx.get(), img.rgb.data(), img.width, img.height,
                                         stride, budget, &bytes, &size, &used_quality),
              in);
  } else {
    ctx.check(lucid_encode_image(ctx.get(), img.rgb.data(), img.width, img.height, stride,
                                 static_cast<float>(quality), &bytes, &size),
              in);
  }
  std::vector<uint8_t> data(bytes, bytes + size);
  lucid_free(bytes);
  const double seconds = t.seconds();
  media::write_file_atomic(f.output, data, f.overwrite);
  const double bpp = 8.0 * size / (static_cast<double>(img.width) * img.height);
  if (!f.quiet) {
    char line[512];
    std::snprintf(line, sizeof line, "%s: %dx%d -> %s bytes (%.3f bpp, q %.1f) in %.2f s",
                  in.c_str(), img.width, img.height, with_thousands(size).c_str(), bpp,
                  used_quality, seconds);
    std::cerr << line << "\n";
  }
  if (f.json) {
    Json j;
    j["input"] = in;
    j["output"] = f.output;
    j["width"] = img.width;
    j["height"] = img.height;
    j["bytes"] = size;
    j["bpp"] = bpp;
    j["quality"] = json_float(used_quality);
    j["seconds"] = seconds;
    std::cout << json_text(j) << "\n";
  }
  return kExitOk;
}

int cmd_decode(int argc, char** argv) {
  flags::Parser p("decode");
  CommonFlags f;
  add_common_flags(p, &f);
  std::string reference;
  p.value("--compare", &reference);
  const std::string in = one_input(p.parse(argc, argv, 2), "decode");
  if (f.output.empty()) throw CliError(kExitUsage, "decode: -o OUT.png is required");
  check_device(f);
  refuse_existing(f.output, f.overwrite);
  std::vector<uint8_t> data = media::read_file(in, size_t{1} << 31);
  Context ctx(f.model, LUCID_MODEL_CODEC, f);
  Timer t;
  uint8_t* rgb = nullptr;
  uint32_t w = 0, h = 0;
  ctx.check(lucid_decode_image(ctx.get(), data.data(), data.size(), &rgb, &w, &h), in);
  media::Image img;
  img.width = static_cast<int>(w);
  img.height = static_cast<int>(h);
  img.rgb.assign(rgb, rgb + size_t{w} * h * 3);
  lucid_free(rgb);
  const double seconds = t.seconds();
  media::write_image(f.output, img, f.overwrite);
  const double bpp = 8.0 * data.size() / (double(w) * h);
  double psnr = 0, msssim = 0;
  if (!reference.empty()) {
    media::Image ref = media::read_image(reference);
    if (ref.width != img.width || ref.height != img.height)
      throw CliError(kExitUsage, "--compare: " + reference + " is " + std::to_string(ref.width) +
                                     "x" + std::to_string(ref.height) + ", the stream is " +
                                     std::to_string(w) + "x" + std::to_string(h));
    psnr = app::psnr(ref, img);
    msssim = app::ms_ssim(ref, img);
  }
  if (!f.quiet) {
    char line[512];
    std::snprintf(line, sizeof line, "%s: %s bytes (%.3f bpp) -> %ux%u in %.2f s", in.c_str(),
                  with_thousands(data.size()).c_str(), bpp, w, h, seconds);
    std::cerr << line;
    if (!reference.empty()) std::fprintf(stderr, ", PSNR %.2f dB, MS-SSIM %.4f", psnr, msssim);
    std::cerr << "\n";
  }
  if (f.json) {
    Json j;
    j["input"] = in;
    j["output"] = f.output;
    j["width"] = w;
    j["height"] = h;
    j["bytes"] = data.size();
    j["bpp"] = bpp;
    j["seconds"] = seconds;
    if (!reference.empty()) {
      j["psnr"] = psnr;  // identical pixels: infinite, written as null
      j["ms_ssim"] = msssim;
    }
    std::cout << json_text(j) << "\n";
  }
  return kExitOk;
}

int cmd_info(int argc, char** argv) {
  flags::Parser p("info");
  CommonFlags f;
  add_common_flags(p, &f);
  const std::string in = one_input(p.parse(argc, argv, 2), "info");
  std::vector<uint8_t> data = media::read_file(in, size_t{1} << 31);
  lucid_stream_info info{};
  const lucid_status s = lucid_stream_get_info(data.data(), data.size(), &info);
  if (s != LUCID_OK) throw CliError(exit_code_for(s), in + ": " + lucid_status_str(s));
  char hash[17];
  for (int i = 0; i < 8; ++i) std::snprintf(hash + 2 * i, 3, "%02x", info.weight_hash[i]);
  const double bpp = 8.0 * data.size() / (double(info.width) * info.height);
  if (f.json) {
    Json j;
    j["width"] = info.width;
    j["height"] = info.height;
    j["quality"] = json_float(info.quality);
    j["model_id"] = std::string(info.model_id);
    j["weight_hash"] = std::string(hash);
    j["bytes"] = data.size();
    j["bpp"] = bpp;
    std::cout << json_text(j) << "\n";
  } else {
    std::printf("%s: %ux%u, quality %.1f, model %s (weights %s), %zu bytes, %.4f bpp\n",
                in.c_str(), info.width, info.height, info.quality, info.model_id, hash,
                data.size(), bpp);
  }
  return kExitOk;
}

}  // namespace lucid::cli
