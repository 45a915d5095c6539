#include "core/nn/model.h"

namespace kiln::nn {

KVCache Model::make_cache(int64_t, int64_t) const {
  KILN_FAIL("this model has no KV cache: it cannot generate incrementally");
}

}  // namespace kiln::nn
