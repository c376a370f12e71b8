// tests/data/test_image_decode.cpp — PNG (libpng), JPEG (libjpeg-turbo) and BMP (stb_image behind
// raoq's header checks): exact pixels for each layout a decoder hands back, and hostile files:
// the fuzzing reproducers of issue 17 (tests/data/hostile/), every truncation of a valid file,
// palette indices out of range, declared sizes and scan counts over the limits. The invariant
// for a damaged file: a one-line raoq::Error, or exactly the pixels of the intact file.
#include <png.h>
// jpeglib.h needs FILE and size_t declared first.
#include <cstdio>
#include <jpeglib.h>

#include <climits>
#include <filesystem>

#include "data/image_decode.h"
#include "data/image_folder.h"
#include "tests/data/data_testing.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::data;
using namespace raoq::data::testing;
using Catch::Matchers::Contains;

namespace {

std::string hostile(const std::string& name) {
  // This file is tests/data/<name>.cpp; the reproducers sit beside it in hostile/.
  return (std::filesystem::path(__FILE__).parent_path() / "hostile" / name).string();
}

// A PNG in memory: rows are (h, row bytes) already packed for the given colour type and depth.
std::vector<uint8_t> png_bytes(uint32_t w, uint32_t h, int color, int depth, const std::vector<uint8_t>& packed,
                               const std::vector<png_color>& palette = {}, const std::vector<png_byte>& trns = {},
                               bool interlace = false) {
  std::vector<uint8_t> out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep data, png_size_t n) {
        auto* v = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(p));
        v->insert(v->end(), data, data + n);
      },
      nullptr);
  png_set_IHDR(png, info, w, h, depth, color, interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!palette.empty()) png_set_PLTE(png, info, palette.data(), static_cast<int>(palette.size()));
  if (!trns.empty()) png_set_tRNS(png, info, trns.data(), static_cast<int>(trns.size()), nullptr);
  png_write_info(png, info);
  const size_t stride = packed.size() / h;
  std::vector<png_bytep> rows(h);
  for (uint32_t y = 0; y < h; ++y) rows[y] = const_cast<png_bytep>(packed.data() + y * stride);
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

// A JPEG in memory from (h, w, components) pixels in `space` (JCS_GRAYSCALE, JCS_RGB, JCS_CMYK).
std::vector<uint8_t> jpeg_bytes(int w, int h, J_COLOR_SPACE space, const std::vector<uint8_t>& px, bool progressive = false,
                                int quality = 95) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buffer, &size);
  c.image_width = static_cast<JDIMENSION>(w);
  c.image_height = static_cast<JDIMENSION>(h);
  c.input_components = space == JCS_GRAYSCALE ? 1 : space == JCS_CMYK ? 4 : 3;
  c.in_color_space = space;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  const size_t stride = static_cast<size_t>(w * c.input_components);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(px.data() + c.next_scanline * stride);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  std::vector<uint8_t> out(buffer, buffer + size);
  jpeg_destroy_compress(&c);
  std::free(buffer);
  return out;
}

// (h, w, 3) smooth colours, so a lossy JPEG stays within a few steps.
std::vector<uint8_t> smooth(int h, int w) {
  std::vector<uint8_t> px;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) px.insert(px.end(), {uint8_t(60 + 4 * x), uint8_t(90 + 3 * y), uint8_t(120 + x + y)});
  return px;
}

DecodedImage decode(const std::vector<uint8_t>& bytes, int channels, const ImageLimits& limits = {}) {
  return decode_image(bytes.data(), bytes.size(), channels, limits, "img: ");
}

// A bottom-up 8-bit BMP of w x h (w a multiple of 4: no row padding) with a palette of n entries.
std::vector<uint8_t> bmp8(int32_t w, int32_t h, const std::vector<uint8_t>& indices, uint32_t n) {
  std::vector<uint8_t> b = {'B', 'M'};
  const auto put32 = [&](uint32_t v) { for (int s = 0; s < 32; s += 8) b.push_back(uint8_t(v >> s)); };
  const auto put16 = [&](uint32_t v) { b.push_back(uint8_t(v)), b.push_back(uint8_t(v >> 8)); };
  const uint32_t offset = 14 + 40 + 4 * n;
  put32(offset + static_cast<uint32_t>(indices.size())), put32(0), put32(offset);
  put32(40), put32(static_cast<uint32_t>(w)), put32(static_cast<uint32_t>(h)), put16(1), put16(8), put32(0);
  for (int i = 0; i < 5; ++i) put32(0);
  for (uint32_t i = 0; i < n; ++i) b.insert(b.end(), {uint8_t(10 * i), uint8_t(100 + i), uint8_t(200 - i), 0});  // B G R x
  b.insert(b.end(), indices.begin(), indices.end());
  return b;
}

}  // namespace

