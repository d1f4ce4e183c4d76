// lucid-train trains from raw packs (apps/train/pack.h) as the LibTorch-only GPU build does:
// images for the codec, JPEG pairs for the restorer (resuming exactly), and refuses broken or
// mismatched packs; check-pack compares a pair pack with this build's libjpeg-turbo.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "lucid/models/weights.h"
#include "lucid/media/jpeg_io.h"

#include "train_test_util.h"

namespace fs = std::filesystem;

namespace {

using lucid::test::rm_rf;
int run(const std::string& args) { return lucid::test::run_trainer(args); }



struct Rec {
  int h, w, qf = 0, mode = 0;
  std::vector<uint8_t> clean, jpeg;  // interleaved RGB (written planar)
};

void put32(std::ofstream& f, uint32_t v) {
  const unsigned char b[4] = {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)};
  f.write(reinterpret_cast<const char*>(b), 4);
}

void put_planar(std::ofstream& f, const std::vector<uint8_t>& rgb, int h, int w) {
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < h * w; ++i) f.put(static_cast<char>(rgb[3 * i + c]));
}

void write_pack(const fs::path& path, int kind, const std::string& info,
                const std::vector<Rec>& recs) {
  std::ofstream f(path, std::ios::binary);
  f.write("LUCIDRAW", 8);
  put32(f, 1);
  put32(f, kind);
  put32(f, recs.size());
  put32(f, info.size());
  f << info;
  for (const auto& r : recs) {
    put32(f, r.h);
    put32(f, r.w);
    put32(f, r.qf);
    put32(f, r.mode);
    put_planar(f, r.clean, r.h, r.w);
    if (kind == 2) put_planar(f, r.jpeg, r.h, r.w);
  }
}

std::vector<uint8_t> image(int h, int w, std::mt19937& rng, int bias) {
  std::vector<uint8_t> v(size_t(h) * w * 3);
  for (size_t k = 0; k < v.size(); ++k)
    v[k] = static_cast<uint8_t>((k / 3 % w) * 2 + rng() % 40 + bias);
  return v;
}

