// data/text_corpus.cpp — TextCorpus: reading files, "%" documents, the seeded 90/5/5 split.
#include "data/text_corpus.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"
#include "data/file_io.h"

namespace raoq::data {
namespace fs = std::filesystem;
namespace {

const char* kReader = "text_corpus";
constexpr double kValidFraction = 0.05;
constexpr double kTestFraction = 0.05;

bool is_blank(const std::string& text) {
  return text.find_first_not_of(" \t\n\r\f\v") == std::string::npos;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string hint_for(const std::string& path) { return path == kFortunesPath ? kFortunesHint : ""; }

size_t slot(TextSplit split) { return static_cast<size_t>(split); }

}  // namespace

const char* text_split_name(TextSplit split) {
  switch (split) {
    case TextSplit::train: return "train";
    case TextSplit::valid: return "valid";
    case TextSplit::test: return "test";
  }
  return "?";
}

// ---------------------------------------------------------------- files and documents

std::string read_text_file(const std::string& path, int64_t max_bytes, const std::string& hint) {
  RAOQ_CHECK(max_bytes > 0, "text_corpus: max_file_bytes must be positive, got ", max_bytes);
  InputFile in(kReader, path, hint);
  std::vector<uint8_t> bytes;
  // One byte past the limit tells a file at the limit from a larger one without reading it all.
  in.read_into(bytes, static_cast<uint64_t>(max_bytes) + 1);
  if (bytes.size() > static_cast<uint64_t>(max_bytes))
    throw Error(in.where() + "holds more than " + std::to_string(max_bytes) +
                " bytes, expected at most max_file_bytes = " + std::to_string(max_bytes));
  return std::string(bytes.begin(), bytes.end());
}

std::vector<DocumentSpan> split_documents(const std::string& text) {
  // Separator lines as [begin, end) byte ranges, "\n" included when present.
  std::vector<std::pair<size_t, size_t>> separators;
  for (size_t begin = 0; begin < text.size();) {
    size_t end = text.find('\n', begin);
    end = end == std::string::npos ? text.size() : end + 1;
    const std::string_view line(text.data() + begin, end - begin);
    if (line == "%" || line == "%\n" || line == "%\r\n" || line == "%\r") separators.emplace_back(begin, end);
    begin = end;
  }
  std::vector<DocumentSpan> out;
  const auto keep = [&](size_t begin, size_t end) {
    std::string doc = text.substr(begin, end - begin);
    if (!is_blank(doc)) out.push_back({static_cast<int64_t>(begin), std::move(doc)});
  };
  size_t begin = 0;
  for (const auto& [sep_begin, sep_end] : separators) {
    keep(begin, sep_begin);
    begin = sep_end;
  }
  keep(begin, text.size());
  return out;
}

std::vector<std::string> list_text_files(const std::string& folder) {
  std::error_code ec;
  fs::directory_iterator it(folder, ec);
  if (ec) throw_cannot_open(kReader, folder, ec.message(), hint_for(folder));
  std::vector<std::string> files;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) throw Error(std::string(kReader) + ": cannot list '" + folder + "' (" + ec.message() + ")");
    const fs::directory_entry& entry = *it;
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.' || ends_with(name, ".dat") || ends_with(name, ".u8")) continue;
    // Symlinks are skipped even when they point at a text file: in fortunes they are the .u8
    // twins, and following them elsewhere would read a file twice.
    if (entry.is_symlink(ec) || !entry.is_regular_file(ec)) continue;
    files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// ---------------------------------------------------------------- TextCorpus

TextCorpus::TextCorpus(TextCorpusOptions options) : options_(std::move(options)) {
  const TextCorpusOptions& o = options_;
  const int given = int{!o.train.empty()} + int{!o.valid.empty()} + int{!o.test.empty()};
  if (given > 0) {
    RAOQ_CHECK(o.path.empty(), "text_corpus: give either path ('", o.path,
               "') or train/valid/test files, not both");
    for (TextSplit split : kTextSplits) {
      const std::string& file = split == TextSplit::train ? o.train : split == TextSplit::valid ? o.valid : o.test;
      RAOQ_CHECK(!file.empty(), "text_corpus: explicit split files need all three of train, valid and test; ",
                 text_split_name(split), " is missing");
    }
    load_explicit();
  } else {
    load_and_split(o.path.empty() ? std::string(kFortunesPath) : o.path);
  }
}

void TextCorpus::load_explicit() {
  explicit_ = true;
  const std::array<const std::string*, 3> paths = {&options_.train, &options_.valid, &options_.test};
  for (TextSplit split : kTextSplits) {
    const std::string& path = *paths[slot(split)];
    std::string text = read_text_file(path, options_.max_file_bytes);
    if (is_blank(text))
      throw Error(std::string(kReader) + ": " + text_split_name(split) + " file '" + path +
                  "' holds no text (empty or whitespace only)");
    files_.push_back(path);
    splits_[slot(split)].push_back({static_cast<int64_t>(slot(split)), path, 0, std::move(text)});
  }
}

void TextCorpus::load_and_split(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) throw_cannot_open(kReader, path, std::strerror(ENOENT), hint_for(path));
  files_ = fs::is_directory(status) ? list_text_files(path) : std::vector<std::string>{path};

