#include "dsl/lua_config.h"

#include <lua.hpp>

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

#include "dsl/prelude.h"

namespace kiln::dsl {

const std::vector<std::string>& SourceIndex::lines(const std::string& file) {
  auto it = files_.find(file);
  if (it != files_.end()) return it->second;
  std::vector<std::string> out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return files_.emplace(file, std::move(out)).first->second;
}

int SourceIndex::locate(const std::string& file, const std::string& key, int from_line) {
  if (file.empty()) return from_line;
  const auto& ls = lines(file);
  // `key =` not followed by another `=` (so `key == x` does not count), key not part of a
  // longer name.
  std::string pattern;
  for (char c : key) pattern += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? std::string(1, c) : "\\" + std::string(1, c);
  std::regex re("(^|[^A-Za-z0-9_.])" + pattern + "\\s*=($|[^=])");
  for (int i = std::max(from_line, 1); i <= int(ls.size()); ++i)
    if (std::regex_search(ls[size_t(i - 1)], re)) return i;
  return from_line;
}

namespace {

constexpr int kMaxDepth = 64;

std::string describe_key(lua_State* L, int idx) {
  if (lua_type(L, idx) == LUA_TSTRING) return lua_tostring(L, idx);
  if (lua_type(L, idx) == LUA_TNUMBER) return lua_isinteger(L, idx) ? std::to_string(lua_tointeger(L, idx)) : "a number";
  return luaL_typename(L, idx);
}

Config convert(lua_State* L, int idx, const SourceLoc& loc_in, SourceIndex& index, int depth, const std::string& path) {
  idx = lua_absindex(L, idx);
  auto fail = [&](const std::string& msg) -> Config {
    throw Error(loc_in.str() + ": " + (path.empty() ? "" : path + ": ") + msg);
  };
  if (depth > kMaxDepth) fail("tables nested more than 64 deep (a table that contains itself?)");
  Config out;
  switch (lua_type(L, idx)) {
    case LUA_TNIL: out = Config(); break;
    case LUA_TBOOLEAN: out = Config(bool(lua_toboolean(L, idx))); break;
    case LUA_TNUMBER:
      out = lua_isinteger(L, idx) ? Config(int64_t(lua_tointeger(L, idx))) : Config(double(lua_tonumber(L, idx)));
      break;
    case LUA_TSTRING: {
      size_t n = 0;
      const char* s = lua_tolstring(L, idx, &n);
      out = Config(std::string(s, n));
      break;
    }
    case LUA_TTABLE: {
      SourceLoc loc = loc_in;
      std::string kind, name;
      if (lua_getmetatable(L, idx)) {
        lua_getfield(L, -1, kComponentField);
        if (lua_type(L, -1) == LUA_TSTRING) {
          std::string tag = lua_tostring(L, -1);
          size_t dot = tag.find('.');
          kind = tag.substr(0, dot);
          name = tag.substr(dot + 1);
          lua_getfield(L, -2, kFileField);
          lua_getfield(L, -3, kLineField);
          if (lua_type(L, -2) == LUA_TSTRING && std::string(lua_tostring(L, -2)).size())
            loc = {lua_tostring(L, -2), int(lua_tointeger(L, -1)), ""};
          lua_pop(L, 2);
        }
        lua_pop(L, 2);
      }
      // Collect keys: all positive integers 1..n make a list, all strings a table.
      struct Entry {
        std::string key;
        int64_t index;
        int line;
      };
      std::vector<Entry> keys;
      int64_t n_int = 0, n_str = 0, max_int = 0;
      lua_pushnil(L);
      while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING) {
          ++n_str;
          keys.push_back({lua_tostring(L, -2), 0, 0});
        } else if (lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1) {
          ++n_int;
          max_int = std::max<int64_t>(max_int, lua_tointeger(L, -2));
          keys.push_back({"", lua_tointeger(L, -2), 0});
        } else {
          std::string k = describe_key(L, -2);
          lua_pop(L, 2);
          fail("a spec table may only have string keys or list positions 1..n, found key " + k);
        }
        lua_pop(L, 1);
      }
      if (n_int && n_str) fail("mixes list items and named fields; use one or the other");
      if (n_int) {
        if (max_int != n_int) fail("a list with holes (positions 1.." + std::to_string(max_int) + " with " +
                                   std::to_string(n_int) + " values)");
        out = Config::list();
        for (int64_t i = 1; i <= n_int; ++i) {
          lua_rawgeti(L, idx, i);
          out.push_back(convert(L, -1, loc, index, depth + 1, path + "[" + std::to_string(i) + "]"));
          lua_pop(L, 1);
        }
      } else {
        out = Config::table();
        for (Entry& e : keys) e.line = index.locate(loc.file, e.key, loc.line);
        // Lua tables have no order: list fields in source order, then by name.
        std::sort(keys.begin(), keys.end(), [](const Entry& a, const Entry& b) {
          return a.line != b.line ? a.line < b.line : a.key < b.key;
        });
        for (const Entry& e : keys) {
          lua_getfield(L, idx, e.key.c_str());
          SourceLoc child{loc.file, e.line, ""};
          out.set(e.key, convert(L, -1, child, index, depth + 1, path.empty() ? e.key : path + "." + e.key));
          lua_pop(L, 1);
        }
      }
      if (!kind.empty()) out.set_component(kind, name);
      out.set_loc(loc);
      return out;
    }
    default:
      fail(std::string("a ") + luaL_typename(L, idx) + " cannot be a spec value (only nil, booleans, numbers, "
           "strings and tables)");
  }
  out.set_loc(loc_in);
  return out;
}

}  // namespace

Config lua_to_config(lua_State* L, int idx, const SourceLoc& loc, SourceIndex& index) {
  Config c = convert(L, idx, loc, index, 0, "");
  c.set_path("");
  return c;
}

}  // namespace kiln::dsl
