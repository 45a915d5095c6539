// T5's span corruption (Raffel et al. 2020; t5.data.preprocessors.span_corruption):
//
//   random_spans_noise_mask: of `length` tokens, round(length * density) are noise (at least
//   1, at most length - 1), in round(noise / mean_span_length) spans (at least 1). The noise
//   tokens and the other tokens are each cut into that many non-empty spans at uniformly
//   random places (_random_segmentation), and the spans alternate, the sequence starting
//   with a non-noise span and ending with a noise span.
//
//   inputs:  each noise span replaced by one sentinel (<extra_id_0>, <extra_id_1>, ... in order)
//   targets: each non-noise span replaced by the same sentinels, so the target is every
//            sentinel followed by the span it stands for
//
// e.g. "a b c d e f g" with noise on c d and g: inputs "a b <0> e f <1>", targets
// "<0> c d <1> g". T5 appends EOS to both when the vocabulary has one.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "plugins/objectives/corrupt/rng.h"

namespace kiln::objectives {

/// The number of noise tokens and of noise spans T5 uses for a sequence of `length`.
struct SpanCounts {
  int64_t noise = 0, spans = 0;
};
SpanCounts span_counts(int64_t length, double density, double mean_span_length);

/// noise[i] != 0 where token i is noise. length >= 2.
std::vector<uint8_t> random_spans_noise_mask(int64_t length, double density,
                                             double mean_span_length, Rng& rng);

struct SpanCorruption {
  std::vector<int32_t> inputs, targets;
};

/// Replaces the noise spans of ids by sentinels[0], sentinels[1], ... (and the other spans,
/// for the targets); appends eos to both when given. Throws when there are more spans than
/// sentinels.
SpanCorruption corrupt_spans(std::span<const int32_t> ids, std::span<const uint8_t> noise,
                             std::span<const int32_t> sentinels, std::optional<int32_t> eos);

}  // namespace kiln::objectives
