// lucid-train resumes exactly: N steps in one run that saves at N/2 == N/2 steps, stop, resume,
// N/2 steps. Compact checkpoints round on save (the live state becomes what was stored), so the
// uninterrupted run must save at the same step; a legacy (fp32) checkpoint, converted or
// resumed directly, continues exactly like the compact one.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "lucid/media/image_io.h"
#include "lucid/models/fat_codec.h"
#include "lucid/models/weights.h"

#include "train_test_util.h"

namespace fs = std::filesystem;

namespace {

using lucid::test::cp_r;
using lucid::test::rm_rf;
int run(const std::string& args) { return lucid::test::run_trainer(args); }



TEST(TrainResume, ResumedRunEqualsUninterruptedRun) {
  const fs::path dir = fs::temp_directory_path() / ("lucid-resume-" + std::to_string(::getpid()));
  rm_rf(dir);
  fs::create_directories(dir);
  std::mt19937 rng(3);
  std::ofstream list(dir / "list.txt");
  for (int i = 0; i < 3; ++i) {
    lucid::media::Image img;
    img.width = 96;
    img.height = 80;
    img.rgb.resize(96 * 80 * 3);
    for (auto& v : img.rgb) v = static_cast<uint8_t>(rng() % 64 + 96 * (i % 2));
    const auto p = dir / ("img" + std::to_string(i) + ".png");
    lucid::media::write_image(p.string(), img, true);
    list << p.string() << "\n";
  }
  list.close();
  const std::string common = " codec --config tiny --train " + (dir / "list.txt").string() +
                             " --val " + (dir / "list.txt").string() +
                             " --batch 2 --crop 64 --val-crop 64 -j 1 --eval-minutes 1000"
                             " --checkpoint-minutes 1000 --warmup 2 --log-every 1"
                             " --checkpoint-steps 3";
  const auto at = [&](const char* r) { return " --run " + (dir / r).string(); };
  ASSERT_EQ(run(common + at("a") + " --steps 6"), 0);
  ASSERT_EQ(run(common + at("b") + " --steps 3"), 0);
  ASSERT_TRUE(fs::exists(dir / "b" / "last.model.ckpt"));
  ASSERT_EQ(run(common + at("b") + " --steps 6"), 0);
  // Legacy fp32 checkpoint at step 3, resumed directly (c) or converted first (d).
  ASSERT_EQ(run(common + at("c") + " --steps 3 --checkpoint-format legacy"), 0);
  ASSERT_TRUE(fs::exists(dir / "c" / "last.model.pt"));
  ASSERT_TRUE(fs::exists(dir / "c" / "last.ema.pt"));
  ASSERT_FALSE(fs::exists(dir / "c" / "last.model.ckpt"));
  cp_r(dir / "c", dir / "d");
  ASSERT_EQ(run("convert-checkpoint --run " + (dir / "d").string()), 0);
  for (const char* f : {"last.model.pt", "last.ema.pt", "last.opt0.pt", "last.opt1.pt"})
    EXPECT_FALSE(fs::exists(dir / "d" / f)) << f;
  EXPECT_TRUE(fs::exists(dir / "d" / "last.opt1.ckpt"));
  ASSERT_EQ(run(common + at("c") + " --steps 6"), 0);
  EXPECT_FALSE(fs::exists(dir / "c" / "last.model.pt"));  // the compact save replaced it
  ASSERT_EQ(run(common + at("d") + " --steps 6"), 0);
  // Without the save at step 3 nothing was rounded there: the run differs (the check above is
  // not vacuous).
  ASSERT_EQ(run(common + at("e") + " --steps 6 --checkpoint-steps 0"), 0);
  // The live weights and their running average (saved with each checkpoint) both resume
  // exactly.
  for (const char* which : {"last", "ema"}) {
    for (const char* r : {"a", "b", "c", "d", "e"})
      ASSERT_EQ(run("export-codec --run " + (dir / r).string() + " --which " + which +
                    " --fp32 1 --out " + (dir / (std::string(r) + which + ".lucidw")).string()),
                0);
    auto load = [&](const char* r) {
      return lucid::models::load_weights((dir / (r + std::string(which) + ".lucidw")).string());
    };
    const auto a = load("a");
    EXPECT_EQ(a.get("train.step"), "6");
    for (const char* r : {"b", "c", "d"}) {
      const auto b = load(r);
      ASSERT_EQ(a.tensors.size(), b.tensors.size());
      EXPECT_EQ(b.get("train.step"), "6");
      for (size_t i = 0; i < a.tensors.size(); ++i)
        EXPECT_TRUE(torch::equal(a.tensors[i].second, b.tensors[i].second))
            << r << " " << which << " " << a.tensors[i].first;
    }
    const auto e = load("e");
    bool differs = false;
    for (size_t i = 0; i < a.tensors.size(); ++i)
      differs = differs || !torch::equal(a.tensors[i].second, e.tensors[i].second);
    EXPECT_TRUE(differs) << which;
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
  // A configuration with more latent channels (the detail branch) adopts this run: it resumes at
  // the same step from the run's averaged weights, and then trains on.
  {
    auto wide = lucid::models::FatConfig::tiny();
    wide.M *= 2;
    wide.detail = wide.M / 2;
    wide.slices *= 2;
    cp_r(dir / "a", dir / "f");
    const std::string widened = " codec --config '" + wide.serialize() + "' --train " +
                                (dir / "list.txt").string() + " --val " +
                                (dir / "list.txt").string() + " --batch 2 --crop 64 --val-crop 64"
                                " -j 1 --eval-minutes 1000 --checkpoint-minutes 1000 --run " +
                                (dir / "f").string();
    ASSERT_EQ(run(widened + " --steps 6"), 0);
    ASSERT_EQ(run("export-codec --run " + (dir / "f").string() + " --which last --fp32 1 --out " +
                  (dir / "f.lucidw").string()),
              0);
    const auto f = lucid::models::load_weights((dir / "f.lucidw").string());
    const auto a = lucid::models::load_weights((dir / "aema.lucidw").string());
    EXPECT_EQ(f.get("train.step"), "6");
    EXPECT_NE(f.get("config").find("detail=" + std::to_string(wide.detail)), std::string::npos)
        << f.get("config");
    int same = 0;
    for (const auto& [name, t] : a.tensors)
      for (const auto& [fname, ft] : f.tensors)
        if (name == fname && t.sizes() == ft.sizes()) {
          // Equal up to the checkpoint's fp16 rounding of the live weights.
          EXPECT_TRUE(torch::allclose(t, ft, 2e-3, 1e-5)) << name;
          ++same;
        }
    EXPECT_GT(same, 50);
    ASSERT_EQ(run(widened + " --steps 8"), 0);
  }
  // The committed form (lucid-train shelve): the average becomes the weights, one copy instead
  // of two; the folder resumes from it, twice alike.
  {
    const auto shelve = [&](const char* from, const char* to) {
      return run("shelve --run " + (dir / from).string() + " --out " + (dir / to).string());
    };
    ASSERT_EQ(shelve("a", "g"), 0);
    EXPECT_NE(shelve("a", "a"), 0);
    EXPECT_NE(shelve("none", "h"), 0);
    EXPECT_FALSE(fs::exists(dir / "h" / "last.state"));
    EXPECT_LT(fs::file_size(dir / "g" / "last.model.ckpt"),
              fs::file_size(dir / "a" / "last.model.ckpt"));
    for (const char* f : {"last.opt0.ckpt", "last.opt1.ckpt", "last.state", "train.csv"})
      EXPECT_TRUE(fs::exists(dir / "g" / f)) << f;
    const auto exported = [&](const char* r, const char* which) {
      const auto path = dir / (std::string(r) + which + ".lucidw");
      EXPECT_EQ(run("export-codec --run " + (dir / r).string() + " --which " + which +
                    " --fp32 1 --out " + path.string()),
                0);
      return lucid::models::load_weights(path.string());
    };
    const auto avg = lucid::models::load_weights((dir / "aema.lucidw").string());
    const auto glast = exported("g", "last"), gema = exported("g", "ema");
    ASSERT_EQ(glast.tensors.size(), avg.tensors.size());
    for (size_t i = 0; i < avg.tensors.size(); ++i) {
      EXPECT_TRUE(torch::equal(glast.tensors[i].second, gema.tensors[i].second))
          << glast.tensors[i].first;
      // The average, up to the checkpoint's fp16 rounding of large weights.
      EXPECT_TRUE(torch::allclose(glast.tensors[i].second, avg.tensors[i].second, 2e-3, 1e-5))
          << glast.tensors[i].first;
    }
    cp_r(dir / "g", dir / "h");
    ASSERT_EQ(run(common + at("g") + " --steps 9"), 0);
    ASSERT_EQ(run(common + at("h") + " --steps 9"), 0);
    for (const char* which : {"last", "ema"}) {
      const auto g = exported("g", which), h = exported("h", which);
      EXPECT_EQ(g.get("train.step"), "9");
      ASSERT_EQ(g.tensors.size(), h.tensors.size());
      for (size_t i = 0; i < g.tensors.size(); ++i)
        EXPECT_TRUE(torch::equal(g.tensors[i].second, h.tensors[i].second))
            << which << " " << g.tensors[i].first;
    }
  }
  // A different configuration refuses to resume from this run.
  EXPECT_NE(run(" codec --config small --train " + (dir / "list.txt").string() + " --val " +
                (dir / "list.txt").string() + " --run " + (dir / "a").string() + " --steps 7"),
            0);
  rm_rf(dir);
}

}  // namespace
