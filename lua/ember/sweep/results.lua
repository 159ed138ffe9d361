-- ember.sweep.results: the Results of a sweep (a list of trials) and the
-- reading and merging of JSONL sweep logs, shared by sweep.run (resume) and
-- sweep.load (logs written by many machines).
--
-- A trial is a plain table: index, params, seed, status ("COMPLETE",
-- "PRUNED", "FAILED", or "RUNNING" for one that was interrupted), metrics
-- (the final ones), history (per metric, a list over epochs: history.loss[e],
-- the same shape as train.fit's History, so plot.sweep and plot.curves read
-- it), seconds, error (a message when FAILED), attempts (how often it was
-- started) and value (the objective, a number or nil).
local ember = require("ember")
local S = ember._sweep

local R = {}

local function doc(v, text) ember.doc(v, text); return v end

-- ------------------------------------------------------------ canonical keys --

-- A canonical text of a plain value (sorted keys, %.17g numbers), so that the
-- same params give the same key whatever the table order and after a JSON
-- round trip (where 2.0 may come back as 2).
local function canon(v)
  local tv = type(v)
  if tv == "number" then
    if v ~= v then return "nan" end
    return string.format("%.17g", v)
  elseif tv == "string" then
    return string.format("%q", v)
  elseif tv == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for i, k in ipairs(keys) do parts[i] = tostring(k) .. "=" .. canon(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return tostring(v)
end
R.canon = canon

-- The key of a trial in a log: its index and its params.
function R.key(index, params) return tostring(index) .. "|" .. canon(params) end

-- ------------------------------------------------------------- objectives --

-- The metrics of epoch `step` from a column history {loss = {...}, ...}.
function R.step_metrics(history, step)
  local m = {}
  for k, col in pairs(history or {}) do
    if type(col) == "table" then m[k] = col[step] end
  end
  return m
end

-- The number of steps in a column history.
function R.steps(history)
  local n = 0
  for _, col in pairs(history or {}) do
    if type(col) == "table" and #col > n then n = #col end
  end
  return n
end

-- objective: a metric name or a function(metrics) -> number.
function R.objective_value(objective, metrics)
  if type(metrics) ~= "table" then return nil end
  local v
  if type(objective) == "function" then
    local ok, r = pcall(objective, metrics)
    v = ok and r or nil
  else
    v = metrics[objective]
  end
  if ember.is_tensor(v) then v = v:item() end
  return type(v) == "number" and v or nil
end

-- Whether objective value a is better than b under mode (nil and NaN lose).
function R.better(a, b, mode)
  if a == nil or a ~= a then return false end
  if b == nil or b ~= b then return true end
  if mode == "max" then return a > b end
  return a < b
end

-- ---------------------------------------------------------------- Results --

local Results = require("ember.class")("sweep.Results")
R.Results = Results

local status_rank = {COMPLETE = 1, PRUNED = 2, RUNNING = 3, FAILED = 4}

-- Builds Results from a list of trials; objective (name or function) and
-- mode fill each trial's value.
function R.new(trials, objective, mode)
  local res = setmetatable({}, Results)
  res.objective = type(objective) == "string" and objective or "objective"
  res.mode = mode or "min"
  for i, t in ipairs(trials) do
    t.value = R.objective_value(objective, t.metrics)
    res[i] = t
  end
  return res
end

doc(Results, [[sweep.Results: the trials of a sweep, in trial order.

#res, res[i] (index, params, metrics, history, status, seconds, seed, error,
attempts, value = the objective), res.objective (its name), res.mode.
Methods: best(), table(), save_csv(path), sorted(); tostring(res) is
res:table().  plot.sweep(res) draws them.]])

function Results:best()
  local best
  for _, t in ipairs(self) do
    if t.status == "COMPLETE" and R.better(t.value, best and best.value, self.mode) then best = t end
  end
  return best
end
doc(Results.best, [[res:best() -> trial or nil

The completed trial with the best objective (lowest for mode "min", highest
for "max"); nil when no trial completed.]])

