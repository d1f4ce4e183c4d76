// `lucid restore` and `lucid bench-restore` as a user meets them: exit codes, error lines,
// no overwriting, folders, JSON. Uses the random-weight test restorer (tests/data).
#include "lucid/media/image_io.h"
#include "lucid/media/jpeg_io.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

namespace {

// A JSON text parsed; a text that is not JSON fails the test and gives null.
Json parse(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << text;
  return j.is_discarded() ? Json() : j;
}

class RestoreCli : public ::testing::Test {
 protected:
  struct Run {
    int code;
    std::string out, err;
  };
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lucid-restore-cli-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  static std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  Run run(const std::string& args) {
    const auto o = dir_ / "stdout.txt", e = dir_ / "stderr.txt";
    const std::string cmd = std::string(LUCID_CLI) + " " + args + " > " + o.string() + " 2> " +
                            e.string() + " < /dev/null";
    const int rc = std::system(cmd.c_str());
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(o), slurp(e)};
  }
  std::string p(const std::string& name) const { return (dir_ / name).string(); }
  static std::string data(const std::string& name) {
    return std::string(LUCID_SOURCE_DIR) + "/tests/data/" + name;
  }
  static std::string model() { return " --model " + data("codiff-tiny.lucidw") + " -j 1"; }
  fs::path dir_;
};

TEST_F(RestoreCli, RestoresJpegWithQualityFromFile) {
  auto r = run("restore " + data("restore-q25.jpg") + " -o " + p("out.png") + " --json" + model());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(p("out.png")));
  EXPECT_EQ(slurp(p("out.png")).substr(1, 3), "PNG");
  EXPECT_NE(r.err.find("120x88, QF 25 (file)"), std::string::npos) << r.err;
  Json j = parse(r.out);
  EXPECT_EQ(j.value("qf", 0), 25) << r.out;
  EXPECT_EQ(j.value("qf_source", ""), "file") << r.out;
  EXPECT_EQ(j.value("input", ""), data("restore-q25.jpg")) << r.out;
  EXPECT_EQ(j.value("output", ""), p("out.png")) << r.out;
  EXPECT_EQ(j.value("width", 0), 120) << r.out;
  EXPECT_EQ(j.value("height", 0), 88) << r.out;
  EXPECT_TRUE(j["seconds"].is_number()) << r.out;
  // The projection onto the file's quantization intervals changes the network's output;
  // --no-constraint returns it as is. A user-given QF overrides the file's for JPEG input too.
  r = run("restore " + data("restore-q25.jpg") + " -o " + p("raw.png") + " --no-constraint" +
          " --qf 40" + model());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("QF 40 (user)"), std::string::npos) << r.err;
  r = run("restore " + data("restore-q25.jpg") + " -o " + p("raw25.png") + " --no-constraint" +
          model());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(slurp(p("out.png")) != slurp(p("raw25.png")));
}

TEST_F(RestoreCli, PngInputUsesCaveOrGivenQuality) {
  auto r = run("restore " + data("sample.png") + " -o " + p("a.png") + " --quiet --json" + model());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_EQ(parse(r.out).value("qf_source", ""), "cave") << r.out;
  r = run("restore " + data("sample.png") + " -o " + p("b.ppm") + " --qf 40 --tile 256" + model());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("QF 40 (user)"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(p("b.ppm")).substr(0, 2), "P6");
}

