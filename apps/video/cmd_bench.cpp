// `lucid-video bench INPUT... --codec hevc|av1 --qp 22,27,32,37,42`: how much the restorer
// recovers of what a codec takes away.
//
// For every clean clip and QP: the clip is encoded at that constant QP (libx265 low-delay P, or
// libsvtav1), decoded, and the decoded frames go through the restorer (the one from
// restorer_factory.h) in a RestorePipeline, as `lucid-video restore` runs it. Decoded and restored
// frames are compared with the clean clip's frame of the same INDEX (display order from 0; never
// by timestamp): PSNR-Y and SSIM-Y on the luma plane at its native bit depth (peak 255 at 8
// bits, 1023 at 10), per frame, averaged per clip, then over the clips. The restorer is timed
// alone (fps of restoration). Memory: a clip is read twice per QP (encode, then compare) and
// only the restorer's window of frames is held.
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

extern "C" {
#include <libavutil/log.h>
}

#include "common/metrics.h"
#include "common/rd_plot.h"
#include "lucid/video/video_reader.h"
#include "lucid/video/video_writer.h"
#include "lucid/video_restore/restore_pipeline.h"
#include "video_cli.h"

namespace lucid::video_cli {

namespace {

using json = nlohmann::json;
namespace vr = lucid::video_restore;

// A frame whose luma equals the clean one scores this instead of +infinity, so that averages
// and JSON stay finite (documented in the README).
constexpr double kPsnrCap = 100.0;

std::atomic<int> g_bench_signal{0};
extern "C" void on_bench_signal(int s) { g_bench_signal.store(s); }

struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};
void check_signal() {
  if (g_bench_signal.load()) throw Interrupted();
}

struct BenchFlags {
  std::string codec;  // hevc | av1
  std::vector<int> qps;
  std::string json_path, plot_path;
  std::string keep_dir;  // --keep: the encoded streams stay there (else a private temporary folder)
  std::string model = "default", device = "cpu";  // --model: the shipped network
  int tile = -1;  // --tile: -1 the restorer's preferred size, 0 whole frames
  int threads = 1;
  std::optional<int64_t> max_frames;
  bool overwrite = false, quiet = false, verbose = false, per_frame = true;
};

// What each codec's encoder is told, and the QP range it takes.
struct CodecSetup {
  std::string output_codec;  // OutputOptions::codec
  std::string encoder;       // FFmpeg encoder name
  int qp_min, qp_max;
  std::string qp_scale;  // of the --qp values
};
CodecSetup setup_for(const std::string& codec) {
  if (codec == "hevc") return {"x265", "libx265", 0, 51, "HEVC luma QP (0..51)"};
  // FFmpeg's libsvtav1 `qp` option: 0 means unset, so 1..63.
  return {"svtav1", "libsvtav1", 1, 63, "SVT-AV1 QP (1..63; base_q_idx = 4 x QP, 255 at 63)"};
}
// The settings behind one QP (also written to the JSON, so a result says how it was made).
video::OutputOptions encoder_options(const std::string& codec, int qp, int threads) {
  video::OutputOptions o;
  o.codec = setup_for(codec).output_codec;
  o.threads = threads;
  if (codec == "hevc") {
    // Constant QP on every frame (ipratio/pbratio 1: the I frame too), low-delay P: no B-frames.
    o.encoder_params = "qp=" + std::to_string(qp) + ":bframes=0:ipratio=1:pbratio=1";
  } else {
    // Constant QP (rate control off, adaptive quantisation off: FFmpeg's qp option), and the
    // same qindex on every frame of the hierarchy (no per-layer or key-frame offsets).
    o.qp = qp;
    o.encoder_params = "use-fixed-qindex-offsets=1:key-frame-qindex-offset=0:qindex-offsets=0,0,0,0,0,0";
  }
  return o;
}
std::string settings_text(const std::string& codec) {
  if (codec == "hevc") return "libx265 -x265-params qp=QP:bframes=0:ipratio=1:pbratio=1 (constant QP, low-delay P, no B-frames)";
  return "libsvtav1 -qp QP -svtav1-params use-fixed-qindex-offsets=1:key-frame-qindex-offset=0:qindex-offsets=0,0,0,0,0,0 "
         "(constant QP, every frame at base_q_idx 4 x QP)";
}

bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}
bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
std::string lower_ext(const std::string& p) {
  const size_t slash = p.rfind('/'), dot = p.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string e = p.substr(dot + 1);
  for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}
