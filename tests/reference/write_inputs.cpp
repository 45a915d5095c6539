// kiln_reference_inputs: writes the inputs of the whole-model reference test (README.md here):
// for each case, the model's initial weights as kiln draws them, a fixed token batch and the
// settings reference.py needs to build the same model and optimizer in PyTorch.
//
//   kiln_reference_inputs FIXTURES_DIR [CASE...]     (cases: gpt2 llama; default: all)
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
  KILN_CHECK(model.component_name() == "decoder", "the reference cases use the decoder model");
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

void write_case(const std::string& fixtures, const std::string& name) {
  const std::string path = inputs_path(fixtures, name);
  Config spec = load_case_spec(name, path);
  // As the Trainer builds it: the run's seed, then the model.
  manual_seed(uint64_t(spec.get<int64_t>("seed")));
  auto model = Registry::global().create<nn::Model>(spec.at("model"));

  safetensors::TensorMap out;
  for (const auto& [n, p] : model->named_parameters()) out[n] = p.detach().to(DType::f32);

  // Tokens [B, T + 1] from a counter hash; inputs are the first T, targets the last T, with
  // every seventh target masked (-100) so that the mean runs over the counted targets only.
  const int64_t B = spec.at("train").get<int64_t>("batch");
  const int64_t T = spec.at("train").get<int64_t>("seq_len");
  const int64_t V = model->vocab_size();
  std::vector<int64_t> inputs(size_t(B * T)), targets(size_t(B * T));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      auto token = [&](int64_t i) { return int64_t(splitmix64(uint64_t(b * 1000 + i)) % V); };
      inputs[size_t(b * T + t)] = token(t);
      targets[size_t(b * T + t)] = (b * T + t) % 7 == 3 ? -100 : token(t + 1);
    }
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
    std::fprintf(stderr, "usage: %s FIXTURES_DIR [CASE...]  (cases: gpt2 llama)\n", argv[0]);
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
