#include "common/cli_args.h"

#include <gtest/gtest.h>

#include <vector>

namespace anifarm {
namespace {

absl::Status Parse(CliArgs* args, std::vector<const char*> argv) {
  argv.insert(argv.begin(), {"anifarm", "submit"});
  return args->Parse(static_cast<int>(argv.size()), argv.data(), 2);
}

TEST(CliArgsTest, ValuesSwitchesAndPositionals) {
  CliArgs args({"model", "o", "priority", "sharpen"}, {"wait", "help"});
  ASSERT_TRUE(Parse(&args, {"a.mkv", "--model", "2x-AniScale", "b.mkv", "-o", "out/",
                            "--priority=-5", "--sharpen", "-0.5", "--wait"})
                  .ok());
  EXPECT_EQ(args.positional(), (std::vector<std::string>{"a.mkv", "b.mkv"}));
  EXPECT_EQ(args.Get("model"), "2x-AniScale");
  EXPECT_EQ(args.Get("o"), "out/");
  EXPECT_EQ(*args.GetInt("priority", 0), -5);
  EXPECT_DOUBLE_EQ(*args.GetDouble("sharpen", 0), -0.5);
  EXPECT_TRUE(args.Has("wait"));
  EXPECT_FALSE(args.Has("help"));
  EXPECT_EQ(args.Get("absent", "fallback"), "fallback");
}

TEST(CliArgsTest, AFlagGivenAgainWins) {
  CliArgs args({"listen"}, {"wait"});
  ASSERT_TRUE(Parse(&args, {"--listen", "0.0.0.0:1", "--wait", "--listen=127.0.0.1:2", "--wait"})
                  .ok());
  EXPECT_EQ(args.Get("listen"), "127.0.0.1:2");
  EXPECT_TRUE(args.Has("wait"));
}

TEST(CliArgsTest, DoubleDashEndsTheOptions) {
  CliArgs args({"model"}, {"wait"});
  ASSERT_TRUE(Parse(&args, {"--wait", "--", "--model"}).ok());
  EXPECT_EQ(args.positional(), (std::vector<std::string>{"--model"}));
  EXPECT_FALSE(args.Has("model"));
}

TEST(CliArgsTest, MistakesAreErrorsNamingTheArgument) {
  CliArgs unknown({"model"}, {"wait"});
  absl::Status bogus = Parse(&unknown, {"--bogus"});
  EXPECT_EQ(bogus.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bogus.message().find("--bogus"), std::string::npos) << bogus;
  CliArgs missing({"model"}, {"wait"});
  absl::Status no_value = Parse(&missing, {"--model"});
  EXPECT_FALSE(no_value.ok());
  EXPECT_NE(no_value.message().find("model"), std::string::npos) << no_value;
  CliArgs valued_switch({"model"}, {"wait"});
  EXPECT_FALSE(Parse(&valued_switch, {"--wait=yes"}).ok());
  CliArgs not_a_number({"priority"}, {});
  ASSERT_TRUE(Parse(&not_a_number, {"--priority", "high"}).ok());
  absl::StatusOr<int> priority = not_a_number.GetInt("priority", 0);
  EXPECT_EQ(priority.status().message(), "--priority 'high' is not a whole number");
}

TEST(CliArgsTest, DefaultsFillOnlyWhatTheCommandLineLeftOut) {
  CliArgs args({"codec", "crf"}, {});
  ASSERT_TRUE(Parse(&args, {"--codec", "h265"}).ok());
  args.SetDefault("codec", "prores");
  args.SetDefault("crf", "20");
  EXPECT_EQ(args.Get("codec"), "h265");
  EXPECT_EQ(args.Get("crf"), "20");
}

TEST(ParseByteSizeTest, Units) {
  EXPECT_EQ(ParseByteSize("6G"), int64_t{6} << 30);
  EXPECT_EQ(ParseByteSize("512m"), int64_t{512} << 20);
  EXPECT_EQ(ParseByteSize("100K"), 102400);
  EXPECT_EQ(ParseByteSize("4096"), 4096);
  EXPECT_EQ(ParseByteSize("lots"), -1);
  EXPECT_EQ(ParseByteSize("0"), -1);
  EXPECT_EQ(ParseByteSize(""), -1);
  EXPECT_EQ(ParseByteSize("99999999999G"), -1) << "over 64 bits";
}

// A value from the config file is named by its file and key in an error,
// not as a flag the user never typed; the command line's own stay flags.
TEST(CliArgsTest, AttributeNamesTheOriginOfADefault) {
  CliArgs args({"codec", "crf"}, {});
  ASSERT_TRUE(Parse(&args, {"--crf", "60"}).ok());
  args.SetDefault("codec", "h266", "config /c.toml: [defaults] codec");
  args.SetDefault("crf", "18", "config /c.toml: [defaults] crf");  // the command line wins
  EXPECT_EQ(args.Get("codec"), "h266");
  EXPECT_EQ(args.Get("crf"), "60");
  EXPECT_EQ(args.Attribute(absl::InvalidArgumentError("--codec 'h266' is not supported")).message(),
            "config /c.toml: [defaults] codec 'h266' is not supported");
  EXPECT_EQ(args.Attribute(absl::InvalidArgumentError("--crf 60 is outside 0..51")).message(),
            "--crf 60 is outside 0..51");
  EXPECT_EQ(args.Attribute(absl::InvalidArgumentError("--codecs x")).message(), "--codecs x");
  EXPECT_TRUE(args.Attribute(absl::OkStatus()).ok());
}

}  // namespace
}  // namespace anifarm