// Names that are video files (a folder's other files are not clips).
bool video_extension(const std::string& p) {
  static const char* kExt[] = {"mkv", "mp4", "mov", "m4v", "webm", "avi", "y4m", "nut", "ts", "m2ts", "mts", "mxf",
                               "mpg", "mpeg", "flv", "ivf", "obu", "hevc", "h265", "265", "h264", "264", "avc"};
  const std::string e = lower_ext(p);
  for (const char* k : kExt)
    if (e == k) return true;
  return false;
}
std::string dir_of(const std::string& p) {
  const size_t s = p.rfind('/');
  return s == std::string::npos ? "." : (s == 0 ? "/" : p.substr(0, s));
}

// INPUT: a folder (its video files, sorted by name, not recursive), a video file, or a list file
// (one path per line, relative to the working directory as for --manifest; # comments).
std::vector<std::string> collect_clips(const std::vector<std::string>& inputs) {
  std::vector<std::string> clips;
  for (const std::string& in : inputs) {
    if (!exists(in)) throw CliError(kExitUnreadable, in + ": no such file or folder");
    if (is_dir(in)) {
      DIR* d = opendir(in.c_str());
      if (!d) throw CliError(kExitUnreadable, in + ": cannot read the folder: " + std::strerror(errno));
      std::vector<std::string> names;
      while (dirent* e = readdir(d)) {
        const std::string n = e->d_name;
        if (n.empty() || n[0] == '.') continue;
        const std::string path = (in.back() == '/' ? in : in + "/") + n;
        if (video_extension(n) && !is_dir(path)) names.push_back(path);
      }
      closedir(d);
      std::sort(names.begin(), names.end());
      if (names.empty()) throw CliError(kExitUnreadable, in + ": no video files in this folder (.mkv, .mp4, .y4m, ...)");
      clips.insert(clips.end(), names.begin(), names.end());
    } else if (video_extension(in)) {
      clips.push_back(in);
    } else {
      std::ifstream list(in);
      if (!list) throw CliError(kExitUnreadable, in + ": cannot read the list");
      std::string line;
      size_t before = clips.size();
      int n = 0;
      while (std::getline(list, line)) {
        ++n;
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
        size_t b = 0;
        while (b < line.size() && (line[b] == ' ' || line[b] == '\t')) ++b;
        line = line.substr(b);
        if (line.empty() || line[0] == '#') continue;
        if (line.find('\0') != std::string::npos)
          throw CliError(kExitUnreadable, in + ": line " + std::to_string(n) + ": not a text list of clips");
        clips.push_back(line);
      }
      if (clips.size() == before) throw CliError(kExitUnreadable, in + ": the list names no clips");
    }
  }
  return clips;
}

std::vector<int> parse_qps(const std::string& v, const CodecSetup& cs, const std::string& codec) {
  std::vector<int> qps;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) throw CliError(kExitUsage, "--qp: empty item in '" + v + "'");
    const int q = static_cast<int>(parse_int("--qp (" + codec + ")", item, cs.qp_min, cs.qp_max));
    if (std::find(qps.begin(), qps.end(), q) != qps.end())
      throw CliError(kExitUsage, "--qp: " + item + " given twice");
    qps.push_back(q);
  }
  if (qps.empty()) throw CliError(kExitUsage, "--qp: expected a list such as 22,27,32,37,42");
  return qps;
}

