-- ember.help: help(), the documentation browser of the REPL.
--
-- Docstrings are attached to values (vm/doc.c: vm_set_doc from C,
-- ember.doc(value, text) from Lua); this module only finds and formats
-- them.  help() lists the modules; help(x) prints x's docstring and, for a
-- module, class, tensor or other object, its members with the first line
-- of each member's docstring; help("nn.Linear") looks a dotted name up and
-- help("word") searches the documented names.  It is loaded on the first
-- call of help (ember.help in C forwards here), not at start-up.
-- M.undocumented(t) lists the public functions of t without a docstring
-- (the documentation test uses it).
local ember = require("ember")
local getdoc = ember.doc

local M = {}

-- the modules of DESIGN.md, in the order help() lists them
M.modules = {"ember", "nn", "optim", "data", "train", "metrics", "plot", "sweep"}

-- the first line of a docstring, cut to fit a list row
local function first_line(s)
  local line = s:match("^[^\n]*")
  if #line > 100 then line = line:sub(1, 97) .. "..." end
  return line
end

local function module_value(name)
  if name == "ember" then return ember end
  if not package.preload["ember." .. name] and not package.loaded["ember." .. name] then
    return nil
  end
  local ok, m = pcall(require, "ember." .. name)
  if ok then return m end
  return nil, m
end

-- the table of methods an object offers: its metatable's __methods, or an
-- __index table (classes, and their parents through their own metatables)
local function method_tables(v)
  local out, seen = {}, {}
  local cur = v
  for _ = 1, 8 do
    local mt = getmetatable(cur)
    if type(mt) ~= "table" or seen[mt] then break end
    seen[mt] = true
    local methods = rawget(mt, "__methods")
    if type(methods) == "table" then out[#out + 1] = methods end
    local index = rawget(mt, "__index")
    if type(index) ~= "table" or index == cur then break end
    out[#out + 1] = index
    cur = index
  end
  return out
end

-- name -> value of the public members of v (its own fields, then inherited)
local function members(v)
  local names, list = {}, {}
  local function add(t)
    for k, x in next, t do
      if type(k) == "string" and not k:match("^_") and names[k] == nil then
        names[k] = x
        list[#list + 1] = k
      end
    end
  end
  if type(v) == "table" then add(v) end
  for _, t in ipairs(method_tables(v)) do add(t) end
  table.sort(list)
  return list, names
end

-- the docstring of v, else of what v is an instance of
local function find_doc(v)
  local d = getdoc(v)
  if d then return d end
  local t = type(v)
  if t == "table" or t == "userdata" then
    local mt = getmetatable(v)
    if type(mt) == "table" then
      d = getdoc(mt)
      if d then return d end
      local idx = rawget(mt, "__index")
      if type(idx) == "table" and idx ~= v then return getdoc(idx) end
      local methods = rawget(mt, "__methods")
      if type(methods) == "table" then return getdoc(methods) end
    end
  end
  return nil
end

local function where(f)
  local info = debug.getinfo(f, "S")
  if info.what == "C" then return "a C function" end
  return "a Lua function defined at " .. info.short_src .. ":" .. info.linedefined
end

local function list_members(v, out)
  local list, names = members(v)
  local rows, width = {}, 0
  for _, k in ipairs(list) do
    local x = names[k]
    local tx = type(x)
    if tx == "function" or tx == "table" or tx == "userdata" then
      local d = getdoc(x)
      rows[#rows + 1] = {k, d and first_line(d) or (tx == "function" and "" or "(" .. tx .. ")")}
      if #k > width then width = #k end
    end
  end
  if #rows == 0 then return end
  out[#out + 1] = ""
  out[#out + 1] = "Members:"
  for _, r in ipairs(rows) do
    out[#out + 1] = string.format("  %-" .. width .. "s  %s", r[1], r[2])
  end
end

local function describe(v)
  local out = {}
  local d = find_doc(v)
  local t = type(v)
  if d then
    out[#out + 1] = d
  elseif t == "function" then
    out[#out + 1] = "No documentation: " .. where(v) .. "."
  else
    local mt = getmetatable(v)
    local name = type(mt) == "table" and rawget(mt, "__name")
    out[#out + 1] = "No documentation for this " .. (type(name) == "string" and name or t) .. "."
  end
  if t == "table" or t == "userdata" then list_members(v, out) end
  return table.concat(out, "\n")
end

local function list_modules()
  local out = {"ember modules (help(name) or help(module) shows one):"}
  for _, name in ipairs(M.modules) do
    local m, err = module_value(name)
    if m ~= nil then
      local d = find_doc(m)
      out[#out + 1] = string.format("  %-8s %s", name, d and first_line(d) or "")
    elseif err then
      out[#out + 1] = string.format("  %-8s (failed to load: %s)", name, first_line(tostring(err)))
    end
  end
  out[#out + 1] = ""
  out[#out + 1] = 'help(x) documents a function, class, module or tensor; help "word" searches.'
  return table.concat(out, "\n")
end

-- the value a dotted name like "nn.Linear" or "ember.zeros" names, or nil
local function lookup(name)
  if not name:match("^[%a_][%w_]*[%w_.]*$") then return nil end
  local v = _G
  for part in name:gmatch("[^.]+") do
    if type(v) ~= "table" and type(v) ~= "userdata" then return nil end
    local ok, x = pcall(function() return v[part] end)
    if not ok or x == nil then
      if v == _G then x = module_value(part) end
      if x == nil then return nil end
    end
    v = x
  end
  return v
end

-- documented names containing word, searched in every module
local function search(word)
  local hits = {}
  local lw = word:lower()
  for _, name in ipairs(M.modules) do
    local m = module_value(name)
    if m ~= nil then
      local list, names = members(m)
      for _, k in ipairs(list) do
        local d = getdoc(names[k])
        if d and (k:lower():find(lw, 1, true) or d:lower():find(lw, 1, true)) then
          hits[#hits + 1] = string.format("  %-24s %s", name .. "." .. k, first_line(d))
        end
      end
    end
  end
  if #hits == 0 then return "No documentation found for " .. string.format("%q", word) .. "." end
  return "Documented names matching " .. string.format("%q", word) .. ":\n" .. table.concat(hits, "\n")
end

--- M.text([x]) -> string: what help(x) prints.
function M.text(...)
  if select("#", ...) == 0 then return list_modules() end
  local x = ...
  if type(x) == "string" then
    local v = lookup(x)
    if v ~= nil then return describe(v) end
    return search(x)
  end
  if x == nil then return "help(nil): nil has no documentation (did you misspell a name?)" end
  return describe(x)
end

--- M.undocumented(t) -> list of names: public functions of t (and of its
--- methods tables) without a docstring.
function M.undocumented(t)
  local list, names = members(t)
  local missing = {}
  for _, k in ipairs(list) do
    local x = names[k]
    if type(x) == "function" and not getdoc(x) then missing[#missing + 1] = k end
  end
  return missing
end

setmetatable(M, {__call = function(_, ...)
  io.write(M.text(...), "\n")
  io.stdout:flush()
end})

return M
