// core/safetensors.cpp — the safetensors writer (atomic) and the validating reader.
//
// The reader trusts nothing in the file: the header length is checked against a fixed limit and
// the file length before the header is read, and every tensor's byte range is checked against
// the data section before any tensor is allocated, so a corrupt or hostile file costs at most
// one bounded header allocation and one error line.
#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <cmath>
#include <set>

#include "core/error.h"
#include "core/json_fields.h"

namespace raoq {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; raoq writes tensor memory as is");

// The reference implementation refuses headers above 100 MB; a larger one is a corrupt length.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// I64 tensors (PyTorch's num_batches_tracked, say) travel through float: whole numbers up to 2^24
// are exact there, and anything larger is refused rather than rounded.
constexpr int64_t kExactInFloatInt = int64_t{1} << 24;
constexpr double kExactInFloat = static_cast<double>(kExactInFloatInt);

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error("safetensors: '" + path + "': " + what);
}

std::string errno_text() { return std::strerror(errno); }

// A short rendering of a JSON value for error messages (a hostile header can hold huge values).
std::string brief(const nlohmann::json& value) {
  std::string text = value.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

// Closes a file descriptor on every path out of a function.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// ---------------------------------------------------------------- writing

// Bytes per element of tensor i: 1 for the names written as I8, 8 for I64, else 4.
uint64_t element_bytes(const std::string& name, const std::set<std::string>& int8, const std::set<std::string>& int64) {
  return int8.count(name) ? 1 : int64.count(name) ? sizeof(int64_t) : sizeof(float);
}

// An integer-typed tensor must hold whole numbers in the dtype's range: nothing is rounded or wrapped.
void check_integers(const std::string& path, const std::string& name, const Tensor& t, const char* dtype, double lo,
                    double hi) {
  for (int64_t k = 0; k < t.numel(); ++k) {
    const float v = t.data()[k];
    if (!(v >= lo && v <= hi && v == std::nearbyint(v)))
      fail(path, "tensor '" + printable(name) + "' is written as " + dtype + " but element " + std::to_string(k) +
                     " is " + std::to_string(v) + ", expected an integer in [" + std::to_string(static_cast<int64_t>(lo)) +
                     ", " + std::to_string(static_cast<int64_t>(hi)) + "]");
  }
}

std::string build_header(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                         const std::map<std::string, std::string>& metadata, const std::set<std::string>& int8,
                         const std::set<std::string>& int64) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = std::move(meta);
  }
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, t] = tensors[i];
    if (!t.defined()) fail(path, "tensor '" + printable(name) + "' (entry " + std::to_string(i) + ") is undefined");
    if (name == "__metadata__") fail(path, "'__metadata__' is reserved and cannot name a tensor");
    if (!seen.insert(name).second) fail(path, "duplicate tensor name '" + printable(name) + "'");
    if (int8.count(name) && int64.count(name)) fail(path, "tensor '" + printable(name) + "' is asked for as both I8 and I64");
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * element_bytes(name, int8, int64);
    if (int8.count(name)) check_integers(path, name, t, "I8", -128.0, 127.0);
    if (int64.count(name)) check_integers(path, name, t, "I64", -kExactInFloat, kExactInFloat);
    const char* dtype = int8.count(name) ? "I8" : int64.count(name) ? "I64" : "F32";
    header[name] = {{"dtype", dtype}, {"shape", t.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::type_error& e) {
    fail(path, std::string("a tensor name or metadata entry is not valid UTF-8 (") + e.what() + ")");
  }
  // Pad with spaces (allowed by the format) so the data section starts 8-byte aligned.
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');
  return text;
}

// Fault injection, for the tests that prove a crash during a checkpoint write loses nothing:
// with RAOQ_FAULT_KILL_IN_WRITE=N in the environment, the N-th file this process writes through
// save_safetensors (counting from 1) gets half of its bytes into the temporary file, and then
// the process kills itself with SIGKILL, as a crash or a power cut mid-write would.
uint64_t fault_kill_at(uint64_t write_number, uint64_t total_bytes) {
  const char* v = std::getenv("RAOQ_FAULT_KILL_IN_WRITE");
  if (v == nullptr) return std::numeric_limits<uint64_t>::max();
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  return end != v && *end == '\0' && n == write_number ? total_bytes / 2 : std::numeric_limits<uint64_t>::max();
}

