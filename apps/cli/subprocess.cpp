#include "subprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli.h"

extern char** environ;

namespace lucid::cli {

TempDir::TempDir(const std::string& prefix) {
  const char* t = std::getenv("TMPDIR");
  std::string base = (t && *t) ? t : "/tmp";
  std::string tmpl = base + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data()))
    throw CliError(kExitWrite, tmpl + ": cannot make a temporary folder: " + std::strerror(errno));
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string find_in_path(const std::string& program) {
  if (program.find('/') != std::string::npos)
    return ::access(program.c_str(), X_OK) == 0 ? program : "";
  const char* p = std::getenv("PATH");
  // execvp's default search path when PATH is unset.
  std::stringstream dirs(p ? p : "/bin:/usr/bin");
  for (std::string d; std::getline(dirs, d, ':');) {
    const std::string full = (d.empty() ? "." : d) + "/" + program;
    struct stat st;
    if (::stat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(full.c_str(), X_OK) == 0)
      return full;
  }
  return "";
}

namespace {
// posix_spawn_file_actions_t and posix_spawnattr-free RAII for the few calls we make.
struct FileActions {
  posix_spawn_file_actions_t fa;
  FileActions() { posix_spawn_file_actions_init(&fa); }
  ~FileActions() { posix_spawn_file_actions_destroy(&fa); }
};
}  // namespace

ToolResult run_tool(const std::vector<std::string>& argv, const std::string& log_path) {
  if (argv.empty()) throw CliError(kExitInternal, "run_tool: empty command");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  FileActions fa;
  posix_spawn_file_actions_addopen(&fa.fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa.fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_adddup2(&fa.fa, 1, 2);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, argv[0].c_str(), &fa.fa, nullptr, args.data(), environ);
  if (rc != 0)
    throw CliError(kExitInternal, argv[0] + ": cannot run: " + std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      throw CliError(kExitInternal, argv[0] + ": waitpid failed: " + std::strerror(errno));
  }
  ToolResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(log_path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  r.output = s.str();
  if (r.output.size() > 65536) r.output = r.output.substr(r.output.size() - 65536);
  return r;
}

}  // namespace lucid::cli
