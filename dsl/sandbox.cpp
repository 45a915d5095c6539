#include "dsl/sandbox.h"

#include <lua.hpp>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/base/error.h"

namespace kiln::dsl {
namespace {

constexpr int kHookEvery = 10000;  // instructions between limit checks

// Every function here that Lua calls raises errors with lua_error/luaL_error, which longjmp
// over C++ frames: they must not own objects with destructors when they do.

int sandbox_refuse(lua_State* L) {
  const char* what = lua_tostring(L, lua_upvalueindex(1));
  return luaL_error(L, "sandbox: %s is not available in specs (specs may use only the base, string, table, "
                       "math and utf8 libraries, plus env() and include())", what);
}

// __index of the stand-in tables for io, os, package, debug.
int sandbox_refuse_field(lua_State* L) {
  const char* lib = lua_tostring(L, lua_upvalueindex(1));
  const char* field = lua_tostring(L, 2);
  return luaL_error(L, "sandbox: %s.%s is not available in specs (specs may use only the base, string, table, "
                       "math and utf8 libraries, plus env() and include())", lib, field ? field : "?");
}

void install_refusal(lua_State* L, const char* name) {
  lua_pushstring(L, name);
  lua_pushcclosure(L, sandbox_refuse, 1);
  lua_setglobal(L, name);
}

void install_refused_library(lua_State* L, const char* name) {
  lua_newtable(L);
  lua_newtable(L);  // metatable
  lua_pushstring(L, name);
  lua_pushcclosure(L, sandbox_refuse_field, 1);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  lua_setglobal(L, name);
}

// Lua shortens long chunk names in messages to "..." and their last 56 characters; put the
// full paths back so errors name the files exactly.
std::string restore_file_names(std::string msg, const std::vector<std::string>& files) {
  for (const std::string& f : files) {
    if (f.size() + 1 <= LUA_IDSIZE) continue;
    std::string shortened = "..." + f.substr(f.size() - (LUA_IDSIZE - 4));
    for (size_t i = 0; (i = msg.find(shortened, i)) != std::string::npos; i += f.size()) msg.replace(i, shortened.size(), f);
  }
  return msg;
}

int traceback(lua_State* L) {
  const char* msg = lua_tostring(L, 1);
  if (!msg) msg = luaL_tolstring(L, 1, nullptr);
  luaL_traceback(L, L, msg, 1);
  return 1;
}

}  // namespace

void* Sandbox::alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto* self = static_cast<Sandbox*>(ud);
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    self->used_ -= old;
    std::free(ptr);
    return nullptr;
  }
  if (self->limited_ && self->used_ - old + nsize > self->limits_.memory_bytes) return nullptr;  // LUA_ERRMEM
  void* p = std::realloc(ptr, nsize);
  if (p) self->used_ = self->used_ - old + nsize;
  return p;
}

void Sandbox::count_hook(lua_State* L, lua_Debug*) {
  void* ud = nullptr;
  lua_getallocf(L, &ud);
  auto* self = static_cast<Sandbox*>(ud);
  if (!self->limited_) return;
  self->executed_ += kHookEvery;
  if (self->executed_ > self->limits_.instructions)
    luaL_error(L, "sandbox: the spec ran more than %d million instructions (an endless loop?)",
               int(self->limits_.instructions / 1000000));
}

Sandbox::Sandbox(SandboxLimits limits) : limits_(limits) {
  L_ = lua_newstate(&Sandbox::alloc, this);
  KILN_CHECK(L_, "cannot create a Lua state");
  static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},       {LUA_STRLIBNAME, luaopen_string},
                                  {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math},
                                  {LUA_UTF8LIBNAME, luaopen_utf8}};
  for (const luaL_Reg& lib : libs) {
    luaL_requiref(L_, lib.name, lib.func, 1);
    lua_pop(L_, 1);
  }
  for (const char* fn : {"dofile", "loadfile", "load", "require", "collectgarbage"}) install_refusal(L_, fn);
  for (const char* lib : {"io", "os", "package", "debug"}) install_refused_library(L_, lib);
  // string.dump makes bytecode, which nothing here can load; take it away anyway.
  lua_getglobal(L_, "string");
  lua_pushnil(L_);
  lua_setfield(L_, -2, "dump");
  lua_pop(L_, 1);
  // A fixed seed: math.random gives the same numbers on every run of a spec.
  lua_getglobal(L_, "math");
  lua_getfield(L_, -1, "randomseed");
  lua_pushinteger(L_, 0);
  lua_call(L_, 1, 0);
  lua_pop(L_, 1);
  lua_sethook(L_, &Sandbox::count_hook, LUA_MASKCOUNT, kHookEvery);
}

Sandbox::~Sandbox() {
  if (L_) lua_close(L_);
}

void Sandbox::lift_limits() { limited_ = false; }

void Sandbox::run(const std::string& code, const std::string& name, int nresults) {
  lua_State* L = L_;
  int base = lua_gettop(L);
  lua_pushcfunction(L, traceback);
  // Mode "t": text only, so a precompiled (bytecode) chunk is refused.
  int status = luaL_loadbufferx(L, code.data(), code.size(), ("@" + name).c_str(), "t");
  if (status == LUA_OK) status = lua_pcall(L, 0, nresults, base + 1);
  if (status != LUA_OK) {
    std::string msg = lua_tostring(L, -1) ? lua_tostring(L, -1) : "unknown Lua error";
    std::vector<std::string> files{name};
    lua_getfield(L, LUA_REGISTRYINDEX, "kiln.files");  // every file include() loaded
    if (lua_istable(L, -1))
      for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TSTRING; ++i) {
        files.push_back(lua_tostring(L, -1));
        lua_pop(L, 1);
      }
    lua_settop(L, base);
    msg = restore_file_names(msg, files);
    if (msg.find("attempt to load a binary chunk") != std::string::npos)
      msg = name + ": precompiled Lua (bytecode) is refused; specs must be Lua source";
    throw Error(msg);
  }
  lua_remove(L, base + 1);  // the traceback handler
}

}  // namespace kiln::dsl
