// data/idx.cpp — the IDX reader (MNIST family), plain and gzip.
#include "data/idx.h"

#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "data/file_io.h"

namespace raoq::data {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions (N, rows, cols)
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension (N)
// No MNIST-family file comes near this; a header that claims more is corrupt.
constexpr uint64_t kMaxPayloadBytes = uint64_t{1} << 40;

std::string hex8(uint32_t v) {
  char text[11];
  std::snprintf(text, sizeof text, "0x%08x", v);
  return text;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

struct IdxFile {
  std::vector<uint64_t> dims;
  std::vector<uint8_t> bytes;  // the payload after the header
};

std::string payload_text(const std::vector<uint64_t>& dims) {
  if (dims.size() == 1) return std::to_string(dims[0]) + " labels";
  return std::to_string(dims[0]) + " images of " + std::to_string(dims[1]) + "x" + std::to_string(dims[2]);
}

// Explains a wrong magic number: the usual mix-ups are images for labels and non-byte data.
std::string magic_error(const InputFile& in, uint32_t found, uint32_t expected, const char* kind) {
  std::string what = in.where() + "magic " + hex8(found) + " at byte 0, expected " + hex8(expected) + " (" + kind + ")";
  const uint32_t type = (found >> 8) & 0xff, ndims = found & 0xff;
  if ((found >> 16) != 0) return what + ": not an IDX file";
  if (type != 0x08) return what + ": data type byte " + hex8(type).substr(8) + ", expected 08 (unsigned byte)";
  return what + ": the header declares " + std::to_string(ndims) + " dimensions, expected " +
         std::to_string(expected & 0xff);
}

// Reads one IDX file whose magic must equal `magic`; the payload must be exactly as long as the
// dimensions say. Memory is bounded by what the file really holds (InputFile::read_into).
IdxFile read_idx(const std::string& path, uint32_t magic, const char* kind, const std::string& hint) {
  InputFile in("idx", path, hint);
  const std::string data = in.compressed() ? "decompressed data" : "file";
  uint8_t word[4];
  if (const uint64_t got = in.read(word, 4); got < 4)
    throw Error(in.where() + data + " holds " + std::to_string(got) + " bytes, expected at least 4 (the magic number)");
  if (be32(word) != magic) throw Error(magic_error(in, be32(word), magic, kind));

  IdxFile idx;
  const uint32_t ndims = magic & 0xff;
  const uint64_t header = 4 + 4 * uint64_t{ndims};
  uint64_t expected = 1;
  for (uint32_t k = 0; k < ndims; ++k) {
    if (in.read(word, 4) < 4)
      throw Error(in.where() + data + " ends at byte " + std::to_string(in.offset()) + " inside the header, expected " +
                  std::to_string(header) + " header bytes");
    const uint64_t dim = be32(word);
    if (dim == 0)
      throw Error(in.where() + "dimension " + std::to_string(k) + " at byte " + std::to_string(4 + 4 * k) +
                  " is 0, expected a positive size");
    if (expected > kMaxPayloadBytes / dim)
      throw Error(in.where() + "dimension " + std::to_string(k) + " at byte " + std::to_string(4 + 4 * k) +
                  " makes the payload larger than " + std::to_string(kMaxPayloadBytes) + " bytes (corrupt header?)");
    expected *= dim;
    idx.dims.push_back(dim);
  }
  // One byte past the declared end tells a file with trailing data from an exact one.
  in.read_into(idx.bytes, expected + 1);
  const std::string declared = std::to_string(header + expected) + " bytes (" + std::to_string(header) +
                               "-byte header + " + payload_text(idx.dims) + ")";
  if (idx.bytes.size() < expected)
    throw Error(in.where() + data + " ends at byte " + std::to_string(header + idx.bytes.size()) +
                ", expected " + declared + ": truncated");
  if (idx.bytes.size() > expected)
    throw Error(in.where() + data + " continues past byte " + std::to_string(header + expected) + ", expected exactly " +
                declared);
  return idx;
}

std::string pick(const std::string& dir, const std::string& file) {
  const std::filesystem::path plain = std::filesystem::path(dir) / file;
  const std::filesystem::path gz = std::filesystem::path(dir) / (file + ".gz");
  if (std::filesystem::exists(gz) || !std::filesystem::exists(plain)) return gz.string();
  return plain.string();
}

}  // namespace

std::shared_ptr<InMemoryDataset> load_idx(const std::string& images_path, const std::string& labels_path,
                                          const std::string& name, int64_t num_classes, const std::string& hint) {
  RAOQ_CHECK(num_classes > 0 && num_classes <= 256, "idx: num_classes must be in [1, 256] (labels are bytes), got ",
             num_classes);
  IdxFile images = read_idx(images_path, kImagesMagic, "IDX images: unsigned bytes, N x rows x cols", hint);
  const IdxFile labels = read_idx(labels_path, kLabelsMagic, "IDX labels: unsigned bytes, N", hint);
  if (images.dims[0] != labels.dims[0])
    throw Error("idx: '" + images_path + "' holds " + std::to_string(images.dims[0]) + " images but '" + labels_path +
                "' holds " + std::to_string(labels.dims[0]) + " labels, expected the same count");
  std::vector<int64_t> y(labels.bytes.size());
  for (size_t i = 0; i < y.size(); ++i) {
    y[i] = labels.bytes[i];
    if (y[i] >= num_classes)
      throw Error("idx: '" + labels_path + "': label " + std::to_string(y[i]) + " at byte " + std::to_string(8 + i) +
                  " (example " + std::to_string(i) + "), expected 0.." + std::to_string(num_classes - 1));
  }
  const Shape shape = {1, static_cast<int64_t>(images.dims[1]), static_cast<int64_t>(images.dims[2])};
  return std::make_shared<InMemoryDataset>(std::move(images.bytes), std::move(y), shape, num_classes, name);
}

std::shared_ptr<InMemoryDataset> load_mnist_family(const std::string& dir, Split split, const std::string& name,
                                                   const std::string& hint) {
  const std::string prefix = split == Split::train ? "train" : "t10k";
  return load_idx(pick(dir, prefix + "-images-idx3-ubyte"), pick(dir, prefix + "-labels-idx1-ubyte"),
                  name + (split == Split::train ? "/train" : "/test"), 10, hint);
}

std::shared_ptr<InMemoryDataset> load_fashion_mnist(Split split, const std::string& dir) {
  return load_mnist_family(dir, split, "fashion-mnist", kFashionMnistHint);
}

}  // namespace raoq::data
