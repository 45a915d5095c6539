// Open-addressing hash tables for the two look-ups BPE encoding makes per piece: a pair of ids
// to its merge, and a piece's bytes to the token they are. Linear probing over one flat array
// keeps a look-up to one or two cache lines, where std::unordered_map chases nodes.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::tokenizers {

/// A fast hash of a short byte string (8 bytes at a time, mixed as in splitmix64).
inline uint64_t hash_bytes(std::string_view s) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
  size_t i = 0;
  auto mix = [&](uint64_t v) {
    h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  };
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t v;
    std::memcpy(&v, s.data() + i, 8);
    mix(v);
  }
  if (i < s.size()) {
    uint64_t v = 0;
    std::memcpy(&v, s.data() + i, s.size() - i);
    mix(v);
  }
  return h * 0x94D049BB133111EBull;
}

/// (left id, right id) -> (rank, id of the merged token).
class PairTable {
 public:
  struct Slot {
    uint64_t key = kEmpty;
    int32_t rank = 0, id = 0;
  };

  static uint64_t key(int32_t left, int32_t right) {
    return uint64_t(uint32_t(left)) << 32 | uint32_t(right);
  }

  void reserve(size_t n) {
    const size_t cap = std::bit_ceil(std::max<size_t>(16, n * 2));
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
  }
  /// Inserts; returns the slot already holding the key instead when there is one.
  const Slot* insert(uint64_t k, int32_t rank, int32_t id) {
    for (size_t i = index(k);; i = (i + 1) & mask_) {
      if (slots_[i].key == k) return &slots_[i];
      if (slots_[i].key == kEmpty) {
        slots_[i] = {k, rank, id};
        return nullptr;
      }
    }
  }
  const Slot* find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    const uint64_t k = key(left, right);
    for (size_t i = index(k);; i = (i + 1) & mask_) {
      if (slots_[i].key == k) return &slots_[i];
      if (slots_[i].key == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t(0);  // ids are >= 0, so no key is all ones
  size_t index(uint64_t k) const { return size_t((k * 0x9E3779B97F4A7C15ull) >> 20) & mask_; }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

/// Bytes -> token id, over a vocabulary held by the caller (each call passes it, so that the
/// owner may move it). A slot holds the first 8 bytes of its token, so that a look-up of a
/// token of up to 8 bytes (nearly all) reads one cache line and not the vocabulary.
class TokenTable {
 public:
  void reserve(size_t n) {
    const size_t cap = std::bit_ceil(std::max<size_t>(16, n * 2));
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
  }
  void insert(int32_t id, const std::vector<std::string>& tokens) {
    const std::string& s = tokens[size_t(id)];
    const uint64_t h = hash_bytes(s);
    size_t i = size_t(h) & mask_;
    while (slots_[i].id >= 0) i = (i + 1) & mask_;
    slots_[i] = {prefix(s), uint32_t(s.size()), id};
  }
  /// The id whose bytes are s, or -1.
  int32_t find(std::string_view s, const std::vector<std::string>& tokens) const {
    if (slots_.empty()) return -1;
    const uint64_t h = hash_bytes(s), p = prefix(s);
    for (size_t i = size_t(h) & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.id < 0) return -1;
      if (slot.prefix == p && slot.size == s.size() &&
          (s.size() <= 8 || tokens[size_t(slot.id)] == s))
        return slot.id;
    }
  }

 private:
  struct Slot {
    uint64_t prefix = 0;
    uint32_t size = 0;
    int32_t id = -1;
  };
  static uint64_t prefix(std::string_view s) {
    uint64_t v = 0;
    std::memcpy(&v, s.data(), std::min<size_t>(8, s.size()));
    return v;
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

}  // namespace kiln::tokenizers
