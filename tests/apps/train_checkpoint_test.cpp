// The compact checkpoint encodings (apps/train/checkpoint.h): what encode reports as decoded is
// what a file gives back, the error bounds hold, zeros stay zero, and damaged files are refused.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "checkpoint.h"

namespace fs = std::filesystem;
namespace ck = lucid::train::ckpt;

namespace {

ck::Entry make(const std::string& name, ck::Encoding e, const torch::Tensor& x,
               torch::Tensor* dec, const torch::Tensor* v = nullptr) {
  ck::Entry out;
  out.name = name;
  out.encoding = e;
  out.shape = x.sizes().vec();
  out.bytes = ck::encode(x, e, dec, v);
  return out;
}

TEST(TrainCheckpoint, EncodingsDecodeAsReportedWithinTheirBounds) {
  torch::manual_seed(3);
  const torch::Tensor w = torch::randn({64, 3, 5, 5}) * 0.05;  // 4800 elements: "large"
  ASSERT_TRUE(ck::is_large(w));
  EXPECT_FALSE(ck::is_large(torch::randn({4095, 1}).squeeze(1)));
  EXPECT_EQ(ck::weight_encoding(w), ck::Encoding::kF16);
  EXPECT_EQ(ck::weight_encoding(w * 1e6), ck::Encoding::kF32);  // beyond half's range
  EXPECT_EQ(ck::weight_encoding(torch::randn({10, 160})), ck::Encoding::kF32);  // small

  torch::Tensor d16, dq8, dlog, dr4, df32;
  // exp_avg_sq-like: 16 octaves (fat-small's blocks of 256 span up to 32, median 8)
  torch::Tensor v = torch::exp2(torch::rand({64, 3, 5, 5}) * 16 - 36);
  v.view(-1).slice(0, 0, 100).zero_();                         // never-updated entries
  const torch::Tensor m = torch::randn({64, 3, 5, 5}) * v.sqrt() * 0.5;
  ck::File f;
  f.meta["step"] = "12";
  f.entries.push_back(make("w16", ck::Encoding::kF16, w, &d16));
  f.entries.push_back(make("w32", ck::Encoding::kF32, w, &df32));
  f.entries.push_back(make("delta", ck::Encoding::kQ8, w * 0.01, &dq8));
  f.entries.push_back(make("v", ck::Encoding::kLog8, v, &dlog));
  f.entries.push_back(make("m", ck::Encoding::kR4, m, &dr4, &dlog));

  EXPECT_TRUE(torch::equal(df32, w));
  EXPECT_LE((d16 - w).abs().max().item<double>(), 0.05 * 5 / 2048);
  // q8: within half a step of the block maximum / 127.
  EXPECT_LE((dq8 - w * 0.01).abs().max().item<double>(),
            (w * 0.01).abs().max().item<double>() / 254 * 1.0001);
  // log8: zeros exact, others within half a log step: 16 / 254 / 2 octaves = 2.2% here.
  EXPECT_TRUE(torch::equal(dlog.view(-1).slice(0, 0, 100), torch::zeros({100})));
  const torch::Tensor nz = v > 0;
  EXPECT_LE((dlog.masked_select(nz) / v.masked_select(nz)).log().abs().max().item<double>(),
            0.0219);
  // r4: m / sqrt(v) within half a step of its block maximum / 7; m = 0 where v = 0.
  const torch::Tensor r = m.masked_select(nz) / dlog.masked_select(nz).sqrt();
  const torch::Tensor rd = dr4.masked_select(nz) / dlog.masked_select(nz).sqrt();
  EXPECT_LE((rd - r).abs().max().item<double>(), r.abs().max().item<double>() / 14 * 1.001);
  EXPECT_TRUE(torch::equal(dr4.view(-1).slice(0, 0, 100), torch::zeros({100})));

  const fs::path path = fs::temp_directory_path() / ("lucid-ckpt-" + std::to_string(::getpid()));
  ck::write_file(path.string(), f);
  const ck::File g = ck::read_file(path.string());
  EXPECT_EQ(g.meta.at("step"), "12");
  EXPECT_TRUE(torch::equal(g.tensor("w16"), d16));
  EXPECT_TRUE(torch::equal(g.tensor("w32"), df32));
  EXPECT_TRUE(torch::equal(g.tensor("delta"), dq8));
  const torch::Tensor v2 = g.tensor("v");
  EXPECT_TRUE(torch::equal(v2, dlog));
  EXPECT_TRUE(torch::equal(ck::decode(*g.find("m"), &v2), dr4));
  EXPECT_THROW(g.tensor("m"), std::runtime_error);  // r4 needs its exp_avg_sq
  EXPECT_THROW(g.tensor("absent"), std::runtime_error);

  // One flipped payload byte, and a truncated file, are refused.
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::string damaged = bytes;
  damaged[damaged.size() - 7] ^= 4;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << damaged;
  EXPECT_THROW(ck::read_file(path.string()), std::runtime_error);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 9);
  EXPECT_THROW(ck::read_file(path.string()), std::runtime_error);
  std::remove(path.c_str());

  // Non-finite moments are not saved silently.
  torch::Tensor bad = m.clone();
  bad.view(-1)[7] = std::numeric_limits<float>::infinity();
  torch::Tensor dbad;
  EXPECT_THROW(ck::encode(bad, ck::Encoding::kR4, &dbad, &dlog), std::runtime_error);
}

}  // namespace
