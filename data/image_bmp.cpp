// data/image_bmp.cpp — BMP: every size in the header checked here, then the pixels by stb_image
// (data/image_decode.h).
//
// stb_image's implementation lives here, compiled static (STB_IMAGE_STATIC) so that no other
// translation unit or library can clash with its symbols, with its BMP reader only, from memory
// only. What read_bmp_header refuses, and why each matters to stb 2.27's reader:
//   an OS/2 (12-byte) header: stb computes its palette size 4 entries short, so pixels using
//     the last entries would read uninitialised colours;
//   a height of INT32_MIN: stb takes abs() of it (undefined behaviour);
//   pixel data not right after the headers (24/32 bits) or a palette of 0 or more than 256
//     entries (1-8 bits): stb refuses or misreads them;
//   rows that run past the end of the file: stb's memory reader returns zeros there, a silently
//     black image.
// decode_bmp also refuses a palette index beyond the palette (stb would read an unset colour).
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_ONLY_BMP
#include <stb_image.h>

#include <climits>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "data/detail/image_codecs.h"

namespace raoq::data::detail {
namespace {

uint32_t le16(const uint8_t* p) { return uint32_t{p[0]} | (uint32_t{p[1]} << 8); }
uint32_t le32(const uint8_t* p) { return le16(p) | (le16(p + 2) << 16); }

struct BmpLayout {
  int64_t width = 0, height = 0;  // height: its magnitude (the sign only says top-down)
  uint32_t bpp = 0, palette = 0;  // palette entries (1-8 bits per pixel), else 0
  uint64_t offset = 0, row_bytes = 0;
};

BmpLayout parse(const uint8_t* data, size_t size, uint64_t file_size, const ImageLimits& limits, const std::string& where) {
  const auto fail = [&](const std::string& what) { throw Error(where + "not a readable BMP image (" + what + ")"); };
  if (size < 18 || data[0] != 'B' || data[1] != 'M')
    fail("the file ends at byte " + std::to_string(size) + " or lacks the 'BM' signature, expected a 14-byte file header and an info header");
  const uint32_t header = le32(data + 14);
  if (header == 12) fail("an OS/2 1.x info header of 12 bytes at byte 14, expected a Windows header of 40, 56, 108 or 124 bytes");
  if (header != 40 && header != 56 && header != 108 && header != 124)
    fail("an info header of " + std::to_string(header) + " bytes at byte 14, expected 40, 56, 108 or 124");
  if (size < 14 + header)
    fail("the file ends at byte " + std::to_string(size) + " inside the info header, expected " + std::to_string(14 + header) + " bytes");
  BmpLayout b;
  const auto w = static_cast<int32_t>(le32(data + 18)), h = static_cast<int32_t>(le32(data + 22));
  const uint32_t planes = le16(data + 26), compression = le32(data + 30);
  b.bpp = le16(data + 28);
  if (w <= 0 || h == 0 || h == INT32_MIN)
    fail("declares " + std::to_string(w) + "x" + std::to_string(h) + " pixels at byte 18, expected a positive width and a non-zero height");
  b.width = w;
  b.height = h < 0 ? -int64_t{h} : h;
  check_declared_size(b.width, b.height, limits, where);
  if (planes != 1) fail(std::to_string(planes) + " planes at byte 26, expected 1");
  if (b.bpp != 1 && b.bpp != 4 && b.bpp != 8 && b.bpp != 16 && b.bpp != 24 && b.bpp != 32)
    fail(std::to_string(b.bpp) + " bits per pixel at byte 28, expected 1, 4, 8, 16, 24 or 32");
  if (compression != 0 && !(compression == 3 && (b.bpp == 16 || b.bpp == 32)))
    fail("compression " + std::to_string(compression) + " at byte 30 with " + std::to_string(b.bpp) +
         " bits per pixel, expected 0 (none), or 3 (bit fields) with 16 or 32 bits");
  // A 40- or 56-byte header with bit fields is followed by three 4-byte masks.
  const uint64_t headers_end = 14 + header + ((header == 40 || header == 56) && compression == 3 ? 12 : 0);
  b.offset = le32(data + 10);
  if (b.bpp >= 16 && b.offset != headers_end)
    fail("pixel data at byte " + std::to_string(b.offset) + " (from byte 10), expected it right after the headers at byte " +
         std::to_string(headers_end));
  if (b.bpp < 16) {
    b.palette = b.offset < headers_end + 4 ? 0 : static_cast<uint32_t>(std::min<uint64_t>((b.offset - headers_end) / 4, 257));
    if (b.palette == 0 || b.palette > 256)
      fail("pixel data at byte " + std::to_string(b.offset) + " (from byte 10) leaves room for " +
           (b.palette ? "more than 256" : std::string("no")) + " palette entries after the headers (byte " +
           std::to_string(headers_end) + "), expected 1 to 256 of 4 bytes");
  }
  b.row_bytes = (static_cast<uint64_t>(b.width) * b.bpp + 31) / 32 * 4;
  const uint64_t needed = b.offset + b.row_bytes * static_cast<uint64_t>(b.height);
  if (needed > file_size)
    fail("the file ends at byte " + std::to_string(file_size) + ", expected " + std::to_string(needed) + " bytes (" +
         std::to_string(b.height) + " rows of " + std::to_string(b.row_bytes) + " bytes from byte " + std::to_string(b.offset) +
         "): truncated");
  return b;
}

// Every palette index in the rows must name an entry of the palette.
void check_palette_indices(const uint8_t* data, const BmpLayout& b, const std::string& where) {
  const uint32_t per_byte = 8 / b.bpp, mask = (1u << b.bpp) - 1;
  for (int64_t y = 0; y < b.height; ++y) {
    const uint8_t* row = data + b.offset + static_cast<uint64_t>(y) * b.row_bytes;
    for (int64_t x = 0; x < b.width; ++x) {
      const uint8_t byte = row[x / per_byte];
      const uint32_t shift = 8 - b.bpp * (static_cast<uint32_t>(x % per_byte) + 1);
      const uint32_t index = (byte >> shift) & mask;
      if (index >= b.palette)
        throw Error(where + "cannot decode (BMP: palette index " + std::to_string(index) + " at byte " +
                    std::to_string(b.offset + static_cast<uint64_t>(y) * b.row_bytes + static_cast<uint64_t>(x / per_byte)) +
                    ", expected below the palette's " + std::to_string(b.palette) + " entries)");
    }
  }
}

}  // namespace

ImageInfo read_bmp_header(const uint8_t* data, size_t size, uint64_t file_size, const ImageLimits& limits,
                          const std::string& where) {
  const BmpLayout b = parse(data, size, file_size, limits, where);
  return {ImageFormat::bmp, b.width, b.height};
}

NativeImage decode_bmp(const uint8_t* data, size_t size, int channels, const ImageLimits& limits, const std::string& where) {
  const BmpLayout b = parse(data, size, size, limits, where);
  if (size > static_cast<size_t>(INT_MAX)) throw Error(where + "holds more than 2^31 bytes, expected a smaller BMP");
  if (b.bpp < 16) check_palette_indices(data, b, where);
  int w = 0, h = 0, comp = 0;
  const std::unique_ptr<uint8_t, void (*)(void*)> pixels(
      stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &comp, channels), &stbi_image_free);
  if (!pixels) throw Error(where + "cannot decode (BMP: " + stbi_failure_reason() + ")");
  if (w != b.width || h != b.height) throw Error(where + "cannot decode (BMP: stb_image read a different size than the header declares)");
  NativeImage out;
  out.width = w;
  out.height = h;
  out.channels = channels;
  out.pixels.assign(pixels.get(), pixels.get() + static_cast<size_t>(w) * static_cast<size_t>(h) * static_cast<size_t>(channels));
  return out;
}

}  // namespace raoq::data::detail
