// nn::Module: registration, dotted names, modes, state dicts and their errors, conversions.
#include <gtest/gtest.h>

#include "core/nn/module.h"
#include "tests/core/test_util.h"

namespace kiln {
namespace {

using nn::Module;

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << (msg)

struct Proj : Module {
  nn::Parameter weight, bias;
  Proj(int64_t in, int64_t out, double fill = 0.5) {
    weight = register_parameter("weight", full({out, in}, fill));
    bias = register_parameter("bias", zeros({out}));
  }
};

struct Attn : Module {
  std::shared_ptr<Proj> q_proj, k_proj;
  Tensor mask;
  Attn() {
    q_proj = register_module("q_proj", std::make_shared<Proj>(4, 4));
    k_proj = register_module("k_proj", std::make_shared<Proj>(4, 2));
    mask = register_buffer("mask", ones({3}, DType::boolean));
    register_buffer("cache", zeros({2}), /*persistent=*/false);
  }
};

struct Block : Module {
  nn::Parameter scale;
  std::shared_ptr<Attn> attn;
  Block() {
    scale = register_parameter("scale", ones({4}));
    attn = register_module("attn", std::make_shared<Attn>());
  }
};

struct Net : Module {
  nn::Parameter embed;
  std::shared_ptr<nn::ModuleList> blocks;
  std::shared_ptr<Proj> head;
  explicit Net(int n_blocks = 2) {
    embed = register_parameter("embed", full({5, 4}, 0.25));
    blocks = register_module("blocks", std::make_shared<nn::ModuleList>());
    for (int i = 0; i < n_blocks; ++i) blocks->push_back(std::make_shared<Block>());
    head = register_module("head", std::make_shared<Proj>(4, 5));
  }
};

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& v) {
  std::vector<std::string> out;
  for (const auto& [n, t] : v) out.push_back(n);
  return out;
}

TEST(NN, NamedParametersInRegistrationOrderWithDottedNames) {
  Net net;
  std::vector<std::string> expected = {"embed",
                                       "blocks.0.scale",
                                       "blocks.0.attn.q_proj.weight",
                                       "blocks.0.attn.q_proj.bias",
                                       "blocks.0.attn.k_proj.weight",
                                       "blocks.0.attn.k_proj.bias",
                                       "blocks.1.scale",
                                       "blocks.1.attn.q_proj.weight",
                                       "blocks.1.attn.q_proj.bias",
                                       "blocks.1.attn.k_proj.weight",
                                       "blocks.1.attn.k_proj.bias",
                                       "head.weight",
                                       "head.bias"};
  EXPECT_EQ(names_of(net.named_parameters()), expected);
  std::vector<Tensor> params = net.parameters();
  ASSERT_EQ(params.size(), expected.size());
  // The handles are the modules' own Parameters, not copies.
  EXPECT_TRUE(params[2].is_same(net.blocks->at<Block>(0)->attn->q_proj->weight));
  EXPECT_TRUE(params.back().is_same(net.head->bias));
  for (const Tensor& p : params) {
    EXPECT_TRUE(p.requires_grad());
    EXPECT_TRUE(p.is_leaf());
  }
  EXPECT_EQ(net.num_parameters(), 20 + 2 * (4 + 16 + 4 + 8 + 2) + 20 + 5);
  EXPECT_EQ(names_of(net.named_buffers()),
            (std::vector<std::string>{"blocks.0.attn.mask", "blocks.0.attn.cache",
                                      "blocks.1.attn.mask", "blocks.1.attn.cache"}));
  std::vector<std::string> modules;
  for (const auto& [n, m] : net.named_modules()) modules.push_back(n);
  EXPECT_EQ(modules, (std::vector<std::string>{"", "blocks", "blocks.0", "blocks.0.attn",
                                               "blocks.0.attn.q_proj", "blocks.0.attn.k_proj",
                                               "blocks.1", "blocks.1.attn", "blocks.1.attn.q_proj",
                                               "blocks.1.attn.k_proj", "head"}));
}

TEST(NN, TrainAndEvalRecurse) {
  Net net;
  EXPECT_TRUE(net.is_training());
  net.eval();
  for (const auto& [n, m] : net.named_modules()) EXPECT_FALSE(m->is_training()) << n;
  net.blocks->at<Block>(1)->train();  // a subtree only
  EXPECT_FALSE(net.is_training());
  EXPECT_TRUE(net.blocks->at<Block>(1)->attn->q_proj->is_training());
  EXPECT_FALSE(net.blocks->at<Block>(0)->attn->q_proj->is_training());
  net.train();
  for (const auto& [n, m] : net.named_modules()) EXPECT_TRUE(m->is_training()) << n;
}

TEST(NN, StateDictHoldsParametersAndPersistentBuffers) {
  Net net(1);
  nn::StateDict sd = net.state_dict();
  std::vector<std::string> keys;
  for (const auto& [k, t] : sd) keys.push_back(k);
  EXPECT_EQ(keys,
            (std::vector<std::string>{"blocks.0.attn.k_proj.bias", "blocks.0.attn.k_proj.weight",
                                      "blocks.0.attn.mask", "blocks.0.attn.q_proj.bias",
                                      "blocks.0.attn.q_proj.weight", "blocks.0.scale", "embed",
                                      "head.bias", "head.weight"}));
  EXPECT_FALSE(sd.at("embed").requires_grad());
  EXPECT_EQ(sd.at("embed").data_ptr(), net.embed.data_ptr());  // shares storage
}

TEST(NN, StateDictRoundTrip) {
  Net a, b;
  Generator gen(7);
  {
    autograd::NoGrad ng;
    for (auto& [n, p] : a.named_parameters()) p.copy_(randn(p.shape(), DType::f32, &gen));
  }
  Tensor b_weight = b.head->weight;  // a handle taken before loading sees the loaded values
  b.load_state_dict(a.state_dict());
  auto pa = a.named_parameters(), pb = b.named_parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].second.to_vector<float>(), pb[i].second.to_vector<float>()) << pa[i].first;
    EXPECT_NE(pa[i].second.data_ptr(), pb[i].second.data_ptr());  // copied, not aliased
  }
  EXPECT_EQ(b_weight.to_vector<float>(), a.head->weight.to_vector<float>());
  EXPECT_TRUE(b.head->weight.requires_grad());
}

