// tests/fuzz/fuzz_safetensors.cpp — core/safetensors.h's reader on any file. Invariant: a file
// that loads writes back and loads again to the same names, shapes, values and metadata.
#include <cstring>

#include "core/safetensors.h"
#include "tests/fuzz/fuzz_support.h"

using namespace raoq;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_scratch("in.safetensors", data, size);
  SafetensorsFile file;
  if (!fuzz::parses([&] { file = load_safetensors(path); })) return 0;
  const std::string again = fuzz::scratch() + "/again.safetensors";
  // A name or metadata value that is not UTF-8 cannot be written back (JSON text): a raoq::Error.
  if (!fuzz::parses([&] { save_safetensors(again, file.tensors, file.metadata); })) return 0;
  const SafetensorsFile back = load_safetensors(again);
  fuzz::require(back.metadata == file.metadata, "metadata changed in a round trip");
  fuzz::require(back.tensors.size() == file.tensors.size(), "tensor count changed in a round trip");
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    const Tensor& a = file.tensors[i].second;
    const Tensor& b = back.tensors[i].second;
    fuzz::require(back.tensors[i].first == file.tensors[i].first && a.shape() == b.shape(), "a tensor changed name or shape");
    fuzz::require(std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<size_t>(a.numel())) == 0,
                  "a tensor changed its bytes in a round trip");
  }
  return 0;
}