function Results:sorted()
  local list = {}
  for i, t in ipairs(self) do list[i] = t end
  local mode = self.mode
  table.sort(list, function(a, b)
    local ra, rb = status_rank[a.status] or 5, status_rank[b.status] or 5
    if ra ~= rb then return ra < rb end
    if R.better(a.value, b.value, mode) then return true end
    if R.better(b.value, a.value, mode) then return false end
    return (a.index or 0) < (b.index or 0)
  end)
  return list
end
doc(Results.sorted, [[res:sorted() -> list of trials

Completed trials best first, then pruned, interrupted and failed ones.]])

-- sorted union of the params (or metrics) names over trials
local function names_of(trials, field)
  local seen, out = {}, {}
  for _, t in ipairs(trials) do
    for k in pairs(t[field] or {}) do
      if not seen[k] then seen[k] = true; out[#out + 1] = k end
    end
  end
  table.sort(out, function(a, b) return tostring(a) < tostring(b) end)
  return out
end

local function fmt_value(v, prec)
  if v == nil then return "-" end
  if type(v) == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    if v ~= v then return "nan" end
    return string.format("%." .. (prec or 4) .. "g", v)
  end
  if type(v) == "table" then return canon(v) end
  return tostring(v)
end

local function truncate(s, w)
  if #s <= w then return s end
  if w <= 1 then return s:sub(1, w) end
  return s:sub(1, w - 1) .. "~"
end

function Results:table(opts)
  opts = opts or {}
  local width = opts.width or 80
  local list = self:sorted()
  local pnames = names_of(list, "params")
  -- columns: header, cell strings, right-aligned?
  local cols = {}
  local function add(header, cell, right, shrink)
    local c = {header = header, cells = {}, right = right, shrink = shrink}
    for i, t in ipairs(list) do c.cells[i] = cell(t) end
    cols[#cols + 1] = c
  end
  add("trial", function(t) return tostring(t.index or "?") end, true)
  add("status", function(t) return t.status or "?" end, false)
  add(self.objective, function(t) return fmt_value(t.value) end, true, true)
  for _, p in ipairs(pnames) do
    add(tostring(p), function(t) return fmt_value(t.params and t.params[p]) end,
        type(list[1] and list[1].params and list[1].params[p]) == "number", true)
  end
  add("seconds", function(t) return t.seconds and string.format("%.1f", t.seconds) or "-" end, true)
  for _, c in ipairs(cols) do
    c.w = #c.header
    for _, s in ipairs(c.cells) do if #s > c.w then c.w = #s end end
  end
  local function total()
    local n = 0
    for _, c in ipairs(cols) do n = n + c.w end
    return n + 2 * (#cols - 1)
  end
  -- too wide: narrow the widest shrinkable column (cells get a "~"), down to 6
  while total() > width do
    local widest
    for _, c in ipairs(cols) do
      if c.shrink and c.w > 6 and (not widest or c.w > widest.w) then widest = c end
    end
    if not widest then break end
    widest.w = widest.w - 1
  end
  -- still too wide (many parameters): drop parameter columns from the right
  local dropped = {}
  while total() > width and #cols > 4 do
    table.insert(dropped, 1, table.remove(cols, #cols - 1).header)
  end
  local lines = {}
  local function row(cells)
    local parts = {}
    for i, c in ipairs(cols) do
      local s = truncate(cells[i], c.w)
      parts[i] = c.right and string.rep(" ", c.w - #s) .. s or s .. string.rep(" ", c.w - #s)
    end
    lines[#lines + 1] = (table.concat(parts, "  "):gsub("%s+$", ""))
  end
  local header = {}
  for i, c in ipairs(cols) do header[i] = c.header end
  row(header)
  for r = 1, #list do
    local cells = {}
    for i, c in ipairs(cols) do cells[i] = c.cells[r] end
    row(cells)
  end
  if #dropped > 0 then
    lines[#lines + 1] = truncate("(not shown: " .. table.concat(dropped, ", ") .. ")", width)
  end
  return table.concat(lines, "\n")
end
doc(Results.table, [[res:table([{width=80}]) -> string

An aligned table of the trials sorted by the objective (best first; then
pruned, interrupted and failed trials): trial, status, objective, one column
per parameter, seconds.  It fits `width` columns: long cells are cut (~) and,
with very many parameters, the last parameter columns are left out (named
on a last line).]])

Results.__tostring = function(self) return self:table() end

local function csv_cell(v)
  local s
  if v == nil then return "" end
  if type(v) == "number" then
    s = math.type(v) == "integer" and tostring(v) or string.format("%.17g", v)
  elseif type(v) == "table" then
    s = canon(v)
  else
    s = tostring(v)
  end
  if s:find('[,"\n\r]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

function Results:save_csv(path)
  local pnames = names_of(self, "params")
  local mnames = names_of(self, "metrics")
  local f, err = io.open(path, "w")
  if not f then error("save_csv: " .. tostring(err), 2) end
  local head = {"trial", "status", "objective"}
  for _, p in ipairs(pnames) do head[#head + 1] = csv_cell(p) end
  for _, m in ipairs(mnames) do head[#head + 1] = csv_cell("metric." .. tostring(m)) end
  for _, h in ipairs{"seconds", "seed", "error"} do head[#head + 1] = h end
  f:write(table.concat(head, ","), "\n")
  for _, t in ipairs(self) do
    local row = {csv_cell(t.index), csv_cell(t.status), csv_cell(t.value)}
    for _, p in ipairs(pnames) do row[#row + 1] = csv_cell(t.params and t.params[p]) end
    for _, m in ipairs(mnames) do row[#row + 1] = csv_cell(t.metrics and t.metrics[m]) end
    row[#row + 1] = csv_cell(t.seconds)
    row[#row + 1] = csv_cell(t.seed)
    row[#row + 1] = csv_cell(t.error)
    f:write(table.concat(row, ","), "\n")
  end
  f:close()
  return path
end
doc(Results.save_csv, [[res:save_csv(path) -> path

One row per trial: trial, status, objective, each parameter, each final
metric (as metric.NAME), seconds, seed, error.  Numbers at full precision.]])

-- ------------------------------------------------------------------- logs --

-- The decoded lines of one log file (torn or foreign lines are skipped).
function R.read_lines(path, out)
  out = out or {}
  local f = io.open(path, "r")
  if not f then return out, false end
  for line in f:lines() do
    if line:find("%S") then
      local e = S.json_decode(line)
      if type(e) == "table" and e.trial ~= nil and type(e.status) == "string" then
        out[#out + 1] = e
      end
    end
  end
  f:close()
  return out, true
end

-- Merges log events into one trial per key.  The final state of a trial is
-- its last COMPLETE event, else its last PRUNED, else its last FAILED, else
-- RUNNING (started, never ended: interrupted).  Returns the trials sorted by
-- index, and a map key -> trial.
function R.merge(events)
  local by_key, order = {}, {}
  local pref = {COMPLETE = 3, PRUNED = 2, FAILED = 1, RUNNING = 0}
  for _, e in ipairs(events) do
    local params = type(e.params) == "table" and e.params or {}
    local k = R.key(e.trial, params)
    local t = by_key[k]
    if not t then
      t = {index = e.trial, params = params, seed = e.seed, status = "RUNNING",
           metrics = {}, history = {}, attempts = 0}
      by_key[k] = t
      order[#order + 1] = t
    end
    if e.status == "RUNNING" then
      t.attempts = t.attempts + 1
    elseif (pref[e.status] or -1) >= (pref[t.status] or -1) then
      t.status = e.status
      t.metrics = type(e.metrics) == "table" and e.metrics or {}
      t.history = type(e.history) == "table" and e.history or {}
      t.seconds = e.seconds
      t.error = e.error
      t.seed = e.seed or t.seed
      t.objective_name, t.mode = e.objective, e.mode
    end
  end
  table.sort(order, function(a, b)
    local ia, ib = tonumber(a.index) or 0, tonumber(b.index) or 0
    if ia ~= ib then return ia < ib end
    return canon(a.params) < canon(b.params)
  end)
  return order, by_key
end

-- Paths from a path, a glob pattern, or a list of either.
function R.expand(paths)
  if type(paths) == "string" then paths = {paths} end
  local out = {}
  for _, p in ipairs(paths) do
    if p:find("[*?%[]") then
      for _, q in ipairs(S.glob(p)) do out[#out + 1] = q end
    else
      out[#out + 1] = p
    end
  end
  return out
end

return R
