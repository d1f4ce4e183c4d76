// Helpers shared by the lucid-train tests (each target defines LUCID_TRAIN, the trainer's path).
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace lucid::test {

// std::filesystem::remove_all and recursive copies are avoided: the PyPI LibTorch 2.11 exports
// its own (older) std::filesystem, whose remove_all crashes when it binds ahead of libstdc++.
inline void rm_rf(const std::filesystem::path& p) {
  const std::string cmd = "rm -rf '" + p.string() + "'";
  if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << cmd;
}
inline void cp_r(const std::filesystem::path& from, const std::filesystem::path& to) {
  const std::string cmd = "cp -r '" + from.string() + "' '" + to.string() + "'";
  if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << cmd;
}

// Runs lucid-train with `args`; its exit code (-1 if it did not exit). LUCID_TEST_VERBOSE=1
// shows the trainer's output.
inline int run_trainer(const std::string& args) {
  const std::string cmd = std::string(LUCID_TRAIN) + " " + args +
                          (std::getenv("LUCID_TEST_VERBOSE") ? "" : " > /dev/null 2>&1");
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace lucid::test