TEST_CASE("image_decode: the fuzzing reproducers are one-line errors at the folder scan, never a hang", "[data]") {
  struct Case {
    const char* file;
    const char* says;
  };
  for (const Case& c : {Case{"jpeg_hang_7B.jpg", "the data ends at byte 7, expected more JPEG data"},
                        Case{"jpeg_hang_25B.jpg", "the data ends at byte 25, expected more JPEG data"},
                        Case{"jpeg_huffman_ub_1.jpg", "Bogus Huffman table definition (near byte 96)"},
                        Case{"jpeg_huffman_ub_2.jpg", "Bogus Huffman table definition (near byte 128)"}}) {
    INFO(c.file);
    TempDir dir("hostile");
    const std::vector<uint8_t> bytes = read_bytes(hostile(c.file));
    REQUIRE(!bytes.empty());
    write_bytes(dir.file("cls/x.jpg"), bytes);
    ImageFolderOptions options;
    options.size = 4;
    const std::string error = error_of([&] { ImageFolder ds(dir.path.string(), options); });
    CHECK_THAT(error, Contains("image_folder: '" + dir.file("cls/x.jpg") + "': not a readable JPEG image (") &&
                          Contains(c.says));
    CHECK(error.find('\n') == std::string::npos);
    CHECK_THAT(error_of([&] { decode(bytes, 3); }), Contains("img: cannot decode (JPEG: ") && Contains(c.says));
  }
}

TEST_CASE("image_decode: PNG palettes, transparency, 16 bits, small depths and interlacing give stb_image's pixels", "[data]") {
  SECTION("a palette with a tRNS chunk: colours, alpha dropped") {
    const std::vector<png_color> palette = {{10, 20, 30}, {200, 100, 0}, {7, 8, 9}};
    const auto img = decode(png_bytes(3, 1, PNG_COLOR_TYPE_PALETTE, 8, {2, 0, 1}, palette, {0, 128}), 3);
    CHECK(img.pixels == std::vector<uint8_t>{7, 8, 9, 10, 20, 30, 200, 100, 0});
  }
  SECTION("16-bit RGBA: the high byte of each sample, alpha dropped; grey is stb's luma") {
    const std::vector<uint8_t> px = {0x12, 0x34, 0xab, 0xcd, 0x00, 0xff, 0x80, 0x01};  // one pixel R G B A
    const auto rgb = decode(png_bytes(1, 1, PNG_COLOR_TYPE_RGBA, 16, px), 3);
    CHECK(rgb.pixels == std::vector<uint8_t>{0x12, 0xab, 0x00});
    const auto grey = decode(png_bytes(1, 1, PNG_COLOR_TYPE_RGBA, 16, px), 1);
    CHECK(grey.pixels == std::vector<uint8_t>{static_cast<uint8_t>((0x12 * 77 + 0xab * 150 + 0x00 * 29) >> 8)});
  }
  SECTION("1-bit grey, Adam7-interlaced: 0 and 255, every row in place") {
    // 9 x 3, bits 1 0 1 0 ... alternating per row start; 2 bytes per row.
    const std::vector<uint8_t> packed = {0xaa, 0x80, 0x55, 0x00, 0xff, 0x80};
    const auto img = decode(png_bytes(9, 3, PNG_COLOR_TYPE_GRAY, 1, packed, {}, {}, true), 1);
    REQUIRE(img.width == 9);
    REQUIRE(img.height == 3);
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 9; ++x) {
        const int bit = (packed[static_cast<size_t>(2 * y + x / 8)] >> (7 - x % 8)) & 1;
        REQUIRE(img.pixels[static_cast<size_t>(y * 9 + x)] == (bit ? 255 : 0));
      }
  }
  SECTION("grey + alpha to RGB: the grey replicated") {
    const auto img = decode(png_bytes(2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, {50, 0, 60, 255}), 3);
    CHECK(img.pixels == std::vector<uint8_t>{50, 50, 50, 60, 60, 60});
  }
  SECTION("a PNG named .jpg reads as a PNG; an unknown signature names its first bytes") {
    TempDir dir("sniff");
    write_bytes(dir.file("c/really_a_png.jpg"), png_bytes(2, 1, PNG_COLOR_TYPE_GRAY, 8, {1, 2}));
    ImageFolderOptions options;
    options.size = 1;
    CHECK(probe_image_file(dir.file("c/really_a_png.jpg"), {}, "").format == ImageFormat::png);
    CHECK(ImageFolder(dir.path.string(), options).size() == 1);
    CHECK_THAT(error_of([&] { decode({'G', 'I', 'F', '8', '9'}, 3); }),
               Contains("img: not a readable PNG/JPEG/BMP image (its first bytes 47 49 46 38 match none of their signatures"));
  }
}

