#include "lucid/models/model_files.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>

// The installed model folder relative to an installed library / executable (set by CMake).
#ifndef LUCID_MODELS_FROM_LIBDIR
#define LUCID_MODELS_FROM_LIBDIR "../share/lucid/models"
#endif
#ifndef LUCID_MODELS_FROM_BINDIR
#define LUCID_MODELS_FROM_BINDIR "../share/lucid/models"
#endif

namespace lucid::models {

namespace {

bool is_file(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string parent(const std::string& p) {
  const auto slash = p.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? std::string("/") : p.substr(0, slash);
}

// The file (shared library or executable) this function was linked into.
std::string own_binary() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&own_binary), &info) == 0 || !info.dli_fname)
    return {};
  char resolved[4096];
  if (::realpath(info.dli_fname, resolved)) return resolved;
  // The main executable may show up by its bare name: /proc/self/exe is the real path.
  if (::realpath("/proc/self/exe", resolved)) return resolved;
  return info.dli_fname;
}

// A build tree's source models/weights: the first line of LucidBuildTree.txt (written by CMake
// at the top of the build tree) in the binary's folder or one of the 8 above it.
std::string build_tree_model_dir(const std::string& binary) {
  std::string d = parent(binary);
  for (int up = 0; up <= 8 && !d.empty(); ++up) {
    const std::string marker = d + "/LucidBuildTree.txt";
    if (is_file(marker)) {
      std::ifstream f(marker);
      std::string line;
      std::getline(f, line);
      return line;
    }
    if (d == "/" || d == ".") break;
    d = parent(d);
  }
  return {};
}

}  // namespace

std::vector<std::string> model_search_dirs() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("LUCID_MODEL_DIR"); env && *env) dirs.emplace_back(env);
  const std::string self = own_binary();
  if (!self.empty()) {
    // <prefix>/lib/liblucid.so or <prefix>/bin/lucid -> <prefix>/share/lucid/models
    for (const char* rel : {LUCID_MODELS_FROM_LIBDIR, LUCID_MODELS_FROM_BINDIR}) {
      const std::string d = parent(self) + "/" + rel;
      if (dirs.empty() || dirs.back() != d) dirs.push_back(d);
    }
  }
#ifdef LUCID_INSTALL_MODEL_DIR
  dirs.emplace_back(LUCID_INSTALL_MODEL_DIR);
#endif
  if (!self.empty())
    if (std::string d = build_tree_model_dir(self); !d.empty()) dirs.push_back(std::move(d));
  return dirs;
}

std::string find_model_file(const std::string& file_name) {
  std::string tried;
  for (const auto& d : model_search_dirs()) {
    const std::string p = d + "/" + file_name;
    if (is_file(p)) return p;
    tried += (tried.empty() ? "" : ", ") + p;
  }
  throw std::runtime_error("default model " + file_name + " not found (tried: " + tried +
                           "); set LUCID_MODEL_DIR");
}

}  // namespace lucid::models
