// The CPU backend's kernel families; each fills its kernel tables.
#pragma once

namespace kiln::ops::cpu {

void register_elementwise();  // elementwise_cpu.cpp
void register_reduce();       // reduce_cpu.cpp
void register_softmax();      // softmax_cpu.cpp: softmax, log_softmax, logsumexp, scans, top-k
void register_matmul();       // matmul_cpu.cpp: oneDNN GEMM
void register_norm();         // norm_cpu.cpp: layer_norm, rms_norm
void register_loss();         // loss_cpu.cpp: cross_entropy
void register_index();        // index_cpu.cpp: gather, scatter, embedding, concat
void register_attention();    // attention_cpu.cpp: fused attention, rotary embedding

}  // namespace kiln::ops::cpu