TEST_CASE("image_decode: a damaged PNG or JPEG is an error or the intact image, never a third thing", "[data]") {
  const std::vector<uint8_t> rgb = smooth(16, 24);
  std::vector<uint8_t> packed(rgb);
  for (const auto& [name, bytes] : {std::pair{"png", png_bytes(24, 16, PNG_COLOR_TYPE_RGB, 8, packed)},
                                    std::pair{"jpeg", jpeg_bytes(24, 16, JCS_RGB, rgb)},
                                    std::pair{"progressive jpeg", jpeg_bytes(24, 16, JCS_RGB, rgb, true)}}) {
    INFO(name);
    const DecodedImage intact = decode(bytes, 3);
    REQUIRE(intact.pixels.size() == rgb.size());
    int errors = 0;
    for (size_t cut = 0; cut < bytes.size(); ++cut) {
      const std::vector<uint8_t> head(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
      try {
        const DecodedImage d = decode(head, 3);
        INFO("cut at byte " << cut << " of " << bytes.size());
        REQUIRE(d.pixels == intact.pixels);
      } catch (const Error& e) {
        ++errors;
        REQUIRE(std::string(e.what()).find('\n') == std::string::npos);
      }
    }
    // Only the end marker (and, for PNG, the IEND chunk) can go without changing the image.
    CHECK(errors >= static_cast<int>(bytes.size()) - 12);
  }
  SECTION("a corrupt byte in the PNG image data, or in its CRC") {
    std::vector<uint8_t> bytes = png_bytes(24, 16, PNG_COLOR_TYPE_RGB, 8, packed);
    bytes[bytes.size() - 20] ^= 0x5a;  // inside the IDAT chunk's data: zlib's check fails first
    CHECK_THAT(error_of([&] { decode(bytes, 3); }), Contains("img: cannot decode (PNG: IDAT: incorrect data check"));
    bytes[bytes.size() - 20] ^= 0x5a;
    bytes[bytes.size() - 14] ^= 0x01;  // the IDAT chunk's CRC (the 12-byte IEND chunk follows it)
    CHECK_THAT(error_of([&] { decode(bytes, 3); }), Contains("img: cannot decode (PNG: IDAT: CRC error"));
  }
}

TEST_CASE("image_decode: JPEG grey, RGB and Adobe CMYK, and the limits on size and scans", "[data]") {
  SECTION("grey and RGB within a few steps of what was written") {
    const std::vector<uint8_t> flat(8 * 8, 100);
    const auto grey = decode(jpeg_bytes(8, 8, JCS_GRAYSCALE, flat), 3);
    REQUIRE(grey.pixels.size() == 8 * 8 * 3);
    for (uint8_t v : grey.pixels) REQUIRE(std::abs(int{v} - 100) <= 2);
    const std::vector<uint8_t> rgb = smooth(16, 16);
    const auto back = decode(jpeg_bytes(16, 16, JCS_RGB, rgb), 3);
    for (size_t i = 0; i < rgb.size(); ++i) REQUIRE(std::abs(int{back.pixels[i]} - int{rgb[i]}) <= 6);
  }
  SECTION("CMYK as Adobe stores it (inverted): R = C * K / 255") {
    std::vector<uint8_t> cmyk;
    for (int i = 0; i < 8 * 8; ++i) cmyk.insert(cmyk.end(), {200, 100, 250, 128});
    const auto img = decode(jpeg_bytes(8, 8, JCS_CMYK, cmyk, false, 100), 3);
    for (size_t i = 0; i < img.pixels.size(); i += 3) {
      REQUIRE(std::abs(int{img.pixels[i]} - 200 * 128 / 255) <= 3);
      REQUIRE(std::abs(int{img.pixels[i + 1]} - 100 * 128 / 255) <= 3);
      REQUIRE(std::abs(int{img.pixels[i + 2]} - 250 * 128 / 255) <= 3);
    }
  }
  SECTION("a declared size over the limits, and more scans than allowed") {
    const std::vector<uint8_t> bytes = jpeg_bytes(16, 16, JCS_RGB, smooth(16, 16), true);
    ImageLimits small;
    small.max_pixels = 100;
    CHECK(error_of([&] { decode(bytes, 3, small); }) == "img: declares 16x16 pixels, expected at most 16384 per side and 100 in all");
    ImageLimits few;
    few.max_jpeg_scans = 2;  // a simple progression writes 10 scans for colour
    CHECK_THAT(error_of([&] { decode(bytes, 3, few); }), Contains("img: cannot decode (JPEG: holds more than 2 scans"));
  }
}

TEST_CASE("image_decode: BMP headers are checked before stb_image reads a pixel", "[data]") {
  SECTION("an 8-bit palette image, bottom-up and top-down") {
    // Palette entry i is (R, G, B) = (200 - i, 100 + i, 10 i); rows are stored bottom-up.
    const auto img = decode(bmp8(4, 2, {0, 1, 2, 3, 3, 2, 1, 0}, 4), 3);
    REQUIRE(img.width == 4);
    REQUIRE(img.height == 2);
    const std::vector<uint8_t> top_row = {197, 103, 30, 198, 102, 20, 199, 101, 10, 200, 100, 0};
    CHECK(std::vector<uint8_t>(img.pixels.begin(), img.pixels.begin() + 12) == top_row);
    const auto flipped = decode(bmp8(4, -2, {3, 2, 1, 0, 0, 1, 2, 3}, 4), 3);
    CHECK(flipped.pixels == img.pixels);
  }
  SECTION("refusals: each names the byte and what was expected") {
    const auto error = [](const std::vector<uint8_t>& b) { return error_of([&] { decode(b, 3); }); };
    CHECK_THAT(error(bmp8(4, 2, {0, 1, 2, 9, 0, 0, 0, 0}, 4)),
               Contains("cannot decode (BMP: palette index 9 at byte 73, expected below the palette's 4 entries)"));
    std::vector<uint8_t> cut = bmp8(4, 2, {0, 1, 2, 3, 3, 2, 1, 0}, 4);
    cut.resize(cut.size() - 1);
    CHECK_THAT(error(cut), Contains("the file ends at byte 77, expected 78 bytes (2 rows of 4 bytes from byte 70): truncated"));
    std::vector<uint8_t> tall = bmp8(4, 2, {0, 1, 2, 3, 3, 2, 1, 0}, 4);
    for (int i = 0; i < 4; ++i) tall[22 + i] = i == 3 ? 0x80 : 0;  // height INT32_MIN
    CHECK_THAT(error(tall), Contains("declares 4x-2147483648 pixels at byte 18, expected a positive width and a non-zero height"));
    std::vector<uint8_t> os2 = bmp8(4, 2, {0, 1, 2, 3, 3, 2, 1, 0}, 4);
    os2[14] = 12;
    CHECK_THAT(error(os2), Contains("an OS/2 1.x info header of 12 bytes at byte 14"));
    std::vector<uint8_t> no_palette = bmp8(4, 2, {0, 1, 2, 3, 3, 2, 1, 0}, 0);
    CHECK_THAT(error(no_palette), Contains("leaves room for no palette entries after the headers (byte 54)"));
  }
}