// A private temporary folder, removed with everything in it.
struct TempDir {
  std::string path;
  TempDir() {
    const char* t = std::getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/lucid-video-bench-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw CliError(kExitWrite, tmpl + ": cannot create a temporary folder: " + std::strerror(errno));
    path = buf.data();
  }
  ~TempDir() {
    if (DIR* d = opendir(path.c_str())) {
      while (dirent* e = readdir(d)) {
        const std::string n = e->d_name;
        if (n != "." && n != "..") ::unlink((path + "/" + n).c_str());
      }
      closedir(d);
    }
    ::rmdir(path.c_str());
  }
};

struct ClipInfo {
  std::string path;
  int width = 0, height = 0, bit_depth = 0;
  std::string pix_fmt;
  int64_t frames = 0;
  double fps = 0;
};

struct Result {
  std::string clip;
  int qp = 0;
  int64_t frames = 0;
  int64_t bytes = 0;
  double bpp = 0, kbps = 0;
  std::optional<double> stream_qp_mean;  // what the decoder's stream says (the parsers)
  std::vector<double> psnr_dec, psnr_rest, ssim_dec, ssim_rest;
  double encode_s = 0, restore_s = 0;
  double mean(const std::vector<double>& v) const {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0 : s / v.size();
  }
};

app::SamplePlane luma_of(const vr::Frame& f) {
  app::SamplePlane p;
  p.data = f.planes[0].data();
  p.stride = f.stride(0);
  p.width = f.format.width;
  p.height = f.format.height;
  p.bit_depth = f.format.bit_depth;
  return p;
}
app::SamplePlane luma_of(const std::vector<uint8_t>& y, const vr::PlaneFormat& pf) {
  app::SamplePlane p;
  p.data = y.data();
  p.stride = static_cast<ptrdiff_t>(pf.width) * pf.bytes_per_sample();
  p.width = pf.width;
  p.height = pf.height;
  p.bit_depth = pf.bit_depth;
  return p;
}
double capped_psnr(const app::SamplePlane& a, const app::SamplePlane& b) {
  return std::min(kPsnrCap, app::plane_psnr(a, b));
}

video::VideoReader open_reader(const std::string& path, int threads) {
  video::ReaderOptions o;
  o.threads = threads;
  try {
    return video::VideoReader(path, o);
  } catch (const video::VideoError& e) {
    throw CliError(exit_for(e.kind), e.what());
  }
}

// Reads the clean clip through once: its format and frame count.
ClipInfo probe_clip(const std::string& path, const BenchFlags& f) {
  ClipInfo c;
  c.path = path;
  try {
    video::VideoReader r(path, [&] {
      video::ReaderOptions o;
      o.threads = f.threads;
      return o;
    }());
    const video::StreamInfo& info = r.info();
    c.width = info.width;
    c.height = info.height;
    c.bit_depth = info.bit_depth;
    c.pix_fmt = info.pix_fmt;
    c.fps = info.frame_rate_num > 0 && info.frame_rate_den > 0 ? static_cast<double>(info.frame_rate_num) / info.frame_rate_den : 0;
    video::VideoFrame vf;
    while ((!f.max_frames || c.frames < *f.max_frames) && r.read(vf)) {
      check_signal();
      if (vf.width != c.width || vf.height != c.height)
        throw CliError(kExitCorrupt, path + ": frame " + std::to_string(vf.index) + ": the frame size changes (not supported)");
      ++c.frames;
    }
  } catch (const video::VideoError& e) {
    const std::string w = e.what();
    throw CliError(exit_for(e.kind), w.rfind(path, 0) == 0 ? w : path + ": " + w);
  }
  if (c.frames == 0) throw CliError(kExitCorrupt, path + ": no video frames");
  return c;
}

