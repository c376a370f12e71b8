// data/text_corpus.h — a text corpus for language models: files, documents, train/valid/test.
//
// A corpus comes from one of three sources (TextCorpusOptions):
//   path = a file        its documents are split train/valid/test by seed
//   path = a folder      every plain text file directly inside it, the same way
//   train/valid/test     three files used as given, each taken whole as one document
//                        (WikiText-2's wiki.train.raw, wiki.valid.raw, wiki.test.raw)
// With none of them the corpus is Debian's fortunes folder (kFortunesPath).
//
// Folder contents: regular files directly in the folder, in sorted path order (so the split does
// not depend on the order the OS lists them). Skipped: names starting with '.', names ending in
// ".dat" or ".u8" (the fortunes index files and their UTF-8 twins, which are symlinks anyway),
// symlinks and subfolders (fortunes' off/). gzip-compressed files are read decompressed.
//
// Documents: a file with at least one line holding only "%" (a fortunes file; "%\r" counts too)
// is split at those lines, and each document keeps its own bytes exactly, final newline
// included. Any other file is one document. Documents holding only whitespace are dropped
// (fortunes files may start with a "%" line). Explicit split files are never split at "%".
//
// The split: all documents in corpus order (sorted files, then position in the file) are
// shuffled with Generator(seed); the first round(5% of n) go to valid, the next round(5% of n)
// to test and the rest to train, each at least 1 (so at least 3 documents are needed). Within
// a split, documents stay in corpus order. A split's text, joined(), is its documents
// concatenated in that order with kDocumentSeparator between neighbours.
//
// What it deliberately does not do: split at blank-line paragraphs, convert encodings or line
// endings, follow subfolders, or stream a corpus larger than memory.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace raoq::data {

enum class TextSplit { train, valid, test };
inline constexpr std::array<TextSplit, 3> kTextSplits = {TextSplit::train, TextSplit::valid, TextSplit::test};
const char* text_split_name(TextSplit split);  // "train", "valid", "test"

inline constexpr const char* kFortunesPath = "/usr/share/games/fortunes";
inline constexpr const char* kFortunesHint = "apt-get install fortunes";
// Written between neighbouring documents of a split (and so one newline token between them).
inline constexpr char kDocumentSeparator = '\n';

struct TextCorpusOptions {
  std::string path{};              // a file or a folder; "" with no split files: kFortunesPath
  std::string train{}, valid{}, test{};  // explicit split files: all three or none, and then no path
  uint64_t seed = 0;               // the document split (ignored with explicit split files)
  // A larger file is refused before it is read in full (memory follows what a file holds).
  int64_t max_file_bytes = int64_t{1} << 31;
};

struct TextDocument {
  int64_t id = 0;      // position among all documents of the corpus (corpus order)
  std::string source;  // the file it came from
  int64_t offset = 0;  // byte offset of its first byte in that (decompressed) file
  std::string text;    // its bytes, exactly as in the file
};

class TextCorpus {
 public:
  // Reads every file and splits; throws raoq::Error (one line naming the file or path) on an
  // unreadable file, an empty corpus, or too few documents to split.
  explicit TextCorpus(TextCorpusOptions options = {});

  const std::vector<TextDocument>& documents(TextSplit split) const;
  // The split's documents joined by kDocumentSeparator: the text a tokenizer encodes.
  std::string joined(TextSplit split) const;
  int64_t bytes(TextSplit split) const;          // joined(split).size()
  int64_t document_count() const;                // all splits together
  const std::vector<std::string>& files() const { return files_; }  // sorted; the read ones
  bool explicit_splits() const { return explicit_; }
  const TextCorpusOptions& options() const { return options_; }
  // One line for logs: "text_corpus '/usr/share/games/fortunes': 43 files, 15217 documents;
  // train 13695 documents 2296660 bytes, valid 761 documents 128259 bytes, test ...".
  std::string describe() const;

 private:
  void load_explicit();
  void load_and_split(const std::string& path);

  TextCorpusOptions options_;
  bool explicit_ = false;
  std::vector<std::string> files_;
  std::array<std::vector<TextDocument>, 3> splits_;  // indexed by TextSplit
};

// The documents of one file's bytes (the "%" rule above), each with its byte offset.
struct DocumentSpan {
  int64_t offset = 0;
  std::string text;
};
std::vector<DocumentSpan> split_documents(const std::string& text);

// The files a folder contributes (the folder rules above), sorted by path. Throws when the
// folder cannot be listed.
std::vector<std::string> list_text_files(const std::string& folder);

// A whole file's bytes (gzip decompressed), at most max_bytes. Throws "text_corpus: cannot open
// '<path>' (<errno text>)[ -- hint: ...]" or one line naming the file and its size.
std::string read_text_file(const std::string& path, int64_t max_bytes, const std::string& hint = "");

}  // namespace raoq::data
