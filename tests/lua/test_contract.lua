-- test_contract.lua: every function of DESIGN.md's contract sections
-- Creating, Inspecting, Converting, Views and Math, checked from Lua against
-- values computed independently here: by hand, or by plain Lua loops over
-- the same random inputs (math.* for elementwise ops, Lua sums for
-- reductions, a triple loop for matmul).  Also dtype promotion (PyTorch's
-- rules, a Lua number is a weak scalar) and 1-based / negative indexing.
-- test_tensor.lua has the lead's smoke tests; this file is the exhaustive one.
local T = dofile("tests/lua/harness.lua")

math.randomseed(20261124)

---------------------------------------------------------------- helpers

-- n uniform random floats in [lo, hi)
local function rlist(n, lo, hi)
  local r = {}
  for i = 1, n do r[i] = lo + (hi - lo) * math.random() end
  return r
end

local function numel_of(shape)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  return n
end

-- a flat row-major list -> nested Lua table of `shape`
local function nest(list, shape)
  if #shape == 0 then return list[1] end
  local pos = 1
  local function build(d)
    local out = {}
    for i = 1, shape[d] do
      if d == #shape then out[i] = list[pos]; pos = pos + 1
      else out[i] = build(d + 1) end
    end
    return out
  end
  return build(1)
end

