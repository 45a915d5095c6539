// The text and jsonl datasets through specs: splits, documents, fitting, sources, resume.
#include <gtest/gtest.h>

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <set>

#include "plugins/datasets/text_dataset.h"
#include "tests/plugins/datasets/util.h"

namespace kiln::testing {
namespace {

using data::Split;

// Deterministic text of n bytes from a small alphabet with newlines.
std::string sample_text(size_t n, uint32_t seed = 1) {
  const std::string alphabet = "abcdefghij klmno\nPQRST,.";
  std::string s(n, ' ');
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    s[i] = alphabet[(seed >> 16) % alphabet.size()];
  }
  return s;
}

// nanoGPT's char encoding, written independently: the sorted distinct characters of the text.
std::vector<int32_t> char_ids(const std::string& vocab_text, const std::string& text) {
  std::set<char> chars(vocab_text.begin(), vocab_text.end());
  std::string v(chars.begin(), chars.end());
  std::vector<int32_t> ids;
  for (char c : text) ids.push_back(int32_t(v.find(c)));
  return ids;
}

std::vector<int32_t> span_vec(std::span<const int32_t> s) {
  return {s.begin(), s.end()};
}

void write_gzip(const std::string& path, const std::string& content) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, content.data(), unsigned(content.size()));
  gzclose(f);
}

using Text = DatasetsTest;

TEST_F(Text, SplitIsNanoGptsFirstNinetyPercent) {
  const std::string text = sample_text(1001);
  auto d = dataset("text { path = " + lua(write("in.txt", text)) + ", tokenizer = test_char {} }");
  prepare(*d);
  // prepare.py: train = data[:int(n * 0.9)], val = data[int(n * 0.9):]; 1001 * 0.9 = 900.9.
  EXPECT_EQ(span_vec(d->tokens(Split::train)), char_ids(text, text.substr(0, 900)));
  EXPECT_EQ(span_vec(d->tokens(Split::val)), char_ids(text, text.substr(900)));
  EXPECT_EQ(d->text(Split::train), text.substr(0, 900));
  EXPECT_EQ(d->text(Split::val), text.substr(900));
}

TEST_F(Text, CutMovesForwardToACharacterBoundary) {
  // 8 ASCII bytes, then "é" (2 bytes): floor(10 * 0.9) = 9 falls inside é, so the cut moves
  // to its end and the val split is empty.
  const std::string text = "aaaaaaaa\xC3\xA9";
  auto d = dataset("text { path = " + lua(write("in.txt", text)) + ", tokenizer = test_bytes {} }");
  prepare(*d);
  EXPECT_EQ(d->text(Split::train), "<|endoftext|>" + text);
  EXPECT_EQ(d->text(Split::val), "");
}

TEST_F(Text, DocumentsStartWithEndOfText) {
  std::string a = write("docs/a.txt", "hello"), b = write("docs/b.txt", "world!");
  auto d = dataset("text { path = " + lua(path("docs/*.txt")) +
                   ", tokenizer = test_bytes {}, split = { val = 0 } }");
  prepare(*d);
  std::vector<int32_t> want = {256, 'h', 'e', 'l', 'l', 'o', 256, 'w', 'o', 'r', 'l', 'd', '!'};
  EXPECT_EQ(span_vec(d->tokens(Split::train)), want);
  EXPECT_TRUE(d->tokens(Split::val).empty());
  EXPECT_EQ(d->text(Split::train), "<|endoftext|>hello<|endoftext|>world!");
}

TEST_F(Text, SeparatorSplitsAFileIntoDocuments) {
  write("s.txt", "one<|endoftext|>two<|endoftext|><|endoftext|>three<|endoftext|>");
  auto d =
      dataset("text { path = " + lua(path("s.txt")) +
              ", tokenizer = test_bytes {}, separator = \"<|endoftext|>\", split = { val = 0 } }");
  prepare(*d);
  auto tokens = span_vec(d->tokens(Split::train));
  EXPECT_EQ(std::count(tokens.begin(), tokens.end(), 256), 3);  // empty documents are skipped
  EXPECT_EQ(d->text(Split::train), "<|endoftext|>one<|endoftext|>two<|endoftext|>three");
}

