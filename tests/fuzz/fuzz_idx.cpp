// tests/fuzz/fuzz_idx.cpp — data/idx.h's reader on any pair of files, plain or gzip.
// Input: byte 0 chooses how each file is stored (bit 0: the images gzip-compressed by the harness,
// bit 1: the labels likewise, bit 2: the images' bytes taken as they are under a .gz name, so
// zlib sees corrupt streams too); bytes 1-2 the images part's length (little endian); then the
// images file and the labels file. Invariant: a loaded dataset has one label per image, each in
// [0, 10), and every image reads back.
#include <zlib.h>

#include <vector>

#include "data/idx.h"
#include "tests/fuzz/fuzz_support.h"

using namespace raoq;

namespace {

std::string store(const std::string& name, const uint8_t* data, size_t size, bool gzip) {
  if (!gzip) return fuzz::write_scratch(name, data, size);
  const std::string path = fuzz::scratch() + "/" + name + ".gz";
  gzFile gz = gzopen(path.c_str(), "wb");
  fuzz::require(gz != nullptr, "cannot write a gzip scratch file");
  if (size > 0) gzwrite(gz, data, static_cast<unsigned>(size));
  gzclose(gz);
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t mode = data[0];
  const size_t split = std::min<size_t>(size - 3, size_t{data[1]} | (size_t{data[2]} << 8));
  const uint8_t* images = data + 3;
  const uint8_t* labels = images + split;
  const size_t labels_size = size - 3 - split;
  const std::string images_path = (mode & 4) ? fuzz::write_scratch("images.gz", images, split)
                                             : store("images", images, split, mode & 1);
  const std::string labels_path = store("labels", labels, labels_size, mode & 2);
  std::shared_ptr<data::InMemoryDataset> ds;
  if (!fuzz::parses([&] { ds = data::load_idx(images_path, labels_path, "fuzz", 10); })) return 0;
  fuzz::require(ds->size() > 0 && ds->num_classes() == 10, "a loaded IDX dataset is empty or has the wrong classes");
  for (const int64_t i : {int64_t{0}, ds->size() - 1}) {
    const data::Example e = ds->get(i);
    fuzz::require(e.label >= 0 && e.label < 10, "an IDX label outside [0, 10)");
    fuzz::require(e.image.shape() == ds->image_shape(), "an IDX image of the wrong shape");
  }
  return 0;
}
