#include "plugins/tokenizers/pretokenize.h"

namespace kiln::tokenizers {

std::vector<std::string_view> gpt2_pretokenize(std::string_view text) {
  std::vector<std::string_view> pieces;
  gpt2_pretokenize(text, [&](std::string_view p) { pieces.push_back(p); });
  return pieces;
}

std::vector<size_t> pretokenize_chunks(std::string_view text, size_t target) {
  std::vector<size_t> bounds{0};
  if (target == 0) target = 1;
  auto printable = [](char c) { return c > 0x20 && c < 0x7F; };
  size_t start = 0;
  while (text.size() - start > target) {
    size_t p = start + target, found = 0;
    for (; p + 1 < text.size(); ++p) {
      if (text[p] == '\n' && p >= 1 && printable(text[p - 1]) && printable(text[p + 1])) {
        found = p + 1;
        break;
      }
    }
    if (!found) break;
    bounds.push_back(found);
    start = found;
  }
  bounds.push_back(text.size());
  return bounds;
}

}  // namespace kiln::tokenizers
