// Shared pieces of the `lucid` command-line tool.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "flags.h"
#include "lucid/lucid.h"

namespace lucid::cli {

// Exit codes (documented in `lucid --help` and the README).
enum Exit : int {
  kExitOk = 0,
  kExitUsage = 1,          // bad flags or arguments
  kExitUnreadable = 2,     // input missing / unreadable
  kExitCorrupt = 3,        // input corrupt, unsupported or over the size limits
  kExitModel = 4,          // model weights missing, corrupt, or not the stream's model
  kExitWrite = 5,          // output exists (without -y) or cannot be written
  kExitDevice = 6,         // requested device unavailable
  kExitInternal = 7,       // internal error or aborted
};

// A failure with its exit code; main() prints "error: <what>: <why>".
class CliError : public std::runtime_error {
 public:
  CliError(int code, const std::string& what_why) : std::runtime_error(what_why), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

int exit_code_for(lucid_status s);

// Flags common to every command.
struct CommonFlags {
  std::string output;
  std::string model;     // weight file; empty = default model
  std::string device = "cpu";
  int threads = 2;
  bool overwrite = false;
  bool json = false;
  bool quiet = false;
  bool verbose = false;
};

// Registers the flags of CommonFlags on a command's parser (lucid::flags, apps/common/flags.h:
// bad flags and values are flags::UsageError, printed as "error: ..." with exit 1; -h/--help is
// flags::Help, main() prints the usage); --device and --threads are checked as they are parsed.
void add_common_flags(flags::Parser& p, CommonFlags* c);

using flags::parse_double;
using flags::parse_int;

// A loaded model context, RAII.
class Context {
 public:
  Context(const std::string& weights, lucid_model_kind kind, const CommonFlags& f);
  ~Context() { lucid_context_destroy(ctx_); }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  lucid_context* get() const { return ctx_; }
  // Throws CliError for a non-OK status, with "what" as the subject.
  void check(lucid_status s, const std::string& what) const;

 private:
  lucid_context* ctx_ = nullptr;
};

struct Timer {
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

// The JSON the commands write (--json, bench's and bench-restore's files): nlohmann-json,
// keys in the order they are set.
using Json = nlohmann::ordered_json;
// `j` as text: on one line (indent < 0) or indented by `indent` spaces, no trailing newline.
// NaN and infinities are written as null (nlohmann's rule: a BD-rate that cannot be computed,
// the PSNR of identical images); bytes of strings that are not UTF-8 (a file name can be any
// bytes) are written as U+FFFD instead of failing.
std::string json_text(const Json& j, int indent = -1);
// A float as the double of its shortest decimal form, so that 62.3f is written 62.3 and not
// 62.29999923706055.
double json_float(float v);
std::string with_thousands(uint64_t n);  // 23841 -> "23 841"
void check_device(const CommonFlags& f);

int cmd_encode(int argc, char** argv);
int cmd_decode(int argc, char** argv);
int cmd_info(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_restore(int argc, char** argv);
int cmd_bench_restore(int argc, char** argv);

}  // namespace lucid::cli
