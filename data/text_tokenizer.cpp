// data/text_tokenizer.cpp — byte and character tokenizers, strict UTF-8, the JSON vocabulary.
#include "data/text_tokenizer.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_fields.h"
#include "data/file_io.h"

namespace raoq::data {
namespace {

const char* kFormat = "raoq-text-tokenizer";
constexpr int64_t kVersion = 1;
constexpr int64_t kByteVocab = 256;
constexpr char32_t kMaxCodePoint = 0x10FFFF;
constexpr char32_t kReplacement = 0xFFFD;  // what decode() writes for the unknown id
// A vocabulary file is a few kilobytes; anything far larger is not one.
constexpr uint64_t kMaxJsonBytes = uint64_t{64} << 20;

const nlohmann::json& field(const nlohmann::json& j, const std::string& where, const char* key) {
  RAOQ_CHECK(j.contains(key), where, ": key '", key, "' is missing");
  return j.at(key);
}

int64_t integer(const nlohmann::json& j, const std::string& where, const char* key) {
  const nlohmann::json& v = field(j, where, key);
  const std::optional<int64_t> n = json_int64(v);
  RAOQ_CHECK(n.has_value(), where, ": '", key, "' must be an integer that fits 64 bits, got ", json_brief(v));
  return *n;
}

std::string string(const nlohmann::json& j, const std::string& where, const char* key) {
  const nlohmann::json& v = field(j, where, key);
  RAOQ_CHECK(v.is_string(), where, ": '", key, "' must be a string, got ", json_brief(v));
  return v.get<std::string>();
}

// The code points of a saved "chars" string: valid UTF-8, strictly increasing.
std::vector<char32_t> parse_chars(const std::string& text, const std::string& where) {
  std::vector<char32_t> out;
  for (size_t i = 0; i < text.size();) {
    const size_t at = i;
    char32_t cp = 0;
    RAOQ_CHECK(utf8_next(text, i, cp), where, ": 'chars' holds a byte that is not valid UTF-8 at byte ", at);
    RAOQ_CHECK(out.empty() || cp > out.back(), where, ": 'chars' must list code points in strictly increasing order; U+",
               std::hex, static_cast<uint32_t>(cp), " at byte ", std::dec, at, " follows U+", std::hex,
               static_cast<uint32_t>(out.empty() ? 0 : out.back()));
    out.push_back(cp);
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- UTF-8

bool utf8_next(std::string_view s, size_t& i, char32_t& cp) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) {
    cp = b0;
    ++i;
    return true;
  }
  size_t len = 0;
  char32_t min = 0;  // the smallest code point of this length: anything below is overlong
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2, cp = b0 & 0x1Fu, min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3, cp = b0 & 0x0Fu, min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4, cp = b0 & 0x07u, min = 0x10000;
  } else {
    ++i;  // a continuation byte, 0xC0/0xC1 (always overlong) or 0xF5..0xFF
    return false;
  }
  if (i + len > s.size()) {
    ++i;
    return false;
  }
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<uint8_t>(s[i + k]);
    if ((b & 0xC0u) != 0x80u) {
      ++i;
      return false;
    }
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if (cp < min || cp > kMaxCodePoint || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return false;
  }
  i += len;
  return true;
}

void utf8_append(std::string& out, char32_t cp) {
  const auto put = [&](uint32_t byte) { out.push_back(static_cast<char>(byte)); };
  if (cp < 0x80) {
    put(cp);
  } else if (cp < 0x800) {
    put(0xC0 | (cp >> 6)), put(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    put(0xE0 | (cp >> 12)), put(0x80 | ((cp >> 6) & 0x3F)), put(0x80 | (cp & 0x3F));
  } else {
    put(0xF0 | (cp >> 18)), put(0x80 | ((cp >> 12) & 0x3F)), put(0x80 | ((cp >> 6) & 0x3F)), put(0x80 | (cp & 0x3F));
  }
}

// ---------------------------------------------------------------- TextTokenizer

TextTokenizer TextTokenizer::bytes() { return TextTokenizer(); }

TextTokenizer TextTokenizer::chars(std::string_view training_text) {
  // One bit per code point, read back a 64-bit word at a time: a short text costs 17408 words,
  // not a pass over all 1.1 million code points.
  std::vector<uint64_t> seen((kMaxCodePoint >> 6) + 1, 0);
  for (size_t i = 0; i < training_text.size();) {
    char32_t cp = 0;
    if (utf8_next(training_text, i, cp)) seen[cp >> 6] |= uint64_t{1} << (cp & 63);
  }
  TextTokenizer t;
  t.kind_ = TokenizerKind::chars;
  for (size_t w = 0; w < seen.size(); ++w)
    for (uint64_t bits = seen[w]; bits != 0; bits &= bits - 1)
      t.chars_.push_back(static_cast<char32_t>(w * 64 + static_cast<size_t>(std::countr_zero(bits))));
  return t;
}

int64_t TextTokenizer::vocab_size() const {
  return kind_ == TokenizerKind::bytes ? kByteVocab : 1 + static_cast<int64_t>(chars_.size());
}

int64_t TextTokenizer::id_of(char32_t cp) const {
  const auto it = std::lower_bound(chars_.begin(), chars_.end(), cp);
  return it != chars_.end() && *it == cp ? 1 + (it - chars_.begin()) : kUnknownId;
}

std::vector<int64_t> TextTokenizer::encode(std::string_view text) const {
  std::vector<int64_t> ids;
  ids.reserve(text.size());
  if (kind_ == TokenizerKind::bytes) {
    for (char ch : text) ids.push_back(static_cast<uint8_t>(ch));
    return ids;
  }
  for (size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    ids.push_back(utf8_next(text, i, cp) ? id_of(cp) : kUnknownId);
  }
  return ids;
}

std::string TextTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  out.reserve(ids.size());
  const int64_t v = vocab_size();
  for (size_t k = 0; k < ids.size(); ++k) {
    const int64_t id = ids[k];
    RAOQ_CHECK(id >= 0 && id < v, "text_tokenizer: id ", id, " at position ", k, " is outside the ", kind_name(),
               " vocabulary [0, ", v, ")");
    if (kind_ == TokenizerKind::bytes)
      out.push_back(static_cast<char>(static_cast<uint8_t>(id)));
    else
      utf8_append(out, id == kUnknownId ? kReplacement : chars_[static_cast<size_t>(id - 1)]);
  }
  return out;
}

// ---------------------------------------------------------------- JSON and files

nlohmann::json TextTokenizer::to_json() const {
  nlohmann::json j = {{"format", kFormat}, {"version", kVersion}, {"kind", kind_name()}, {"vocab_size", vocab_size()}};
  if (kind_ == TokenizerKind::chars) {
    std::string text;
    for (char32_t cp : chars_) utf8_append(text, cp);
    j["unknown_id"] = kUnknownId;
    j["chars"] = text;
  }
  return j;
}

TextTokenizer TextTokenizer::from_json(const nlohmann::json& j, const std::string& where) {
  RAOQ_CHECK(j.is_object(), where, ": expected a JSON object, got ", j.type_name());
  const std::string format = string(j, where, "format");
  RAOQ_CHECK(format == kFormat, where, ": 'format' must be \"", kFormat, "\", got \"", printable(format), "\"");
  const int64_t version = integer(j, where, "version");
  RAOQ_CHECK(version == kVersion, where, ": 'version' ", version, " is not supported (this build reads ", kVersion, ")");
  const std::string kind = string(j, where, "kind");
  RAOQ_CHECK(kind == "bytes" || kind == "chars", where, ": 'kind' must be \"bytes\" or \"chars\", got \"", printable(kind), "\"");
  TextTokenizer t;
  if (kind == "chars") {
    t.kind_ = TokenizerKind::chars;
    const int64_t unknown = integer(j, where, "unknown_id");
    RAOQ_CHECK(unknown == kUnknownId, where, ": 'unknown_id' must be ", kUnknownId, ", got ", unknown);
    t.chars_ = parse_chars(string(j, where, "chars"), where);
  }
  const int64_t vocab = integer(j, where, "vocab_size");
  RAOQ_CHECK(vocab == t.vocab_size(), where, ": 'vocab_size' is ", vocab, " but the ", kind, " vocabulary holds ",
             t.vocab_size(), " ids");
  return t;
}

void TextTokenizer::save(const std::string& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  RAOQ_CHECK(out.is_open(), "text_tokenizer: cannot write '", path, "' (", std::strerror(errno), ")");
  out << to_json().dump(2) << '\n';
  out.close();
  RAOQ_CHECK(!out.fail(), "text_tokenizer: writing '", path, "' failed (", std::strerror(errno), ")");
}

TextTokenizer TextTokenizer::load(const std::string& path) {
  InputFile in("text_tokenizer", path);
  std::vector<uint8_t> bytes;
  in.read_into(bytes, kMaxJsonBytes + 1);
  RAOQ_CHECK(bytes.size() <= kMaxJsonBytes, in.where(), "holds more than ", kMaxJsonBytes,
             " bytes, expected a small JSON vocabulary");
  const nlohmann::json j = parse_json_unordered(std::string(bytes.begin(), bytes.end()), "text_tokenizer: '" + path + "'");
  return from_json(j, "text_tokenizer: '" + path + "'");
}

}  // namespace raoq::data
