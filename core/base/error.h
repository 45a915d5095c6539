// The one exception type kiln throws, and the check macro that builds its message.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace kiln {

/// Every error kiln reports to a user. The message says what was seen and what was expected.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

}  // namespace kiln

/// Throws kiln::Error with the streamed message when `cond` is false.
#define KILN_CHECK(cond, ...)                                   \
  do {                                                          \
    if (!(cond)) [[unlikely]]                                   \
      throw ::kiln::Error(::kiln::str_cat(__VA_ARGS__));        \
  } while (0)

#define KILN_FAIL(...) throw ::kiln::Error(::kiln::str_cat(__VA_ARGS__))
