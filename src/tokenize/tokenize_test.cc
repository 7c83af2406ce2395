// Known ids (taken from the reference tokenizer, tiktoken 1.0.22), special tokens, round trips,
// invalid UTF-8, the model map and chat counting.
#include "tokenize/tokenize.h"

#include <gtest/gtest.h>

#include <random>

#include "tokenize/unicode.h"

namespace warden::tokenize {
namespace {

using Ids = std::vector<std::uint32_t>;

const Encoding& cl100k() { return Encoding::cl100k_base(); }
const Encoding& o200k() { return Encoding::o200k_base(); }

TEST(Tokenize, KnownIdsCl100k) {
  EXPECT_EQ(cl100k().encode("hello world"), (Ids{15339, 1917}));
  EXPECT_EQ(cl100k().encode("Hello, World!"), (Ids{9906, 11, 4435, 0}));
  EXPECT_EQ(cl100k().encode("I'm don't"), (Ids{40, 2846, 1541, 956}));
  EXPECT_EQ(cl100k().encode("  \n\n  x  "), (Ids{19124, 220, 865, 256}));
  EXPECT_EQ(cl100k().encode("12345678"), (Ids{4513, 10961, 2495}));
  EXPECT_EQ(cl100k().encode("你好世界"), (Ids{57668, 53901, 3574, 244, 98220}));
  EXPECT_EQ(cl100k().encode("naïve café"), (Ids{3458, 38672, 588, 53050}));
  EXPECT_EQ(cl100k().encode("HelloWorld JSONParser"), (Ids{9906, 10343, 4823, 6707}));
  EXPECT_EQ(cl100k().encode("x ſ'ſ"), (Ids{87, 27006, 123, 6, 129, 123}));
  EXPECT_EQ(cl100k().encode(""), Ids{});
}

TEST(Tokenize, KnownIdsO200k) {
  EXPECT_EQ(o200k().encode("hello world"), (Ids{24912, 2375}));
  EXPECT_EQ(o200k().encode("Hello, World!"), (Ids{13225, 11, 5922, 0}));
  EXPECT_EQ(o200k().encode("I'm don't"), (Ids{15390, 4128}));
  EXPECT_EQ(o200k().encode("  \n\n  x  "), (Ids{11691, 220, 1215, 256}));
  EXPECT_EQ(o200k().encode("12345678"), (Ids{7633, 19354, 4388}));
  EXPECT_EQ(o200k().encode("你好世界"), (Ids{177519, 28428}));
  EXPECT_EQ(o200k().encode("naïve café"), (Ids{1503, 9954, 737, 30469}));
  EXPECT_EQ(o200k().encode("HelloWorld JSONParser"), (Ids{13225, 13046, 8205, 9231}));
  EXPECT_EQ(o200k().encode("x ſ'ſ"), (Ids{87, 20757, 123, 6, 70067}));
}

TEST(Tokenize, SpecialTokensAreTextUnlessAllowed) {
  EXPECT_EQ(cl100k().encode("<|endoftext|>"), (Ids{27, 91, 8862, 728, 428, 91, 29}));
  EXPECT_EQ(o200k().encode("<|endoftext|>"), (Ids{27, 91, 419, 1440, 919, 91, 29}));
  EXPECT_EQ(cl100k().encode("a<|endoftext|>b<|fim_prefix|>", true), (Ids{64, 100257, 65, 100258}));
  EXPECT_EQ(o200k().encode("a<|endoftext|>b", true), (Ids{64, 199999, 65}));
  EXPECT_EQ(cl100k().special_token("<|endofprompt|>"), 100276u);
  EXPECT_EQ(cl100k().special_token("<|fim_middle|>"), 100259u);
  EXPECT_EQ(cl100k().special_token("<|fim_suffix|>"), 100260u);
  EXPECT_EQ(o200k().special_token("<|endofprompt|>"), 200018u);
  EXPECT_EQ(o200k().special_token("<|fim_prefix|>"), std::nullopt);
  EXPECT_EQ(cl100k().count("<|endoftext|>"), 7u);
  EXPECT_EQ(cl100k().count("<|endoftext|>", true), 1u);
  // A special token's text is decoded back to that text.
  EXPECT_EQ(*cl100k().decode(Ids{64, 100257}), "a<|endoftext|>");
}

TEST(Tokenize, DecodeRejectsUnknownIds) {
  const auto r = cl100k().decode(Ids{15339, 100300});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::VALIDATION_INVALID_VALUE);
  EXPECT_NE(r.status().message().find("100300"), std::string::npos);
  EXPECT_FALSE(o200k().decode(Ids{200000}).ok());  // 199998..200017 hold no token
}

TEST(Tokenize, ByName) {
  EXPECT_EQ((*Encoding::by_name("o200k_base"))->name(), "o200k_base");
  EXPECT_EQ(*Encoding::by_name("cl100k_base"), &Encoding::cl100k_base());
  const auto bad = Encoding::by_name("p50k_base");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::VALIDATION_INVALID_VALUE);
}

