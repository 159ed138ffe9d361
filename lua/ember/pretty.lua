-- ember.pretty: how the REPL shows values.
--
-- Tensors, modules and anything else with a __tostring print as tostring
-- gives them (a tensor summarises itself; a module prints its tree).
-- Plain tables print recursively: the array part first, then the other keys
-- sorted (numbers, then strings, then the rest), identifiers as `name = `;
-- nesting deeper than `depth` shows as {...}, a table met again inside
-- itself as <cycle table: 0x...>, and more than `items` entries per table
-- end in "... (N more)".  A table prints on one line when it fits in
-- `width` columns, else one entry per line.  Whatever the value, the
-- result is cut after `lines` lines, so printing never floods the screen.
-- Strings are quoted (so "1" and 1 differ on screen).
local M = {}

local ok_ember, ember = pcall(require, "ember")
local getdoc = ok_ember and type(ember) == "table" and ember.doc or nil

M.options = {depth = 4, items = 100, width = 80, lines = 60}

local keywords = {}
for w in ([[and break do else elseif end false for function goto if in local
  nil not or repeat return then true until while]]):gmatch("%a+") do keywords[w] = true end

local function quote(s)
  s = s:gsub('[%c"\\]', function(c)
    if c == "\n" then return "\\n" elseif c == "\t" then return "\\t"
    elseif c == "\r" then return "\\r" elseif c == '"' then return '\\"'
    elseif c == "\\" then return "\\\\" end
    return string.format("\\%03d", c:byte())
  end)
  return '"' .. s .. '"'
end

local function has_tostring(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__tostring") ~= nil
end

-- key order: numbers (by value), then strings (alphabetical), then the rest
local type_rank = {number = 1, string = 2}
local function key_less(a, b)
  local ta, tb = type_rank[type(a)] or 3, type_rank[type(b)] or 3
  if ta ~= tb then return ta < tb end
  if ta == 3 then return tostring(a) < tostring(b) end
  return a < b
end

local format

local function format_key(k, opts)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") and not keywords[k] then return k end
  if type(k) == "string" then return "[" .. quote(k) .. "]" end
  return "[" .. format(k, opts.depth, {}, opts) .. "]"
end

local function indent(s, pad)
  return (s:gsub("\n", "\n" .. pad))
end

local function format_table(t, level, seen, opts)
  if seen[t] then return "<cycle " .. tostring(t) .. ">" end
  if level >= opts.depth then return next(t) == nil and "{}" or "{...}" end
  seen[t] = true
  local parts, count, limit = {}, 0, opts.items
  local n = #t
  for i = 1, n do
    count = count + 1
    if count <= limit then parts[#parts + 1] = format(rawget(t, i), level + 1, seen, opts) end
  end
  local keys = {}
  for k in next, t do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, key_less)
  for _, k in ipairs(keys) do
    count = count + 1
    if count <= limit then
      parts[#parts + 1] = format_key(k, opts) .. " = " .. format(rawget(t, k), level + 1, seen, opts)
    end
  end
  seen[t] = nil
  if count > limit then parts[#parts + 1] = string.format("... (%d more)", count - limit) end
  if #parts == 0 then return "{}" end
  local one = "{" .. table.concat(parts, ", ") .. "}"
  if #one + level * 2 <= opts.width and not one:find("\n") then return one end
  -- short one-line entries (a list of numbers, say) are packed several to
  -- a line; anything else goes one entry per line
  local packable = true
  for i = 1, #parts do
    if #parts[i] > 24 or parts[i]:find("\n") then packable = false break end
  end
  if packable then
    local lines, cur = {}, "  " .. parts[1]
    for i = 2, #parts do
      if #cur + 2 + #parts[i] > opts.width - level * 2 then
        lines[#lines + 1] = cur .. ","
        cur = "  " .. parts[i]
      else
        cur = cur .. ", " .. parts[i]
      end
    end
    lines[#lines + 1] = cur
    return "{\n" .. table.concat(lines, "\n") .. "\n}"
  end
  for i = 1, #parts do parts[i] = "  " .. indent(parts[i], "  ") end
  return "{\n" .. table.concat(parts, ",\n") .. "\n}"
end

-- a function on its own line: its signature when documented, else where it
-- was defined (inside tables: just the address)
local function format_function(f)
  local doc = getdoc and getdoc(f)
  if doc then
    local line = doc:match("^[^\n]*")
    if #line > 120 then line = line:sub(1, 117) .. "..." end
    return "function: " .. line
  end
  local info = debug.getinfo(f, "S")
  if info.what == "C" then return tostring(f) .. " (builtin)" end
  return tostring(f) .. " (" .. info.short_src .. ":" .. info.linedefined .. ")"
end

function format(v, level, seen, opts)
  local tv = type(v)
  if tv == "string" then return quote(v) end
  if tv == "function" and level == 0 then return format_function(v) end
  if tv == "table" and not has_tostring(v) then return format_table(v, level, seen, opts) end
  if tv == "number" or tv == "boolean" or tv == "nil" then return tostring(v) end
  local ok, s = pcall(tostring, v)
  if not ok then return "<" .. tv .. ": __tostring failed: " .. tostring(s) .. ">" end
  return tostring(s)
end

-- cuts s after opts.lines lines
local function clip(s, opts)
  local lines, pos = 0, 1
  while true do
    local e = s:find("\n", pos, true)
    if not e then return s end
    lines = lines + 1
    if lines >= opts.lines then
      local rest = select(2, s:sub(e + 1):gsub("\n", "")) + 1
      return s:sub(1, e - 1) .. string.format("\n... (%d more lines)", rest)
    end
    pos = e + 1
  end
end

--- M.format(v [, opts]) -> string: v as the REPL shows it.
function M.format(v, opts)
  opts = setmetatable(opts or {}, {__index = M.options})
  return clip(format(v, 0, {}, opts), opts)
end

--- M.values(...) -> string: several results, one per line when any spans lines.
function M.values(...)
  local n = select("#", ...)
  local out, multi = {}, false
  for i = 1, n do
    out[i] = format((select(i, ...)), 0, {}, M.options)
    if out[i]:find("\n") then multi = true end
  end
  return clip(table.concat(out, multi and "\n" or "\t"), M.options)
end

if getdoc then
  ember.doc(M.format, "pretty.format(v [, opts]) -> string\n\n" ..
    "v as the REPL prints it: tables recursively with sorted keys, depth limit,\n" ..
    "cycles marked; tensors and modules through tostring; the result cut after\n" ..
    "opts.lines lines.  opts (defaults in pretty.options): depth, items, width, lines.")
end

return M
