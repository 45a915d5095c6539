// Where a tensor's storage lives.
#pragma once

#include <cstdint>
#include <string>

namespace kiln {

struct Device {
  enum class Type : uint8_t { cpu, cuda };
  static constexpr int kNumTypes = 2;

  Type type = Type::cpu;
  int index = 0;

  static Device cpu() { return {Type::cpu, 0}; }
  static Device cuda(int index = 0) { return {Type::cuda, index}; }
  bool is_cpu() const { return type == Type::cpu; }
  bool is_cuda() const { return type == Type::cuda; }
  /// "cpu" or "cuda:N".
  std::string str() const;
  /// Parses "cpu", "cuda", "cuda:N"; throws on anything else.
  static Device parse(const std::string& s);

  friend bool operator==(Device a, Device b) { return a.type == b.type && (a.is_cpu() || a.index == b.index); }
};

/// Whether this build has the CUDA backend and a CUDA device is present (never throws).
bool cuda_available();

}  // namespace kiln
