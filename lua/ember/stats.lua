-- ember.stats: statistics composed from the core's ops, so they need no
-- backward rule of their own (autograd flows through sort/gather/where):
-- argsort, quantile, nanquantile,
-- count_nonzero, aminmax, var_mean, std_mean, nansum, nanmean, isclose,
-- allclose, equal, and the creation helpers normal, randint_like,
-- logspace.  Loaded by ember.init; each function is set both as
-- ember.f(x, ...) and as the tensor method x:f(...).  (The C-backed
-- statistics, cumprod, median, kthvalue, mode, unique ... multinomial,
-- are in vm/stats_bind.c.)
--
-- Conventions as everywhere in ember: dims and returned indices are
-- 1-based, negative dims count from the end.
local ember = require("ember")
local Tensor = ember.Tensor

local is_tensor = ember.is_tensor

-- Registers fn as ember[name] and (when `method`) as a tensor method.
local function def(name, fn, doc, method)
  ember.doc(fn, doc)
  ember[name] = fn
  if method ~= false then Tensor[name] = fn end
  return fn
end

local function check_tensor(x, op, what)
  if not is_tensor(x) then
    error(string.format("%s: %s must be a tensor, got %s", op, what or "the input", type(x)), 3)
  end
end

local function is_float(x) return x.dtype == "float32" or x.dtype == "float64" end

-- a Lua dim (1-based, negative from the end) as a positive 1-based dim
local function wrap_dim(x, d, op)
  local n = x:dim()
  if math.type(d) ~= "integer" then
    error(string.format("%s: dim must be an integer, got %s", op, tostring(d)), 3)
  end
  local w = d < 0 and d + n + 1 or d
  if w < 1 or w > n then
    error(string.format("%s: dim %d is out of range for a tensor with %d dims", op, d, n), 3)
  end
  return w
end

-- trailing options: (dim, keepdim) or ({dim=, keepdim=, ...}) or (dim, {keepdim=, ...}) or (dim, keepdim, {...})
local function dim_args(a, b, c)
  local opts = type(a) == "table" and a or type(b) == "table" and b or type(c) == "table" and c or {}
  local dim = type(a) == "number" and a or opts.dim
  local keepdim = b == true or opts.keepdim == true
  return dim, keepdim, opts
end

-- ---------- sort-based ----------

def("argsort", function(x, dim, descending)
  check_tensor(x, "argsort")
  if type(dim) == "table" then dim, descending = dim.dim, dim.descending end
  if type(descending) == "table" then descending = descending.descending end
  local _, ix = x:sort(dim or -1, descending and true or false)
  return ix
end, "t:argsort([dim=-1] [, descending or {descending=}]) -> int64 tensor\n\n" ..
  "The 1-based indices that sort t along dim (a stable sort; NaN sorts last, or first when descending).")

local function keep_shape(x, d)
  local s = x:size()
  s[d] = 1
  return s
end

local interpolations = {linear = true, lower = true, higher = true, midpoint = true, nearest = true}

local function quantile_common(op, ignore_nan)
  return function(x, q, dim, keepdim, opts)
    check_tensor(x, op)
    dim, keepdim, opts = dim_args(dim, keepdim, opts)
    local interp = opts.interpolation or "linear"
    if not interpolations[interp] then
      error(string.format("%s: interpolation must be linear, lower, higher, midpoint or nearest, got %s",
        op, tostring(interp)), 2)
    end
    if not is_float(x) then
      error(string.format("%s: expected a float32 or float64 input, got %s", op, x.dtype), 2)
    end
    local qs, scalar
    if type(q) == "number" then
      qs, scalar = {q}, true
    elseif is_tensor(q) then
      if q:dim() > 1 then error(string.format("%s: q must be a number or a 0-dim or 1-D tensor, got %d dims", op, q:dim()), 2) end
      scalar = q:dim() == 0
      qs = scalar and {q:item()} or q:totable()
    else
      error(string.format("%s: q must be a number or a tensor, got %s", op, type(q)), 2)
    end
    for _, v in ipairs(qs) do
      if not (v >= 0 and v <= 1) then error(string.format("%s: q must be in [0, 1], got %s", op, tostring(v)), 2) end
    end
    local shape0 = x:size()
    local d
    if dim == nil then
      x, d = x:reshape(-1), 1
    else
      if x:dim() == 0 then x = x:reshape(1) end
      d = wrap_dim(x, dim, op)
    end
    local n = x:size(d)
    if n == 0 then error(op .. ": the input is empty", 2) end
    local sv = x:sort(d)
    local nnan = x:isnan():sum(d, true)
    -- valid entries per line (NaNs sort last); quantile: any NaN gives NaN
    local valid = ignore_nan and (nnan * -1 + n):double() or ember.full(keep_shape(x, d), n, {dtype = "float64"})
    local bad = ignore_nan and nnan:eq(n) or nnan:gt(0)
    local outs = {}
    for i, qv in ipairs(qs) do
      local pos = ((valid - 1) * qv):clamp(0, nil)
      local lo, hi = pos:floor(), pos:ceil()
      local function at(p) return sv:gather(d, p:long() + 1) end
      local r
      if interp == "lower" then r = at(lo)
      elseif interp == "higher" then r = at(hi)
      elseif interp == "nearest" then r = at(pos:round())
      else
        local vlo, vhi = at(lo), at(hi)
        if interp == "midpoint" then r = (vlo + vhi) * 0.5
        else r = vlo + (vhi - vlo) * (pos - lo):to(x.dtype) end
      end
      r = ember.where(bad, 0 / 0, r)
      if dim == nil then
        if keepdim then
          local ones = {}
          for j = 1, #shape0 do ones[j] = 1 end
          r = r:reshape(ones)
        else
          r = r:reshape({})
        end
      elseif not keepdim and #shape0 > 0 then
        r = r:squeeze(d)
      elseif #shape0 == 0 then
        r = r:reshape({})
      end
      outs[i] = r
    end
    if scalar then return outs[1] end
    return ember.stack(outs, 1)
  end
