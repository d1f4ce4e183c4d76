// lucid-train video resumes exactly (N steps in one run == a run stopped and resumed, both
// saving every step: compact checkpoints round on save), validates on its validation sequences,
// exports weights the video restorer loads, and refuses another configuration's checkpoint.
// The sequences are written here in build_video_pairs.py's layout (seq.txt, decoded.yuv, qp.txt;
// clean frames under clean/).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "lucid/models/weights.h"

#include "train_test_util.h"

namespace fs = std::filesystem;

namespace {

using lucid::test::rm_rf;
int run(const std::string& args) { return lucid::test::run_trainer(args); }

void write_sequence(const fs::path& root, const std::string& name, int W, int H, int F, const char* codec,
                    uint32_t seed) {
  std::mt19937 rng(seed);
  fs::create_directories(root / "clean");
  fs::create_directories(root / "seq" / name);
  std::ofstream clean(root / "clean" / (name + ".yuv"), std::ios::binary);
  std::ofstream dec(root / "seq" / name / "decoded.yuv", std::ios::binary);
  std::ofstream qp(root / "seq" / name / "qp.txt");
  for (int f = 0; f < F; ++f) {
    for (int i = 0; i < W * H * 3 / 2; ++i) {
      const int x = i % W, v = 60 + (x + 3 * f) % 100;
      const int noise = static_cast<int>(rng() % 9) - 4;
      clean.put(static_cast<char>(v));
      dec.put(static_cast<char>(std::clamp(v + noise, 0, 255)));
    }
    qp << 30 + f % 3 << "\n";
  }
  std::ofstream s(root / "seq" / name / "seq.txt");
  s << "source=" << name << "\nsplit=train\nwidth=" << W << "\nheight=" << H << "\nframes=" << F << "\ncodec="
    << codec << "\nqp_scale=x\nsetting=" << codec << "_qp30_b0_k1000\nclean=clean/" << name << ".yuv\n";
}

TEST(TrainVideoResume, ResumedRunEqualsUninterruptedRun) {
  const fs::path dir = fs::temp_directory_path() / ("lucid-video-resume-" + std::to_string(::getpid()));
  rm_rf(dir);
  write_sequence(dir, "a", 48, 32, 6, "hevc", 1);
  write_sequence(dir, "b", 64, 48, 5, "av1", 2);
  std::ofstream(dir / "train.txt") << "seq/a\nseq/b\n";
  std::ofstream(dir / "val.txt") << "seq/b\n";
  const std::string common = " video --config tiny --train " + (dir / "train.txt").string() + " --val " +
                             (dir / "val.txt").string() +
                             " --batch 2 --crop 32 -j 1 --eval-minutes 1000 --checkpoint-minutes 1000"
                             " --warmup 2 --log-every 1 --checkpoint-steps 1 --val-stride 2";
  const auto at = [&](const char* r) { return " --run " + (dir / r).string(); };
  ASSERT_EQ(run(common + at("a") + " --steps 5 --eval-at-end 1"), 0);
  ASSERT_EQ(run(common + at("b") + " --steps 2"), 0);
  ASSERT_EQ(run(common + at("b") + " --steps 5 --eval-at-end 1"), 0);
  for (const char* r : {"a", "b"})
    ASSERT_EQ(run("export-video --run " + (dir / r).string() + " --which last --fp32 1 --out " +
                  (dir / (std::string(r) + ".lucidw")).string() + " --ledger " +
                  (dir / (std::string(r) + ".json")).string()),
              0);
  const auto a = lucid::models::load_weights((dir / "a.lucidw").string());
  const auto b = lucid::models::load_weights((dir / "b.lucidw").string());
  EXPECT_EQ(a.get("arch"), "diqp");
  EXPECT_EQ(b.get("train.step"), "5");
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i)
    EXPECT_TRUE(torch::equal(a.tensors[i].second, b.tensors[i].second)) << a.tensors[i].first;
  // The run validated (the ledger carries its row) and the best checkpoint exists.
  std::ifstream lf(dir / "a.json");
  const nlohmann::json ledger = nlohmann::json::parse(lf);  // throws on bad JSON
  EXPECT_EQ(ledger.at("arch"), "diqp") << ledger;
  EXPECT_EQ(ledger.at("validation").at("columns"),
            "kind,step,wall_s,lr,loss,train_gain_db,val_gain_db,val_av1_qp30")
      << ledger;
  EXPECT_FALSE(ledger.at("validation").at("row").get<std::string>().empty()) << ledger;
  EXPECT_TRUE(fs::exists(dir / "a" / "best.state"));
  // Another configuration refuses to resume; missing lists and bad options fail clearly.
  EXPECT_EQ(run(" video --config small --train " + (dir / "train.txt").string() + " --val " +
                (dir / "val.txt").string() + " --run " + (dir / "a").string() + " --steps 6"),
            2);
  EXPECT_NE(run(" video --train /nonexistent/train.txt --val " + (dir / "val.txt").string() + " --run " +
                (dir / "c").string() + " --steps 1"),
            0);
  EXPECT_EQ(run(" video --train x --val y --crop 30"), 1);
  EXPECT_EQ(run(" video --train x --val y --loss l1"), 1);
  // --loss dpsnr is minus the PSNR gain over the decoded input: 0 for the network as it starts
  // (the identity), where the plain MSE is not.
  for (const char* loss : {"dpsnr", "mse"}) {
    const std::string r = std::string("loss-") + loss;
    ASSERT_EQ(run(common + at(r.c_str()) + " --steps 1 --loss " + loss), 0);
    std::ifstream csv(dir / r / "train.csv");
    std::string line, row;
    while (std::getline(csv, line))
      if (line.rfind("train,", 0) == 0) row = line;
    ASSERT_FALSE(row.empty()) << loss;
    // kind,step,wall_s,lr,loss,...
    size_t at_loss = 0;
    for (int i = 0; i < 4; ++i) at_loss = row.find(',', at_loss) + 1;
    const double value = std::stod(row.substr(at_loss));
    if (std::string(loss) == "dpsnr")
      EXPECT_NEAR(value, 0.0, 1e-4) << row;
    else
      EXPECT_GT(value, 1e-3) << row;
  }
  rm_rf(dir);
}

}  // namespace
