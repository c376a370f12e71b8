// data/idx.h — the IDX format of the MNIST family (MNIST, Fashion-MNIST, KMNIST), plain or .gz.
//
// An IDX file is a big-endian header (magic 0x00000803 for unsigned-byte images with three
// dimensions N, rows, cols; 0x00000801 for unsigned-byte labels with one dimension N) followed by
// the bytes. The readers check the magic, the dimension count, that the data is exactly as long
// as the header says (for .gz: the decompressed data), that images and labels agree in count,
// and that labels lie in [0, num_classes). Errors name the file, the byte offset or example,
// and what was expected.
#pragma once

#include <memory>
#include <string>

#include "data/dataset.h"

namespace raoq::data {

// Where Debian's dataset-fashion-mnist package installs the four files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
inline constexpr const char* kFashionMnistHint = "apt-get install dataset-fashion-mnist";

// Reads an images file and its labels file into a dataset of (1, rows, cols) images.
// `hint` is appended to the error when a file is missing.
std::shared_ptr<InMemoryDataset> load_idx(const std::string& images_path, const std::string& labels_path,
                                          const std::string& name, int64_t num_classes = 10,
                                          const std::string& hint = "");

// A MNIST-family folder with the standard names: train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each with or without ".gz" (".gz" preferred).
std::shared_ptr<InMemoryDataset> load_mnist_family(const std::string& dir, Split split, const std::string& name,
                                                   const std::string& hint = "");

// Fashion-MNIST (60000 train / 10000 test images of 28x28, 10 classes), by default from Debian's
// package; a missing file's error carries the apt-get hint.
std::shared_ptr<InMemoryDataset> load_fashion_mnist(Split split, const std::string& dir = kFashionMnistDir);

}  // namespace raoq::data
