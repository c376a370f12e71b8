// data/file_io.h — reading dataset files, plain or gzip-compressed, with bounded allocation.
//
// The dataset readers never allocate what a file's header merely claims: they read in chunks
// up to the size the header implies (plus one byte, to detect trailing data), so a corrupt or
// hostile header costs at most what the file actually holds. Every error is one line that names
// the reader ("idx", "cifar10", "image_folder"), the file, and what was expected.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace raoq::data {

// A file read sequentially through zlib's gzread, which reads plain files as they are and
// decompresses gzip ones, so "byte offsets" below are offsets in the decompressed stream.
class InputFile {
 public:
  // Opens `path` or throws "<reader>: cannot open '<path>' (<reason>)[ -- hint: <hint>]".
  InputFile(std::string reader, std::string path, const std::string& hint = "");
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  // Reads up to `bytes` bytes into out; returns how many were read (fewer only at the end of
  // the data). Throws on a read error or corrupt/truncated gzip data, naming the offset.
  uint64_t read(void* out, uint64_t bytes);
  // Appends up to `limit` bytes (fewer at the end of the data) to out, growing it chunk by chunk.
  uint64_t read_into(std::vector<uint8_t>& out, uint64_t limit);

  uint64_t offset() const { return offset_; }  // bytes read so far
  bool compressed() const { return compressed_; }
  const std::string& path() const { return path_; }
  // "<reader>: '<path>': " — the prefix of every error about this file.
  std::string where() const;

 private:
  std::string reader_, path_;
  void* gz_ = nullptr;  // gzFile
  uint64_t offset_ = 0;
  bool compressed_ = false;
};

// "<reader>: cannot open '<path>' (<reason>)" plus " -- hint: <hint>" when a hint is given.
[[noreturn]] void throw_cannot_open(const std::string& reader, const std::string& path, const std::string& reason,
                                    const std::string& hint);

}  // namespace raoq::data
