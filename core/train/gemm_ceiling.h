// The GEMM ceiling MFU is measured against: the FLOP/s of a large f32 matrix product on this
// machine with kiln's thread count, as kiln::ops::matmul (oneDNN) reaches it. What a training
// step could reach if it did nothing but GEMMs, so MFU = achieved / ceiling says how much time
// goes elsewhere (the PaLM paper measures against the hardware peak instead; on a CPU the peak
// of the data sheet is out of reach of any GEMM, which makes the figure less useful).
//
// The ceiling is kept in $XDG_CACHE_HOME/kiln/gemm_ceiling (or ~/.cache/kiln/...), one line per
// (CPU model, thread count). A measurement can only come out low (a busy machine slows a GEMM,
// nothing makes it faster than the hardware allows), so the file keeps the highest rate ever
// recorded: bench_core and bench_train record what they measure, which repairs a value taken
// while the machine was busy.
#pragma once

#include <cstdint>

namespace kiln::train {

/// The ceiling: KILN_GEMM_CEILING_GFLOPS when set; else the value recorded for this CPU and
/// thread count (in this process or in the cache file); else a measurement (measure_gemm_flops,
/// about half a second), which is recorded.
double gemm_ceiling_flops();

/// FLOP/s of an n x n x n f32 ops::matmul at kiln's thread count now: the fastest call after a
/// warm-up, calls repeated for about `seconds` and at least 3 times (on a shared machine the
/// fastest call is the one that ran undisturbed).
double measure_gemm_flops(int64_t n = 1536, double seconds = 0.5);

/// Records a measured ceiling for this CPU and the current thread count: the cache file and the
/// process keep max(recorded, flops). Returns the ceiling held afterwards.
double record_gemm_ceiling(double flops);

}  // namespace kiln::train
