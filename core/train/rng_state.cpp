#include "core/train/rng_state.h"

#include <stdexcept>
#include <string>

namespace kiln::train {

Config rng_config(const RngState& s) {
  Config c = Config::table();
  c.set("seed", Config(std::to_string(s.seed)));
  c.set("offset", Config(std::to_string(s.offset)));
  return c;
}

RngState rng_from(const Config& c) {
  RngState s;
  try {
    s.seed = std::stoull(c.at("seed").as_string());
    s.offset = std::stoull(c.at("offset").as_string());
  } catch (const std::logic_error&) {
    c.fail("expected a generator state {seed = \"<digits>\", offset = \"<digits>\"}");
  }
  return s;
}

}  // namespace kiln::train
