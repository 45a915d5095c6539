#include "core/eval/windows.h"

#include <algorithm>

#include "core/base/error.h"

namespace kiln::eval {
namespace {

std::vector<int32_t> slice(std::span<const int32_t> t, int64_t begin, int64_t end) {
  return std::vector<int32_t>(t.begin() + begin, t.begin() + end);
}

}  // namespace

std::vector<LoglikelihoodRequest> rolling_windows(std::span<const int32_t> tokens,
                                                  std::optional<int32_t> prefix,
                                                  int64_t max_length) {
  KILN_CHECK(max_length >= 1, "rolling_windows: max_length must be >= 1, got ", max_length);
  // Without a prefix the first token plays its part.
  if (!prefix) {
    if (tokens.empty()) return {};
    prefix = tokens[0];
    tokens = tokens.subspan(1);
  }
  std::vector<LoglikelihoodRequest> out;
  const int64_t n = int64_t(tokens.size()), L = max_length;
  if (n == 0) return out;
  // First window: the prefix, then up to L tokens predicted.
  const int64_t first = std::min(L, n);
  out.push_back({{*prefix}, slice(tokens, 0, first)});
  // Later windows: the next k <= L tokens, with the L + 1 - k tokens before them as context
  // (get_rolling_token_windows yields input tokens[end-L-1 : end-1]; make_disjoint_window
  // keeps of it only what precedes the predictions).
  for (int64_t predicted = first; predicted < n;) {
    const int64_t k = std::min(n - predicted, L), end = predicted + k;
    out.push_back({slice(tokens, end - L - 1, predicted), slice(tokens, predicted, end)});
    predicted = end;
  }
  return out;
}

std::vector<LoglikelihoodRequest> strided_windows(std::span<const int32_t> tokens,
                                                  std::optional<int32_t> prefix, int64_t max_length,
                                                  int64_t stride) {
  KILN_CHECK(max_length >= 2, "strided_windows: max_length must be >= 2, got ", max_length);
  KILN_CHECK(stride >= 1 && stride < max_length,
             "strided_windows: stride must lie in [1, max_length - 1] = [1, ", max_length - 1,
             "], got ", stride, " (a stride of max_length would leave no context for the first ",
             "token of each window; the rolling method scores disjoint windows)");
  std::vector<int32_t> s;
  s.reserve(tokens.size() + 1);
  if (prefix) s.push_back(*prefix);
  s.insert(s.end(), tokens.begin(), tokens.end());
  std::vector<LoglikelihoodRequest> out;
  const int64_t n = int64_t(s.size()), L = max_length;
  // The Hugging Face loop: prev_end is the end of what earlier windows scored.
  int64_t prev_end = 0;
  for (int64_t begin = 0; begin < n; begin += stride) {
    const int64_t end = std::min(begin + L, n);
    const int64_t first_scored = std::max<int64_t>(prev_end, 1);  // s[0] has nothing before it
    if (first_scored < end)
      out.push_back({std::vector<int32_t>(s.begin() + begin, s.begin() + first_scored),
                     std::vector<int32_t>(s.begin() + first_scored, s.begin() + end)});
    prev_end = end;
    if (end == n) break;
  }
  return out;
}

}  // namespace kiln::eval