  std::vector<TextDocument> all;
  for (const std::string& file : files_) {
    for (DocumentSpan& span : split_documents(read_text_file(file, options_.max_file_bytes))) {
      const auto id = static_cast<int64_t>(all.size());
      all.push_back({id, file, span.offset, std::move(span.text)});
    }
  }
  const auto n = static_cast<int64_t>(all.size());
  if (n == 0)
    throw Error(std::string(kReader) + ": '" + path + "' holds no text (" + std::to_string(files_.size()) +
                " files read, every document empty or whitespace only; skipped: names ending .dat or .u8, " +
                "hidden files, symlinks, subfolders)");
  if (n < 3)
    throw Error(std::string(kReader) + ": '" + path + "' holds " + std::to_string(n) +
                " documents, expected at least 3 to split train/valid/test -- hint: separate documents with " +
                "'%' lines, or give train, valid and test files");

  const int64_t n_valid = std::max<int64_t>(1, std::llround(kValidFraction * static_cast<double>(n)));
  const int64_t n_test = std::max<int64_t>(1, std::llround(kTestFraction * static_cast<double>(n)));
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  Generator gen(options_.seed);
  // Fisher-Yates from the top, drawing j uniformly in [0, i] (as the image DataLoader does).
  for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[gen.below(i + 1)]);
  const auto first = order.begin();
  std::array<std::vector<int64_t>, 3> ids = {std::vector<int64_t>(first + n_valid + n_test, order.end()),
                                             std::vector<int64_t>(first, first + n_valid),
                                             std::vector<int64_t>(first + n_valid, first + n_valid + n_test)};
  for (TextSplit split : kTextSplits) {
    std::vector<int64_t>& chosen = ids[slot(split)];
    std::sort(chosen.begin(), chosen.end());  // corpus order within a split
    for (int64_t id : chosen) splits_[slot(split)].push_back(std::move(all[static_cast<size_t>(id)]));
  }
}

const std::vector<TextDocument>& TextCorpus::documents(TextSplit split) const { return splits_[slot(split)]; }

std::string TextCorpus::joined(TextSplit split) const {
  std::string out;
  out.reserve(static_cast<size_t>(bytes(split)));
  for (const TextDocument& doc : documents(split)) {
    if (!out.empty()) out += kDocumentSeparator;
    out += doc.text;
  }
  return out;
}

int64_t TextCorpus::bytes(TextSplit split) const {
  const std::vector<TextDocument>& docs = documents(split);
  int64_t total = docs.empty() ? 0 : static_cast<int64_t>(docs.size()) - 1;  // separators
  for (const TextDocument& doc : docs) total += static_cast<int64_t>(doc.text.size());
  return total;
}

int64_t TextCorpus::document_count() const {
  int64_t total = 0;
  for (const auto& docs : splits_) total += static_cast<int64_t>(docs.size());
  return total;
}

std::string TextCorpus::describe() const {
  std::string source = explicit_ ? "explicit splits" : "'" + (options_.path.empty() ? kFortunesPath : options_.path) + "'";
  std::string out = std::string(kReader) + " " + source + ": " + std::to_string(files_.size()) + " files, " +
                    std::to_string(document_count()) + " documents";
  for (TextSplit split : kTextSplits) {
    out += std::string(split == TextSplit::train ? "; " : ", ") + text_split_name(split) + " " +
           std::to_string(documents(split).size()) + " documents " + std::to_string(bytes(split)) + " bytes";
  }
  return out;
}

}  // namespace raoq::data
