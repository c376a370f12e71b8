// data/image_decode.cpp — which format a file holds, the header probe, and the conversion of
// every decoder's output to the channels asked for (data/image_decode.h).
#include "data/image_decode.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

#include "core/error.h"
#include "data/detail/image_codecs.h"

namespace raoq::data {
namespace {

std::optional<ImageFormat> sniff(const uint8_t* p, size_t n) {
  static constexpr uint8_t png[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  if (n >= 8 && std::memcmp(p, png, 8) == 0) return ImageFormat::png;
  if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return ImageFormat::jpeg;
  if (n >= 2 && p[0] == 'B' && p[1] == 'M') return ImageFormat::bmp;
  return std::nullopt;
}

ImageFormat format_of(const uint8_t* p, size_t n, const std::string& where) {
  if (const auto f = sniff(p, n)) return *f;
  std::string first;
  for (size_t i = 0; i < std::min<size_t>(n, 4); ++i) {
    char hex[4];
    std::snprintf(hex, sizeof hex, "%s%02x", i ? " " : "", p[i]);
    first += hex;
  }
  throw Error(where + "not a readable PNG/JPEG/BMP image (" +
              (n == 0 ? std::string("the file is empty") : "its first bytes " + first + " match none of their signatures") +
              ", expected 89 50 4e 47 (PNG), ff d8 ff (JPEG) or 42 4d (BMP))");
}

// stb_image's luma, so a grey run reads the pixels it always did.
uint8_t luma(uint8_t r, uint8_t g, uint8_t b) { return static_cast<uint8_t>((r * 77 + g * 150 + b * 29) >> 8); }
// An Adobe CMYK channel (inverted: 255 is no ink) to RGB, as stb_image did: c * k / 255 rounded.
uint8_t ink(uint8_t c, uint8_t k) {
  const unsigned t = unsigned{c} * k + 128;
  return static_cast<uint8_t>((t + (t >> 8)) >> 8);
}

DecodedImage convert(detail::NativeImage&& in, int channels) {
  DecodedImage out;
  out.width = in.width;
  out.height = in.height;
  out.channels = channels;
  if (in.channels == channels && !in.cmyk) {
    out.pixels = std::move(in.pixels);
    return out;
  }
  const auto n = static_cast<size_t>(in.width * in.height);
  out.pixels.resize(n * static_cast<size_t>(channels));
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = in.pixels.data() + i * static_cast<size_t>(in.channels);
    uint8_t rgb[3];
    if (in.cmyk) {
      rgb[0] = ink(p[0], p[3]), rgb[1] = ink(p[1], p[3]), rgb[2] = ink(p[2], p[3]);
    } else if (in.channels <= 2) {  // grey, grey + alpha
      rgb[0] = rgb[1] = rgb[2] = p[0];
    } else {  // RGB, RGBA: alpha dropped
      rgb[0] = p[0], rgb[1] = p[1], rgb[2] = p[2];
    }
    uint8_t* q = out.pixels.data() + i * static_cast<size_t>(channels);
    if (channels == 1)
      q[0] = in.channels <= 2 && !in.cmyk ? p[0] : luma(rgb[0], rgb[1], rgb[2]);
    else
      q[0] = rgb[0], q[1] = rgb[1], q[2] = rgb[2];
  }
  return out;
}

}  // namespace

namespace detail {

std::string declared_size_problem(int64_t width, int64_t height, const ImageLimits& o) {
  if (width <= o.max_side && height <= o.max_side && width * height <= o.max_pixels) return "";
  return "declares " + std::to_string(width) + "x" + std::to_string(height) + " pixels, expected at most " +
         std::to_string(o.max_side) + " per side and " + std::to_string(o.max_pixels) + " in all";
}

void check_declared_size(int64_t width, int64_t height, const ImageLimits& limits, const std::string& where) {
  const std::string problem = declared_size_problem(width, height, limits);
  if (!problem.empty()) throw Error(where + problem);
}

}  // namespace detail

const char* image_format_name(ImageFormat f) {
  switch (f) {
    case ImageFormat::png: return "PNG";
    case ImageFormat::jpeg: return "JPEG";
    case ImageFormat::bmp: return "BMP";
  }
  return "?";
}

ImageInfo probe_image_file(const std::string& path, const ImageLimits& limits, const std::string& where) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(where + "is a directory, expected an image file");
  const auto bytes = std::filesystem::file_size(path, ec);
  if (ec) throw Error(where + "cannot read (" + ec.message() + ")");
  if (bytes > static_cast<uint64_t>(limits.max_file_bytes))
    throw Error(where + "file holds " + std::to_string(bytes) + " bytes, expected at most " +
                std::to_string(limits.max_file_bytes));
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw Error(where + "cannot open (" + std::strerror(errno) + ")");
  uint8_t head[detail::kBmpHeaderBytes];
  const size_t n = std::fread(head, 1, sizeof head, file.get());
  if (std::ferror(file.get())) throw Error(where + "read error at byte " + std::to_string(n) + " (" + std::strerror(errno) + ")");
  switch (format_of(head, n, where)) {
    case ImageFormat::png: return detail::read_png_header(head, n, limits, where);
    case ImageFormat::bmp: return detail::read_bmp_header(head, n, bytes, limits, where);
    case ImageFormat::jpeg: break;
  }
  std::rewind(file.get());
  return detail::probe_jpeg(file.get(), limits, where);
}

DecodedImage decode_image(const uint8_t* data, size_t size, int channels, const ImageLimits& limits,
                          const std::string& where) {
  RAOQ_CHECK(channels == 1 || channels == 3, "decode_image: channels must be 1 or 3, got ", channels);
  if (size > static_cast<uint64_t>(limits.max_file_bytes))
    throw Error(where + "file holds " + std::to_string(size) + " bytes, expected at most " +
                std::to_string(limits.max_file_bytes));
  switch (format_of(data, size, where)) {
    case ImageFormat::png: return convert(detail::decode_png(data, size, limits, where), channels);
    case ImageFormat::jpeg: return convert(detail::decode_jpeg(data, size, limits, where), channels);
    case ImageFormat::bmp: return convert(detail::decode_bmp(data, size, channels, limits, where), channels);
  }
  throw Error(where + "unknown image format");
}

}  // namespace raoq::data
