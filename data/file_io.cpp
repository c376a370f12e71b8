// data/file_io.cpp — InputFile over zlib's gz* API (plain and gzip files alike).
#include "data/file_io.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/json_fields.h"

namespace raoq::data {

void throw_cannot_open(const std::string& reader, const std::string& path, const std::string& reason,
                       const std::string& hint) {
  throw Error(reader + ": cannot open '" + printable(path) + "' (" + reason + ")" + (hint.empty() ? "" : " -- hint: " + hint));
}

InputFile::InputFile(std::string reader, std::string path, const std::string& hint)
    : reader_(std::move(reader)), path_(std::move(path)) {
  std::error_code ec;
  const auto status = std::filesystem::status(path_, ec);
  if (!std::filesystem::exists(status)) throw_cannot_open(reader_, path_, std::strerror(ENOENT), hint);
  if (std::filesystem::is_directory(status)) throw_cannot_open(reader_, path_, std::strerror(EISDIR), hint);
  errno = 0;
  gzFile gz = gzopen(path_.c_str(), "rb");
  if (gz == nullptr) throw_cannot_open(reader_, path_, errno ? std::strerror(errno) : "out of memory", hint);
  gz_ = gz;
  gzbuffer(gz, 1 << 17);
  compressed_ = gzdirect(gz) == 0;
}

InputFile::~InputFile() {
  if (gz_ != nullptr) gzclose_r(static_cast<gzFile>(gz_));
}

std::string InputFile::where() const { return reader_ + ": '" + printable(path_) + "': "; }

uint64_t InputFile::read(void* out, uint64_t bytes) {
  auto gz = static_cast<gzFile>(gz_);
  char* p = static_cast<char*>(out);
  uint64_t total = 0;
  while (total < bytes) {
    const auto chunk = static_cast<unsigned>(std::min<uint64_t>(bytes - total, 1u << 30));
    const int n = gzread(gz, p + total, chunk);
    if (n > 0) {
      total += static_cast<uint64_t>(n);
      offset_ += static_cast<uint64_t>(n);
      continue;
    }
    // n <= 0: the end of the data, or an error. zlib reports a gzip stream cut short as
    // Z_BUF_ERROR with a return of 0, so the error state is checked on every stop.
    int code = Z_OK;
    const char* message = gzerror(gz, &code);
    if (code == Z_ERRNO)
      throw Error(where() + "read error at byte " + std::to_string(offset_) + " (" + std::strerror(errno) + ")");
    if (code != Z_OK)
      throw Error(where() + "gzip data is corrupt or truncated at decompressed byte " + std::to_string(offset_) +
                  " (zlib: " + (message ? message : "unknown error") + ")");
    break;
  }
  return total;
}

uint64_t InputFile::read_into(std::vector<uint8_t>& out, uint64_t limit) {
  uint64_t total = 0;
  while (total < limit) {
    // Grow geometrically from 64 KiB, so memory (and the zero-filling of it) follows what the
    // file really holds: a small file costs a small buffer.
    const uint64_t chunk = std::min<uint64_t>(limit - total, std::max<uint64_t>(1u << 16, out.size()));
    const size_t old = out.size();
    out.resize(old + chunk);
    const uint64_t got = read(out.data() + old, chunk);
    out.resize(old + got);
    total += got;
    if (got < chunk) break;
  }
  return total;
}

}  // namespace raoq::data