end

def("quantile", quantile_common("quantile", false),
  "t:quantile(q [, dim [, keepdim]] [, {interpolation=\"linear\"}]) -> tensor\n\n" ..
  "The q-th quantiles (q a number or a 1-D tensor in [0, 1]; a tensor q adds a leading dim) over all " ..
  "elements or along dim; interpolation linear, lower, higher, midpoint or nearest; NaN where a NaN is " ..
  "present. Differentiable.")
def("nanquantile", quantile_common("nanquantile", true),
  "t:nanquantile(q [, dim [, keepdim]] [, {interpolation=}]) -> tensor\n\n" ..
  "quantile ignoring NaNs (NaN only for an all-NaN line).")

-- ---------- reductions ----------

def("count_nonzero", function(x, dim, keepdim)
  check_tensor(x, "count_nonzero")
  return x:ne(0):sum(dim, keepdim)
end, "t:count_nonzero([dim or {dims} [, keepdim]]) -> int64 tensor\n\n" ..
  "The number of nonzero elements, over everything or along dims.")

def("aminmax", function(x, dim, keepdim)
  check_tensor(x, "aminmax")
  dim, keepdim = dim_args(dim, keepdim)
  return x:amin(dim, keepdim), x:amax(dim, keepdim)
end, "t:aminmax([dim [, keepdim]] or [{dim=, keepdim=}]) -> min, max\n\n" ..
  "The minimum and the maximum (two tensors), over everything or along dim.")

local function moments(op, fn)
  return function(x, dim, opts)
    check_tensor(x, op)
    local keepdim
    if type(dim) == "table" then dim, opts = dim.dim, dim end
    if type(opts) == "boolean" then keepdim = opts elseif type(opts) == "table" then keepdim = opts.keepdim == true end
    local spread = dim and x[fn](x, dim, opts) or x[fn](x, opts)
    return spread, x:mean(dim, keepdim)
  end
end
def("var_mean", moments("var_mean", "var"),
  "t:var_mean([dim] [, {correction=1, keepdim=}]) -> var, mean\n\n" ..
  "The variance (unbiased by default) and the mean, as var and mean would give them.")
def("std_mean", moments("std_mean", "std"),
  "t:std_mean([dim] [, {correction=1, keepdim=}]) -> std, mean\n\n" ..
  "The standard deviation (unbiased by default) and the mean.")

local function zero_nan(x) return is_float(x) and ember.where(x:isnan(), 0, x) or x end

def("nansum", function(x, dim, keepdim)
  check_tensor(x, "nansum")
  return zero_nan(x):sum(dim, keepdim)
end, "t:nansum([dim or {dims} [, keepdim]]) -> tensor\n\n" ..
  "The sum treating NaN as 0; differentiable (NaN entries get gradient 0).")

def("nanmean", function(x, dim, keepdim)
  check_tensor(x, "nanmean")
  if not is_float(x) then error("nanmean: expected a float32 or float64 input, got " .. x.dtype, 2) end
  local cnt = x:isnan():logical_not():sum(dim, keepdim)
  return zero_nan(x):sum(dim, keepdim) / cnt
end, "t:nanmean([dim or {dims} [, keepdim]]) -> tensor\n\n" ..
  "The mean of the non-NaN elements (NaN when there are none); differentiable.")

-- ---------- comparisons ----------

local function close_opts(opts, op)
  opts = opts or {}
  if type(opts) ~= "table" then error(op .. ": expected an options table {rtol=, atol=, equal_nan=}", 3) end
  for k in pairs(opts) do
    if k ~= "rtol" and k ~= "atol" and k ~= "equal_nan" then
      error(string.format("%s: unknown option %s (the options are rtol, atol, equal_nan)", op, tostring(k)), 3)
    end
  end
  local rtol, atol = opts.rtol or 1e-5, opts.atol or 1e-8
  if type(rtol) ~= "number" or type(atol) ~= "number" or rtol < 0 or atol < 0 then
    error(string.format("%s: rtol and atol must be numbers >= 0, got %s and %s", op, tostring(rtol), tostring(atol)), 3)
  end
  return rtol, atol, opts.equal_nan == true
