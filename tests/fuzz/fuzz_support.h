// tests/fuzz/fuzz_support.h — what every libFuzzer harness here shares.
//
// The contract each harness checks, on any input: the parser returns, or throws raoq::Error with
// a one-line message. Anything else is a finding: another exception type escapes
// LLVMFuzzerTestOneInput (libFuzzer reports it), a sanitizer fires (ASan, UBSan), the process
// hangs or runs out of memory, or an invariant that a harness states with require() fails.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"

namespace raoq::fuzz {

// Aborts with a message when an invariant fails, so that libFuzzer saves the input.
inline void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz invariant failed: %s\n", what);
  std::abort();
}

// Runs `parse`; a raoq::Error is the expected answer to a bad input, and must be one line.
template <typename Fn>
bool parses(Fn&& parse) {
  try {
    parse();
    return true;
  } catch (const Error& e) {
    if (std::strchr(e.what(), '\n') != nullptr) std::fprintf(stderr, "the message: %s\n", e.what());
  require(std::strchr(e.what(), '\n') == nullptr, "a raoq::Error message spans more than one line");
    return false;
  }
}

// A private folder for this process's files, in memory when /dev/shm exists (every input is
// written to a file, since the readers under test take paths).
inline const std::string& scratch() {
  // Never destroyed: the atexit cleanup must still see it after static destructors ran.
  static const std::string* dir = [] {
    const std::filesystem::path base =
        std::filesystem::is_directory("/dev/shm") ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path();
    std::string pattern = (base / "raoq_fuzz_XXXXXX").string();
    require(::mkdtemp(pattern.data()) != nullptr, "cannot create a scratch folder");
    return new std::string(pattern);
  }();
  static const bool cleanup = std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(*dir, ec);
  }) == 0;
  (void)cleanup;
  return *dir;
}

inline std::string write_scratch(const std::string& name, const void* data, size_t size) {
  const std::string path = scratch() + "/" + name;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  require(static_cast<bool>(out), "cannot write a scratch file");
  return path;
}

}  // namespace raoq::fuzz
