// tests/data/test_text_corpus.cpp — TextCorpus: "%" documents, folder rules, the seeded
// 90/5/5 document split (deterministic, seed-dependent, covering), explicit split files, and
// every refusal. Each test writes its own small corpus to a temp folder.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "data/text_corpus.h"
#include "tests/data/data_testing.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::data;
using namespace raoq::data::testing;
using Catch::Matchers::Contains;

namespace {

// A fortunes-style file of n documents "<tag> k\n" separated by "%" lines.
std::string fortunes(const std::string& tag, int n) {
  std::string out;
  for (int k = 0; k < n; ++k) out += tag + " " + std::to_string(k) + "\n%\n";
  return out;
}

std::vector<int64_t> ids(const TextCorpus& corpus, TextSplit split) {
  std::vector<int64_t> out;
  for (const TextDocument& doc : corpus.documents(split)) out.push_back(doc.id);
  return out;
}

}  // namespace

TEST_CASE("text_corpus: '%' lines split a file into documents that keep their bytes", "[data]") {
  // A leading separator, blank and whitespace-only documents, a CRLF separator, "%%" and "% "
  // (not separators), and a last document without a trailing separator or newline.
  const std::string text = "%\nfirst line\nsecond\n%\n\n%\n  \t\n%\r\nwin\r\n%\r\n%% not one\n% nor this\n%\nlast";
  const std::vector<DocumentSpan> docs = split_documents(text);
  REQUIRE(docs.size() == 4);
  CHECK(docs[0].text == "first line\nsecond\n");
  CHECK(docs[0].offset == 2);
  CHECK(docs[1].text == "win\r\n");
  CHECK(docs[2].text == "%% not one\n% nor this\n");
  CHECK(docs[3].text == "last");
  for (const DocumentSpan& d : docs) CHECK(text.compare(static_cast<size_t>(d.offset), d.text.size(), d.text) == 0);

  // Without a separator line the whole file is one document, '%' characters and all.
  const std::string plain = "100% plain\n\nparagraphs stay together\n";
  const std::vector<DocumentSpan> whole = split_documents(plain);
  REQUIRE(whole.size() == 1);
  CHECK(whole[0].text == plain);
  CHECK(split_documents(" \n\t\n").empty());
  CHECK(split_documents("").empty());
}

TEST_CASE("text_corpus: a folder contributes its plain files in sorted order", "[data]") {
  TempDir dir("text_folder");
  write_text(dir.file("zeta"), "z\n");
  write_text(dir.file("alpha"), "a\n");
  write_text(dir.file("alpha.dat"), "index");
  write_text(dir.file("notes.u8"), "twin");
  write_text(dir.file(".hidden"), "h\n");
  write_text(dir.file("off/rude"), "not read\n");
  std::filesystem::create_symlink(dir.file("zeta"), dir.file("link"));
  write_text(dir.file("mid.txt"), "m\n");
  const std::vector<std::string> files = list_text_files(dir.path.string());
  CHECK(files == std::vector<std::string>{dir.file("alpha"), dir.file("mid.txt"), dir.file("zeta")});

  const TextCorpus corpus({.path = dir.path.string()});
  CHECK(corpus.files() == files);
  CHECK(corpus.document_count() == 3);  // each file without '%' lines is one document
  CHECK_FALSE(corpus.explicit_splits());
}

