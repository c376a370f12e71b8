// tools/pipeline/atomic_file.h — whole-file writes that a crash can never leave half done.
//
// The bytes go to a temporary file in the same folder, which is flushed, fsync'ed and renamed
// over the target; the folder is fsync'ed too, so after return the new file survives a power
// cut and a reader sees either the old file or the new one. (Checkpoints use
// save_safetensors, which does the same.)
#pragma once

#include <string>

namespace raoq::tools {

void write_file_atomic(const std::string& path, const std::string& contents);
// Reads a whole file; errors name the file.
std::string read_file(const std::string& path);

}  // namespace raoq::tools
