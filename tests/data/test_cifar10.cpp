// tests/data/test_cifar10.cpp — the CIFAR-10 binary reader on hand-made batch files.
#include "data/cifar10.h"
#include "tests/data/data_testing.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::data;
using namespace raoq::data::testing;
using Catch::Matchers::Contains;

namespace {

// One record: label byte, then red, green and blue 32x32 planes; pixel k of record r is (r + 3k) mod 256.
std::vector<uint8_t> records(const std::vector<uint8_t>& labels, uint8_t first = 0) {
  std::vector<uint8_t> out;
  for (size_t r = 0; r < labels.size(); ++r) {
    out.push_back(labels[r]);
    for (uint32_t k = 0; k < 3072; ++k) out.push_back(static_cast<uint8_t>((first + r + 3 * k) % 256));
  }
  return out;
}

}  // namespace

TEST_CASE("cifar10: batch files concatenate into (3, 32, 32) examples", "[data]") {
  TempDir dir("cifar_ok");
  write_bytes(dir.file("a.bin"), records({3, 7}));
  write_gzip(dir.file("b.bin.gz"), records({9}, 2));  // gzip is read transparently
  const auto ds = load_cifar10_files({dir.file("a.bin"), dir.file("b.bin.gz")}, "toy");
  REQUIRE(ds->size() == 3);
  CHECK(ds->image_shape() == Shape{3, 32, 32});
  CHECK(ds->labels() == std::vector<int64_t>{3, 7, 9});
  const Example e = ds->get(1);
  // The record's planes are already (C, H, W): channel 1 (green), row 2, column 5 is byte 1024 + 69.
  const uint32_t k = 1024 + 2 * 32 + 5;
  CHECK(e.image.at({1, 2, 5}) == static_cast<float>((1 + 3 * k) % 256) / 255.0f);
  CHECK(ds->get(2).image.at({0, 0, 0}) == 2.0f / 255.0f);
}

TEST_CASE("cifar10: the standard folder layout", "[data]") {
  TempDir dir("cifar_dir");
  for (int b = 1; b <= 5; ++b) write_bytes(dir.file("data_batch_" + std::to_string(b) + ".bin"), records({uint8_t(b), 0}));
  write_bytes(dir.file("test_batch.bin"), records({5}));
  const auto train = load_cifar10(dir.path.string(), Split::train);
  CHECK(train->size() == 10);
  CHECK(train->labels() == std::vector<int64_t>{1, 0, 2, 0, 3, 0, 4, 0, 5, 0});
  CHECK(train->name() == "cifar10/train");
  const auto test = load_cifar10(dir.path.string(), Split::test);
  CHECK(test->labels() == std::vector<int64_t>{5});
}

TEST_CASE("cifar10: malformed files name the file, the record and what was expected", "[data]") {
  TempDir dir("cifar_bad");
  const std::string path = dir.file("batch.bin");
  const auto error = [&](const std::vector<uint8_t>& bytes) {
    write_bytes(path, bytes);
    return error_of([&] { load_cifar10_files({path}, "bad"); });
  };
  const std::string at = "cifar10: '" + path + "': ";
  std::vector<uint8_t> ragged = records({1, 2});
  ragged.resize(ragged.size() + 5);
  CHECK_THAT(error(ragged), Contains(at + "size 6151 bytes is not a positive multiple of 3073 (1 label byte + 3072 pixel "
                                          "bytes per record); the last record starts at byte 6146"));
  CHECK_THAT(error({}), Contains(at + "size 0 bytes is not a positive multiple of 3073"));
  CHECK_THAT(error(records({1, 10})), Contains(at + "record 1 (byte 3073): label 10, expected 0..9"));
  CHECK_THAT(error_of([&] { load_cifar10((dir.path / "absent").string(), Split::test); }),
             Contains("cifar10: cannot open '" + (dir.path / "absent" / "test_batch.bin").string() +
                      "' (No such file or directory) -- hint: download cifar-10-binary.tar.gz"));
  CHECK_THAT(error_of([&] { load_cifar10_files({}, "none"); }), Contains("no batch files given"));
}
