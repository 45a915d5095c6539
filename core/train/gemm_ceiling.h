// The GEMM ceiling MFU is measured against: the FLOP/s of a large f32 matrix product on this
// machine with kiln's thread count, as kiln::ops::matmul (oneDNN) reaches it. What a training
// step could reach if it did nothing but GEMMs, so MFU = achieved / ceiling says how much time
// goes elsewhere (the PaLM paper measures against the hardware peak instead; on a CPU the peak
// of the data sheet is out of reach of any GEMM, which makes the figure less useful).
#pragma once

namespace kiln::train {

/// FLOP/s of a 1024 x 1024 x 1024 f32 ops::matmul, the best of a few calls (about 0.2 s the
/// first time). Cached in the process and in $XDG_CACHE_HOME/kiln/gemm_ceiling (or
/// ~/.cache/kiln/...), keyed by the CPU model and the thread count. KILN_GEMM_CEILING_GFLOPS
/// overrides the measurement.
double gemm_ceiling_flops();

}  // namespace kiln::train
