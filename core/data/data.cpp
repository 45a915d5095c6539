#include "core/data/dataset.h"
#include "core/data/tokenizer.h"

#include <map>
#include <vector>

namespace kiln::data {

Tokenizer::~Tokenizer() = default;

std::optional<int32_t> Tokenizer::special_id(std::string_view role_or_text) const {
  if (role_or_text == "eos") {
    if (auto id = eos_id()) return id;
  }
  // The texts by which each role is known, most common first. "</s>" is BERT-style `sep` and
  // also the end of a sequence in RoBERTa, BART and T5, so `eos` falls back to it.
  static const std::map<std::string_view, std::vector<std::string_view>> kRoles = {
      {"mask", {"[MASK]", "<mask>"}},
      {"pad", {"[PAD]", "<pad>", "<|padding|>"}},
      {"cls", {"[CLS]", "<s>", "<cls>"}},
      {"sep", {"[SEP]", "</s>", "<sep>"}},
      {"unk", {"[UNK]", "<unk>"}},
      {"bos", {"<s>", "[CLS]", "<|startoftext|>", "<bos>"}},
      {"eos", {"</s>", "<|endoftext|>", "<eos>"}},
  };
  const std::map<std::string, int32_t> specials = special_tokens();
  auto role = kRoles.find(role_or_text);
  if (role == kRoles.end()) {
    auto it = specials.find(std::string(role_or_text));
    if (it == specials.end()) return std::nullopt;
    return it->second;
  }
  for (std::string_view text : role->second) {
    auto it = specials.find(std::string(text));
    if (it != specials.end()) return it->second;
  }
  return std::nullopt;
}
Dataset::~Dataset() = default;

Batch Dataset::examples_in_order(Split, size_t, size_t, int64_t) const {
  KILN_FAIL("this dataset holds a stream of tokens, not examples to take in order (a dataset "
            "of preference pairs such as `preference` does)");
}

const char* split_name(Split s) { return s == Split::train ? "train" : "val"; }

}  // namespace kiln::data
