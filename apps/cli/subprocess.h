// Running external command-line tools (the baseline codecs of `lucid bench`) safely: no shell,
// arguments as a vector (odd file names need no quoting), output captured for error messages,
// and a private temporary folder that is removed with everything in it.
#pragma once

#include <string>
#include <vector>

namespace lucid::cli {

// A fresh private folder (mkdtemp, mode 0700) under $TMPDIR or /tmp, removed recursively when
// the object goes out of scope. Throws CliError(kExitWrite) if it cannot be made.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The full path of an executable found in $PATH (as execvp would find it), or "" if none.
std::string find_in_path(const std::string& program);

struct ToolResult {
  int exit_code = -1;  // the tool's exit status; -1 if it was killed by a signal
  std::string output;  // its stdout and stderr together (at most the last 64 KiB)
};

// Runs argv[0] (looked up in $PATH) with the given arguments via posix_spawnp, stdin from
// /dev/null, stdout and stderr into `log_path` (replaced). Waits for it. Throws CliError
// (kExitInternal) only when the tool cannot be started at all; a non-zero exit is returned.
ToolResult run_tool(const std::vector<std::string>& argv, const std::string& log_path);

}  // namespace lucid::cli
