// tests/fuzz/fuzz_cifar.cpp — data/cifar10.h's batch reader on any file. Input: byte 0 odd means
// the harness gzip-compresses the rest (the reader takes .gz files through zlib too); the rest is
// the batch file. Invariant: a loaded batch has whole 3073-byte records with labels in [0, 10).
#include <zlib.h>

#include "data/cifar10.h"
#include "tests/fuzz/fuzz_support.h"

using namespace raoq;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string path;
  if (data[0] & 1) {
    path = fuzz::scratch() + "/batch.bin";
    gzFile gz = gzopen(path.c_str(), "wb");
    fuzz::require(gz != nullptr, "cannot write a gzip scratch file");
    if (size > 1) gzwrite(gz, data + 1, static_cast<unsigned>(size - 1));
    gzclose(gz);
  } else {
    path = fuzz::write_scratch("batch.bin", data + 1, size - 1);
  }
  std::shared_ptr<data::InMemoryDataset> ds;
  if (!fuzz::parses([&] { ds = data::load_cifar10_files({path}, "fuzz"); })) return 0;
  fuzz::require(ds->size() > 0 && ds->image_shape() == Shape({3, 32, 32}), "a loaded CIFAR batch has no records or a wrong shape");
  const data::Example e = ds->get(ds->size() - 1);
  fuzz::require(e.label >= 0 && e.label < 10, "a CIFAR label outside [0, 10)");
  return 0;
}
