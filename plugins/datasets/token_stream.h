// A stream of token ids made of segments that live elsewhere (an in-memory vector, memory-mapped
// shards of uint16 or uint32), read as one sequence: windows may span segment boundaries.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace kiln::datasets {

class TokenStream {
 public:
  /// Appends n tokens of `width` bytes (2: uint16, 4: int32/uint32) at `data`; the memory must
  /// outlive the stream.
  void add(const void* data, int width, int64_t n);
  int64_t size() const { return size_; }
  int32_t at(int64_t i) const;
  /// Copies tokens [begin, begin + n) into out.
  void read(int64_t begin, int64_t n, int32_t* out) const;
  /// Calls f(offset) for each position whose token equals id, in order.
  template <class F>
  void for_each_equal(int64_t begin, int64_t end, int32_t id, F f) const;

 private:
  struct Segment {
    const void* data;
    int width;
    int64_t start, n;  // start: offset of the segment in the stream
  };
  std::vector<Segment> segments_;
  int64_t size_ = 0;
  size_t find(int64_t i) const;  // the segment that holds position i
};

template <class F>
void TokenStream::for_each_equal(int64_t begin, int64_t end, int32_t id, F f) const {
  for (const Segment& s : segments_) {
    int64_t lo = std::max(begin, s.start), hi = std::min(end, s.start + s.n);
    if (lo >= hi) continue;
    if (s.width == 2) {
      const auto* p = static_cast<const uint16_t*>(s.data);
      if (id < 0 || id > 0xFFFF) continue;
      for (int64_t i = lo; i < hi; ++i)
        if (p[i - s.start] == uint16_t(id)) f(i);
    } else {
      const auto* p = static_cast<const int32_t*>(s.data);
      for (int64_t i = lo; i < hi; ++i)
        if (p[i - s.start] == id) f(i);
    }
  }
}

}  // namespace kiln::datasets
