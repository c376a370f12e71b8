// core/safetensors.h — read and write safetensors files (named float32 tensors + string metadata).
//
// The format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N,
// N bytes of JSON, then the data section. The JSON object maps each tensor name to
//   {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
// (or "I8": integer codes, one byte each, or "I64": PyTorch's integer buffers such as BatchNorm's
// num_batches_tracked, both read back into float tensors; an I64 value beyond 2^24 is refused)
// (offsets in bytes, relative to the data section) and may hold "__metadata__", a map of strings
// to strings. raoq stores structure (configs, loader state) as JSON text inside a metadata value.
//
// Reading also takes F16, BF16 (every value exact in float) and F64 (rounded to the nearest float,
// exact when the value is one; beyond float's range it is refused), as PyTorch state_dicts often are.
// What it deliberately does not do: write any dtype but F32, I8 and I64 (raoq tensors are float32),
// read other dtypes (U8, I32, F8_*, ...: refused with the dtype, tensor and file named), memory
// mapping, partial loads.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace raoq {

struct SafetensorsFile {
  std::vector<std::pair<std::string, Tensor>> tensors;  // in data-section order (by offset)
  std::map<std::string, std::string> metadata;          // "__metadata__"; empty when absent

  // The tensor called `name`; throws raoq::Error listing what the file holds when it is absent.
  const Tensor& at(const std::string& name) const;
  bool contains(const std::string& name) const;
};

// Writes `tensors` (in the given order) and `metadata` to `path`, atomically: the bytes go to a
// temporary file in the same folder, which is flushed, fsync'ed and renamed over `path`, so a
// reader (or a crash) never sees a half-written checkpoint.
// requires: names unique and not "__metadata__"; every tensor defined; names and metadata valid UTF-8.
// Test hook: RAOQ_FAULT_KILL_IN_WRITE=N in the environment kills the process (SIGKILL) halfway
// through the N-th file it writes, leaving the temporary file half written and `path` untouched.
// The tensors named in `int8` are written as I8 (an export's weight codes): each value must be an
// integer in [-128, 127], else the write fails naming the tensor and element. Those in `int64` are
// written as I64 (what PyTorch keeps as int64, e.g. num_batches_tracked): integers of at most 2^24.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {}, const std::set<std::string>& int8 = {},
                      const std::set<std::string>& int64 = {});

// Reads and validates a whole file. Every size is checked against the file length before any
// tensor is allocated; any malformation (bad header length, non-JSON or non-object header, dtype
// other than F32, F16, BF16, F64, I8 and I64, bad shape, bad/overlapping/uncovered data_offsets, duplicate names) throws
// raoq::Error with one line naming the file, the tensor or byte offset, and what was expected.
// I64 tensors named in `int64_counters` (PyTorch's num_batches_tracked, a count the caller checks
// and drops) may exceed 2^24: they are rounded to the nearest float instead of refused.
SafetensorsFile load_safetensors(const std::string& path, const std::set<std::string>& int64_counters = {});

}  // namespace raoq
