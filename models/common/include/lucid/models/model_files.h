// Where shipped weight files are found at run time (one place for every pipeline).
#pragma once

#include <string>
#include <vector>

namespace lucid::models {

// The folders searched for a default weight file, in order:
//   1. $LUCID_MODEL_DIR, when set and not empty (an override, so tests and users can point at
//      other weights);
//   2. the installed model folder, <prefix>/share/lucid/models, found relative to the binary
//      that holds this code (<prefix>/lib/liblucid.so or <prefix>/bin/lucid), so an install
//      under any prefix (cmake --install --prefix P) finds its weights;
//   3. the install prefix configured at build time, <CMAKE_INSTALL_PREFIX>/share/lucid/models;
//   4. only for binaries that run from a build tree: the source tree's models/weights, named by
//      the marker LucidBuildTree.txt at the top of the build tree, found by walking up from the
//      binary (a developer fallback; nothing of the source tree is compiled in).
std::vector<std::string> model_search_dirs();

// The first existing <dir>/<file_name> over model_search_dirs(). Throws std::runtime_error
// "default model NAME not found (tried: ...); set LUCID_MODEL_DIR".
std::string find_model_file(const std::string& file_name);

}  // namespace lucid::models
