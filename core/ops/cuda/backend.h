// The CUDA backend (built when KILN_CUDA is on).
#pragma once

namespace kiln::ops::cuda_backend {

/// Whether a CUDA device can be used (a driver and at least one device).
bool available();
/// Installs the device allocator, copies and kernels in the tables.
void register_backend();

}  // namespace kiln::ops::cuda_backend
