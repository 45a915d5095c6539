#include "plugins/evaluators/pseudo_perplexity.h"

#include <algorithm>

#include "core/autograd/autograd.h"
#include "core/base/error.h"
#include "core/ops/ops.h"
#include "core/tensor/factory.h"

namespace kiln::evaluators {
namespace {

// One forward row: a window with one position masked.
struct Row {
  const int32_t* window;
  int64_t length, masked;
};

}  // namespace

PseudoLoglikelihood pseudo_loglikelihood(nn::Model& model,
                                         const std::vector<std::vector<int32_t>>& documents,
                                         int32_t mask_id, int64_t context, int64_t batch_size,
                                         const std::function<void(int64_t, int64_t)>& progress) {
  KILN_CHECK(context >= 1, "pseudo-perplexity: context must be >= 1, got ", context);
  KILN_CHECK(batch_size >= 1, "pseudo-perplexity: batch size must be >= 1, got ", batch_size);
  KILN_CHECK(mask_id >= 0 && mask_id < model.vocab_size(), "pseudo-perplexity: the mask token ",
             mask_id, " is outside the model's vocabulary [0, ", model.vocab_size(), ")");
  autograd::NoGrad no_grad;
  PseudoLoglikelihood r;
  // Rows grouped by window length, so that a batch needs no padding.
  std::vector<Row> rows;
  for (const std::vector<int32_t>& d : documents)
    for (size_t start = 0; start < d.size(); start += size_t(context)) {
      const int64_t n = std::min<int64_t>(context, int64_t(d.size() - start));
      ++r.windows;
      for (int64_t t = 0; t < n; ++t) rows.push_back({d.data() + start, n, t});
    }
  r.tokens = int64_t(rows.size());
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row& a, const Row& b) { return a.length > b.length; });
  auto* encoder = dynamic_cast<nn::EncoderModel*>(&model);
  int64_t done = 0;
  for (size_t i = 0; i < rows.size();) {
    const int64_t n = rows[i].length;
    size_t j = i;
    while (j < rows.size() && rows[j].length == n && int64_t(j - i) < batch_size) ++j;
    const int64_t b = int64_t(j - i);
    std::vector<int64_t> ids(size_t(b * n)), flat_pos(static_cast<size_t>(b)),
        targets(static_cast<size_t>(b));
    for (int64_t k = 0; k < b; ++k) {
      const Row& row = rows[i + size_t(k)];
      for (int64_t t = 0; t < n; ++t) ids[size_t(k * n + t)] = row.window[t];
      ids[size_t(k * n + row.masked)] = mask_id;
      flat_pos[size_t(k)] = k * n + row.masked;
      targets[size_t(k)] = row.window[row.masked];
    }
    const Tensor tokens = from_vector(ids, {b, n});
    const Tensor index = from_vector(flat_pos, {b});
    nn::ForwardState state;
    Tensor logits;  // [b, V] at the masked positions
    if (encoder) {
      const Tensor h = encoder->encode(tokens, state);
      logits = encoder->mlm_logits(ops::index_select(h.reshape({b * n, h.size(2)}), 0, index));
    } else {
      const Tensor full = model.forward(tokens, state);
      logits = ops::index_select(full.reshape({b * n, full.size(2)}), 0, index);
    }
    const Tensor logp = ops::log_softmax(logits.to(DType::f64), -1);
    const Tensor picked = ops::gather(logp, 1, from_vector(targets, {b, 1}));
    for (double v : picked.to_vector<double>()) r.logprob += v;
    done += b;
    if (progress) progress(done, r.tokens);
    i = j;
  }
  return r;
}

}  // namespace kiln::evaluators