Rec pair(int s, int qf, std::mt19937& rng, int bias) {
  Rec r{s, s, qf, 0, image(s, s, rng, bias), {}};
  auto bytes = lucid::jpeg::encode_jpeg(r.clean.data(), s, s, qf);
  lucid::jpeg::DecodedJpeg d;
  EXPECT_EQ(lucid::jpeg::decode_jpeg(bytes.data(), bytes.size(), &d, nullptr),
            lucid::jpeg::Status::kOk);
  r.jpeg = d.rgb;
  return r;
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

TEST(TrainPack, CodecAndRestorerTrainFromPacks) {
  const fs::path dir = fs::temp_directory_path() / ("lucid-pack-" + std::to_string(::getpid()));
  rm_rf(dir);
  fs::create_directories(dir);
  std::mt19937 rng(7);
  std::vector<Rec> images;
  for (int i = 0; i < 3; ++i) images.push_back({80, 96, 0, 0, image(80, 96, rng, 30 * i), {}});
  write_pack(dir / "img.raw", 1, "id=test-images\n", images);
  write_pack(dir / "val.raw", 1, "id=test-val\nsource=00000000deadbeef\n", images);

  // Codec: trains, validates at the end, records the validation set's source fingerprint.
  const std::string codec = " codec --config tiny --train-pack " + (dir / "img.raw").string() +
                            " --val-pack " + (dir / "val.raw").string() +
                            " --batch 2 --crop 64 --val-crop 64 -j 1 --eval-minutes 1000"
                            " --checkpoint-minutes 1000 --warmup 2 --eval-at-end 1";
  ASSERT_EQ(run(codec + " --run " + (dir / "c").string() + " --steps 2"), 0);
  EXPECT_NE(read_text(dir / "c" / "train.csv").find("\nval,2,"), std::string::npos);
  EXPECT_NE(read_text(dir / "c" / "last.state").find("val_dataset\t00000000deadbeef"),
            std::string::npos);
  EXPECT_NE(read_text(dir / "c" / "last.state").find("dataset\ttest-images"), std::string::npos);

  // Restorer pairs: made with libjpeg-turbo here, so check-pack finds them identical.
  std::vector<Rec> pairs, vals;
  for (int i = 0; i < 8; ++i) pairs.push_back(pair(32, 20 + 10 * i, rng, 20 * (i % 3)));
  for (int i = 0; i < 2; ++i)
    for (int q : {10, 20, 30, 40}) vals.push_back(pair(64, q, rng, 40 * i));
  const std::string info = "id=test-pairs\nlow_qf_prob=0.3\nhigh_qf_prob=0\n";
  write_pack(dir / "pairs.raw", 2, info, pairs);
  write_pack(dir / "vpairs.raw", 2, "id=test-vpairs\n", vals);
  EXPECT_EQ(run("check-pack --pack " + (dir / "pairs.raw").string()), 0);
  std::vector<Rec> off = pairs;
  off[3].jpeg[5] ^= 1;
  write_pack(dir / "off.raw", 2, info, off);
  EXPECT_EQ(run("check-pack --pack " + (dir / "off.raw").string()), 1);

  const std::string restore = " restore --config tiny --train-pack " +
                              (dir / "pairs.raw").string() + " --val-pack " +
                              (dir / "vpairs.raw").string() +
                              " --batch 2 --cave-batch 3 --crop 32 --val-crop 64 -j 1"
                              " --cave-steps 2 --eval-minutes 1000 --checkpoint-minutes 1000"
                              " --warmup 2 --checkpoint-steps 2";
  ASSERT_EQ(run(restore + " --run " + (dir / "a").string() + " --steps 4 --eval-at-end 1"), 0);
  EXPECT_NE(read_text(dir / "a" / "train.csv").find("\nval,4,"), std::string::npos);
  ASSERT_EQ(run(restore + " --run " + (dir / "b").string() + " --steps 2"), 0);
  ASSERT_EQ(run(restore + " --run " + (dir / "b").string() + " --steps 4"), 0);
  for (const char* r : {"a", "b"})
    ASSERT_EQ(run("export-restore --run " + (dir / r).string() + " --which last --fp32 1 --out " +
                  (dir / (std::string(r) + ".lucidw")).string()),
              0);
  const auto a = lucid::models::load_weights((dir / "a.lucidw").string());
  const auto b = lucid::models::load_weights((dir / "b.lucidw").string());
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i)
    EXPECT_TRUE(torch::equal(a.tensors[i].second, b.tensors[i].second)) << a.tensors[i].first;

  // Refusals: the wrong crop for the pairs, pairs drawn with another QF mix, a pair pack for
  // the codec, validation pairs out of QF order, a truncated pack.
  EXPECT_NE(run(restore + " --run " + (dir / "x").string() + " --steps 1 --crop 16"), 0);
  EXPECT_NE(run(restore + " --run " + (dir / "x").string() + " --steps 1 --low-qf-prob 0.5"), 0);
  EXPECT_NE(run(" codec --config tiny --train-pack " + (dir / "pairs.raw").string() +
                " --val-pack " + (dir / "val.raw").string() + " --crop 64 --val-crop 64 --run " +
                (dir / "y").string() + " --steps 1"),
            0);
  std::vector<Rec> swapped = vals;
  std::swap(swapped[0], swapped[1]);
  write_pack(dir / "swapped.raw", 2, "", swapped);
  EXPECT_NE(run(restore + " --run " + (dir / "x").string() + " --steps 1 --val-pack " +
                (dir / "swapped.raw").string()),
            0);
  fs::resize_file(dir / "img.raw", fs::file_size(dir / "img.raw") - 100);
  EXPECT_NE(run(codec + " --run " + (dir / "z").string() + " --steps 1"), 0);
  EXPECT_FALSE(fs::exists(dir / "z" / "last.state"));
  rm_rf(dir);
}

}  // namespace
