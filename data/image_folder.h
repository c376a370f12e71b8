// data/image_folder.h — a dataset of image files, one subfolder per class (ImageNet layout).
//
//   root/cat/001.png, root/cat/002.jpg, root/dog/a.bmp, ...   -> classes ["cat", "dog"]
//
// Classes are the subfolder names in sorted order (label = position); files are PNG, JPEG or BMP
// (listed by extension, case-insensitive; read by their first bytes), sorted by name within a
// class. Construction scans the tree and reads every file's header (probe_image_file in
// data/image_decode.h) so that an unreadable image, or one whose declared size exceeds the
// limits, is refused before training starts; pixels are decoded on each read().
// Each image is resized (bilinear) so that its shorter side equals `resize`, then cropped to
// size x size: centred, or at a random position drawn from the read()'s Generator. Bilinear
// without antialiasing, so downscaling by much more than 2x aliases; pre-shrink such images.
//
// What it deliberately does not do: cache decoded images, read other formats, follow a
// file list or CSV of labels.
#pragma once

#include <string>
#include <vector>

#include "data/dataset.h"

namespace raoq::data {

enum class CropMode { center, random };

struct ImageFolderOptions {
  int64_t size = 224;          // output height and width
  int64_t resize = 0;          // shorter side after resizing, >= size; 0 means `size`
  CropMode crop = CropMode::center;  // random needs a Generator in read(); without one: centre
  int channels = 3;            // 3: RGB, 1: grey (data/image_decode.h converts)
  // Limits on the size an image declares, checked before decoding (a PNG header can claim
  // 2^31 x 2^31 pixels in 33 bytes).
  int64_t max_side = 16384;
  int64_t max_pixels = int64_t{1} << 28;
  int64_t max_file_bytes = int64_t{1} << 28;
};

class ImageFolder : public Dataset {
 public:
  ImageFolder(std::string root, ImageFolderOptions options = {});

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  Shape image_shape() const override { return {options_.channels, options_.size, options_.size}; }
  int64_t num_classes() const override { return static_cast<int64_t>(classes_.size()); }
  std::string describe() const override;
  int64_t read(int64_t i, float* out, Generator* gen) const override;

  const std::vector<std::string>& classes() const { return classes_; }
  const std::string& path(int64_t i) const { return files_.at(static_cast<size_t>(i)).path; }
  int64_t label(int64_t i) const { return files_.at(static_cast<size_t>(i)).label; }

 private:
  struct File {
    std::string path;
    int64_t label;
  };
  std::string root_;
  ImageFolderOptions options_;
  std::vector<std::string> classes_;
  std::vector<File> files_;
};

// Samples the window [top, top + out_h) x [left, left + out_w) of the image resized (bilinear,
// half-pixel centres) from h x w to resized_h x resized_w, without forming the whole resized
// image. src: (h, w, c) uint8, as decoded; out: (c, out_h, out_w) floats in [0, 1].
// An axis whose size does not change is copied exactly.
void resize_crop(const uint8_t* src, int64_t h, int64_t w, int64_t c, int64_t resized_h, int64_t resized_w, int64_t top,
                 int64_t left, int64_t out_h, int64_t out_w, float* out);

}  // namespace raoq::data
