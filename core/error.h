// core/error.h — raoq's always-on checks.
//
// RAOQ_CHECK(cond, parts...) is compiled in every build type. On failure it throws
// raoq::Error whose message is the concatenation of `parts` (streamed with operator<<),
// so a message can name the op, what was expected and what was given:
//   RAOQ_CHECK(a.size(1) == b.size(0), "matmul: inner dimensions differ: a is ", a.shape(), ...)
// RAOQ_DCHECK is for per-element bounds in hot loops and exists only in debug builds;
// never rely on it for a user error. The library never calls exit().
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>
#include <cstdint>
#include <iosfwd>

namespace raoq {

// The one exception type raoq throws for user-visible errors. Catch it to embed raoq.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Shapes (std::vector<int64_t>) stream as "[2, 3]"; declared here so that RAOQ_CHECK can print
// one whichever header came first (defined in core/tensor.cpp).
std::ostream& operator<<(std::ostream& os, const std::vector<int64_t>& shape);

namespace detail {
template <typename... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream os;
  (os << ... << std::forward<Parts>(parts));
  return os.str();
}
}  // namespace detail

}  // namespace raoq

#define RAOQ_CHECK(cond, ...)                                    \
  do {                                                           \
    if (!(cond)) throw ::raoq::Error(::raoq::detail::concat(__VA_ARGS__)); \
  } while (0)

#ifdef NDEBUG
#define RAOQ_DCHECK(cond, ...) \
  do {                         \
  } while (0)
#else
#define RAOQ_DCHECK(cond, ...) RAOQ_CHECK(cond, __VA_ARGS__)
#endif
