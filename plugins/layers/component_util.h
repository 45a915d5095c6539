// What the factories of this plugin share (components.cpp, components_encoders.cpp): docs of
// parameters a parent fills in, the settings a parent hands down, position schemes and the
// block configs of a stack.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/registry/config.h"
#include "plugins/layers/positions.h"

namespace kiln::layers {

/// Doc of a parameter that a parent normally fills in, and its value when no parent does.
std::string from_parent(const std::string& what, const std::string& parent = "the model",
                        const std::string& otherwise = "");

/// Copies the keys present in `c` into a table that children inherit from.
Config settings(const Config& c, std::initializer_list<const char*> keys);

/// Builds a position scheme (a layer component that is a Positions).
std::shared_ptr<Positions> make_positions(const Config& component);

/// The blocks of a stack as a spec gives them: `blocks_key` (a list of blocks, repeated in
/// order) or `block_key` (one block), and how many layers: `n_key`, or the list's length when
/// n_key is unset. n_layers is a multiple of the pattern's length.
struct BlockPattern {
  std::vector<Config> blocks;
  int64_t n_layers = 0;
};
BlockPattern block_pattern(const Config& c, const std::string& n_key,
                           const std::string& block_key = "block",
                           const std::string& blocks_key = "blocks");

}  // namespace kiln::layers