TEST_F(Text, TextOfASplitDecodesItsTokens) {
  write("a.txt", sample_text(300, 2));
  write("b.txt", sample_text(500, 3));
  auto d = dataset("text { path = { " + lua(path("a.txt")) + ", " + lua(path("b.txt")) +
                   " }, tokenizer = test_bytes {}, split = { val = 0.3 } }");
  prepare(*d);
  for (Split s : {Split::train, Split::val})
    EXPECT_EQ(d->tokenizer()->decode(span_vec(d->tokens(s))), d->text(s));
  // 800 bytes, cut at floor(800 * 0.7): inside b.txt, so val is the rest of b with no
  // end-of-text.
  const auto cut = size_t(std::floor(800 * (1.0 - 0.3)));
  EXPECT_EQ(d->text(Split::val), sample_text(500, 3).substr(cut - 300));
}

TEST_F(Text, ValFilesOfTheirOwn) {
  write("train.txt", "abcabc");
  write("val.txt", "cab");
  auto d = dataset("text { path = " + lua(path("train.txt")) +
                   ", tokenizer = test_char {}, split = { val = " + lua(path("val.txt")) + " } }");
  prepare(*d);
  EXPECT_EQ(d->text(Split::train), "abcabc");
  EXPECT_EQ(d->text(Split::val), "cab");
  EXPECT_EQ(span_vec(d->tokens(Split::val)), (std::vector<int32_t>{2, 0, 1}));
}

TEST_F(Text, CharVocabularyFitsTheWholeTextByDefaultOrTrainOnly) {
  write("in.txt", "aaaaaaaaaz");  // z only in the last 10%
  auto all = dataset("text { path = " + lua(path("in.txt")) + ", tokenizer = test_char {} }");
  prepare(*all);
  EXPECT_EQ(all->tokenizer()->vocab_size(), 2);
  auto train = dataset("text { path = " + lua(path("in.txt")) +
                       ", tokenizer = test_char {}, fit = \"train\" }");
  EXPECT_ERROR_HAS(error_of([&] { prepare(*train); }), "in.txt", "'z' is not in the vocabulary");
}

TEST_F(Text, GzippedFilesAreRead) {
  const std::string text = sample_text(2000, 5);
  write_gzip(path("in.txt.gz"), text);
  auto d = dataset("text { path = " + lua(path("in.txt.gz")) +
                   ", tokenizer = test_char {}, split = { val = 0 } }");
  prepare(*d);
  EXPECT_EQ(d->text(Split::train), text);
}

TEST_F(Text, StateResumesExactlyThroughTheDatasetInterface) {
  write("in.txt", sample_text(5000, 7));
  for (const char* sampling : {"random", "packed"}) {
    std::string spec = "text { path = " + lua(path("in.txt")) +
                       ", tokenizer = test_char {}, sampling = \"" + sampling + "\" }";
    auto a = dataset(spec);
    prepare(*a, 42);
    for (int i = 0; i < 3; ++i) a->next(Split::train, 4, 32);
    a->next(Split::val, 2, 32);
    Config saved = Config::from_json(a->state().to_json(), "state.json");
    std::vector<std::vector<int64_t>> want;
    for (int i = 0; i < 4; ++i) want.push_back(values(a->next(Split::train, 4, 32).inputs));
    want.push_back(values(a->next(Split::val, 2, 32).inputs));

    auto b = dataset(spec);
    prepare(*b, 42);
    b->load_state(saved);
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(values(b->next(Split::train, 4, 32).inputs), want[size_t(i)]) << sampling;
    EXPECT_EQ(values(b->next(Split::val, 2, 32).inputs), want[4]) << sampling;
  }
}

