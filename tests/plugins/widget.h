// A component kind used only by the plugin-loading tests.
#pragma once

#include <string>

namespace kiln::testing {

struct Widget {
  virtual ~Widget();
  virtual std::string hello() const = 0;
};

}  // namespace kiln::testing
