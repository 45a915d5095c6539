// Acceptance 3 and 4 of the probes issue on toy models trained here (a few seconds each on one
// thread), and the SVG figures parsed as XML.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "plugins/probes/ablation.h"
#include "plugins/probes/common.h"
#include "plugins/probes/linear_probe.h"
#include "plugins/probes/patching.h"
#include "plugins/probes/svg.h"
#include "tests/plugins/probes/probes_test_util.h"

namespace kiln::probes::testing {
namespace {

// Sequences of n random tokens repeated once: [x, x], T = 2n.
Tensor repeated(int64_t B, int64_t n, int64_t V, std::mt19937_64& rng) {
  std::uniform_int_distribution<int64_t> tok(0, V - 1);
  std::vector<int64_t> v;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int64_t> x(static_cast<size_t>(n));
    for (auto& t : x) t = tok(rng);
    v.insert(v.end(), x.begin(), x.end());
    v.insert(v.end(), x.begin(), x.end());
  }
  return from_vector(v, {B, 2 * n});
}

// Acceptance 3: an attention-only model learns induction on repeated random sequences; the heads
// that activation patching ranks highest are the ones whose ablation undoes it.
TEST(Acceptance, InductionHeadsFoundByPatchingCarryTheSecondHalf) {
  ThreadCountGuard one_thread(1);
  const int64_t V = 24, n = 10, T = 2 * n;
  auto m = make_decoder(R"({"vocab": 24, "d_model": 32, "n_layers": 2, "n_heads": 4, "context": 20,
                             "attn_only": true, "bias": false})");
  std::mt19937_64 rng(1);
  train(
      *m, [&](int64_t) { return repeated(32, n, V, rng); }, 400, 1e-2);

  Tensor test = repeated(64, n, V, rng);
  AblationOptions first, second;
  first.loss_from = 0, first.loss_to = n - 1;  // predictions of tokens 1 .. n-1: random
  second.loss_from = n;                        // tokens n+1 .. 2n-1: copies
  const double loss1 = next_token_loss(forward_logits(*m, test), test, 0, n - 1);
  const double loss2 = next_token_loss(forward_logits(*m, test), test, n, T - 1);
  std::printf("first-half loss %.3f (ln V = %.3f), second-half loss %.3f\n", loss1,
              std::log(double(V)), loss2);
  EXPECT_GT(loss1, 0.8 * std::log(double(V)));
  EXPECT_LT(loss2, 0.1 * loss1);

  // Patching: clean [x, x[0..n-2]] predicts x[n-1] at the last position; corrupted has a
  // different first half y, whose answer would be y[n-1].
  const int64_t P = 16;
  Tensor clean_full = repeated(P, n, V, rng), other = repeated(P, n, V, rng);
  std::vector<int64_t> c = clean_full.narrow(1, 0, T - 1).contiguous().to_vector<int64_t>(), k = c;
  const std::vector<int64_t> o = other.to_vector<int64_t>();
  PatchingInput in;
  for (int64_t b = 0; b < P; ++b) {
    for (int64_t t = 0; t < n; ++t) k[size_t(b * (T - 1) + t)] = o[size_t(b * T + t)];
    in.answer.push_back(c[size_t(b * (T - 1) + n - 1)]);
    in.wrong.push_back(o[size_t(b * T + n - 1)]);
  }
  in.clean = from_vector(c, {P, T - 1});
  in.corrupted = from_vector(k, {P, T - 1});
  PatchingResult r = activation_patching(*m, in);
  ASSERT_EQ(r.z.size(), 8u);
  int64_t best = 0, worst = 0;
  for (int64_t i = 0; i < 8; ++i) {
    std::printf("head L%lld.H%lld: patching %.3f\n", (long long)(i / 4), (long long)(i % 4),
                r.z[size_t(i)]);
    if (r.z[size_t(i)] > r.z[size_t(best)]) best = i;
    if (std::abs(r.z[size_t(i)]) < std::abs(r.z[size_t(worst)])) worst = i;
  }
  // KILN_PROBE_FIGURES=DIR: also draw the per-head patching heatmap (docs/figures has one).
  if (const char* dir = std::getenv("KILN_PROBE_FIGURES")) {
    HeatmapStyle style;
    style.title = "induction: activation patching of hook_z per head";
    style.diverging = true;
    style.vmin = -1;
    style.vmax = 1;
    write_file(std::string(dir) + "/induction_patching_z.svg",
               heatmap_svg({Heatmap{"normalised logit difference restored",
                                    "layer",
                                    "head",
                                    {"0", "1"},
                                    {"H0", "H1", "H2", "H3"},
                                    r.z}},
                           style));
  }
  // The heads ranked highest: every head restoring at least half as much as the best.
  std::vector<std::pair<int64_t, int64_t>> top;
  for (int64_t i = 0; i < 8; ++i)
    if (r.z[size_t(i)] >= 0.5 * r.z[size_t(best)]) top.emplace_back(i / 4, i % 4);
  AblationOptions mean2 = second;
  mean2.mean = true;
  const double base = ablated_loss(*m, test, {}, mean2);
  const double top_loss = ablated_loss(*m, test, top, mean2);
  const double worst_loss = ablated_loss(*m, test, {{worst / 4, worst % 4}}, mean2);
  std::printf(
      "second-half loss %.3f; top %zu head(s) mean-ablated %.3f (x%.1f); lowest-ranked head %.3f "
      "(x%.2f)\n",
      base, top.size(), top_loss, top_loss / base, worst_loss, worst_loss / base);
  EXPECT_GT(top_loss, 5 * base);
  EXPECT_LT(worst_loss, 1.5 * base);
}