TEST_CASE("text_corpus: the document split is 90/5/5, covering and deterministic per seed", "[data]") {
  TempDir dir("text_split");
  // 200 documents in three files: ids run over sorted files (a, b, c), then file order.
  write_text(dir.file("c"), fortunes("c", 50));
  write_text(dir.file("a"), fortunes("a", 120));
  write_text(dir.file("b"), fortunes("b", 30));
  const TextCorpus corpus({.path = dir.path.string(), .seed = 0});
  REQUIRE(corpus.document_count() == 200);
  CHECK(corpus.documents(TextSplit::train).size() == 180);
  CHECK(corpus.documents(TextSplit::valid).size() == 10);
  CHECK(corpus.documents(TextSplit::test).size() == 10);

  std::set<int64_t> seen;
  for (TextSplit split : kTextSplits) {
    const std::vector<int64_t> v = ids(corpus, split);
    CHECK(std::is_sorted(v.begin(), v.end()));  // corpus order within a split
    for (int64_t id : v) CHECK(seen.insert(id).second);
    for (const TextDocument& doc : corpus.documents(split)) {
      // Document k of file f reads "f k\n", and its id follows from the sorted file order.
      const std::string name = std::filesystem::path(doc.source).filename().string();
      const int64_t k = std::stoll(doc.text.substr(2));
      CHECK(doc.text == name + " " + std::to_string(k) + "\n");
      CHECK(doc.id == (name == "a" ? 0 : name == "b" ? 120 : 150) + k);
    }
  }
  CHECK(seen.size() == 200);

  const TextCorpus again({.path = dir.path.string(), .seed = 0});
  const TextCorpus other({.path = dir.path.string(), .seed = 1});
  for (TextSplit split : kTextSplits) CHECK(ids(again, split) == ids(corpus, split));
  CHECK(ids(other, TextSplit::valid) != ids(corpus, TextSplit::valid));
  CHECK(ids(other, TextSplit::test) != ids(corpus, TextSplit::test));
}

TEST_CASE("text_corpus: split sizes stay within one document of 90/5/5, each non-empty", "[data]") {
  const int n = GENERATE(3, 7, 19, 37, 101);
  CAPTURE(n);
  TempDir dir("text_sizes");
  write_text(dir.file("one"), fortunes("x", n));
  const TextCorpus corpus({.path = dir.file("one"), .seed = 5});  // a single file as the corpus
  const auto count = [&](TextSplit s) { return static_cast<double>(corpus.documents(s).size()); };
  CHECK(corpus.document_count() == n);
  for (TextSplit split : kTextSplits) CHECK(count(split) >= 1);
  if (n >= 20) {  // below 20 documents, 5% is under one document and "at least 1" decides
    CHECK(std::abs(count(TextSplit::valid) - 0.05 * n) <= 1.0);
    CHECK(std::abs(count(TextSplit::test) - 0.05 * n) <= 1.0);
    CHECK(std::abs(count(TextSplit::train) - 0.90 * n) <= 1.0);
  }
}

TEST_CASE("text_corpus: a split's text joins its documents with one newline", "[data]") {
  TempDir dir("text_join");
  write_text(dir.file("f"), fortunes("d", 40));
  const TextCorpus corpus({.path = dir.file("f")});
  for (TextSplit split : kTextSplits) {
    std::string expected;
    for (const TextDocument& doc : corpus.documents(split)) expected += (expected.empty() ? "" : "\n") + doc.text;
    CHECK(corpus.joined(split) == expected);
    CHECK(corpus.bytes(split) == static_cast<int64_t>(expected.size()));
  }
  CHECK_THAT(corpus.describe(), Contains("40 documents; train 36 documents"));
}

