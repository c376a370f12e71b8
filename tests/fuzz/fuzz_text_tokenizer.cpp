// tests/fuzz/fuzz_text_tokenizer.cpp — a saved vocabulary (data/text_tokenizer.h's JSON form) on any
// file. Invariants: a vocabulary that loads saves to JSON that loads to the same vocabulary, and
// every id it encodes decodes.
#include <nlohmann/json.hpp>

#include "data/text_tokenizer.h"
#include "tests/fuzz/fuzz_support.h"

using namespace raoq;
using namespace raoq::data;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_scratch("vocab.json", data, size);
  TextTokenizer t;
  if (!fuzz::parses([&] { t = TextTokenizer::load(path); })) return 0;
  fuzz::require(TextTokenizer::from_json(t.to_json()) == t, "a vocabulary does not survive its JSON form");
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::vector<int64_t> ids = t.encode(text);
  for (const int64_t id : ids) fuzz::require(id >= 0 && id < t.vocab_size(), "an encoded id outside the vocabulary");
  const std::string back = t.decode(ids);
  if (t.kind() == TokenizerKind::bytes) fuzz::require(back == text, "bytes do not round-trip through the bytes tokenizer");
  return 0;
}