// Encodes the first clip.frames frames of the clean clip at `qp` into `out`.
void encode_clip(const ClipInfo& clip, const BenchFlags& f, int qp, const std::string& out) {
  video::VideoReader r = open_reader(clip.path, f.threads);
  video::VideoFormat fmt;
  try {
    fmt = video::probe_video_format(clip.path, r.info());
  } catch (const video::VideoError& e) {
    throw CliError(exit_for(e.kind), e.what());
  }
  // Frames are numbered, not timed: pts = index at the clip's frame rate (25 when unknown).
  if (fmt.frame_rate_num <= 0 || fmt.frame_rate_den <= 0) fmt.frame_rate_num = 25, fmt.frame_rate_den = 1;
  fmt.time_base_num = fmt.frame_rate_den;
  fmt.time_base_den = fmt.frame_rate_num;
  const video::OutputOptions o = encoder_options(f.codec, qp, f.threads);
  try {
    video::SegmentWriter w(out, fmt, o);
    video::VideoFrame vf;
    int64_t n = 0;
    while (n < clip.frames && r.read(vf)) {
      check_signal();
      video::RawPicture pic;
      for (int p = 0; p < 3; ++p) {
        pic.data[p] = vf.data(p);
        pic.stride[p] = vf.stride(p);
      }
      pic.pts = n++;
      w.write(pic);
    }
    w.finish();
  } catch (const video::VideoError& e) {
    throw CliError(e.kind == video::VideoErrorKind::kOpen ? kExitWrite : kExitCorrupt,
                   clip.path + ": encoding at QP " + std::to_string(qp) + ": " + e.what());
  }
}

// Decodes `encoded`, restores it and scores both against the clean clip, frame by frame.
Result measure(const ClipInfo& clip, const BenchFlags& f, int qp, const std::string& encoded,
               const vr::RestorerModel& model) {
  Result res;
  res.clip = clip.path;
  res.qp = qp;
  struct stat st {};
  ::stat(encoded.c_str(), &st);
  res.bytes = st.st_size;

  video::VideoReader clean = open_reader(clip.path, f.threads);
  video::VideoReader dec = open_reader(encoded, f.threads);
  const vr::PlaneFormat pf = plane_format(clean.info());
  const vr::PlaneFormat dpf = plane_format(dec.info());
  if (!(pf == dpf))
    throw CliError(kExitCorrupt, clip.path + ": the " + f.codec + " stream at QP " + std::to_string(qp) + " decodes to " +
                                     dec.info().pix_fmt + " " + std::to_string(dpf.width) + "x" + std::to_string(dpf.height) +
                                     ", the clip is " + clean.info().pix_fmt + " " + std::to_string(pf.width) + "x" +
                                     std::to_string(pf.height));
  const size_t luma_bytes = static_cast<size_t>(pf.width) * pf.height * pf.bytes_per_sample();
  // A restorer of its own for this stream (a network keeps per-stream state), told its codec.
  const std::unique_ptr<vr::FrameRestorer> restorer_ptr = model.make_stream_restorer(f.codec);
  vr::FrameRestorer& restorer = *restorer_ptr;

  // Frames waiting for their restored version: clean and decoded luma of one index.
  struct Pending {
    int64_t index;
    std::vector<uint8_t> clean_y, dec_y;
  };
  std::deque<Pending> pending;
  std::vector<vr::Frame> restored;
  vr::PipelineOptions popt;
  popt.tile = f.tile;
  vr::RestorePipeline pipeline(restorer, popt, [&](const vr::Frame& out) { restored.push_back(out); });
  auto score_restored = [&] {
    for (vr::Frame& out : restored) {
      if (pending.empty() || pending.front().index != out.index)
        throw CliError(kExitInternal, "restored frame " + std::to_string(out.index) + " out of order");
      const Pending& p = pending.front();
      if (std::memcmp(out.planes[0].data(), p.dec_y.data(), luma_bytes) == 0) {
        // Same luma as decoded: the same scores, bit for bit (both are deterministic).
        res.psnr_rest.push_back(res.psnr_dec[static_cast<size_t>(out.index)]);
        res.ssim_rest.push_back(res.ssim_dec[static_cast<size_t>(out.index)]);
      } else {
        res.psnr_rest.push_back(capped_psnr(luma_of(p.clean_y, pf), luma_of(out)));
        res.ssim_rest.push_back(app::plane_ssim(luma_of(p.clean_y, pf), luma_of(out)));
      }
      pending.pop_front();
    }
    restored.clear();
  };
  auto timed = [&](auto&& fn) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    res.restore_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };

  double qp_sum = 0;
  int64_t qp_n = 0;
  try {
    video::VideoFrame cf, df;
    int64_t i = 0;
    while (dec.read(df)) {
      check_signal();
      if (i >= clip.frames)
        throw CliError(kExitCorrupt, encoded + ": decodes to more frames than the " + std::to_string(clip.frames) + " encoded");
      if (!clean.read(cf)) throw CliError(kExitCorrupt, clip.path + ": ends after " + std::to_string(i) + " frames on the second read");
      if (df.width != pf.width || df.height != pf.height)
        throw CliError(kExitCorrupt, encoded + ": frame " + std::to_string(i) + ": the frame size changes");
      // Paired by index: decoded frame i (display order) against clean frame i.
      vr::Frame d = to_restore_frame(df, pf, vr::qp_scale_for_codec(f.codec.c_str()));
      d.index = i;
      d.pts = i;
      const vr::Frame c = to_restore_frame(cf, pf, vr::QpScale::kUnknown);
      if (df.qp) qp_sum += *df.qp, ++qp_n;
      res.psnr_dec.push_back(capped_psnr(luma_of(c), luma_of(d)));
      res.ssim_dec.push_back(app::plane_ssim(luma_of(c), luma_of(d)));
      pending.push_back(Pending{i, c.planes[0], d.planes[0]});
      timed([&] { pipeline.push(std::move(d)); });
      score_restored();
      ++i;
    }
    timed([&] { pipeline.finish(); });
    score_restored();
    if (i != clip.frames)
      throw CliError(kExitCorrupt, encoded + ": decodes to " + std::to_string(i) + " frames, " + std::to_string(clip.frames) +
                                       " were encoded");
    res.frames = i;
  } catch (const video::VideoError& e) {
    throw CliError(exit_for(e.kind), e.what());
  }
  if (qp_n > 0) res.stream_qp_mean = qp_sum / static_cast<double>(qp_n);
  const double pixels = static_cast<double>(pf.width) * pf.height * res.frames;
  res.bpp = res.bytes * 8.0 / pixels;
  const double fps = clip.fps > 0 ? clip.fps : 25.0;
  res.kbps = res.bytes * 8.0 / (res.frames / fps) / 1000.0;
  return res;
}

