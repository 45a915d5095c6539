// GPT-2's BPE: the golden encodings of shared/data/gpt2-bpe (made with three independent
// encoders), special tokens, a plain re-implementation of GPT-2's bpe() as the reference for
// the merge loop, parallel encoding, and save/load.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <climits>
#include <map>
#include <random>
#include <thread>

#include "core/base/error.h"
#include "core/base/threads.h"
#include "plugins/tokenizers/bpe_tokenizer.h"
#include "plugins/tokenizers/pretokenize.h"
#include "tests/plugins/tokenizers/tokenizer_test_util.h"

namespace kiln::tokenizers {
namespace {

using testing::exists;
using testing::shared_data;
using testing::slurp;

const std::string kEncoder = shared_data("gpt2-bpe/encoder.json");
const std::string kVocab = shared_data("gpt2-bpe/vocab.bpe");

#define REQUIRE_GPT2_FILES()                                                                  \
  if (!exists(kEncoder) || !exists(kVocab))                                                   \
  GTEST_SKIP() << "GPT-2's encoder.json and vocab.bpe are not in " << shared_data("gpt2-bpe") \
               << " (see shared/data/README.md)"

std::shared_ptr<BpeTokenizer> gpt2(std::vector<std::string> specials = {"<|endoftext|>"}) {
  return BpeTokenizer::gpt2(kEncoder, kVocab, std::move(specials), std::nullopt);
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(Gpt2Bpe, EncodesEveryGoldenLineAndDecodesItBack) {
  const std::string golden = shared_data("gpt2-bpe/golden.jsonl");
  if (!exists(golden)) GTEST_SKIP() << golden << " is absent (see shared/data/README.md)";
  REQUIRE_GPT2_FILES();
  auto tok = gpt2();
  const std::string all = slurp(golden);
  size_t lines = 0, ids_total = 0, pos = 0;
  while (pos < all.size()) {
    size_t end = all.find('\n', pos);
    if (end == std::string::npos) end = all.size();
    const std::string line = all.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) continue;
    rapidjson::Document d;
    d.Parse(line.data(), line.size());
    ASSERT_FALSE(d.HasParseError()) << "golden.jsonl line " << lines + 1;
    const std::string text(d["text"].GetString(), d["text"].GetStringLength());
    std::vector<int32_t> want;
    for (const auto& v : d["ids"].GetArray()) want.push_back(v.GetInt());
    ++lines;
    ids_total += want.size();
    EXPECT_EQ(tok->encode(text), want) << "golden line " << lines << ": " << line;
    EXPECT_EQ(tok->decode(want), text) << "golden line " << lines << ": " << line;
    // Without special tokens in the text, parsing them changes nothing.
    EXPECT_EQ(tok->encode(text, true), want) << "golden line " << lines;
  }
  // The counts PROVENANCE.md gives, so that a truncated file cannot pass quietly.
  EXPECT_EQ(lines, 340u);
  EXPECT_EQ(ids_total, 3995u);
}

TEST(Gpt2Bpe, VocabularyAndEndOfText) {
  REQUIRE_GPT2_FILES();
  auto tok = gpt2();
  EXPECT_EQ(tok->vocab_size(), 50257);
  EXPECT_EQ(tok->eos_id(), std::optional<int32_t>(50256));
  EXPECT_EQ(tok->special_tokens(), (std::map<std::string, int32_t>{{"<|endoftext|>", 50256}}));
  EXPECT_EQ(tok->token_bytes(50256), "<|endoftext|>");
  // From PROVENANCE.md and the golden file: " " is 220 ("Ġ"), "\n" is 198 ("Ċ").
  EXPECT_EQ(tok->token_bytes(220), " ");
  EXPECT_EQ(tok->token_bytes(198), "\n");
  EXPECT_FALSE(tok->needs_fit());
}

TEST(Gpt2Bpe, SpecialTokensAreParsedOnlyWhenAsked) {
  REQUIRE_GPT2_FILES();
  auto tok = gpt2();
  const std::string text = "Hello<|endoftext|> world<|endoftext|><|endoftext|>";
  const std::vector<int32_t> parsed = tok->encode(text, true);
  std::vector<int32_t> want = concat(tok->encode("Hello"), {50256});
  want = concat(concat(want, tok->encode(" world")), {50256, 50256});
  EXPECT_EQ(parsed, want);
  EXPECT_EQ(tok->decode(parsed), text);
  // As plain text the marker is ordinary characters: no 50256, and it decodes back.
  const std::vector<int32_t> plain = tok->encode(text, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 50256), 0);
  EXPECT_EQ(tok->decode(plain), text);
  // A partial marker is text.
  EXPECT_EQ(tok->encode("<|endoftext|", true), tok->encode("<|endoftext|", false));
}

TEST(Gpt2Bpe, ExtraSpecialTokensFollowTheVocabulary) {
  REQUIRE_GPT2_FILES();
  auto tok = gpt2({"<|endoftext|>", "<|pad|>"});
  EXPECT_EQ(tok->vocab_size(), 50258);
  EXPECT_EQ(tok->encode("a<|pad|>", true), concat(tok->encode("a"), {50257}));
  EXPECT_EQ(tok->decode({50257, 50256}), "<|pad|><|endoftext|>");
  // With no special tokens, <|endoftext|> is an ordinary entry that text never produces.
  auto none = gpt2({});
  EXPECT_EQ(none->eos_id(), std::nullopt);
  const auto ids = none->encode("<|endoftext|>", true);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 50256), 0);
}

