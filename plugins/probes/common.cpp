#include "plugins/probes/common.h"

#include <cmath>
#include <cstdio>

#include "core/autograd/autograd.h"
#include "core/tensor/factory.h"

namespace kiln::probes {

std::string block_hook(int64_t layer, const std::string& suffix) {
  return "blocks." + std::to_string(layer) + "." + suffix;
}

int64_t count_layers(const nn::Model& model) {
  int64_t n = 0;
  for (const auto& [name, point] : model.named_hook_points())
    if (name == block_hook(n, "hook_resid_post")) ++n;
  KILN_CHECK(n > 0, "probe: the model has no hook point blocks.0.hook_resid_post (probes need a ",
             "model whose blocks expose TransformerLens's hook points)");
  return n;
}

bool has_hook(const nn::Model& model, const std::string& name) {
  for (const auto& [n, point] : model.named_hook_points())
    if (n == name) return true;
  return false;
}

Tensor forward_logits(nn::Model& model, const Tensor& tokens) {
  autograd::NoGrad no_grad;
  nn::ForwardState state;
  return model.forward(tokens, state).to(DType::f64);
}

double next_token_loss(const Tensor& logits, const Tensor& tokens, int64_t from, int64_t to) {
  const int64_t B = logits.size(0), T = logits.size(1), V = logits.size(2);
  if (to < 0) to = T - 1;
  KILN_CHECK(0 <= from && from < to && to <= T - 1, "next_token_loss: positions [", from, ", ", to,
             ") are not a non-empty range within the ", T - 1, " predictions of ", T, " tokens");
  const std::vector<double> l = logits.to(DType::f64).contiguous().to_vector<double>();
  const std::vector<int64_t> ids = tokens.to(DType::i64).contiguous().to_vector<int64_t>();
  double total = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = from; t < to; ++t) {
      const double* row = l.data() + (b * T + t) * V;
      double m = row[0];
      for (int64_t v = 1; v < V; ++v) m = std::max(m, row[v]);
      double s = 0;
      for (int64_t v = 0; v < V; ++v) s += std::exp(row[v] - m);
      total += m + std::log(s) - row[ids[size_t(b * T + t + 1)]];
    }
  return total / double(B * (to - from));
}

Tensor encode_prompt(const data::Tokenizer& tokenizer, const std::string& text,
                     const nn::Model& model) {
  std::vector<int32_t> ids = tokenizer.encode(text);
  KILN_CHECK(!ids.empty(), "probe: the prompt \"", text, "\" encodes to no token");
  KILN_CHECK(int64_t(ids.size()) <= model.context_length(), "probe: the prompt has ", ids.size(),
             " tokens, more than the model's context of ", model.context_length());
  std::vector<int64_t> v(ids.begin(), ids.end());
  return from_vector(v, {1, int64_t(v.size())});
}

std::vector<std::string> token_labels(const data::Tokenizer* tokenizer,
                                      const std::vector<int64_t>& ids) {
  std::vector<std::string> out;
  for (int64_t id : ids) {
    std::string raw = tokenizer ? tokenizer->token_bytes(int32_t(id)) : std::to_string(id);
    std::string s;
    for (unsigned char c : raw) {
      if (c == ' ')
        s += "\xc2\xb7";  // a middle dot, so spaces show
      else if (c == '\n')
        s += "\\n";
      else if (c < 0x20 || c == 0x7f) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        s += buf;
      } else {
        s += char(c);
      }
    }
    out.push_back(s.empty() ? "#" + std::to_string(id) : s);
  }
  return out;
}

std::vector<int64_t> row_ids(const Tensor& tokens, int64_t b) {
  return tokens.select(0, b).to(DType::i64).contiguous().to_vector<int64_t>();
}

}  // namespace kiln::probes
