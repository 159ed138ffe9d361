-- harness.lua: the tiny test framework of the Lua tests.
-- local T = dofile("tests/lua/harness.lua")
-- T.test("name", function() T.eq(1, 1) end) ... T.done()
-- Each test runs in pcall; T.done() prints "RESULT passed=N failed=M" (read
-- by tests/run.sh) and exits non-zero when a test failed.
local T = {passed = 0, failed = 0}

local function fmt(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

function T.test(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    T.passed = T.passed + 1
  else
    T.failed = T.failed + 1
    io.write("FAIL ", name, ": ", tostring(err), "\n")
  end
end

function T.ok(cond, msg) if not cond then error(msg or "assertion failed", 2) end end

function T.eq(a, b, msg)
  if a ~= b then error((msg or "eq") .. ": got " .. fmt(a) .. ", expected " .. fmt(b), 2) end
end

function T.near(a, b, tol, msg)
  tol = tol or 1e-6
  if type(a) == "table" and type(b) == "table" then
    T.eq(#a, #b, (msg or "near") .. " (length)")
    for i = 1, #a do T.near(a[i], b[i], tol, (msg or "near") .. "[" .. i .. "]") end
    return
  end
  if not (math.abs(a - b) <= tol * (1 + math.abs(b))) then
    error((msg or "near") .. ": got " .. fmt(a) .. ", expected " .. fmt(b), 2)
  end
end

-- Deep equality of nested tables of plain values.
function T.same(a, b, msg, path)
  path = path or ""
  if type(a) ~= "table" or type(b) ~= "table" then
    if a ~= b then error((msg or "same") .. path .. ": got " .. fmt(a) .. ", expected " .. fmt(b), 2) end
    return
  end
  for k, v in pairs(b) do T.same(a[k], v, msg, path .. "[" .. tostring(k) .. "]") end
  for k in pairs(a) do
    if b[k] == nil then error((msg or "same") .. path .. ": unexpected key " .. tostring(k), 2) end
  end
end

-- Asserts that fn raises an error whose message contains `pattern` (plain).
function T.raises(fn, pattern)
  local ok, err = pcall(fn)
  if ok then error("expected an error" .. (pattern and (" matching " .. fmt(pattern)) or ""), 2) end
  if pattern and not string.find(tostring(err), pattern, 1, true) then
    error("error " .. fmt(tostring(err)) .. " does not contain " .. fmt(pattern), 2)
  end
  return err
end

function T.done()
  io.write(string.format("RESULT passed=%d failed=%d\n", T.passed, T.failed))
  io.stdout:flush()
  os.exit(T.failed == 0 and 0 or 1)
end

return T
