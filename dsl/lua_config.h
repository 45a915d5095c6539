// Converting the value a spec returns into a Config, with source locations.
//
// Component constructors record file and line. Lua keeps no positions for plain table fields,
// so a field's line is found in the source text: the first `key =` at or after the line of
// the table that holds it. That is exact for specs written one field a line, and close
// otherwise.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/registry/config.h"

struct lua_State;

namespace kiln::dsl {

class SourceIndex {
 public:
  /// The line (>= from_line) where `key =` appears in file, or from_line if nowhere.
  int locate(const std::string& file, const std::string& key, int from_line);

 private:
  const std::vector<std::string>& lines(const std::string& file);
  std::map<std::string, std::vector<std::string>> files_;
};

/// Converts the Lua value at idx; `loc` is where it was written. Throws kiln::Error for values
/// a spec cannot hold (functions, mixed list/table keys, cycles).
Config lua_to_config(lua_State* L, int idx, const SourceLoc& loc, SourceIndex& index);

}  // namespace kiln::dsl
