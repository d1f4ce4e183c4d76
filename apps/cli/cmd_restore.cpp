// lucid restore / bench-restore: JPEG artifact removal (see restoration/).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "lucid/media/image_io.h"
#include "lucid/media/jpeg_io.h"
#include "metrics.h"

namespace fs = std::filesystem;

namespace lucid::cli {

// Helpers shared with cmd_bench.cpp (defined there).
std::vector<std::string> list_images(const std::string& dir);
std::vector<int> parse_int_list(const std::string& flag, const std::string& v, int lo, int hi);
void write_text(const std::string& path, const std::string& text, bool overwrite);

namespace {

struct RestoreFlags {
  int qf = 0;    // 0: from the file's tables, else CaVE
  int tile = 0;  // 0: library default
  bool constraint = true;  // JPEG inputs: keep the result consistent with the file
};

// An input file: a JPEG's bytes (the library decodes it, reads its tables and coefficients,
// once), or the decoded pixels of any other image.
struct Input {
  media::Image img;
  std::vector<uint8_t> jpeg;  // the file's bytes when it is a JPEG
};

Input read_input(const std::string& path) {
  Input in;
  std::vector<uint8_t> bytes = media::read_file(path);
  const bool is_jpeg = bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
  if (is_jpeg)
    in.jpeg = std::move(bytes);
  else
    in.img = media::decode_image(bytes.data(), bytes.size(), path);
  return in;
}

const char* source_name(lucid_quality_source s) {
  switch (s) {
    case LUCID_QUALITY_FROM_USER: return "user";
    case LUCID_QUALITY_FROM_FILE_TABLES: return "file";
    case LUCID_QUALITY_FROM_FILE_ESTIMATE: return "file-estimate";
    case LUCID_QUALITY_FROM_MODEL: break;
  }
  return "cave";
}

// Shows "restoring NAME: tile i/n" on a terminal only.
struct TileProgress {
  std::string name;
  bool tty = isatty(2) != 0;
  static int callback(void* self, uint64_t done, uint64_t total) {
    auto* p = static_cast<TileProgress*>(self);
    if (p->tty && total > 1) {
      std::fprintf(stderr, "\rrestoring %s: tile %llu/%llu", p->name.c_str(),
                   static_cast<unsigned long long>(done), static_cast<unsigned long long>(total));
      if (done == total) std::fprintf(stderr, "\r\033[K");
      std::fflush(stderr);
    }
    return 0;
  }
};

struct Result {
  std::string input, output;
  int width = 0, height = 0, qf = 0;
  std::string qf_source;
  double seconds = 0;
};

Result restore_one(Context& ctx, const std::string& in, const std::string& out,
                   const RestoreFlags& rf, const CommonFlags& f, bool quiet_progress) {
  Input input = read_input(in);
  Result r;
  r.input = in;
  r.output = out;
  TileProgress progress{in};
  if (quiet_progress) progress.tty = false;
  ctx.check(lucid_context_set_progress(ctx.get(), &TileProgress::callback, &progress), in);
  Timer t;
  uint8_t* pixels = nullptr;
  lucid_restore_info info;
  lucid_restore_info_init(&info);
  if (!input.jpeg.empty()) {
    // JPEG files go in whole: the restorer also uses their tables and quantized coefficients.
    ctx.check(lucid_context_set_option(ctx.get(), LUCID_OPT_JPEG_QF, rf.qf), "--qf");
    ctx.check(lucid_restore_jpeg_ex(ctx.get(), input.jpeg.data(), input.jpeg.size(), &pixels,
                                    &info),
              in);
  } else {
    ctx.check(lucid_restore_rgb_ex(ctx.get(), input.img.rgb.data(), input.img.width,
                                   input.img.height, size_t(input.img.width) * 3, rf.qf,
                                   &pixels, &info),
              in);
  }
  r.width = int(info.width);
  r.height = int(info.height);
  r.qf = info.quality;
  r.qf_source = source_name(info.quality_source);
  media::Image img;
  img.width = r.width;
  img.height = r.height;
  img.rgb.assign(pixels, pixels + size_t(img.width) * img.height * 3);
  // Grayscale in, grayscale out: a gray JPEG comes back gray from the library; for a gray PNG
  // or PGM the network's output is reduced to its luma here.
  img.gray = info.gray || input.img.gray;
  if (img.gray && !info.gray) media::reduce_to_luma(img.rgb);
  lucid_free(pixels);
  r.seconds = t.seconds();
  media::write_image(out, img, f.overwrite);
  return r;
}

Json result_json(const Result& r) {
  Json j;
  j["input"] = r.input;
  j["output"] = r.output;
  j["width"] = r.width;
  j["height"] = r.height;
  j["qf"] = r.qf ? Json(r.qf) : Json(nullptr);
  j["qf_source"] = r.qf_source;
  j["seconds"] = r.seconds;
  return j;
}

void print_summary(const Result& r) {
  char qf[32];
  if (r.qf) std::snprintf(qf, sizeof qf, "QF %d (%s)", r.qf, r.qf_source.c_str());
  else std::snprintf(qf, sizeof qf, "QF estimated by CaVE");
  std::fprintf(stderr, "%s: %dx%d, %s -> %s in %.2f s\n", r.input.c_str(), r.width, r.height, qf,
               r.output.c_str(), r.seconds);
}

void setup_context(Context& ctx, const RestoreFlags& rf) {
  if (rf.tile) ctx.check(lucid_context_set_option(ctx.get(), LUCID_OPT_TILE, rf.tile), "--tile");
  ctx.check(lucid_context_set_option(ctx.get(), LUCID_OPT_JPEG_CONSTRAINT, rf.constraint ? 1 : 0),
            "--no-constraint");
}

}  // namespace

int cmd_restore(int argc, char** argv) {
  flags::Parser p("restore");
  CommonFlags f;
  add_common_flags(p, &f);
  std::optional<std::string> qf_arg, tile_arg;
  bool no_constraint = false;
  p.value("--qf", &qf_arg);
  p.value("--tile", &tile_arg);
  p.flag("--no-constraint", &no_constraint);
  const auto pos = p.parse(argc, argv, 2);
  RestoreFlags rf;
  if (qf_arg) rf.qf = static_cast<int>(parse_int("--qf", *qf_arg, 1, 100));
  if (tile_arg) rf.tile = static_cast<int>(parse_int("--tile", *tile_arg, 256, 4096));
  rf.constraint = !no_constraint;
  if (pos.size() != 1)
    throw CliError(kExitUsage, "restore: expected exactly one input file or folder (see --help)");
  if (f.output.empty()) throw CliError(kExitUsage, "restore: -o OUT.png (or -o OUTDIR) is required");
  check_device(f);
  const std::string in = pos[0];
  std::error_code ec;
  if (!fs::is_directory(in, ec)) {
    if (!f.overwrite && fs::exists(f.output))
      throw CliError(kExitWrite, f.output + ": exists (use -y/--overwrite to replace it)");
    if (!fs::exists(in, ec)) throw CliError(kExitUnreadable, in + ": cannot read: no such file");
    Context ctx(f.model, LUCID_MODEL_RESTORE, f);
    setup_context(ctx, rf);
    Result r = restore_one(ctx, in, f.output, rf, f, f.quiet);
    if (!f.quiet) print_summary(r);
    if (f.json) std::cout << json_text(result_json(r)) << "\n";
    return kExitOk;
  }

  // Folder: every PNG/JPEG/PPM inside -> OUTDIR/<stem>.png. Outputs that exist are refused up
  // front (without -y) so a run never stops half-way for that reason.
  const auto files = list_images(in);
  if (fs::exists(f.output, ec) && !fs::is_directory(f.output, ec))
    throw CliError(kExitWrite, f.output + ": exists and is not a folder");
  std::vector<std::string> outs;
  for (const auto& file : files) {
    const std::string o = (fs::path(f.output) / fs::path(file).stem()).string() + ".png";
    if (!f.overwrite && fs::exists(o))
      throw CliError(kExitWrite, o + ": exists (use -y/--overwrite to replace it)");
    outs.push_back(o);
  }
  fs::create_directories(f.output, ec);
  if (ec) throw CliError(kExitWrite, f.output + ": cannot create folder: " + ec.message());
  Context ctx(f.model, LUCID_MODEL_RESTORE, f);
  setup_context(ctx, rf);
  Timer total;
  int first_error = kExitOk, failed = 0;
  Json json = Json::array();
  for (size_t i = 0; i < files.size(); ++i) {
    try {
      Result r = restore_one(ctx, files[i], outs[i], rf, f, f.quiet);
      if (!f.quiet) {
        const double eta = total.seconds() / (i + 1) * (files.size() - i - 1);
        std::fprintf(stderr, "[%zu/%zu] ", i + 1, files.size());
        print_summary(r);
        if (i + 1 < files.size()) std::fprintf(stderr, "        ETA %.0f s\n", eta);
      }
      json.push_back(result_json(r));
    } catch (const CliError& e) {
      std::cerr << "error: " << e.what() << "\n";
      if (!first_error) first_error = e.code();
      ++failed;
    } catch (const media::ImageError& e) {
      std::cerr << "error: " << e.what() << "\n";
      if (!first_error)
        first_error = e.code() == media::ImageErrorCode::kUnreadable ? kExitUnreadable
                      : (e.code() == media::ImageErrorCode::kExists ||
                         e.code() == media::ImageErrorCode::kWriteFailed)
                          ? kExitWrite
                          : kExitCorrupt;
      ++failed;
    }
  }
  if (!f.quiet)
    std::fprintf(stderr, "%s: %zu restored, %d failed in %.1f s\n", in.c_str(),
                 files.size() - failed, failed, total.seconds());
  if (f.json) std::cout << json_text(json) << "\n";
  return first_error;
}

namespace {
// `img` without its first `s` rows and columns.
media::Image crop_top_left(const media::Image& img, int s) {
  if (s == 0) return img;
  media::Image out = img;
  out.width = img.width - s;
  out.height = img.height - s;
  out.rgb.resize(size_t(out.width) * out.height * 3);
  for (int y = 0; y < out.height; ++y)
    std::copy_n(&img.rgb[(size_t(y + s) * img.width + s) * 3], size_t(out.width) * 3,
                &out.rgb[size_t(y) * out.width * 3]);
  return out;
}
}  // namespace

int cmd_bench_restore(int argc, char** argv) {
  flags::Parser p("bench-restore");
  CommonFlags f;
  add_common_flags(p, &f);
  std::optional<std::string> qf_arg, tile_arg, first_qf_arg, shift_arg;
  bool no_constraint = false, gray = false;
  p.value("--qf", &qf_arg);
  p.value("--tile", &tile_arg);
  p.flag("--no-constraint", &no_constraint);
  p.flag("--gray", &gray);
  p.value("--first-qf", &first_qf_arg);
  p.value("--shift", &shift_arg);
  const auto pos = p.parse(argc, argv, 2);
  std::vector<int> qfs = {10, 20, 30, 40};
  RestoreFlags rf;
  if (qf_arg) qfs = parse_int_list("--qf", *qf_arg, 1, 100);
  if (tile_arg) rf.tile = static_cast<int>(parse_int("--tile", *tile_arg, 256, 4096));
  rf.constraint = !no_constraint;
  int first_qf = 0, shift = 0;
  if (first_qf_arg) first_qf = static_cast<int>(parse_int("--first-qf", *first_qf_arg, 1, 100));
  if (shift_arg) shift = static_cast<int>(parse_int("--shift", *shift_arg, 0, 7));
  if (shift && !first_qf) throw CliError(kExitUsage, "bench-restore: --shift needs --first-qf");
  if (pos.size() != 1) throw CliError(kExitUsage, "bench-restore: expected one image folder");
  check_device(f);
  const std::string outdir = f.output.empty() ? "bench-restore-out" : f.output;
  const auto files = list_images(pos[0]);
  const std::string json_path = outdir + "/restore.json";
  if (!f.overwrite && fs::exists(json_path))
    throw CliError(kExitWrite, json_path + ": exists (use -y/--overwrite)");
  std::error_code ec;
  fs::create_directories(outdir, ec);
  if (ec) throw CliError(kExitWrite, outdir + ": cannot create folder: " + ec.message());
  Context ctx(f.model, LUCID_MODEL_RESTORE, f);
  setup_context(ctx, rf);

  struct Stats {
    double psnr = 0, ssim = 0, psnr_b = 0, bpp = 0, seconds = 0;
  };
  std::vector<Stats> jp(qfs.size()), lu(qfs.size());
  std::vector<double> min_gain(qfs.size(), 1e9);
  Json per_image = Json::array();
  for (size_t fi = 0; fi < files.size(); ++fi) {
    media::Image clean = media::read_image(files[fi]);
    media::Image source = clean;
    if (first_qf) {
      // Double compression: the photo as a JPEG at the first quality, cropped by `shift`
      // (the reference too) so that the second grid need not fall on the first.
      const auto first = jpeg::encode_jpeg(source.rgb.data(), source.width, source.height,
                                           first_qf, gray ? jpeg::Subsampling::kGray : jpeg::Subsampling::k420, true);
      source = media::decode_image(first.data(), first.size(), files[fi] + " (first JPEG)");
      if (source.width <= shift + 8 || source.height <= shift + 8)
        throw CliError(kExitCorrupt, files[fi] + ": too small for --shift");
      source = crop_top_left(source, shift);
      clean = crop_top_left(clean, shift);
    }
    if (gray) {
      // The reference is the photo's luma, computed as libjpeg computes it for a grayscale
      // JPEG (JCS_RGB -> JCS_GRAYSCALE, 16-bit fixed point).
      for (size_t i = 0; i < clean.rgb.size(); i += 3)
        clean.rgb[i] = clean.rgb[i + 1] = clean.rgb[i + 2] = static_cast<uint8_t>(
            (19595u * clean.rgb[i] + 38470u * clean.rgb[i + 1] + 7471u * clean.rgb[i + 2] +
             32768u) >> 16);
      clean.gray = true;
    }
    const double share = 1.0 / files.size();
    std::vector<double> image_jpeg(qfs.size()), image_lucid(qfs.size()), image_gain(qfs.size());
    for (size_t qi = 0; qi < qfs.size(); ++qi) {
      const auto bytes = jpeg::encode_jpeg(
          source.rgb.data(), source.width, source.height, qfs[qi],
          gray ? jpeg::Subsampling::kGray : jpeg::Subsampling::k420, true);
      media::Image dec = media::decode_image(bytes.data(), bytes.size(), files[fi] + " (JPEG)");
      uint8_t* rgb = nullptr;
      uint32_t w = 0, h = 0;
      Timer t;
      ctx.check(lucid_restore_jpeg(ctx.get(), bytes.data(), bytes.size(), &rgb, &w, &h),
                files[fi]);
      const double secs = t.seconds();
      media::Image res;
      res.width = int(w);
      res.height = int(h);
      res.rgb.assign(rgb, rgb + size_t(w) * h * 3);
      lucid_free(rgb);
      const double pj = app::psnr(clean, dec), pr = app::psnr(clean, res);
      min_gain[qi] = std::min(min_gain[qi], pr - pj);
      image_jpeg[qi] = pj;
      image_lucid[qi] = pr;
      image_gain[qi] = pr - pj;
      jp[qi].psnr += share * pj;
      jp[qi].ssim += share * app::ssim(clean, dec);
      jp[qi].psnr_b += share * app::psnr_b(clean, dec);
      jp[qi].bpp += share * 8.0 * bytes.size() / (double(clean.width) * clean.height);
      lu[qi].psnr += share * pr;
      lu[qi].ssim += share * app::ssim(clean, res);
      lu[qi].psnr_b += share * app::psnr_b(clean, res);
      lu[qi].bpp = jp[qi].bpp;
      lu[qi].seconds += share * secs;
      if (f.verbose)
        std::fprintf(stderr, "  %s QF %d: %.3f -> %.3f dB\n", files[fi].c_str(), qfs[qi], pj, pr);
    }
    Json one;
    one["file"] = files[fi];
    one["jpeg_psnr_rgb"] = image_jpeg;
    one["psnr_rgb"] = image_lucid;
    one["gain_db"] = image_gain;
    per_image.push_back(std::move(one));
    if (!f.quiet) std::cerr << "[" << fi + 1 << "/" << files.size() << "] " << files[fi] << "\n";
  }
  const std::string model = lucid_context_model_id(ctx.get());
  auto series = [&](const std::vector<Stats>& s, double Stats::*m) {
    Json a = Json::array();
    for (const auto& x : s) a.push_back(x.*m);
    return a;
  };
  Json j;
  j["name"] = "lucid-" + model;
  j["description"] = "JPEG artifact removal on " + pos[0] + ": libjpeg-turbo " +
                     (gray ? "grayscale (PSNR of the luma)" : "4:2:0") +
                     " baseline IJG tables, optimized Huffman, at each QF; restored with "
                     "lucid_restore_jpeg";
  j["jpeg_constraint"] = rf.constraint;
  j["gray"] = gray;
  j["first_qf"] = first_qf;
  j["shift"] = shift;
  j["images"] = files.size();
  j["qf"] = qfs;
  Json jpeg_json;
  jpeg_json["bpp"] = series(jp, &Stats::bpp);
  jpeg_json["psnr-rgb"] = series(jp, &Stats::psnr);
  jpeg_json["ssim-rgb"] = series(jp, &Stats::ssim);
  jpeg_json["psnr-b-rgb"] = series(jp, &Stats::psnr_b);
  j["jpeg"] = std::move(jpeg_json);
  Json results;
  results["psnr-rgb"] = series(lu, &Stats::psnr);
  results["ssim-rgb"] = series(lu, &Stats::ssim);
  results["psnr-b-rgb"] = series(lu, &Stats::psnr_b);
  results["restore_time"] = series(lu, &Stats::seconds);
  j["results"] = std::move(results);
  Json gain = Json::array();
  for (size_t i = 0; i < qfs.size(); ++i) gain.push_back(lu[i].psnr - jp[i].psnr);
  j["psnr_gain_db"] = std::move(gain);
  j["min_image_psnr_gain_db"] = min_gain;
  // Each image's PSNR at each QF: JPEG, restored, and the gain (their mean is psnr_gain_db).
  j["per_image"] = std::move(per_image);
  const std::string text = json_text(j, 2) + "\n";
  write_text(json_path, text, f.overwrite);
  if (!f.quiet) {
    std::fprintf(stderr, "%4s %7s | %8s %7s %8s | %8s %7s %8s | %7s %6s\n", "QF", "bpp",
                 "JPEG", "SSIM", "PSNR-B", "Lucid", "SSIM", "PSNR-B", "gain", "s/img");
    for (size_t i = 0; i < qfs.size(); ++i)
      std::fprintf(stderr, "%4d %7.3f | %8.3f %7.4f %8.3f | %8.3f %7.4f %8.3f | %+7.3f %6.2f\n",
                   qfs[i], jp[i].bpp, jp[i].psnr, jp[i].ssim, jp[i].psnr_b, lu[i].psnr,
                   lu[i].ssim, lu[i].psnr_b, lu[i].psnr - jp[i].psnr, lu[i].seconds);
    std::fprintf(stderr, "wrote %s\n", json_path.c_str());
  }
  if (f.json) std::cout << text;
  return kExitOk;
}

}  // namespace lucid::cli
