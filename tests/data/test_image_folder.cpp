// tests/data/test_image_folder.cpp — the image-folder dataset: layout, exact pixels, bilinear
// resize by hand-computed values, crops, and every refusal (empty folders, unreadable or
// oversized images). Images are written with stb_image_write (static, local to this test).
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb_image_write.h>

#include <set>

#include "core/rng.h"
#include "data/image_folder.h"
#include "tests/data/data_testing.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::data;
using namespace raoq::data::testing;
using Catch::Matchers::Contains;

namespace {

// An h x w RGB image, (h, w, 3) bytes, pixel (y, x, c) = 40 y + 10 x + c + seed.
std::vector<uint8_t> gradient(int h, int w, int seed = 0) {
  std::vector<uint8_t> px(static_cast<size_t>(h * w * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) px[static_cast<size_t>((y * w + x) * 3 + c)] = static_cast<uint8_t>(40 * y + 10 * x + c + seed);
  return px;
}

void write_png(const std::string& path, int h, int w, const std::vector<uint8_t>& px) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  REQUIRE(stbi_write_png(path.c_str(), w, h, 3, px.data(), w * 3) != 0);
}

void write_bmp(const std::string& path, int h, int w, const std::vector<uint8_t>& px) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  REQUIRE(stbi_write_bmp(path.c_str(), w, h, 3, px.data()) != 0);
}

void write_jpg(const std::string& path, int h, int w, const std::vector<uint8_t>& px) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  REQUIRE(stbi_write_jpg(path.c_str(), w, h, 3, px.data(), 95) != 0);
}

// The first 33 bytes of a PNG: signature and an IHDR chunk declaring w x h RGB, with its CRC.
std::vector<uint8_t> png_header(uint32_t w, uint32_t h) {
  std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  append_be32(out, 13);
  out.insert(out.end(), {'I', 'H', 'D', 'R'});
  append_be32(out, w);
  append_be32(out, h);
  out.insert(out.end(), {8, 2, 0, 0, 0});
  append_be32(out, static_cast<uint32_t>(crc32(0, out.data() + 12, 17)));
  return out;
}

}  // namespace

TEST_CASE("image_folder: classes, order and exact pixels of lossless files", "[data]") {
  TempDir dir("imgf_ok");
  const std::string root = dir.path.string();
  write_png(dir.file("cat/b.png"), 4, 4, gradient(4, 4, 1));
  write_bmp(dir.file("cat/a.BMP"), 4, 4, gradient(4, 4, 2));
  write_jpg(dir.file("dog/c.jpg"), 4, 4, gradient(4, 4, 3));
  write_bytes(dir.file("dog/notes.txt"), {'h', 'i'});  // not an image: ignored
  write_bytes(dir.file("README"), {'x'});              // a file beside the class folders: ignored
  ImageFolderOptions options;
  options.size = 4;
  const ImageFolder ds(root, options);
  REQUIRE(ds.size() == 3);
  CHECK(ds.classes() == std::vector<std::string>{"cat", "dog"});
  CHECK(ds.path(0) == dir.file("cat/a.BMP"));
  CHECK(ds.path(1) == dir.file("cat/b.png"));
  CHECK(ds.label(1) == 0);
  CHECK(ds.label(2) == 1);
  CHECK(ds.image_shape() == Shape{3, 4, 4});
  for (int64_t i = 0; i < 2; ++i) {
    const Example e = ds.get(i);
    CHECK(e.label == 0);
    const int seed = i == 0 ? 2 : 1;
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 4; ++y)
        for (int64_t x = 0; x < 4; ++x) REQUIRE(e.image.at({c, y, x}) == static_cast<float>(40 * y + 10 * x + c + seed) / 255.0f);
  }
  // JPEG is lossy: close, not exact (quality 95 on a smooth gradient).
  const Example jpg = ds.get(2);
  CHECK(jpg.label == 1);
  CHECK(std::abs(jpg.image.at({0, 1, 1}) - 53.0f / 255.0f) < 0.05f);

  ImageFolderOptions grey = options;
  grey.channels = 1;
  CHECK(ImageFolder(root, grey).get(0).image.shape() == Shape{1, 4, 4});
}

TEST_CASE("image_folder: bilinear resize with half-pixel centres, by hand", "[data]") {
  // One row [0, 100] upscaled to width 4: source x = (x + 0.5) / 2 - 0.5 = -0.25 (clamped to 0),
  // 0.25, 0.75, 1.25 (clamped to 1) -> 0, 25, 75, 100.
  const std::vector<uint8_t> row = {0, 100};
  std::vector<float> up(4);
  resize_crop(row.data(), 1, 2, 1, 1, 4, 0, 0, 1, 4, up.data());
  CHECK(up == std::vector<float>{0.0f, 25.0f / 255, 75.0f / 255, 100.0f / 255});
  // [0, 10, 20, 30] down to width 2: source x = 0.5 and 2.5 -> 5 and 25.
  const std::vector<uint8_t> wide = {0, 10, 20, 30};
  std::vector<float> down(2);
  resize_crop(wide.data(), 1, 4, 1, 1, 2, 0, 0, 1, 2, down.data());
  CHECK(down == std::vector<float>{5.0f / 255, 25.0f / 255});
  // A 2x2 image to 4x4, then the window rows 1..2, column 2: interpolation in both axes.
  const std::vector<uint8_t> square = {0, 100, 200, 40};  // (2, 2) single channel
  std::vector<float> window(2);
  resize_crop(square.data(), 2, 2, 1, 4, 4, 1, 2, 2, 1, window.data());
  // Row 1 -> y 0.25, column 2 -> x 0.75: top 0 + 0.75*100 = 75, bottom 200 + 0.75*(40-200) = 80,
  // 75 + 0.25*(80-75) = 76.25. Row 2 -> y 0.75: 75 + 0.75*5 = 78.75.
  CHECK(window[0] == Approx(76.25f / 255).epsilon(1e-6));
  CHECK(window[1] == Approx(78.75f / 255).epsilon(1e-6));
  CHECK_THROWS_WITH(resize_crop(square.data(), 2, 2, 1, 4, 4, 3, 0, 2, 2, window.data()), Contains("does not fit"));
}