void write_all(int fd, const void* data, uint64_t bytes, const std::string& tmp) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(bytes, 1u << 30));
    const ssize_t n = ::write(fd, p, chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error("safetensors: cannot write '" + tmp + "' (" + errno_text() + ")");
    p += n;
    bytes -= static_cast<uint64_t>(n);
  }
}

// Makes the rename itself durable. Best effort: some file systems refuse fsync on a directory,
// and by then the complete file is already in place under its final name.
void sync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

// ---------------------------------------------------------------- reading

void read_at(int fd, void* out, uint64_t bytes, uint64_t offset, const std::string& path) {
  char* p = static_cast<char*>(out);
  while (bytes > 0) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(bytes, 1u << 30));
    const ssize_t n = ::pread(fd, p, chunk, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(path, "read error at byte " + std::to_string(offset) + " (" + errno_text() + ")");
    if (n == 0) fail(path, "file ended at byte " + std::to_string(offset) + " while reading (was it truncated?)");
    p += n;
    bytes -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
}

// Parses the header, remembering the first key that repeats inside any one object (nlohmann
// itself silently keeps the last duplicate, which would hide a second tensor of the same name).
nlohmann::json parse_header(const std::string& path, const std::string& text) {
  std::vector<std::set<std::string>> open_objects;
  std::string top_key, duplicate, duplicate_in;
  const nlohmann::json::parser_callback_t track = [&](int depth, nlohmann::json::parse_event_t event,
                                                     nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    // A header nested deeper than any safetensors file would be would make later copies and
    // messages recurse that deep.
    if ((event == Event::object_start || event == Event::array_start) && depth >= kMaxJsonDepth)
      fail(path, "header nests deeper than " + std::to_string(kMaxJsonDepth) + " levels, expected at most " +
                     std::to_string(kMaxJsonDepth) + " (a safetensors header nests 3)");
    if (event == Event::object_start) open_objects.emplace_back();
    if (event == Event::object_end && !open_objects.empty()) open_objects.pop_back();
    if (event == Event::key && !open_objects.empty()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (depth == 1) top_key = key;
      if (!open_objects.back().insert(key).second && duplicate.empty()) {
        duplicate = key;
        duplicate_in = depth == 1 ? "" : top_key;
      }
    }
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text, track);
  } catch (const nlohmann::json::parse_error& e) {
    const uint64_t at = 8 + (e.byte > 0 ? e.byte - 1 : 0);
    std::string why = e.what();
    if (const auto p = why.find("] "); p != std::string::npos) why = why.substr(p + 2);
    fail(path, "header is not valid JSON (near byte " + std::to_string(at) + ": " + why + ")");
  } catch (const nlohmann::json::exception& e) {
    // 406: a number such as 1e400 that overflows a double (found by tests/fuzz/fuzz_safetensors).
    std::string why = e.what();
    if (const auto p = why.find("] "); p != std::string::npos) why = why.substr(p + 2);
    if (why.size() > 80) why = why.substr(0, 77) + "...";
    fail(path, "header cannot be held as JSON values (" + why + "), expected shapes and offsets that fit 64-bit integers");
  }
  if (!header.is_object()) fail(path, std::string("header is JSON of type ") + header.type_name() + ", expected an object");
  if (!duplicate.empty() && duplicate_in.empty()) fail(path, "duplicate tensor name '" + printable(duplicate) + "' in the header");
  if (!duplicate.empty()) fail(path, "duplicate key '" + printable(duplicate) + "' inside '" + printable(duplicate_in) + "'");
  return header;
}

std::map<std::string, std::string> parse_metadata(const std::string& path, const nlohmann::json& value) {
  if (!value.is_object()) fail(path, std::string("'__metadata__' is of type ") + value.type_name() + ", expected an object of strings");
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string())
      fail(path, "'__metadata__' key '" + printable(key) + "' holds a value of type " + item.type_name() + ", expected a string");
    metadata[key] = item.get<std::string>();
  }
  return metadata;
}

