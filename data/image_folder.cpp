// data/image_folder.cpp — the image-folder dataset and bilinear resize-and-crop. Files are
// decoded by data/image_decode.h.
#include "data/image_folder.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "core/rng.h"
#include "data/file_io.h"
#include "data/image_decode.h"

namespace raoq::data {
namespace fs = std::filesystem;
namespace {

const char* kReader = "image_folder";

bool is_image(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error(std::string(kReader) + ": '" + path + "': " + what);
}

ImageLimits limits_of(const ImageFolderOptions& o) {
  ImageLimits l;
  l.max_side = o.max_side;
  l.max_pixels = o.max_pixels;
  l.max_file_bytes = o.max_file_bytes;
  return l;
}

std::string where(const std::string& path) { return std::string(kReader) + ": '" + path + "': "; }

// Output rows/columns -> source rows/columns and blend weights for one axis (half-pixel centres,
// as OpenCV's INTER_LINEAR and PyTorch's align_corners=False). When n_in == n_out the scale is
// exactly 1, every weight is 0 and the axis is copied exactly.
void axis_taps(int64_t n_in, int64_t n_resized, int64_t first, int64_t count, std::vector<int64_t>& i0,
               std::vector<int64_t>& i1, std::vector<float>& frac) {
  const double scale = static_cast<double>(n_in) / static_cast<double>(n_resized);
  i0.resize(static_cast<size_t>(count));
  i1.resize(static_cast<size_t>(count));
  frac.resize(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k) {
    const double s = std::clamp((static_cast<double>(first + k) + 0.5) * scale - 0.5, 0.0, static_cast<double>(n_in - 1));
    const auto lo = static_cast<int64_t>(std::floor(s));
    i0[static_cast<size_t>(k)] = lo;
    i1[static_cast<size_t>(k)] = std::min(lo + 1, n_in - 1);
    frac[static_cast<size_t>(k)] = static_cast<float>(s - static_cast<double>(lo));
  }
}

}  // namespace

void resize_crop(const uint8_t* src, int64_t h, int64_t w, int64_t c, int64_t resized_h, int64_t resized_w, int64_t top,
                 int64_t left, int64_t out_h, int64_t out_w, float* out) {
  RAOQ_CHECK(h > 0 && w > 0 && c > 0 && resized_h > 0 && resized_w > 0 && out_h > 0 && out_w > 0,
             "resize_crop: sizes must be positive");
  RAOQ_CHECK(top >= 0 && left >= 0 && top + out_h <= resized_h && left + out_w <= resized_w, "resize_crop: window ",
             out_h, "x", out_w, " at (", top, ", ", left, ") does not fit the resized ", resized_h, "x", resized_w);
  std::vector<int64_t> y0, y1, x0, x1;
  std::vector<float> fy, fx;
  axis_taps(h, resized_h, top, out_h, y0, y1, fy);
  axis_taps(w, resized_w, left, out_w, x0, x1, fx);
  for (int64_t ch = 0; ch < c; ++ch) {
    float* plane = out + ch * out_h * out_w;  // (out_h, out_w)
    for (int64_t oy = 0; oy < out_h; ++oy) {
      const uint8_t* row0 = src + y0[static_cast<size_t>(oy)] * w * c + ch;
      const uint8_t* row1 = src + y1[static_cast<size_t>(oy)] * w * c + ch;
      const float wy = fy[static_cast<size_t>(oy)];
      for (int64_t ox = 0; ox < out_w; ++ox) {
        const auto a = static_cast<size_t>(x0[static_cast<size_t>(ox)] * c);
        const auto b = static_cast<size_t>(x1[static_cast<size_t>(ox)] * c);
        const float wx = fx[static_cast<size_t>(ox)];
        const float upper = static_cast<float>(row0[a]) + wx * static_cast<float>(row0[b] - row0[a]);
        const float lower = static_cast<float>(row1[a]) + wx * static_cast<float>(row1[b] - row1[a]);
        plane[oy * out_w + ox] = (upper + wy * (lower - upper)) / 255.0f;
      }
    }
  }
}

ImageFolder::ImageFolder(std::string root, ImageFolderOptions options) : root_(std::move(root)), options_(options) {
  RAOQ_CHECK(options_.size > 0, "image_folder: size must be positive, got ", options_.size);
  if (options_.resize == 0) options_.resize = options_.size;
  RAOQ_CHECK(options_.resize >= options_.size, "image_folder: resize (", options_.resize, ") must be >= size (",
             options_.size, ") so that the crop fits");
  RAOQ_CHECK(options_.channels == 1 || options_.channels == 3, "image_folder: channels must be 1 or 3, got ",
             options_.channels);
  std::error_code ec;
  if (!fs::is_directory(root_, ec))
    throw_cannot_open(kReader, root_, fs::exists(root_, ec) ? "not a directory" : std::strerror(ENOENT), "");

  std::vector<fs::path> class_dirs;
  for (const auto& entry : fs::directory_iterator(root_))
    if (entry.is_directory()) class_dirs.push_back(entry.path());
  std::sort(class_dirs.begin(), class_dirs.end());
  if (class_dirs.empty()) fail(root_, "holds no class subfolders, expected root/<class>/<image>");

  for (const fs::path& dir : class_dirs) {
    std::vector<std::string> images;
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_regular_file() && is_image(entry.path())) images.push_back(entry.path().string());
    if (images.empty()) fail(dir.string(), "holds no images, expected at least one .png, .jpg, .jpeg or .bmp file");
    std::sort(images.begin(), images.end());
    const auto label = static_cast<int64_t>(classes_.size());
    classes_.push_back(dir.filename().string());
    for (std::string& path : images) {
      probe_image_file(path, limits_of(options_), where(path));
      files_.push_back({std::move(path), label});
    }
  }
}

