// The tokenizers plugin: byte, char, bpe (trained on the corpus) and gpt2 (GPT-2's files).
#include <cstdlib>

#include "core/registry/plugin.h"
#include "plugins/tokenizers/bpe_tokenizer.h"
#include "plugins/tokenizers/byte_tokenizer.h"
#include "plugins/tokenizers/char_tokenizer.h"

#ifndef KILN_SHARED_DATA
#define KILN_SHARED_DATA ""
#endif

namespace kiln::tokenizers {
namespace {

using data::Tokenizer;

std::vector<std::string> string_list(const Config& c, const std::string& key) {
  std::vector<std::string> out;
  for (const Config& item : c.at(key).items()) out.push_back(item.as_string());
  return out;
}

std::optional<std::string> optional_string(const Config& c, const std::string& key) {
  const Config* v = c.find(key);
  if (!v || v->is_null()) return std::nullopt;
  return v->as_string();
}

void add_specials(Schema& s, std::vector<std::string> def, const std::string& what) {
  std::vector<Config> items;
  for (auto& t : def) items.emplace_back(std::move(t));
  s.list("special_tokens", ParamType::string(), Config::list(std::move(items)),
         "strings that encode(text, parse_special) turns into one id each, " + what);
  s.optional("eos", ParamType::string(),
             "the special token that ends a document (default: the end-of-text token, when listed)");
}

// Errors of a tokenizer's constructor, located at the spec's node.
template <class F>
std::shared_ptr<Tokenizer> located(const Config& c, F make) {
  try {
    return make();
  } catch (const Error& e) {
    c.fail(e.what());
  }
}

// GPT-2's files: `dir` when given, else $KILN_SHARED_DATA/gpt2-bpe, else the shared data
// folder beside the source tree that kiln was built from.
std::string gpt2_dir(const Config& c) {
  if (auto dir = optional_string(c, "dir")) return *dir;
  if (const char* env = std::getenv("KILN_SHARED_DATA"); env && *env)
    return std::string(env) + "/gpt2-bpe";
  return std::string(KILN_SHARED_DATA) + "/gpt2-bpe";
}

void register_components(Registry& r) {
  Schema byte("bytes as tokens: ids 0..255 are the bytes of the UTF-8 text, special tokens follow");
  add_specials(byte, {}, "numbered from 256");
  r.add<Tokenizer>("tokenizer", "byte", byte, [](const Config& c) {
    return located(c, [&] {
      return std::make_shared<ByteTokenizer>(string_list(c, "special_tokens"),
                                             optional_string(c, "eos"));
    });
  });

  Schema chr(
      "characters as tokens: the distinct characters of the training text, in code-point order "
      "(nanoGPT's "
      "shakespeare-char); the vocabulary is saved with the run");
  add_specials(chr, {}, "numbered after the characters");
  chr.optional("chars", ParamType::string(),
               "a fixed vocabulary: the characters of this string (no fitting)");
  r.add<Tokenizer>("tokenizer", "char", chr, [](const Config& c) {
    return located(c, [&] {
      return std::make_shared<CharTokenizer>(
          string_list(c, "special_tokens"), optional_string(c, "eos"), optional_string(c, "chars"));
    });
  });

  Schema bpe(
      "byte-level BPE trained on the training text with GPT-2's pre-tokenisation; deterministic "
      "(ties go to "
      "the byte-wise smaller pair); saved as encoder.json and vocab.bpe");
  bpe.integer("vocab_size", 4096,
              "tokens in all: the 256 bytes, the learned merges and the special tokens")
      .min(257);
  bpe.integer("min_frequency", 2,
              "stop merging when no pair occurs this often (the vocabulary is then smaller)")
      .min(1);
  add_specials(bpe, {"<|endoftext|>"}, "numbered last; never merged with text");
  r.add<Tokenizer>("tokenizer", "bpe", bpe, [](const Config& c) {
    return located(c, [&] {
      return BpeTokenizer::trainable(c.get<int64_t>("vocab_size"), c.get<int64_t>("min_frequency"),
                                     string_list(c, "special_tokens"), optional_string(c, "eos"));
    });
  });

  Schema gpt2(
      "GPT-2's byte-level BPE (50257 tokens, <|endoftext|> = 50256) read from encoder.json and "
      "vocab.bpe, "
      "with GPT-2's exact pre-tokenisation");
  gpt2.optional("dir", ParamType::string(),
                "folder holding encoder.json and vocab.bpe (default: $KILN_SHARED_DATA/gpt2-bpe, "
                "else the shared "
                "data beside the source tree)");
  gpt2.optional("encoder_json", ParamType::string(),
                "path of encoder.json (default: dir/encoder.json)");
  gpt2.optional("vocab_bpe", ParamType::string(), "path of vocab.bpe (default: dir/vocab.bpe)");
  add_specials(gpt2, {"<|endoftext|>"}, "with their ids in encoder.json, or numbered after it");
  r.add<Tokenizer>("tokenizer", "gpt2", gpt2, [](const Config& c) {
    const std::string dir = gpt2_dir(c);
    std::string encoder =
        optional_string(c, "encoder_json").value_or(join_path(dir, "encoder.json"));
    std::string vocab = optional_string(c, "vocab_bpe").value_or(join_path(dir, "vocab.bpe"));
    return located(c, [&] {
      return BpeTokenizer::gpt2(encoder, vocab, string_list(c, "special_tokens"),
                                optional_string(c, "eos"), c.where());
    });
  });
}

}  // namespace
}  // namespace kiln::tokenizers

KILN_PLUGIN("kiln_tokenizers", "0.1.0", kiln::tokenizers::register_components)
