// In-process test components of a "gadget" kind, shared by the registry and spec tests.
#pragma once

#include <memory>
#include <string>

#include "core/registry/registry.h"

namespace kiln {

struct Gadget {
  virtual ~Gadget() = default;
  int64_t size = 0;
  double ratio = 0;
  std::string mode;
};

/// Registers gadget.box and gadget.lazy once per process.
void ensure_gadgets();

}  // namespace kiln