struct Entry {
  std::string name;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte range inside the data section
  std::string dtype;            // F32, I8, I64 (each value exact in float), F16, BF16, F64 (read into float)
  uint64_t elem = 4;            // bytes per element
};

// Bytes per element of the dtypes read; 0: a dtype raoq does not read.
uint64_t dtype_bytes(const std::string& type) {
  if (type == "F32") return 4;
  if (type == "I8") return 1;
  if (type == "I64" || type == "F64") return 8;
  if (type == "F16" || type == "BF16") return 2;
  return 0;
}

// IEEE 754 binary16 (1 sign, 5 exponent, 10 fraction bits) to float: every value, subnormals and
// infinities included, is exact in float.
float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, frac = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (frac << 13);  // inf or NaN
  } else if (exp != 0) {
    bits = sign | ((exp + 127 - 15) << 23) | (frac << 13);
  } else {  // zero or subnormal: frac * 2^-24
    const float v = std::ldexp(static_cast<float>(frac), -24);
    return sign ? -v : v;
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// bfloat16 is the upper half of a float's bits.
float bfloat16_to_float(uint16_t b) {
  const uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Validates one tensor's header entry against the data section's size (data_size bytes).
Entry parse_entry(const std::string& path, const std::string& name, const nlohmann::json& value, uint64_t data_size) {
  const std::string where = "tensor '" + printable(name) + "': ";  // names come from the file
  if (!value.is_object()) fail(path, where + "entry is of type " + std::string(value.type_name()) + ", expected an object with dtype, shape, data_offsets");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!value.contains(key)) fail(path, where + "missing '" + key + "'");

  const auto& dtype = value["dtype"];
  if (!dtype.is_string()) fail(path, where + "dtype " + brief(dtype) + " is not a string, expected \"F32\", \"F16\", \"BF16\", \"F64\", \"I8\" or \"I64\"");
  const std::string type = dtype.get<std::string>();
  const uint64_t elem = dtype_bytes(type);
  if (elem == 0) fail(path, where + "dtype " + printable(type) + ", expected F32, F16, BF16, F64, I8 or I64");

  Entry e{name, {}, 0, 0, type, elem};
  const auto& shape = value["shape"];
  if (!shape.is_array()) fail(path, where + "shape " + brief(shape) + " is not an array, expected [d0, d1, ...]");
  uint64_t numel = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    const auto& d = shape[i];
    const std::string entry = where + "shape entry " + std::to_string(i) + " is " + brief(d);
    if (!d.is_number_integer()) fail(path, entry + ", expected a non-negative integer");
    if (!d.is_number_unsigned()) fail(path, entry + ", expected a non-negative integer (dimensions cannot be negative)");
    const uint64_t dim = d.get<uint64_t>();
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / elem / dim))
      fail(path, where + "shape " + brief(shape) + " has more elements than a 64-bit byte count can hold");
    numel *= dim;
    e.shape.push_back(static_cast<int64_t>(dim));
  }

  const auto& offsets = value["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
    fail(path, where + "data_offsets " + brief(offsets) + ", expected [begin, end] with non-negative integers");
  e.begin = offsets[0].get<uint64_t>();
  e.end = offsets[1].get<uint64_t>();
  const std::string range = "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
  if (e.begin > e.end) fail(path, where + range + ": begin is after end, expected [begin, end] with begin <= end");
  if (e.end > data_size)
    fail(path, where + range + " run past the data section, which holds " + std::to_string(data_size) + " bytes");
  if (e.end - e.begin != numel * elem)
    fail(path, where + range + " hold " + std::to_string(e.end - e.begin) + " bytes, expected " +
                   std::to_string(numel * elem) + " (" + std::to_string(elem) + " * " + std::to_string(numel) +
                   " elements of shape " + shape_str(e.shape) + ")");
  return e;
}

