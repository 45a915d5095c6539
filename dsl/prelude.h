// The functions a spec sees beyond the Lua libraries: one constructor per registered
// component (kind-qualified `layer.attention{}` always, the bare `attention{}` where the name
// is unique and free), `env(name, default)` and `include(path)`.
#pragma once

#include <string>

struct lua_State;

namespace kiln::dsl {

/// Installs env, include and the component constructors of the current registry.
/// `lenient`: unknown globals become permissive stand-ins (for the first pass that only looks
/// for the spec's `plugins` list before the plugins are loaded).
void install_prelude(lua_State* L, bool lenient);

/// The metatable fields a constructor sets on the table it returns.
inline constexpr const char* kComponentField = "__kiln_component";  // "kind.name"
inline constexpr const char* kFileField = "__kiln_file";
inline constexpr const char* kLineField = "__kiln_line";

}  // namespace kiln::dsl
