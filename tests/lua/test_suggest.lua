-- test_suggest.lua: "did you mean" hints on misspelled names.  The unit
-- part checks ember.suggest's matching; the end-to-end part runs the ember
-- executable, whose error handler (vm/host.c) appends the hint to the
-- message a user sees, in scripts and -e chunks as in the REPL.
local T = dofile("tests/lua/harness.lua")
local suggest = require("ember.suggest")
local EMBER = os.getenv("EMBER") or "./ember"

T.test("closest: case, one or two edits, swapped neighbours, nothing for short or far names", function()
  local set = {floor = true, zeros = true, parameters = true, Linear = true, ember = true, print = true, x = true}
  T.eq(suggest.closest("flor", set), "floor")
  T.eq(suggest.closest("zeors", set), "zeros")          -- swapped neighbours: one edit
  T.eq(suggest.closest("paramters", set), "parameters")
  T.eq(suggest.closest("linear", set), "Linear")        -- case only
  T.eq(suggest.closest("emebr", set), "ember")
  T.eq(suggest.closest("y", set), nil)                  -- 1-2 letters: no guesses
  T.eq(suggest.closest("foo", set), nil)
  T.eq(suggest.closest("parametersxyz", set), nil)      -- 3 edits
end)

T.test("message: only nil-name errors get a hint, on the first line", function()
  local m = suggest.message("stdin:1: attempt to call a nil value (method 'flor')\nstack traceback:\n\t[C]: in ?")
  T.ok(m:find("(method 'flor') -- did you mean 'floor'?\nstack traceback:", 1, true), m)
  T.ok(suggest.message("x: attempt to call a nil value (field 'Linaer')"):find("did you mean 'Linear'", 1, true))
  T.ok(suggest.message("x: attempt to index a nil value (global 'emebr')"):find("did you mean 'ember'", 1, true))
  -- the user's own locals and upvalues are left alone, as are other errors
  local l = "x: attempt to call a nil value (local 'flor')"
  T.eq(suggest.message(l), l)
  T.eq(suggest.message("matmul: shapes do not match"), "matmul: shapes do not match")
end)

local function run(code)
  local p = io.popen(EMBER .. " -e '" .. code:gsub("'", "'\\''") .. "' 2>&1")
  local out = p:read("a")
  local _, _, rc = p:close()
  return out, rc
end

T.test("the ember executable shows the hint and still fails", function()
  local out, rc = run("x = ember.ones(2); x:flor()")
  T.ok(rc ~= 0, "exit code " .. tostring(rc))
  T.ok(out:find("did you mean 'floor'?", 1, true), out)
  out = run("m = nn.Linear(2, 2); m:paramters()")
  T.ok(out:find("did you mean 'parameters'?", 1, true), out)
  out = run("emebr.zeros(2)")
  T.ok(out:find("did you mean 'ember'?", 1, true), out)
  out = run("ember.zeros(2):foo()")
  T.ok(out:find("(method 'foo')", 1, true) and not out:find("did you mean", 1, true), out)
end)

T.done()
