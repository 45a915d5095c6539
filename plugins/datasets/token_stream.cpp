#include "plugins/datasets/token_stream.h"

#include <algorithm>
#include <cstring>

#include "core/base/error.h"

namespace kiln::datasets {

void TokenStream::add(const void* data, int width, int64_t n) {
  KILN_CHECK(width == 2 || width == 4, "TokenStream: token width ", width, " (expected 2 or 4)");
  if (n == 0) return;
  segments_.push_back({data, width, size_, n});
  size_ += n;
}

size_t TokenStream::find(int64_t i) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), i,
                             [](int64_t v, const Segment& s) { return v < s.start; });
  return size_t(it - segments_.begin()) - 1;
}

int32_t TokenStream::at(int64_t i) const {
  KILN_CHECK(i >= 0 && i < size_, "TokenStream: position ", i, " outside [0, ", size_, ")");
  const Segment& s = segments_[find(i)];
  int64_t k = i - s.start;
  return s.width == 2 ? int32_t(static_cast<const uint16_t*>(s.data)[k])
                      : static_cast<const int32_t*>(s.data)[k];
}

void TokenStream::read(int64_t begin, int64_t n, int32_t* out) const {
  KILN_CHECK(begin >= 0 && n >= 0 && begin + n <= size_, "TokenStream: read [", begin, ", ",
             begin + n, ") outside [0, ", size_, ")");
  if (n == 0) return;
  for (size_t si = find(begin); n > 0; ++si) {
    const Segment& s = segments_[si];
    int64_t k = begin - s.start, m = std::min(n, s.n - k);
    if (s.width == 2) {
      const auto* p = static_cast<const uint16_t*>(s.data) + k;
      for (int64_t i = 0; i < m; ++i) out[i] = int32_t(p[i]);
    } else {
      std::memcpy(out, static_cast<const int32_t*>(s.data) + k, size_t(m) * sizeof(int32_t));
    }
    out += m;
    begin += m;
    n -= m;
  }
}

}  // namespace kiln::datasets
