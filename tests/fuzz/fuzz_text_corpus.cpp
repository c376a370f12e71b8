// tests/fuzz/fuzz_text_corpus.cpp — data/text_corpus.h on any file (its "%" documents and the
// seeded split), then both tokenizers on the splits. Invariants: every document is the file's
// bytes at its offset; a split's joined text has the length bytes() says; the bytes tokenizer
// round-trips any text, the chars tokenizer built from a valid UTF-8 training text round-trips it.
#include <nlohmann/json.hpp>

#include "data/text_corpus.h"
#include "data/text_tokenizer.h"
#include "tests/fuzz/fuzz_support.h"

using namespace raoq;
using namespace raoq::data;

namespace {

bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    if (!utf8_next(s, i, cp)) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string path = fuzz::write_scratch("corpus.txt", data, size);
  TextCorpusOptions o;
  o.path = path;
  o.seed = size;
  o.max_file_bytes = 1 << 20;
  std::unique_ptr<TextCorpus> corpus;
  if (!fuzz::parses([&] { corpus = std::make_unique<TextCorpus>(o); })) return 0;
  for (const TextSplit split : kTextSplits) {
    fuzz::require(!corpus->documents(split).empty(), "a split without documents");
    for (const TextDocument& d : corpus->documents(split))
      fuzz::require(d.offset >= 0 && text.compare(static_cast<size_t>(d.offset), d.text.size(), d.text) == 0,
                    "a document is not the file's bytes at its offset");
    const std::string joined = corpus->joined(split);
    fuzz::require(static_cast<int64_t>(joined.size()) == corpus->bytes(split), "joined() and bytes() disagree");
    fuzz::require(TextTokenizer::bytes().decode(TextTokenizer::bytes().encode(joined)) == joined,
                  "the bytes tokenizer does not round-trip");
  }
  const std::string train = corpus->joined(TextSplit::train);
  const TextTokenizer chars = TextTokenizer::chars(train);
  if (valid_utf8(train)) fuzz::require(chars.decode(chars.encode(train)) == train, "the chars tokenizer does not round-trip its training text");
  fuzz::require(TextTokenizer::from_json(chars.to_json()) == chars, "a chars vocabulary does not survive its JSON form");
  return 0;
}
