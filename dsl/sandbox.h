// A Lua 5.4 state for running specs: only the base, string, table, math and utf8 libraries;
// no io, os, package, debug, load, loadfile, dofile or require (each answers with a sandbox
// message); text chunks only (bytecode is refused); memory and instruction limits; and a fixed
// random seed, so a spec evaluates the same way every time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

struct lua_State;
struct lua_Debug;

namespace kiln::dsl {

struct SandboxLimits {
  size_t memory_bytes = size_t(512) << 20;
  uint64_t instructions = 200'000'000;  // a few seconds of Lua
};

class Sandbox {
 public:
  explicit Sandbox(SandboxLimits limits = {});
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  lua_State* L() const { return L_; }

  /// Loads a text chunk (named "@" + name for messages) and calls it with a traceback handler,
  /// leaving `nresults` values on the stack. Throws kiln::Error with the Lua message (file:line)
  /// and traceback on failure.
  void run(const std::string& code, const std::string& name, int nresults);

  /// Stops counting memory and instructions (for walking results after the spec ran).
  void lift_limits();

 private:
  static void* alloc(void* ud, void* ptr, size_t osize, size_t nsize);
  static void count_hook(lua_State* L, ::lua_Debug* ar);

  lua_State* L_ = nullptr;
  SandboxLimits limits_;
  size_t used_ = 0;
  bool limited_ = true;
  uint64_t executed_ = 0;
};

}  // namespace kiln::dsl