TEST(NN, LoadStateDictReportsEveryProblemAtOnce) {
  Net net(1);
  nn::StateDict sd = net.state_dict();
  sd.erase("head.bias");                             // missing
  sd["head.extra"] = zeros({2});                     // unexpected
  sd["head.weight"] = zeros({4, 5});                 // shape mismatch (module: [5, 4])
  sd["embed"] = zeros({5, 4}, DType::f64);           // dtype mismatch
  sd["blocks.0.attn.mask"] = zeros({3}, DType::u8);  // buffer dtype mismatch
  const std::vector<float> before = net.blocks->at<Block>(0)->scale.to_vector<float>();
  sd["blocks.0.scale"] = full({4}, 9.0);  // valid, but must not be loaded
  std::string msg = message_of([&] { net.load_state_dict(sd); });
  EXPECT_HAS(msg, "5 problems");
  EXPECT_HAS(msg, "missing key 'head.bias' (shape [5] f32)");
  EXPECT_HAS(msg, "unexpected key 'head.extra' (shape [2] f32)");
  EXPECT_HAS(msg,
             "key 'head.weight': shape [4, 5] f32 in the dict, shape [5, 4] f32 in the module");
  EXPECT_HAS(msg, "key 'embed': shape [5, 4] f64 in the dict, shape [5, 4] f32 in the module");
  EXPECT_HAS(msg,
             "key 'blocks.0.attn.mask': shape [3] u8 in the dict, shape [3] bool in the module");
  EXPECT_EQ(net.blocks->at<Block>(0)->scale.to_vector<float>(), before);
}

TEST(NN, NonStrictLoadSkipsMissingAndUnexpectedKeys) {
  Net net(1);
  nn::StateDict sd;
  sd["head.bias"] = full({5}, 3.0);
  sd["not.in.the.model"] = zeros({1});
  net.load_state_dict(sd, /*strict=*/false);
  EXPECT_EQ(net.head->bias.to_vector<float>(), std::vector<float>(5, 3.0f));
  // Shapes are checked even when not strict.
  sd["head.bias"] = zeros({6});
  std::string msg = message_of([&] { net.load_state_dict(sd, false); });
  EXPECT_HAS(msg, "key 'head.bias': shape [6] f32 in the dict, shape [5] f32 in the module");
}

TEST(NN, ZeroGradDropsGradients) {
  Net net(1);
  ops::sum(ops::mul(net.embed, net.embed)).backward();
  ASSERT_TRUE(net.embed.grad().defined());
  EXPECT_EQ(net.embed.grad().to_vector<float>(), std::vector<float>(20, 0.5f));
  net.zero_grad();
  for (auto& [n, p] : net.named_parameters()) EXPECT_FALSE(p.grad().defined()) << n;
}

