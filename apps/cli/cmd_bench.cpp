// lucid bench DIR: rate-distortion and speed of Lucid against libjpeg-turbo, WebP, AVIF and
// JPEG XL on a folder of images; CompressAI-schema JSON per codec, per-image CSV, BD-rates, and
// an RD plot.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "baselines.h"
#include "cli.h"
#include "lucid/media/image_io.h"
#include "lucid/media/jpeg_io.h"
#include "metrics.h"
#include "rd.h"
#include "rd_plot.h"
#include "subprocess.h"

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

std::vector<double> parse_double_list(const std::string& flag, const std::string& v, double lo,
                                      double hi) {
  std::vector<double> out;
  std::stringstream s(v);
  for (std::string item; std::getline(s, item, ',');)
    out.push_back(parse_double(flag, item, lo, hi));
  if (out.empty()) throw CliError(kExitUsage, flag + ": empty list");
  return out;
}

void write_text(const std::string& path, const std::string& text, bool overwrite) {
  media::write_file_atomic(path, std::vector<uint8_t>(text.begin(), text.end()), overwrite);
}

namespace {

// One codec's curve: its points (one per sweep value, averaged over the images) and how it was
// made.
struct Curve {
  std::string key;          // "lucid", "jpeg", "webp", ...: file names and BD-rate labels
  std::string name;         // JSON "name"
  std::string description;  // JSON "description": settings, version, sweep
  std::string label;        // plot legend
  std::string param_name;
  std::vector<double> params;
  std::vector<RdPoint> pts;
};

// PSNR of identical images is infinite; cap it as the team's rd_baselines.py does.
double capped_psnr(const media::Image& a, const media::Image& b) {
  return std::min(99.0, app::psnr(a, b));
}

// Adds one image's result to a point averaged over `1 / share` images.
void add_point(RdPoint* p, double share, const RdPoint& one) {
  p->bpp += share * one.bpp;
  p->psnr += share * one.psnr;
  p->ms_ssim += share * one.ms_ssim;
  p->enc_s += share * one.enc_s;
  p->dec_s += share * one.dec_s;
}

std::string list_text(const std::vector<double>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + format_param(v[i]);
  return s;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  flags::Parser p("bench");
  CommonFlags f;
  add_common_flags(p, &f);
  std::optional<std::string> qualities_arg, jpeg_arg, baselines_arg, effort_arg, sweep_args[3];
  const char* sweep_flags[] = {"--webp-qualities", "--avif-quantizers", "--jxl-distances"};
  p.value("-q,--qualities", &qualities_arg);
  p.value("--jpeg-qualities", &jpeg_arg);
  for (int i = 0; i < 3; ++i) p.value(sweep_flags[i], &sweep_args[i]);
  p.value("--baselines", &baselines_arg);
  p.value("-e,--effort", &effort_arg);
  const auto pos = p.parse(argc, argv, 2);
  std::vector<int> qualities = {1, 10, 22, 35, 50, 65, 80, 100};
  std::vector<int> jpeg_qualities = {5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95};
  if (qualities_arg) qualities = parse_int_list("--qualities", *qualities_arg, 1, 100);
  if (jpeg_arg) jpeg_qualities = parse_int_list("--jpeg-qualities", *jpeg_arg, 1, 100);
  std::vector<ExternalCodec> externals = external_codecs();
  const double sweep_lo[] = {0, 0, 0.01}, sweep_hi[] = {100, 63, 25};
  for (size_t i = 0; i < externals.size(); ++i)
    if (sweep_args[i])
      externals[i].params = parse_double_list(sweep_flags[i], *sweep_args[i], sweep_lo[i], sweep_hi[i]);
  std::set<std::string> wanted = {"jpeg", "webp", "avif", "jxl"};
  if (baselines_arg) {
    wanted.clear();
    std::stringstream s(*baselines_arg);
    for (std::string item; std::getline(s, item, ',');) {
      if (item != "jpeg" && item != "webp" && item != "avif" && item != "jxl")
        throw CliError(kExitUsage, "--baselines: " + item +
                                       ": unknown codec (choose from jpeg,webp,avif,jxl)");
      wanted.insert(item);
    }
  }
  int effort = 1;
  if (effort_arg) effort = static_cast<int>(parse_int("--effort", *effort_arg, 1, 9));
  if (pos.size() != 1) throw CliError(kExitUsage, "bench: expected one image folder");
  const std::string outdir = f.output.empty() ? "bench-out" : f.output;
  check_device(f);
  auto files = list_images(pos[0]);

  // Which external tools are here; a missing one is a note, not an error.
  TempDir tmp("lucid-bench");
  std::vector<ExternalCodec> used;
  std::map<std::string, std::string> skipped;
  for (const auto& c : externals) {
    if (!wanted.count(c.key)) continue;
    const std::string missing = missing_tool(c);
    if (missing.empty()) {
      used.push_back(c);
    } else {
      skipped[c.key] = missing + " not found in PATH";
      std::cerr << "note: " << c.key << ": skipped (" << missing << " not found in PATH)\n";
    }
  }
  const bool with_jpeg = wanted.count("jpeg") > 0;

  std::vector<std::string> outputs = {"lucid.json", "summary.json", "points.csv", "rd.png"};
  if (with_jpeg) outputs.push_back("jpeg.json");
  for (const auto& c : used) outputs.push_back(c.key + ".json");
  fs::create_directories(outdir);
  for (const auto& n : outputs)
    if (!f.overwrite && fs::exists(outdir + "/" + n))
      throw CliError(kExitWrite, outdir + "/" + n + ": exists (use -y/--overwrite)");

  Context ctx(f.model, LUCID_MODEL_CODEC, f);
  ctx.check(lucid_context_set_option(ctx.get(), LUCID_OPT_EFFORT, effort), "--effort");
  const std::string model = lucid_context_model_id(ctx.get());

  std::vector<Curve> curves;
  {
    Curve c;
    c.key = "lucid";
    c.name = "lucid-" + model;
    c.description = "Lucid " + model + ", effort " + std::to_string(effort) + ", -q " +
                    list_text(std::vector<double>(qualities.begin(), qualities.end()));
    c.label = "Lucid " + model;
    c.param_name = "q";
    c.params.assign(qualities.begin(), qualities.end());
    curves.push_back(c);
  }
  if (with_jpeg) {
    Curve c;
    c.key = "jpeg";
    c.name = "libjpeg-turbo";
    c.description = "libjpeg-turbo 4:2:0, optimized Huffman (linked in), quality " +
                    list_text(std::vector<double>(jpeg_qualities.begin(), jpeg_qualities.end()));
    c.label = "libjpeg-turbo 4:2:0";
    c.param_name = "quality";
    c.params.assign(jpeg_qualities.begin(), jpeg_qualities.end());
    curves.push_back(c);
  }
  for (const auto& e : used) {
    Curve c;
    c.key = e.key;
    c.name = e.key;
    c.description = e.settings + "; " + tool_version(e, tmp) + "; " + e.param_name + " " +
                    list_text(e.params);
    c.label = e.label;
    c.param_name = e.param_name;
    c.params = e.params;
    curves.push_back(c);
  }
  for (auto& c : curves) c.pts.assign(c.params.size(), RdPoint{});

  std::ostringstream csv;
  csv.precision(6);
  csv << "codec,param,image,bytes,bpp,psnr_rgb,ms_ssim_rgb,enc_s,dec_s\n";
  auto csv_row = [&](Curve& c, size_t pi, const std::string& file, size_t bytes,
                     double pixels, const media::Image& ref, const media::Image& out, double enc,
                     double dec) {
    const std::string name = fs::path(file).filename().string();
    // The image name is quoted, so commas or quotes in file names keep the CSV readable.
    std::string quoted = "\"";
    for (char ch : name) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    quoted += "\"";
    const RdPoint one{8.0 * bytes / pixels, capped_psnr(ref, out), app::ms_ssim(ref, out), enc,
                      dec};
    csv << c.key << "," << format_param(c.params[pi]) << "," << quoted << "," << bytes << ","
        << one.bpp << "," << one.psnr << "," << one.ms_ssim << "," << one.enc_s << ","
        << one.dec_s << "\n";
    add_point(&c.pts[pi], 1.0 / files.size(), one);
  };

  const std::string src_png = tmp.file("source.png");
  for (size_t fi = 0; fi < files.size(); ++fi) {
    media::Image img = media::read_image(files[fi]);
    const double pixels = double(img.width) * img.height;
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
      csv_row(curves[0], qi, files[fi], size, pixels, img, out, enc, dec);
    }
    if (with_jpeg) {
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
        csv_row(curves[1], qi, files[fi], jpg.size(), pixels, img, out, enc, dec);
      }
    }
    if (!used.empty()) {
      // The tools read the decoded source pixels from a PNG, whatever the input's format.
      media::write_image(src_png, img, true);
      for (size_t ci = 0; ci < used.size(); ++ci) {
        Curve& c = curves[curves.size() - used.size() + ci];
        for (size_t pi = 0; pi < c.params.size(); ++pi) {
          RoundTrip rt = round_trip(used[ci], c.params[pi], src_png, files[fi], tmp, f.threads);
          if (rt.decoded.width != img.width || rt.decoded.height != img.height)
            throw CliError(kExitInternal, files[fi] + ": " + used[ci].decoder + " returned " +
                                              std::to_string(rt.decoded.width) + "x" +
                                              std::to_string(rt.decoded.height) + " pixels");
          csv_row(c, pi, files[fi], rt.bytes, pixels, img, rt.decoded, rt.enc_s, rt.dec_s);
        }
      }
    }
    if (!f.quiet)
      std::cerr << "[" << fi + 1 << "/" << files.size() << "] " << files[fi] << "\n";
  }

  for (const auto& c : curves)
    write_text(outdir + "/" + c.key + ".json", compressai_json(c.name, c.description, c.pts),
               f.overwrite);
  write_text(outdir + "/points.csv", csv.str(), f.overwrite);

  // BD-rates: every baseline against JPEG, and Lucid against every baseline. The anchor is
  // the first codec named; "0.15-1.0 bpp" is the anchor's rate range.
  struct Bd {
    std::string test, anchor;
    double in_range, overlap, cubic;
  };
  std::vector<Bd> bds;
  auto add_bd = [&](const Curve& test, const Curve& anchor) {
    bds.push_back({test.key, anchor.key, bd_rate(anchor.pts, test.pts, 0.15, 1.0),
                   bd_rate(anchor.pts, test.pts, 0, 0), bd_rate_cubic(anchor.pts, test.pts)});
  };
  for (size_t i = 1; i < curves.size(); ++i) add_bd(curves[0], curves[i]);
  if (with_jpeg)
    for (size_t i = 2; i < curves.size(); ++i) add_bd(curves[i], curves[1]);

  // A BD-rate that cannot be computed is NaN, written as null.
  Json sum;
  sum["images"] = files.size();
  sum["model"] = model;
  sum["effort"] = effort;
  if (with_jpeg) {
    sum["bd_rate_vs_jpeg_percent_0.15_1.0_bpp"] = bds[0].in_range;
    sum["bd_rate_vs_jpeg_percent_overlap"] = bds[0].overlap;
  }
  Json codecs = Json::object();
  for (const auto& c : curves) {
    Json one;
    one["name"] = c.name;
    one["description"] = c.description;
    codecs[c.key] = std::move(one);
  }
  sum["codecs"] = std::move(codecs);
  Json skipped_json = Json::object();
  for (const auto& [key, why] : skipped) skipped_json[key] = why;
  sum["skipped"] = std::move(skipped_json);
  sum["bd_rate_note"] =
      "PSNR-RGB, log-rate interpolated piecewise-linearly; A_vs_B is A against anchor B, "
      "negative = fewer bits; 0.15_1.0_bpp limits to the anchor's rates in 0.15-1.0 bpp, overlap "
      "uses the whole common PSNR range; overlap_cubic is the classic Bjontegaard fit (a cubic "
      "per curve, as ../shared/tools/bdrate.py)";
  const char* ranges[] = {"0.15_1.0_bpp", "overlap", "overlap_cubic"};
  for (int range = 0; range < 3; ++range) {
    Json by_pair = Json::object();
    for (const auto& b : bds)
      by_pair[b.test + "_vs_" + b.anchor] =
          range == 0 ? b.in_range : range == 1 ? b.overlap : b.cubic;
    sum[std::string("bd_rate_percent_") + ranges[range]] = std::move(by_pair);
  }
  const std::string summary = json_text(sum, 2) + "\n";
  write_text(outdir + "/summary.json", summary, f.overwrite);

  std::vector<app::RdSeries> series(curves.size());
  for (size_t i = 0; i < curves.size(); ++i) {
    series[i].name = curves[i].label;
    for (auto& p : curves[i].pts) series[i].points.emplace_back(p.bpp, p.psnr);
  }
  const std::string plot = outdir + "/rd.png";
  if (f.overwrite && fs::exists(plot)) fs::remove(plot);
  app::write_rd_plot_png(plot, series, "Rate-distortion on " + pos[0]);

  if (!f.quiet) {
    std::fprintf(stderr, "%-6s %10s %8s %8s %8s %13s\n", "codec", "param", "bpp", "psnr",
                 "ms-ssim", "enc/dec s");
    for (const auto& c : curves)
      for (size_t i = 0; i < c.pts.size(); ++i)
        std::fprintf(stderr, "%-6s %10s %8.4f %8.3f %8.5f %6.3f/%.3f\n", c.key.c_str(),
                     (c.param_name.substr(0, 1) + format_param(c.params[i])).c_str(),
                     c.pts[i].bpp, c.pts[i].psnr, c.pts[i].ms_ssim, c.pts[i].enc_s,
                     c.pts[i].dec_s);
    std::fprintf(stderr,
                 "BD-rate (PSNR-RGB; anchor's 0.15-1.0 bpp / whole overlap / overlap with "
                 "cubic fits):\n");
    for (const auto& b : bds)
      std::fprintf(stderr, "  %-5s vs %-5s %+8.2f%% / %+8.2f%% / %+8.2f%%\n", b.test.c_str(),
                   b.anchor.c_str(), b.in_range, b.overlap, b.cubic);
  }
  if (f.json) std::cout << summary;
  return kExitOk;
}

}  // namespace lucid::cli