-- nested table (or a tensor) -> flat row-major list
local function flat(x)
  if ember.is_tensor(x) then x = x:totable() end
  if type(x) ~= "table" then return {x} end
  local out = {}
  local function walk(v)
    if type(v) == "table" then for _, w in ipairs(v) do walk(w) end
    else out[#out + 1] = v end
  end
  walk(x)
  return out
end

local function map(list, f)
  local r = {}
  for i, v in ipairs(list) do r[i] = f(v) end
  return r
end

-- tensor from a flat list and a shape
local function mk(list, shape, dtype)
  return ember.tensor(nest(list, shape), dtype or "float64")
end

local function strides_of(shape)
  local st, acc = {}, 1
  for d = #shape, 1, -1 do st[d] = acc; acc = acc * shape[d] end
  return st
end

-- Reference reduction along dim (1-based) of a flat list with `shape`:
-- f(values along dim) -> value.  Returns the flat result (row-major over
-- the shape without dim) and that shape.
local function reduce_ref(list, shape, dim, f)
  local st = strides_of(shape)
  local oshape = {}
  for d = 1, #shape do if d ~= dim then oshape[#oshape + 1] = shape[d] end end
  local out = {}
  local n = numel_of(oshape)
  for o = 0, n - 1 do
    -- the multi-index of o over oshape -> offset into list
    local rem, base, k = o, 0, #oshape
    for d = #shape, 1, -1 do
      if d ~= dim then
        local i = rem % oshape[k]; rem = rem // oshape[k]; k = k - 1
        base = base + i * st[d]
      end
    end
    local vals = {}
    for j = 0, shape[dim] - 1 do vals[#vals + 1] = list[base + j * st[dim] + 1] end
    out[#out + 1] = f(vals)
  end
  return out, oshape
end

-- Same walk, but f returns a list of shape[dim] values placed back along dim
-- (cumsum, softmax, sort).
local function along_ref(list, shape, dim, f)
  local st = strides_of(shape)
  local out = {}
  local n = numel_of(shape) // shape[dim]
  local others = {}
  for d = 1, #shape do if d ~= dim then others[#others + 1] = d end end
  for o = 0, n - 1 do
    local rem, base = o, 0
    for k = #others, 1, -1 do
      local d = others[k]
      base = base + (rem % shape[d]) * st[d]; rem = rem // shape[d]
    end
    local vals = {}
    for j = 0, shape[dim] - 1 do vals[j + 1] = list[base + j * st[dim] + 1] end
    local res = f(vals)
    for j = 0, shape[dim] - 1 do out[base + j * st[dim] + 1] = res[j + 1] end
  end
  return out
end

local function lsum(v) local s = 0; for _, x in ipairs(v) do s = s + x end; return s end
local function lprod(v) local s = 1; for _, x in ipairs(v) do s = s * x end; return s end
local function lmean(v) return lsum(v) / #v end
local function lvar(v, corr)
  local m, s = lmean(v), 0
  for _, x in ipairs(v) do s = s + (x - m) ^ 2 end
  return s / (#v - (corr or 1))
end
local function argbest(v, better)
  local bi = 1
  for i = 2, #v do if better(v[i], v[bi]) then bi = i end end
  return bi
end

-- erf by its Taylor series (|x| <= 3 here; the alternating terms stay small)
local function erf(x)
  local sum, term, n = x, x, 0
  repeat
    n = n + 1
    term = -term * x * x / n
    local add = term / (2 * n + 1)
    sum = sum + add
  until math.abs(add) < 1e-17 or n > 200
  return 2 / math.sqrt(math.pi) * sum
end

local function sigmoid(x) return 1 / (1 + math.exp(-x)) end

-- round half to even
local function rne(x)
  local f = math.floor(x)
  local d = x - f
  if d > 0.5 then return f + 1 elseif d < 0.5 then return f end
  return (f % 2 == 0) and f or f + 1
end

local function shape_eq(t, shape, msg) T.same(t.shape, shape, msg or "shape") end

-- t's values equal the flat list `expect` within tol (relative + absolute)
local function near_list(t, expect, tol, msg)
  T.near(flat(t), expect, tol or 1e-12, msg)
end

---------------------------------------------------------------- Creating

T.test("tensor: nested tables, numbers, dtypes", function()
  local a = ember.tensor{{1, 2, 3}, {4, 5, 6}}
  T.eq(a.dtype, "int64"); shape_eq(a, {2, 3})
  T.same(a:totable(), {{1, 2, 3}, {4, 5, 6}})
  T.eq(ember.tensor{1, 2.5}.dtype, "float32")
  T.eq(ember.tensor{true, false}.dtype, "bool")
  T.eq(ember.tensor(2.5).dtype, "float32"); T.eq(ember.tensor(2.5):dim(), 0)
  T.eq(ember.tensor(7):item(), 7)
  for _, dt in ipairs{"float32", "float64", "int64", "int32", "uint8", "bool"} do
    local t = ember.tensor({{1, 0}, {3, 4}}, dt)
    T.eq(t.dtype, dt)
    shape_eq(t, {2, 2})
  end
  T.same(ember.tensor({1, 0, 3}, "bool"):totable(), {true, false, true})
  local three = ember.tensor{{{1, 2}}, {{3, 4}}, {{5, 6}}}
  shape_eq(three, {3, 1, 2})
  T.same(flat(three), {1, 2, 3, 4, 5, 6})
  -- a float64 tensor keeps doubles exactly
  local x = 0.1 + 0.2
  T.eq(ember.tensor({x}, "float64")[1], x)
end)

T.test("zeros ones empty full: varargs, table, options", function()
  for _, f in ipairs{"zeros", "ones"} do
    local want = f == "zeros" and 0 or 1
    local a, b = ember[f](2, 3), ember[f]{2, 3}
    shape_eq(a, {2, 3}); shape_eq(b, {2, 3})
    T.eq(a.dtype, "float32")
    T.same(flat(a), {want, want, want, want, want, want})
    local c = ember[f](4, {dtype = "int32"})
    T.eq(c.dtype, "int32"); T.same(flat(c), {want, want, want, want})
    local d = ember[f]({2}, {dtype = "float64", requires_grad = true})
    T.eq(d.dtype, "float64"); T.eq(d.requires_grad, true)
    T.eq(ember[f](3).requires_grad, false)
    shape_eq(ember[f](), {})
    shape_eq(ember[f](0, 3), {0, 3})
  end
  local e = ember.empty(3, 2, {dtype = "uint8"})
  shape_eq(e, {3, 2}); T.eq(e.dtype, "uint8")
  shape_eq(ember.empty{5}, {5})
  local f = ember.full({2, 2}, 2.5)
  T.eq(f.dtype, "float32"); T.same(flat(f), {2.5, 2.5, 2.5, 2.5})
  T.eq(ember.full({3}, 4).dtype, "int64")
  T.eq(ember.full({3}, true).dtype, "bool")
  T.same(flat(ember.full({2}, 4, {dtype = "float64"})), {4, 4})
end)

T.test("rand randn randint randperm: ranges, dtypes, statistics", function()
  ember.manual_seed(1)
  local r = ember.rand(100, 100)
  shape_eq(r, {100, 100}); T.eq(r.dtype, "float32")
  local v = flat(r)
  local lo, hi = math.huge, -math.huge
  for _, x in ipairs(v) do lo = math.min(lo, x); hi = math.max(hi, x) end
  T.ok(lo >= 0 and hi < 1, "rand outside [0, 1)")
  T.near(lmean(v), 0.5, 0.02); T.near(lvar(v), 1 / 12, 0.02)
  T.eq(ember.rand({3}, {dtype = "float64"}).dtype, "float64")
  local n = flat(ember.randn{20000})
  T.near(lmean(n), 0, 0.03); T.near(math.sqrt(lvar(n)), 1, 0.03)
  T.eq(ember.randn(2, 2, {dtype = "float64"}).dtype, "float64")
  local ri = ember.randint(-3, 4, {2000})
  T.eq(ri.dtype, "int64"); shape_eq(ri, {2000})
  local seen = {}
  for _, x in ipairs(flat(ri)) do
    T.ok(math.type(x) == "integer" and x >= -3 and x <= 3, "randint value " .. tostring(x))
    seen[x] = true
  end
  for k = -3, 3 do T.ok(seen[k], "randint never drew " .. k) end
  T.eq(ember.randint(0, 5, {2, 3}, {dtype = "int32"}).dtype, "int32")
  shape_eq(ember.randint(0, 5, {2, 3}), {2, 3})
  local p = ember.randperm(50)
  T.eq(p.dtype, "int64")
  local got = flat(p)
  table.sort(got)
  for k = 1, 50 do T.eq(got[k], k, "randperm is 1-based") end
end)

T.test("manual_seed reproduces, set/get_num_threads", function()
  ember.manual_seed(123)
  local a = {flat(ember.rand(50)), flat(ember.randn(50)), flat(ember.randint(0, 100, {50})), flat(ember.randperm(20))}
  ember.manual_seed(123)
  local b = {flat(ember.rand(50)), flat(ember.randn(50)), flat(ember.randint(0, 100, {50})), flat(ember.randperm(20))}
  T.same(a, b)
  ember.manual_seed(124)
  T.ok(flat(ember.rand(50))[1] ~= a[1][1], "another seed gives other numbers")
  local n0 = ember.get_num_threads()
  T.ok(math.type(n0) == "integer" and n0 >= 1)
  local draws = {}
  for _, th in ipairs{1, 2} do
    ember.set_num_threads(th)
    T.eq(ember.get_num_threads(), th)
    ember.manual_seed(9)
    draws[th] = ember.randn(300000)
  end
  ember.set_num_threads(n0)
  T.eq(draws[1]:eq(draws[2]):all():item(), true, "same numbers with 1 and 2 threads")
end)

T.test("arange linspace eye", function()
  T.same(flat(ember.arange(5)), {0, 1, 2, 3, 4})
  T.same(flat(ember.arange(2, 6)), {2, 3, 4, 5})
  T.same(flat(ember.arange(10, 0, -3)), {10, 7, 4, 1})
  T.eq(ember.arange(5).dtype, "int64")
  local f = ember.arange(0, 1, 0.3)
  T.eq(f.dtype, "float32")
  near_list(f, {0, 0.3, 0.6, 0.9}, 1e-6)
  T.eq(ember.arange(3, {dtype = "float64"}).dtype, "float64")
  T.eq(ember.arange(0).numel and ember.arange(0):numel(), 0)
  local l = ember.linspace(-1, 2, 7)
  T.eq(l.dtype, "float32")
  local want = {}
  for i = 0, 6 do want[#want + 1] = -1 + 3 * i / 6 end
  near_list(l, want, 1e-6)
  near_list(ember.linspace(5, 5, 1), {5})
  T.eq(ember.linspace(0, 1, 3, {dtype = "float64"}).dtype, "float64")
  for _, n in ipairs{1, 3, 5} do
    local e = ember.eye(n)
    shape_eq(e, {n, n})
    local v = flat(e)
    for i = 1, n do for j = 1, n do T.eq(v[(i - 1) * n + j], i == j and 1 or 0) end end
  end
  T.same(ember.eye(2, 3):totable(), {{1, 0, 0}, {0, 1, 0}})
  T.eq(ember.eye(2, {dtype = "int64"}).dtype, "int64")
end)

T.test("the *_like forms keep shape and dtype, options override", function()
  local src = ember.tensor({{1, 2, 3}, {4, 5, 6}}, "float64")
  for _, f in ipairs{"zeros_like", "ones_like", "empty_like", "rand_like", "randn_like"} do
    local t = ember[f](src)
    shape_eq(t, {2, 3}, f); T.eq(t.dtype, "float64", f)
    T.eq(ember[f](src, {dtype = "float32"}).dtype, "float32", f)
  end
  T.same(flat(ember.zeros_like(src)), {0, 0, 0, 0, 0, 0})
  T.same(flat(ember.ones_like(src)), {1, 1, 1, 1, 1, 1})
  local fl = ember.full_like(src, 7)
  T.eq(fl.dtype, "float64"); T.same(flat(fl), {7, 7, 7, 7, 7, 7})
  local i = ember.tensor{1, 2}
  T.eq(ember.zeros_like(i).dtype, "int64")
  T.eq(ember.ones_like(i, {dtype = "bool"}).dtype, "bool")
  local r = flat(ember.rand_like(src))
  for _, x in ipairs(r) do T.ok(x >= 0 and x < 1) end
end)

---------------------------------------------------------------- Inspecting

T.test("shape size dim numel # dtype stride is_contiguous", function()
  local t = ember.zeros(2, 3, 4)
  T.same(t.shape, {2, 3, 4})
  T.same(t:size(), {2, 3, 4})
  T.eq(t:size(1), 2); T.eq(t:size(3), 4); T.eq(t:size(-1), 4); T.eq(t:size(-3), 2)
  T.eq(t:dim(), 3); T.eq(t:numel(), 24); T.eq(#t, 2); T.eq(t.dtype, "float32")
  T.same(t:stride(), {12, 4, 1})
  T.eq(t:stride(1), 12); T.eq(t:stride(-1), 1)
  T.eq(t:is_contiguous(), true)
  local p = t:permute(3, 1, 2)
  T.same(p:stride(), {1, 12, 4})
  T.eq(p:is_contiguous(), false)
  T.same(p:contiguous():stride(), {6, 3, 1})
  local s = ember.tensor(5)
  T.same(s.shape, {}); T.eq(s:dim(), 0); T.eq(s:numel(), 1)
  T.same(ember.arange(10):narrow(1, 2, 3):stride(), {1})
  T.same(ember.arange(10):view(5, 2)[{{1, -1, 2}}]:stride(), {4, 1})
  -- the shape table is a copy: changing it does not change the tensor
  local sh = t.shape
  sh[1] = 99
  T.eq(t:size(1), 2)
end)

T.test("item and totable for every dtype", function()
  T.eq(ember.tensor(2.5):item(), 2.5)
  T.eq(math.type(ember.tensor(2.5):item()), "float")
  T.eq(math.type(ember.tensor{3}:item()), "integer")
  T.eq(ember.tensor{{4}}:item(), 4)
  T.eq(ember.tensor(true):item(), true)
  T.eq(ember.tensor({200}, "uint8"):item(), 200)
  T.eq(ember.tensor({-7}, "int32"):item(), -7)
  T.same(ember.tensor({{1.5, 2}, {3, 4}}, "float64"):totable(), {{1.5, 2}, {3, 4}})
  T.same(ember.tensor({true, false}):totable(), {true, false})
  T.eq(ember.tensor(3):totable(), 3)   -- 0-dim: a plain value
  T.same(ember.zeros(0):totable(), {})
  -- totable of a non-contiguous view walks its strides
  T.same(ember.tensor{{1, 2}, {3, 4}}:t():totable(), {{1, 3}, {2, 4}})
end)

T.test("tostring: dtype, shape, grad state, 4 decimals, summarization", function()
  local s = tostring(ember.tensor{{1.0, 2.5}, {-3.25, 4.0}})
  for _, piece in ipairs{"1.0000", "2.5000", "-3.2500", "float32", "[2, 2]"} do
    T.ok(s:find(piece, 1, true), "missing " .. piece .. " in " .. s)
  end
  -- integral floats print without decimals, as PyTorch's "1."; fractions
  -- spanning more than 3 decades switch to scientific notation
  T.ok(tostring(ember.ones(2)):find("[1., 1.]", 1, true), tostring(ember.ones(2)))
  T.ok(tostring(ember.tensor{0.5, 1000.5}):find("1.0005e+03", 1, true))
  T.ok(tostring(ember.tensor{1.0, 0 / 0}):find(" 1., nan", 1, true), tostring(ember.tensor{1.0, 0 / 0}))
  T.ok(tostring(ember.tensor{1, 2}):find("int64", 1, true))
  T.ok(tostring(ember.tensor{true}):find("true", 1, true))
  local g = ember.ones(2):requires_grad_()
  T.ok(tostring(g):find("requires_grad", 1, true))
  T.ok(tostring(g * 2):find("grad_fn", 1, true))
  T.ok(not tostring(ember.ones(2)):find("grad", 1, true))
  -- up to 1000 elements in full, beyond: 3 edge items per dim and "..."
  local full = tostring(ember.arange(1000))
  T.ok(not full:find("...", 1, true), "1000 elements are printed in full")
  T.ok(full:find(" 500,", 1, true))
  local big = tostring(ember.arange(1001))
  T.ok(big:find("...", 1, true), "1001 elements are summarized")
  for _, v in ipairs{"0", "1", "2", "998", "999", "1000"} do T.ok(big:find(v, 1, true), "edge item " .. v) end
  T.ok(not big:find("500", 1, true) and not big:find(" 3,", 1, true), big)
  local m = tostring(ember.arange(10000):view(100, 100))
  T.ok(m:find("9999", 1, true) and not m:find("5050", 1, true) and #m < 1500, m)
end)

T.test("set_printoptions: precision threshold edgeitems linewidth", function()
  ember.set_printoptions{precision = 2}
  T.ok(tostring(ember.tensor{1.0 / 3}):find("0.33", 1, true))
  T.ok(not tostring(ember.tensor{1.0 / 3}):find("0.333", 1, true))
  ember.set_printoptions{precision = 6}
  T.ok(tostring(ember.tensor({1.0 / 3}, "float64")):find("0.333333", 1, true))
  ember.set_printoptions{precision = 4, threshold = 5}
  T.ok(tostring(ember.arange(7)):find("...", 1, true))
  T.ok(not tostring(ember.arange(5)):find("...", 1, true))
  -- as PyTorch, a dim of at most 2 * edgeitems entries is never elided
  T.ok(not tostring(ember.arange(6)):find("...", 1, true))
  ember.set_printoptions{edgeitems = 1}
  local s = tostring(ember.arange(100, 110))
  T.ok(s:find("100", 1, true) and s:find("109", 1, true) and not s:find("101", 1, true), s)
  ember.set_printoptions{threshold = 1000, edgeitems = 3, linewidth = 20}
  local wrapped = tostring(ember.arange(30))
  for line in wrapped:gmatch("[^\n]+") do
    if not line:find("dtype", 1, true) then T.ok(#line <= 24, "line longer than linewidth: " .. line) end
  end
  ember.set_printoptions{linewidth = 80}
  T.ok(#tostring(ember.arange(30)):match("[^\n]+") > 24)
end)

---------------------------------------------------------------- Converting

T.test("to float double long int byte bool: values and dtypes", function()
  local x = ember.tensor({-2.7, -0.5, 0, 1.5, 3.9}, "float64")
  T.same(flat(x:long()), {-2, 0, 0, 1, 3})      -- truncation toward zero, as C and PyTorch
  T.eq(x:long().dtype, "int64")
  T.same(flat(x:int()), {-2, 0, 0, 1, 3}); T.eq(x:int().dtype, "int32")
  T.same(flat(x:bool()), {true, true, false, true, true})
  T.eq(x:float().dtype, "float32"); near_list(x:float(), {-2.7, -0.5, 0, 1.5, 3.9}, 1e-6)
  T.eq(x:float():double().dtype, "float64")
  T.same(flat(ember.tensor{0, 1, 255}:byte()), {0, 1, 255}); T.eq(ember.tensor{1}:byte().dtype, "uint8")
  T.same(flat(ember.tensor{true, false}:long()), {1, 0})
  T.same(flat(ember.tensor{true, false}:float()), {1, 0})
  for _, dt in ipairs{"float32", "float64", "int64", "int32", "uint8", "bool"} do
    local y = ember.tensor{1, 0, 2}:to(dt)
    T.eq(y.dtype, dt)
  end
  -- to() the same dtype still gives a tensor with the same values
  T.same(flat(ember.tensor{1, 2}:to("int64")), {1, 2})
  -- conversions of non-contiguous views
  T.same(ember.tensor{{1, 2}, {3, 4}}:t():double():totable(), {{1, 3}, {2, 4}})
end)

T.test("clone contiguous detach", function()
  local a = ember.tensor{{1.0, 2.0}, {3.0, 4.0}}
  local c = a:clone()
  c[1][1] = 9
  T.eq(a[1][1], 1, "clone owns its storage")
  T.eq(c.dtype, a.dtype)
  local tt = a:t()
  local cc = tt:contiguous()
  T.eq(cc:is_contiguous(), true)
  T.same(cc:totable(), {{1, 3}, {2, 4}})
  T.same(cc:stride(), {2, 1})
  T.eq(a:contiguous():is_contiguous(), true)
  local w = ember.ones(2):requires_grad_()
  local y = w * 3
  local d = y:detach()
  T.eq(d.requires_grad, false); T.eq(d.grad_fn, nil)
  T.same(flat(d), {3, 3})
  -- detach shares storage (as PyTorch): writes show through
  d[1] = 5
  T.eq(flat(y)[1], 5)
end)

---------------------------------------------------------------- Views

T.test("view reshape flatten with -1, shared storage", function()
  local base = ember.arange(24)
  local v = base:view(2, 3, 4)
  shape_eq(v, {2, 3, 4})
  T.eq(v[2][3][4], 23)
  shape_eq(base:view{4, -1}, {4, 6})
  shape_eq(base:view(-1, 2, 3), {4, 2, 3})
  v[1][1][1] = 100
  T.eq(base[1], 100, "view shares storage")
  base[1] = 0
  local r = v:transpose(1, 3):reshape(-1)   -- non-contiguous: reshape copies
  shape_eq(r, {24})
  local want = {}
  for k = 0, 3 do for j = 0, 2 do for i = 0, 1 do want[#want + 1] = i * 12 + j * 4 + k end end end
  T.same(flat(r), want)
  shape_eq(v:reshape(6, 4), {6, 4})
  shape_eq(v:flatten(), {24})
  shape_eq(v:flatten(2), {2, 12})
  shape_eq(ember.zeros(2, 3, 4, 5):flatten(2, 3), {2, 12, 5})
  shape_eq(ember.zeros(2, 3, 4, 5):flatten(-3, -2), {2, 12, 5})
  shape_eq(ember.tensor(1):view(1), {1})
  shape_eq(ember.ones(1):view(), {})
end)

T.test("squeeze unsqueeze transpose t permute", function()
  local x = ember.zeros(1, 3, 1, 2)
  shape_eq(x:squeeze(), {3, 2})
  shape_eq(x:squeeze(1), {3, 1, 2})
  shape_eq(x:squeeze(3), {1, 3, 2})
  shape_eq(x:squeeze(-2), {1, 3, 2})
  shape_eq(x:squeeze(2), {1, 3, 1, 2})     -- size 3: unchanged, as PyTorch
  local y = ember.arange(6):view(2, 3)
  shape_eq(y:unsqueeze(1), {1, 2, 3})
  shape_eq(y:unsqueeze(3), {2, 3, 1})
  shape_eq(y:unsqueeze(-1), {2, 3, 1})
  shape_eq(y:unsqueeze(-3), {1, 2, 3})
  T.same(y:t():totable(), {{0, 3}, {1, 4}, {2, 5}})
  T.same(y:transpose(1, 2):totable(), {{0, 3}, {1, 4}, {2, 5}})
  T.same(y:transpose(-1, -2):totable(), {{0, 3}, {1, 4}, {2, 5}})
  local z = ember.arange(24):view(2, 3, 4)
  local p = z:permute(3, 1, 2)
  shape_eq(p, {4, 2, 3})
  for i = 1, 4 do for j = 1, 2 do for k = 1, 3 do
    T.eq(p[i][j][k], z[j][k][i])
  end end end
  shape_eq(z:permute{2, 3, 1}, {3, 4, 2})
  shape_eq(z:permute(-1, 1, 2), {4, 2, 3})
  -- views share storage
  y:t()[3][2] = 50
  T.eq(y[2][3], 50)
end)

T.test("narrow select expand expand_as", function()
  local z = ember.arange(24):view(2, 3, 4)
  T.same(z:narrow(3, 2, 2):totable(), {{{1, 2}, {5, 6}, {9, 10}}, {{13, 14}, {17, 18}, {21, 22}}})
  T.same(z:narrow(-1, -2, 2)[1][1]:totable(), {2, 3})
  T.same(z:select(2, 3):totable(), {{8, 9, 10, 11}, {20, 21, 22, 23}})
  T.same(z:select(-1, -1):totable(), {{3, 7, 11}, {15, 19, 23}})
  T.same(z:select(1, 2):select(1, 1):totable(), {12, 13, 14, 15})
  z:narrow(1, 2, 1):select(2, 1)[1][1] = -1
  T.eq(z[2][1][1], -1, "narrow/select are views")
  local col = ember.tensor{{1}, {2}}
  local e = col:expand(2, 3)
  T.same(e:totable(), {{1, 1, 1}, {2, 2, 2}})
  T.same(e:stride(), {1, 0})
  T.same(col:expand(-1, 2):totable(), {{1, 1}, {2, 2}})
  shape_eq(col:expand{4, 2, 5}, {4, 2, 5})
  local ea = ember.tensor{1, 2, 3}:expand_as(ember.zeros(2, 3))
  T.same(ea:totable(), {{1, 2, 3}, {1, 2, 3}})
end)

T.test("chunk split cat stack", function()
  local x = ember.arange(10)
  local c = x:chunk(4)
  T.eq(#c, 4)
  T.same(map(c, function(t) return t:numel() end), {3, 3, 3, 1})
  T.same(flat(c[4]), {9})
  local m = ember.arange(12):view(3, 4)
  local c2 = m:chunk(2, 2)
  T.same(c2[2]:totable(), {{2, 3}, {6, 7}, {10, 11}})
  local s = x:split(3)
  T.same(map(s, function(t) return t:numel() end), {3, 3, 3, 1})
  T.same(flat(s[2]), {3, 4, 5})
  T.same(m:split(2, 1)[2]:totable(), {{8, 9, 10, 11}})
  T.same(m:split(3, -1)[2]:totable(), {{3}, {7}, {11}})
  s[1][1] = 77
  T.eq(x[1], 77, "split gives views")
  -- cat and stack, dims 1-based and negative
  local a, b = ember.tensor{{1, 2}}, ember.tensor{{3, 4}, {5, 6}}
  T.same(ember.cat({a, b}, 1):totable(), {{1, 2}, {3, 4}, {5, 6}})
  T.same(ember.cat({a, b}):totable(), {{1, 2}, {3, 4}, {5, 6}})
  T.same(ember.cat({b, b:t()}, 2):totable(), {{3, 4, 3, 5}, {5, 6, 4, 6}})
  T.same(ember.cat({b, b}, -1):totable(), {{3, 4, 3, 4}, {5, 6, 5, 6}})
  local p, q = ember.tensor{1, 2, 3}, ember.tensor{4, 5, 6}
  T.same(ember.stack({p, q}):totable(), {{1, 2, 3}, {4, 5, 6}})
  T.same(ember.stack({p, q}, 1):totable(), {{1, 2, 3}, {4, 5, 6}})
  T.same(ember.stack({p, q}, 2):totable(), {{1, 4}, {2, 5}, {3, 6}})
  T.same(ember.stack({p, q}, -1):totable(), {{1, 4}, {2, 5}, {3, 6}})
  -- cat promotes dtypes as PyTorch
  T.eq(ember.cat({ember.tensor{1}, ember.tensor{1.5}}).dtype, "float32")
end)

T.test("t[i] and t[{...}]: integers, ranges, steps, {}, negatives", function()
  local data = {}
  for i = 1, 4 do data[i] = {}; for j = 1, 5 do data[i][j] = 10 * i + j end end
  local t = ember.tensor(data)
  for i = 1, 4 do for j = 1, 5 do
    T.eq(t[i][j], data[i][j])
    T.eq(t[i - 5][j - 6], data[i][j], "negative indices")
    T.eq(t[{i, j}]:item(), data[i][j])
    T.eq(t[{-5 + i, j}]:item(), data[i][j])
  end end
  T.eq(ember.tensor{5, 6}[1], 5, "1-D t[i] is a number")
  T.same(t[2]:totable(), data[2])
  T.same(t[{2}]:totable(), data[2])
  T.same(t[{{}, 3}]:totable(), {13, 23, 33, 43})
  T.same(t[{{2, 3}}]:totable(), {data[2], data[3]})
  T.same(t[{{2, 3}, {4, 5}}]:totable(), {{24, 25}, {34, 35}})
  T.same(t[{{-2, -1}, -1}]:totable(), {35, 45})
  T.same(t[{{}, {1, 5, 2}}]:totable(), {{11, 13, 15}, {21, 23, 25}, {31, 33, 35}, {41, 43, 45}})
  T.same(t[{{1, -1, 3}, {2, -2, 2}}]:totable(), {{12, 14}, {42, 44}})
  T.same(t[{{1, 4, 2}}]:totable(), {data[1], data[3]})
  T.same(t[{{}, {}}]:totable(), data)
  T.same(t[{{3, 3}, 2}]:totable(), {32})
  -- a slice is a view
  local v = t[{{2, 3}, {2, 3}}]
  v[1][1] = 0
  T.eq(t[2][2], 0)
end)

T.test("bool mask keys select in row-major order", function()
  local x = ember.tensor{{1.0, -2.0, 3.0}, {-4.0, 5.0, -6.0}}
  local m = x:gt(0)
  T.same(x[m]:totable(), {1, 3, 5})
  T.same(x[x:lt(-3)]:totable(), {-4, -6})
  T.same(x[ember.zeros(2, 3):bool()]:totable(), {})
  T.same(x:t()[x:t():gt(0)]:totable(), {1, 5, 3})   -- a view: its own row-major order
end)

T.test("every index form assigns: numbers, tensors, broadcast, masks", function()
  local t = ember.zeros(3, 4)
  t[2] = 1                                   -- a row, from a number
  T.same(t[2]:totable(), {1, 1, 1, 1})
  t[3] = ember.tensor{1.0, 2.0, 3.0, 4.0}    -- a row, from a tensor
  T.same(t[3]:totable(), {1, 2, 3, 4})
  t[1][2] = 7                                -- t[i][j] on a row view
  T.eq(t[1][2], 7)
  t[{1, 3}] = 8                               -- integer indices
  T.eq(t[1][3], 8)
  t[{-1, -1}] = 9                             -- negatives
  T.eq(t[3][4], 9)
  t[{{}, 1}] = -1                             -- {} and an integer
  T.same(t[{{}, 1}]:totable(), {-1, -1, -1})
  t[{{1, 2}, {3, 4}}] = ember.tensor{{10.0, 11.0}, {12.0, 13.0}}
  T.same(t[{{1, 2}, {3, 4}}]:totable(), {{10, 11}, {12, 13}})
  t[{{}, {2, 4, 2}}] = ember.tensor{5.0, 6.0}  -- a step, broadcast
  T.same(t:totable(), {{-1, 5, 10, 6}, {-1, 5, 12, 6}, {-1, 5, 3, 6}})
  t[{{2, -1}}] = 0
  T.same(t[2]:totable(), {0, 0, 0, 0})
  T.same(t[3]:totable(), {0, 0, 0, 0})
  t[{}] = 4                                   -- whole tensor
  T.eq(t:sum():item(), 48)
  -- masks: a number, and a tensor of the selected count
  local x = ember.tensor{{1.0, -2.0}, {-3.0, 4.0}}
  x[x:lt(0)] = 0
  T.same(x:totable(), {{1, 0}, {0, 4}})
  x[x:eq(0)] = ember.tensor{7.0, 8.0}
  T.same(x:totable(), {{1, 7}, {8, 4}})
  -- values are cast to the tensor's dtype
  local i = ember.zeros(2, {dtype = "int64"})
  i[1] = 3
  T.same(flat(i), {3, 0})
  local b = ember.zeros(3, {dtype = "bool"})
  b[2] = true
  T.same(flat(b), {false, true, false})
end)

---------------------------------------------------------------- Math: elementwise

-- op name, reference function, domain [lo, hi], float32 tolerance
local UNARY = {
  {"neg", function(x) return -x end, -5, 5},
  {"abs", math.abs, -5, 5},
  {"exp", math.exp, -10, 10},
  {"log", math.log, 0.01, 10},
  {"log1p", function(x) return math.log(1 + x) end, -0.9, 10},
  {"sqrt", math.sqrt, 0, 10},
  {"rsqrt", function(x) return 1 / math.sqrt(x) end, 0.01, 10},
  {"sin", math.sin, -10, 10},
  {"cos", math.cos, -10, 10},
  {"tanh", function(x) local e = math.exp(2 * x); return (e - 1) / (e + 1) end, -5, 5},
  {"sigmoid", sigmoid, -10, 10},
  {"relu", function(x) return math.max(x, 0) end, -5, 5},
  {"gelu", function(x) return 0.5 * x * (1 + erf(x / math.sqrt(2))) end, -3, 3},
  {"silu", function(x) return x * sigmoid(x) end, -10, 10},
  {"softplus", function(x) return math.log(1 + math.exp(x)) end, -15, 15},
  {"floor", math.floor, -5, 5},
  {"ceil", math.ceil, -5, 5},
  {"round", rne, -5, 5},
  {"sign", function(x) return x > 0 and 1 or (x < 0 and -1 or 0) end, -5, 5},
  {"reciprocal", function(x) return 1 / x end, 0.1, 5},
}

T.test("unary ops vs math.* on random values (float64 and float32, method and function)", function()
  for _, u in ipairs(UNARY) do
    local name, f, lo, hi = u[1], u[2], u[3], u[4]
    local xs = rlist(60, lo, hi)
    local want = map(xs, f)
    local x64 = mk(xs, {6, 10})
    near_list(x64[name](x64), want, 1e-12, name .. " float64")
    near_list(ember[name](x64), want, 1e-12, "ember." .. name)
    T.eq(x64[name](x64).dtype, "float64", name)
    -- float32: compare against f of the float32-rounded inputs
    local x32 = x64:float()
    local want32 = map(flat(x32), f)
    local y32 = x32[name](x32)
    T.eq(y32.dtype, "float32", name)
    near_list(y32, want32, 2e-6, name .. " float32")
    -- a non-contiguous input gives the same values in its own order
    local xt = x64:t()
    near_list(xt[name](xt), flat(ember.tensor(nest(want, {6, 10}), "float64"):t()), 1e-12, name .. " transposed")
    -- the in-place form writes into the tensor and returns it
    local c = x64:clone()
    T.eq(c[name .. "_"](c), c, name .. "_ returns self")
    near_list(c, want, 1e-12, name .. "_")
  end
end)

T.test("round is half to even; sign of 0; edge values", function()
  T.same(flat(ember.tensor({0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.4999}, "float64"):round()), {0, 2, 2, -0, -2, -2, 0})
  T.same(flat(ember.tensor{-2.0, 0.0, 3.0}:sign()), {-1, 0, 1})
  T.same(flat(ember.tensor{-2, 0, 3}:sign()), {-1, 0, 1})
  T.eq(ember.tensor{-2, 0, 3}:abs().dtype, "int64")
  T.same(flat(ember.tensor{-2, 0, 3}:abs()), {2, 0, 3})
  T.same(flat(ember.tensor{-2, 0, 3}:neg()), {2, 0, -3})
  -- float functions of integer tensors give float32 (PyTorch)
  T.eq(ember.tensor{1, 4}:sqrt().dtype, "float32")
  near_list(ember.tensor{1, 4}:sqrt(), {1, 2}, 1e-7)
  T.eq(ember.tensor{0, 1}:exp().dtype, "float32")
  T.eq(ember.exp(ember.tensor{true}).dtype, "float32")
  local big = ember.tensor({-1000, 1000}, "float64")
  near_list(big:sigmoid(), {0, 1})
  near_list(big:softplus(), {0, 1000})
  T.eq(ember.tensor({0.0}, "float64"):log()[1], -math.huge)
end)

T.test("leaky_relu clamp logical_not isnan", function()
  local xs = rlist(40, -5, 5)
  local x = mk(xs, {40})
  near_list(x:leaky_relu(), map(xs, function(v) return v > 0 and v or 0.01 * v end))
  near_list(x:leaky_relu(0.2), map(xs, function(v) return v > 0 and v or 0.2 * v end))
  near_list(ember.leaky_relu(x, 0.3), map(xs, function(v) return v > 0 and v or 0.3 * v end))
  near_list(x:clamp(-1, 2), map(xs, function(v) return math.min(math.max(v, -1), 2) end))
  near_list(x:clamp(0.5), map(xs, function(v) return math.max(v, 0.5) end))
  near_list(x:clamp(nil, 0.5), map(xs, function(v) return math.min(v, 0.5) end))
  near_list(ember.clamp(x, -1, 1), map(xs, function(v) return math.min(math.max(v, -1), 1) end))
  local c = x:clone()
  T.eq(c:clamp_(-2, 2), c)
  near_list(c, map(xs, function(v) return math.min(math.max(v, -2), 2) end))
  T.same(flat(ember.tensor{3, -4, 9}:clamp(0, 5)), {3, 0, 5})
  T.eq(ember.tensor{3, -4, 9}:clamp(0, 5).dtype, "int64")
  T.same(flat(ember.tensor{1.0, 0.0, -2.0}:logical_not()), {false, true, false})
  T.same(flat(ember.tensor{1, 0}:logical_not()), {false, true})
  T.eq(ember.tensor{true}:logical_not().dtype, "bool")
  T.same(flat(ember.tensor{0 / 0, 1.0, math.huge}:isnan()), {true, false, false})
  T.same(flat(ember.tensor{1, 2}:isnan()), {false, false})
end)

-- name, Lua reference, positive-only right operand
local BINARY = {
  {"add", function(a, b) return a + b end},
  {"sub", function(a, b) return a - b end},
  {"mul", function(a, b) return a * b end},
  {"div", function(a, b) return a / b end, true},
  {"pow", function(a, b) return a ^ b end, true},
  {"remainder", function(a, b) return a % b end, true},
  {"maximum", math.max},
  {"minimum", math.min},
}

T.test("binary ops vs Lua on random values: tensor-tensor, broadcast, number on either side", function()
  for _, op in ipairs(BINARY) do
    local name, f, pos = op[1], op[2], op[3]
    local as = rlist(12, pos and 0.5 or -3, 3)
    local bs = rlist(4, pos and 0.5 or -3, 3)
    local a, b = mk(as, {3, 4}), mk(bs, {4})
    local want = {}
    for i = 1, 3 do for j = 1, 4 do want[#want + 1] = f(as[(i - 1) * 4 + j], bs[j]) end end
    near_list(a[name](a, b), want, 1e-12, name .. " broadcast [3,4] with [4]")
    near_list(ember[name](a, b), want, 1e-12, "ember." .. name)
    shape_eq(a[name](a, b), {3, 4})
    -- [3,1] with [4] -> [3,4]
    local col = mk({as[1], as[2], as[3]}, {3, 1})
    local w2 = {}
    for i = 1, 3 do for j = 1, 4 do w2[#w2 + 1] = f(as[i], bs[j]) end end
    near_list(col[name](col, b), w2, 1e-12, name .. " [3,1] with [4]")
    -- numbers on either side
    near_list(a[name](a, 1.5), map(as, function(v) return f(v, 1.5) end), 1e-12, name .. " tensor, number")
    near_list(ember[name](1.5, a), map(as, function(v) return f(1.5, v) end), 1e-12, name .. " number, tensor")
    -- float32
    local a32, b32 = a:float(), b:float()
    local fa, fb = flat(a32), flat(b32)
    local w32 = {}
    for i = 1, 3 do for j = 1, 4 do w32[#w32 + 1] = f(fa[(i - 1) * 4 + j], fb[j]) end end
    near_list(a32[name](a32, b32), w32, 1e-5, name .. " float32")
    T.eq(a32[name](a32, b32).dtype, "float32")
    -- in place
    local c = a:clone()
    T.eq(c[name .. "_"](c, b), c)
    near_list(c, want, 1e-12, name .. "_")
  end
end)

T.test("operators + - * / % ^ and unary -, number on either side", function()
  local as, bs = rlist(6, 0.5, 4), rlist(6, 0.5, 4)
  local a, b = mk(as, {2, 3}), mk(bs, {2, 3})
  local function each(f) local r = {}; for i = 1, 6 do r[i] = f(as[i], bs[i]) end; return r end
  near_list(a + b, each(function(x, y) return x + y end))
  near_list(a - b, each(function(x, y) return x - y end))
  near_list(a * b, each(function(x, y) return x * y end))
  near_list(a / b, each(function(x, y) return x / y end))
  near_list(a % b, each(function(x, y) return x % y end))
  near_list(a ^ b, each(function(x, y) return x ^ y end))
  near_list(-a, map(as, function(x) return -x end))
  for _, k in ipairs{2, -1.5, 0.25} do
    near_list(a + k, map(as, function(x) return x + k end)); near_list(k + a, map(as, function(x) return k + x end))
    near_list(a - k, map(as, function(x) return x - k end)); near_list(k - a, map(as, function(x) return k - x end))
    near_list(a * k, map(as, function(x) return x * k end)); near_list(k * a, map(as, function(x) return k * x end))
    near_list(a / k, map(as, function(x) return x / k end)); near_list(k / a, map(as, function(x) return k / x end))
    near_list(a % k, map(as, function(x) return x % k end)); near_list(k % a, map(as, function(x) return k % x end))
    near_list(a ^ 2, map(as, function(x) return x ^ 2 end)); near_list(2 ^ a, map(as, function(x) return 2 ^ x end))
  end
  -- integer remainder and floor semantics follow Lua (sign of the divisor)
  local ints = {7, -7, 6, -1, 0}
  for _, d in ipairs{3, -3, 2} do
    T.same(flat(ember.tensor(ints) % d), map(ints, function(x) return x % d end))
  end
  -- operators on non-contiguous and broadcast operands
  local m = ember.tensor{{1.0, 2.0}, {3.0, 4.0}}
  T.same((m:t() + m):totable(), {{2, 5}, {5, 8}})
  T.same((m * ember.tensor{{10.0}, {100.0}}):totable(), {{10, 20}, {300, 400}})
  -- 0-dim with n-dim
  T.same(flat(ember.tensor(2.0) * m), {2, 4, 6, 8})
end)

T.test("comparisons and logical ops vs Lua, as bool", function()
  local as = map(rlist(20, -3, 3), function(v) return math.floor(v) end)
  local bs = map(rlist(20, -3, 3), function(v) return math.floor(v) end)
  local a, b = mk(as, {4, 5}), mk(bs, {4, 5})
  local cmp = {
    eq = function(x, y) return x == y end, ne = function(x, y) return x ~= y end,
    lt = function(x, y) return x < y end, le = function(x, y) return x <= y end,
    gt = function(x, y) return x > y end, ge = function(x, y) return x >= y end,
  }
  for name, f in pairs(cmp) do
    local r = a[name](a, b)
    T.eq(r.dtype, "bool", name)
    local want = {}
    for i = 1, 20 do want[i] = f(as[i], bs[i]) end
    T.same(flat(r), want, name)
    T.same(flat(ember[name](a, 0)), map(as, function(x) return f(x, 0) end), name .. " with a number")
    T.same(flat(ember[name](0, a)), map(as, function(x) return f(0, x) end), name .. " number first")
    T.same(flat(a:int()[name](a:int(), b)), want, name .. " int32 vs float64")
  end
  local p, q = a:gt(0), b:gt(0)
  local wa, wo = {}, {}
  for i = 1, 20 do wa[i] = as[i] > 0 and bs[i] > 0; wo[i] = as[i] > 0 or bs[i] > 0 end
  T.same(flat(p:logical_and(q)), wa)
  T.same(flat(ember.logical_or(p, q)), wo)
  -- logical ops on numbers: nonzero is true
  T.same(flat(ember.tensor{0, 2, 0}:logical_and(ember.tensor{1.0, 1.0, 0.0})), {false, true, false})
  T.same(flat(ember.tensor{0, 2, 0}:logical_or(ember.tensor{1.0, 0.0, 0.0})), {true, true, false})
end)

T.test("dtype promotion follows PyTorch (a number is a weak scalar)", function()
  local i64, i32 = ember.tensor{1, 2}, ember.tensor({1, 2}, "int32")
  local u8, b = ember.tensor({1, 2}, "uint8"), ember.tensor{true, false}
  local f32, f64 = ember.tensor{1.0, 2.0}, ember.tensor({1.0, 2.0}, "float64")
  local cases = {
    {i64 * 0.5, "float32"}, {0.5 * i64, "float32"}, {f32 * 2, "float32"}, {2 * f32, "float32"},
    {f32 * 2.5, "float32"}, {f64 * 2, "float64"}, {i64 * 2, "int64"}, {i32 * 2, "int32"},
    {i32 * 2.5, "float32"}, {u8 * 2, "uint8"}, {u8 + 1.5, "float32"},
    {i64 + f32, "float32"}, {f32 + i64, "float32"}, {i32 + f64, "float64"}, {f32 + f64, "float64"},
    {u8 + i32, "int32"}, {i32 + u8, "int32"}, {u8 + i64, "int64"}, {i32 + i64, "int64"},
    {b + b, "bool"}, {b + 1, "int64"}, {b * 1.5, "float32"}, {b + u8, "uint8"}, {b + i32, "int32"},
    {b + f64, "float64"}, {i64 / 2, "float32"}, {i64 / i64, "float32"}, {u8 / u8, "float32"},
    {i32 / f64, "float64"}, {i64 ^ 2, "int64"}, {i64 ^ 0.5, "float32"}, {2 ^ i64, "int64"},
    {2.5 ^ i64, "float32"}, {i64 % 2, "int64"}, {f32 % 2, "float32"}, {-i32, "int32"},
    {ember.maximum(i32, f32), "float32"}, {ember.where(b, i64, f32), "float32"},
    {ember.where(b, i32, 1.5), "float32"}, {f64:lt(i64), "bool"},
    -- 0-dim tensors do not promote a dimensioned one within a category
    {f32 + ember.tensor(1.0, "float64"), "float32"}, {i32 + ember.tensor(5), "int32"},
    {i64 + ember.tensor(1.5), "float32"},
  }
  for k, c in ipairs(cases) do T.eq(c[1].dtype, c[2], "case " .. k) end
  -- values under promotion
  T.same(flat(u8 + i32), {2, 4})
  near_list(i64 * 0.5, {0.5, 1})
  T.same(flat(ember.tensor({250}, "uint8") + ember.tensor({10}, "uint8")), {4})   -- uint8 wraps
  T.same(flat(i64 ^ 2), {1, 4})
  near_list(i64 / 2, {0.5, 1})
end)

T.test("where and masked_fill vs Lua loops", function()
  local as, bs = rlist(12, -1, 1), rlist(12, -1, 1)
  local a, b = mk(as, {3, 4}), mk(bs, {3, 4})
  local cond = a:gt(b)
  local want = {}
  for i = 1, 12 do want[i] = as[i] > bs[i] and as[i] or bs[i] end
  near_list(ember.where(cond, a, b), want)
  near_list(ember.where(cond, a, 0), map(as, function(v) return 0 end) and (function()
    local r = {}; for i = 1, 12 do r[i] = as[i] > bs[i] and as[i] or 0 end; return r end)())
  near_list(ember.where(cond, 1, -1), (function()
    local r = {}; for i = 1, 12 do r[i] = as[i] > bs[i] and 1 or -1 end; return r end)())
  -- broadcasting cond [3,1] with a [3,4] and b [4]
  local rc = ember.tensor{{true}, {false}, {true}}
  local wb = ember.where(rc, a, b[1])
  shape_eq(wb, {3, 4})
  for i = 1, 3 do for j = 1, 4 do
    T.near(wb[i][j], (i ~= 2) and as[(i - 1) * 4 + j] or bs[j])
  end end
  local mf = a:masked_fill(a:lt(0), 9)
  near_list(mf, map(as, function(v) return v < 0 and 9 or v end))
  near_list(ember.masked_fill(a, ember.tensor{true, false, false, true}, -5), (function()
    local r = {}; for i = 1, 12 do local j = (i - 1) % 4 + 1; r[i] = (j == 1 or j == 4) and -5 or as[i] end; return r end)())
end)

---------------------------------------------------------------- Math: reductions

T.test("sum mean prod amax amin over all and each dim, keepdim", function()
  local shape = {3, 4, 5}
  local xs = rlist(60, -2, 2)
  local x = mk(xs, shape)
  local refs = {
    sum = lsum, mean = lmean, prod = lprod,
    amax = function(v) return math.max(table.unpack(v)) end,
    amin = function(v) return math.min(table.unpack(v)) end,
  }
  for name, f in pairs(refs) do
    local all = x[name](x)
    T.eq(all:dim(), 0, name .. " over everything is 0-dim")
    T.near(all:item(), f(xs), 1e-10, name)
    for _, dim in ipairs{1, 2, 3, -1, -3} do
      local d = dim < 0 and dim + 4 or dim
      local want, oshape = reduce_ref(xs, shape, d, f)
      local r = x[name](x, dim)
      shape_eq(r, oshape, name .. " dim " .. dim)
      near_list(r, want, 1e-10, name .. " dim " .. dim)
      local k = x[name](x, dim, true)
      local kshape = {3, 4, 5}; kshape[d] = 1
      shape_eq(k, kshape, name .. " keepdim")
      near_list(k, want, 1e-10, name .. " keepdim")
      near_list(ember[name](x, dim), want, 1e-10, "ember." .. name)
    end
  end
  -- a reduction of a non-contiguous view
  near_list(x:permute(3, 1, 2):sum(3), flat(ember.tensor(nest(reduce_ref(xs, shape, 2, lsum), {3, 5}), "float64"):t()), 1e-10)
  -- sum over several dims
  near_list(x:sum{1, 3}, reduce_ref(reduce_ref(xs, shape, 3, lsum), {3, 4}, 1, lsum), 1e-10)
  -- integer sums stay int64, bool sums count
  T.eq(ember.tensor{1, 2, 3}:sum():item(), 6)
  T.eq(ember.tensor({1, 2, 3}, "int32"):sum().dtype, "int64")
  T.eq(ember.tensor{true, true, false}:sum():item(), 2)
  T.eq(ember.tensor{2, 3, 4}:prod():item(), 24)
  T.eq(ember.tensor{2, 3, 4}:prod().dtype, "int64")
  near_list(ember.tensor{1.0, 2.0}:mean(), {1.5})
  -- float32 sums of many values stay accurate
  local big = ember.ones(1000000)
  T.eq(big:sum():item(), 1000000)
  T.near(big:mean():item(), 1, 1e-6)
end)

T.test("max min argmax argmin: values and 1-based indices", function()
  local shape = {4, 6}
  local xs = rlist(24, -5, 5)
  local x = mk(xs, shape)
  local function best(better) return function(v) return argbest(v, better) end end
  local gt, lt = function(p, q) return p > q end, function(p, q) return p < q end
  T.near(x:max():item(), math.max(table.unpack(xs)))
  T.near(x:min():item(), math.min(table.unpack(xs)))
  T.eq(x:argmax():item(), argbest(xs, gt), "argmax over all is a flat 1-based index")
  T.eq(x:argmin():item(), argbest(xs, lt))
  for _, dim in ipairs{1, 2, -1, -2} do
    local d = dim < 0 and dim + 3 or dim
    for _, spec in ipairs{{"max", gt}, {"min", lt}} do
      local name, cmp = spec[1], spec[2]
      local v, i = x[name](x, dim)
      local wi, oshape = reduce_ref(xs, shape, d, best(cmp))
      local wv = reduce_ref(xs, shape, d, function(vals) return vals[argbest(vals, cmp)] end)
      shape_eq(v, oshape); near_list(v, wv)
      T.eq(i.dtype, "int64"); T.same(flat(i), wi, name .. " indices dim " .. dim)
      local vk, ik = x[name](x, dim, true)
      local ks = {4, 6}; ks[d] = 1
      shape_eq(vk, ks); shape_eq(ik, ks); T.same(flat(ik), wi)
      local arg = x["arg" .. name](x, dim)
      T.same(flat(arg), wi, "arg" .. name .. " dim " .. dim)
      shape_eq(x["arg" .. name](x, dim, true), ks)
    end
  end
  -- max(a, b) is elementwise
  near_list(ember.max(x, ember.zeros(4, 6, {dtype = "float64"})), map(xs, function(v) return math.max(v, 0) end))
  -- integer max keeps the dtype
  local iv, ii = ember.tensor{{3, 9, 1}, {7, 2, 8}}:max(2)
  T.same(flat(iv), {9, 8}); T.same(flat(ii), {2, 3}); T.eq(iv.dtype, "int64")
end)

T.test("var std (correction), norm, logsumexp vs Lua", function()
  local shape = {3, 5}
  local xs = rlist(15, -3, 3)
  local x = mk(xs, shape)
  T.near(x:var():item(), lvar(xs, 1), 1e-10)
  T.near(x:std():item(), math.sqrt(lvar(xs, 1)), 1e-10)
  T.near(x:var({correction = 0}):item(), lvar(xs, 0), 1e-10)
  T.near(x:std({correction = 0}):item(), math.sqrt(lvar(xs, 0)), 1e-10)
  for _, dim in ipairs{1, 2, -1} do
    local d = dim < 0 and dim + 3 or dim
    near_list(x:var(dim), reduce_ref(xs, shape, d, function(v) return lvar(v, 1) end), 1e-10)
    near_list(x:std(dim), reduce_ref(xs, shape, d, function(v) return math.sqrt(lvar(v, 1)) end), 1e-10)
    near_list(x:var(dim, {correction = 0}), reduce_ref(xs, shape, d, function(v) return lvar(v, 0) end), 1e-10)
    local ks = {3, 5}; ks[d] = 1
    shape_eq(x:var(dim, {keepdim = true}), ks)
    shape_eq(x:std(dim, {keepdim = true}), ks)
    -- norm
    local function pnorm(p)
      return function(v)
        local s = 0
        for _, a in ipairs(v) do s = s + math.abs(a) ^ p end
        return s ^ (1 / p)
      end
    end
    near_list(x:norm(2, dim), reduce_ref(xs, shape, d, pnorm(2)), 1e-10)
    near_list(x:norm(1, dim), reduce_ref(xs, shape, d, pnorm(1)), 1e-10)
    near_list(x:norm(3, dim), reduce_ref(xs, shape, d, pnorm(3)), 1e-10)
    near_list(x:norm("inf", dim), reduce_ref(xs, shape, d, function(v)
      local m = 0; for _, a in ipairs(v) do m = math.max(m, math.abs(a)) end; return m end), 1e-10)
    shape_eq(x:norm(2, dim, true), ks)
    -- logsumexp
    local function lse(v) local s = 0; for _, a in ipairs(v) do s = s + math.exp(a) end; return math.log(s) end
    near_list(x:logsumexp(dim), reduce_ref(xs, shape, d, lse), 1e-10)
    shape_eq(x:logsumexp(dim, true), ks)
  end
  local s2 = 0
  for _, a in ipairs(xs) do s2 = s2 + a * a end
  T.near(x:norm():item(), math.sqrt(s2), 1e-10)
  local se = 0
  for _, a in ipairs(xs) do se = se + math.exp(a) end
  T.near(x:logsumexp():item(), math.log(se), 1e-10)
  -- logsumexp is stable for large values
  T.near(ember.tensor({1000, 1000}, "float64"):logsumexp():item(), 1000 + math.log(2), 1e-12)
end)

T.test("cumsum all any vs Lua", function()
  local shape = {3, 4}
  local xs = rlist(12, -2, 2)
  local x = mk(xs, shape)
  local function cum(v) local r, s = {}, 0; for i, a in ipairs(v) do s = s + a; r[i] = s end; return r end
  for _, dim in ipairs{1, 2, -1} do
    local d = dim < 0 and dim + 3 or dim
    near_list(x:cumsum(dim), along_ref(xs, shape, d, cum), 1e-12)
    shape_eq(x:cumsum(dim), shape)
  end
  T.same(flat(ember.tensor{{1, 2}, {3, 4}}:cumsum(1)), {1, 2, 4, 6})
  T.eq(ember.tensor{1, 2}:cumsum(1).dtype, "int64")
  local bs = {}
  for i = 1, 12 do bs[i] = xs[i] > -1 end
  local b = ember.tensor(nest(bs, shape))
  local function all(v) for _, a in ipairs(v) do if not a then return false end end; return true end
  local function any(v) for _, a in ipairs(v) do if a then return true end end; return false end
  T.eq(b:all():item(), all(bs)); T.eq(b:any():item(), any(bs))
  for _, dim in ipairs{1, 2} do
    T.same(flat(b:all(dim)), reduce_ref(bs, shape, dim, all))
    T.same(flat(b:any(dim)), reduce_ref(bs, shape, dim, any))
    T.eq(b:all(dim).dtype, "bool")
    local ks = {3, 4}; ks[dim] = 1
    shape_eq(b:any(dim, true), ks)
  end
  -- all/any of numbers: nonzero is true
  T.eq(ember.tensor{1.0, 2.0}:all():item(), true)
  T.eq(ember.tensor{0, 0}:any():item(), false)
  T.eq(ember.tensor{0, 3}:any():item(), true)
end)

T.test("sort topk: values and 1-based indices along each dim", function()
  local shape = {3, 6}
  local xs = rlist(18, -5, 5)
  local x = mk(xs, shape)
  local function sorter(desc)
    return function(v)
      local idx = {}
      for i = 1, #v do idx[i] = i end
      table.sort(idx, function(p, q) if desc then return v[p] > v[q] end; return v[p] < v[q] end)
      return idx
    end
  end
  for _, dim in ipairs{1, 2, -1} do
    local d = dim < 0 and dim + 3 or dim
    for _, desc in ipairs{false, true} do
      local v, i = x:sort(dim, desc)
      local wi = along_ref(xs, shape, d, sorter(desc))
      T.same(flat(i), wi, "sort indices dim " .. dim)
      local wv = along_ref(xs, shape, d, function(vals)
        local idx = sorter(desc)(vals); return map(idx, function(k) return vals[k] end) end)
      near_list(v, wv)
    end
    -- topk: the k largest (or smallest), sorted
    for _, largest in ipairs{true, false} do
      local k = 2
      local v, i = x:topk(k, dim, largest)
      local ks = {3, 6}; ks[d] = k
      shape_eq(v, ks); shape_eq(i, ks)
      -- reference: sort along dim and keep the first k
      local idx_full = along_ref(xs, shape, d, sorter(largest))
      local want_i, want_v = {}, {}
      local ok = ember.tensor(nest(idx_full, shape)):narrow(d, 1, k)
      want_i = flat(ok)
      want_v = flat(x:gather(d, ok))
      T.same(flat(i), want_i, "topk indices dim " .. dim)
      near_list(v, want_v)
    end
  end
  local sv, si = ember.tensor{3.0, 1.0, 2.0}:sort()
  T.same(flat(sv), {1, 2, 3}); T.same(flat(si), {2, 3, 1})
  local tv, ti = ember.tensor{3.0, 1.0, 2.0, 5.0}:topk(3)
  T.same(flat(tv), {5, 3, 2}); T.same(flat(ti), {4, 1, 3})
  local iv = ember.tensor{5, -1, 3}:sort()
  T.same(flat(iv), {-1, 3, 5}); T.eq(iv.dtype, "int64")
end)

T.test("softmax and log_softmax along each dim vs Lua", function()
  local shape = {2, 3, 4}
  local xs = rlist(24, -4, 4)
  local x = mk(xs, shape)
  local function sm(v)
    local m, s, r = math.max(table.unpack(v)), 0, {}
    for i, a in ipairs(v) do r[i] = math.exp(a - m); s = s + r[i] end
    for i = 1, #r do r[i] = r[i] / s end
    return r
  end
  for _, dim in ipairs{1, 2, 3, -1} do
    local d = dim < 0 and dim + 4 or dim
    local want = along_ref(xs, shape, d, sm)
    near_list(x:softmax(dim), want, 1e-12, "softmax dim " .. dim)
    near_list(ember.softmax(x, dim), want, 1e-12)
    near_list(x:log_softmax(dim), map(want, math.log), 1e-12, "log_softmax dim " .. dim)
    near_list(x:float():softmax(dim), want, 1e-5)
  end
  near_list(x:softmax(), along_ref(xs, shape, 3, sm), 1e-12, "default: the last dim")
  -- stable for large inputs
  near_list(ember.tensor({1000, 1000}, "float64"):softmax(1), {0.5, 0.5})
  near_list(ember.tensor({1000, 0}, "float64"):log_softmax(1), {0, -1000})
end)

T.test("large inputs (vectorised and threaded paths, odd tails) vs Lua, float32 and float64", function()
  local n = 200003
  local xs = rlist(n, -4, 4)
  local ys = rlist(n, 0.5, 2)
  for _, dt in ipairs{"float64", "float32"} do
    local x, y = ember.tensor(xs, dt), ember.tensor(ys, dt)
    local fx, fy = flat(x), flat(y)      -- the values as stored (rounded for float32)
    local tol = dt == "float32" and 3e-6 or 1e-12
    local function check(got, f, what)
      local g = flat(got)
      T.eq(#g, n, what)
      for i = 1, n do
        local want = f(i)
        if not (math.abs(g[i] - want) <= tol * (1 + math.abs(want))) then
          error(string.format("%s %s [%d]: got %.9g, expected %.9g", what, dt, i, g[i], want))
        end
      end
    end
    check(x + y, function(i) return fx[i] + fy[i] end, "add")
    check(x * y, function(i) return fx[i] * fy[i] end, "mul")
    check(x / y, function(i) return fx[i] / fy[i] end, "div")
    check(x - 1.5, function(i) return fx[i] - 1.5 end, "sub number")
    check(x:exp(), function(i) return math.exp(fx[i]) end, "exp")
    check(x:sigmoid(), function(i) return sigmoid(fx[i]) end, "sigmoid")
    check(x:tanh(), function(i) local e = math.exp(2 * fx[i]); return (e - 1) / (e + 1) end, "tanh")
    check(x:silu(), function(i) return fx[i] * sigmoid(fx[i]) end, "silu")
    check(x:relu(), function(i) return math.max(fx[i], 0) end, "relu")
    check(y:log(), function(i) return math.log(fy[i]) end, "log")
    check(y:sqrt(), function(i) return math.sqrt(fy[i]) end, "sqrt")
    check(x:clamp(-1, 1), function(i) return math.min(math.max(fx[i], -1), 1) end, "clamp")
    -- reductions over many elements (chunked partial sums)
    local s, m, mx = 0, 0, -math.huge
    for i = 1, n do s = s + fx[i]; mx = math.max(mx, fx[i]) end
    m = s / n
    T.near(x:sum():item(), s, dt == "float32" and 1e-4 or 1e-10, "sum " .. dt)
    T.near(x:mean():item(), m, dt == "float32" and 1e-4 or 1e-10, "mean " .. dt)
    T.eq(x:max():item(), mx, "max " .. dt)
    local v = 0
    for i = 1, n do v = v + (fx[i] - m) ^ 2 end
    T.near(x:var():item(), v / (n - 1), dt == "float32" and 1e-4 or 1e-9, "var " .. dt)
  end
  -- a large non-contiguous operand: the transpose of a [401, 499] matrix
  local r, c = 401, 499
  local ms = rlist(r * c, -1, 1)
  local M = ember.tensor(nest(ms, {r, c}), "float64")
  local Mt = M:t()
  local e = flat(Mt:exp() + 1)
  for j = 1, c do for i = 1, r do
    local want = math.exp(ms[(i - 1) * c + j]) + 1
    if math.abs(e[(j - 1) * r + i] - want) > 1e-12 * want then error("transposed exp at " .. i .. "," .. j) end
  end end
  near_list(Mt:sum(2), reduce_ref(ms, {r, c}, 1, lsum), 1e-10, "sum over a transposed dim")
end)

---------------------------------------------------------------- Math: linear algebra

local function matmul_ref(a, b, n, k, m)
  local c = {}
  for i = 1, n do for j = 1, m do
    local s = 0
    for p = 1, k do s = s + a[(i - 1) * k + p] * b[(p - 1) * m + j] end
    c[#c + 1] = s
  end end
  return c
end

T.test("matmul mm vs a triple loop (float64, float32, non-contiguous)", function()
  for _, dims in ipairs{{1, 1, 1}, {3, 4, 5}, {7, 2, 9}, {16, 33, 8}} do
    local n, k, m = dims[1], dims[2], dims[3]
    local as, bs = rlist(n * k, -1, 1), rlist(k * m, -1, 1)
    local a, b = mk(as, {n, k}), mk(bs, {k, m})
    local want = matmul_ref(as, bs, n, k, m)
    near_list(a:matmul(b), want, 1e-12)
    near_list(a:mm(b), want, 1e-12)
    near_list(ember.matmul(a, b), want, 1e-12)
    shape_eq(a:mm(b), {n, m})
    near_list(a:float():mm(b:float()), want, 1e-5)
    T.eq(a:float():mm(b:float()).dtype, "float32")
    -- transposed operands
    local at = mk(as, {n, k}):t():contiguous():t()
    near_list(at:mm(b:t():contiguous():t()), want, 1e-12)
  end
  -- integer matmul
  T.same(ember.tensor{{1, 2}, {3, 4}}:mm(ember.tensor{{5}, {6}}):totable(), {{17}, {39}})
end)

T.test("bmm, batched and broadcast matmul, mv dot outer, 1-D operands", function()
  local B, n, k, m = 3, 2, 4, 3
  local as, bs = rlist(B * n * k, -1, 1), rlist(B * k * m, -1, 1)
  local a, b = mk(as, {B, n, k}), mk(bs, {B, k, m})
  local want = {}
  for i = 1, B do
    local ai = {table.unpack(as, (i - 1) * n * k + 1, i * n * k)}
    local bi = {table.unpack(bs, (i - 1) * k * m + 1, i * k * m)}
    for _, v in ipairs(matmul_ref(ai, bi, n, k, m)) do want[#want + 1] = v end
  end
  near_list(a:bmm(b), want, 1e-12)
  near_list(a:matmul(b), want, 1e-12)
  shape_eq(a:bmm(b), {B, n, m})
  -- broadcast: [B, n, k] @ [k, m] uses the same matrix for each batch
  local b0 = {table.unpack(bs, 1, k * m)}
  local w2 = {}
  for i = 1, B do
    local ai = {table.unpack(as, (i - 1) * n * k + 1, i * n * k)}
    for _, v in ipairs(matmul_ref(ai, b0, n, k, m)) do w2[#w2 + 1] = v end
  end
  near_list(a:matmul(mk(b0, {k, m})), w2, 1e-12)
  -- [2, 1, n, k] @ [B, k, m] -> [2, B, n, m]
  shape_eq(ember.ones(2, 1, n, k):matmul(ember.ones(B, k, m)), {2, B, n, m})
  -- mv, dot, outer and 1-D matmul
  local ms, vs = rlist(12, -1, 1), rlist(4, -1, 1)
  local M, v = mk(ms, {3, 4}), mk(vs, {4})
  local mv = matmul_ref(ms, vs, 3, 4, 1)
  near_list(M:mv(v), mv, 1e-12); shape_eq(M:mv(v), {3})
  near_list(M:matmul(v), mv, 1e-12); shape_eq(M:matmul(v), {3})
  local ws = rlist(3, -1, 1)
  local w = mk(ws, {3})
  near_list(w:matmul(M), matmul_ref(ws, ms, 1, 3, 4), 1e-12); shape_eq(w:matmul(M), {4})
  local dot = 0
  for i = 1, 4 do dot = dot + vs[i] * vs[i] end
  T.near(v:dot(v):item(), dot, 1e-12); T.eq(v:dot(v):dim(), 0)
  T.near(v:matmul(v):item(), dot, 1e-12)
  local outer = {}
  for i = 1, 3 do for j = 1, 4 do outer[#outer + 1] = ws[i] * vs[j] end end
  near_list(w:outer(v), outer, 1e-12); shape_eq(w:outer(v), {3, 4})
  near_list(ember.outer(w, v), outer, 1e-12)
end)

---------------------------------------------------------------- Math: indexing ops

T.test("index_select gather scatter_add one_hot vs Lua loops (1-based)", function()
  local xs = rlist(12, -1, 1)
  local x = mk(xs, {3, 4})
  local rows = x:index_select(1, ember.tensor{3, 1, 3})
  shape_eq(rows, {3, 4})
  for j = 1, 4 do
    T.near(rows[1][j], xs[8 + j]); T.near(rows[2][j], xs[j]); T.near(rows[3][j], xs[8 + j])
  end
  local cols = x:index_select(-1, ember.tensor{4, 2})
  for i = 1, 3 do T.near(cols[i][1], xs[(i - 1) * 4 + 4]); T.near(cols[i][2], xs[(i - 1) * 4 + 2]) end
  near_list(x:index_select(2, {4}), {xs[4], xs[8], xs[12]})
  -- gather dim 2: out[i][j] = x[i][idx[i][j]]; dim 1: out[i][j] = x[idx[i][j]][j]
  local idx = {{4, 1}, {2, 2}, {3, 4}}
  local g = x:gather(2, ember.tensor(idx))
  for i = 1, 3 do for j = 1, 2 do T.near(g[i][j], xs[(i - 1) * 4 + idx[i][j]]) end end
  local idx1 = {{3, 1, 2, 3}}
  local g1 = x:gather(1, ember.tensor(idx1))
  for j = 1, 4 do T.near(g1[1][j], xs[(idx1[1][j] - 1) * 4 + j]) end
  -- scatter_add: t[idx[i][j]][j] += src[i][j] (dim 1)
  local base = ember.zeros(3, 4, {dtype = "float64"})
  local sidx = {{1, 2, 3, 1}, {1, 1, 3, 2}}
  local src = rlist(8, -1, 1)
  local want = {}
  for k = 1, 12 do want[k] = 0 end
  for i = 1, 2 do for j = 1, 4 do
    local r = sidx[i][j]
    want[(r - 1) * 4 + j] = want[(r - 1) * 4 + j] + src[(i - 1) * 4 + j]
  end end
  near_list(base:scatter_add(1, ember.tensor(sidx), mk(src, {2, 4})), want)
  T.same(flat(base), {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "scatter_add returns a copy")
  -- dim 2
  T.same(flat(ember.zeros(2, 3, {dtype = "int64"}):scatter_add(2, ember.tensor{{3, 3}, {1, 2}}, ember.tensor{{1, 2}, {3, 4}})),
         {0, 0, 3, 3, 4, 0})
  -- one_hot: 1-based labels, n classes (default max label)
  local labels = {3, 1, 2, 3}
  local oh = ember.one_hot(ember.tensor(labels), 4)
  shape_eq(oh, {4, 4}); T.eq(oh.dtype, "int64")
  for i, l in ipairs(labels) do for c = 1, 4 do T.eq(oh[i][c], c == l and 1 or 0) end end
  shape_eq(ember.one_hot(ember.tensor(labels)), {4, 3})
  shape_eq(ember.one_hot(ember.tensor{{1, 2}, {2, 1}}, 2), {2, 2, 2})
end)

T.test("tril and triu vs Lua: offsets, batches, non-square, every dtype, non-contiguous", function()
  local B, R, C = 2, 3, 5
  local n = B * R * C
  local xs = rlist(n, -2, 2)
  local x = mk(xs, {B, R, C})
  for _, k in ipairs{-4, -1, 0, 1, 3, 6} do
    local lo, up = {}, {}
    for i = 0, n - 1 do
      local r, c = (i // C) % R + 1, i % C + 1
      lo[i + 1] = (c - r <= k) and xs[i + 1] or 0
      up[i + 1] = (c - r >= k) and xs[i + 1] or 0
    end
    near_list(x:tril(k), lo, 0, "tril " .. k)
    near_list(ember.triu(x, k), up, 0, "triu " .. k)
  end
  shape_eq(x:tril(), {B, R, C})
  -- default k = 0; a transposed (non-contiguous) input
  T.same(flat(ember.tensor{{1, 2}, {3, 4}}:t():tril()), {1, 0, 2, 4})
  T.same(flat(ember.tensor{{1, 2}, {3, 4}}:triu()), {1, 2, 0, 4})
  for _, dt in ipairs{"int64", "int32", "uint8", "float64"} do
    local t = ember.ones(3, 3, {dtype = dt}):tril(-1)
    T.eq(t.dtype, dt)
    T.eq(t:sum():item(), 3)
  end
  local causal = ember.ones(3, 3, {dtype = "bool"}):tril()
  T.same(flat(causal), {true, false, false, true, true, false, true, true, true})
  T.raises(function() ember.ones(4):tril() end, "tril: expected a tensor of at least 2 dims")
  T.raises(function() ember.ones(2, 2):triu(0.5) end, "integer")
end)

T.test("short innermost dims (visited in another order) give the same values, 1 and 2 threads", function()
  -- (n, 2) and (n, 3) layouts: the iterator visits the long dim innermost
  local saved = ember.get_num_threads()
  for _, threads in ipairs{1, 2} do
    ember.set_num_threads(threads)
    local n = 70000   -- above the parallel threshold (2 x 32768 elements)
    local a = ember.arange(2 * n):float():view(2, n)
    local t = a:t():contiguous()            -- (n, 2), from a transposed view
    T.same(t.shape, {n, 2})
    T.eq(t[1][2], n); T.eq(t[n][1], n - 1); T.eq(t[12345][2], n + 12344)
    local c = ember.cat({t, t * -1}, 2)    -- cat along a last dim of 2
    T.same(c.shape, {n, 4})
    T.same(c[777]:totable(), {776, n + 776, -776, -(n + 776)})
    local b = ember.tensor{10.0, 20.0, 30.0}
    local x = ember.arange(3 * n):float():view(n, 3)
    local y = x + b                         -- (n, 3) + (3)
    T.same(y[5]:totable(), {22, 33, 44})
    T.eq((y - x - b):abs():max():item(), 0)
    local p = ember.arange(2 * 3 * 4 * n // 8):view(n // 8, 3, 4, 2):permute(1, 4, 2, 3):contiguous()
    T.same(p.shape, {n // 8, 2, 3, 4})
    T.eq(p[3][2][1][1], 2 * 24 + 1)    -- source element (3, 1, 1, 2): value 2*24 + 1
    T.eq(p[3][2][3][4], 2 * 24 + 2 * 8 + 3 * 2 + 1)
  end
  ember.set_num_threads(saved)
end)

T.done()
