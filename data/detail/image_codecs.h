// data/detail/image_codecs.h — internal to data/: one reader per image format behind
// data/image_decode.h. Each decodes to the file's own channel layout; image_decode.cpp converts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "data/image_decode.h"

namespace raoq::data::detail {

// A decoded image in the file's own layout, 8 bits per channel: 1 grey, 2 grey + alpha, 3 RGB,
// 4 RGBA, or (cmyk) 4 CMYK as Adobe stores it (inverted: 255 is no ink).
struct NativeImage {
  int64_t width = 0, height = 0, channels = 0;
  bool cmyk = false;
  std::vector<uint8_t> pixels;  // (height, width, channels)
};

// "declares 20000x10 pixels, expected at most ..." when width x height is outside the limits, else "".
std::string declared_size_problem(int64_t width, int64_t height, const ImageLimits& limits);
// Throws where + that problem, if any.
void check_declared_size(int64_t width, int64_t height, const ImageLimits& limits, const std::string& where);

// Bytes every signature needs, and the longest header prefix the PNG and BMP probes read.
inline constexpr size_t kSignatureBytes = 8;
inline constexpr size_t kPngHeaderBytes = 33;
inline constexpr size_t kBmpHeaderBytes = 14 + 124;

// PNG: the signature and the IHDR chunk (its CRC included), from the file's first bytes.
ImageInfo read_png_header(const uint8_t* data, size_t size, const ImageLimits& limits, const std::string& where);
NativeImage decode_png(const uint8_t* data, size_t size, const ImageLimits& limits, const std::string& where);

// JPEG: every marker up to the first scan, read from `file` as libjpeg asks for it.
ImageInfo probe_jpeg(std::FILE* file, const ImageLimits& limits, const std::string& where);
NativeImage decode_jpeg(const uint8_t* data, size_t size, const ImageLimits& limits, const std::string& where);

// BMP: the file and info headers from the first bytes, checked against the whole file's size
// (the rows must fit in it).
ImageInfo read_bmp_header(const uint8_t* data, size_t size, uint64_t file_size, const ImageLimits& limits,
                          const std::string& where);
// Pixels by stb_image, after read_bmp_header accepted the bytes. channels: what to return.
NativeImage decode_bmp(const uint8_t* data, size_t size, int channels, const ImageLimits& limits,
                       const std::string& where);

}  // namespace raoq::data::detail
