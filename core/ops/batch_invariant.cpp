#include "core/ops/batch_invariant.h"

namespace kiln::ops {
namespace {

thread_local bool t_batch_invariant = false;

}  // namespace

bool batch_invariant() {
  return t_batch_invariant;
}

BatchInvariant::BatchInvariant(bool on) : saved_(t_batch_invariant) {
  t_batch_invariant = on;
}

BatchInvariant::~BatchInvariant() {
  t_batch_invariant = saved_;
}

}  // namespace kiln::ops