std::string ImageFolder::describe() const {
  std::ostringstream os;
  os << kReader << " '" << root_ << "': " << size() << " images " << shape_str(image_shape()) << ", " << num_classes()
     << " classes";
  return os.str();
}

int64_t ImageFolder::read(int64_t i, float* out, Generator* gen) const {
  check_index(i);
  const File& file = files_[static_cast<size_t>(i)];
  // The header was checked at construction; the file is checked again here because it is read
  // anew (it may have changed on disk since).
  std::vector<uint8_t> bytes;
  {
    InputFile in(kReader, file.path);
    if (in.compressed()) fail(file.path, "is gzip-compressed, expected a plain PNG/JPEG/BMP file");
    in.read_into(bytes, static_cast<uint64_t>(options_.max_file_bytes) + 1);
  }
  if (bytes.size() > static_cast<uint64_t>(options_.max_file_bytes))
    fail(file.path, "file holds more than " + std::to_string(options_.max_file_bytes) + " bytes");
  const DecodedImage image = decode_image(bytes.data(), bytes.size(), options_.channels, limits_of(options_), where(file.path));
  const int64_t h = image.height, w = image.width;

  // Shorter side -> resize, longer side scaled alike (rounded down, as torchvision's Resize).
  const int64_t r = options_.resize, s = options_.size;
  const int64_t rh = h <= w ? r : int64_t{h} * r / w;
  const int64_t rw = h <= w ? int64_t{w} * r / h : r;
  int64_t top = (rh - s) / 2, left = (rw - s) / 2;
  if (options_.crop == CropMode::random && gen != nullptr) {
    top = static_cast<int64_t>(gen->below(static_cast<uint64_t>(rh - s + 1)));
    left = static_cast<int64_t>(gen->below(static_cast<uint64_t>(rw - s + 1)));
  }
  resize_crop(image.pixels.data(), h, w, options_.channels, rh, rw, top, left, s, s, out);
  return file.label;
}

}  // namespace raoq::data
