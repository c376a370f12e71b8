// tools/histogram_png.cpp — histogram bars rendered into an RGB image and written as PNG.
#include "tools/histogram_png.h"

// Static: another translation unit of a test program may carry its own copy of stb_image_write.
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/error.h"

namespace raoq::tools {

void write_histogram_png(const std::string& path, const imc::Histogram& h, const std::vector<double>& marks) {
  const int bins = static_cast<int>(h.counts.size()) + 2;  // + below and above
  const int bar = std::max(1, 640 / std::max(1, bins));
  const int width = bar * bins, height = 240;
  std::vector<uint8_t> img(static_cast<size_t>(width) * height * 3, 255);
  auto put = [&](int x, int y, uint8_t r, uint8_t g, uint8_t b) {
    if (x < 0 || x >= width || y < 0 || y >= height) return;
    uint8_t* p = &img[(static_cast<size_t>(y) * width + x) * 3];
    p[0] = r, p[1] = g, p[2] = b;
  };
  int64_t peak = std::max<int64_t>({1, h.below, h.above});
  for (int64_t c : h.counts) peak = std::max(peak, c);
  for (int i = 0; i < bins; ++i) {
    const int64_t c = i == 0 ? h.below : i == bins - 1 ? h.above : h.counts[static_cast<size_t>(i - 1)];
    const bool edge = i == 0 || i == bins - 1;
    // Square-root heights keep the tails visible next to a tall centre.
    const int bar_h = static_cast<int>(std::lround((height - 10) * std::sqrt(static_cast<double>(c) / peak)));
    for (int x = i * bar; x < (i + 1) * bar - (bar > 2 ? 1 : 0); ++x)
      for (int y = height - bar_h; y < height; ++y) edge ? put(x, y, 200, 40, 40) : put(x, y, 90, 90, 90);
  }
  for (double m : marks) {  // bin i+1 covers [lo + i*width, lo + (i+1)*width)
    const int x = static_cast<int>(std::lround((1.0 + (m - h.lo) / h.width) * bar));
    for (int y = 0; y < height; ++y) put(x, y, 220, 0, 0);
  }
  RAOQ_CHECK(stbi_write_png(path.c_str(), width, height, 3, img.data(), width * 3) != 0, "inspect: cannot write '",
             path, "'");
}

}  // namespace raoq::tools
