-- ember.suggest: "did you mean ...?" for misspelled names.
--
-- When a Lua error says a name was nil ("attempt to call a nil value
-- (method 'paramters')", "(field 'Linaer')", "(global 'emebr')"), the error
-- handler of vm/host.c passes the message here, and the closest name ember
-- knows is appended: "... -- did you mean 'parameters'?".  Typos are the
-- most common REPL error, and Lua's own message does not say what exists.
-- Loaded only on such an error, never at start-up.
local ember = require("ember")

local M = {}

-- the modules whose names count, as help() lists them
local MODULES = {"nn", "optim", "data", "train", "metrics", "plot", "sweep"}

-- Every string key of t, and of the method tables of the classes in t
-- (tables whose fields are functions: nn.Linear, optim.Adam ...), into `set`.
local function collect(t, set, depth)
  for k, v in pairs(t) do
    if type(k) == "string" then
      set[k] = true
      if depth > 0 and type(v) == "table" then collect(v, set, depth - 1) end
    end
  end
  local mt = getmetatable(t)
  if depth > 0 and type(mt) == "table" and type(mt.__index) == "table" then collect(mt.__index, set, depth - 1) end
end

-- names a field or method could have meant: ember's functions, tensor
-- methods, module members and their classes' methods
local function member_names()
  local set = {}
  collect(ember, set, 0)
  collect(ember.Tensor, set, 0)
  for _, m in ipairs(MODULES) do
    local ok, mod = pcall(require, "ember." .. m)
    if ok and type(mod) == "table" then collect(mod, set, 1) end
  end
  return set
end

local function global_names()
  local set = {}
  for k in pairs(_G) do if type(k) == "string" then set[k] = true end end
  for _, m in ipairs(MODULES) do set[m] = true end
  return set
end

-- optimal string alignment distance (edits, and swaps of neighbours), giving
-- up past `limit`
local function distance(a, b, limit)
  local la, lb = #a, #b
  if math.abs(la - lb) > limit then return limit + 1 end
  local prev2, prev, cur = {}, {}, {}
  for j = 0, lb do prev[j] = j end
  for i = 1, la do
    cur = {[0] = i}
    local best = i
    for j = 1, lb do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      local d = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
      if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
        d = math.min(d, prev2[j - 2] + 1)
      end
      cur[j] = d
      if d < best then best = d end
    end
    if best > limit then return limit + 1 end
    prev2, prev = prev, cur
  end
  return prev[lb]
end

-- The closest name of `set` to `name`: same letters in another case first,
-- then at most 2 edits (1 for names of up to 4 letters, none for 1 or 2
-- letters: any short name is close to another); nil when none.
function M.closest(name, set)
  local lower = name:lower()
  local limit = #name <= 2 and 0 or #name <= 4 and 1 or 2
  local best, best_d
  for cand in pairs(set) do
    if cand ~= name then
      local d = cand:lower() == lower and 0 or distance(lower, cand:lower(), limit)
      if d <= limit and (not best_d or d < best_d or (d == best_d and cand < best)) then
        best, best_d = cand, d
      end
    end
  end
  return best
end

-- The message with a hint appended, or unchanged when it is not a nil-name
-- error or nothing is close.
function M.message(msg)
  local kind, name = msg:match("a nil value %((%a+) '([%w_]+)'%)")
  if not name then return msg end
  local set
  if kind == "global" then set = global_names()
  elseif kind == "method" or kind == "field" then set = member_names()
  else return msg end   -- locals and upvalues are the user's own names
  local hit = M.closest(name, set)
  if not hit then return msg end
  local line_end = msg:find("\n", 1, true) or (#msg + 1)
  return msg:sub(1, line_end - 1) .. " -- did you mean '" .. hit .. "'?" .. msg:sub(line_end)
end

return M
