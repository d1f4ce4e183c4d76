#include "flags.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <utility>

#include <CLI/CLI.hpp>

namespace lucid::flags {

struct Parser::Impl {
  CLI::App app;
  std::string command;
  Wording wording;
  bool takes_positionals;
  std::vector<std::string> positionals;

  Impl(const std::string& cmd, Wording w, bool pos)
      : app("", cmd), command(cmd), wording(w), takes_positionals(pos) {}

  // The spelling a message names: the last of "-j,--threads" (the long one, where there is one).
  static std::string display_name(const std::string& names) {
    const size_t comma = names.rfind(',');
    return comma == std::string::npos ? names : names.substr(comma + 1);
  }

  UsageError unknown(const std::string& arg) const {
    if (wording == Wording::kCommand)
      return UsageError(command + ": unknown option '" + arg + "'", UsageError::kSyntax);
    return UsageError(arg + ": unknown option", UsageError::kSyntax);
  }

  UsageError missing_value(std::string arg) const {
    if (arg.rfind("--", 0) == 0 && arg.find('=') != std::string::npos) arg.erase(arg.find('='));
    return UsageError(arg + (wording == Wording::kCommand ? ": missing value" : ": needs a value"),
                      UsageError::kSyntax);
  }
};

Parser::Parser(const std::string& command, Wording wording, bool positionals)
    : impl_(std::make_unique<Impl>(command, wording, positionals)) {
  CLI::App& app = impl_->app;
  app.set_help_flag("-h,--help");
  app.allow_extras();  // unknown flags are reported below, in the tool's words
  if (positionals)
    app.add_option("args", impl_->positionals)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

Parser::~Parser() = default;

void Parser::value(const std::string& names, std::optional<std::string>* v) {
  impl_->app.add_option_function<std::string>(names, [v](const std::string& s) { *v = s; });
}

void Parser::value(const std::string& names, std::string* v) {
  impl_->app.add_option_function<std::string>(names, [v](const std::string& s) { *v = s; });
}

void Parser::setter(const std::string& names, std::function<void(const std::string&)> set) {
  const std::string name = Impl::display_name(names);
  impl_->app.add_option_function<std::string>(names, [name, set = std::move(set)](const std::string& v) {
    try {
      set(v);
    } catch (const UsageError&) {
      throw;
    } catch (const std::exception&) {
      throw UsageError(name + ": invalid value '" + v + "'");
    }
  });
}

void Parser::flag(const std::string& names, bool* on) {
  impl_->app.add_flag_callback(names, [on] { *on = true; });
}

std::vector<std::string> Parser::parse(int argc, char** argv, int first) {
  return parse(std::vector<std::string>(argv + (first < argc ? first : argc), argv + argc));
}

std::vector<std::string> Parser::parse(const std::vector<std::string>& args) {
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11's order
  impl_->positionals.clear();
  try {
    impl_->app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    throw Help{};
  } catch (const CLI::ArgumentMismatch&) {
    // A flag without its value: the values it needs are taken whatever they look like, so
    // this is the last argument.
    throw impl_->missing_value(args.empty() ? std::string() : args.back());
  } catch (const CLI::ParseError& e) {
    throw UsageError(e.what(), UsageError::kSyntax);
  }
  std::vector<std::string> extras = impl_->app.remaining();
  // CLI11 lists the `--` that ended the flags among them; the arguments after it are positional.
  const auto mark = std::find(extras.begin(), extras.end(), "--");
  if (impl_->takes_positionals && mark != extras.end()) extras.erase(mark);
  if (!extras.empty()) throw impl_->unknown(extras.front());
  return impl_->positionals;
}

int64_t parse_int(const std::string& flag, const std::string& v, int64_t lo, int64_t hi) {
  char* end = nullptr;
  errno = 0;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end || errno == ERANGE || x < lo || x > hi)
    throw UsageError(flag + ": expected an integer in " + std::to_string(lo) + ".." +
                     std::to_string(hi) + ", got '" + v + "'");
  return x;
}

double parse_double(const std::string& flag, const std::string& v, double lo, double hi) {
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end || !(x >= lo && x <= hi)) {
    std::ostringstream s;
    s << flag << ": expected a number in " << lo << ".." << hi << ", got '" << v << "'";
    throw UsageError(s.str());
  }
  return x;
}

int device_index(const std::string& v) {
  if (v == "cpu") return -1;
  if (v == "cuda") return 0;
  if (v.rfind("cuda:", 0) == 0 && v.size() > 5 && v.size() <= 7 &&
      v.find_first_not_of("0123456789", 5) == std::string::npos) {
    const int n = std::atoi(v.c_str() + 5);
    if (n <= 64) return n;
  }
  throw UsageError("--device: expected cpu, cuda or cuda:N, got '" + v + "'");
}

int report(const UsageError& e, const char* usage) {
  std::fprintf(stderr, "error: %s\n", e.what());
  if (usage) std::fputs(usage, stderr);
  return kExitUsage;
}

}  // namespace lucid::flags