TEST_F(Text, StateFromOtherDataOrSettingsIsRefused) {
  write("in.txt", sample_text(5000, 7));
  write("other.txt", sample_text(4000, 7));
  auto a = dataset("text { path = " + lua(path("in.txt")) + ", tokenizer = test_char {} }");
  prepare(*a, 1);
  Config saved = a->state();
  auto other = dataset("text { path = " + lua(path("other.txt")) + ", tokenizer = test_char {} }");
  prepare(*other, 1);
  EXPECT_ERROR_HAS(error_of([&] { other->load_state(saved); }), "the data changed", "4500", "3600");
  auto packed = dataset("text { path = " + lua(path("in.txt")) +
                        ", tokenizer = test_char {}, sampling = \"packed\" }");
  prepare(*packed, 1);
  EXPECT_ERROR_HAS(error_of([&] { packed->load_state(saved); }), "sampling = \"random\"");
  auto reseeded = dataset("text { path = " + lua(path("in.txt")) + ", tokenizer = test_char {} }");
  prepare(*reseeded, 2);
  EXPECT_ERROR_HAS(error_of([&] { reseeded->load_state(saved); }), "seed 1", "seed is 2");
}

TEST_F(Text, PackedDocumentMaskThroughTheSpec) {
  write("d/1.txt", "aaaa");
  write("d/2.txt", "bbbbbb");
  auto d = dataset(
      "text { path = " + lua(path("d/*.txt")) +
      ", tokenizer = test_bytes {}, sampling = \"packed\", shuffle = false, document_mask = true, "
      "split = { val = 0 } }");
  prepare(*d);
  data::Batch b = d->next(Split::train, 1, 10);
  // Stream: E a a a a E b b b b b b; one row of 11 tokens.
  EXPECT_EQ(values(b.inputs),
            (std::vector<int64_t>{256, 'a', 'a', 'a', 'a', 256, 'b', 'b', 'b', 'b'}));
  EXPECT_EQ(values(b.targets),
            (std::vector<int64_t>{'a', 'a', 'a', 'a', 256, 'b', 'b', 'b', 'b', 'b'}));
  EXPECT_EQ(values(b.segment_ids), (std::vector<int64_t>{0, 0, 0, 0, 0, 1, 1, 1, 1, 1}));
  EXPECT_EQ(values(b.positions), (std::vector<int64_t>{0, 1, 2, 3, 4, 0, 1, 2, 3, 4}));
}

// ---- jsonl -----------------------------------------------------------------------------------

using Jsonl = DatasetsTest;

TEST_F(Jsonl, TheNamedFieldOfEachRecordIsADocument) {
  write("r.jsonl",
        "{\"id\": 1, \"body\": \"first\"}\n\n{\"body\": \"sec\\nond\", \"x\": [1,2]}\r\n{\"body\": "
        "\"\"}\n");
  auto d = dataset("jsonl { path = " + lua(path("r.jsonl")) +
                   ", field = \"body\", tokenizer = test_bytes {}, split = {} }");
  prepare(*d);
  EXPECT_EQ(d->text(Split::train), "<|endoftext|>first<|endoftext|>sec\nond");
}

TEST_F(Jsonl, GzippedJsonLines) {
  write_gzip(path("r.jsonl.gz"), "{\"text\": \"abc\"}\n{\"text\": \"de\"}\n");
  auto d = dataset("jsonl { path = " + lua(path("*.jsonl.gz")) +
                   ", tokenizer = test_bytes {}, split = { val = 0 } }");
  prepare(*d);
  EXPECT_EQ(d->text(Split::train), "<|endoftext|>abc<|endoftext|>de");
}

TEST_F(Jsonl, MissingFieldNamesTheFileAndLine) {
  write("r.jsonl", "{\"text\": \"ok\"}\n{\"txt\": \"typo\", \"id\": 3}\n");
  auto d = dataset("jsonl { path = " + lua(path("r.jsonl")) + ", tokenizer = test_bytes {} }");
  EXPECT_ERROR_HAS(error_of([&] { prepare(*d); }), "r.jsonl:2:", "no field \"text\"",
                   "\"txt\", \"id\"", "data.path");
}

