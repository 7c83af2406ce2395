// `warden tokens encode|count` as a user runs it: ids as a JSON array, counts by model or
// encoding, special-token text as text unless --allow-special, usage errors.
#include <filesystem>
#include <fstream>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace fs = std::filesystem;

struct InputFile {
  std::string dir = make_temp_dir();
  std::string path = dir + "/input.txt";
  explicit InputFile(const std::string& text) { std::ofstream(path, std::ios::binary) << text; }
  ~InputFile() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
};

TEST(TokensCliTest, EncodePrintsIdsAsAJsonArray) {
  InputFile in("hello world");
  CliResult r = run_cli({"tokens", "encode", "--encoding", "cl100k_base", in.path});
  EXPECT_EQ(r.exit_code, 0) << r.output();
  EXPECT_EQ(r.stdout_text, "[15339,1917]\n");
  r = run_cli({"tokens", "encode", "--encoding", "o200k_base", in.path});
  EXPECT_EQ(r.stdout_text, "[24912,2375]\n");
}

TEST(TokensCliTest, SpecialTokenTextIsTextUnlessAllowed) {
  InputFile in("a<|endoftext|>");
  CliResult plain = run_cli({"tokens", "encode", "--encoding", "o200k_base", in.path});
  EXPECT_EQ(plain.stdout_text, "[64,27,91,419,1440,919,91,29]\n");
  CliResult special =
      run_cli({"tokens", "encode", "--encoding", "o200k_base", "--allow-special", in.path});
  EXPECT_EQ(special.stdout_text, "[64,199999]\n");
  CliResult count =
      run_cli({"tokens", "count", "--encoding", "cl100k_base", "--allow-special", in.path});
  EXPECT_EQ(count.stdout_text, "2\n");
}

TEST(TokensCliTest, CountByModelOrEncoding) {
  InputFile in("I'm don't");
  EXPECT_EQ(run_cli({"tokens", "count", "--model", "gpt-4o", in.path}).stdout_text, "2\n");
  EXPECT_EQ(run_cli({"tokens", "count", "--model", "gpt-4", in.path}).stdout_text, "4\n");
  EXPECT_EQ(run_cli({"tokens", "count", "--encoding", "cl100k_base", in.path}).stdout_text, "4\n");
  CliResult estimate = run_cli({"tokens", "count", "--model", "claude-3-5-sonnet", in.path});
  EXPECT_EQ(estimate.exit_code, 0);
  EXPECT_EQ(estimate.stdout_text, "4\n");
  EXPECT_NE(estimate.stderr_text.find("estimate"), std::string::npos);
}

TEST(TokensCliTest, UsageErrors) {
  InputFile in("x");
  EXPECT_EQ(run_cli({"tokens", "count", in.path}).exit_code, 2);
  EXPECT_EQ(run_cli({"tokens", "count", "--model", "gpt-4o", "--encoding", "o200k_base", in.path})
                .exit_code,
            2);
  CliResult unknown = run_cli({"tokens", "encode", "--encoding", "p50k_base", in.path});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.stderr_text.find("p50k_base"), std::string::npos);
  EXPECT_EQ(
      run_cli({"tokens", "encode", "--encoding", "cl100k_base", in.dir + "/missing"}).exit_code, 1);
}

}  // namespace
}  // namespace warden::testing
