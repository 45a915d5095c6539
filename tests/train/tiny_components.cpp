// Test doubles of the decoder work, as a plugin: a tiny language model, a byte tokenizer and a
// text dataset of random windows. They implement the interfaces exactly as the real components
// do, so the trainer's tests need nothing from the layers, tokenizers or datasets plugins.
//
//   tiny_lm     { vocab, d_model, context, dropout, dtype }  (model)
//   test_bytes  {}                                           (tokenizer: one token a byte)
//   test_text   { path, tokenizer, val_fraction, ignore_multiple }  (dataset)
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/data/dataset.h"
#include "core/nn/init.h"
#include "core/nn/model.h"
#include "core/ops/ops.h"
#include "core/registry/plugin.h"
#include "core/tensor/factory.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

// A module holding parameters that its owner registers ("wte" holds "weight").
struct Leaf : nn::Module {
  nn::Parameter add(const std::string& name, const Tensor& t) {
    return register_parameter(name, t);
  }
};

// Embeddings of tokens and positions, one residual MLP on an RMS-normed running mean of the
// prefix (so each position sees the tokens before it and none after), dropout, an LM head.
// Its names exercise the weight-decay groups: wte/wpe (embeddings), norm.weight and fc.bias
// (1-d), fc.weight and lm_head.weight (decayed).
class TinyLM : public nn::Model {
 public:
  TinyLM(int64_t vocab, int64_t d, int64_t context, double dropout, DType dtype)
      : vocab_(vocab), d_(d), context_(context), dropout_(dropout) {
    auto leaf = [&](const char* name) { return register_module(name, std::make_shared<Leaf>()); };
    wte_ = leaf("wte")->add("weight", nn::init::normal_(empty({vocab, d}, dtype), 0, 0.5));
    wpe_ = leaf("wpe")->add("weight", nn::init::normal_(empty({context, d}, dtype), 0, 0.1));
    norm_ = leaf("norm")->add("weight", ones({d}, dtype));
    auto fc = leaf("fc");
    fc_w_ = fc->add("weight", nn::init::normal_(empty({d, d}, dtype), 0, 0.3));
    fc_b_ = fc->add("bias", zeros({d}, dtype));
    head_ = leaf("lm_head")->add("weight", nn::init::normal_(empty({vocab, d}, dtype), 0, 0.3));
  }

  Tensor forward(const Tensor& tokens, nn::ForwardState& state) override {
    const int64_t T = tokens.size(1);
    KILN_CHECK(T <= context_, "tiny_lm: ", T, " positions exceed the context ", context_);
    Tensor pos = state.positions.defined() ? state.positions : arange(T);
    Tensor x = ops::add(ops::embedding(wte_, tokens), ops::embedding(wpe_, pos));
    // Running mean over the prefix: cumsum / (t + 1).
    Tensor counts = arange(1.0, double(T) + 1, 1.0, x.dtype()).reshape({T, 1});
    Tensor mixed = ops::div(ops::cumsum(x, 1), counts);
    Tensor h = ops::rms_norm(mixed, norm_);
    x = ops::add(x, ops::gelu(ops::linear(h, fc_w_, fc_b_)));
    x = ops::dropout(x, dropout_, is_training(), state.generator);
    return ops::linear(x, head_);
  }
  int64_t vocab_size() const override { return vocab_; }
  int64_t context_length() const override { return context_; }
  double train_flops_per_token(int64_t) const override {
    return 6.0 * double(2 * vocab_ * d_ + d_ * d_);
  }

 private:
  int64_t vocab_, d_, context_;
  double dropout_;
  nn::Parameter wte_, wpe_, norm_, fc_w_, fc_b_, head_;
};

class TestBytes : public data::Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text, bool) const override {
    std::vector<int32_t> ids;
    for (unsigned char c : text) ids.push_back(c);
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t id : ids) s += token_bytes(id);
    return s;
  }
  std::string token_bytes(int32_t id) const override { return std::string(1, char(id)); }
  int64_t vocab_size() const override { return 256; }
  void save(const std::string& dir) const override {
    std::ofstream(dir + "/test_bytes.txt") << "bytes\n";
  }
  void load(const std::string& dir) override {
    KILN_CHECK(fs::exists(dir + "/test_bytes.txt"), dir, "/test_bytes.txt: no saved tokenizer");
  }
};

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Random windows; row r of a split starts at hash(seed, split, r), so two batches of 4 rows
// hold the same rows as one batch of 8 (what the accumulation test compares). Targets whose
// token is a multiple of ignore_multiple are -100, so micro-batches count different tokens.
class TestText : public data::Dataset {
 public:
  TestText(std::string path, std::shared_ptr<data::Tokenizer> tok, double val_fraction,
           int64_t ignore_multiple)
      : path_(std::move(path)),
        tok_(std::move(tok)),
        val_fraction_(val_fraction),
        ignore_multiple_(ignore_multiple) {}

