// Token shards: the file format, its checks, and the shards dataset.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "core/data/shard.h"
#include "plugins/datasets/sampler.h"
#include "tests/plugins/datasets/util.h"

namespace kiln::testing {
namespace {

using data::ShardFile;
using data::Split;
using data::write_shard;

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void overwrite(const std::string& path, size_t at, const void* data, size_t n) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(std::streamoff(at));
  f.write(static_cast<const char*>(data), std::streamsize(n));
}

template <class T>
T field(const std::string& bytes, size_t at) {
  T v;
  std::memcpy(&v, bytes.data() + at, sizeof v);
  return v;
}

using Shards = DatasetsTest;

TEST_F(Shards, HeaderIsAsDocumentedAndTokensAreUint16WhenTheVocabularyFits) {
  std::vector<int32_t> tokens = {0, 1, 65535, 300, 7};
  std::string p = path("a.bin");
  write_shard(p, tokens, 65536, 300);
  std::string b = bytes_of(p);
  ASSERT_EQ(b.size(), 64u + 2 * tokens.size());
  EXPECT_EQ(b.substr(0, 8), std::string("KILNTOK\0", 8));
  EXPECT_EQ(field<uint32_t>(b, 8), 1u);   // version
  EXPECT_EQ(field<uint32_t>(b, 12), 2u);  // bytes per token
  EXPECT_EQ(field<uint64_t>(b, 16), 5u);  // count
  EXPECT_EQ(field<uint64_t>(b, 24), 65536u);
  EXPECT_EQ(field<int64_t>(b, 32), 300);
  for (size_t i = 40; i < 64; ++i) EXPECT_EQ(b[i], 0) << i;
  for (size_t i = 0; i < tokens.size(); ++i) EXPECT_EQ(field<uint16_t>(b, 64 + 2 * i), tokens[i]);

  ShardFile f(p);
  EXPECT_EQ(f.size(), 5);
  EXPECT_EQ(f.info().token_bytes, 2);
  EXPECT_EQ(f.info().vocab_size, 65536);
  EXPECT_EQ(f.info().eos, 300);
  for (size_t i = 0; i < tokens.size(); ++i) EXPECT_EQ(f.at(int64_t(i)), tokens[i]);
}

TEST_F(Shards, Uint32WhenTheVocabularyDoesNotFit) {
  std::vector<int32_t> tokens = {65536, 0, 100276};
  std::string p = path("b.bin");
  write_shard(p, tokens, 100277, std::nullopt);
  std::string b = bytes_of(p);
  ASSERT_EQ(b.size(), 64u + 4 * tokens.size());
  EXPECT_EQ(field<uint32_t>(b, 12), 4u);
  EXPECT_EQ(field<int64_t>(b, 32), -1);
  ShardFile f(p);
  EXPECT_FALSE(f.info().eos.has_value());
  for (size_t i = 0; i < tokens.size(); ++i) EXPECT_EQ(f.at(int64_t(i)), tokens[i]);
}

TEST_F(Shards, ATokenOutsideTheVocabularyIsNotWritten) {
  std::string p = path("c.bin");
  EXPECT_ERROR_HAS(error_of([&] {
                     write_shard(p, std::vector<int32_t>{1, 2, 65}, 65, std::nullopt);
                   }),
                   "c.bin", "token 2 is 65", "[0, 65)");
  EXPECT_FALSE(fs::exists(p));
  for (const auto& e : fs::directory_iterator(dir_)) ADD_FAILURE() << "left behind: " << e.path();
}

TEST_F(Shards, BadFilesAreRefusedNamingTheFile) {
  std::vector<int32_t> tokens(100);
  std::iota(tokens.begin(), tokens.end(), 0);
  const std::string good = path("good.bin");
  write_shard(good, tokens, 1000, std::nullopt);
  const std::string content = bytes_of(good);

  std::string p = write("magic.bin", content);
  overwrite(p, 0, "GPT2TOK", 7);
  EXPECT_ERROR_HAS(error_of([&] { ShardFile f(p); }), "magic.bin", "wrong magic");

  p = write("version.bin", content);
  uint32_t v = 9;
  overwrite(p, 8, &v, 4);
  EXPECT_ERROR_HAS(error_of([&] { ShardFile f(p); }), "version.bin", "version 9");

  p = write("width.bin", content);
  uint32_t w = 3;
  overwrite(p, 12, &w, 4);
  EXPECT_ERROR_HAS(error_of([&] { ShardFile f(p); }), "width.bin", "corrupt header",
                   "3 bytes per token");

  p = write("count.bin", content);
  uint64_t huge = uint64_t(1) << 62;
  overwrite(p, 16, &huge, 8);
  EXPECT_ERROR_HAS(error_of([&] { ShardFile f(p); }), "count.bin", "truncated");

  p = write("truncated.bin", content.substr(0, content.size() - 11));
  EXPECT_ERROR_HAS(error_of([&] { ShardFile f(p); }), "truncated.bin", "says 100 tokens",
                   "189 bytes", "truncated");

  p = write("short.bin", content.substr(0, 30));
  EXPECT_ERROR_HAS(error_of([&] { ShardFile f(p); }), "short.bin", "too short");

  EXPECT_ERROR_HAS(error_of([&] { ShardFile f(path("absent.bin")); }), "absent.bin", "cannot open");
}

TEST_F(Shards, SeveralShardsReadAsOneStream) {
  // Three shards of a byte vocabulary (test_bytes: 257 ids); the glob's order is the stream's.
  std::vector<int32_t> all(3000);
  for (size_t i = 0; i < all.size(); ++i) all[i] = int32_t((i * 7919) % 1000 % 256);
  fs::create_directories(path("s"));
  for (int k = 0; k < 3; ++k)
    write_shard(path("s/part_" + std::to_string(k) + ".bin"),
                std::span(all).subspan(size_t(k) * 1000, 1000), 257, 256);
  auto d =
      dataset("shards { path = " + lua(path("s/part_*.bin")) + ", tokenizer = test_bytes {} }");
  prepare(*d, 3);
  // Default split: the last 10% of the stream.
  std::vector<int32_t> train(d->tokens(Split::train).begin(), d->tokens(Split::train).end());
  std::vector<int32_t> val(d->tokens(Split::val).begin(), d->tokens(Split::val).end());
  EXPECT_EQ(train, std::vector<int32_t>(all.begin(), all.begin() + 2700));
  EXPECT_EQ(val, std::vector<int32_t>(all.begin() + 2700, all.end()));
  EXPECT_EQ(d->text(Split::train), "");
  // Windows that cross shard boundaries read the concatenation (train is stream 0).
  for (int64_t row = 0; row < 80;) {
    data::Batch batch = d->next(Split::train, 4, 200);
    auto in = values(batch.inputs), tg = values(batch.targets);
    for (int64_t r = 0; r < 4; ++r, ++row) {
      size_t start = size_t(datasets::Sampler::window_start(3, 0, uint64_t(row), 2700, 200));
      for (size_t t = 0; t < 200; ++t) {
        ASSERT_EQ(in[size_t(r) * 200 + t], all[start + t]) << "row " << row;
        ASSERT_EQ(tg[size_t(r) * 200 + t], all[start + t + 1]) << "row " << row;
      }
    }
  }
}

TEST_F(Shards, FolderWithItsOwnValSplitAndDocuments) {
  // Documents start with EOS = 256: train has three, val one.
  std::vector<int32_t> train = {256, 1, 2, 256, 3, 256, 4, 5, 6}, val = {256, 7, 8, 9};
  fs::create_directories(path("f"));
  write_shard(path("f/train_000000.bin"), std::span(train).subspan(0, 5), 257, 256);
  write_shard(path("f/train_000001.bin"), std::span(train).subspan(5), 257, 256);
  write_shard(path("f/val_000000.bin"), val, 257, 256);
  auto d = dataset("shards { path = " + lua(path("f")) +
                   ", tokenizer = test_bytes {}, sampling = \"packed\", shuffle = false, "
                   "document_mask = true }");
  prepare(*d);
  EXPECT_EQ(d->tokens(Split::train).size(), 9u);
  EXPECT_EQ(d->tokens(Split::val).size(), 4u);
  data::Batch b = d->next(Split::train, 1, 8);
  EXPECT_EQ(values(b.inputs), (std::vector<int64_t>{256, 1, 2, 256, 3, 256, 4, 5}));
  EXPECT_EQ(values(b.segment_ids), (std::vector<int64_t>{0, 0, 0, 1, 1, 2, 2, 2}));
  EXPECT_EQ(values(b.positions), (std::vector<int64_t>{0, 1, 2, 0, 1, 0, 1, 2}));
  b = d->next(Split::val, 1, 3);
  EXPECT_EQ(values(b.inputs), (std::vector<int64_t>{256, 7, 8}));

  auto with_split = dataset("shards { path = " + lua(path("f")) +
                            ", tokenizer = test_bytes {}, split = { val = 0.5 } }");
  EXPECT_ERROR_HAS(error_of([&] { prepare(*with_split); }), "data.split.val", "val_*.bin");
}

TEST_F(Shards, AVocabularyMismatchNamesTheShard) {
  fs::create_directories(path("v"));
  fs::create_directories(path("w"));
  write_shard(path("v/train_000000.bin"), std::vector<int32_t>{1, 2, 3}, 65, std::nullopt);
  auto d = dataset("shards { path = " + lua(path("v")) + ", tokenizer = test_bytes {} }");
  EXPECT_ERROR_HAS(error_of([&] { prepare(*d); }), "train_000000.bin", "vocabulary of 65",
                   "tokenizer has 257");

  write_shard(path("w/a.bin"), std::vector<int32_t>{1, 2, 3}, 257, 256);
  write_shard(path("w/b.bin"), std::vector<int32_t>{1, 2, 3}, 300, std::nullopt);
  auto mixed = dataset("shards { path = " + lua(path("w/*.bin")) + ", tokenizer = test_bytes {} }");
  EXPECT_ERROR_HAS(error_of([&] { prepare(*mixed); }), "b.bin", "a.bin", "share their tokenizer");

  auto none = dataset("shards { path = " + lua(path("w/a.bin")) + " }");
  EXPECT_ERROR_HAS(error_of([&] { prepare(*none); }), "no tokenizer", "tokenizer_spec.json");
}

TEST_F(Shards, EmptyFolderAndCorruptShardNameTheirPaths) {
  fs::create_directories(path("empty"));
  auto d = dataset("shards { path = " + lua(path("empty")) + ", tokenizer = test_bytes {} }");
  EXPECT_ERROR_HAS(error_of([&] { prepare(*d); }), "data.path", "holds no train_*.bin");
  write("bad/train_000000.bin",
        "this is not a shard at all, just some text that is long enough for a header");
  auto bad = dataset("shards { path = " + lua(path("bad")) + ", tokenizer = test_bytes {} }");
  EXPECT_ERROR_HAS(error_of([&] { prepare(*bad); }), "bad/train_000000.bin", "wrong magic");
}

}  // namespace
}  // namespace kiln::testing