// The tensors must tile the data section exactly: sorted by offset, each starts where the
// previous one ended, and the last ends at the end of the file.
void check_layout(const std::string& path, std::vector<Entry>& entries, uint64_t data_start, uint64_t data_size) {
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  uint64_t cursor = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < cursor)
      fail(path, "tensor '" + printable(e.name) + "': data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                     "] overlap tensor '" + printable(previous->name) + "' [" + std::to_string(previous->begin) + ", " +
                     std::to_string(previous->end) + "]");
    if (e.begin > cursor)
      fail(path, "bytes [" + std::to_string(cursor) + ", " + std::to_string(e.begin) + ") of the data section (file byte " +
                     std::to_string(data_start + cursor) + ") belong to no tensor, expected tensors to cover it contiguously");
    cursor = e.end;
    previous = &e;
  }
  if (cursor != data_size)
    fail(path, "the data section holds " + std::to_string(data_size) + " bytes but the tensors cover " + std::to_string(cursor) +
                   " (unclaimed bytes from file byte " + std::to_string(data_start + cursor) + ")");
}

}  // namespace

const Tensor& SafetensorsFile::at(const std::string& name) const {
  for (const auto& [key, t] : tensors)
    if (key == name) return t;
  std::string names;
  for (const auto& [key, t] : tensors) names += (names.empty() ? "" : ", ") + printable(key);
  if (names.size() > 400) names = names.substr(0, 397) + "...";
  throw Error("safetensors: no tensor '" + printable(name) + "' (the file holds: " + (names.empty() ? "none" : names) + ")");
}

