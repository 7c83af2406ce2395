// `warden tokens encode` and `warden tokens count`: the tokenizer on a file or stdin.
#include <fstream>
#include <iostream>
#include <iterator>

#include "cli/commands.h"
#include "tokenize/tokenize.h"

namespace warden::cli {
namespace {

bool read_input(const std::string& path, std::string& out) {
  if (path == "-") {
    out.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    return !std::cin.bad();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

// The encoding named by --encoding, or nullptr after printing why not.
const tokenize::Encoding* encoding_named(const std::string& name) {
  auto encoding = tokenize::Encoding::by_name(name);
  if (!encoding.ok()) {
    std::cerr << "warden tokens: " << encoding.status().message() << "\n";
    return nullptr;
  }
  return *encoding;
}

}  // namespace

int run_tokens_encode(const TokensArgs& args) {
  const tokenize::Encoding* encoding = encoding_named(args.encoding);
  if (encoding == nullptr) return kExitUsage;
  std::string text;
  if (!read_input(args.input, text)) {
    std::cerr << "warden tokens: cannot read " << args.input << "\n";
    return kExitFailed;
  }
  const std::vector<std::uint32_t> ids = encoding->encode(text, args.allow_special);
  std::string out = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(ids[i]);
  }
  out += "]\n";
  std::cout << out;
  return kExitOk;
}

int run_tokens_count(const TokensArgs& args) {
  if (args.model.empty() == args.encoding.empty()) {
    std::cerr << "warden tokens count: give --model or --encoding\n";
    return kExitUsage;
  }
  const tokenize::Encoding* encoding = nullptr;
  if (!args.encoding.empty()) {
    encoding = encoding_named(args.encoding);
    if (encoding == nullptr) return kExitUsage;
  } else {
    const tokenize::ModelEncoding m = tokenize::encoding_for_model(args.model);
    encoding = m.encoding;
    if (!m.exact) {
      std::cerr << "warden tokens: " << args.model << " has no public tokenizer; the count is an "
                << "estimate with " << encoding->name() << "\n";
    }
  }
  std::string text;
  if (!read_input(args.input, text)) {
    std::cerr << "warden tokens: cannot read " << args.input << "\n";
    return kExitFailed;
  }
  std::cout << encoding->count(text, args.allow_special) << "\n";
  return kExitOk;
}

}  // namespace warden::cli
