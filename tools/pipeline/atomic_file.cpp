// tools/pipeline/atomic_file.cpp — temp file + fsync + rename (POSIX).
#include "tools/pipeline/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace raoq::tools {
namespace {

std::string errno_text() { return std::strerror(errno); }

void write_all(int fd, const std::string& contents, const std::string& path) {
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    RAOQ_CHECK(n > 0, "cannot write '", path, "' (", errno_text(), ")");
    done += static_cast<size_t>(n);
  }
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& contents) {
  const std::filesystem::path target(path);
  const std::filesystem::path folder = target.has_parent_path() ? target.parent_path() : ".";
  const std::string temp =
      (folder / ("." + target.filename().string() + ".tmp." + std::to_string(::getpid()))).string();
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  RAOQ_CHECK(fd >= 0, "cannot create '", temp, "' (", errno_text(), ")");
  try {
    write_all(fd, contents, temp);
    RAOQ_CHECK(::fsync(fd) == 0, "cannot flush '", temp, "' (", errno_text(), ")");
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(temp.c_str());
    throw Error("cannot replace '" + path + "' (" + why + ")");
  }
  // The rename itself is durable only once the folder's entry is on disk.
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  RAOQ_CHECK(in, "cannot open '", path, "' (", errno_text(), ")");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace raoq::tools