// ---- GPT-2's bpe() as its encoder.py writes it, over strings ----------------------------------

struct Reference {
  std::map<std::pair<std::string, std::string>, int> ranks;
  std::map<std::string, int> encoder;
  std::vector<std::string> byte_str;  // bytes_to_unicode() as UTF-8 strings

  Reference() {
    // bytes_to_unicode(): printable bytes stand for themselves, the rest for 256 + n.
    std::vector<int> bs;
    for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
    for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
    for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
    std::vector<int> cs = bs;
    int n = 0;
    for (int b = 0; b < 256; ++b)
      if (std::find(bs.begin(), bs.end(), b) == bs.end()) {
        bs.push_back(b);
        cs.push_back(256 + n++);
      }
    byte_str.resize(256);
    for (size_t i = 0; i < bs.size(); ++i) {
      std::string s;
      const int c = cs[i];
      if (c < 0x80)
        s += char(c);
      else {
        s += char(0xC0 | (c >> 6));
        s += char(0x80 | (c & 0x3F));
      }
      byte_str[size_t(bs[i])] = s;
    }
    // vocab.bpe: split('\n')[1:-1], each "a b".
    const std::string merges = slurp(kVocab);
    std::vector<std::string> lines;
    size_t pos = 0;
    while (true) {
      size_t e = merges.find('\n', pos);
      if (e == std::string::npos) {
        lines.push_back(merges.substr(pos));
        break;
      }
      lines.push_back(merges.substr(pos, e - pos));
      pos = e + 1;
    }
    for (size_t i = 1; i + 1 < lines.size(); ++i) {
      const size_t sp = lines[i].find(' ');
      ranks[{lines[i].substr(0, sp), lines[i].substr(sp + 1)}] = int(i - 1);
    }
    rapidjson::Document d;
    const std::string enc = slurp(kEncoder);
    d.Parse(enc.data(), enc.size());
    for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it)
      encoder[std::string(it->name.GetString(), it->name.GetStringLength())] = it->value.GetInt();
  }

  std::vector<int32_t> bpe(std::string_view piece) const {
    std::vector<std::string> word;
    for (char c : piece) word.push_back(byte_str[static_cast<unsigned char>(c)]);
    while (word.size() > 1) {
      int best = INT_MAX;
      std::pair<std::string, std::string> bigram;
      for (size_t i = 0; i + 1 < word.size(); ++i) {
        auto it = ranks.find({word[i], word[i + 1]});
        if (it != ranks.end() && it->second < best) {
          best = it->second;
          bigram = it->first;
        }
      }
      if (best == INT_MAX) break;
      std::vector<std::string> merged;
      for (size_t i = 0; i < word.size();) {
        if (i + 1 < word.size() && word[i] == bigram.first && word[i + 1] == bigram.second) {
          merged.push_back(bigram.first + bigram.second);
          i += 2;
        } else {
          merged.push_back(word[i++]);
        }
      }
      word = merged;
    }
    std::vector<int32_t> ids;
    for (const auto& w : word) ids.push_back(encoder.at(w));
    return ids;
  }
};

TEST(Gpt2Bpe, MergeLoopMatchesGpt2sBpeFunction) {
  REQUIRE_GPT2_FILES();
  auto tok = gpt2();
  const BytePairEncoder& enc = tok->encoder();
  const Reference ref;
  std::mt19937 rng(3);
  std::vector<std::string> pieces = {std::string(300, 'a'), std::string(130, ' '),
                                     std::string(100, '7'), "Supercalifragilisticexpialidocious",
                                     std::string(70, '!')};
  for (int i = 0; i < 300; ++i) {
    // Short and long (> 64 bytes: the heap path) pieces of text, and raw bytes.
    const std::string t = testing::random_text(rng, size_t(1 + rng() % 60));
    for (std::string_view p : gpt2_pretokenize(t)) pieces.emplace_back(p);
    pieces.push_back(i % 3 ? testing::random_text(rng, 40)
                           : testing::random_bytes(rng, 1 + rng() % 150));
  }
  std::string letters;
  for (int i = 0; i < 500; ++i) letters += char('a' + rng() % 26);
  pieces.push_back(letters);
  for (const std::string& p : pieces) {
    std::vector<int32_t> got, cached;
    enc.encode_piece_uncached(p, got);
    EXPECT_EQ(got, ref.bpe(p)) << "piece of " << p.size() << " bytes: \"" << p << "\"";
    enc.encode_piece(p, cached);
    enc.encode_piece(p, cached);  // the second time from the cache
    EXPECT_EQ(cached, concat(got, got));
  }
}

