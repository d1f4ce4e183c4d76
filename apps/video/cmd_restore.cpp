// `lucid-video restore`: one file (IN -o OUT) or a manifest share (--manifest LIST -o OUTDIR).
//
// One file runs in segments of --segment frames: each segment is restored into a lossless FFV1
// file in a work folder beside the output (`.NAME.lucid-work/`) and recorded in its journal once
// complete; at the end the segments are muxed (or encoded once, for x265/svtav1/x264) with the
// input's other streams into a temporary file in the output's folder, which is then renamed to
// the output. A killed run leaves the work folder; `--resume` restores only the segments the
// journal lacks. The output itself is never half-written.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include <libavutil/log.h>
}

#include "lucid/video/video_reader.h"
#include "lucid/video/video_writer.h"
#include "lucid/video_restore/restore_pipeline.h"
#include "video_cli.h"

namespace lucid::video_cli {

namespace {

using json = nlohmann::json;
namespace vr = lucid::video_restore;

std::atomic<int> g_signal{0};
extern "C" void on_signal(int s) { g_signal.store(s); }

struct RestoreFlags {
  std::optional<double> qp;
  int tile = -1;  // --tile: -1 the restorer's preferred size, 0 whole frames
  int64_t from = 0;
  std::optional<int64_t> to;  // exclusive
  video::OutputOptions out;
  int threads = 1;
  int segment = 250;
  bool overwrite = false, json = false, resume = false, verbose = false, quiet = false;
  std::string device = "cpu";
  std::string model = "default";  // --model: the restorer (restorer_factory.h): the shipped network
  std::shared_ptr<const vr::RestorerModel> restorer_model;  // loaded once from --model; each file makes its restorer
  int debug_delay_ms = 0;  // testing: sleep per restored frame
};

struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}
std::string dir_of(const std::string& p) {
  const size_t s = p.rfind('/');
  return s == std::string::npos ? "." : (s == 0 ? "/" : p.substr(0, s));
}
std::string base_of(const std::string& p) {
  const size_t s = p.rfind('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}
std::string stem_of(const std::string& p) {
  std::string b = base_of(p);
  const size_t d = b.rfind('.');
  return d == std::string::npos || d == 0 ? b : b.substr(0, d);
}
void remove_tree(const std::string& dir) {
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") ::unlink((dir + "/" + n).c_str());
    }
    closedir(d);
  }
  ::rmdir(dir.c_str());
}
void fsync_path(const std::string& p) {
  const int fd = ::open(p.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Where the segments and journal of OUT live: `.OUT.lucid-work` beside it.
std::string work_dir_of(const std::string& out) { return dir_of(out) + "/." + base_of(out) + ".lucid-work"; }

// Temporary outputs `.lucid-tmp-PID-NAME` of runs that were killed (their PID is gone).
void remove_stale_temporaries(const std::string& dir, const std::string& name) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  const std::string prefix = ".lucid-tmp-", suffix = "-" + name;
  while (dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n.size() <= prefix.size() + suffix.size() || n.rfind(prefix, 0) != 0 ||
        n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string pid = n.substr(prefix.size(), n.size() - prefix.size() - suffix.size());
    if (pid.find_first_not_of("0123456789") != std::string::npos || pid.empty()) continue;
    if (!exists("/proc/" + pid)) ::unlink((dir + "/" + n).c_str());
  }
  closedir(d);
}

// "IN: why", unless the reader's message names the file already.
std::string about(const std::string& in, const std::string& why) {
  return why.rfind(in + ":", 0) == 0 ? why : in + ": " + why;
}

// The job's identity: a journal written for another input or other settings is not resumed.
std::string fingerprint(const std::string& in, const RestoreFlags& f) {
  struct stat st {};
  ::stat(in.c_str(), &st);
  std::ostringstream s;
  s << "lucid-video-journal 1 input=" << in << " size=" << st.st_size << " mtime=" << st.st_mtime
    << " restorer=" << f.model << " weights=" << f.restorer_model->fingerprint() << " qp=" << (f.qp ? std::to_string(*f.qp) : "stream") << " frames=" << f.from << ":"
    << (f.to ? std::to_string(*f.to) : "") << " segment=" << f.segment;
  return s.str();
}

struct FileResult {
  std::string input, output;
  int64_t frames = 0, restored = 0;
  int segments = 0, segments_reused = 0;
  double seconds = 0;
  video::MuxReport mux;
  size_t max_frames_held = 0;
};

class Progress {
 public:
  Progress(bool on, int64_t total) : on_(on), total_(total), t0_(std::chrono::steady_clock::now()) {}
  void update(int64_t done) {
    if (!on_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(250)) return;
    last_ = now;
    const double s = std::chrono::duration<double>(now - t0_).count();
    const double fps = s > 0 ? done / s : 0;
    std::string eta = "?";
    if (total_ > 0 && fps > 0) {
      const int r = static_cast<int>(std::max<double>(0, (total_ - done) / fps));
      char b[32];
      std::snprintf(b, sizeof b, "%d:%02d", r / 60, r % 60);
      eta = b;
    }
    std::fprintf(stderr, "\rframe %lld%s  %.1f fps  ETA %s   ", static_cast<long long>(done),
                 total_ > 0 ? ("/" + std::to_string(total_)).c_str() : "", fps, eta.c_str());
    std::fflush(stderr);
  }
  void done() {
    if (on_) std::fputs("\r\033[K", stderr);
  }

 private:
  bool on_;
  int64_t total_;
  std::chrono::steady_clock::time_point t0_, last_{};
};

void check_signal() {
  if (g_signal.load()) throw Interrupted();
}

// Restores one file. Throws CliError (with its exit code) or Interrupted.
FileResult restore_file(const std::string& in, const std::string& out, const RestoreFlags& f, bool resume) {
  const auto t0 = std::chrono::steady_clock::now();
  FileResult r;
  r.input = in;
  r.output = out;
  if (!f.overwrite && exists(out)) throw CliError(kExitWrite, out + ": exists (use -y to replace it)");
  const std::string out_dir = dir_of(out);
  if (!exists(out_dir)) throw CliError(kExitWrite, out + ": no such folder " + out_dir);
  const std::string work = work_dir_of(out);
  remove_stale_temporaries(out_dir, base_of(out));
  const std::string journal_path = work + "/journal";
  const std::string fp = fingerprint(in, f);

  video::ReaderOptions ropt;
  ropt.qp_override = f.qp;
  ropt.threads = f.threads;
  std::optional<video::VideoReader> reader;
  video::VideoFormat vformat;
  try {
    reader.emplace(in, ropt);
    vformat = video::probe_video_format(in, reader->info());
  } catch (const video::VideoError& e) {
    throw CliError(exit_for(e.kind), e.what());
  }
  const video::StreamInfo& info = reader->info();
  if (!video::have_output_encoder(f.out.codec))
    throw CliError(kExitCorrupt, "--codec " + f.out.codec + ": this FFmpeg has no such encoder");

  // Journal: which segments are complete.
  std::map<int, std::string> done_segments;
  if (resume && exists(journal_path)) {
    std::ifstream j(journal_path);
    std::string line;
    std::getline(j, line);
    if (line == fp) {
      while (std::getline(j, line)) {
        std::istringstream ls(line);
        std::string word, file;
        int k = -1;
        if (ls >> word >> k >> file && word == "segment" && exists(work + "/" + file)) done_segments[k] = file;
      }
    } else if (f.verbose) {
      std::fprintf(stderr, "note: %s: journal of another input or settings; starting over\n", out.c_str());
    }
  }
  if (done_segments.empty()) {
    remove_tree(work);
    if (::mkdir(work.c_str(), 0755) != 0) throw CliError(kExitWrite, work + ": cannot create: " + std::strerror(errno));
    std::ofstream j(journal_path);
    j << fp << "\n";
    if (!j) throw CliError(kExitWrite, journal_path + ": cannot write");
  }
  r.segments_reused = static_cast<int>(done_segments.size());

  const int64_t from = f.from;
  const std::optional<int64_t> to = f.to;
  auto in_range = [&](int64_t i) { return i >= from && (!to || i < *to); };
  auto segment_of = [&](int64_t i) { return static_cast<int>((i - from) / f.segment); };
  std::optional<double> start_s, end_s;
  const double tb = info.time_base_den ? static_cast<double>(info.time_base_num) / info.time_base_den : 0;

  std::optional<video::SegmentWriter> seg;
  int seg_index = -1;
  std::string seg_tmp;
  int last_segment = -1;
  auto close_segment = [&]() {
    if (!seg) return;
    try {
      seg->finish();
    } catch (const video::VideoError& e) {
      throw CliError(kExitWrite, e.what());
    }
    seg.reset();
    const std::string name = "seg-" + std::to_string(seg_index) + ".mkv";
    fsync_path(seg_tmp);
    if (::rename(seg_tmp.c_str(), (work + "/" + name).c_str()) != 0)
      throw CliError(kExitWrite, work + "/" + name + ": " + std::strerror(errno));
    std::ofstream j(journal_path, std::ios::app);
    j << "segment " << seg_index << " " << name << "\n";
    j.flush();
    if (!j) throw CliError(kExitWrite, journal_path + ": cannot write");
    j.close();
    fsync_path(journal_path);
    done_segments[seg_index] = name;
  };

  const int64_t expected = [&]() -> int64_t {
    int64_t n = info.container_frames > 0 ? info.container_frames
                                          : (info.frame_rate_num > 0 ? static_cast<int64_t>(std::llround(
                                                                           info.duration_s * info.frame_rate_num / info.frame_rate_den))
                                                                     : 0);
    if (to && (n == 0 || *to < n)) n = *to;
    return n > from ? n - from : 0;
  }();
  Progress progress(isatty(STDERR_FILENO) && !f.quiet, expected);

  const std::unique_ptr<vr::FrameRestorer> restorer_ptr = f.restorer_model->make_stream_restorer(info.codec);
  vr::FrameRestorer& restorer = *restorer_ptr;
  vr::PipelineOptions popt;
  popt.tile = f.tile;
  auto wanted = [&](int64_t i) { return in_range(i) && !done_segments.count(segment_of(i)); };
  auto sink = [&](const vr::Frame& fr) {
    const int k = segment_of(fr.index);
    if (k != seg_index) {
      close_segment();
      seg_index = k;
      seg_tmp = work + "/seg-" + std::to_string(k) + ".mkv.tmp";
      try {
        seg.emplace(seg_tmp, vformat, f.threads);
      } catch (const video::VideoError& e) {
        throw CliError(e.kind == video::VideoErrorKind::kUnsupported ? kExitCorrupt : kExitWrite, e.what());
      }
    }
    video::RawPicture pic;
    for (int p = 0; p < 3; ++p) {
      pic.data[p] = fr.planes[p].data();
      pic.stride[p] = fr.stride(p);
    }
    pic.pts = fr.pts;
    try {
      seg->write(pic);
    } catch (const video::VideoError& e) {
      throw CliError(kExitWrite, e.what());
    }
    ++r.restored;
    progress.update(r.restored + static_cast<int64_t>(r.segments_reused) * f.segment);
    if (f.debug_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(f.debug_delay_ms));
    check_signal();
  };
  vr::RestorePipeline pipeline(restorer, popt, sink, wanted);

  const vr::PlaneFormat pf = plane_format(info);
  const vr::QpScale qp_scale = vr::qp_scale_for_codec(info.codec.c_str());
  video::VideoFrame vf;
  int64_t decoded = 0;
  int64_t last_pts = INT64_MIN, made_pts = 0;
  const int64_t frame_period = [&]() -> int64_t {
    if (info.frame_rate_num <= 0 || info.time_base_num <= 0) return 1;
    const int64_t p = std::llround(static_cast<double>(info.time_base_den) * info.frame_rate_den /
                                   (static_cast<double>(info.time_base_num) * info.frame_rate_num));
    return p > 0 ? p : 1;
  }();
  try {
    while (reader->read(vf)) {
      check_signal();
      if (vf.width != pf.width || vf.height != pf.height)
        throw CliError(kExitCorrupt, in + ": frame " + std::to_string(vf.index) + ": the frame size changes to " +
                                         std::to_string(vf.width) + "x" + std::to_string(vf.height) + " (not supported)");
      if (to && vf.index >= *to + restorer.window().lookahead()) {
        // Past the range and its look-ahead: the rest only matters for the copy range's end.
        if (!end_s) end_s = (vf.pts != INT64_MIN && vf.pts > last_pts ? vf.pts : last_pts + frame_period) * tb;
        break;
      }
      // Elementary streams (.hevc, .h264, .obu) carry no timestamps: count frame periods.
      int64_t pts = vf.pts;
      if (pts == INT64_MIN || (last_pts != INT64_MIN && pts <= last_pts)) {
        pts = last_pts == INT64_MIN ? 0 : last_pts + frame_period;
        ++made_pts;
      }
      last_pts = pts;
      if (vf.index == from) start_s = pts * tb;
      if (to && vf.index == *to) end_s = pts * tb;
      vr::Frame fr = to_restore_frame(vf, pf, qp_scale);
      fr.pts = pts;
      pipeline.push(std::move(fr));
      ++decoded;
    }
    pipeline.finish();
    close_segment();
  } catch (const video::VideoError& e) {
    seg.reset();
    ::unlink(seg_tmp.c_str());
    throw CliError(exit_for(e.kind), about(in, e.what()));
  } catch (...) {
    seg.reset();
    if (!seg_tmp.empty()) ::unlink(seg_tmp.c_str());
    throw;
  }
  r.frames = decoded;
  std::vector<std::string> warnings;
  if (made_pts > 0)
    warnings.push_back(std::to_string(made_pts) + " frame(s) without (increasing) timestamps; timed by the frame rate");
  r.max_frames_held = pipeline.max_frames_held();
  if (from >= decoded)
    throw CliError(kExitUsage, "--frames: starts at frame " + std::to_string(from) + " but " + in + " has " +
                                   std::to_string(decoded) + " frames");
  last_segment = segment_of(std::min(decoded, to.value_or(decoded)) - 1);
  std::vector<std::string> segments;
  for (int k = 0; k <= last_segment; ++k) {
    auto it = done_segments.find(k);
    if (it == done_segments.end()) throw CliError(kExitInternal, "segment " + std::to_string(k) + " missing");
    segments.push_back(work + "/" + it->second);
  }
  r.segments = static_cast<int>(segments.size());
  check_signal();

  // Mux into a temporary file beside the output, then rename.
  const std::string tmp = out_dir + "/.lucid-tmp-" + std::to_string(getpid()) + "-" + base_of(out);
  video::OutputOptions oo = f.out;
  oo.threads = f.threads;
  if (from > 0) oo.copy_start_s = start_s;
  if (to) oo.copy_end_s = end_s;
  oo.cancelled = [] { return g_signal.load() != 0; };
  try {
    r.mux = video::mux_output(segments, in, vformat, tmp, oo);
    r.mux.warnings.insert(r.mux.warnings.begin(), warnings.begin(), warnings.end());
    fsync_path(tmp);
  } catch (const video::VideoError& e) {
    ::unlink(tmp.c_str());
    if (e.kind == video::VideoErrorKind::kCancelled) throw Interrupted();
    throw CliError(e.kind == video::VideoErrorKind::kUnsupported ? kExitCorrupt : kExitWrite, e.what());
  }
  if (g_signal.load()) {
    ::unlink(tmp.c_str());
    throw Interrupted();
  }
  if (f.overwrite) {
    if (::rename(tmp.c_str(), out.c_str()) != 0) {
      const std::string why = std::strerror(errno);
      ::unlink(tmp.c_str());
      throw CliError(kExitWrite, out + ": " + why);
    }
  } else {
    // link() refuses to replace: an output that appeared meanwhile survives.
    if (::link(tmp.c_str(), out.c_str()) != 0) {
      const std::string why = errno == EEXIST ? "exists (use -y to replace it)" : std::strerror(errno);
      ::unlink(tmp.c_str());
      throw CliError(kExitWrite, out + ": " + why);
    }
    ::unlink(tmp.c_str());
  }
  remove_tree(work);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  progress.done();
  return r;
}

json to_json(const FileResult& r, const RestoreFlags& f) {
  json w = json::array();
  for (const auto& s : r.mux.warnings) w.push_back(s);
  return json{{"input", r.input},
              {"output", r.output},
              {"restorer", f.model},
              {"codec", f.out.codec},
              {"frames_decoded", r.frames},
              {"frames_written", r.mux.video_frames},
              {"frames_restored", r.restored},
              {"segments", r.segments},
              {"segments_reused", r.segments_reused},
              {"copied_streams", r.mux.copied_streams},
              {"copied_packets", r.mux.copied_packets},
              {"max_frames_held", r.max_frames_held},
              {"seconds", r.seconds},
              {"fps", r.seconds > 0 ? r.restored / r.seconds : 0.0},
              {"warnings", w}};
}

void print_summary(const FileResult& r, const RestoreFlags& f) {
  if (f.quiet) return;
  std::fprintf(stderr, "%s: %lld frames -> %s (%s, %d segment(s), %d reused) in %.2f s\n", r.input.c_str(),
               static_cast<long long>(r.mux.video_frames), r.output.c_str(), f.out.codec.c_str(), r.segments,
               r.segments_reused, r.seconds);
  for (const auto& w : r.mux.warnings) std::fprintf(stderr, "warning: %s: %s\n", r.input.c_str(), w.c_str());
}

std::optional<std::pair<int, int>> parse_shard(const std::string& s) {
  const size_t slash = s.find('/');
  if (slash == std::string::npos) return std::nullopt;
  try {
    size_t u1 = 0, u2 = 0;
    const int i = std::stoi(s.substr(0, slash), &u1);
    const int n = std::stoi(s.substr(slash + 1), &u2);
    if (u1 == slash && u2 == s.size() - slash - 1 && n >= 1 && i >= 0 && i < n) return std::make_pair(i, n);
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

// --shard, else Slurm array, else Kubernetes indexed Job (count from LUCID_SHARD_COUNT), else 0/1.
std::pair<int, int> shard_from_env(std::string* source) {
  auto env = [](const char* k) -> std::optional<std::string> {
    const char* v = std::getenv(k);
    return v && *v ? std::optional<std::string>(v) : std::nullopt;
  };
  if (auto id = env("SLURM_ARRAY_TASK_ID")) {
    auto count = env("SLURM_ARRAY_TASK_COUNT");
    if (!count) throw CliError(kExitUsage, "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not");
    const int64_t min = env("SLURM_ARRAY_TASK_MIN") ? parse_int("SLURM_ARRAY_TASK_MIN", *env("SLURM_ARRAY_TASK_MIN"), 0, 1 << 30) : 0;
    const int64_t n = parse_int("SLURM_ARRAY_TASK_COUNT", *count, 1, 1 << 30);
    const int64_t i = parse_int("SLURM_ARRAY_TASK_ID", *id, 0, 1 << 30) - min;
    if (i < 0 || i >= n)
      throw CliError(kExitUsage, "SLURM_ARRAY_TASK_ID " + *id + " outside the array (min " + std::to_string(min) +
                                     ", count " + std::to_string(n) + "; use --array=0-" + std::to_string(n - 1) + ")");
    *source = "slurm";
    return {static_cast<int>(i), static_cast<int>(n)};
  }
  if (auto id = env("JOB_COMPLETION_INDEX")) {
    auto count = env("LUCID_SHARD_COUNT");
    if (!count) throw CliError(kExitUsage, "JOB_COMPLETION_INDEX is set but LUCID_SHARD_COUNT (the Job's completions) is not");
    const int64_t n = parse_int("LUCID_SHARD_COUNT", *count, 1, 1 << 30);
    const int64_t i = parse_int("JOB_COMPLETION_INDEX", *id, 0, n - 1);
    *source = "kubernetes";
    return {static_cast<int>(i), static_cast<int>(n)};
  }
  *source = "none";
  return {0, 1};
}

std::vector<std::string> read_manifest(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw CliError(kExitUnreadable, path + ": cannot read the manifest");
  std::vector<std::string> items;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    size_t b = 0;
    while (b < line.size() && (line[b] == ' ' || line[b] == '\t')) ++b;
    line = line.substr(b);
    if (line.empty() || line[0] == '#') continue;
    items.push_back(line);
  }
  return items;
}

void write_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp-" + std::to_string(getpid());
  {
    std::ofstream o(tmp);
    o << text;
    if (!o) throw CliError(kExitWrite, tmp + ": cannot write");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) throw CliError(kExitWrite, path + ": " + std::strerror(errno));
}

int run_manifest(const std::string& manifest, const std::string& out_dir, std::optional<std::pair<int, int>> shard,
                 RestoreFlags f) {
  std::string source = "--shard";
  const auto [si, sn] = shard ? *shard : shard_from_env(&source);
  const std::vector<std::string> items = read_manifest(manifest);
  struct stat st;
  if (::stat(out_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw CliError(kExitWrite, out_dir + ": not a folder (with --manifest, -o names the output folder)");
  // Output names: OUTDIR/<input stem>.mkv; two inputs with one stem would collide.
  std::map<std::string, size_t> by_name;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string name = stem_of(items[i]) + ".mkv";
    auto [it, fresh] = by_name.emplace(name, i);
    if (!fresh)
      throw CliError(kExitUsage, manifest + ": lines " + std::to_string(it->second + 1) + " and " + std::to_string(i + 1) +
                                     " both make " + name);
  }
  json done = json::array(), skipped = json::array(), failures = json::array();
  int failed = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (static_cast<int>(i % sn) != si) continue;
    const std::string out = out_dir + "/" + stem_of(items[i]) + ".mkv";
    if (exists(out)) {  // outputs appear only complete (rename), so existing means done
      skipped.push_back(items[i]);
      continue;
    }
    try {
      RestoreFlags ff = f;
      ff.overwrite = false;
      FileResult r = restore_file(items[i], out, ff, /*resume=*/true);
      print_summary(r, f);
      done.push_back(to_json(r, f));
    } catch (const CliError& e) {
      if ((e.code == kExitUnreadable || e.code == kExitCorrupt) && exists(work_dir_of(out))) remove_tree(work_dir_of(out));
      ++failed;
      std::fprintf(stderr, "error: %s\n", e.what());
      failures.push_back({{"input", items[i]}, {"line", i + 1}, {"exit_code", e.code}, {"error", e.what()}});
    } catch (const Interrupted&) {
      throw;
    } catch (const std::exception& e) {
      ++failed;
      std::fprintf(stderr, "error: %s: internal: %s\n", items[i].c_str(), e.what());
      failures.push_back({{"input", items[i]}, {"line", i + 1}, {"exit_code", kExitInternal}, {"error", e.what()}});
    }
  }
  const json failures_doc{{"manifest", manifest}, {"shard", std::to_string(si) + "/" + std::to_string(sn)}, {"failures", failures}};
  write_atomic(out_dir + "/failures-" + std::to_string(si) + "-of-" + std::to_string(sn) + ".json", failures_doc.dump(2) + "\n");
  if (f.json)
    std::puts(json{{"manifest", manifest},
                   {"shard", {{"index", si}, {"count", sn}, {"source", source}}},
                   {"items", items.size()},
                   {"restored", done},
                   {"skipped", skipped},
                   {"failures", failures}}
                  .dump(2)
                  .c_str());
  if (!f.quiet)
    std::fprintf(stderr, "shard %d/%d of %s: %zu restored, %zu already done, %d failed\n", si, sn, manifest.c_str(),
                 done.size(), skipped.size(), failed);
  return failed ? kExitPartial : kExitOk;
}

}  // namespace

int cmd_restore(const std::vector<std::string>& args) {
  RestoreFlags f;
  std::vector<std::string> inputs;
  std::string output, manifest;
  std::optional<std::pair<int, int>> shard;
  // Each value is checked by its setter as it is parsed.
  flags::Parser p("restore", flags::Wording::kCommand);
  p.value("-o,--output", &output);
  p.setter("--qp", [&](const std::string& v) { f.qp = parse_qp(v); });
  p.setter("--tile", [&](const std::string& v) { f.tile = parse_tile(v); });
  p.setter("--frames", [&](const std::string& v) {
    const size_t c = v.find(':');
    if (c == std::string::npos) throw flags::UsageError("--frames: expected A:B or A: (frames A..B-1), got '" + v + "'");
    f.from = c == 0 ? 0 : parse_int("--frames", v.substr(0, c), 0, int64_t{1} << 40);
    if (c + 1 < v.size()) f.to = parse_int("--frames", v.substr(c + 1), 1, int64_t{1} << 40);
    if (f.to && *f.to <= f.from) throw flags::UsageError("--frames: empty range '" + v + "' (B must exceed A)");
  });
  p.setter("--codec", [&](const std::string& v) {
    if (v != "ffv1" && v != "x265" && v != "svtav1" && v != "x264")
      throw flags::UsageError("--codec: expected ffv1, x265, svtav1 or x264, got '" + v + "'");
    f.out.codec = v;
  });
  p.setter("--crf", [&](const std::string& v) { f.out.crf = static_cast<int>(parse_int("--crf", v, 0, 63)); });
  p.setter("--qp-out", [&](const std::string& v) { f.out.qp = static_cast<int>(parse_int("--qp-out", v, 0, 255)); });
  p.setter("-j,--threads", [&](const std::string& v) { f.threads = static_cast<int>(parse_int("-j", v, 1, 256)); });
  p.setter("--segment", [&](const std::string& v) { f.segment = static_cast<int>(parse_int("--segment", v, 1, 1 << 24)); });
  p.flag("-y,--overwrite", &f.overwrite);
  p.flag("--json", &f.json);
  p.flag("--resume", &f.resume);
  p.flag("-v,--verbose", &f.verbose);
  p.flag("--quiet", &f.quiet);
  p.value("--device", &f.device);
  p.value("--model,--weights", &f.model);
  p.value("--manifest", &manifest);
  p.setter("--shard", [&](const std::string& v) {
    shard = parse_shard(v);
    if (!shard) throw flags::UsageError("--shard: expected I/N with 0 <= I < N, got '" + v + "'");
  });
  p.setter("--debug-frame-delay-ms", [&](const std::string& v) {
    f.debug_delay_ms = static_cast<int>(parse_int("--debug-frame-delay-ms", v, 0, 60000));
  });
  inputs = p.parse(args);
  if ((f.out.crf || f.out.qp) && f.out.codec == "ffv1")
    throw CliError(kExitUsage, "--crf/--qp-out: FFV1 is lossless; choose --codec x265, svtav1 or x264");
  if (f.out.crf && f.out.qp) throw CliError(kExitUsage, "--crf and --qp-out exclude each other");
  if (output.empty()) throw CliError(kExitUsage, "restore: missing -o OUT");
  if (manifest.empty() && inputs.size() != 1)
    throw CliError(kExitUsage, inputs.empty() ? "restore: missing input" : "restore: one input (or --manifest LIST)");
  if (!manifest.empty() && !inputs.empty()) throw CliError(kExitUsage, "restore: --manifest takes no other inputs");
  if (shard && manifest.empty()) throw CliError(kExitUsage, "--shard: only with --manifest");
  check_device(f.device, f.verbose && f.model.rfind("identity", 0) == 0);
  f.restorer_model = restorer_for(f.model, f.device);  // an unknown --model fails before any file is touched (exit 4)
  if (!f.verbose) av_log_set_level(AV_LOG_QUIET);  // errors are reported as `error: what: why`

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  try {
    if (!manifest.empty()) return run_manifest(manifest, output, shard, f);
    FileResult r;
    try {
      r = restore_file(inputs[0], output, f, f.resume);
    } catch (const CliError& e) {
      // A bad input will not get better: drop its segments. Write errors keep them for --resume.
      if ((e.code == kExitUnreadable || e.code == kExitCorrupt) && exists(work_dir_of(output))) remove_tree(work_dir_of(output));
      throw;
    }
    print_summary(r, f);
    if (f.json) std::puts(to_json(r, f).dump(2).c_str());
    return kExitOk;
  } catch (const Interrupted&) {
    std::fprintf(stderr, "\nerror: %s: interrupted by signal %d; no output written (finished segments kept: rerun with --resume)\n",
                 output.c_str(), g_signal.load());
    return kExitInterrupted;
  }
}

}  // namespace lucid::video_cli
