// The one command-line flag parser of `lucid`, `lucid-video`, `lucid-train` and
// `lucid-bench-entropy` (CLI11 inside, apps/common/flags.cpp; neither CLI11 nor LibTorch is seen
// by this header).
//
// Every command registers its flags, then parses: flags may come anywhere among the positional
// arguments and repeat (the last one counts), a flag's spellings share one value ("-j 2
// --threads 4" gives 4), `--` ends the flags, long flags also take `--name=value`, short ones
// `-jVALUE`, and -h/--help asks for the tool's usage (Help). Bad flags throw UsageError; every
// tool prints it as "error: <what>" on stderr and exits 1 (kExitUsage; lucid-bench-entropy, whose
// exit 1 means a decode mismatch, exits 2).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace lucid::flags {

inline constexpr int kExitUsage = 1;  // bad flags or arguments, in every tool

// A bad flag or argument. kSyntax: an unknown flag or a flag without its value (lucid-train
// prints its usage after these); kValue: a value that does not parse or is out of range.
class UsageError : public std::runtime_error {
 public:
  enum Kind { kSyntax, kValue };
  explicit UsageError(const std::string& what, Kind kind = kValue)
      : std::runtime_error(what), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// -h/--help was given: the tool prints its usage on stdout and exits 0. Not a std::exception,
// so the tools' catch-all handlers leave it alone.
struct Help {};

// How a tool words the two parse errors (kept from its parser before CLI11).
enum class Wording {
  kFlagFirst,  // lucid, lucid-train: "--x: unknown option", "--x: needs a value"
  kCommand,    // lucid-video: "CMD: unknown option '--x'", "--x: missing value"
};

// One command's flags.
class Parser {
 public:
  // `command` names the command in messages; `positionals`: whether the command takes
  // positional arguments (without, each one is an unknown option, as lucid-train has it).
  explicit Parser(const std::string& command, Wording wording = Wording::kFlagFirst,
                  bool positionals = true);
  ~Parser();
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // `names`: comma-separated spellings, e.g. "-o,--output". A flag with a value, kept as text
  // (the command validates it): set when given, `-o ""` included.
  void value(const std::string& names, std::optional<std::string>* v);
  void value(const std::string& names, std::string* v);
  // A flag with a value handed to `set` (once, with the last value given); anything `set`
  // throws becomes UsageError("NAME: invalid value 'V'"), except a UsageError, kept as is.
  void setter(const std::string& names, std::function<void(const std::string&)> set);
  // A flag without a value: *on becomes true when given.
  void flag(const std::string& names, bool* on);

  // Parses argv[first..argc-1]; returns the positional arguments in order. Throws UsageError,
  // or Help for -h/--help.
  std::vector<std::string> parse(int argc, char** argv, int first);
  std::vector<std::string> parse(const std::vector<std::string>& args);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Values, checked the same way by every tool; each failure is
// UsageError("FLAG: expected an integer in LO..HI, got 'V'") (a number, for parse_double).
int64_t parse_int(const std::string& flag, const std::string& v, int64_t lo, int64_t hi);
double parse_double(const std::string& flag, const std::string& v, double lo, double hi);

// --device, as every tool spells it: -1 for "cpu", N for "cuda" (0) and "cuda:N" (N in 0..64);
// anything else is UsageError("--device: expected cpu, cuda or cuda:N, got 'V'"). Whether
// that device exists is the tool's own check (exit 6).
int device_index(const std::string& v);

// Prints "error: <what>" on stderr, and `usage` after it when given; returns kExitUsage.
int report(const UsageError& e, const char* usage = nullptr);

}  // namespace lucid::flags
