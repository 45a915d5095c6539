// What the layers of this plugin share: a Linear module, weight initialisation by the model's
// scheme, and the way a parent component hands its settings down to its children's configs.
#pragma once

#include <memory>
#include <string>

#include "core/nn/layer.h"
#include "core/registry/config.h"
#include "core/tensor/random.h"

namespace kiln::layers {

/// How the decoder initialises the weights of its layers.
struct InitOptions {
  enum class Scheme {
    gpt2,   ///< normal(0, std); projections into the residual stream normal(0, std/sqrt(2 L))
    llama,  ///< normal(0, std) for every matrix and embedding (Hugging Face's LLaMA)
  };
  Scheme scheme = Scheme::gpt2;
  double std = 0.02;
  int64_t n_layers = 1;
  Generator* generator = nullptr;
};

/// The layers of this plugin initialise their parameters in their constructors with
/// current_init(), and again when the model asks (Decoder::init_weights); layers from other
/// plugins keep the initialisation they chose.
class Initializable {
 public:
  virtual ~Initializable() = default;
  virtual void init_weights(const InitOptions& o) = 0;
};

/// The init options of the model being built on this thread (InitScope), else the defaults.
/// A model's factory sets them while it builds its layers, so each weight is drawn once, with
/// the model's scheme (drawing is slow: a GPT-2 small has 124M weights).
const InitOptions& current_init();

/// Sets current_init() for its lifetime.
class InitScope {
 public:
  explicit InitScope(const InitOptions& o);
  ~InitScope();
  InitScope(const InitScope&) = delete;
  InitScope& operator=(const InitScope&) = delete;

 private:
  const InitOptions* saved_;
};

/// x @ weight^T + bias, as torch.nn.Linear (weight [out, in]; the bias is optional). Made
/// with zero weights: the layer that owns it initialises it.
class Linear : public nn::Module {
 public:
  Linear(int64_t in, int64_t out, bool bias);
  Tensor forward(const Tensor& x) const;
  /// weight ~ normal(0, std) (GPT-2 scales residual projections: pass std / sqrt(2 L)); bias 0.
  void init_normal(double std, Generator* gen);

  nn::Parameter weight, bias;
};

/// A copy of a child component's config with the parent's settings filled in: each key of
/// `parent` that the child's schema declares and the child's spec leaves out is copied in.
/// `d_model` must agree when both give it (a child cannot change the width of the stream).
Config inherit(const Config& child, const Config& parent);

/// Builds a layer component through the registry (validating it against its schema).
std::shared_ptr<nn::Layer> make_layer(const Config& component);

/// A component config with no parameters set, as `name{}` in a spec (a schema default).
Config component_config(const std::string& kind, const std::string& name);

/// An integer parameter that the parent normally sets: its value, or a clear error when
/// neither the spec nor a parent gave it.
int64_t inherited_int(const Config& c, const std::string& key);

}  // namespace kiln::layers
