// Byte-level BPE tokenizers over GPT-2's pre-tokenisation: "bpe", trained on the corpus by
// fit(), and "gpt2", GPT-2's own vocabulary read from its encoder.json and vocab.bpe. Both save
// the vocabulary in those two files, so a trained vocabulary is readable by GPT-2's tools.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include "plugins/tokenizers/byte_pair.h"
#include "plugins/tokenizers/tokenizer_base.h"

namespace kiln::tokenizers {

class BpeTokenizer final : public TokenizerBase {
 public:
  /// A tokenizer that fit() trains: vocab_size tokens in all (the 256 bytes, the merges and
  /// the special tokens, which are numbered last), fewer if the corpus runs out of pairs that
  /// occur min_frequency times.
  static std::shared_ptr<BpeTokenizer> trainable(int64_t vocab_size, int64_t min_frequency,
                                                 std::vector<std::string> special_tokens,
                                                 std::optional<std::string> eos);
  /// GPT-2's BPE (or any vocabulary in its format), read from the two files on first use, so
  /// that a run restored with load() does not need them. A special token that is in
  /// encoder.json ("<|endoftext|>" = 50256) keeps its id; others are numbered after the
  /// vocabulary. `where` prefixes errors (the spec's location).
  static std::shared_ptr<BpeTokenizer> gpt2(std::string encoder_json, std::string vocab_bpe,
                                            std::vector<std::string> special_tokens,
                                            std::optional<std::string> eos, std::string where = "");

  int64_t vocab_size() const override;
  bool needs_fit() const override;
  void fit(const std::vector<std::string_view>& corpus) override;
  /// Writes tokenizer.json, encoder.json and vocab.bpe.
  void save(const std::string& dir) const override;
  void load(const std::string& dir) override;

  const BytePairEncoder& encoder() const;
  /// Text of at least this many bytes is encoded by all threads in chunks (tests lower it).
  void set_parallel_min_bytes(size_t n) { parallel_min_bytes_ = n; }

 protected:
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const override;
  void append_ordinary(int32_t id, std::string& out) const override;
  void ensure_ready() const override;

 private:
  BpeTokenizer(std::string name, std::vector<std::string> special_tokens,
               std::optional<std::string> eos);
  void encode_serial(std::string_view text, std::vector<int32_t>& out) const;
  struct Vocab {
    std::vector<std::string> tokens;
    std::vector<BytePairEncoder::Merge> merges;
    std::vector<std::pair<std::string, int32_t>> specials;
  };
  // Reads encoder.json and vocab.bpe. The special tokens are the saved ones, which must be in
  // encoder.json with their ids, or else the spec's, numbered as gpt2() says.
  Vocab read_files(const std::string& encoder_path, const std::string& vocab_path,
                   const std::vector<std::pair<std::string, int32_t>>* saved_specials) const;
  // Builds the encoder, then commits it with the special tokens (and, from load(), the saved
  // header's). Nothing changes when it throws.
  void install(Vocab v, const SavedHeader* saved = nullptr);

  int64_t target_vocab_ = 0, min_frequency_ = 2;   // trained
  std::string encoder_path_, vocab_path_, where_;  // gpt2
  size_t parallel_min_bytes_ = size_t(1) << 20;
  BytePairEncoder enc_;
  mutable std::mutex load_mu_;
  mutable std::atomic<bool> ready_{false};
};

}  // namespace kiln::tokenizers
