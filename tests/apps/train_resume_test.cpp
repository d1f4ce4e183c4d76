// lucid-train resumes exactly: N steps in one run == N/2 steps, stop, resume, N/2 steps.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "image_io.h"
#include "lucid/models/weights.h"

namespace fs = std::filesystem;

namespace {

int run(const std::string& args) {
  const std::string cmd = std::string(LUCID_TRAIN) + " " + args + " > /dev/null 2>&1";
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(TrainResume, ResumedRunEqualsUninterruptedRun) {
  const fs::path dir = fs::temp_directory_path() / ("lucid-resume-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::mt19937 rng(3);
  std::ofstream list(dir / "list.txt");
  for (int i = 0; i < 3; ++i) {
    lucid::app::Image img;
    img.width = 96;
    img.height = 80;
    img.rgb.resize(96 * 80 * 3);
    for (auto& v : img.rgb) v = static_cast<uint8_t>(rng() % 64 + 96 * (i % 2));
    const auto p = dir / ("img" + std::to_string(i) + ".png");
    lucid::app::write_image(p.string(), img, true);
    list << p.string() << "\n";
  }
  list.close();
  const std::string common = " codec --config tiny --train " + (dir / "list.txt").string() +
                             " --val " + (dir / "list.txt").string() +
                             " --batch 2 --crop 64 --val-crop 64 -j 1 --eval-minutes 1000"
                             " --checkpoint-minutes 1000 --warmup 2 --log-every 1";
  ASSERT_EQ(run(common + " --run " + (dir / "a").string() + " --steps 6"), 0);
  ASSERT_EQ(run(common + " --run " + (dir / "b").string() + " --steps 3"), 0);
  ASSERT_EQ(run(common + " --run " + (dir / "b").string() + " --steps 6"), 0);
  // The live weights and their running average (saved beside each checkpoint) both resume
  // exactly.
  for (const char* which : {"last", "ema"}) {
    for (const char* r : {"a", "b"})
      ASSERT_EQ(run("export-codec --run " + (dir / r).string() + " --which " + which +
                    " --fp32 1 --out " + (dir / (std::string(r) + which + ".lucidw")).string()),
                0);
    auto a = lucid::models::load_weights((dir / ("a" + std::string(which) + ".lucidw")).string());
    auto b = lucid::models::load_weights((dir / ("b" + std::string(which) + ".lucidw")).string());
    ASSERT_EQ(a.tensors.size(), b.tensors.size());
    EXPECT_EQ(a.get("train.step"), "6");
    EXPECT_EQ(b.get("train.step"), "6");
    for (size_t i = 0; i < a.tensors.size(); ++i)
      EXPECT_TRUE(torch::equal(a.tensors[i].second, b.tensors[i].second))
          << which << " " << a.tensors[i].first;
  }
  // The average is not the live weights.
  auto live = lucid::models::load_weights((dir / "alast.lucidw").string());
  auto avg = lucid::models::load_weights((dir / "aema.lucidw").string());
  bool differs = false;
  for (size_t i = 0; i < live.tensors.size(); ++i)
    differs = differs || !torch::equal(live.tensors[i].second, avg.tensors[i].second);
  EXPECT_TRUE(differs);
  // Without averaging there is nothing to export as "ema".
  ASSERT_EQ(run(common + " --run " + (dir / "c").string() + " --steps 1 --ema 0"), 0);
  EXPECT_NE(run("export-codec --run " + (dir / "c").string() + " --which ema --out " +
                (dir / "c.lucidw").string()),
            0);
  EXPECT_FALSE(fs::exists(dir / "c.lucidw"));
  // A different configuration refuses to resume from this run.
  EXPECT_NE(run(" codec --config small --train " + (dir / "list.txt").string() + " --val " +
                (dir / "list.txt").string() + " --run " + (dir / "a").string() + " --steps 7"),
            0);
  fs::remove_all(dir);
}

}  // namespace
