// tests/fuzz/fuzz_image.cpp — data/image_decode.h on any file: the header probe the folder scan
// runs (from the file) and the decode each read() runs (from memory), then the resize-and-crop.
// Invariants: a decoded image has the size its probe declared, within the limits, with exactly
// width * height * channels bytes.
#include <vector>

#include "data/image_decode.h"
#include "data/image_folder.h"
#include "tests/fuzz/fuzz_support.h"

using namespace raoq;
using namespace raoq::data;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Small limits keep each run fast; the code paths are the same at any size.
  ImageLimits limits;
  limits.max_side = 2048;
  limits.max_pixels = int64_t{1} << 18;
  limits.max_file_bytes = int64_t{1} << 20;
  limits.max_jpeg_scans = 64;
  const std::string path = fuzz::write_scratch("c/img", data, size);
  ImageInfo info;
  const bool probed = fuzz::parses([&] { info = probe_image_file(path, limits, "fuzz: "); });
  for (const int channels : {3, 1}) {
    DecodedImage image;
    if (!fuzz::parses([&] { image = decode_image(data, size, channels, limits, "fuzz: "); })) continue;
    fuzz::require(image.width > 0 && image.height > 0 && image.width <= limits.max_side &&
                      image.height <= limits.max_side && image.width * image.height <= limits.max_pixels,
                  "a decoded image is outside the limits");
    fuzz::require(image.channels == channels &&
                      image.pixels.size() == static_cast<size_t>(image.width * image.height * channels),
                  "a decoded image has the wrong number of bytes");
    fuzz::require(probed && info.width == image.width && info.height == image.height,
                  "the probe and the decoder disagree on an image's size (or only the decoder accepted it)");
    // As ImageFolder::read: the shorter side to 8, the longer alike, then an 8 x 8 crop.
    const int64_t h = image.height, w = image.width;
    const int64_t rh = h <= w ? 8 : h * 8 / w, rw = h <= w ? w * 8 / h : 8;
    std::vector<float> out(static_cast<size_t>(channels * 8 * 8));
    resize_crop(image.pixels.data(), h, w, channels, rh, rw, (rh - 8) / 2, (rw - 8) / 2, 8, 8, out.data());
  }
  return 0;
}
