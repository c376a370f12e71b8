// data/image_decode.h — PNG, JPEG and BMP files to 8-bit pixels, for files nobody vouches for.
//
// Which code reads what, and why:
//   PNG   libpng (Debian's libpng-dev)                 maintained, continuously fuzzed (OSS-Fuzz)
//   JPEG  libjpeg-turbo (Debian's libjpeg62-turbo-dev) maintained, continuously fuzzed (OSS-Fuzz)
//   BMP   stb_image, after raoq has checked the header and that the pixel rows fit in the file
// stb_image's own PNG and JPEG decoders are not used: stb says it is not meant for untrusted
// input, and fuzzing raoq found both a header loop that never ended on a 7-byte JPEG and
// out-of-bounds indexing in its Huffman table builder (issue 17). A BMP is a fixed header and
// raw rows, so checking every size in the header before stb reads it leaves stb little to get
// wrong; the BMP harness in tests/fuzz/ keeps that claim honest.
//
// The format is taken from the first bytes, not the file name (a PNG named .jpg still reads).
// Strictness: anything that would decode to a different image than the file describes is an
// error: a truncated file, a CRC mismatch, corrupt JPEG entropy data (libjpeg's warnings, which
// it would paper over with grey), BMP rows missing from the end. Tolerated: a JPEG's
// extraneous bytes before a marker and a missing end marker once every row is decoded (both
// common in camera files, neither changes a pixel), and PNG ancillary chunks that fail (their
// pixels do not depend on them).
//
// Every error is one line: `where` (e.g. "image_folder: 'a/b.jpg': "), then what went wrong, the
// byte offset, and what was expected.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace raoq::data {

enum class ImageFormat { png, jpeg, bmp };
const char* image_format_name(ImageFormat f);  // "PNG", "JPEG", "BMP"

// Limits checked before any pixel is decoded (a PNG header can claim 2^31 x 2^31 pixels in 33
// bytes; a JPEG can hold thousands of progressive scans that each cost a full pass).
struct ImageLimits {
  int64_t max_side = 16384;
  int64_t max_pixels = int64_t{1} << 28;
  int64_t max_file_bytes = int64_t{1} << 28;
  int max_jpeg_scans = 500;  // libjpeg-turbo's own fuzzers and tjbench use the same bound
};

struct ImageInfo {
  ImageFormat format = ImageFormat::png;
  int64_t width = 0, height = 0;
};

struct DecodedImage {
  int64_t width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;  // (height, width, channels), row-major
};

// Reads only as much of the file as its header needs and checks the declared size against the
// limits. A PNG header is checked whole (signature, IHDR and its CRC), a JPEG through every marker
// up to the first scan, a BMP through its headers and the length the rows need.
ImageInfo probe_image_file(const std::string& path, const ImageLimits& limits, const std::string& where);

// Decodes a whole file's bytes to `channels` channels (1: grey, 3: RGB). Alpha is dropped
// without compositing, grey is (77 R + 150 G + 29 B) >> 8 and a CMYK JPEG is read as Adobe writes
// it (inverted inks), all as stb_image did: PNG and BMP pixels are the ones earlier raoq read,
// JPEG pixels may differ by a step (libjpeg's IDCT and upsampling are not stb's).
DecodedImage decode_image(const uint8_t* data, size_t size, int channels, const ImageLimits& limits,
                          const std::string& where);

}  // namespace raoq::data