  std::shared_ptr<data::Tokenizer> tokenizer() const override { return tok_; }
  void prepare(const data::PrepareOptions& o) override {
    std::ifstream in(path_, std::ios::binary);
    KILN_CHECK(in, path_, ": cannot read the data file (no such file, or not readable)");
    std::stringstream buf;
    buf << in.rdbuf();
    std::string text = buf.str();
    KILN_CHECK(!text.empty(), path_, ": the data file is empty");
    seed_ = o.seed;
    std::vector<int32_t> ids = tok_->encode(text);
    size_t n_val = size_t(double(ids.size()) * val_fraction_);
    train_.assign(ids.begin(), ids.end() - std::ptrdiff_t(n_val));
    val_.assign(ids.end() - std::ptrdiff_t(n_val), ids.end());
  }
  data::Batch next(data::Split split, int64_t B, int64_t T) override {
    const std::vector<int32_t>& src = split == data::Split::train ? train_ : val_;
    int64_t& rows = split == data::Split::train ? train_rows_ : val_rows_;
    KILN_CHECK(int64_t(src.size()) > T, "test_text: the ", data::split_name(split),
               " split is too short");
    std::vector<int64_t> in(size_t(B * T)), tg(size_t(B * T));
    for (int64_t b = 0; b < B; ++b, ++rows) {
      uint64_t h = splitmix64(seed_ * 1000003ull + uint64_t(split) * 7919ull + uint64_t(rows));
      int64_t start = int64_t(h % uint64_t(int64_t(src.size()) - T));
      for (int64_t t = 0; t < T; ++t) {
        in[size_t(b * T + t)] = src[size_t(start + t)];
        int64_t target = src[size_t(start + t + 1)];
        tg[size_t(b * T + t)] =
            ignore_multiple_ > 0 && target % ignore_multiple_ == 0 ? -100 : target;
      }
    }
    data::Batch batch;
    batch.inputs = from_vector(in, {B, T});
    batch.targets = from_vector(tg, {B, T});
    return batch;
  }
  std::span<const int32_t> tokens(data::Split split) const override {
    return split == data::Split::train ? std::span<const int32_t>(train_)
                                       : std::span<const int32_t>(val_);
  }
  Config state() const override {
    Config c = Config::table();
    c.set("train_rows", Config(train_rows_));
    c.set("val_rows", Config(val_rows_));
    return c;
  }
  void load_state(const Config& s) override {
    train_rows_ = s.at("train_rows").as_int();
    val_rows_ = s.at("val_rows").as_int();
  }

 private:
  std::string path_;
  std::shared_ptr<data::Tokenizer> tok_;
  double val_fraction_;
  int64_t ignore_multiple_;
  uint64_t seed_ = 0;
  std::vector<int32_t> train_, val_;
  int64_t train_rows_ = 0, val_rows_ = 0;
};

void register_components(Registry& r) {
  Schema lm("a tiny test language model");
  lm.integer("vocab", 256, "vocabulary size").min(1);
  lm.integer("d_model", 8, "width").min(1);
  lm.integer("context", 16, "positions").min(1);
  lm.number("dropout", 0.0, "dropout probability").range(0, 1);
  lm.choice("dtype", {"f32", "f64"}, "f32", "parameter dtype");
  r.add<nn::Model>("model", "tiny_lm", lm, [](const Config& c) {
    return std::make_shared<TinyLM>(c.get<int64_t>("vocab"), c.get<int64_t>("d_model"),
                                    c.get<int64_t>("context"), c.get<double>("dropout"),
                                    dtype_from_name(c.get<std::string>("dtype")));
  });
  r.add<data::Tokenizer>("tokenizer", "test_bytes", Schema("test bytes"),
                         [](const Config&) { return std::make_shared<TestBytes>(); });
  Schema text("a test text dataset of random windows");
  text.string("path", std::nullopt, "text file");
  Config tok = Config::table();
  tok.set_component("tokenizer", "test_bytes");
  text.component("tokenizer", "tokenizer", tok, "the tokenizer");
  text.number("val_fraction", 0.1, "fraction of tokens held out").range(0, 1);
  text.integer("ignore_multiple", 0, "targets that are multiples of this are -100 (0: none)")
      .min(0);
  r.add<data::Dataset>("dataset", "test_text", text, [](const Config& c) {
    auto tok = Registry::global().create<data::Tokenizer>(c.at("tokenizer"));
    return std::make_shared<TestText>(c.get<std::string>("path"), tok,
                                      c.get<double>("val_fraction"),
                                      c.get<int64_t>("ignore_multiple"));
  });
}

}  // namespace
}  // namespace kiln::testing

KILN_PLUGIN("test_train_components", "0.1.0", kiln::testing::register_components)
