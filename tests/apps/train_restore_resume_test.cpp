// lucid-train restore resumes exactly, across the CaVE -> restorer stage boundary too:
// N steps in one run == a run stopped and resumed (both save every step: compact checkpoints
// round on save). A legacy (fp32) checkpoint resumes like its converted copy.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "lucid/media/image_io.h"
#include "lucid/models/weights.h"

#include "train_test_util.h"

namespace fs = std::filesystem;

namespace {

using lucid::test::cp_r;
using lucid::test::rm_rf;
int run(const std::string& args) { return lucid::test::run_trainer(args); }



TEST(TrainRestoreResume, ResumedRunEqualsUninterruptedRun) {
  const fs::path dir =
      fs::temp_directory_path() / ("lucid-restore-resume-" + std::to_string(::getpid()));
  rm_rf(dir);
  fs::create_directories(dir);
  std::mt19937 rng(5);
  std::ofstream list(dir / "list.txt");
  for (int i = 0; i < 3; ++i) {
    lucid::media::Image img;
    img.width = 96;
    img.height = 80;
    img.rgb.resize(96 * 80 * 3);
    for (size_t k = 0; k < img.rgb.size(); ++k)
      img.rgb[k] = static_cast<uint8_t>((k / 3 % 96) * 2 + rng() % 40 + 30 * i);
    const auto p = dir / ("img" + std::to_string(i) + ".png");
    lucid::media::write_image(p.string(), img, true);
    list << p.string() << "\n";
  }
  list.close();
  const std::string common = " restore --config tiny --train " + (dir / "list.txt").string() +
                             " --val " + (dir / "list.txt").string() +
                             " --batch 2 --cave-batch 3 --crop 32 --val-crop 64 -j 1"
                             " --cave-steps 2 --eval-minutes 1000 --checkpoint-minutes 1000"
                             " --warmup 2 --log-every 1 --checkpoint-steps 1";
  const auto at = [&](const char* r) { return " --run " + (dir / r).string(); };
  ASSERT_EQ(run(common + at("a") + " --steps 5"), 0);
  ASSERT_EQ(run(common + at("b") + " --steps 1"), 0);
  ASSERT_EQ(run(common + at("b") + " --steps 3"), 0);
  ASSERT_EQ(run(common + at("b") + " --steps 5"), 0);
  // Legacy checkpoint at step 3: resumed directly (c) and converted first (d).
  ASSERT_EQ(run(common + at("c") + " --steps 3 --checkpoint-format legacy"), 0);
  ASSERT_TRUE(fs::exists(dir / "c" / "last.opt1.pt"));
  cp_r(dir / "c", dir / "d");
  ASSERT_EQ(run("convert-checkpoint --run " + (dir / "d").string()), 0);
  EXPECT_FALSE(fs::exists(dir / "d" / "last.opt1.pt"));
  ASSERT_EQ(run(common + at("c") + " --steps 5"), 0);
  ASSERT_EQ(run(common + at("d") + " --steps 5"), 0);
  for (const char* r : {"a", "b", "c", "d"})
    ASSERT_EQ(run("export-restore --run " + (dir / r).string() + " --which last --fp32 1 --out " +
                  (dir / (std::string(r) + ".lucidw")).string()),
              0);
  // The ledger names the dataset manifest and carries the run log's validation columns.
  ASSERT_EQ(run("export-restore --run " + (dir / "a").string() + " --which last --out " +
                (dir / "a16.lucidw").string() + " --ledger " + (dir / "a16.json").string()),
            0);
  std::ifstream ledger_file(dir / "a16.json");
  const nlohmann::json ledger = nlohmann::json::parse(ledger_file);  // throws on bad JSON
  EXPECT_EQ(ledger.at("model_id"), "codiff-small") << ledger;
  EXPECT_EQ(ledger.at("step"), 5) << ledger;
  EXPECT_EQ(ledger.at("file"), "a16.lucidw") << ledger;
  EXPECT_EQ(ledger.at("file_bytes"), static_cast<int64_t>(fs::file_size(dir / "a16.lucidw")));
  EXPECT_TRUE(ledger.at("dataset_manifest").is_string()) << ledger;
  EXPECT_TRUE(ledger.at("dataset").is_string()) << ledger;  // a fingerprint stays text
  EXPECT_EQ(ledger.at("validation").at("columns").get<std::string>().rfind("kind,step,", 0), 0u)
      << ledger;
  auto load = [&](const std::string& r) {
    return lucid::models::load_weights((dir / (r + ".lucidw")).string());
  };
  const auto a = load("a");
  EXPECT_EQ(a.get("arch"), "codiff");
  EXPECT_EQ(a.get("train.step"), "5");
  for (const auto& [x, y] : {std::pair<std::string, std::string>{"a", "b"}, {"c", "d"}}) {
    const auto p = load(x), q = load(y);
    EXPECT_EQ(q.get("train.step"), "5");
    ASSERT_EQ(p.tensors.size(), q.tensors.size());
    for (size_t i = 0; i < p.tensors.size(); ++i)
      EXPECT_TRUE(torch::equal(p.tensors[i].second, q.tensors[i].second))
          << x << "/" << y << " " << p.tensors[i].first;
  }
  // Grayscale JPEG pairs (--gray-prob): another training, resumed exactly; a share outside 0..1
  // is refused.
  ASSERT_EQ(run(common + at("g") + " --steps 5 --gray-prob 1"), 0);
  ASSERT_EQ(run(common + at("h") + " --steps 2 --gray-prob 1"), 0);
  ASSERT_EQ(run(common + at("h") + " --steps 5 --gray-prob 1"), 0);
  for (const char* r : {"g", "h"})
    ASSERT_EQ(run("export-restore --run " + (dir / r).string() + " --which last --fp32 1 --out " +
                  (dir / (std::string(r) + ".lucidw")).string()),
              0);
  {
    const auto g = load("g"), h = load("h");
    ASSERT_EQ(g.tensors.size(), h.tensors.size());
    bool differs_from_colour = false;
    for (size_t i = 0; i < g.tensors.size(); ++i) {
      EXPECT_TRUE(torch::equal(g.tensors[i].second, h.tensors[i].second)) << g.tensors[i].first;
      differs_from_colour |= !torch::equal(g.tensors[i].second, a.tensors[i].second);
    }
    EXPECT_TRUE(differs_from_colour) << "--gray-prob 1 trained the same weights as colour pairs";
  }
  EXPECT_EQ(run(common + at("x") + " --steps 1 --gray-prob 1.5"), 1);
  // A different configuration refuses to resume from this run.
  EXPECT_NE(run(" restore --config small --train " + (dir / "list.txt").string() + " --val " +
                (dir / "list.txt").string() + " --run " + (dir / "a").string() + " --steps 6"),
            0);
  rm_rf(dir);
}

}  // namespace