TEST(Gpt2Bpe, ParallelEncodingEqualsSerial) {
  REQUIRE_GPT2_FILES();
  std::string text;
  const std::string shakespeare = shared_data("tinyshakespeare/input.txt");
  if (exists(shakespeare)) text = slurp(shakespeare).substr(0, 200000);
  std::mt19937 rng(5);
  for (int i = 0; i < 300; ++i) text += testing::random_text(rng, 30) + ".\nA";
  auto serial = gpt2();
  auto parallel = gpt2();
  parallel->set_parallel_min_bytes(1);
  ThreadCountGuard threads(4);
  EXPECT_EQ(parallel->encode(text), serial->encode(text));
  EXPECT_EQ(parallel->decode(parallel->encode(text)), text);
}

TEST(Gpt2Bpe, ThreadsEncodingAtOnceAgree) {
  REQUIRE_GPT2_FILES();
  auto tok = gpt2();
  std::mt19937 rng(8);
  std::vector<std::string> texts;
  for (int i = 0; i < 64; ++i) texts.push_back(testing::random_text(rng, 400));
  std::vector<std::vector<int32_t>> want;
  {
    auto fresh = gpt2();
    for (const auto& t : texts) want.push_back(fresh->encode(t));
  }
  // Four threads share one tokenizer (its first use loads the files, and its piece cache fills).
  std::vector<std::vector<std::vector<int32_t>>> got(4);
  std::vector<std::thread> threads;
  for (size_t k = 0; k < got.size(); ++k)
    threads.emplace_back([&, k] {
      for (size_t i = 0; i < texts.size(); ++i) got[k].push_back(tok->encode(texts[(i + k * 16) % texts.size()]));
    });
  for (auto& t : threads) t.join();
  for (size_t k = 0; k < got.size(); ++k)
    for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(got[k][i], want[(i + k * 16) % texts.size()]);
}

TEST(Gpt2Bpe, SaveAndLoadWithoutTheOriginalFiles) {
  REQUIRE_GPT2_FILES();
  testing::TempDir dir;
  auto tok = gpt2({"<|endoftext|>", "<|pad|>"});
  tok->save(dir.str());
  auto restored =
      BpeTokenizer::gpt2("/nonexistent/encoder.json", "/nonexistent/vocab.bpe", {}, std::nullopt);
  restored->load(dir.str());
  EXPECT_EQ(restored->vocab_size(), 50258);
  EXPECT_EQ(restored->special_tokens(), tok->special_tokens());
  EXPECT_EQ(restored->eos_id(), std::optional<int32_t>(50256));
  std::mt19937 rng(9);
  for (int i = 0; i < 100; ++i) {
    const std::string t = testing::random_text(rng, 80) + "<|pad|> x<|endoftext|>";
    EXPECT_EQ(restored->encode(t, true), tok->encode(t, true));
  }
  // The saved encoder.json holds GPT-2's 50257 tokens with their ids, and one more.
  auto read_encoder = [](const std::string& path) {
    rapidjson::Document d;
    const std::string s = slurp(path);
    d.Parse(s.data(), s.size());
    std::map<std::string, int> m;
    for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it)
      m[std::string(it->name.GetString(), it->name.GetStringLength())] = it->value.GetInt();
    return m;
  };
  std::map<std::string, int> want = read_encoder(kEncoder);
  want["<|pad|>"] = 50257;
  EXPECT_EQ(read_encoder(dir.str() + "/encoder.json"), want);
  EXPECT_EQ(slurp(dir.str() + "/vocab.bpe"), slurp(kVocab));
}

TEST(Gpt2Bpe, MissingFilesAreNamed) {
  auto tok = BpeTokenizer::gpt2("/nonexistent/encoder.json", "/nonexistent/vocab.bpe",
                                {"<|endoftext|>"}, std::nullopt, "spec.lua:3: data.tokenizer: ");
  try {
    tok->encode("hi");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("spec.lua:3: data.tokenizer: "), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("/nonexistent/encoder.json"), std::string::npos)
        << e.what();
  }
}

TEST(Gpt2Bpe, BadFilesAreNamedWithTheLine) {
  REQUIRE_GPT2_FILES();
  testing::TempDir dir;
  const std::string vocab = dir.str() + "/vocab.bpe";
  {
    std::ofstream f(vocab);
    f << "#version: 0.2\nĠ t\nĠt he extra\n";
  }
  auto tok = BpeTokenizer::gpt2(kEncoder, vocab, {}, std::nullopt);
  try {
    tok->vocab_size();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(vocab + ":3: expected two tokens"), std::string::npos)
        << e.what();
  }
  const std::string encoder = dir.str() + "/encoder.json";
  {
    std::ofstream f(encoder);
    f << "{\"a\": 0, \"b\": 0}";
  }
  try {
    BpeTokenizer::gpt2(encoder, kVocab, {}, std::nullopt)->vocab_size();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(encoder), std::string::npos) << e.what();
  }
}

TEST(Gpt2Bpe, DecodeRejectsIdsOutsideTheVocabulary) {
  REQUIRE_GPT2_FILES();
  auto tok = gpt2();
  try {
    tok->decode({15496, 50257});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("id 50257 is outside the vocabulary [0, 50257)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(tok->decode({-1}), Error);
}

}  // namespace
}  // namespace kiln::tokenizers