// A grayscale JPEG restores to a grayscale file (PNG colour type 0), with its QF from the file.
TEST_F(RestoreCli, GrayscaleJpegRestoresToGray) {
  lucid::media::Image img = lucid::media::read_image(data("sample.png"));
  const auto bytes = lucid::jpeg::encode_jpeg(img.rgb.data(), img.width, img.height, 20,
                                              lucid::jpeg::Subsampling::kGray, true);
  {
    std::ofstream f(p("gray.jpg"), std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  }
  for (const char* flag : {"", " --no-constraint"}) {
    auto r = run("restore " + p("gray.jpg") + " -o " + p("gray.png") + " -y --json" + flag +
                 model());
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(parse(r.out).value("qf", 0), 20) << r.out;
    const std::string png = slurp(p("gray.png"));
    ASSERT_GT(png.size(), 26u);
    EXPECT_EQ(png[25], 0) << "PNG colour type (0 = gray)" << flag;
    EXPECT_TRUE(lucid::media::read_image(p("gray.png")).gray);
  }
  // A colour JPEG stays colour.
  auto r = run("restore " + data("restore-q25.jpg") + " -o " + p("colour.png") + model());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(slurp(p("colour.png"))[25], 2);  // RGB
}

TEST_F(RestoreCli, NeverOverwritesWithoutBeingAsked) {
  std::ofstream(p("keep.png")) << "precious";
  auto r = run("restore " + data("restore-q25.jpg") + " -o " + p("keep.png") + model());
  EXPECT_EQ(r.code, 5);
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("exists"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(p("keep.png")), "precious");
  r = run("restore " + data("restore-q25.jpg") + " -o " + p("keep.png") + " -y" + model());
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(RestoreCli, BadInputs) {
  auto r = run("restore " + p("missing.jpg") + " -o " + p("x.png") + model());
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("error: " + p("missing.jpg") + ": ", 0), 0u) << r.err;
  // Truncated JPEG.
  const std::string jpg = slurp(data("restore-q25.jpg"));
  std::ofstream(p("cut.jpg"), std::ios::binary) << jpg.substr(0, jpg.size() / 2);
  r = run("restore " + p("cut.jpg") + " -o " + p("x.png") + model());
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.err.find("cut.jpg: cannot read"), std::string::npos) << r.err;
  // Corrupt JPEG header, empty file, non-image file.
  std::string bad = jpg;
  for (size_t i = 20; i < 60 && i < bad.size(); ++i) bad[i] = char(0xFF);
  std::ofstream(p("bad.jpg"), std::ios::binary) << bad;
  EXPECT_EQ(run("restore " + p("bad.jpg") + " -o " + p("x.png") + model()).code, 3);
  std::string huge = jpg;  // SOF declaring 60000 x 60000 pixels
  const size_t sof = huge.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  huge[sof + 5] = huge[sof + 7] = char(0xEA);
  huge[sof + 6] = huge[sof + 8] = char(0x60);
  std::ofstream(p("huge.jpg"), std::ios::binary) << huge;
  r = run("restore " + p("huge.jpg") + " -o " + p("x.png") + model());
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.err.find("too large"), std::string::npos) << r.err;
  std::ofstream(p("empty.jpg")).close();
  EXPECT_EQ(run("restore " + p("empty.jpg") + " -o " + p("x.png") + model()).code, 3);
  std::ofstream(p("notes.txt")) << "hello, not an image";
  EXPECT_EQ(run("restore " + p("notes.txt") + " -o " + p("x.png") + model()).code, 3);
  EXPECT_FALSE(fs::exists(p("x.png")));
  // Usage errors, model errors, device errors.
  EXPECT_EQ(run("restore " + data("restore-q25.jpg") + model()).code, 1);
  EXPECT_EQ(run("restore " + data("restore-q25.jpg") + " -o " + p("x.png") + " --qf 0" + model()).code, 1);
  EXPECT_EQ(run("restore " + data("restore-q25.jpg") + " -o " + p("x.png") + " --tile 9" + model()).code, 1);
  EXPECT_EQ(run("restore " + data("restore-q25.jpg") + " -o " + p("x.png") + " --model " +
                data("fat-tiny.lucidw")).code, 4);
  EXPECT_EQ(run("restore " + data("restore-q25.jpg") + " -o " + p("x.png") + " --model " +
                p("none.lucidw")).code, 4);
}

TEST_F(RestoreCli, Folder) {
  fs::create_directories(p("in"));
  fs::copy_file(data("restore-q25.jpg"), p("in/a.jpg"));
  fs::copy_file(data("sample.png"), p("in/b.png"));
  auto r = run("restore " + p("in") + " -o " + p("out") + " --json" + model());
  ASSERT_EQ(r.code, 0) << r.err;
  // --json on a folder: an array, one object per restored file, in the files' order.
  const Json list = parse(r.out);
  ASSERT_TRUE(list.is_array()) << r.out;
  ASSERT_EQ(list.size(), 2u) << r.out;
  EXPECT_EQ(list[0].value("output", ""), p("out/a.png"));
  EXPECT_EQ(list[0].value("qf_source", ""), "file");
  EXPECT_EQ(list[1].value("output", ""), p("out/b.png"));
  EXPECT_EQ(list[1].value("qf_source", ""), "cave");
  EXPECT_TRUE(fs::exists(p("out/a.png")));
  EXPECT_TRUE(fs::exists(p("out/b.png")));
  EXPECT_NE(r.err.find("[2/2]"), std::string::npos) << r.err;
  r = run("restore " + p("in") + " -o " + p("out") + model());
  EXPECT_EQ(r.code, 5) << r.err;
  // One bad file: the others are still restored, the exit code reports the failure.
  std::ofstream(p("in/c.jpg")) << "broken";
  r = run("restore " + p("in") + " -o " + p("out2") + model());
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_TRUE(fs::exists(p("out2/a.png")));
  EXPECT_NE(r.err.find("1 failed"), std::string::npos) << r.err;
}

