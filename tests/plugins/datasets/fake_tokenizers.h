// Two tiny tokenizers for the datasets tests (the real ones live in another plugin):
//   test_char   nanoGPT's char vocabulary: the sorted distinct bytes of the text it is fitted
//               on; no end-of-text; an unknown byte is an error. It saves to tokenizer.json,
//               the name the real tokenizers use, so a clash with the shards' files shows.
//   test_bytes  ids 0..255 are bytes, 256 is "<|endoftext|>" (the end-of-text id).
#pragma once

#include <algorithm>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string>

#include "core/base/error.h"
#include "core/data/tokenizer.h"
#include "core/registry/registry.h"

namespace kiln::testing {

class FakeCharTokenizer final : public data::Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text, bool = false) const override {
    KILN_CHECK(!chars_.empty(), "test_char: encode before fit");
    std::vector<int32_t> ids;
    ids.reserve(text.size());
    for (char c : text) {
      size_t k = chars_.find(c);
      KILN_CHECK(k != std::string::npos, "test_char: character '", c, "' is not in the vocabulary");
      ids.push_back(int32_t(k));
    }
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t i : ids) s += chars_.at(size_t(i));
    return s;
  }
  std::string token_bytes(int32_t id) const override {
    return std::string(1, chars_.at(size_t(id)));
  }
  int64_t vocab_size() const override { return int64_t(chars_.size()); }
  bool needs_fit() const override { return true; }
  void fit(const std::vector<std::string_view>& corpus) override {
    std::set<char> seen;
    for (std::string_view t : corpus) seen.insert(t.begin(), t.end());
    chars_.assign(seen.begin(), seen.end());
    ++fits;
  }
  void save(const std::string& dir) const override {
    std::ofstream(dir + "/tokenizer.json", std::ios::binary) << chars_;
  }
  void load(const std::string& dir) override {
    std::ifstream in(dir + "/tokenizer.json", std::ios::binary);
    KILN_CHECK(in, "test_char: no ", dir, "/tokenizer.json");
    chars_.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::string chars_;
  int fits = 0;
};

class FakeByteTokenizer final : public data::Tokenizer {
 public:
  static constexpr int32_t kEos = 256;
  std::vector<int32_t> encode(std::string_view text, bool = false) const override {
    std::vector<int32_t> ids;
    for (unsigned char c : text) ids.push_back(int32_t(c));
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t i : ids) s += token_bytes(i);
    return s;
  }
  std::string token_bytes(int32_t id) const override {
    return id == kEos ? std::string("<|endoftext|>") : std::string(1, char(id));
  }
  int64_t vocab_size() const override { return 257; }
  std::map<std::string, int32_t> special_tokens() const override {
    return {{"<|endoftext|>", kEos}};
  }
  std::optional<int32_t> eos_id() const override { return kEos; }
  void save(const std::string&) const override {}
  void load(const std::string&) override {}
};

inline void register_fake_tokenizers(Registry& r) {
  r.add<data::Tokenizer>("tokenizer", "test_char", Schema("test: nanoGPT's char vocabulary"),
                         [](const Config&) { return std::make_shared<FakeCharTokenizer>(); });
  r.add<data::Tokenizer>("tokenizer", "test_bytes", Schema("test: bytes and <|endoftext|> = 256"),
                         [](const Config&) { return std::make_shared<FakeByteTokenizer>(); });
}

}  // namespace kiln::testing
