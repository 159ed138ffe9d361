-- test_docs.lua: every public function, class and module of ember has a
-- docstring for help() (registered with vm_set_doc in C or ember.doc in
-- Lua, next to the code).  One test per module, so a failure names the
-- module and lists what is missing.  Modules not built yet are skipped.
local T = dofile("tests/lua/harness.lua")
local help = require("ember.help")

local function is_class(v)
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  return rawget(v, "__index") ~= nil or (type(mt) == "table" and mt.__call ~= nil)
end

-- names of the undocumented public members of t (functions, classes, and
-- the methods of those classes), prefixed with `path`
local function missing_in(t, path, out, seen)
  if seen[t] then return end
  seen[t] = true
  for _, k in ipairs(help.undocumented(t)) do out[#out + 1] = path .. k end
  for k, v in pairs(t) do
    if type(k) == "string" and not k:match("^_") and is_class(v) then
      if not ember.doc(v) then out[#out + 1] = path .. k .. " (class)" end
      missing_in(v, path .. k .. ".", out, seen)
    end
  end
end

for _, name in ipairs(help.modules) do
  local m
  if name == "ember" then m = ember
  elseif package.preload["ember." .. name] then m = require("ember." .. name) end
  if m ~= nil then
    T.test("documented: " .. name, function()
      local out = {}
      if not ember.doc(m) then out[1] = name .. " (module)" end
      if type(m) == "table" then missing_in(m, name .. ".", out, {}) end
      table.sort(out)
      T.ok(#out == 0, #out .. " without documentation: " .. table.concat(out, ", "))
    end)
  end
end

T.test("documented: tensor methods", function()
  local methods = getmetatable(ember.zeros(1)).__methods
  T.ok(type(methods) == "table", "the tensor metatable exposes __methods")
  local out = help.undocumented(methods)
  T.ok(#out == 0, #out .. " tensor methods without documentation: " .. table.concat(out, ", "))
end)

T.done()
