// `lucid-video info IN [--json] [--qp N] [-v]`
#include <cmath>
#include <cstdio>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

extern "C" {
#include <libavutil/log.h>
}

#include "lucid/video/video_reader.h"
#include "video_cli.h"

namespace lucid::video_cli {

namespace {

using video::PictType;

std::string pict(PictType t) { return std::string(1, static_cast<char>(t)); }

}  // namespace

int cmd_info(const std::vector<std::string>& args) {
  bool json = false, verbose = false;
  std::optional<std::string> qp;
  flags::Parser p("info", flags::Wording::kCommand);
  p.flag("--json", &json);
  p.flag("-v,--verbose", &verbose);
  p.value("--qp", &qp);
  const std::vector<std::string> inputs = p.parse(args);
  video::ReaderOptions opt;
  if (qp) opt.qp_override = parse_qp(*qp);
  if (inputs.size() != 1) throw CliError(kExitUsage, "info: expected exactly one input file (see --help)");
  av_log_set_level(verbose ? AV_LOG_WARNING : AV_LOG_QUIET);
  const std::string& path = inputs[0];
  opt.stop_on_error = false;  // report every frame we can decode, then fail on errors

  nlohmann::ordered_json frames = nlohmann::ordered_json::array();
  std::vector<std::string> errors;
  std::unique_ptr<video::VideoReader> reader;
  try {
    reader = std::make_unique<video::VideoReader>(path, opt);
  } catch (const video::VideoError& e) {
    throw CliError(exit_for(e.kind), e.what());
  }
  const video::StreamInfo& s = reader->info();
  int64_t count = 0;
  double qp_sum = 0;
  int64_t qp_count = 0;
  std::string fatal;
  try {
    video::VideoFrame f;
    while (reader->read(f)) {
      ++count;
      nlohmann::ordered_json j;
      j["index"] = f.index;
      if (f.pts != INT64_MIN) j["pts"] = f.pts;
      else j["pts"] = nullptr;
      j["pict_type"] = pict(f.pict_type);
      if (f.qp) {
        j["qp"] = *f.qp;
        qp_sum += *f.qp;
        ++qp_count;
      } else {
        j["qp"] = nullptr;
      }
      frames.push_back(std::move(j));
    }
  } catch (const video::VideoError& e) {
    fatal = e.what();
  }
  errors = reader->errors();
  if (!fatal.empty()) errors.push_back(fatal);

  const std::string depth = std::to_string(s.bit_depth);
  if (json) {
    nlohmann::ordered_json out;
    out["file"] = path;
    out["format"] = s.format;
    out["streams"] = nlohmann::ordered_json::array();
    for (const auto& cs : s.streams) out["streams"].push_back({{"index", cs.index}, {"type", cs.type}, {"codec", cs.codec}});
    nlohmann::ordered_json v;
    v["index"] = s.index;
    v["codec"] = s.codec;
    v["codec_long"] = s.codec_long;
    v["decoder"] = s.decoder;
    v["profile"] = s.profile;
    v["width"] = s.width;
    v["height"] = s.height;
    v["pix_fmt"] = s.pix_fmt;
    v["bit_depth"] = s.bit_depth;
    v["chroma_subsampling"] = {s.chroma_shift_w, s.chroma_shift_h};
    v["color_range"] = s.color_range;
    v["color_primaries"] = s.color_primaries;
    v["color_transfer"] = s.color_transfer;
    v["color_matrix"] = s.color_matrix;
    v["frame_rate"] = std::to_string(s.frame_rate_num) + "/" + std::to_string(s.frame_rate_den);
    v["time_base"] = std::to_string(s.time_base_num) + "/" + std::to_string(s.time_base_den);
    v["duration_s"] = s.duration_s;
    v["container_frames"] = s.container_frames;
    v["frame_count"] = count;
    v["qp_source"] = s.qp_source;
    v["qp_scale"] = s.qp_scale;
    if (qp_count > 0) v["qp_mean"] = qp_sum / static_cast<double>(qp_count);
    out["video"] = v;
    out["frames"] = frames;
    out["errors"] = errors;
    if (verbose) out["warnings"] = reader->warnings();
    std::fputs((out.dump(2) + "\n").c_str(), stdout);
  } else {
    std::ostringstream o;
    o << path << ": " << s.format << ", " << s.stream_count << " stream(s)\n";
    for (const auto& cs : s.streams) o << "  #" << cs.index << " " << cs.type << ": " << cs.codec << "\n";
    o << "  video stream #" << s.index << ": " << s.codec << " (" << s.codec_long << ", " << s.profile
      << "; decoder " << s.decoder << ")\n"
      << "  " << s.width << "x" << s.height << ", " << s.pix_fmt << ", " << depth << "-bit, range "
      << s.color_range << ", primaries " << s.color_primaries << ", transfer " << s.color_transfer
      << ", matrix " << s.color_matrix << "\n"
      << "  frame rate " << s.frame_rate_num << "/" << s.frame_rate_den << ", time base " << s.time_base_num
      << "/" << s.time_base_den << ", " << count << " frames decoded";
    if (s.container_frames > 0) o << " (container says " << s.container_frames << ")";
    o << "\n  QP: " << s.qp_scale << ", from " << s.qp_source;
    if (qp_count > 0) o << ", mean " << qp_sum / static_cast<double>(qp_count);
    o << "\n  frames (type:qp):";
    for (size_t i = 0; i < frames.size(); ++i) {
      if (i % 10 == 0) o << "\n   ";
      o << " " << frames[i]["pict_type"].get<std::string>() << ":";
      if (frames[i]["qp"].is_null()) o << "-";
      else {
        char b[32];
        std::snprintf(b, sizeof b, "%g", frames[i]["qp"].get<double>());
        o << b;
      }
    }
    o << "\n";
    std::fputs(o.str().c_str(), stdout);
    if (verbose)
      for (const auto& w : reader->warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());
  }
  if (!errors.empty()) {
    for (size_t i = 0; i + 1 < errors.size(); ++i) std::fprintf(stderr, "error: %s: %s\n", path.c_str(), errors[i].c_str());
    throw CliError(kExitCorrupt, path + ": " + errors.back());
  }
  return kExitOk;
}

}  // namespace lucid::video_cli