// Per-QP summary over the clips: means of the per-clip means.
struct Summary {
  int qp = 0;
  int clips = 0;
  int64_t frames = 0;
  double bpp = 0, psnr_dec = 0, psnr_rest = 0, delta = 0, ssim_dec = 0, ssim_rest = 0, restore_s = 0;
};

void write_text_file(const std::string& path, const std::string& text) {
  const std::string tmp = dir_of(path) + "/.lucid-tmp-" + std::to_string(getpid()) + "-bench.json";
  {
    std::ofstream o(tmp);
    o << text;
    if (!o) {
      ::unlink(tmp.c_str());
      throw CliError(kExitWrite, path + ": cannot write");
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw CliError(kExitWrite, path + ": " + why);
  }
}

void check_output(const std::string& path, const std::string& flag, bool overwrite) {
  if (path.empty()) return;
  if (!is_dir(dir_of(path))) throw CliError(kExitWrite, flag + " " + path + ": no such folder " + dir_of(path));
  if (is_dir(path)) throw CliError(kExitWrite, flag + " " + path + ": is a folder");
  if (!overwrite && exists(path)) throw CliError(kExitWrite, path + ": exists (use -y to replace it)");
  if (::access(dir_of(path).c_str(), W_OK) != 0) throw CliError(kExitWrite, flag + " " + path + ": folder not writable");
}

}  // namespace