TEST(NN, ToDTypeConvertsInPlaceKeepingTheParameterObjects) {
  Net net(1);
  Tensor held = net.head->weight;
  ops::sum(net.head->weight).backward();
  net.to(DType::f64);
  for (auto& [n, p] : net.named_parameters()) {
    EXPECT_EQ(p.dtype(), DType::f64) << n;
    EXPECT_TRUE(p.requires_grad()) << n;
  }
  EXPECT_TRUE(held.is_same(net.head->weight));
  EXPECT_EQ(held.dtype(), DType::f64);
  EXPECT_EQ(held.to_vector<double>(), std::vector<double>(20, 0.5));
  EXPECT_EQ(held.grad().dtype(), DType::f64);
  EXPECT_EQ(held.grad().to_vector<double>(), std::vector<double>(20, 1.0));
  // Non-floating buffers keep their dtype; the parameters still train.
  EXPECT_EQ(net.blocks->at<Block>(0)->attn->mask.dtype(), DType::boolean);
  net.zero_grad();
  ops::sum(ops::mul(held, 3.0)).backward();
  EXPECT_EQ(held.grad().to_vector<double>(), std::vector<double>(20, 3.0));
  net.to(DType::bf16);
  EXPECT_EQ(held.dtype(), DType::bf16);
  EXPECT_EQ(held.to_vector<float>(), std::vector<float>(20, 0.5f));
  EXPECT_THROW(net.to(DType::i32), Error);
}

TEST(NN, ToDeviceOnCpuKeepsEverything) {
  Net net(1);
  void* before = net.embed.data_ptr();
  net.to(Device::cpu());
  EXPECT_EQ(net.embed.data_ptr(), before);
  EXPECT_EQ(net.embed.device(), Device::cpu());
}

struct Head : Module {
  nn::Parameter weight;
  explicit Head(const Tensor& w) { weight = register_parameter("weight", w); }
};

struct TiedLM : Module {
  nn::Parameter wte;
  std::shared_ptr<Head> lm_head;
  TiedLM() {
    wte = register_parameter("wte", full({5, 4}, 0.5));
    lm_head = register_module("lm_head", std::make_shared<Head>(wte));
  }
};

TEST(NN, RegisteringAParameterTwiceTiesIt) {
  TiedLM m;
  EXPECT_TRUE(m.lm_head->weight.is_same(m.wte));
  EXPECT_EQ(names_of(m.named_parameters()), std::vector<std::string>{"wte"});
  nn::StateDict sd = m.state_dict();
  EXPECT_EQ(sd.size(), 2u);
  EXPECT_EQ(sd.at("lm_head.weight").data_ptr(), m.wte.data_ptr());
  // One gradient collects both uses.
  ops::sum(ops::add(m.wte, ops::mul(m.lm_head->weight, 2.0))).backward();
  EXPECT_EQ(m.wte.grad().to_vector<float>(), std::vector<float>(20, 3.0f));
  m.to(DType::f64);
  EXPECT_TRUE(m.lm_head->weight.is_same(m.wte));
  EXPECT_EQ(m.wte.dtype(), DType::f64);
}

struct BadNames : Module {
  explicit BadNames(int which) {
    register_parameter("w", zeros({1}));
    if (which == 0) register_parameter("w", zeros({1}));
    if (which == 1) register_buffer("w", zeros({1}));
    if (which == 2) register_module("a.b", std::make_shared<Module>());
    if (which == 3) register_parameter("", zeros({1}));
    if (which == 4) register_parameter("ids", arange(3));
  }
};

TEST(NN, RegistrationErrorsAreClear) {
  EXPECT_HAS(message_of([] { BadNames m(0); }), "'w': the name is already used");
  EXPECT_HAS(message_of([] { BadNames m(1); }), "cannot register buffer 'w'");
  EXPECT_HAS(message_of([] { BadNames m(2); }),
             "module name 'a.b' must be non-empty and contain no '.'");
  EXPECT_HAS(message_of([] { BadNames m(3); }), "parameter name '' must be non-empty");
  EXPECT_HAS(message_of([] { BadNames m(4); }), "only floating tensors can be trained, got i64");
  nn::ModuleList list;
  EXPECT_HAS(message_of([&] { (void)list[0]; }), "index 0 out of range for a list of 0");
}

TEST(NN, ParameterIsAContiguousLeafThatRequiresGrad) {
  Tensor base = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  nn::Parameter p(base.transpose(0, 1));
  EXPECT_TRUE(p.is_contiguous());
  EXPECT_TRUE(p.requires_grad());
  EXPECT_TRUE(p.is_leaf());
  EXPECT_EQ(p.to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  // Made from a computed tensor, it is a new leaf.
  Tensor x = ones({2}).requires_grad_();
  nn::Parameter q(ops::mul(x, 2.0));
  EXPECT_TRUE(q.is_leaf());
}

}  // namespace
}  // namespace kiln
