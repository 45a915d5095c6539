#include "dsl/prelude.h"

#include <lua.hpp>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "core/registry/registry.h"

namespace kiln::dsl {
namespace {

namespace fs = std::filesystem;

// Functions called from Lua raise errors with luaL_error, which longjmps: C++ objects with
// destructors live only inside helpers that return before any error is raised.

// Source file of the Lua function `level` frames up ("" for a C caller).
void caller_location(lua_State* L, int level, char* file, size_t cap, int* line) {
  lua_Debug ar;
  file[0] = '\0';
  *line = 0;
  if (lua_getstack(L, level, &ar) && lua_getinfo(L, "Sl", &ar) && ar.source[0] == '@') {
    std::snprintf(file, cap, "%s", ar.source + 1);
    *line = ar.currentline;
  }
}

int construct(lua_State* L) {
  // upvalue 1: "kind.name"
  if (!lua_isnoneornil(L, 1) && !lua_istable(L, 1)) {
    const char* tag = lua_tostring(L, lua_upvalueindex(1));
    return luaL_error(L, "%s: expected a table of parameters, as in %s{...}, got a %s", tag, tag,
                      luaL_typename(L, 1));
  }
  lua_newtable(L);
  if (lua_istable(L, 1)) {
    lua_pushnil(L);
    while (lua_next(L, 1)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_settable(L, -4);
    }
  }
  char file[1024];
  int line;
  caller_location(L, 1, file, sizeof file, &line);
  lua_newtable(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_setfield(L, -2, kComponentField);
  lua_pushstring(L, file);
  lua_setfield(L, -2, kFileField);
  lua_pushinteger(L, line);
  lua_setfield(L, -2, kLineField);
  lua_setmetatable(L, -2);
  return 1;
}

int env(lua_State* L) {
  const char* name = luaL_checkstring(L, 1);
  const char* value = std::getenv(name);
  if (!value) {
    lua_settop(L, 2);  // the default (nil when absent)
    return 1;
  }
  if (lua_type(L, 2) == LUA_TNUMBER) {  // a numeric default asks for a number
    lua_pushstring(L, value);
    if (!lua_stringtonumber(L, value))
      return luaL_error(L, "env: %s=\"%s\" is not a number (the default %s is)", name, value, lua_tostring(L, 2));
    return 1;
  }
  if (lua_type(L, 2) == LUA_TBOOLEAN) {
    bool on = std::strcmp(value, "1") == 0 || std::strcmp(value, "true") == 0 || std::strcmp(value, "yes") == 0;
    lua_pushboolean(L, on);
    return 1;
  }
  lua_pushstring(L, value);
  return 1;
}

// Resolves and reads an included file; on failure writes the message into err. Never throws.
bool read_include(const char* including, const char* rel, std::string* path_out, std::string* code,
                  std::string* err) {
  try {
    fs::path p(rel);
    std::vector<fs::path> candidates;
    if (p.is_absolute()) {
      candidates.push_back(p);
    } else {
      if (including[0]) candidates.push_back(fs::path(including).parent_path() / p);
      candidates.push_back(fs::current_path() / p);
      if (const char* sp = std::getenv("KILN_SPEC_PATH")) {
        std::stringstream ss(sp);
        std::string dir;
        while (std::getline(ss, dir, ':'))
          if (!dir.empty()) candidates.push_back(fs::path(dir) / p);
      }
    }
    for (const fs::path& c : candidates) {
      std::error_code ec;
      if (fs::is_regular_file(c, ec)) {
        std::ifstream in(c, std::ios::binary);
        std::stringstream buf;
        buf << in.rdbuf();
        *code = buf.str();
        *path_out = fs::weakly_canonical(c, ec).string();
        if (ec) *path_out = c.string();
        return true;
      }
    }
    *err = std::string("include: cannot find \"") + rel + "\"" +
           (including[0] ? std::string(" (looked beside ") + including + " and in the working directory)" : "");
  } catch (const std::exception& e) {
    *err = std::string("include: ") + e.what();
  }
  return false;
}

int include(lua_State* L) {
  const char* rel = luaL_checkstring(L, 1);
  char including[1024];
  int line;
  caller_location(L, 1, including, sizeof including, &line);
  int status = 0;  // 0 ok, 1 error message pushed
  {
    std::string path, code, err;
    if (!read_include(including, rel, &path, &code, &err)) {
      lua_pushstring(L, err.c_str());
      status = 1;
    } else {
      // Cycle detection: the registry holds the set of files being included.
      lua_getfield(L, LUA_REGISTRYINDEX, "kiln.including");
      lua_getfield(L, -1, path.c_str());
      bool cycle = lua_toboolean(L, -1);
      lua_pop(L, 1);
      if (cycle) {
        lua_pop(L, 1);
        lua_pushstring(L, ("include: cycle: " + path + " includes itself (through " + including + ")").c_str());
        status = 1;
      } else {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, path.c_str());
        lua_pop(L, 1);
        lua_getfield(L, LUA_REGISTRYINDEX, "kiln.files");
        lua_pushstring(L, path.c_str());
        lua_rawseti(L, -2, lua_Integer(lua_rawlen(L, -2) + 1));
        lua_pop(L, 1);
        int ls = luaL_loadbufferx(L, code.data(), code.size(), ("@" + path).c_str(), "t");
        if (ls != LUA_OK) status = 1;  // the message is on the stack
        lua_pushstring(L, path.c_str());
        lua_insert(L, -2);  // [path, chunk-or-message]
      }
    }
  }
  if (status) return lua_error(L);
  int base = lua_gettop(L) - 2;  // below path and chunk
  lua_call(L, 0, LUA_MULTRET);
  // Done with this file: it may be included again (not recursively).
  lua_getfield(L, LUA_REGISTRYINDEX, "kiln.including");
  lua_pushnil(L);
  lua_setfield(L, -2, lua_tostring(L, base + 1));
  lua_pop(L, 1);
  lua_remove(L, base + 1);
  return lua_gettop(L) - base;
}

// A lenient stand-in: any call, field access or operation gives another stand-in.
int lenient_self(lua_State* L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "kiln.lenient");
  return 1;
}

void push_lenient(lua_State* L) {
  lua_newtable(L);
  lua_newtable(L);
  for (const char* mm : {"__index", "__call", "__add", "__sub", "__mul", "__div", "__unm", "__concat", "__mod",
                         "__pow", "__idiv", "__len"}) {
    lua_pushcfunction(L, lenient_self);
    lua_setfield(L, -2, mm);
  }
  lua_setmetatable(L, -2);
}

// __index of the globals in a real run: an unknown name is an error with a suggestion, not a
// silent nil (a misspelled constructor would otherwise fail later as "call a nil value").
bool suggest_global(lua_State* L, const char* name, char* out, size_t cap) {
  std::vector<std::string> names;
  lua_pushglobaltable(L);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    if (lua_type(L, -2) == LUA_TSTRING) names.push_back(lua_tostring(L, -2));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  for (const ComponentInfo* c : Registry::global().all()) names.push_back(c->full_name());
  std::string s = did_you_mean(name, names);
  std::snprintf(out, cap, "%s", s.c_str());
  return !s.empty();
}

int strict_global(lua_State* L) {
  const char* name = lua_tostring(L, 2);
  if (!name) return 0;
  std::string owners;  // a name several kinds use is not a global: say which to write
  for (const ComponentInfo* c : Registry::global().all())
    if (c->name == name) owners += (owners.empty() ? "" : ", ") + c->full_name();
  if (owners.find(',') != std::string::npos)
    return luaL_error(L, "'%s' names several components (%s): write kind.name", name, owners.c_str());
  char suggestion[256];
  bool found = suggest_global(L, name, suggestion, sizeof suggestion);
  if (found) return luaL_error(L, "unknown name '%s' (did you mean '%s'?)", name, suggestion);
  return luaL_error(L, "unknown name '%s' (not a Lua function, a local, or a component; `kiln plugins list` shows "
                       "the components)", name);
}

int lenient_global(lua_State* L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "kiln.lenient");
  return 1;
}

}  // namespace

