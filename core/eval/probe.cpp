#include "core/eval/probe.h"

namespace kiln::eval {

Probe::~Probe() = default;

}  // namespace kiln::eval
