#include "core/tensor/device.h"

#include "core/base/error.h"

#ifdef KILN_HAS_CUDA
#include "core/ops/cuda/backend.h"
#endif

namespace kiln {

bool cuda_available() {
#ifdef KILN_HAS_CUDA
  return ops::cuda_backend::available();
#else
  return false;
#endif
}

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5 && s.find_first_not_of("0123456789", 5) == std::string::npos)
    return cuda(std::stoi(s.substr(5)));
  KILN_FAIL("unknown device \"", s, "\" (expected cpu, cuda or cuda:N)");
}

}  // namespace kiln
