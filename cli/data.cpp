// kiln data tokenize SPEC --out DIR: tokenises a spec's data once and writes it as shards
// (core/data/shard.h) that the shards dataset memory-maps: DIR/train_000000.bin ...,
// DIR/val_000000.bin ..., and the tokenizer (its files, and tokenizer_spec.json naming the
// component).
// kiln data reference-logps SPEC --out FILE: the summed response log-probs of every preference
// pair under the model the spec's run starts from (train.init, else its seeded initialisation),
// written once (core/data/reference_logps.h) so that dpo { reference = "stored" } need not keep
// a reference model in memory.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/command.h"
#include "core/base/error.h"
#include "core/data/dataset.h"
#include "core/autograd/autograd.h"
#include "core/data/reference_logps.h"
#include "core/data/shard.h"
#include "core/tensor/random.h"
#include "core/train/init_weights.h"
#include "core/train/logprobs.h"
#include "core/train/progress.h"
#include "core/train/train_options.h"
#include "dsl/hf_checkpoint.h"
#include "core/registry/registry.h"
#include "dsl/spec.h"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;

std::string with_commas(int64_t v) {
  std::string s = std::to_string(v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

// What is already in DIR that a run would overwrite.
std::string existing_output(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return "";
  KILN_CHECK(fs::is_directory(dir, ec), "--out ", dir.string(), ": exists and is not a folder");
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    bool shard = (name.rfind("train_", 0) == 0 || name.rfind("val_", 0) == 0) &&
                 e.path().extension() == ".bin";
    if (shard || name == data::kShardTokenizerSpec) return e.path().string();
  }
  return "";
}

// Writes the shards of both splits and the tokenizer into `into`.
void write_outputs(data::Dataset& dataset, const Config& data_node, const fs::path& into,
                   int64_t shard_tokens, bool quiet) {
  std::shared_ptr<data::Tokenizer> tok = dataset.tokenizer();
  const int64_t vocab = tok->vocab_size();
  const std::optional<int32_t> eos = tok->eos_id();
  for (data::Split split : {data::Split::train, data::Split::val}) {
    std::span<const int32_t> tokens = dataset.tokens(split);
    int64_t n = int64_t(tokens.size()), files = 0;
    for (int64_t begin = 0; begin < n; begin += shard_tokens, ++files) {
      char name[64];
      std::snprintf(name, sizeof name, "%s_%06lld.bin", data::split_name(split), (long long)files);
      int64_t len = std::min(shard_tokens, n - begin);
      data::write_shard((into / name).string(), tokens.subspan(size_t(begin), size_t(len)), vocab,
                        eos);
    }
    if (!quiet)
      std::cout << data::split_name(split) << ": " << with_commas(n) << " tokens in " << files
                << (files == 1 ? " shard" : " shards") << " of uint"
                << 8 * data::shard_token_bytes(vocab) << "\n";
  }
  tok->save(into.string());
  if (const Config* t = data_node.find("tokenizer"); t && t->is_component()) {
    std::ofstream f(into / data::kShardTokenizerSpec);
    f << t->to_json(true) << "\n";
    KILN_CHECK(f, "cannot write ", (into / data::kShardTokenizerSpec).string());
    if (!quiet)
      std::cout << "tokenizer: " << t->component_name() << ", vocabulary " << with_commas(vocab)
                << "\n";
  } else if (!quiet) {
    std::cout << "tokenizer: the data names none, so none was saved; give the shards dataset a "
                 "tokenizer\n";
  }
}

// Moves the files of `from` into `to` (created when absent) and removes `from`; refuses before
// moving anything when a name is taken in `to`.
void move_into(const fs::path& from, const fs::path& to) {
  if (!fs::exists(to)) {
    fs::create_directories(fs::absolute(to).parent_path());
    fs::rename(from, to);
    return;
  }
  for (const auto& e : fs::directory_iterator(from))
    KILN_CHECK(!fs::exists(to / e.path().filename()), "--out ", to.string(), ": already holds ",
               e.path().filename().string(), "; choose another folder (nothing was overwritten)");
  for (const auto& e : fs::directory_iterator(from)) fs::rename(e.path(), to / e.path().filename());
  fs::remove(from);
}

int tokenize(const std::string& spec_file, const std::string& out,
             const std::vector<std::string>& overrides, int64_t shard_tokens, bool quiet) {
  KILN_CHECK(shard_tokens >= 1, "--shard-tokens ", shard_tokens, " must be at least 1");
  dsl::SpecOptions so;
  so.overrides = overrides;
  Config spec = dsl::load_spec(spec_file, so);
  const Config* data_node = spec.find("data");
  KILN_CHECK(data_node && !data_node->is_null(), spec_file,
             ": the spec has no data section to tokenize");
  if (!data_node->is_component())
    data_node->fail(
        "expected a dataset component, such as text { path = ..., tokenizer = char {} }");
  const fs::path dir(out);
  std::string clash = existing_output(dir);
  KILN_CHECK(clash.empty(), "--out ", out, ": already holds shards or a tokenizer (", clash,
             "); remove them or choose another folder (nothing was overwritten)");

  auto dataset = Registry::global().create<data::Dataset>(*data_node);
  data::PrepareOptions po;
  po.seed = uint64_t(spec.get<int64_t>("seed", 0));
  po.progress = !quiet;
  dataset->prepare(po);
  KILN_CHECK(dataset->tokenizer(), "the dataset has no tokenizer");

  // Everything is written into a temporary folder beside DIR and moved in at the end, so a
  // failure (or an interrupt) never leaves half a set of shards in DIR.
  fs::path abs = fs::absolute(dir).lexically_normal();
  if (!abs.has_filename()) abs = abs.parent_path();  // "out/"
  const fs::path tmp =
      abs.parent_path() / str_cat(".", abs.filename().string(), ".tmp-", ::getpid());
  auto clean = [&] {
    std::error_code ec;
    fs::remove_all(tmp, ec);
  };
  try {
    fs::create_directories(tmp);
    write_outputs(*dataset, *data_node, tmp, shard_tokens, quiet);
    move_into(tmp, abs);
  } catch (const fs::filesystem_error& e) {
    clean();
    KILN_FAIL("--out ", out, ": ", e.what());
  } catch (...) {
    clean();
    throw;
  }
  if (!quiet)
    std::cout << "wrote " << out << " (read it with data = shards { path = \"" << out << "\" })\n";
  return 0;
}

// The starting policy of the spec's run, as the trainer builds it: the seeded initialisation,
// then train.init's weights.
std::shared_ptr<nn::Model> starting_model(Config& spec, train::TrainOptions& options) {
  manual_seed(uint64_t(spec.get<int64_t>("seed", 0)));
  auto model = Registry::global().create<nn::Model>(spec.at("model"));
  options = train::read_train_options(spec.at("train"), model->context_length());
  if (!options.init.empty()) {
    try {
      train::load_init_weights(*model, hf::read_start_weights(options.init));
    } catch (const Error& e) {
      spec.at("train").at("init").fail(e.what());
    }
  }
  model->eval();
  return model;
}

int reference_logps(const std::string& spec_file, const std::string& out,
                    const std::vector<std::string>& overrides, int64_t batch, bool quiet) {
  KILN_CHECK(batch >= 1, "--batch ", batch, " must be at least 1");
  dsl::SpecOptions so;
  so.overrides = overrides;
  Config spec = dsl::load_spec(spec_file, so);
  for (const char* key : {"model", "data", "train"})
    KILN_CHECK(spec.has(key) && !spec.at(key).is_null(), spec_file, ": the spec has no `", key,
               "` section; reference log-probs need the model, the weights it starts from "
               "(train.init) and the data");
  train::TrainOptions options;
  std::shared_ptr<nn::Model> model = starting_model(spec, options);
  auto dataset = Registry::global().create<data::Dataset>(spec.at("data"));
  data::PrepareOptions po;
  po.seed = uint64_t(spec.get<int64_t>("seed", 0));
  po.progress = !quiet;
  dataset->prepare(po);
  const size_t n_train = dataset->examples(data::Split::train),
               n_val = dataset->examples(data::Split::val);
  if (n_train == 0)
    spec.at("data").fail(
        "the dataset holds no examples to score in order; reference log-probs are for "
        "preference pairs (data = preference { ... })");

  std::vector<double> chosen, rejected;
  train::ProgressLine progress(stderr);
  const auto start = std::chrono::steady_clock::now();
  autograd::NoGrad no_grad;
  for (data::Split split : {data::Split::train, data::Split::val}) {
    const size_t n = dataset->examples(split);
    for (size_t first = 0; first < n; first += size_t(batch)) {
      const size_t m = std::min(size_t(batch), n - first);
      data::Batch b = dataset->examples_in_order(split, first, m, options.seq_len);
      KILN_CHECK(b.pairs == int64_t(m), "the dataset gave ", b.pairs, " pairs for ", m,
                 " examples; reference log-probs are for preference pairs");
      nn::ForwardState state;
      Tensor logits = train::policy_logits(*model, b, state, "reference-logps");
      std::vector<double> v =
          train::sequence_logps(logits, b.targets).sum.to(DType::f64).to_vector<double>();
      chosen.insert(chosen.end(), v.begin(), v.begin() + int64_t(m));
      rejected.insert(rejected.end(), v.begin() + int64_t(m), v.end());
      if (!quiet) {
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const size_t done = chosen.size(), total = n_train + n_val;
        progress.update(str_cat("reference log-probs: ", done, "/", total, " pairs | ",
                                train::format_count(double(done) / s), " pairs/s"),
                        done == total || done % (size_t(batch) * 50) < size_t(batch));
      }
    }
  }
  progress.finish();
  data::write_reference_logps(out, chosen, rejected);
  if (!quiet)
    std::cout << "wrote " << out << ": " << with_commas(int64_t(chosen.size())) << " pairs ("
              << n_train << " train, " << n_val << " val) at seq_len " << options.seq_len
              << (options.init.empty() ? ", from the model's seeded initialisation"
                                       : ", from " + options.init)
              << "\nread them with reference_logps = \"" << out
              << "\" in the data and dpo { reference = \"stored\" }\n";
  return 0;
}

}  // namespace

