// lucid bench DIR: rate-distortion and speed of Lucid against libjpeg-turbo on a folder of
// images; CompressAI-schema JSON per codec, BD-rate, and an RD plot.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli.h"
#include "lucid/media/image_io.h"
#include "lucid/media/jpeg_io.h"
#include "metrics.h"
#include "rd.h"
#include "rd_plot.h"

namespace fs = std::filesystem;

namespace lucid::cli {

std::vector<std::string> list_images(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw CliError(kExitUnreadable, dir + ": not a readable directory");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (e.is_regular_file() &&
        (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".ppm" || ext == ".pgm"))
      files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw CliError(kExitUnreadable, dir + ": no PNG/JPEG/PPM images in it");
  return files;
}

std::vector<int> parse_int_list(const std::string& flag, const std::string& v, int lo, int hi) {
  std::vector<int> out;
  std::stringstream s(v);
  for (std::string item; std::getline(s, item, ',');) out.push_back(parse_int(flag, item, lo, hi));
  if (out.empty()) throw CliError(kExitUsage, flag + ": empty list");
  return out;
}

void write_text(const std::string& path, const std::string& text, bool overwrite) {
  media::write_file_atomic(path, std::vector<uint8_t>(text.begin(), text.end()), overwrite);
}

int cmd_bench(int argc, char** argv) {
  Args a(argc, argv, 2);
  CommonFlags f;
  a.parse_common(&f);
  std::string v;
  std::vector<int> qualities = {1, 10, 22, 35, 50, 65, 80, 100};
  std::vector<int> jpeg_qualities = {5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95};
  if (a.value({"--qualities", "-q"}, &v)) qualities = parse_int_list("--qualities", v, 1, 100);
  if (a.value({"--jpeg-qualities"}, &v))
    jpeg_qualities = parse_int_list("--jpeg-qualities", v, 1, 100);
  int effort = 1;
  if (a.value({"-e", "--effort"}, &v)) effort = parse_int("--effort", v, 1, 9);
  auto pos = a.positionals();
  if (pos.size() != 1) throw CliError(kExitUsage, "bench: expected one image folder");
  const std::string outdir = f.output.empty() ? "bench-out" : f.output;
  check_device(f);
  auto files = list_images(pos[0]);
  fs::create_directories(outdir);
  for (const char* n : {"lucid.json", "jpeg.json", "summary.json", "rd.png"})
    if (!f.overwrite && fs::exists(outdir + "/" + n))
      throw CliError(kExitWrite, outdir + "/" + n + ": exists (use -y/--overwrite)");

  Context ctx(f.model, LUCID_MODEL_CODEC, f);
  ctx.check(lucid_context_set_option(ctx.get(), LUCID_OPT_EFFORT, effort), "--effort");
  std::vector<RdPoint> lucid_pts(qualities.size()), jpeg_pts(jpeg_qualities.size());
  for (size_t fi = 0; fi < files.size(); ++fi) {
    media::Image img = media::read_image(files[fi]);
    const double pixels = double(img.width) * img.height;
    const double share = 1.0 / files.size();
    for (size_t qi = 0; qi < qualities.size(); ++qi) {
      uint8_t* bytes = nullptr;
      size_t size = 0;
      Timer te;
      ctx.check(lucid_encode_image(ctx.get(), img.rgb.data(), img.width, img.height,
                                   size_t(img.width) * 3, float(qualities[qi]), &bytes, &size),
                files[fi]);
      const double enc = te.seconds();
      uint8_t* rgb = nullptr;
      uint32_t w = 0, h = 0;
      Timer td;
      const lucid_status s = lucid_decode_image(ctx.get(), bytes, size, &rgb, &w, &h);
      const double dec = td.seconds();
      lucid_free(bytes);
      ctx.check(s, files[fi] + " (decoding its stream)");
      media::Image out;
      out.width = int(w);
      out.height = int(h);
      out.rgb.assign(rgb, rgb + size_t(w) * h * 3);
      lucid_free(rgb);
      RdPoint& p = lucid_pts[qi];
      p.bpp += share * 8.0 * size / pixels;
      p.psnr += share * app::psnr(img, out);
      p.ms_ssim += share * app::ms_ssim(img, out);
      p.enc_s += share * enc;
      p.dec_s += share * dec;
    }
    for (size_t qi = 0; qi < jpeg_qualities.size(); ++qi) {
      Timer te;
      auto jpg = jpeg::encode_jpeg(img.rgb.data(), img.width, img.height, jpeg_qualities[qi],
                                   jpeg::Subsampling::k420, true);
      const double enc = te.seconds();
      Timer td;
      jpeg::DecodedJpeg d;
      std::string why;
      if (jpeg::decode_jpeg(jpg.data(), jpg.size(), &d, &why) != jpeg::Status::kOk)
        throw CliError(kExitInternal, files[fi] + ": libjpeg-turbo round trip failed: " + why);
      const double dec = td.seconds();
      media::Image out;
      out.width = d.width;
      out.height = d.height;
      out.rgb = std::move(d.rgb);
      RdPoint& p = jpeg_pts[qi];
      p.bpp += share * 8.0 * jpg.size() / pixels;
      p.psnr += share * app::psnr(img, out);
      p.ms_ssim += share * app::ms_ssim(img, out);
      p.enc_s += share * enc;
      p.dec_s += share * dec;
    }
    if (!f.quiet)
      std::cerr << "[" << fi + 1 << "/" << files.size() << "] " << files[fi] << "\n";
  }
  const std::string model = lucid_context_model_id(ctx.get());
  write_text(outdir + "/lucid.json",
             compressai_json("lucid-" + model,
                             "Lucid " + model + ", effort " + std::to_string(effort) +
                                 ", qualities as given",
                             lucid_pts),
             f.overwrite);
  write_text(outdir + "/jpeg.json",
             compressai_json("libjpeg-turbo", "libjpeg-turbo 4:2:0, optimized Huffman", jpeg_pts),
             f.overwrite);
  const double bd = bd_rate(jpeg_pts, lucid_pts, 0.15, 1.0);
  const double bd_all = bd_rate(jpeg_pts, lucid_pts, 0, 0);
  std::ostringstream sum;
  sum.precision(6);
  sum << "{\n  \"images\": " << files.size() << ",\n  \"model\": \"" << json_escape(model)
      << "\",\n  \"bd_rate_vs_jpeg_percent_0.15_1.0_bpp\": "
      << (std::isnan(bd) ? std::string("null") : std::to_string(bd))
      << ",\n  \"bd_rate_vs_jpeg_percent_overlap\": "
      << (std::isnan(bd_all) ? std::string("null") : std::to_string(bd_all)) << "\n}\n";
  write_text(outdir + "/summary.json", sum.str(), f.overwrite);
  std::vector<app::RdSeries> series(2);
  series[0].name = "Lucid " + model;
  for (auto& p : lucid_pts) series[0].points.emplace_back(p.bpp, p.psnr);
  series[1].name = "libjpeg-turbo 4:2:0";
  for (auto& p : jpeg_pts) series[1].points.emplace_back(p.bpp, p.psnr);
  const std::string plot = outdir + "/rd.png";
  if (f.overwrite && fs::exists(plot)) fs::remove(plot);
  app::write_rd_plot_png(plot, series, "Rate-distortion on " + pos[0]);

  if (!f.quiet) {
    std::fprintf(stderr, "%-8s %8s %8s %8s %8s %8s\n", "codec", "q", "bpp", "psnr", "ms-ssim",
                 "enc/dec s");
    for (size_t i = 0; i < qualities.size(); ++i)
      std::fprintf(stderr, "%-8s %8d %8.4f %8.3f %8.5f %5.2f/%.2f\n", "lucid", qualities[i],
                   lucid_pts[i].bpp, lucid_pts[i].psnr, lucid_pts[i].ms_ssim, lucid_pts[i].enc_s,
                   lucid_pts[i].dec_s);
    for (size_t i = 0; i < jpeg_qualities.size(); ++i)
      std::fprintf(stderr, "%-8s %8d %8.4f %8.3f %8.5f %5.3f/%.3f\n", "jpeg", jpeg_qualities[i],
                   jpeg_pts[i].bpp, jpeg_pts[i].psnr, jpeg_pts[i].ms_ssim, jpeg_pts[i].enc_s,
                   jpeg_pts[i].dec_s);
    std::fprintf(stderr, "BD-rate vs libjpeg-turbo (PSNR-RGB, 0.15-1.0 bpp): %.2f%%\n", bd);
  }
  if (f.json) std::cout << sum.str();
  return kExitOk;
}

}  // namespace lucid::cli
