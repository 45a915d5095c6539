// An example of the core used directly, without specs or plugins: a two-layer MLP fitted with
// AdamW to a synthetic regression, y = sin(3 x1) + x2^2 + noise, printing the loss as it falls.
// It uses the pieces a language model's training loop uses: nn::Module, init schemes,
// autograd, AdamW with a cosine schedule, gradient clipping, and a safetensors checkpoint
// read back at the end.
//
//   kiln_demo_mlp [--steps N] [--hidden H] [--lr LR] [--seed S] [--threads T] [--out DIR]
//
// It runs on one thread unless told otherwise: its matrices (256 x 64) are far too small for
// threads to pay for their start and join, which on a busy machine cost more than the math.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/io/safetensors.h"
#include "core/kiln.h"
#include "core/nn/init.h"
#include "core/nn/module.h"
#include "core/train/clip.h"
#include "plugins/optimizers/adamw.h"
#include "plugins/optimizers/schedules.h"

namespace {

using namespace kiln;

/// y = x W^T + b, initialised as torch.nn.Linear: W and b uniform in +-1/sqrt(in).
struct Linear : nn::Module {
  nn::Parameter weight, bias;

  Linear(int64_t in, int64_t out, Generator& gen) {
    const double bound = 1.0 / std::sqrt(double(in));
    weight =
        register_parameter("weight", nn::init::uniform_(empty({out, in}), -bound, bound, &gen));
    bias = register_parameter("bias", nn::init::uniform_(empty({out}), -bound, bound, &gen));
  }
  Tensor forward(const Tensor& x) const { return ops::linear(x, weight, bias); }
};

struct MLP : nn::Module {
  std::shared_ptr<Linear> fc1, fc2;

  MLP(int64_t in, int64_t hidden, int64_t out, Generator& gen) {
    fc1 = register_module("fc1", std::make_shared<Linear>(in, hidden, gen));
    fc2 = register_module("fc2", std::make_shared<Linear>(hidden, out, gen));
  }
  Tensor forward(const Tensor& x) const { return fc2->forward(ops::tanh(fc1->forward(x))); }
};

struct Data {
  Tensor x, y;  // [n, 2], [n, 1]
};

Data make_data(int64_t n, double noise, Generator& gen) {
  Tensor x = rand({n, 2}, DType::f32, &gen, -1.0, 1.0);
  Tensor x1 = x.narrow(1, 0, 1), x2 = x.narrow(1, 1, 1);
  Tensor y = ops::sin(x1 * 3.0) + ops::square(x2) + randn({n, 1}, DType::f32, &gen, 0.0, noise);
  return {x, y.contiguous()};
}

double mse(const MLP& model, const Data& d) {
  autograd::NoGrad no_grad;
  return ops::mean(ops::square(model.forward(d.x) - d.y)).item();
}

struct Args {
  int64_t steps = 1500, hidden = 64, threads = 1;
  double lr = 1e-2;
  uint64_t seed = 0;
  std::string out = "runs/demo_mlp";
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; i += 2) {
    const std::string k = argv[i];
    KILN_CHECK(i + 1 < argc, "kiln_demo_mlp: option ", k, " needs a value");
    const std::string v = argv[i + 1];
    auto number = [&] {
      char* end = nullptr;
      double x = std::strtod(v.c_str(), &end);
      KILN_CHECK(!v.empty() && *end == 0, "kiln_demo_mlp: ", k, " expects a number, got '", v, "'");
      return x;
    };
    if (k == "--steps")
      a.steps = int64_t(number());
    else if (k == "--hidden")
      a.hidden = int64_t(number());
    else if (k == "--threads")
      a.threads = int64_t(number());
    else if (k == "--lr")
      a.lr = number();
    else if (k == "--seed")
      a.seed = uint64_t(number());
    else if (k == "--out")
      a.out = v;
    else
      KILN_FAIL("kiln_demo_mlp: unknown option ", k,
                " (known: --steps --hidden --lr --seed --threads --out)");
  }
  KILN_CHECK(a.steps > 0 && a.hidden > 0 && a.threads > 0 && a.lr > 0,
             "kiln_demo_mlp: --steps, --hidden, --threads and --lr must be positive");
  return a;
}

int run(const Args& args) {
  const auto t0 = std::chrono::steady_clock::now();
  set_num_threads(int(args.threads));
  Generator gen(args.seed);
  const double noise = 0.05;
  Data train = make_data(8192, noise, gen), val = make_data(2048, noise, gen);
  MLP model(2, args.hidden, 1, gen);

  const int64_t batch = 256, batches = train.x.size(0) / batch;
  optimizers::AdamW opt(model.parameters(), {.lr = args.lr, .weight_decay = 1e-4});
  optimizers::CosineSchedule schedule(/*warmup=*/50, /*total=*/args.steps, /*min_ratio=*/0.05);

  std::printf(
      "kiln demo: MLP 2 -> %lld -> 1 (%lld parameters), AdamW, cosine schedule, %lld steps\n",
      (long long)args.hidden, (long long)model.num_parameters(), (long long)args.steps);
  std::printf("target y = sin(3 x1) + x2^2 + N(0, %.2f^2): the best possible MSE is about %.4f\n",
              noise, noise * noise);
  std::printf("%6s  %10s  %10s  %9s  %9s\n", "step", "train mse", "val mse", "grad norm", "lr");

  double running = 0;
  for (int64_t step = 0; step < args.steps; ++step) {
    const int64_t b = step % batches;
    Tensor xb = train.x.narrow(0, b * batch, batch), yb = train.y.narrow(0, b * batch, batch);
    Tensor loss = ops::mean(ops::square(model.forward(xb) - yb));
    opt.zero_grad();
    loss.backward();
    double norm = train::clip_grad_norm(model.parameters(), 1.0);
    train::apply_schedule(schedule, opt);
    opt.step();
    running = step == 0 ? loss.item() : 0.9 * running + 0.1 * loss.item();
    if (step % 100 == 0 || step + 1 == args.steps)
      std::printf("%6lld  %10.5f  %10.5f  %9.4f  %9.2e\n", (long long)step, running,
                  mse(model, val), norm, opt.lr());
  }

  // Checkpoint, read it back into a fresh model, and check that it predicts the same.
  std::filesystem::create_directories(args.out);
  const std::string path = args.out + "/model.safetensors";
  safetensors::write(path, model.state_dict(), {{"format", "kiln"}, {"model", "mlp_regression"}});
  Generator other(args.seed + 1);
  MLP restored(2, args.hidden, 1, other);
  restored.load_state_dict(safetensors::read(path).tensors);
  const double val_mse = mse(model, val), restored_mse = mse(restored, val);

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("final val mse %.5f (noise floor %.4f); checkpoint %s reloads to val mse %.5f\n",
              val_mse, noise * noise, path.c_str(), restored_mse);
  std::printf("done in %.2f s\n", seconds);
  return restored_mse == val_mse ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_args(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