int run_data(const std::vector<std::string>& args) {
  po::options_description opts("data options");
  opts.add_options()("action", po::value<std::string>(), "tokenize or reference-logps")(
      "spec", po::value<std::string>(), "the spec whose data section is read")(
      "out", po::value<std::string>(),
      "tokenize: the folder for the shards and the tokenizer; reference-logps: the file")(
      "batch", po::value<int64_t>()->default_value(8), "reference-logps: pairs per forward")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a field of the spec: path=value (repeatable)")(
      "shard-tokens", po::value<int64_t>()->default_value(100'000'000),
      "tokens per shard file at most")("quiet,q", po::bool_switch(),
                                       "print nothing but errors (no progress line, no summary)");
  po::positional_options_description pos;
  pos.add("action", 1).add("spec", 1);
  po::variables_map vm;
  if (parse(args, opts, pos, vm,
            "kiln data tokenize SPEC.lua --out DIR [--set path=value ...] [--shard-tokens N]\n"
            "kiln data reference-logps SPEC.lua --out FILE [--set path=value ...] [--batch N]\n\n"
            "Tokenises the spec's data once and writes DIR/train_NNNNNN.bin and DIR/val_NNNNNN.bin "
            "(a header,\n"
            "then uint16 tokens when the vocabulary fits, else uint32) and the tokenizer. A spec "
            "reads them\n"
            "back with data = shards { path = \"DIR\" }.\n\n"
            "reference-logps scores every preference pair of the spec's data (train, then val, "
            "in order)\nunder the model its run starts from (train.init, else the seeded "
            "initialisation) and writes\nFILE, one line a pair: {\"chosen\": logp, "
            "\"rejected\": logp}. The data reads it with reference_logps = FILE\nand dpo { "
            "reference = \"stored\" } then keeps no reference model in memory.",
            "kiln data tokenize models/gpt2-char.lua --out data/shakespeare-char\n"
            "  kiln data reference-logps examples/posttrain/dpo_hh_rlhf.lua --out ref.jsonl"))
    return 0;
  if (!vm.count("action")) throw po::error("expected an action: tokenize or reference-logps");
  std::string action = vm["action"].as<std::string>();
  if (action != "tokenize" && action != "reference-logps")
    throw po::error("unknown action \"" + action + "\" (expected tokenize or reference-logps)");
  if (!vm.count("spec"))
    throw po::error("expected a spec: kiln data " + action + " SPEC.lua --out " +
                    (action == "tokenize" ? "DIR" : "FILE"));
  if (!vm.count("out"))
    throw po::error(action == "tokenize" ? "expected --out DIR, the folder for the shards"
                                         : "expected --out FILE, the file to write");
  std::vector<std::string> overrides;
  if (vm.count("set")) overrides = vm["set"].as<std::vector<std::string>>();
  if (action == "reference-logps")
    return reference_logps(vm["spec"].as<std::string>(), vm["out"].as<std::string>(), overrides,
                           vm["batch"].as<int64_t>(), vm["quiet"].as<bool>());
  return tokenize(vm["spec"].as<std::string>(), vm["out"].as<std::string>(), overrides,
                  vm["shard-tokens"].as<int64_t>(), vm["quiet"].as<bool>());
}

}  // namespace kiln::cli