TEST_F(Jsonl, BadRecordsNameTheFileAndLine) {
  struct Case {
    const char* line;
    const char* message;
  } cases[] = {{"{\"text\": 3}", "field \"text\" is a number, expected a string"},
               {"[\"text\"]", "the record is an array, expected an object"},
               {"{\"text\": \"a\"", "not valid JSON"},
               {"{\"text\": \"a\"} {}", "not valid JSON"}};
  for (const Case& c : cases) {
    write("r.jsonl", std::string("{\"text\": \"fine\"}\n") + c.line + "\n");
    auto d = dataset("jsonl { path = " + lua(path("r.jsonl")) + ", tokenizer = test_bytes {} }");
    EXPECT_ERROR_HAS(error_of([&] { prepare(*d); }), "r.jsonl:2:", c.message);
  }
  write("blank.jsonl", "\n  \n");
  auto d = dataset("jsonl { path = " + lua(path("blank.jsonl")) + ", tokenizer = test_bytes {} }");
  EXPECT_ERROR_HAS(error_of([&] { prepare(*d); }), "blank.jsonl", "no JSON records");
}

// ---- tiny Shakespeare --------------------------------------------------------------------------

TEST_F(Text, TinyShakespeareCharSplitAsNanoGpt) {
  const std::string file = std::string(KILN_SHARED_DATA) + "/tinyshakespeare/input.txt";
  if (!fs::exists(file)) GTEST_SKIP() << "no " << file << " (see shared/data/README.md)";
  std::vector<std::string> tokenizers = {"test_char"};
  if (Registry::global().find("tokenizer", "char")) tokenizers.push_back("char");
  std::ifstream in(file, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  for (const std::string& tok : tokenizers) {
    SCOPED_TRACE(tok);
    auto d = dataset("text { path = " + lua(file) + ", tokenizer = " + tok +
                     " {}, split = { val = 0.1 } }");
    prepare(*d, 1337, 64);
    // nanoGPT's shakespeare_char/prepare.py: 65 characters; train 1,003,854 and val 111,540.
    EXPECT_EQ(d->tokenizer()->vocab_size(), 65);
    EXPECT_EQ(d->tokens(Split::train).size(), 1003854u);
    EXPECT_EQ(d->tokens(Split::val).size(), 111540u);
    EXPECT_EQ(d->tokenizer()->decode(span_vec(d->tokens(Split::train))) +
                  d->tokenizer()->decode(span_vec(d->tokens(Split::val))),
              text);
    for (int i = 0; i < 5; ++i) {
      data::Batch b = d->next(Split::train, 12, 64);
      for (int64_t v : values(b.inputs)) ASSERT_TRUE(v >= 0 && v < 65);
    }
  }
}

TEST_F(Text, ChunkedEncodingEqualsWholeEncodingWithGpt2) {
  // Files over 1 MiB are encoded in chunks cut after a newline that a non-space follows; GPT-2's
  // pre-tokenisation never joins across such a cut, so the ids are those of the whole text.
  const std::string file = std::string(KILN_SHARED_DATA) + "/tinyshakespeare/input.txt";
  if (!fs::exists(file)) GTEST_SKIP() << "no " << file;
  if (!Registry::global().find("tokenizer", "gpt2"))
    GTEST_SKIP() << "no gpt2 tokenizer (the tokenizers plugin)";
  std::ifstream in(file, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  auto d = dataset("text { path = " + lua(file) + ", tokenizer = gpt2 {}, split = { val = 0 } }");
  prepare(*d);
  std::vector<int32_t> whole = d->tokenizer()->encode(text);
  whole.insert(whole.begin(), *d->tokenizer()->eos_id());
  EXPECT_EQ(span_vec(d->tokens(Split::train)), whole);
}

}  // namespace
}  // namespace kiln::testing
