// tests/data/test_idx.cpp — the IDX reader on hand-made files (plain and gzip), every malformation,
// and the real Fashion-MNIST test set when Debian's package is installed.
#include <filesystem>
#include <numeric>

#include "data/idx.h"
#include "tests/data/data_testing.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::data;
using namespace raoq::data::testing;
using Catch::Matchers::Contains;

namespace {

// The sum of all 7,840,000 pixel bytes of t10k-images-idx3-ubyte (computed independently with
// Python's gzip module; mean pixel 0.2868): pins the decoded content, not just its shape.
constexpr uint64_t kFashionTestPixelSum = 573469082;

// n images of rows x cols whose pixel k (over the whole file) is (7k + 3) mod 256.
std::vector<uint8_t> idx_images(uint32_t n, uint32_t rows, uint32_t cols, uint32_t magic = 0x00000803) {
  std::vector<uint8_t> out;
  append_be32(out, magic);
  append_be32(out, n);
  append_be32(out, rows);
  append_be32(out, cols);
  for (uint64_t k = 0; k < uint64_t{n} * rows * cols; ++k) out.push_back(static_cast<uint8_t>((7 * k + 3) % 256));
  return out;
}

std::vector<uint8_t> idx_labels(const std::vector<uint8_t>& labels, uint32_t magic = 0x00000801) {
  std::vector<uint8_t> out;
  append_be32(out, magic);
  append_be32(out, static_cast<uint32_t>(labels.size()));
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

}  // namespace

TEST_CASE("idx: plain and gzip files read back exactly", "[data]") {
  TempDir dir("idx_ok");
  for (const bool gz : {false, true}) {
    INFO("gzip: " << gz);
    const std::string images = dir.file(gz ? "img.gz" : "img"), labels = dir.file(gz ? "lab.gz" : "lab");
    (gz ? write_gzip : write_bytes)(images, idx_images(3, 4, 5));
    (gz ? write_gzip : write_bytes)(labels, idx_labels({2, 0, 9}));
    const auto ds = load_idx(images, labels, "toy");
    REQUIRE(ds->size() == 3);
    CHECK(ds->image_shape() == Shape{1, 4, 5});
    CHECK(ds->num_classes() == 10);
    CHECK(ds->labels() == std::vector<int64_t>{2, 0, 9});
    CHECK(ds->describe() == "toy: 3 images [1, 4, 5], 10 classes");
    const Example second = ds->get(1);
    CHECK(second.label == 0);
    for (int64_t k = 0; k < 20; ++k) {
      const uint64_t file_pixel = 20 + static_cast<uint64_t>(k);
      REQUIRE(second.image.data()[k] == static_cast<float>((7 * file_pixel + 3) % 256) / 255.0f);
    }
  }
}

TEST_CASE("idx: MNIST-family folder names, .gz preferred", "[data]") {
  TempDir dir("idx_family");
  write_gzip(dir.file("train-images-idx3-ubyte.gz"), idx_images(2, 2, 2));
  write_gzip(dir.file("train-labels-idx1-ubyte.gz"), idx_labels({1, 2}));
  write_bytes(dir.file("train-images-idx3-ubyte"), idx_images(1, 2, 2));  // shadowed by the .gz
  write_bytes(dir.file("t10k-images-idx3-ubyte"), idx_images(1, 3, 3));
  write_bytes(dir.file("t10k-labels-idx1-ubyte"), idx_labels({4}));
  const auto train = load_mnist_family(dir.path.string(), Split::train, "mine");
  CHECK(train->size() == 2);
  CHECK(train->name() == "mine/train");
  const auto test = load_mnist_family(dir.path.string(), Split::test, "mine");
  CHECK(test->size() == 1);
  CHECK(test->image_shape() == Shape{1, 3, 3});
  CHECK(test->labels() == std::vector<int64_t>{4});
}

TEST_CASE("idx: each malformed file names the file, the offset and what was expected", "[data]") {
  TempDir dir("idx_bad");
  const std::string images = dir.file("images"), labels = dir.file("labels");
  const auto images_error = [&](const std::vector<uint8_t>& bytes, bool gz = false) {
    (gz ? write_gzip : write_bytes)(images, bytes);
    write_bytes(labels, idx_labels({1, 2, 3}));
    return error_of([&] { load_idx(images, labels, "bad"); });
  };
  const std::string at = "idx: '" + images + "': ";

  SECTION("labels file given as images") {
    CHECK_THAT(images_error(idx_labels({1, 2})),
               Contains(at + "magic 0x00000801 at byte 0, expected 0x00000803") &&
                   Contains("the header declares 1 dimensions, expected 3"));
  }
  SECTION("not an IDX file at all") {
    CHECK_THAT(images_error({0x89, 'P', 'N', 'G', 0, 0, 0, 0}), Contains(at + "magic 0x89504e47") && Contains("not an IDX file"));
  }
  SECTION("a non-byte data type") {
    CHECK_THAT(images_error(idx_images(3, 2, 2, 0x00000d03)), Contains("data type byte 0d, expected 08 (unsigned byte)"));
  }
  SECTION("empty file") { CHECK_THAT(images_error({}), Contains(at + "file holds 0 bytes, expected at least 4 (the magic number)")); }
  SECTION("header cut short") {
    std::vector<uint8_t> bytes = idx_images(3, 2, 2);
    bytes.resize(10);
    CHECK_THAT(images_error(bytes), Contains(at + "file ends at byte 10 inside the header, expected 16 header bytes"));
  }
  SECTION("zero-sized dimension") {
    CHECK_THAT(images_error(idx_images(3, 0, 2)), Contains(at + "dimension 1 at byte 8 is 0, expected a positive size"));
  }
  SECTION("absurd dimensions") {
    std::vector<uint8_t> bytes;
    for (uint32_t word : {0x00000803u, 0xffffffffu, 0xffffffffu, 0xffffffffu}) append_be32(bytes, word);
    CHECK_THAT(images_error(bytes), Contains(at + "dimension 1 at byte 8 makes the payload larger than"));
  }
  SECTION("pixel data truncated") {
    std::vector<uint8_t> bytes = idx_images(3, 2, 2);
    bytes.resize(bytes.size() - 5);
    CHECK_THAT(images_error(bytes),
               Contains(at + "file ends at byte 23, expected 28 bytes (16-byte header + 3 images of 2x2): truncated"));
  }
  SECTION("pixel data truncated inside a gzip file") {
    std::vector<uint8_t> bytes = idx_images(3, 2, 2);
    bytes.resize(bytes.size() - 5);
    CHECK_THAT(images_error(bytes, true), Contains(at + "decompressed data ends at byte 23, expected 28 bytes"));
  }
  SECTION("trailing bytes") {
    std::vector<uint8_t> bytes = idx_images(3, 2, 2);
    bytes.push_back(0);
    CHECK_THAT(images_error(bytes), Contains(at + "file continues past byte 28, expected exactly 28 bytes"));
  }
  SECTION("gzip stream cut short") {
    write_gzip(images, idx_images(300, 28, 28));
    std::vector<uint8_t> gz = read_bytes(images);
    gz.resize(gz.size() / 2);
    write_bytes(images, gz);
    write_bytes(labels, idx_labels(std::vector<uint8_t>(300, 1)));
    CHECK_THAT(error_of([&] { load_idx(images, labels, "bad"); }),
               Contains(at + "gzip data is corrupt or truncated at decompressed byte"));
  }
  SECTION("gzip checksum mismatch") {
    write_gzip(images, idx_images(3, 2, 2));
    std::vector<uint8_t> gz = read_bytes(images);
    gz[gz.size() - 8] ^= 0xff;  // the CRC-32 in the gzip trailer
    write_bytes(images, gz);
    CHECK_THAT(error_of([&] { load_idx(images, labels, "bad"); }), Contains("gzip data is corrupt or truncated") &&
                                                                       Contains("incorrect data check"));
  }
  SECTION("images and labels disagree in count") {
    write_bytes(images, idx_images(3, 2, 2));
    write_bytes(labels, idx_labels({1, 2}));
    CHECK_THAT(error_of([&] { load_idx(images, labels, "bad"); }),
               Contains("idx: '" + images + "' holds 3 images but '" + labels + "' holds 2 labels, expected the same count"));
  }
  SECTION("label out of range") {
    write_bytes(images, idx_images(3, 2, 2));
    write_bytes(labels, idx_labels({1, 10, 3}));
    CHECK_THAT(error_of([&] { load_idx(images, labels, "bad"); }),
               Contains("idx: '" + labels + "': label 10 at byte 9 (example 1), expected 0..9"));
    CHECK_NOTHROW(load_idx(images, labels, "eleven classes", 11));
  }
  SECTION("images file given as labels") {
    write_bytes(images, idx_images(3, 2, 2));
    write_bytes(labels, idx_images(3, 2, 2));
    CHECK_THAT(error_of([&] { load_idx(images, labels, "bad"); }),
               Contains("idx: '" + labels + "': magic 0x00000803 at byte 0, expected 0x00000801"));
  }
  SECTION("missing files carry the install hint") {
    const std::string missing = (dir.path / "nowhere").string();
    const std::string error = error_of([&] { load_fashion_mnist(Split::test, missing); });
    CHECK_THAT(error, Contains("idx: cannot open '" + missing + "/t10k-images-idx3-ubyte.gz' (No such file or directory)") &&
                          Contains("-- hint: apt-get install dataset-fashion-mnist"));
  }
}

TEST_CASE("idx: the real Fashion-MNIST test set", "[data]") {
  const std::string file = std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz";
  if (!std::filesystem::exists(file)) {
    WARN("skipped: " << file << " is absent (" << kFashionMnistHint << ")");
    return;
  }
  const auto test = load_fashion_mnist(Split::test);
  REQUIRE(test->size() == 10000);
  CHECK(test->image_shape() == Shape{1, 28, 28});
  CHECK(test->name() == "fashion-mnist/test");
  std::vector<int64_t> per_class(10, 0);
  for (int64_t label : test->labels()) {
    REQUIRE(label >= 0);
    REQUIRE(label < 10);
    ++per_class[static_cast<size_t>(label)];
  }
  CHECK(per_class == std::vector<int64_t>(10, 1000));  // the test set is balanced
  CHECK(test->labels()[0] == 9);                        // the first test image is an ankle boot
  const uint64_t pixel_sum = std::accumulate(test->pixels().begin(), test->pixels().end(), uint64_t{0});
  CHECK(pixel_sum == kFashionTestPixelSum);
}