bool SafetensorsFile::contains(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(), [&](const auto& entry) { return entry.first == name; });
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata, const std::set<std::string>& int8,
                      const std::set<std::string>& int64) {
  const std::string header = build_header(path, tensors, metadata, int8, int64);
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(static_cast<uint64_t>(header.size()) >> (8 * i));

  static std::atomic<uint64_t> counter{0};
  const uint64_t number = counter++;
  const std::filesystem::path target(path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(number);
  Fd out;
  out.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (out.fd < 0) fail(path, "cannot create temporary file '" + tmp + "' (" + errno_text() + ")");
  uint64_t total = sizeof length + header.size();
  for (const auto& [name, t] : tensors) total += static_cast<uint64_t>(t.numel()) * element_bytes(name, int8, int64);
  const uint64_t kill_at = fault_kill_at(number + 1, total);
  uint64_t written = 0;
  const auto put = [&](const void* data, uint64_t bytes) {
    if (written + bytes > kill_at) {
      write_all(out.fd, data, kill_at - written, tmp);
      ::kill(::getpid(), SIGKILL);
    }
    write_all(out.fd, data, bytes, tmp);
    written += bytes;
  };
  try {
    put(length, sizeof length);
    put(header.data(), header.size());
    for (const auto& [name, t] : tensors) {
      if (int64.count(name)) {
        std::vector<int64_t> words(static_cast<size_t>(t.numel()));
        for (size_t k = 0; k < words.size(); ++k) words[k] = static_cast<int64_t>(t.data()[k]);  // checked integral above
        put(words.data(), words.size() * sizeof(int64_t));
        continue;
      }
      if (!int8.count(name)) {
        put(t.data(), static_cast<uint64_t>(t.numel()) * sizeof(float));
        continue;
      }
      std::vector<int8_t> bytes(static_cast<size_t>(t.numel()));
      for (size_t k = 0; k < bytes.size(); ++k) bytes[k] = static_cast<int8_t>(t.data()[k]);  // checked integral above
      put(bytes.data(), bytes.size());
    }
    if (::fsync(out.fd) != 0) throw Error("safetensors: cannot fsync '" + tmp + "' (" + errno_text() + ")");
    const int fd = out.fd;
    out.fd = -1;
    if (::close(fd) != 0) throw Error("safetensors: cannot close '" + tmp + "' (" + errno_text() + ")");
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      throw Error("safetensors: cannot rename '" + tmp + "' to '" + path + "' (" + errno_text() + ")");
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  sync_directory(target.has_parent_path() ? target.parent_path() : std::filesystem::path("."));
}

SafetensorsFile load_safetensors(const std::string& path, const std::set<std::string>& int64_counters) {
  Fd in;
  in.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in.fd < 0) fail(path, "cannot open (" + errno_text() + ")");
  struct stat st {};
  if (::fstat(in.fd, &st) != 0) fail(path, "cannot stat (" + errno_text() + ")");
  if (S_ISDIR(st.st_mode)) fail(path, "is a directory, expected a safetensors file");
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file, expected a safetensors file");
  const auto file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8)
    fail(path, "file holds " + std::to_string(file_size) + " bytes, expected at least 8 (the header length)");

  uint8_t length[8];
  read_at(in.fd, length, sizeof length, 0, path);
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= static_cast<uint64_t>(length[i]) << (8 * i);
  if (header_size > kMaxHeaderBytes)
    fail(path, "header length " + std::to_string(header_size) + " at byte 0 is absurd, expected at most " +
                   std::to_string(kMaxHeaderBytes));
  if (header_size > file_size - 8)
    fail(path, "header length " + std::to_string(header_size) + " at byte 0 runs past the end of the file (" +
                   std::to_string(file_size) + " bytes), expected at most " + std::to_string(file_size - 8));

  std::string text(header_size, '\0');
  read_at(in.fd, text.data(), header_size, 8, path);
  const nlohmann::json header = parse_header(path, text);

  SafetensorsFile file;
  const uint64_t data_start = 8 + header_size;
  const uint64_t data_size = file_size - data_start;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__")
      file.metadata = parse_metadata(path, value);
    else
      entries.push_back(parse_entry(path, key, value, data_size));
  }
  check_layout(path, entries, data_start, data_size);

  // Only now, with every byte range checked against the file, are the tensors allocated.
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape);
    if (e.dtype == "F16" || e.dtype == "BF16") {
      std::vector<uint16_t> halves(static_cast<size_t>((e.end - e.begin) / 2));
      read_at(in.fd, halves.data(), halves.size() * 2, data_start + e.begin, path);
      for (size_t k = 0; k < halves.size(); ++k)
        t.data()[k] = e.dtype == "F16" ? half_to_float(halves[k]) : bfloat16_to_float(halves[k]);
    } else if (e.dtype == "F64") {
      std::vector<double> words(static_cast<size_t>((e.end - e.begin) / sizeof(double)));
      read_at(in.fd, words.data(), words.size() * sizeof(double), data_start + e.begin, path);
      for (size_t k = 0; k < words.size(); ++k) {
        // Rounded to the nearest float (exact when the value is one); beyond float's range it is refused.
        if (std::isfinite(words[k]) && std::fabs(words[k]) > double(std::numeric_limits<float>::max()))
          fail(path, "tensor '" + printable(e.name) + "': F64 element " + std::to_string(k) + " is " +
                         std::to_string(words[k]) + ", beyond the range of a float tensor (|v| <= 3.4e38)");
        t.data()[k] = static_cast<float>(words[k]);
      }
    } else if (e.dtype == "I8") {
      std::vector<int8_t> bytes(static_cast<size_t>(e.end - e.begin));
      read_at(in.fd, bytes.data(), bytes.size(), data_start + e.begin, path);
      for (size_t k = 0; k < bytes.size(); ++k) t.data()[k] = bytes[k];
    } else if (e.dtype == "I64") {
      std::vector<int64_t> words(static_cast<size_t>((e.end - e.begin) / sizeof(int64_t)));
      read_at(in.fd, words.data(), words.size() * sizeof(int64_t), data_start + e.begin, path);
      const bool counter = int64_counters.count(e.name) > 0;  // rounded, not refused
      for (size_t k = 0; k < words.size(); ++k) {
        if (!counter && (words[k] < -kExactInFloatInt || words[k] > kExactInFloatInt))
          fail(path, "tensor '" + printable(e.name) + "': I64 element " + std::to_string(k) + " is " +
                         std::to_string(words[k]) + ", which a float tensor cannot hold exactly (|v| <= 2^24)");
        t.data()[k] = static_cast<float>(words[k]);
      }
    } else {
      read_at(in.fd, t.data(), e.end - e.begin, data_start + e.begin, path);
    }
    t.set_name(e.name);
    file.tensors.emplace_back(e.name, t);
  }
  return file;
}

}  // namespace raoq
