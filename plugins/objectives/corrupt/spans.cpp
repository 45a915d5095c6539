#include "plugins/objectives/corrupt/spans.h"

#include <algorithm>
#include <cmath>

#include "core/base/error.h"

namespace kiln::objectives {
namespace {

// _random_segmentation: `items` cut into `segments` non-empty pieces, each of the
// C(items - 1, segments - 1) cuttings equally likely. Returns the piece lengths in order.
std::vector<int64_t> random_segmentation(int64_t items, int64_t segments, Rng& rng) {
  // The first item of each piece after the first: segments - 1 distinct cuts among the
  // items - 1 places between items.
  std::vector<uint8_t> first(size_t(items), 0);
  for (int64_t cut : rng.sample(items - 1, segments - 1)) first[size_t(cut + 1)] = 1;
  std::vector<int64_t> lengths;
  lengths.reserve(size_t(segments));
  for (int64_t i = 0; i < items; ++i) {
    if (i == 0 || first[size_t(i)]) lengths.push_back(0);
    ++lengths.back();
  }
  return lengths;
}

// Python's round(): halves to even, as T5's tf.round.
int64_t round_half_even(double x) {
  return int64_t(std::nearbyint(x));
}

}  // namespace

SpanCounts span_counts(int64_t length, double density, double mean_span_length) {
  SpanCounts c;
  c.noise = std::clamp<int64_t>(round_half_even(double(length) * density), 1, length - 1);
  c.spans = std::max<int64_t>(1, round_half_even(double(c.noise) / mean_span_length));
  // Every span needs a non-noise span before it (T5 assumes this holds; it does for any
  // density below 1/2 and a mean span length of at least 1).
  c.spans = std::min(c.spans, length - c.noise);
  return c;
}

std::vector<uint8_t> random_spans_noise_mask(int64_t length, double density,
                                             double mean_span_length, Rng& rng) {
  KILN_CHECK(length >= 2, "span corruption: a sequence needs at least 2 tokens, got ", length);
  KILN_CHECK(density > 0 && density < 1,
             "span corruption: the noise density must be in (0, 1), got ", density);
  KILN_CHECK(mean_span_length >= 1, "span corruption: the mean span length must be >= 1, got ",
             mean_span_length);
  const SpanCounts c = span_counts(length, density, mean_span_length);
  const std::vector<int64_t> noise = random_segmentation(c.noise, c.spans, rng);
  const std::vector<int64_t> kept = random_segmentation(length - c.noise, c.spans, rng);
  std::vector<uint8_t> mask;
  mask.reserve(size_t(length));
  for (int64_t s = 0; s < c.spans; ++s) {
    mask.insert(mask.end(), size_t(kept[size_t(s)]), 0);
    mask.insert(mask.end(), size_t(noise[size_t(s)]), 1);
  }
  return mask;
}

SpanCorruption corrupt_spans(std::span<const int32_t> ids, std::span<const uint8_t> noise,
                             std::span<const int32_t> sentinels, std::optional<int32_t> eos) {
  KILN_CHECK(noise.size() == ids.size(), "span corruption: ", noise.size(), " noise flags for ",
             ids.size(), " tokens");
  SpanCorruption r;
  // A sentinel starts each noise span (in the inputs) and each non-noise span (in the
  // targets); both count the noise spans, so the i-th of each is the same sentinel.
  size_t input_spans = 0, target_spans = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    const bool starts = i == 0 || noise[i] != noise[i - 1];
    std::vector<int32_t>& keep = noise[i] ? r.targets : r.inputs;
    std::vector<int32_t>& drop = noise[i] ? r.inputs : r.targets;
    if (starts) {
      size_t& k = noise[i] ? input_spans : target_spans;
      // The targets' sentinel for a non-noise span is the one of the noise span after it;
      // a leading non-noise span (T5's always is) thus takes sentinel 0.
      KILN_CHECK(k < sentinels.size(), "span corruption: the sequence has more spans than the ",
                 sentinels.size(),
                 " sentinels <extra_id_N> of the tokenizer: give it more "
                 "(sentinels = ...)");
      drop.push_back(sentinels[k++]);
    }
    keep.push_back(ids[i]);
  }
  if (eos) {
    r.inputs.push_back(*eos);
    r.targets.push_back(*eos);
  }
  return r;
}

}  // namespace kiln::objectives
