// data/cifar10.cpp — the CIFAR-10 binary batch reader.
#include "data/cifar10.h"

#include <filesystem>

#include "core/error.h"
#include "data/file_io.h"

namespace raoq::data {
namespace {

constexpr uint64_t kPixels = 3 * 32 * 32;
constexpr uint64_t kRecord = 1 + kPixels;
constexpr int64_t kClasses = 10;
// The official batches hold 10000 records (30.7 MB); anything past 1 GiB is not a batch file.
constexpr uint64_t kMaxFileBytes = uint64_t{1} << 30;

// Appends one batch file's records to pixels (N, 3, 32, 32) and labels (N).
void read_batch(const std::string& path, const std::string& hint, std::vector<uint8_t>& pixels,
                std::vector<int64_t>& labels) {
  InputFile in("cifar10", path, hint);
  std::vector<uint8_t> bytes;
  in.read_into(bytes, kMaxFileBytes + 1);
  const std::string size = std::to_string(bytes.size()) + (in.compressed() ? " decompressed bytes" : " bytes");
  if (bytes.size() > kMaxFileBytes)
    throw Error(in.where() + "holds more than " + std::to_string(kMaxFileBytes) + " bytes, expected a batch file of " +
                std::to_string(kRecord) + "-byte records");
  if (bytes.empty() || bytes.size() % kRecord != 0)
    throw Error(in.where() + "size " + size + " is not a positive multiple of " + std::to_string(kRecord) +
                " (1 label byte + 3072 pixel bytes per record)" +
                (bytes.empty() ? "" : "; the last record starts at byte " + std::to_string(bytes.size() / kRecord * kRecord)));
  const uint64_t records = bytes.size() / kRecord;
  pixels.reserve(pixels.size() + records * kPixels);
  for (uint64_t r = 0; r < records; ++r) {
    const uint8_t* record = bytes.data() + r * kRecord;
    if (record[0] >= kClasses)
      throw Error(in.where() + "record " + std::to_string(r) + " (byte " + std::to_string(r * kRecord) + "): label " +
                  std::to_string(record[0]) + ", expected 0..9");
    labels.push_back(record[0]);
    pixels.insert(pixels.end(), record + 1, record + kRecord);
  }
}

}  // namespace

std::shared_ptr<InMemoryDataset> load_cifar10_files(const std::vector<std::string>& paths, const std::string& name) {
  RAOQ_CHECK(!paths.empty(), "cifar10: no batch files given for '", name, "'");
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  for (const std::string& path : paths) read_batch(path, kCifar10Hint, pixels, labels);
  return std::make_shared<InMemoryDataset>(std::move(pixels), std::move(labels), Shape{3, 32, 32}, kClasses, name);
}

std::shared_ptr<InMemoryDataset> load_cifar10(const std::string& dir, Split split) {
  std::vector<std::string> paths;
  const std::filesystem::path root(dir);
  if (split == Split::train) {
    for (int k = 1; k <= 5; ++k) paths.push_back((root / ("data_batch_" + std::to_string(k) + ".bin")).string());
  } else {
    paths.push_back((root / "test_batch.bin").string());
  }
  return load_cifar10_files(paths, split == Split::train ? "cifar10/train" : "cifar10/test");
}

}  // namespace raoq::data
