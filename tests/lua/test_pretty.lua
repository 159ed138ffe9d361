-- test_pretty.lua: the REPL's value printer (ember.pretty) and the help
-- text (ember.help), called directly; the REPL itself is driven through a
-- pty by tests/c/test_repl.c.
local T = dofile("tests/lua/harness.lua")
local pretty = require("ember.pretty")
local help = require("ember.help")

T.test("scalars and strings", function()
  T.eq(pretty.format(42), "42")
  T.eq(pretty.format(1.5), "1.5")
  T.eq(pretty.format(nil), "nil")
  T.eq(pretty.format(true), "true")
  T.eq(pretty.format("a\"b\n\0"), '"a\\"b\\n\\000"')
end)

T.test("tables: array part, then sorted keys", function()
  T.eq(pretty.format({}), "{}")
  T.eq(pretty.format({3, 1, 2}), "{3, 1, 2}")
  T.eq(pretty.format({b = 1, a = 2, [10] = "x", ["a b"] = 3, ["end"] = 4}),
       '{[10] = "x", a = 2, ["a b"] = 3, b = 1, ["end"] = 4}')
  T.eq(pretty.format({1, 2, [4] = 4}), "{1, 2, [4] = 4}")
end)

T.test("depth limit and cycles", function()
  local deep = {1, {2, {3, {4, {5, {6}}}}}}
  T.eq(pretty.format(deep), "{1, {2, {3, {4, {...}}}}}")
  T.eq(pretty.format(deep, {depth = 2}), "{1, {2, {...}}}")
  local c = {name = "c"}
  c.self = c
  local s = pretty.format(c)
  T.ok(s:find('^{name = "c", self = <cycle table: 0x%x+>}$'), s)
  -- a table shared (not cyclic) prints in full both times
  local shared = {1}
  T.eq(pretty.format({shared, shared}), "{{1}, {1}}")
end)

T.test("wide tables go one entry per line; long output is cut", function()
  local wide = {}
  for i = 1, 30 do wide[i] = "a longer item number " .. i end
  local s = pretty.format(wide)
  T.ok(s:find('^{\n  "a longer item number 1",\n  "a longer item number 2",'), s)
  -- short entries are packed, lines kept within the width
  local nums = {}
  for i = 1, 100 do nums[i] = i * 1000 end
  s = pretty.format(nums)
  T.ok(s:find("^{\n  1000, 2000, 3000, "), s)
  for line in s:gmatch("[^\n]+") do T.ok(#line <= pretty.options.width, line) end
  local back = load("return " .. s)()
  T.eq(#back, 100)
  T.eq(back[100], 100000)
  local many = {}
  for i = 1, 1000 do many[i] = {i, "a label longer than the packing limit"} end
  s = pretty.format(many)
  local lines = select(2, s:gsub("\n", "")) + 1
  T.ok(lines <= pretty.options.lines + 1, "lines: " .. lines)
  T.ok(s:find("more lines%)$"), s:sub(-60))
  T.ok(not s:find("{999,"), "cut")
  s = pretty.format(many, {lines = 1000})
  T.ok(s:find("%.%.%. %(900 more%)"), "items limit")
end)

T.test("__tostring values print as tostring", function()
  local obj = setmetatable({}, {__tostring = function() return "MyModule(3 -> 4)" end})
  T.eq(pretty.format(obj), "MyModule(3 -> 4)")
  T.eq(pretty.format({m = obj}), "{m = MyModule(3 -> 4)}")
  local bad = setmetatable({}, {__tostring = function() error("nope") end})
  T.ok(pretty.format(bad):find("__tostring failed"), "failing __tostring")
  local t = ember.zeros(2, 2)
  T.eq(pretty.format(t), tostring(t))
end)

T.test("functions: signature when documented, else where defined", function()
  local f = ember.doc(function() end, "f(x) -> y\n\nDoubles x.")
  T.eq(pretty.format(f), "function: f(x) -> y")
  local g = function() end
  T.ok(pretty.format(g):find("^function: 0x%x+ %(.*test_pretty%.lua:%d+%)$"), pretty.format(g))
  T.ok(pretty.format(print):find("^function: .* %(builtin%)$"), pretty.format(print))
  T.ok(pretty.format({g}):find("^{function: 0x%x+}$"), pretty.format({g}))
end)

T.test("values joins results", function()
  T.eq(pretty.values(1, "a", nil), '1\t"a"\tnil')
  T.eq(pretty.values(), "")
end)

T.test("help text", function()
  local f = ember.doc(function() end, "f(x) -> y\n\nDoubles x.")
  T.eq(ember.doc(f), "f(x) -> y\n\nDoubles x.")
  T.eq(help.text(f), "f(x) -> y\n\nDoubles x.")
  local undocumented = function() end
  T.ok(help.text(undocumented):find("No documentation: a Lua function defined at"), help.text(undocumented))
  local mod = ember.doc({f = f, g = undocumented, _hidden = f}, "mod: a test module")
  local s = help.text(mod)
  T.ok(s:find("^mod: a test module\n\nMembers:\n"), s)
  T.ok(s:find("\n  f  f%(x%) %-> y"), s)
  T.ok(s:find("\n  g  "), s)
  T.ok(not s:find("_hidden"), s)
  T.ok(help.text():find("^ember modules"), help.text())
  T.ok(help.text():find("\n  ember "), help.text())
  T.ok(help.text("ember.zeros"):find("zeros"), help.text("ember.zeros"))
  T.ok(help.text("no_such_name_xyz"):find("No documentation found"), "search")
  T.ok(help.text(nil):find("nil"), "nil")
  -- an instance shows its class's docs and methods
  local Class = ember.doc({}, "Class: a test class")
  Class.__index = Class
  Class.method = ember.doc(function() end, "Class:method()")
  s = help.text(setmetatable({}, Class))
  T.ok(s:find("^Class: a test class") and s:find("method  Class:method%(%)"), s)
  ember.doc(f, nil)
  T.eq(ember.doc(f), nil)
  T.raises(function() ember.doc(nil, "x") end, "cannot document nil")
end)

T.test("help on a tensor lists its methods", function()
  local s = help.text(ember.zeros(2))
  T.ok(s:find("\n  reshape "), s:sub(1, 300))
end)

T.done()