TEST_CASE("image_folder: shorter side resized, then centre or random crop", "[data]") {
  TempDir dir("imgf_crop");
  write_png(dir.file("only/wide.png"), 2, 6, gradient(2, 6));
  ImageFolderOptions options;
  options.size = 2;  // shorter side 2 already: the long side stays 6 and scales by exactly 1
  const ImageFolder centre(dir.path.string(), options);
  const Example e = centre.get(0);
  for (int64_t x = 0; x < 2; ++x) CHECK(e.image.at({0, 1, x}) == static_cast<float>(40 + 10 * (x + 2)) / 255.0f);

  options.crop = CropMode::random;
  const ImageFolder random(dir.path.string(), options);
  CHECK(random.get(0).image.to_vector() == e.image.to_vector());  // no generator: centre crop
  std::set<float> lefts;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    Generator gen(seed);
    const Example r = random.get(0, gen);
    const float left_column = r.image.at({0, 0, 0}) * 255.0f / 10.0f;  // pixel value 10 x at row 0
    lefts.insert(std::round(left_column));
    Generator same(seed);
    REQUIRE(random.get(0, same).image.to_vector() == r.image.to_vector());
  }
  CHECK(lefts == std::set<float>{0, 1, 2, 3, 4});  // every window of width 2 in 6 columns

  options.crop = CropMode::center;
  options.size = 1;
  options.resize = 2;
  CHECK(ImageFolder(dir.path.string(), options).get(0).image.shape() == Shape{3, 1, 1});
  options.resize = 0;
  options.size = 3;  // shorter side 2 -> 3 upscales the 6 columns to 9
  CHECK(ImageFolder(dir.path.string(), options).get(0).image.shape() == Shape{3, 3, 3});
}

TEST_CASE("image_folder: every refusal names the folder or file", "[data]") {
  TempDir dir("imgf_bad");
  const std::string root = dir.path.string();
  ImageFolderOptions options;
  options.size = 4;
  const auto error = [&] { return error_of([&] { ImageFolder ds(root, options); }); };

  SECTION("missing root") {
    CHECK_THAT(error_of([&] { ImageFolder ds(dir.file("absent"), options); }),
               Contains("image_folder: cannot open '" + dir.file("absent") + "' (No such file or directory)"));
  }
  SECTION("no class folders") {
    write_bytes(dir.file("stray.png"), {1});
    CHECK_THAT(error(), Contains("image_folder: '" + root + "': holds no class subfolders"));
  }
  SECTION("an empty class folder") {
    write_png(dir.file("a/x.png"), 4, 4, gradient(4, 4));
    std::filesystem::create_directories(dir.path / "b");
    write_bytes(dir.file("b/readme.txt"), {1});
    CHECK_THAT(error(), Contains("image_folder: '" + dir.file("b") + "': holds no images, expected at least one .png"));
  }
  SECTION("an unreadable image") {
    write_bytes(dir.file("a/broken.png"), {'n', 'o', 't', ' ', 'a', ' ', 'p', 'n', 'g'});
    CHECK_THAT(error(), Contains("image_folder: '" + dir.file("a/broken.png") + "': not a readable PNG/JPEG/BMP image ("));
  }
  SECTION("an absurd declared size is refused before decoding") {
    write_bytes(dir.file("a/huge.png"), png_header(20000, 10));
    CHECK_THAT(error(), Contains("image_folder: '" + dir.file("a/huge.png") +
                                 "': declares 20000x10 pixels, expected at most 16384 per side and 268435456 in all"));
    write_bytes(dir.file("a/huge.png"), png_header(16384, 16384));
    options.max_pixels = 1 << 20;
    CHECK_THAT(error(), Contains("declares 16384x16384 pixels, expected at most 16384 per side and 1048576 in all"));
  }
  SECTION("a file whose header reads but whose data does not decode") {
    write_png(dir.file("a/cut.png"), 4, 4, gradient(4, 4));
    std::vector<uint8_t> bytes = read_bytes(dir.file("a/cut.png"));
    bytes.resize(40);
    write_bytes(dir.file("a/cut.png"), bytes);
    const ImageFolder ds(root, options);
    CHECK_THAT(error_of([&] { ds.get(0); }), Contains("image_folder: '" + dir.file("a/cut.png") + "': cannot decode ("));
    CHECK_THAT(error_of([&] { ds.get(1); }), Contains("index 1 out of range [0, 1)"));
  }
  SECTION("options") {
    options.resize = 2;
    CHECK_THAT(error(), Contains("resize (2) must be >= size (4)"));
  }
}
