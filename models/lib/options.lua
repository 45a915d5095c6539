-- What every model file does first with the options it is called with: an option it does not
-- know is an error, `size` picks a preset, and pick(key, default) reads an option that may be
-- given as false. Errors point at the line of the spec that called the model function.
--
--   local read_options = include "lib/options.lua"
--   local presets = { sizes = sizes, default = "base", names = "tiny, base or large" }
--   local function bert(o)
--     local pick, size
--     o, pick, size = read_options("bert", o, options, presets)
--
-- `presets` may be nil for a family without size presets (size is then nil).
return function(family, o, known, presets)
  o = o or {}
  -- Level 3: this function, the family's function, then the spec line that called it.
  for k in pairs(o) do
    if not known[k] then error(family .. ": unknown option '" .. tostring(k) .. "'", 3) end
  end
  local size
  if presets then
    size = presets.sizes[o.size or presets.default]
    if not size then
      error(family .. ": unknown size '" .. tostring(o.size) .. "' (" .. presets.names .. ")", 3)
    end
  end
  local function pick(key, default)
    if o[key] ~= nil then return o[key] end
    return default
  end
  return o, pick, size
end