int cmd_bench(const std::vector<std::string>& args) {
  BenchFlags f;
  std::string qp_arg;
  flags::Parser p("bench", flags::Wording::kCommand);
  p.setter("--codec", [&](const std::string& v) {
    if (v != "hevc" && v != "av1") throw flags::UsageError("--codec: expected hevc or av1, got '" + v + "'");
    f.codec = v;
  });
  p.value("--qp", &qp_arg);
  p.value("--json", &f.json_path);
  p.value("--plot", &f.plot_path);
  p.value("--keep", &f.keep_dir);
  p.value("--model,--weights", &f.model);
  p.value("--device", &f.device);
  p.setter("--tile", [&](const std::string& v) { f.tile = parse_tile(v); });
  p.setter("--frames", [&](const std::string& v) { f.max_frames = parse_int("--frames", v, 1, int64_t{1} << 40); });
  p.setter("-j,--threads", [&](const std::string& v) { f.threads = static_cast<int>(parse_int("-j", v, 1, 256)); });
  bool no_per_frame = false;
  p.flag("--no-per-frame", &no_per_frame);
  p.flag("-y,--overwrite", &f.overwrite);
  p.flag("--quiet", &f.quiet);
  p.flag("-v,--verbose", &f.verbose);
  const std::vector<std::string> inputs = p.parse(args);
  if (no_per_frame) f.per_frame = false;
  if (inputs.empty()) throw CliError(kExitUsage, "bench: missing input (a folder of clean clips, a clip or a list file)");
  if (f.codec.empty()) throw CliError(kExitUsage, "bench: missing --codec hevc|av1");
  const CodecSetup cs = setup_for(f.codec);
  f.qps = parse_qps(qp_arg.empty() ? "22,27,32,37,42" : qp_arg, cs, f.codec);
  if (!f.json_path.empty() && f.json_path == f.plot_path) throw CliError(kExitUsage, "--json and --plot name the same file");
  check_device(f.device, f.verbose && f.model.rfind("identity", 0) == 0);
  const std::shared_ptr<const vr::RestorerModel> restorer = restorer_for(f.model, f.device);
  check_output(f.json_path, "--json", f.overwrite);
  check_output(f.plot_path, "--plot", f.overwrite);
  if (!f.keep_dir.empty() && !is_dir(f.keep_dir)) throw CliError(kExitWrite, "--keep " + f.keep_dir + ": not a folder");
  if (!video::have_output_encoder(cs.output_codec))
    throw CliError(kExitCorrupt, "--codec " + f.codec + ": this FFmpeg has no " + cs.encoder + " encoder");
  if (!f.verbose) {
    av_log_set_level(AV_LOG_QUIET);
    ::setenv("SVT_LOG", "1", /*overwrite=*/0);  // SVT-AV1's own logger: errors only (unless the caller set it)
  }

  struct sigaction sa {};
  sa.sa_handler = on_bench_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  const auto t_start = std::chrono::steady_clock::now();
  std::vector<ClipInfo> clips;
  std::vector<Result> results;
  try {
    const std::vector<std::string> paths = collect_clips(inputs);
    for (const std::string& p : paths) clips.push_back(probe_clip(p, f));
    TempDir tmp;
    for (size_t ci = 0; ci < clips.size(); ++ci) {
      for (int qp : f.qps) {
        std::string stem = clips[ci].path.substr(clips[ci].path.rfind('/') == std::string::npos ? 0 : clips[ci].path.rfind('/') + 1);
        if (stem.rfind('.') != std::string::npos && stem.rfind('.') > 0) stem = stem.substr(0, stem.rfind('.'));
        const std::string enc = f.keep_dir.empty()
                                    ? tmp.path + "/clip" + std::to_string(ci) + "-qp" + std::to_string(qp) + ".mkv"
                                    : f.keep_dir + "/" + std::to_string(ci) + "-" + stem + "-" + f.codec + "-qp" +
                                          std::to_string(qp) + ".mkv";
        if (!f.keep_dir.empty() && !f.overwrite && exists(enc)) throw CliError(kExitWrite, enc + ": exists (use -y to replace it)");
        const auto t0 = std::chrono::steady_clock::now();
        encode_clip(clips[ci], f, qp, enc);
        const double enc_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        Result r = measure(clips[ci], f, qp, enc, *restorer);
        r.encode_s = enc_s;
        if (f.keep_dir.empty()) ::unlink(enc.c_str());
        if (f.verbose)
          std::fprintf(stderr, "%s QP %d: %lld frames, PSNR-Y %.3f -> %.3f dB\n", clips[ci].path.c_str(), qp,
                       static_cast<long long>(r.frames), r.mean(r.psnr_dec), r.mean(r.psnr_rest));
        results.push_back(std::move(r));
      }
    }
  } catch (const Interrupted&) {
    std::fprintf(stderr, "\nerror: bench: interrupted by signal %d; nothing written\n", g_bench_signal.load());
    return kExitInterrupted;
  }
  const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();

  // Summaries per QP.
  std::vector<Summary> sums;
  for (int qp : f.qps) {
    Summary s;
    s.qp = qp;
    for (const Result& r : results) {
      if (r.qp != qp) continue;
      ++s.clips;
      s.frames += r.frames;
      s.bpp += r.bpp;
      s.psnr_dec += r.mean(r.psnr_dec);
      s.psnr_rest += r.mean(r.psnr_rest);
      s.delta += r.mean(r.psnr_rest) - r.mean(r.psnr_dec);
      s.ssim_dec += r.mean(r.ssim_dec);
      s.ssim_rest += r.mean(r.ssim_rest);
      s.restore_s += r.restore_s;
    }
    if (s.clips > 0)
      for (double* v : {&s.bpp, &s.psnr_dec, &s.psnr_rest, &s.delta, &s.ssim_dec, &s.ssim_rest}) *v /= s.clips;
    sums.push_back(s);
  }
  auto fps_of = [](int64_t frames, double s) { return s > 0 ? frames / s : 0.0; };

  // Text table (stdout).
  if (!f.quiet) {
    std::printf("lucid-video bench: %s, restorer %s, %zu clip(s), QP %s (%s)\n", f.codec.c_str(), restorer->name().c_str(),
                clips.size(), qp_arg.empty() ? "22,27,32,37,42" : qp_arg.c_str(), cs.qp_scale.c_str());
    std::printf("%-40s %4s %6s %7s %8s %8s %8s %7s %7s %10s\n", "clip", "qp", "frames", "bpp", "Y dec", "Y rest",
                "dPSNR-Y", "SSIM dec", "SSIM rest", "restore fps");
    auto short_name = [](const std::string& p) {
      const size_t s = p.rfind('/');
      std::string b = s == std::string::npos ? p : p.substr(s + 1);
      return b.size() > 40 ? b.substr(0, 37) + "..." : b;
    };
    for (const Result& r : results)
      std::printf("%-40s %4d %6lld %7.4f %8.3f %8.3f %+8.3f %8.5f %8.5f %10.1f\n", short_name(r.clip).c_str(), r.qp,
                  static_cast<long long>(r.frames), r.bpp, r.mean(r.psnr_dec), r.mean(r.psnr_rest),
                  r.mean(r.psnr_rest) - r.mean(r.psnr_dec), r.mean(r.ssim_dec), r.mean(r.ssim_rest),
                  fps_of(r.frames, r.restore_s));
    for (const Summary& s : sums)
      std::printf("%-40s %4d %6lld %7.4f %8.3f %8.3f %+8.3f %8.5f %8.5f %10.1f\n",
                  ("mean of " + std::to_string(s.clips) + " clip(s)").c_str(), s.qp, static_cast<long long>(s.frames), s.bpp,
                  s.psnr_dec, s.psnr_rest, s.delta, s.ssim_dec, s.ssim_rest, fps_of(s.frames, s.restore_s));
    std::printf("PSNR-Y/SSIM-Y of the decoded (dec) and restored (rest) luma against the clean clip, frames paired by index; "
                "%.1f s in all\n", total_s);
    std::fflush(stdout);
  }

  if (!f.json_path.empty()) {
    json jc = json::array();
    for (const ClipInfo& c : clips)
      jc.push_back({{"path", c.path}, {"width", c.width}, {"height", c.height}, {"bit_depth", c.bit_depth},
                    {"pix_fmt", c.pix_fmt}, {"frames", c.frames}, {"fps", c.fps}});
    json jr = json::array();
    for (const Result& r : results) {
      json o{{"clip", r.clip},
             {"qp", r.qp},
             {"frames", r.frames},
             {"bytes", r.bytes},
             {"bpp", r.bpp},
             {"kbps", r.kbps},
             {"stream_qp_mean", r.stream_qp_mean ? json(*r.stream_qp_mean) : json(nullptr)},
             {"psnr_y_decoded", r.mean(r.psnr_dec)},
             {"psnr_y_restored", r.mean(r.psnr_rest)},
             {"delta_psnr_y", r.mean(r.psnr_rest) - r.mean(r.psnr_dec)},
             {"ssim_y_decoded", r.mean(r.ssim_dec)},
             {"ssim_y_restored", r.mean(r.ssim_rest)},
             {"delta_ssim_y", r.mean(r.ssim_rest) - r.mean(r.ssim_dec)},
             {"encode_seconds", r.encode_s},
             {"restore_seconds", r.restore_s},
             {"restore_fps", fps_of(r.frames, r.restore_s)}};
      if (f.per_frame)
        o["per_frame"] = {{"psnr_y_decoded", r.psnr_dec},
                          {"psnr_y_restored", r.psnr_rest},
                          {"ssim_y_decoded", r.ssim_dec},
                          {"ssim_y_restored", r.ssim_rest}};
      jr.push_back(std::move(o));
    }
    json js = json::array();
    for (const Summary& s : sums)
      js.push_back({{"qp", s.qp},
                    {"clips", s.clips},
                    {"frames", s.frames},
                    {"bpp", s.bpp},
                    {"psnr_y_decoded", s.psnr_dec},
                    {"psnr_y_restored", s.psnr_rest},
                    {"delta_psnr_y", s.delta},
                    {"ssim_y_decoded", s.ssim_dec},
                    {"ssim_y_restored", s.ssim_rest},
                    {"delta_ssim_y", s.ssim_rest - s.ssim_dec},
                    {"restore_fps", fps_of(s.frames, s.restore_s)}});
    const json doc{{"tool", "lucid-video bench 0.1.0"},
                   {"codec", f.codec},
                   {"encoder", cs.encoder},
                   {"encoder_settings", settings_text(f.codec)},
                   {"qp_scale", cs.qp_scale},
                   {"restorer", restorer->name()},
                   {"model", f.model},
                   {"device", f.device},
                   {"tile", f.tile},
                   {"metrics", "PSNR-Y and SSIM-Y (11x11 Gaussian, sigma 1.5) of the luma plane at its native bit depth "
                               "(peak 2^bitdepth - 1), per frame, decoded/restored frame i against clean frame i (display "
                               "order, never timestamps), per-frame PSNR capped at 100 dB; averaged per clip, then over clips"},
                   {"clips", jc},
                   {"results", jr},
                   {"summary", js},
                   {"seconds", total_s}};
    write_text_file(f.json_path, doc.dump(2) + "\n");
  }
  if (!f.plot_path.empty()) {
    std::vector<app::RdSeries> series(1);
    series[0].name = "mean of " + std::to_string(clips.size()) + " clip(s)";
    for (const Summary& s : sums) series[0].points.emplace_back(s.qp, s.delta);
    if (clips.size() > 1 && clips.size() <= 7) {
      for (const ClipInfo& c : clips) {
        app::RdSeries cs_series;
        const size_t sl = c.path.rfind('/');
        cs_series.name = sl == std::string::npos ? c.path : c.path.substr(sl + 1);
        for (const Result& r : results)
          if (r.clip == c.path) cs_series.points.emplace_back(r.qp, r.mean(r.psnr_rest) - r.mean(r.psnr_dec));
        series.push_back(std::move(cs_series));
      }
    }
    try {
      app::write_rd_plot_png(f.plot_path, series,
                             "Restoration gain, " + f.codec + " (" + cs.encoder + "), restorer " + restorer->name(),
                             "delta PSNR-Y, restored - decoded (dB)", "QP (" + cs.qp_scale + ")");
    } catch (const std::exception& e) {
      throw CliError(kExitWrite, f.plot_path + ": " + e.what());
    }
  }
  return kExitOk;
}

}  // namespace lucid::video_cli