end

local function isclose(a, b, opts, op)
  op = op or "isclose"
  if not is_tensor(a) and not is_tensor(b) then
    error(op .. ": expected at least one tensor, got " .. type(a) .. " and " .. type(b), 3)
  end
  local rtol, atol, equal_nan = close_opts(opts, op)
  a = is_tensor(a) and a or ember.tensor(a)
  b = is_tensor(b) and b or ember.tensor(b)
  if a.dtype == "bool" and b.dtype == "bool" then return a:eq(b) end
  return ember.no_grad(function()
    -- a == b covers equal infinities; (x - x) == 0 is "finite", so that
    -- inf is never close to a finite number through rtol * |inf|
    local finite = (a - a):eq(0):logical_and((b - b):eq(0))
    local r = a:eq(b):logical_or(finite:logical_and((a - b):abs():le(b:abs() * rtol + atol)))
    if equal_nan and (is_float(a) or is_float(b)) then r = r:logical_or(a:isnan():logical_and(b:isnan())) end
    return r
  end)
end

def("isclose", function(a, b, opts) return isclose(a, b, opts) end,
  "ember.isclose(a, b [, {rtol=1e-5, atol=1e-8, equal_nan=false}]) -> bool tensor\n\n" ..
  "Elementwise |a - b| <= atol + rtol * |b| (broadcasting); infinities are close only to themselves.")

def("allclose", function(a, b, opts) return isclose(a, b, opts, "allclose"):all():item() end,
  "ember.allclose(a, b [, {rtol=1e-5, atol=1e-8, equal_nan=false}]) -> boolean\n\n" ..
  "true when every element of a is close to b (as isclose, broadcasting).")

def("equal", function(a, b)
  check_tensor(a, "equal", "a")
  check_tensor(b, "equal", "b")
  local sa, sb = a:size(), b:size()
  if #sa ~= #sb then return false end
  for i = 1, #sa do if sa[i] ~= sb[i] then return false end end
  return ember.no_grad(function() return a:eq(b):all():item() end)
end, "ember.equal(a, b) -> boolean\n\n" ..
  "true when a and b have the same shape and equal elements (NaN is never equal).")

-- ---------- creation ----------

def("normal", function(mean, std, shape, opts)
  if type(mean) ~= "number" and not is_tensor(mean) then error("normal: mean must be a number or a tensor, got " .. type(mean), 2) end
  if std == nil then std = 1 end
  if type(std) ~= "number" and not is_tensor(std) then error("normal: std must be a number or a tensor, got " .. type(std), 2) end
  if type(std) == "number" and not (std >= 0) then error("normal: std must be >= 0, got " .. tostring(std), 2) end
  if is_tensor(std) and ember.no_grad(function() return std:lt(0):any():item() end) then
    error("normal: std must be >= 0 everywhere", 2)
  end
  return ember.no_grad(function()
    if not is_tensor(mean) and not is_tensor(std) then
      if type(shape) ~= "table" then error("normal: with a number mean and std, give a shape table", 3) end
      local o = opts or {}
      return ember.randn(shape, {dtype = o.dtype}) * std + mean
    end
    local probe = (is_tensor(mean) and mean:detach() or mean) * 0 + (is_tensor(std) and std:detach() or std) * 0
    local dt = is_float(probe) and probe.dtype or "float32"
    return ember.randn(probe:size(), {dtype = dt}) * std + mean
  end)
end, "ember.normal(mean, std [, shape [, {dtype=}]]) -> tensor\n\n" ..
  "Normal draws with the given means and standard deviations (numbers or tensors, broadcast; two numbers need a shape).", false)

def("randint_like", function(x, lo, hi, opts)
  check_tensor(x, "randint_like")
  if hi == nil or type(hi) == "table" then lo, hi, opts = 0, lo, hi end
  if math.type(lo) ~= "integer" or math.type(hi) ~= "integer" then
    error("randint_like: bounds must be integers, got " .. tostring(lo) .. " and " .. tostring(hi), 2)
  end
  return ember.randint(lo, hi, x:size(), {dtype = (opts and opts.dtype) or x.dtype})
end, "ember.randint_like(t, [lo=0,] hi [, {dtype=}]) -> tensor\n\n" ..
  "Random integers in [lo, hi) with t's shape and dtype.", false)

def("logspace", function(a, b, n, base, opts)
  if type(base) == "table" then base, opts = nil, base end
  base = base or 10
  if type(a) ~= "number" or type(b) ~= "number" or type(base) ~= "number" then
    error("logspace: start, stop and base must be numbers", 2)
  end
  local dt = opts and opts.dtype or "float32"
  return (base ^ ember.linspace(a, b, n, {dtype = "float64"})):to(dt)
end, "ember.logspace(start, stop, n [, base=10] [, {dtype=}]) -> tensor\n\n" ..
  "n values spaced evenly on a log scale, base^start to base^stop inclusive.", false)

return true