// Acceptance 4: whether a token lies inside parentheses, planted in the data: inside, the next
// token is the current one + 1 (mod the letters); outside it is random. The model must know which
// to predict well, and a linear probe reads it from the residual stream.
TEST(Acceptance, LinearProbeReadsAPlantedFeature) {
  ThreadCountGuard one_thread(1);
  const int64_t letters = 12, open = 12, close = 13, T = 24;
  auto sample = [&](std::mt19937_64& rng, std::vector<int64_t>& ids, std::vector<int64_t>& inside) {
    std::uniform_int_distribution<int64_t> letter(0, letters - 1);
    std::uniform_real_distribution<double> u(0, 1);
    bool in = false;
    int64_t prev = letter(rng);
    for (int64_t t = 0; t < T; ++t) {
      int64_t id;
      if (!in && u(rng) < 0.15 && t < T - 3) {
        id = open, in = true;
      } else if (in && u(rng) < 0.2) {
        id = close, in = false;
      } else {
        id = in ? (prev + 1) % letters : letter(rng);
        prev = id;
      }
      if (id >= letters) prev = letter(rng);
      ids.push_back(id);
      inside.push_back(id >= letters ? -1 : in ? 1 : 0);  // parentheses themselves: not scored
    }
  };
  auto m =
      make_decoder(R"({"vocab": 14, "d_model": 32, "n_layers": 2, "n_heads": 2, "context": 24})");
  std::mt19937_64 rng(2);
  train(
      *m,
      [&](int64_t) {
        std::vector<int64_t> ids, lab;
        for (int b = 0; b < 32; ++b) sample(rng, ids, lab);
        return from_vector(ids, {32, T});
      },
      250, 1e-2);

  std::vector<ProbeExample> examples(200);
  for (ProbeExample& e : examples) sample(rng, e.ids, e.labels);
  LinearProbeResult r = linear_probe(*m, examples);
  double best = 0;
  for (const LinearProbeLayer& l : r.layers) {
    std::printf("layer %s: probe %.3f (train %.3f), control %.3f, majority %.3f\n", l.name.c_str(),
                l.accuracy, l.train_accuracy, l.control_accuracy, r.majority);
    best = std::max(best, l.accuracy);
    EXPECT_LT(l.control_accuracy, std::max(r.majority, 1 - r.majority) + 0.05) << l.name;
  }
  EXPECT_GE(best, 0.95);
  EXPECT_LT(r.layers[0].accuracy, 0.9);  // the token alone does not tell
}

TEST(Svg, HeatmapIsWellFormedXml) {
  Heatmap h{"a <title> & \"quotes\"",
            "layer",
            "position",
            {"embed", "0"},
            {"<", "&", "\xff\xfe", "\xc2\xb7x"},
            {}};
  for (int i = 0; i < 8; ++i) h.values.push_back(i == 3 ? NAN : 0.1 * i - 0.3);
  HeatmapStyle style;
  style.diverging = true;
  style.title = "t\x01";
  const std::string svg = heatmap_svg({h, h}, style);
  EXPECT_NE(svg.find("&lt;title&gt; &amp; &quot;quotes&quot;"), std::string::npos);
  EXPECT_NE(svg.find("\\xff\\xfe"), std::string::npos);
  const std::string path =
      (std::filesystem::temp_directory_path() / "kiln_probe_test.svg").string();
  write_file(path, svg);
  if (std::system("python3 -c 'pass' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3 is not available";
  const std::string cmd =
      "python3 -c \"import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); "
      "assert r.tag.endswith('svg'), r.tag\" " +
      path;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << svg;
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace kiln::probes::testing