TEST(Tokenize, InvalidUtf8BytesAreSingleByteTokensThatSplitTheText) {
  for (const Encoding* e : {&cl100k(), &o200k()}) {
    const std::string text = std::string("ab  ") + '\xff' + "cd" + '\xe2' + '\x82' + " x";
    Ids expected = e->encode("ab  ");
    expected.push_back(*e->token_for_bytes("\xff"));
    for (auto id : e->encode("cd")) expected.push_back(id);
    expected.push_back(*e->token_for_bytes("\xe2"));
    expected.push_back(*e->token_for_bytes("\x82"));
    for (auto id : e->encode(" x")) expected.push_back(id);
    EXPECT_EQ(e->encode(text), expected) << e->name();
    EXPECT_EQ(*e->decode(e->encode(text)), text);
  }
  // Overlong, surrogate and out-of-range sequences are invalid too.
  EXPECT_EQ(decode_utf8("\xc0\xaf", 0).length, 0u);
  EXPECT_EQ(decode_utf8("\xed\xa0\x80", 0).length, 0u);
  EXPECT_EQ(decode_utf8("\xf4\x90\x80\x80", 0).length, 0u);
  EXPECT_EQ(decode_utf8("\xf0\x9f\x98\x80", 0).cp, U'\U0001F600');
}

TEST(Tokenize, RoundTripsRandomBytesAndText) {
  std::mt19937 rng(7);
  const std::vector<std::string> atoms = {
      "a",         "Z",  " ", "\n",           "\r\n",          "'s", "9", "é",
      "e\xcc\x81", "你", "😀", "\xe2\x80\x8d", "<|endoftext|>", "\t", "/", "!!",
      "ſ",         "Ǆ"};
  for (int round = 0; round < 500; ++round) {
    std::string text;
    const int len = static_cast<int>(rng() % 60);
    for (int k = 0; k < len; ++k) {
      if (rng() % 8 == 0) {
        text.push_back(static_cast<char>(rng() % 256));
      } else {
        text += atoms[rng() % atoms.size()];
      }
    }
    for (const Encoding* e : {&cl100k(), &o200k()}) {
      for (bool special : {false, true}) {
        const Ids ids = e->encode(text, special);
        EXPECT_EQ(*e->decode(ids), text);
        EXPECT_EQ(e->count(text, special), ids.size());
      }
    }
  }
}

TEST(Tokenize, LongPiecesUseTheSameMergeOrder) {
  // 300 letters are one piece, past the linear merge's bound, so the heap merges it; a run of
  // 5000 spaces likewise. The counts and first ids are the reference's.
  std::string word;
  for (int k = 0; k < 300; ++k) word.push_back(static_cast<char>('a' + (k * 7) % 26));
  const std::string spaces = std::string(5000, ' ') + "x";
  for (const Encoding* e : {&cl100k(), &o200k()}) {
    EXPECT_EQ(e->count(word), 162u) << e->name();
    EXPECT_EQ(e->count(spaces), 41u) << e->name();
    EXPECT_EQ(*e->decode(e->encode(word)), word);
    EXPECT_EQ(*e->decode(e->encode(spaces)), spaces);
  }
  const Ids ids = cl100k().encode(word);
  EXPECT_EQ(Ids(ids.begin(), ids.begin() + 8), (Ids{1494, 869, 66, 45015, 87, 2053, 89, 5010}));
  EXPECT_EQ(cl100k().count(std::string(200, 'a')), 25u);
}

TEST(Tokenize, ModelMap) {
  EXPECT_EQ(encoding_for_model("gpt-4o").encoding, &o200k());
  EXPECT_EQ(encoding_for_model("gpt-4o-mini-2024-07-18").encoding, &o200k());
  EXPECT_EQ(encoding_for_model("gpt-4.1-nano").encoding, &o200k());
  EXPECT_EQ(encoding_for_model("o1").encoding, &o200k());
  EXPECT_EQ(encoding_for_model("o3-mini").encoding, &o200k());
  EXPECT_EQ(encoding_for_model("o4-mini").encoding, &o200k());
  EXPECT_EQ(encoding_for_model("gpt-4").encoding, &cl100k());
  EXPECT_EQ(encoding_for_model("gpt-4-turbo").encoding, &cl100k());
  EXPECT_EQ(encoding_for_model("gpt-3.5-turbo").encoding, &cl100k());
  EXPECT_EQ(encoding_for_model("gpt-35-turbo").encoding, &cl100k());
  EXPECT_EQ(encoding_for_model("text-embedding-3-small").encoding, &cl100k());
  EXPECT_TRUE(encoding_for_model("gpt-4o").exact);
  EXPECT_FALSE(encoding_for_model("o100").exact);
  const ModelEncoding claude = encoding_for_model("claude-3-5-sonnet-20241022");
  EXPECT_EQ(claude.encoding, &cl100k());
  EXPECT_FALSE(claude.exact);
  EXPECT_EQ(count_text("gemini-1.5-pro", "hello world").tokens, 2u);
  EXPECT_TRUE(count_text("gemini-1.5-pro", "hello world").estimated);
  EXPECT_FALSE(count_text("gpt-4o", "hello world").estimated);
}

TEST(Tokenize, ChatMessagesCountTheFormatsOverhead) {
  // Per message 3 + role + content (+ name + 1), and 3 for the reply; 21 is the same sum over
  // the reference tokenizer's counts.
  const std::vector<ChatMessage> messages = {
      {"system", "You are a helpful assistant.", ""},
      {"user", "hello world", "alice"},
  };
  const Encoding& e = o200k();
  const std::uint64_t expected = 3 + e.count("system") + e.count("You are a helpful assistant.") +
                                 3 + e.count("user") + e.count("hello world") + e.count("alice") +
                                 1 + 3;
  const TokenCount count = count_chat("gpt-4o", messages);
  EXPECT_EQ(count.tokens, expected);
  EXPECT_EQ(count.tokens, 21u);
  EXPECT_FALSE(count.estimated);
  EXPECT_EQ(count_chat("gpt-4o", {}).tokens, 3u);
  EXPECT_TRUE(count_chat("claude-3-opus", messages).estimated);
}

}  // namespace
}  // namespace warden::tokenize