TEST_CASE("text_corpus: explicit train/valid/test files are used whole, as given", "[data]") {
  TempDir dir("text_explicit");
  write_text(dir.file("wiki.train.raw"), " = Title = \n\n text with\n%\n a percent line \n");
  write_text(dir.file("wiki.valid.raw"), " valid text \n");
  write_text(dir.file("wiki.test.raw"), " test text \n");
  const TextCorpus corpus(
      {.train = dir.file("wiki.train.raw"), .valid = dir.file("wiki.valid.raw"), .test = dir.file("wiki.test.raw")});
  CHECK(corpus.explicit_splits());
  for (TextSplit split : kTextSplits) REQUIRE(corpus.documents(split).size() == 1);
  CHECK(corpus.joined(TextSplit::train) == " = Title = \n\n text with\n%\n a percent line \n");
  CHECK(corpus.joined(TextSplit::valid) == " valid text \n");
  CHECK(corpus.joined(TextSplit::test) == " test text \n");
  CHECK(corpus.documents(TextSplit::test)[0].source == dir.file("wiki.test.raw"));
  // The seed has no say over explicit splits.
  const TextCorpus seeded({.train = dir.file("wiki.train.raw"), .valid = dir.file("wiki.valid.raw"),
                           .test = dir.file("wiki.test.raw"), .seed = 9});
  for (TextSplit split : kTextSplits) CHECK(seeded.joined(split) == corpus.joined(split));

  // gzip-compressed files read as their decompressed text.
  const std::string raw = "compressed\n";
  write_gzip(dir.file("train.gz"), std::vector<uint8_t>(raw.begin(), raw.end()));
  const TextCorpus gz({.train = dir.file("train.gz"), .valid = dir.file("wiki.valid.raw"),
                       .test = dir.file("wiki.test.raw")});
  CHECK(gz.joined(TextSplit::train) == raw);
}

TEST_CASE("text_corpus: refusals are one line naming the path", "[data]") {
  TempDir dir("text_errors");
  const auto error = [](TextCorpusOptions o) { return error_of([&] { TextCorpus c(std::move(o)); }); };

  std::filesystem::create_directories(dir.path / "empty");
  CHECK_THAT(error({.path = dir.file("empty")}),
             Contains("text_corpus: '" + dir.file("empty") + "' holds no text (0 files read"));
  write_text(dir.file("blank/a"), " \n\n");
  write_text(dir.file("blank/b"), "%\n%\n");
  CHECK_THAT(error({.path = dir.file("blank")}),
             Contains("text_corpus: '" + dir.file("blank") + "' holds no text (2 files read, every document empty"));
  write_text(dir.file("two"), "one\n%\ntwo\n");
  CHECK_THAT(error({.path = dir.file("two")}),
             Contains("text_corpus: '" + dir.file("two") + "' holds 2 documents, expected at least 3"));

  CHECK_THAT(error({.path = dir.file("absent")}),
             Contains("text_corpus: cannot open '" + dir.file("absent") + "' (No such file or directory)"));
  write_text(dir.file("v"), "v\n");
  write_text(dir.file("t"), "t\n");
  CHECK_THAT(error({.train = dir.file("empty"), .valid = dir.file("v"), .test = dir.file("t")}),
             Contains("text_corpus: cannot open '" + dir.file("empty") + "' (Is a directory)"));
  CHECK_THAT(error({.train = dir.file("v"), .valid = dir.file("gone"), .test = dir.file("t")}),
             Contains("text_corpus: cannot open '" + dir.file("gone") + "' (No such file or directory)"));
  write_text(dir.file("e"), "");
  CHECK_THAT(error({.train = dir.file("v"), .valid = dir.file("v"), .test = dir.file("e")}),
             Contains("text_corpus: test file '" + dir.file("e") + "' holds no text"));
  if (::geteuid() != 0) {  // root reads any file, so permissions cannot make one unreadable
    write_text(dir.file("locked"), "x\n");
    std::filesystem::permissions(dir.file("locked"), std::filesystem::perms::none);
    CHECK_THAT(error({.path = dir.file("locked")}),
               Contains("text_corpus: cannot open '" + dir.file("locked") + "' (Permission denied)"));
  }

  CHECK_THAT(error({.train = dir.file("v"), .test = dir.file("t")}),
             Contains("need all three of train, valid and test; valid is missing"));
  CHECK_THAT(error({.path = dir.file("two"), .train = dir.file("v"), .valid = dir.file("v"), .test = dir.file("t")}),
             Contains("give either path"));
  CHECK_THAT(error({.path = dir.file("two"), .max_file_bytes = 4}),
             Contains("text_corpus: '" + dir.file("two") + "': holds more than 4 bytes"));
  for (const std::string& message : {error({.path = dir.file("absent")}), error({.path = dir.file("two")})})
    CHECK(message.find('\n') == std::string::npos);
}