void install_prelude(lua_State* L, bool lenient) {
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "kiln.including");
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "kiln.files");
  lua_pushcfunction(L, env);
  lua_setglobal(L, "env");
  lua_pushcfunction(L, include);
  lua_setglobal(L, "include");

  Registry& reg = Registry::global();
  std::map<std::string, int> name_count;
  for (const ComponentInfo* c : reg.all()) ++name_count[c->name];
  for (const KindInfo& kind : reg.kinds()) {
    lua_getglobal(L, kind.name.c_str());
    bool taken = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (taken) continue;  // never shadow a Lua library
    lua_newtable(L);
    lua_setglobal(L, kind.name.c_str());
  }
  for (const ComponentInfo* c : reg.all()) {
    std::string tag = c->full_name();
    lua_getglobal(L, c->kind.c_str());
    if (lua_istable(L, -1)) {
      lua_pushstring(L, tag.c_str());
      lua_pushcclosure(L, construct, 1);
      lua_setfield(L, -2, c->name.c_str());
    }
    lua_pop(L, 1);
    if (name_count[c->name] != 1) continue;
    lua_getglobal(L, c->name.c_str());
    bool taken = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (taken) continue;
    lua_pushstring(L, tag.c_str());
    lua_pushcclosure(L, construct, 1);
    lua_setglobal(L, c->name.c_str());
  }

  if (lenient) {
    push_lenient(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "kiln.lenient");
  }
  lua_pushglobaltable(L);
  lua_newtable(L);
  lua_pushcfunction(L, lenient ? lenient_global : strict_global);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  lua_pop(L, 1);
}

}  // namespace kiln::dsl
