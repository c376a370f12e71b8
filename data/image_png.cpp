// data/image_png.cpp — PNG: the header read by raoq (cheap, for the folder scan), the pixels by
// libpng (data/image_decode.h).
//
// libpng reports errors through a callback that must not return: it longjmps back to the setjmp
// in decode_into, so decode_into keeps every object with a destructor outside its own frame (in
// the caller's PngRead), and the callbacks hold none.
#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "data/detail/image_codecs.h"

namespace raoq::data::detail {
namespace {

constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
// Ancillary chunks (text, ICC profiles) above this are refused rather than allocated.
constexpr png_alloc_size_t kMaxChunkBytes = png_alloc_size_t{16} << 20;
constexpr png_uint_32 kMaxAncillaryChunks = 1000;

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// "IHDR", or the four bytes in hex when they are not letters.
std::string chunk_name(const uint8_t* p) {
  const bool letters = std::all_of(p, p + 4, [](uint8_t c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); });
  if (letters) return std::string(reinterpret_cast<const char*>(p), 4);
  char hex[16];
  std::snprintf(hex, sizeof hex, "%02x %02x %02x %02x", p[0], p[1], p[2], p[3]);
  return hex;
}

bool valid_depth(uint8_t color, uint8_t depth) {
  switch (color) {
    case 0: return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;  // grey
    case 3: return depth == 1 || depth == 2 || depth == 4 || depth == 8;                 // palette
    case 2: case 4: case 6: return depth == 8 || depth == 16;                            // RGB, grey+alpha, RGBA
    default: return false;
  }
}

struct PngRead {
  const uint8_t* data = nullptr;
  size_t size = 0, pos = 0;
  char message[320] = {};
  bool too_large = false;
  std::vector<png_bytep> rows;
};

void on_error(png_structp png, png_const_charp text) {
  auto* r = static_cast<PngRead*>(png_get_error_ptr(png));
  if (r->message[0] == '\0') std::snprintf(r->message, sizeof r->message, "%s (near byte %zu)", text, r->pos);
  png_longjmp(png, 1);
}

// Warnings concern ancillary chunks that libpng then ignores; the pixels do not depend on them.
void on_warning(png_structp, png_const_charp) {}

void on_read(png_structp png, png_bytep out, png_size_t n) {
  auto* r = static_cast<PngRead*>(png_get_io_ptr(png));
  if (n > r->size - r->pos) {
    std::snprintf(r->message, sizeof r->message,
                  "the data ends at byte %zu, expected %zu more bytes of PNG chunks: truncated", r->size,
                  n - (r->size - r->pos));
    png_error(png, "truncated");
  }
  std::memcpy(out, r->data + r->pos, n);
  r->pos += n;
}

bool decode_into(const ImageLimits& limits, PngRead& r, NativeImage& out) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(r.message, sizeof r.message, "out of memory creating the PNG reader");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, &r, on_read);
  const auto side = static_cast<png_uint_32>(std::min<int64_t>(limits.max_side, 0x7fffffff));
  png_set_user_limits(png, side, side);
  png_set_chunk_malloc_max(png, kMaxChunkBytes);
  png_set_chunk_cache_max(png, kMaxAncillaryChunks);
  png_read_info(png, info);
  const int64_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  {  // scoped: no object with a destructor may be alive here when libpng longjmps later
    const std::string problem = declared_size_problem(w, h, limits);
    if (!problem.empty()) {
      std::snprintf(r.message, sizeof r.message, "%s", problem.c_str());
      r.too_large = true;
      png_destroy_read_struct(&png, &info, nullptr);
      return false;
    }
  }
  // To 8 bits per channel as stb_image did: palettes to RGB, small grey depths to 8 bits, 16
  // bits to their high byte. A tRNS chunk becomes alpha, which image_decode.cpp drops.
  const png_byte color = png_get_color_type(png, info);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_bit_depth(png, info) == 16) png_set_strip_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  out.width = w;
  out.height = h;
  out.channels = png_get_channels(png, info);
  const size_t stride = png_get_rowbytes(png, info);
  if (stride != static_cast<size_t>(w * out.channels) || out.channels < 1 || out.channels > 4) {
    std::snprintf(r.message, sizeof r.message, "libpng returned rows of %zu bytes for %lld x %lld channels", stride,
                  static_cast<long long>(w), static_cast<long long>(out.channels));
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  out.pixels.resize(stride * static_cast<size_t>(h));
  r.rows.resize(static_cast<size_t>(h));
  for (size_t y = 0; y < r.rows.size(); ++y) r.rows[y] = out.pixels.data() + y * stride;
  png_read_image(png, r.rows.data());
  // Every row is decoded; the chunks after the image data (and a missing IEND) change no pixel.
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

}  // namespace

ImageInfo read_png_header(const uint8_t* data, size_t size, const ImageLimits& limits, const std::string& where) {
  const auto fail = [&](const std::string& what) { throw Error(where + "not a readable PNG image (" + what + ")"); };
  if (size < sizeof kSignature || std::memcmp(data, kSignature, sizeof kSignature) != 0)
    fail("the first 8 bytes are not the PNG signature");
  if (size < kPngHeaderBytes)
    fail("the file ends at byte " + std::to_string(size) + ", expected " + std::to_string(kPngHeaderBytes) +
         " header bytes (signature and IHDR chunk)");
  if (be32(data + 8) != 13 || chunk_name(data + 12) != "IHDR")
    fail("the first chunk is '" + chunk_name(data + 12) + "' of " + std::to_string(be32(data + 8)) +
         " bytes at byte 8, expected IHDR of 13 bytes");
  const uint32_t stored = be32(data + 29);
  const auto computed = static_cast<uint32_t>(crc32(crc32(0, nullptr, 0), data + 12, 17));
  if (stored != computed) {
    char text[96];
    std::snprintf(text, sizeof text, "IHDR CRC 0x%08x at byte 29, expected 0x%08x (corrupt header)", stored, computed);
    fail(text);
  }
  const uint32_t w = be32(data + 16), h = be32(data + 20);
  if (w == 0 || h == 0 || w > 0x7fffffffu || h > 0x7fffffffu)
    fail("IHDR declares " + std::to_string(w) + "x" + std::to_string(h) + " pixels at byte 16, expected 1 to 2^31-1 per side");
  const uint8_t depth = data[24], color = data[25];
  if (!valid_depth(color, depth))
    fail("IHDR bit depth " + std::to_string(depth) + " with colour type " + std::to_string(color) +
         " at byte 24, expected a combination the PNG specification allows");
  if (data[26] != 0 || data[27] != 0 || data[28] > 1)
    fail("IHDR compression " + std::to_string(data[26]) + ", filter " + std::to_string(data[27]) + ", interlace " +
         std::to_string(data[28]) + " at byte 26, expected 0, 0 and 0 or 1");
  check_declared_size(w, h, limits, where);
  return {ImageFormat::png, w, h};
}

NativeImage decode_png(const uint8_t* data, size_t size, const ImageLimits& limits, const std::string& where) {
  read_png_header(data, size, limits, where);  // libpng then sees only a file whose header is sound
  PngRead r;
  r.data = data;
  r.size = size;
  NativeImage out;
  if (!decode_into(limits, r, out))
    throw Error(where + (r.too_large ? std::string(r.message) : "cannot decode (PNG: " + std::string(r.message) + ")"));
  return out;
}

}  // namespace raoq::data::detail
