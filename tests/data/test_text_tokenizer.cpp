// tests/data/test_text_tokenizer.cpp — byte and character tokenizers: exact round trips, the
// unknown id, stable ordered ids, strict UTF-8, and the JSON vocabulary file with its refusals.
#include <nlohmann/json.hpp>

#include "data/text_tokenizer.h"
#include "tests/data/data_testing.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::data;
using namespace raoq::data::testing;
using Catch::Matchers::Contains;

TEST_CASE("text_tokenizer: bytes give every byte its value and decode exactly", "[data]") {
  const TextTokenizer tok = TextTokenizer::bytes();
  CHECK(tok.kind() == TokenizerKind::bytes);
  CHECK(tok.vocab_size() == 256);
  std::string all;
  for (int b = 255; b >= 0; --b) all.push_back(static_cast<char>(b));  // NUL, invalid UTF-8 and all
  const std::vector<int64_t> ids = tok.encode(all);
  REQUIRE(ids.size() == 256);
  for (size_t k = 0; k < ids.size(); ++k) CHECK(ids[k] == 255 - static_cast<int64_t>(k));
  CHECK(tok.decode(ids) == all);
  const std::string text = "Fortune: \xc3\xa9t\xc3\xa9 \xe2\x98\x83\n";  // "été ☃" as UTF-8
  CHECK(tok.encode(text).size() == text.size());
  CHECK(tok.decode(tok.encode(text)) == text);
  CHECK_THAT(error_of([&] { tok.decode({65, 256}); }),
             Contains("text_tokenizer: id 256 at position 1 is outside the bytes vocabulary [0, 256)"));
  CHECK_THAT(error_of([&] { tok.decode({-1}); }), Contains("id -1 at position 0"));
}

TEST_CASE("text_tokenizer: chars take ordered ids from the training text, one for unknowns", "[data]") {
  // "cab é☃ 𝄞\n" : code points \n < ' ' < a < b < c < é (U+E9) < ☃ (U+2603) < 𝄞 (U+1D11E).
  const std::string training = "cab \xc3\xa9\xe2\x98\x83 \xf0\x9d\x84\x9e\nbac";
  const TextTokenizer tok = TextTokenizer::chars(training);
  CHECK(tok.kind() == TokenizerKind::chars);
  CHECK(tok.vocab_size() == 9);
  CHECK(tok.code_points() == std::vector<char32_t>{U'\n', U' ', U'a', U'b', U'c', 0xE9, 0x2603, 0x1D11E});
  CHECK(tok.encode("abc\n") == std::vector<int64_t>{3, 4, 5, 1});
  CHECK(tok.encode("\xc3\xa9\xe2\x98\x83\xf0\x9d\x84\x9e") == std::vector<int64_t>{6, 7, 8});
  CHECK(tok.decode(tok.encode(training)) == training);

  // Unseen characters and invalid UTF-8 (one unknown per bad byte) map to id 0, which decodes
  // as U+FFFD.
  CHECK(TextTokenizer::kUnknownId == 0);
  CHECK(tok.encode("aZb") == std::vector<int64_t>{3, 0, 4});
  CHECK(tok.encode("a\xff\xc3") == std::vector<int64_t>{3, 0, 0});          // 0xFF; a truncated é
  CHECK(tok.encode("\xc0\xa0\xed\xa0\x80") == std::vector<int64_t>(5, 0));  // overlong space; a surrogate
  CHECK(tok.decode({3, 0, 4}) == "a\xef\xbf\xbd" "b");
  CHECK_THAT(error_of([&] { tok.decode({9}); }), Contains("id 9 at position 0 is outside the chars vocabulary [0, 9)"));

  // Ids depend only on the set of characters: another text with the same set gives the same ids.
  CHECK(TextTokenizer::chars("\xf0\x9d\x84\x9e\xe2\x98\x83\xc3\xa9 cba\n\n") == tok);
  CHECK_FALSE(TextTokenizer::chars("abc") == tok);
  // Invalid bytes in the training text add nothing.
  CHECK(TextTokenizer::chars("ab\xff\xfe").vocab_size() == 3);
}

