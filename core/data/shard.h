// Token shards: the files `kiln data tokenize` writes and the shards dataset memory-maps. In the
// core because both the kiln program and the datasets plugin read and write them.
//
//   [64 bytes]  the header, little-endian:
//                 0  char[8]  magic "KILNTOK\0"
//                 8  u32      version (1)
//                12  u32      bytes per token: 2 (uint16, when every id of the vocabulary fits)
//                             or 4 (uint32)
//                16  u64      token count
//                24  u64      vocabulary size of the tokenizer that wrote them
//                32  i64      its end-of-text id, -1 when it has none
//                40  24 bytes zero (reserved)
//   [rest]      the tokens, count * bytes per token, little-endian; nothing after them.
//
// Documents are separated as in the dataset that produced the shard: each starts with the
// end-of-text id when the tokenizer has one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace kiln::data {

inline constexpr char kShardMagic[8] = {'K', 'I', 'L', 'N', 'T', 'O', 'K', '\0'};
inline constexpr uint32_t kShardVersion = 1;
inline constexpr size_t kShardHeaderBytes = 64;
/// Beside the shards, the spec of the tokenizer that wrote them (a component as JSON); the
/// tokenizer's own files (its save()) lie beside it.
inline constexpr char kShardTokenizerSpec[] = "tokenizer_spec.json";

struct ShardInfo {
  uint32_t version = kShardVersion;
  int token_bytes = 2;  ///< 2 or 4
  int64_t count = 0;
  int64_t vocab_size = 0;
  std::optional<int32_t> eos;
};

/// The token width a vocabulary needs: 2 bytes when every id fits in a uint16, else 4.
int shard_token_bytes(int64_t vocab_size);

/// Writes tokens as one shard. The file is written under a temporary name beside `path` and
/// renamed, so `path` is never half a shard. Throws naming the file on an I/O error or a token
/// outside [0, vocab_size).
void write_shard(const std::string& path, std::span<const int32_t> tokens, int64_t vocab_size,
                 std::optional<int32_t> eos);

/// A shard, memory-mapped read-only. The constructor checks the header and the file's size and
/// throws kiln::Error naming the file on a wrong magic, an unknown version or token width, or
/// a size that disagrees with the count (a truncated file).
class ShardFile {
 public:
  explicit ShardFile(const std::string& path);
  const std::string& path() const { return path_; }
  const ShardInfo& info() const { return info_; }
  int64_t size() const { return info_.count; }
  /// The tokens: count values of info().token_bytes bytes each.
  const void* data() const { return tokens_; }
  int32_t at(int64_t i) const;

 private:
  std::string path_;
  ShardInfo info_;
  std::shared_ptr<const void> mapping_;
  const void* tokens_ = nullptr;
};

}  // namespace kiln::data
