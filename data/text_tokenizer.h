// data/text_tokenizer.h — text to token ids and back: bytes (the default) or characters.
//
// bytes: the vocabulary is the 256 byte values and a token is a byte's value, so every text
//        encodes and decode(encode(text)) == text exactly, whatever its encoding.
// chars: the UTF-8 code points seen in a training text, in increasing code point order, take
//        ids 1..V-1; id 0 (kUnknownId) stands for everything else: code points not seen in
//        training and bytes that are not valid UTF-8 (one unknown per such byte). The ids
//        depend only on the set of code points in the training text, so they are stable for a
//        given training split. decode() writes U+FFFD for the unknown id, so decode(encode(t))
//        == t exactly when t is valid UTF-8 and every code point of t is in the vocabulary.
//        Build it from TextCorpus::joined(TextSplit::train), which holds the document
//        separator, so the newline between documents has an id of its own.
//
// JSON form, so that a run can store the vocabulary and use it at evaluation and generation:
//   {"format": "raoq-text-tokenizer", "version": 1, "kind": "bytes", "vocab_size": 256}
//   {"format": "raoq-text-tokenizer", "version": 1, "kind": "chars", "vocab_size": 5,
//    "unknown_id": 0, "chars": "\n abc"}   <- ids 1.. in order, one code point each
//
// What it deliberately does not do: subword merges (BPE), normalisation, special tokens.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace raoq::data {

enum class TokenizerKind { bytes, chars };

class TextTokenizer {
 public:
  static constexpr int64_t kUnknownId = 0;  // chars only

  TextTokenizer() = default;  // bytes
  static TextTokenizer bytes();
  static TextTokenizer chars(std::string_view training_text);

  TokenizerKind kind() const { return kind_; }
  std::string kind_name() const { return kind_ == TokenizerKind::bytes ? "bytes" : "chars"; }
  int64_t vocab_size() const;  // bytes: 256; chars: 1 + distinct code points
  // chars: the code points in id order, chars()[id - 1] is id's code point; bytes: empty.
  const std::vector<char32_t>& code_points() const { return chars_; }

  std::vector<int64_t> encode(std::string_view text) const;
  // Throws naming the position of an id outside [0, vocab_size()).
  std::string decode(const std::vector<int64_t>& ids) const;

  // The JSON form above; from_json checks every key and that the chars are valid UTF-8 in
  // strictly increasing order. `where` starts its error messages (a file name).
  nlohmann::json to_json() const;
  static TextTokenizer from_json(const nlohmann::json& j, const std::string& where = "text_tokenizer");
  // Writes / reads the JSON form as a file; errors name the file and the errno text.
  void save(const std::string& path) const;
  static TextTokenizer load(const std::string& path);

  bool operator==(const TextTokenizer& other) const { return kind_ == other.kind_ && chars_ == other.chars_; }

 private:
  int64_t id_of(char32_t cp) const;  // chars: kUnknownId when not in the vocabulary

  TokenizerKind kind_ = TokenizerKind::bytes;
  std::vector<char32_t> chars_;  // (V - 1) strictly increasing code points
};

// UTF-8 helpers, strict (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
// utf8_next decodes the code point at text[i] and advances i past it; on an invalid byte it
// advances i by one and returns false.
bool utf8_next(std::string_view text, size_t& i, char32_t& cp);
void utf8_append(std::string& out, char32_t cp);

}  // namespace raoq::data
