// kiln_reference_inputs: writes the inputs of the whole-model reference test (README.md here):
// for each case, the model's initial weights as kiln draws them, a fixed token batch and the
// settings reference.py needs to build the same model and optimizer in PyTorch.
//
//   kiln_reference_inputs FIXTURES_DIR [CASE...]     (cases: gpt2 llama bert t5; default: all)
#include <cstdio>
#include <filesystem>

#include "core/nn/model.h"
#include "core/tensor/factory.h"
#include "core/tensor/random.h"
#include "tests/reference/reference_case.h"

namespace kiln::reference {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// The settings of the resolved spec that the PyTorch model and optimizer need.
safetensors::Metadata settings(const Config& spec) {
  safetensors::Metadata m;
  const Config& model = spec.at("model");
  const std::string kind = model.component_name();
  KILN_CHECK(kind == "decoder" || kind == "encoder" || kind == "encoder_decoder",
             "the reference cases use the decoder, encoder or encoder_decoder model, not ", kind);
  m["model"] = kind;
  m["objective"] = spec.at("train").at("objective").component_name();
  m["activation"] = model.get<std::string>("activation");
  m["n_heads"] = std::to_string(model.get<int64_t>("n_heads"));
  m["n_kv_heads"] = std::to_string(model.get<int64_t>("n_kv_heads", model.get<int64_t>("n_heads")));
  m["tie_embeddings"] = model.get<bool>("tie_embeddings") ? "true" : "false";
  m["norm_position"] = model.get<std::string>("norm_position");
  const Config& norm = model.at("norm");
  m["norm"] = norm.component_name();
  m["norm_eps"] = number(norm.get<double>("eps"));
  const Config& pos = model.at("pos");
  m["pos"] = pos.component_name();
  if (pos.component_name() == "rope") {
    KILN_CHECK(pos.get<double>("fraction") == 1.0, "reference.py rotates whole heads");
    m["rope_theta"] = number(pos.get<double>("theta"));
  }
  if (pos.component_name() == "t5_bias") {
    m["num_buckets"] = std::to_string(pos.get<int64_t>("num_buckets"));
    m["max_distance"] = std::to_string(pos.get<int64_t>("max_distance"));
  }
  KILN_CHECK(model.get<double>("dropout", 0.0) == 0.0, "the reference cases use no dropout");
  if (kind == "encoder") {
    KILN_CHECK(model.get<bool>("mlm_head") && model.get<int64_t>("sentence_head") == 0,
               "the encoder case has the MLM head and no sentence head");
    KILN_CHECK(model.get<int64_t>("d_embed", model.get<int64_t>("d_model")) ==
                   model.get<int64_t>("d_model"),
               "reference.py has no factorised embedding");
    m["n_types"] = std::to_string(model.get<int64_t>("n_types"));
    m["embed_norm"] = model.get<bool>("embed_norm") ? "true" : "false";
    m["mlm_activation"] = model.get<std::string>("mlm_activation");
  }
  if (kind == "encoder_decoder") {
    // Attention scales: 0 is 1/sqrt(head_dim); T5 folds the scale into its initialisation (1).
    auto scale = [&](const char* block, const char* attn) {
      const Config* b = model.find(block);
      const Config* a = b ? b->find(attn) : nullptr;
      return a ? a->get<double>("scale", 0.0) : 0.0;
    };
    m["encoder_attn_scale"] = number(scale("encoder_block", "attn"));
    m["decoder_attn_scale"] = number(scale("decoder_block", "attn"));
    m["cross_attn_scale"] = number(scale("decoder_block", "cross_attn"));
    m["scale_logits"] = model.get<bool>("scale_logits") ? "true" : "false";
    m["decoder_start"] = std::to_string(model.get<int64_t>("decoder_start"));
    KILN_CHECK(!model.get<bool>("embed_norm") && model.get<double>("embed_scale") == 1.0,
               "reference.py has no embedding norm or scale in the encoder-decoder");
  }

  const Config& train = spec.at("train");
  const Config& opt = train.at("optimizer");
  KILN_CHECK(opt.component_name() == "adamw", "the reference cases train with adamw");
  KILN_CHECK(train.at("schedule").component_name() == "constant",
             "the reference cases use a constant learning rate");
  KILN_CHECK(train.get<int64_t>("grad_accum") == 1, "the reference cases use one micro-batch");
  m["lr"] = number(opt.get<double>("lr"));
  m["beta1"] = number(opt.at("betas")[0].as_number());
  m["beta2"] = number(opt.at("betas")[1].as_number());
  m["eps"] = number(opt.get<double>("eps"));
  m["weight_decay"] = number(opt.get<double>("weight_decay"));
  m["grad_clip"] = number(train.get<double>("grad_clip"));
  m["steps"] = std::to_string(train.get<int64_t>("steps"));
  return m;
}

// A token id in [lo, V) from a counter hash of (stream, b, i).
int64_t token_of(uint64_t stream, int64_t b, int64_t i, int64_t lo, int64_t V) {
  return lo + int64_t(splitmix64(stream * 1000003ull + uint64_t(b * 1000 + i)) % uint64_t(V - lo));
}

// The batch of a case, [B, T] inputs and targets (-100: no loss), by the model's kind.
//   decoder: tokens [B, T + 1] from a counter hash; inputs the first T, targets the last T,
//     every seventh target masked so that the mean runs over the counted targets only.
//   encoder (mlm, masking = "given"): ordinary tokens 1..V-2 (0 stands for [PAD], V-1 for
//     [MASK]); a quarter of the positions selected, at least one a row; of those 80% become
//     [MASK], 10% a random ordinary token, 10% stay; the targets are the original tokens at the
//     selected positions.
//   encoder_decoder (seq2seq): sources of T tokens in 1..V-1; row b's target has T - 2b tokens
//     (then -100), so rows end at different places and the decoder reads pads behind them.
void make_batch(const std::string& kind, int64_t B, int64_t T, int64_t V,
                std::vector<int64_t>& inputs, std::vector<int64_t>& targets) {
  inputs.assign(size_t(B * T), 0);
  targets.assign(size_t(B * T), -100);
  for (int64_t b = 0; b < B; ++b) {
    bool any = false;
    for (int64_t t = 0; t < T; ++t) {
      const size_t i = size_t(b * T + t);
      if (kind == "decoder") {
        auto token = [&](int64_t k) { return int64_t(splitmix64(uint64_t(b * 1000 + k)) % V); };
        inputs[i] = token(t);
        targets[i] = (b * T + t) % 7 == 3 ? -100 : token(t + 1);
      } else if (kind == "encoder") {
        const int64_t original = token_of(1, b, t, 1, V - 1);
        const uint64_t u = splitmix64(2000003ull + uint64_t(b * 1000 + t));
        const bool selected = u % 100 < 25 || (t == T - 1 && !any);
        inputs[i] = original;
        if (selected) {
          any = true;
          targets[i] = original;
          const uint64_t action = (u >> 16) % 10;
          if (action < 8)
            inputs[i] = V - 1;
          else if (action == 8)
            inputs[i] = token_of(3, b, t, 1, V - 1);
        }
      } else {
        inputs[i] = token_of(4, b, t, 1, V);
        if (t < T - 2 * b) targets[i] = token_of(5, b, t, 1, V);
      }
    }
  }
}

void write_case(const std::string& fixtures, const std::string& name) {
  const std::string path = inputs_path(fixtures, name);
  Config spec = load_case_spec(name, path);
  // As the Trainer builds it: the run's seed, then the model.
  manual_seed(uint64_t(spec.get<int64_t>("seed")));
  auto model = Registry::global().create<nn::Model>(spec.at("model"));

  safetensors::TensorMap out;
  for (const auto& [n, p] : model->named_parameters()) out[n] = p.detach().to(DType::f32);

  const int64_t B = spec.at("train").get<int64_t>("batch");
  const int64_t T = spec.at("train").get<int64_t>("seq_len");
  std::vector<int64_t> inputs, targets;
  make_batch(spec.at("model").component_name(), B, T, model->vocab_size(), inputs, targets);
  out[kInputsKey] = from_vector(inputs, {B, T});
  out[kTargetsKey] = from_vector(targets, {B, T});

  safetensors::Metadata meta = settings(spec);
  meta["case"] = name;
  safetensors::write(path, out, meta);
  std::printf("wrote %s (%lld parameters)\n", path.c_str(), (long long)model->num_parameters());
}

}  // namespace
}  // namespace kiln::reference

int main(int argc, char** argv) {
  using namespace kiln::reference;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FIXTURES_DIR [CASE...]  (cases: gpt2 llama bert t5)\n",
                 argv[0]);
    return 2;
  }
  try {
    load_components();
    std::vector<std::string> cases(argv + 2, argv + argc);
    if (cases.empty()) cases = case_names();
    std::filesystem::create_directories(argv[1]);
    for (const std::string& c : cases) write_case(argv[1], c);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
