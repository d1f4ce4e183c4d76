// lucid::flags::Parser (apps/common/flags.h), the flag parser of lucid, lucid-video and
// lucid-train: what every command line of the three tools relies on.
#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "flags.h"

namespace {

using lucid::flags::Parser;
using lucid::flags::UsageError;
using lucid::flags::Wording;
using Args = std::vector<std::string>;

// The UsageError message of parsing `args`, or "" when it parses.
std::string error_of(Parser& p, const Args& args) {
  try {
    p.parse(args);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(Flags, FlagsAnywhereAmongPositionalsLastOneCounts) {
  Parser p("encode");
  std::optional<std::string> out, quality;
  bool verbose = false, json = false;
  p.value("-o,--output", &out);
  p.value("-q,--quality", &quality);
  p.flag("-v,--verbose", &verbose);
  p.flag("--json", &json);
  const auto pos = p.parse(Args{"a.png", "-q", "10", "-o", "x", "b.png", "--quality", "20", "-v", "-q", "30"});
  EXPECT_EQ(pos, (Args{"a.png", "b.png"}));
  EXPECT_EQ(quality, "30");  // both spellings, the last one given
  EXPECT_EQ(out, "x");
  EXPECT_TRUE(verbose);
  EXPECT_FALSE(json);
}

TEST(Flags, ValueForms) {
  Parser p("x");
  std::optional<std::string> out, threads, model;
  p.value("-o,--output", &out);
  p.value("-j,--threads", &threads);
  p.value("--model", &model);
  EXPECT_TRUE(p.parse(Args{"--output=a=b", "-j4", "--model", ""}).empty());
  EXPECT_EQ(out, "a=b");
  EXPECT_EQ(threads, "4");
  EXPECT_EQ(model, "");  // given, though empty
}

TEST(Flags, ValuesAreTakenWhateverTheyLookLike) {
  Parser p("x");
  std::optional<std::string> qp;
  p.value("--qp", &qp);
  EXPECT_TRUE(p.parse(Args{"--qp", "-5"}).empty());
  EXPECT_EQ(qp, "-5");
}

TEST(Flags, DoubleDashEndsFlags) {
  Parser p("x");
  bool y = false;
  p.flag("-y", &y);
  EXPECT_EQ(p.parse(Args{"a", "--", "-y", "--bogus", "--"}), (Args{"a", "-y", "--bogus", "--"}));
  EXPECT_FALSE(y);
}

TEST(Flags, DashAndEmptyArePositionals) {
  Parser p("x");
  EXPECT_EQ(p.parse(Args{"-", ""}), (Args{"-", ""}));
}

TEST(Flags, UnknownFlagsInEachToolsWords) {
  Parser lucid("encode");
  EXPECT_EQ(error_of(lucid, {"a.png", "--bogus", "1"}), "--bogus: unknown option");
  Parser video("info", Wording::kCommand);
  EXPECT_EQ(error_of(video, {"--frobnicate=2", "a.mp4"}), "info: unknown option '--frobnicate=2'");
  Parser train("codec", Wording::kFlagFirst, /*positionals=*/false);
  EXPECT_EQ(error_of(train, {"stray"}), "stray: unknown option");
  EXPECT_EQ(error_of(train, {"--"}), "--: unknown option");
  try {
    train.parse(Args{"-x"});
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_EQ(e.kind(), UsageError::kSyntax);
  }
}

TEST(Flags, MissingValueNamesTheFlagAsTyped) {
  Parser p("x");
  std::optional<std::string> threads;
  p.value("-j,--threads", &threads);
  EXPECT_EQ(error_of(p, {"a", "-j"}), "-j: needs a value");
  EXPECT_EQ(error_of(p, {"--threads"}), "--threads: needs a value");
  Parser v("restore", Wording::kCommand);
  v.value("--qp", &threads);
  EXPECT_EQ(error_of(v, {"a", "--qp"}), "--qp: missing value");
}

TEST(Flags, HelpAnywhereBeforeDoubleDash) {
  Parser p("x");
  std::optional<std::string> out;
  p.value("-o", &out);
  EXPECT_THROW(p.parse(Args{"a", "--help"}), lucid::flags::Help);
  EXPECT_THROW(p.parse(Args{"-h", "a"}), lucid::flags::Help);
  EXPECT_NO_THROW(p.parse(Args{"--", "--help"}));
  EXPECT_NO_THROW(p.parse(Args{"-o", "-h"}));  // the value of -o
  EXPECT_EQ(out, "-h");
}

TEST(Flags, SetterErrorsNameTheFlag) {
  Parser p("codec", Wording::kFlagFirst, false);
  int batch = 0;
  p.setter("--batch", [&](const std::string& v) { batch = std::stoi(v); });
  p.setter("-j,--threads", [&](const std::string& v) {
    lucid::flags::parse_int("--threads", v, 1, 256);
  });
  EXPECT_EQ(error_of(p, {"--batch", "12"}), "");
  EXPECT_EQ(batch, 12);
  EXPECT_EQ(error_of(p, {"--batch", "x"}), "--batch: invalid value 'x'");
  EXPECT_EQ(error_of(p, {"-j", "0"}), "--threads: expected an integer in 1..256, got '0'");
}

TEST(Flags, Values) {
  using lucid::flags::device_index;
  using lucid::flags::parse_double;
  using lucid::flags::parse_int;
  EXPECT_EQ(parse_int("-e", "9", 1, 9), 9);
  EXPECT_THROW(parse_int("-e", "10", 1, 9), UsageError);
  EXPECT_THROW(parse_int("-e", "3x", 1, 9), UsageError);
  EXPECT_THROW(parse_int("-e", "", 1, 9), UsageError);
  EXPECT_THROW(parse_int("-e", "99999999999999999999", 1, 9), UsageError);
  EXPECT_DOUBLE_EQ(parse_double("-q", "62.5", 1, 100), 62.5);
  try {
    parse_double("--target-bpp", "nan", 1e-4, 48);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "--target-bpp: expected a number in 0.0001..48, got 'nan'");
  }
  EXPECT_EQ(device_index("cpu"), -1);
  EXPECT_EQ(device_index("cuda"), 0);
  EXPECT_EQ(device_index("cuda:3"), 3);
  EXPECT_THROW(device_index("cuda:"), UsageError);
  EXPECT_THROW(device_index("cuda:65"), UsageError);
  EXPECT_THROW(device_index("gpu"), UsageError);
}

}  // namespace
