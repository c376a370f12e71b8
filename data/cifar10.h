// data/cifar10.h — the CIFAR-10 binary version (cifar-10-batches-bin).
//
// Each batch file is a run of 3073-byte records: one label byte (0..9) then 3072 pixel bytes,
// 1024 red, 1024 green, 1024 blue, each a 32x32 row-major plane, which is already (C, H, W).
// The reader checks that a file's size is a positive multiple of 3073 and that every label is
// below 10; errors name the file, the record and its byte offset.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace raoq::data {

inline constexpr const char* kCifar10Hint =
    "download cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and extract it";

// Reads and concatenates the given batch files (plain or .gz) into one (3, 32, 32) dataset.
std::shared_ptr<InMemoryDataset> load_cifar10_files(const std::vector<std::string>& paths, const std::string& name);

// dir holds data_batch_1.bin .. data_batch_5.bin (train, 50000 images) and test_batch.bin (test,
// 10000 images), as extracted from the official archive.
std::shared_ptr<InMemoryDataset> load_cifar10(const std::string& dir, Split split);

}  // namespace raoq::data