TEST_CASE("text_tokenizer: utf8_next and utf8_append agree on every length", "[data]") {
  for (char32_t cp : {char32_t{0}, char32_t{0x7F}, char32_t{0x80}, char32_t{0x7FF}, char32_t{0x800}, char32_t{0xD7FF},
                      char32_t{0xE000}, char32_t{0xFFFF}, char32_t{0x10000}, char32_t{0x10FFFF}}) {
    CAPTURE(static_cast<uint32_t>(cp));
    std::string s;
    utf8_append(s, cp);
    size_t i = 0;
    char32_t back = 0;
    REQUIRE(utf8_next(s, i, back));
    CHECK(back == cp);
    CHECK(i == s.size());
  }
  const std::string too_big = "\xf4\x90\x80\x80";  // U+110000
  size_t i = 0;
  char32_t cp = 0;
  CHECK_FALSE(utf8_next(too_big, i, cp));
  CHECK(i == 1);
}

TEST_CASE("text_tokenizer: the vocabulary saves to JSON and loads back the same ids", "[data]") {
  TempDir dir("text_vocab");
  const TextTokenizer chars = TextTokenizer::chars("hello, w\xc3\xb6rld\n\"quoted\" \\ \t");
  chars.save(dir.file("vocab.json"));
  const TextTokenizer back = TextTokenizer::load(dir.file("vocab.json"));
  CHECK(back == chars);
  CHECK(back.vocab_size() == chars.vocab_size());
  const std::string probe = "w\xc3\xb6rld? \"hello\"";
  CHECK(back.encode(probe) == chars.encode(probe));
  const nlohmann::json j = chars.to_json();
  CHECK(j.at("kind") == "chars");
  CHECK(j.at("unknown_id") == 0);
  CHECK(j.at("vocab_size") == chars.vocab_size());

  TextTokenizer::bytes().save(dir.file("bytes.json"));
  const TextTokenizer bytes = TextTokenizer::load(dir.file("bytes.json"));
  CHECK(bytes.kind() == TokenizerKind::bytes);
  CHECK(bytes.vocab_size() == 256);
}

TEST_CASE("text_tokenizer: loading refuses a malformed vocabulary, naming the file and key", "[data]") {
  TempDir dir("text_vocab_bad");
  const auto load = [&](const std::string& text) {
    write_text(dir.file("v.json"), text);
    return error_of([&] { TextTokenizer::load(dir.file("v.json")); });
  };
  const std::string at = "text_tokenizer: '" + dir.file("v.json") + "': ";
  const std::string head = R"({"format": "raoq-text-tokenizer", "version": 1, )";
  CHECK_THAT(load("{\"format\": "), Contains("text_tokenizer: '" + dir.file("v.json") + "' is not valid JSON: at line 1"));
  // Nested past kMaxJsonDepth: refused while parsing (copying or printing it later would recurse).
  CHECK_THAT(load("{\"format\": " + std::string(100, '[')), Contains("nests deeper than 64 levels"));
  CHECK_THAT(load(R"({"version": 1})"), Contains(at + "key 'format' is missing"));
  CHECK_THAT(load(head + R"("kind": "bpe", "vocab_size": 3})"),
             Contains(at + "'kind' must be \"bytes\" or \"chars\", got \"bpe\""));
  CHECK_THAT(load(head + R"("kind": "bytes", "vocab_size": 255})"),
             Contains(at + "'vocab_size' is 255 but the bytes vocabulary holds 256 ids"));
  CHECK_THAT(load(head + R"("kind": "chars", "vocab_size": 3, "unknown_id": 0, "chars": "ba"})"),
             Contains(at + "'chars' must list code points in strictly increasing order; U+61 at byte 1 follows U+62"));
  CHECK_THAT(load(head + R"("kind": "chars", "vocab_size": 4, "unknown_id": 0, "chars": "ab"})"),
             Contains(at + "'vocab_size' is 4 but the chars vocabulary holds 3 ids"));
  CHECK_THAT(load(head + R"("kind": "chars", "vocab_size": 3, "unknown_id": 2, "chars": "ab"})"),
             Contains(at + "'unknown_id' must be 0, got 2"));
  CHECK_THAT(load(R"({"format": "raoq-text-tokenizer", "version": 2, "kind": "bytes", "vocab_size": 256})"),
             Contains(at + "'version' 2 is not supported"));
  CHECK_THAT(error_of([&] { TextTokenizer::load(dir.file("absent.json")); }),
             Contains("text_tokenizer: cannot open '" + dir.file("absent.json") + "' (No such file or directory)"));
  CHECK_THAT(error_of([&] { TextTokenizer::bytes().save(dir.file("no/such/dir/v.json")); }),
             Contains("text_tokenizer: cannot write '" + dir.file("no/such/dir/v.json") + "' (No such file or directory)"));
}