TEST_F(RestoreCli, BenchRestore) {
  fs::create_directories(p("clean"));
  fs::copy_file(data("sample.png"), p("clean/s.png"));
  fs::copy_file(data("restore-q25.jpg"), p("clean/r.jpg"));  // a second, smaller photo
  auto r = run("bench-restore " + p("clean") + " --qf 10,30 -o " + p("bench") + " --json" + model());
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string text = slurp(p("bench/restore.json"));
  EXPECT_EQ(r.out, text);
  Json j = parse(text);
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"name", "description", "jpeg_constraint", "gray",
                                            "first_qf", "shift", "images", "qf", "jpeg",
                                            "results", "psnr_gain_db", "min_image_psnr_gain_db",
                                            "per_image"}))
      << text;
  EXPECT_EQ(j["qf"], Json({10, 30})) << text;
  EXPECT_EQ(j["images"], 2) << text;
  EXPECT_EQ(j["jpeg_constraint"], true) << text;
  for (const char* part : {"jpeg", "results"})
    for (const char* key : {"psnr-rgb", "ssim-rgb", "psnr-b-rgb"}) {
      ASSERT_TRUE(j[part].contains(key)) << part << " " << key << "\n" << text;
      EXPECT_EQ(j[part][key].size(), 2u) << part << " " << key;
    }
  // per_image: one entry per image (in the order of the folder's listing), one value per QF;
  // the gains are restored minus JPEG, their mean is psnr_gain_db and their minimum
  // min_image_psnr_gain_db.
  Json per = j["per_image"];
  ASSERT_TRUE(per.is_array()) << text;
  ASSERT_EQ(per.size(), 2u) << text;
  EXPECT_EQ(per[0].value("file", ""), p("clean/r.jpg"));
  EXPECT_EQ(per[1].value("file", ""), p("clean/s.png"));
  for (auto& one : per)
    for (const char* key : {"jpeg_psnr_rgb", "psnr_rgb", "gain_db"})
      ASSERT_EQ(one[key].size(), 2u) << key << "\n" << text;
  for (size_t qi = 0; qi < 2; ++qi) {
    double mean = 0, least = 1e9;
    for (auto& one : per) {
      const double gain = one["gain_db"][qi].get<double>();
      EXPECT_DOUBLE_EQ(gain, one["psnr_rgb"][qi].get<double>() -
                                 one["jpeg_psnr_rgb"][qi].get<double>());
      mean += gain / per.size();
      least = std::min(least, gain);
    }
    const double want = j["psnr_gain_db"][qi].get<double>();
    EXPECT_NEAR(mean, want, 1e-6 * std::max(1.0, std::fabs(want))) << "QF index " << qi;
    EXPECT_DOUBLE_EQ(least, j["min_image_psnr_gain_db"][qi].get<double>());
  }
  EXPECT_NE(r.err.find("PSNR-B"), std::string::npos) << r.err;
  EXPECT_EQ(run("bench-restore " + p("clean") + " -o " + p("bench") + model()).code, 5);
  EXPECT_EQ(run("bench-restore " + p("nothere") + model()).code, 2);
  // Double compression: QF 90 first, the grid shifted by 3 pixels, then QF 30: a different
  // (cropped, twice compressed) JPEG than the single one, reported as such.
  auto jpeg_psnr = [](const std::string& json) {
    return parse(json)["jpeg"]["psnr-rgb"][0].get<double>();
  };
  r = run("bench-restore " + p("clean") + " --qf 30 -o " + p("single") + model());
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("bench-restore " + p("clean") + " --qf 30 --first-qf 90 --shift 3 -o " + p("double") +
          model());
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string d = slurp(p("double/restore.json"));
  EXPECT_EQ(parse(d)["first_qf"], 90) << d;
  EXPECT_EQ(parse(d)["shift"], 3) << d;
  EXPECT_NE(jpeg_psnr(d), jpeg_psnr(slurp(p("single/restore.json"))));
  EXPECT_EQ(run("bench-restore " + p("clean") + " --shift 3 -o " + p("b3") + model()).code, 1);
  EXPECT_EQ(run("bench-restore " + p("clean") + " --first-qf 90 --shift 8 -o " + p("b4") + model()).code, 1);
}

}  // namespace
