-- test_stats.lua: the statistics, scans, counting ops, comparisons and
-- samplers (tensor/stats.c, tensor/sample.c, vm/stats_bind.c,
-- lua/ember/stats.lua).  Expected values were printed by PyTorch 1.13 and
-- are written here as literals (indices shifted to ember's 1-based ones);
-- the samplers are checked statistically (within 4 sigma), for determinism
-- under a seed whatever the thread count, and for their errors.
local T = dofile("tests/lua/harness.lua")

local nan, inf = 0 / 0, math.huge

-- elementwise comparison of nested tables, NaN equal to NaN
local function close(a, b, tol, path)
  path = path or ""
  tol = tol or 1e-5
  if type(b) == "table" then
    T.eq(type(a), "table", "shape at " .. path)
    T.eq(#a, #b, "length at " .. path)
    for i = 1, #b do close(a[i], b[i], tol, path .. "[" .. i .. "]") end
    return
  end
  if b ~= b then
    T.ok(a ~= a, "expected NaN at " .. path .. ", got " .. tostring(a))
  elseif b == inf or b == -inf then
    T.eq(a, b, "at " .. path)
  else
    T.ok(math.abs(a - b) <= tol * (1 + math.abs(b)), "at " .. path .. ": got " .. tostring(a) .. ", expected " .. tostring(b))
  end
end
local function same(t, want) T.same(t:totable(), want) end

local V = {{3., 1., 4., 1., 5.}, {9., 2., 6., 5., 3.}, {5., 8., 9., 7., 9.}}

local function check(fn, inputs)
  local ok, msg = ember.gradcheck(fn, inputs)
  if not ok then error(msg, 2) end
end
local function leaf(shape, lo, hi)
  lo, hi = lo or -1, hi or 1
  return ember.rand(shape, {dtype = "float64"}):mul(hi - lo):add(lo):requires_grad_()
end

-- ---------- scans ----------

T.test("cumprod: values, int64, gradient through zeros (PyTorch)", function()
  local x = ember.tensor({{0.5, 0, 2, -1.5, 0.7}, {0, 1.2, 0, 0.9, 2}, {1.1, -0.8, 0.6, 1.3, 0}},
                         {dtype = "float64", requires_grad = true})
  local y = x:cumprod(2)
  T.eq(y.grad_fn, "cumprod")
  close(y:totable(), {{0.5, 0.0, 0.0, -0.0, -0.0}, {0.0, 0.0, 0.0, 0.0, 0.0}, {1.1, -0.88, -0.528, -0.6864, -0.0}}, 1e-12)
  local w = ember.arange(15, {dtype = "float64"}):reshape(3, 5) * 0.1 + 0.3
  local loss = (y * w):sum()
  loss:backward()
  close(x.grad:totable(), {{0.3, -0.935, 0.0, 0.0, 0.0}, {1.88, 0.0, 0.0, 0.0, 0.0},
    {-1.5384, 3.9028, -3.1504, -0.8448, -1.16688}}, 1e-12)
  local i = ember.tensor{{2, 3, -4}, {5, 0, 7}}:cumprod(1)
  T.eq(i.dtype, "int64")
  same(i, {{2, 3, -4}, {10, 0, -28}})
  same(ember.tensor{true, true, false}:cumprod(1), {1, 1, 0})
  T.eq(ember.tensor(2.5):cumprod(1):item(), 2.5)
  T.raises(function() x:cumprod(3) end, "cumprod")
  T.raises(function() x:cumprod() end, "cumprod")
end)

T.test("logcumsumexp: values, extremes, gradient (PyTorch)", function()
  local x = ember.tensor({{1, 2, 3}, {-inf, 0, 50}, {-3, -2, -100}}, {dtype = "float64", requires_grad = true})
  local y = x:logcumsumexp(2)
  close(y:totable(), {{1.0, 2.313261687518223, 3.4076059644443806}, {-inf, 0.0, 50.0},
    {-3.0, -1.6867383124817772, -1.6867383124817772}}, 1e-12)
  local w = ember.tensor({{0.3, 0.4, 0.5}, {0.8, 0.9, 1.0}, {1.3, 1.4, 1.5}}, {dtype = "float64"})
  local loss = (y * w):sum()
  loss:backward()
  -- PyTorch gives NaN for the -inf input; its exact gradient is 0
  close(x.grad:totable(), {{0.4525918551331883, 0.4147876669794006, 0.33262047788741084},
    {0, 0.9, 1.0}, {2.079930121972986, 2.1200698780270146, 3.0142842912634563e-43}}, 1e-10)
  close(ember.tensor{{1., 2.}, {3., 4.}}:logcumsumexp(1):totable(), {{1.0, 2.0}, {3.1269280910491943, 4.126927852630615}})
  -- no overflow where exp would overflow
  close(ember.tensor{1000., 1000.}:logcumsumexp(1):totable(), {1000, 1000 + math.log(2)}, 1e-6)
  T.raises(function() ember.tensor{1, 2}:logcumsumexp(1) end, "floating point")
end)

T.test("cummax / cummin: values and 1-based indices, ties, NaN (PyTorch)", function()
  local v = ember.tensor(V)
  local a, ai = v:cummax(2)
  same(a, {{3.0, 3.0, 4.0, 4.0, 5.0}, {9.0, 9.0, 9.0, 9.0, 9.0}, {5.0, 8.0, 9.0, 9.0, 9.0}})
  same(ai, {{1, 1, 3, 3, 5}, {1, 1, 1, 1, 1}, {1, 2, 3, 3, 5}})
  local b, bi = ember.cummin(v, 1)
  same(b, {{3.0, 1.0, 4.0, 1.0, 5.0}, {3.0, 1.0, 4.0, 1.0, 3.0}, {3.0, 1.0, 4.0, 1.0, 3.0}})
  same(bi, {{1, 1, 1, 1, 1}, {1, 1, 1, 1, 2}, {1, 1, 1, 1, 2}})
  local c, ci = ember.tensor{1., 3., 2., 3., 0., 5.}:cummax(1)
  same(c, {1, 3, 3, 3, 3, 5})
  same(ci, {1, 2, 2, 4, 4, 6})  -- ties take the later index
  local d, di = ember.tensor{1., 3., 0., 0., nan, 5.}:cummin(1)
  close(d:totable(), {1, 1, 0, 0, nan, nan})
  same(di, {1, 1, 3, 4, 5, 5})
  local e, ei = ember.tensor{1, 5, 2, 7}:cummax(-1)
  T.eq(e.dtype, "int64")
  same(e, {1, 5, 5, 7})
  same(ei, {1, 2, 2, 4})
  -- gradient flows to the selected elements
  local x = ember.tensor({3., 1., 4.}, {dtype = "float64", requires_grad = true})
  x:cummax(1):sum():backward()
  same(x.grad, {2, 0, 1})
  check(function(t) return (t:cummin(2)) end, {leaf({3, 5})})
  check(function(t) return (t:t():cummax(2)) end, {leaf({4, 3})})
  T.raises(function() v:cummax(3) end, "cummax")
end)

-- ---------- sort-based ----------

T.test("argsort: 1-based, dim, descending", function()
  local x = ember.tensor{{3., 1., 2., 1.}, {nan, 5, 4, 2}}
  same(x:argsort(), {{2, 4, 3, 1}, {4, 3, 2, 1}})
  same(x:argsort(2, true), {{1, 3, 2, 4}, {1, 2, 3, 4}})
  same(ember.argsort(x, {descending = true}), {{1, 3, 2, 4}, {1, 2, 3, 4}})
  same(x:argsort(1), {{1, 1, 1, 1}, {2, 2, 2, 2}})
  T.raises(function() x:argsort(3) end, "sort")
end)

T.test("median, nanmedian, kthvalue (PyTorch)", function()
  local v = ember.tensor(V)
  T.eq(v:median():item(), 5)
  T.eq(v:median().shape[1], nil)
  local m, mi = v:median(2)
  same(m, {3, 5, 8})
  same(mi, {1, 4, 2})
  local mk, mki = v:median(-1, true)
  same(mk, {{3}, {5}, {8}})
  same(mki, {{1}, {4}, {2}})
  local k, ki = v:kthvalue(4, 2)
  same(k, {4, 6, 9})
  same(ki, {3, 3, 3})
  local k0, k0i = v:kthvalue(2, 1, true)
  same(k0, {{5, 2, 6, 5, 5}})
  same(k0i, {{3, 2, 2, 2, 1}})
  local n = ember.tensor{{1., nan, 3., 4.}, {nan, nan, nan, nan}, {2., 1., nan, 0.}}
  local nm, nmi = n:nanmedian(2)
  close(nm:totable(), {3, nan, 1})
  T.eq(nmi[1], 3)  -- (the index for an all-NaN line is unspecified, in PyTorch too)
  T.eq(nmi[3], 2)
  T.eq(n:nanmedian():item(), 1)
  T.ok(n:median():item() ~= n:median():item(), "median propagates NaN")
  local pm, pmi = ember.tensor{{1., nan, 3.}}:median(2)
  T.ok(pm:item() ~= pm:item())
  same(pmi, {2})  -- the index of the NaN, as PyTorch
  -- integers and the lower median of an even count
  T.eq(ember.tensor{4, 1, 3, 2}:median():item(), 2)
  -- gradient: to the selected element
  check(function(t) return (t:median(2)) end, {leaf({3, 5})})
  check(function(t) return t:median() end, {leaf({4, 3})})
  check(function(t) return (t:kthvalue(2, 1)) end, {leaf({4, 3})})
  check(function(t) return (t:t():nanmedian(1)) end, {leaf({4, 3})})
  T.raises(function() v:kthvalue(6, 2) end, "kthvalue: k (6) is out of range")
  T.raises(function() v:kthvalue(0) end, "kthvalue")
  T.raises(function() v:median(4) end, "median: dim 4 is out of range")
  T.raises(function() ember.zeros(0):median() end, "median")
end)

T.test("kthvalue and median pick what a stable sort puts at that rank (ties, NaN, each dim)", function()
  ember.manual_seed(4)
  local x = ember.randint(0, 5, {6, 7, 9}):double()
  x[{2, {}, 3}] = 0 / 0
  for d = 1, 3 do
    local sv, si = x:sort(d)
    local n = x:size(d)
    for _, k in ipairs({1, 3, n}) do
      local v, i = x:kthvalue(k, d)
      T.ok(ember.equal(i, si:select(d, k)), "kthvalue indices, dim " .. d .. ", k " .. k)
      T.ok(ember.allclose(v, sv:select(d, k), {equal_nan = true}), "kthvalue values")
    end
    local clean = ember.where(x:isnan(), 0, x)
    local cv, ci = clean:sort(d)
    local mv, mi = clean:median(d)
    T.ok(ember.equal(mi, ci:select(d, (n - 1) // 2 + 1)), "median indices, dim " .. d)
    T.ok(ember.equal(mv, cv:select(d, (n - 1) // 2 + 1)), "median values, dim " .. d)
  end
  local i = ember.tensor{5, 1, 5, 3, 1, 5, 5, 2}
  local v, ix = i:median(1)
  T.eq(v:item(), 3)
  T.eq(ix:item(), 4)
  T.eq(i:kthvalue(6):item(), 5)
  T.eq(select(2, i:kthvalue(6)):item(), 3)  -- the 5s at 1, 3, 6, 7: rank 6 is the second
end)

T.test("quantile: every interpolation, q tensor, dims, NaN (PyTorch)", function()
  local v = ember.tensor(V)
  local q = ember.tensor{0.0, 0.3, 0.5, 0.77, 1.0}
  local want = {
    linear = {{1.0, 2.0, 5.0}, {1.4000000953674316, 3.4000000953674316, 7.199999809265137}, {3.0, 5.0, 8.0},
      {4.079999923706055, 6.239999771118164, 9.0}, {5.0, 9.0, 9.0}},
    lower = {{1.0, 2.0, 5.0}, {1.0, 3.0, 7.0}, {3.0, 5.0, 8.0}, {4.0, 6.0, 9.0}, {5.0, 9.0, 9.0}},
    higher = {{1.0, 2.0, 5.0}, {3.0, 5.0, 8.0}, {3.0, 5.0, 8.0}, {5.0, 9.0, 9.0}, {5.0, 9.0, 9.0}},
    midpoint = {{1.0, 2.0, 5.0}, {2.0, 4.0, 7.5}, {3.0, 5.0, 8.0}, {4.5, 7.5, 9.0}, {5.0, 9.0, 9.0}},
    nearest = {{1.0, 2.0, 5.0}, {1.0, 3.0, 7.0}, {3.0, 5.0, 8.0}, {4.0, 6.0, 9.0}, {5.0, 9.0, 9.0}},
  }
  for interp, w in pairs(want) do
    local r = v:quantile(q, 2, {interpolation = interp})
    T.same(r.shape, {5, 3}, interp)
    close(r:totable(), w, 1e-6)
  end
  close(v:quantile(0.4):item(), 4.599999904632568, 1e-6)
  local r = v:quantile(ember.tensor{0.1, 0.9}, 1, true)
  T.same(r.shape, {2, 1, 5})
  close(r:totable(), {{{3.4000000953674316, 1.2000000476837158, 4.400000095367432, 1.7999999523162842, 3.4000000953674316}},
    {{8.199999809265137, 6.799999713897705, 8.399999618530273, 6.599999904632568, 8.199999809265137}}}, 1e-6)
  close(ember.tensor{1., 2, 3, 4, 5, 6, 7, 8, 9, 10}:quantile(ember.tensor{0.1, 0.33, 0.5, 0.66}):totable(),
    {1.9000000953674316, 3.9700000286102295, 5.5, 6.940000057220459}, 1e-6)
  T.same(v:quantile(0.5, {keepdim = true}).shape, {1, 1})
  T.same(v:quantile(0.5, 2, true).shape, {3, 1})
  local n = ember.tensor{{1., nan, 3., 4.}, {nan, nan, nan, nan}, {2., 1., nan, 0.}}
  close(n:nanquantile(0.25, 2):totable(), {2.0, nan, 0.5})
  close(n:quantile(0.25, 2):totable(), {nan, nan, nan})
  -- gradient: the interpolation weights go to the two neighbours
  local x = ember.tensor({{1., 2.}, {3., 4.}}, {requires_grad = true})
  x:quantile(0.3, 2):sum():backward()
  close(x.grad:totable(), {{0.7, 0.3}, {0.7, 0.3}})
  check(function(t) return t:quantile(ember.tensor{0.2, 0.75}, 2) end, {leaf({3, 6})})
  check(function(t) return t:t():quantile(0.4, 1, {interpolation = "midpoint"}) end, {leaf({5, 3})})
  T.raises(function() v:quantile(1.5) end, "quantile: q must be in [0, 1], got 1.5")
  T.raises(function() v:quantile(0.5, 2, {interpolation = "cubic"}) end, "interpolation must be")
  T.raises(function() ember.tensor{1, 2}:quantile(0.5) end, "quantile: expected a float32 or float64 input, got int64")
  T.raises(function() v:quantile(ember.ones(2, 2) * 0.5) end, "q must be a number or a 0-dim or 1-D tensor")
  T.raises(function() v:quantile("a") end, "quantile: q must be a number or a tensor")
end)

T.test("mode: most frequent, smallest on ties, last index (PyTorch)", function()
  local v = ember.tensor(V)
  local m, mi = v:mode()
  same(m, {1, 2, 9})
  same(mi, {4, 2, 5})
  local c, ci = v:mode(1)
  same(c, {3, 1, 4, 1, 3})
  same(ci, {1, 1, 1, 1, 2})
  local k = v:mode(2, true)
  T.same(k.shape, {3, 1})
  local s, si = ember.tensor{3., 1., 2., 1., 3., 2., 1.}:mode()
  T.eq(s:item(), 1)
  T.eq(si:item(), 7)
  local i = ember.tensor{{2, 2, 1, 1}, {5, 4, 4, 5}}:mode(2)
  same(i, {1, 4})
  check(function(t) return (t:mode(2)) end, {leaf({3, 5})})
  check(function(t) return (t:t():mode(1, true)) end, {leaf({3, 5})})
  T.raises(function() ember.zeros(2, 0):mode(2) end, "mode: dim 2 has size 0")
end)

-- ---------- counting ----------

T.test("unique and unique_consecutive (PyTorch, inverse 1-based)", function()
  local u, inv, cnt = ember.tensor{{3, 1}, {2, 1}, {3, 2}}:unique{return_inverse = true, return_counts = true}
  same(u, {1, 2, 3})
  same(inv, {{3, 1}, {2, 1}, {3, 2}})
  same(cnt, {2, 2, 2})
  local only = {ember.tensor{3., 1., 3.}:unique()}
  T.eq(#only, 1)
  same(only[1], {1, 3})
  local c2 = {ember.unique(ember.tensor{5, 5, 1}, {return_counts = true})}
  T.eq(#c2, 2)
  same(c2[2], {1, 2})
  local ud, udi, udc = ember.tensor{{3, 1, 3}, {2, 1, 2}, {3, 2, 3}}:unique{dim = 2, return_inverse = true, return_counts = true}
  same(ud, {{1, 3}, {1, 2}, {2, 3}})
  same(udi, {2, 1, 2})
  same(udc, {1, 2})
  local ur = ember.tensor{{1, 2}, {1, 2}, {0, 5}}:unique{dim = 1}
  same(ur, {{0, 5}, {1, 2}})
  local a, ai, ac = ember.tensor{1, 1, 2, 2, 3, 1, 1}:unique_consecutive{return_inverse = true, return_counts = true}
  same(a, {1, 2, 3, 1})
  same(ai, {1, 1, 2, 2, 3, 4, 4})
  same(ac, {2, 2, 1, 2})
  same(ember.tensor{{1, 1}, {1, 1}, {2, 2}}:unique_consecutive{dim = 1}, {{1, 1}, {2, 2}})
  same(ember.zeros(0):unique(), {})
  T.raises(function() ember.tensor{1, 2}:unique{bogus = true} end, "unique: unknown option bogus")
  T.raises(function() ember.tensor{1, 2}:unique_consecutive{sorted = true} end, "unknown option sorted")
  T.raises(function() ember.tensor{1, 2}:unique{dim = 2} end, "unique")
end)

T.test("bincount: 1-based labels, weights, minlength", function()
  -- torch.bincount([0, 1, 1, 3], minlength=6) = [1, 2, 0, 1, 0, 0], with labels + 1
  same(ember.bincount(ember.tensor{1, 2, 2, 4}, nil, 6), {1, 2, 0, 1, 0, 0})
  local w = ember.bincount(ember.tensor{1, 2, 2, 4}, ember.tensor{0.5, 1, 2, 3})
  T.eq(w.dtype, "float32")
  same(w, {0.5, 3, 0, 3})
  T.eq(ember.bincount(ember.tensor{1, 2}, ember.tensor({1, 2}, "float64")).dtype, "float64")
  T.eq(ember.bincount(ember.tensor{1, 2}, ember.tensor{1, 2}).dtype, "float64")
  -- consistent with one_hot
  local y = ember.tensor{3, 1, 3, 2, 3}
  same(ember.bincount(y), ember.one_hot(y):sum(1):totable())
  same(ember.bincount(ember.zeros(0, {dtype = "int64"}), nil, 3), {0, 0, 0})
  T.raises(function() ember.bincount(ember.tensor{1, 0, 2}) end, "bincount: values must be >= 1, got 0 at position 2")
  T.raises(function() ember.bincount(ember.tensor{1., 2.}) end, "bincount: expected a 1-D integer tensor")
  T.raises(function() ember.bincount(ember.tensor{{1, 2}}) end, "1-D")
  T.raises(function() ember.bincount(ember.tensor{1, 2}, ember.tensor{1.}) end, "weights of shape [1] do not match")
  T.raises(function() ember.bincount(ember.tensor{1, 2}, nil, -1) end, "minlength must be >= 0")
  T.raises(function() ember.bincount(ember.tensor{1, 1 << 40}) end, "too many bins")
end)

T.test("histc (PyTorch)", function()
  same(ember.histc(ember.tensor{1., 2, 1, 4, 2.5, 0, -1}, 4, 0, 3), {1, 2, 1, 1})
  same(ember.tensor{1., 2, 1, 4}:histc(4), {2, 1, 0, 1})
  same(ember.histc(ember.tensor{0.1, 0.5, 0.99, 1.0, -0.1, 0.25, 0.75}, 4, 0, 1), {1, 1, 1, 3})
  same(ember.histc(ember.tensor{2., 2.}, 2), {0, 2})  -- one value: range [v-1, v+1]
  T.eq(ember.histc(ember.tensor({1., 2.}, "float64"), 3).dtype, "float64")
  T.eq(ember.histc(ember.randn(100)):sum():item(), 100)
  T.raises(function() ember.histc(ember.tensor{1.}, 0) end, "histc: bins must be > 0")
  T.raises(function() ember.histc(ember.tensor{1., inf}, 3) end, "histc: the range [1, inf] of the data is not finite")
  same(ember.histc(ember.tensor({-1e308, 1e308, 0}, "float64"), 2, -1.5e308, 1.5e308), {1, 2})
  same(ember.histc(ember.tensor{1., inf, nan}, 2, 0, 2), {0, 1})
  T.raises(function() ember.histc(ember.tensor{1.}, 3, 2, 1) end, "histc: min (2) must be <= max (1)")
end)

T.test("searchsorted: 1-based insertion points (PyTorch + 1)", function()
  local s = ember.tensor{1, 3, 5, 7, 9}
  -- torch: [1, 3, 4, 5, 0] and right: [2, 3, 5]
  same(ember.searchsorted(s, ember.tensor{3, 6, 9, 10, 0}), {2, 4, 5, 6, 1})
  same(ember.searchsorted(s, ember.tensor{3, 6, 9}, {right = true}), {3, 4, 6})
  same(ember.searchsorted(s, ember.tensor{3, 6, 9}, true), {3, 4, 6})
  same(ember.searchsorted(s, ember.tensor{3, 6, 9}, {side = "right"}), {3, 4, 6})
  same(ember.searchsorted(s, ember.tensor{3, 6, 9}, {side = "left"}), {2, 4, 5})
  T.raises(function() ember.searchsorted(s, 1, {side = "up"}) end, "side must be")
  local p = ember.searchsorted(ember.tensor{1, 3, 5}, 4)
  T.eq(p:dim(), 0)
  T.eq(p:item(), 3)
  -- the result is where table.insert would keep the list sorted
  local lst = {1, 3, 5, 7, 9}
  table.insert(lst, ember.searchsorted(s, 6):item(), 6)
  T.same(lst, {1, 3, 5, 6, 7, 9})
  local s2 = ember.tensor{{1, 3, 5}, {2, 4, 6}}
  same(ember.searchsorted(s2, ember.tensor{{3, 0}, {6, 7}}), {{2, 1}, {3, 4}})
  same(s2:searchsorted(ember.tensor{{3, 0}, {6, 7}}, {right = true}), {{3, 1}, {4, 4}})
  same(ember.searchsorted(ember.tensor{0.5, 1.5}, ember.tensor{1, 2}), {2, 3})
  T.raises(function() ember.searchsorted(s2, ember.tensor{{1}, {2}, {3}}) end, "leading dims")
  T.raises(function() ember.searchsorted(ember.tensor(1), 1) end, "0-dim")
  T.raises(function() ember.searchsorted(s, 1, {left = true}) end, "unknown option left")
end)

-- ---------- reductions ----------

T.test("count_nonzero, aminmax, var_mean, std_mean, nansum, nanmean (PyTorch)", function()
  local v = ember.tensor(V)
  same(ember.tensor{{1, 0}, {3, 0}}:count_nonzero(1), {2, 0})
  T.eq(ember.tensor{{1, 0}, {3, 0}}:count_nonzero():item(), 2)
  local lo, hi = ember.tensor{{1, 5}, {3, 2}}:aminmax(2)
  same(lo, {1, 2})
  same(hi, {5, 3})
  local glo, ghi = v:aminmax()
  T.eq(glo:item(), 1)
  T.eq(ghi:item(), 9)
  local klo = v:aminmax{dim = 1, keepdim = true}
  T.same(klo.shape, {1, 5})
  local var, mean = v:var_mean(2)
  close(var:totable(), {3.2000000477, 7.5, 2.7999999523})
  close(mean:totable(), {2.7999999523, 5.0, 7.5999999046})
  local sd, m0 = v:std_mean(1, {unbiased = false})
  close(sd:totable(), {2.4944381714, 3.0912060738, 2.0548045635, 2.4944381714, 2.4944381714})
  close(m0:totable(), {5.6666665077, 3.6666667461, 6.3333334923, 4.3333334923, 5.6666665077})
  local kv, km = v:var_mean(2, {keepdim = true})
  T.same(kv.shape, {3, 1})
  T.same(km.shape, {3, 1})
  local n = ember.tensor{{1., nan, 3., 4.}, {nan, nan, nan, nan}, {2., 1., nan, 0.}}
  same(n:nansum(2), {8, 0, 3})
  T.eq(n:nansum():item(), 11)
  close(n:nanmean(2):totable(), {2.6666667461395264, nan, 1.0})
  T.eq(ember.tensor{1, 2}:nansum():item(), 3)
  T.raises(function() ember.tensor{1, 2}:nanmean() end, "nanmean: expected a float32 or float64 input")
  local x = ember.tensor({1., nan, 3.}, {requires_grad = true})
  x:nanmean():backward()
  same(x.grad, {0.5, 0, 0.5})
  check(function(t) return t:nansum(2) end, {leaf({3, 4})})
  check(function(t) return t:nanmean(1, true) end, {leaf({3, 4})})
end)

-- ---------- comparisons ----------

T.test("isclose, allclose, equal (PyTorch)", function()
  local a = ember.tensor{1., 1e10, inf, nan, 1., -inf}
  local b = ember.tensor{1. + 1e-6, 1.00001e10, inf, nan, inf, inf}
  same(ember.isclose(a, b), {true, false, true, false, false, false})
  same(a:isclose(b, {equal_nan = true}), {true, false, true, true, false, false})
  same(ember.isclose(ember.tensor{1., 2.}, 1.05, {atol = 0.1}), {true, false})
  same(ember.isclose(ember.tensor{true, false}, ember.tensor{true, true}), {true, false})
  same(ember.isclose(ember.tensor{1, 5}, ember.tensor{1, 6}), {true, false})
  T.eq(ember.allclose(ember.tensor{1., 2.}, ember.tensor{1., 2.0000001}), true)
  T.eq(ember.allclose(ember.tensor{1., 2.}, ember.tensor{1., 2.1}), false)
  T.eq(ember.allclose(ember.tensor{1., 2.}, ember.tensor{1., 2.1}, {rtol = 0.1}), true)
  T.eq(ember.allclose(ember.tensor{nan}, ember.tensor{nan}), false)
  T.eq(ember.allclose(ember.tensor{nan}, ember.tensor{nan}, {equal_nan = true}), true)
  T.eq(ember.equal(ember.tensor{1, 2}, ember.tensor{1, 2}), true)
  T.eq(ember.equal(ember.tensor{1, 2}, ember.tensor{1., 2.}), true)
  T.eq(ember.equal(ember.tensor{1, 2}, ember.tensor{{1, 2}}), false)
  T.eq(ember.tensor{1, 2}:equal(ember.tensor{1, 3}), false)
  T.eq(ember.equal(ember.tensor{nan}, ember.tensor{nan}), false)
  T.raises(function() ember.allclose(ember.ones(2), ember.ones(3)) end, "shape")
  T.raises(function() ember.isclose(ember.ones(2), ember.ones(2), {rtol = -1}) end, "rtol and atol must be numbers >= 0")
  T.raises(function() ember.isclose(ember.ones(2), ember.ones(2), {tol = 1}) end, "unknown option tol")
  T.raises(function() ember.equal(ember.ones(2), 1) end, "equal: b must be a tensor")
end)

-- ---------- creation ----------

T.test("logspace, randint_like, normal", function()
  close(ember.logspace(-1, 1, 5):totable(), {0.10000000149011612, 0.3162277638912201, 1.0, 3.1622776985168457, 10.0}, 1e-7)
  local l2 = ember.logspace(0, 3, 4, 2, {dtype = "float64"})
  T.eq(l2.dtype, "float64")
  same(l2, {1, 2, 4, 8})
  local r = ember.randint_like(ember.zeros(1000), 3, 7)
  T.eq(r.dtype, "float32")
  T.ok(r:min():item() >= 3 and r:max():item() <= 6)
  T.eq(ember.randint_like(ember.zeros(2, {dtype = "int64"}), 5).dtype, "int64")
  ember.manual_seed(3)
  local n = ember.normal(ember.full({200000}, 2.0), 3.0)
  close(n:mean():item(), 2, 4 * 3 / math.sqrt(200000) / 3)
  close(n:std():item(), 3, 0.02)
  local nb = ember.normal(ember.tensor{{0.}, {10.}}, ember.tensor{1., 2., 3.})
  T.same(nb.shape, {2, 3})
  T.eq(ember.normal(0, 1, {4, 5}).shape[2], 5)
  T.eq(ember.normal(0, 1, {2}, {dtype = "float64"}).dtype, "float64")
  local m = ember.zeros(3):requires_grad_()
  T.eq(ember.normal(m, 1).requires_grad, false)
  T.raises(function() ember.normal(0, -1, {2}) end, "normal: std must be >= 0")
  T.raises(function() ember.normal(0, 1) end, "give a shape")
  T.raises(function() ember.normal(ember.zeros(2), ember.tensor{1., -1.}) end, "std must be >= 0")
  T.raises(function() ember.randint_like(ember.zeros(2), 1.5) end, "randint_like: bounds must be integers")
end)

-- ---------- samplers ----------

-- |count - n p| within 4 sigma of a binomial(n, p)
local function within(count, n, p, what)
  local sd = math.sqrt(n * p * (1 - p))
  T.ok(math.abs(count - n * p) <= 4 * sd + 1e-9,
    string.format("%s: %d draws, expected %.1f +- %.1f", what, count, n * p, 4 * sd))
end

T.test("multinomial with replacement: frequencies over 100k draws", function()
  ember.manual_seed(1)
  local p = {0.1, 0.2, 0.0, 0.3, 0.4}
  local d = ember.multinomial(ember.tensor(p), 100000, {replacement = true})
  T.eq(d.dtype, "int64")
  T.same(d.shape, {100000})
  local counts = ember.bincount(d, nil, 5):totable()
  for k = 1, 5 do within(counts[k], 100000, p[k], "category " .. k) end
  T.eq(counts[3], 0)  -- a zero-probability category is never drawn
  -- weights need not sum to 1; rows are independent
  local w = ember.tensor{{1., 3.}, {0., 5.}}
  local r = ember.multinomial(w, 4000, true)
  T.same(r.shape, {2, 4000})
  within(r[1]:eq(2):sum():item(), 4000, 0.75, "row 1")
  T.eq(r[2]:eq(2):sum():item(), 4000)
end)

T.test("multinomial without replacement: distinct draws, first-draw frequencies", function()
  ember.manual_seed(2)
  local probs = ember.tensor{0.1, 0.2, 0.3, 0.4}:expand(20000, 4)
  local d = ember.multinomial(probs, 4)
  T.same(d.shape, {20000, 4})
  -- every row is a permutation of 1..4
  local sorted = d:sort(2)
  T.ok(ember.equal(sorted, ember.arange(1, 5):expand(20000, 4)), "rows are permutations")
  local first = ember.bincount(d:select(2, 1), nil, 4):totable()
  local p = {0.1, 0.2, 0.3, 0.4}
  for k = 1, 4 do within(first[k], 20000, p[k], "first draw " .. k) end
  -- second draw of category 1 after 4 was drawn first: P = 0.1 / 0.6
  local after4 = d:select(2, 1):eq(4)
  local n4 = after4:sum():item()
  within(d:select(2, 2):eq(1):logical_and(after4):sum():item(), n4, 0.1 / 0.6, "second draw")
  -- zero categories are never drawn
  local z = ember.multinomial(ember.tensor{0., 1., 0., 1., 1.}, 3)
  same(z:sort(), {2, 4, 5})
end)

T.test("samplers follow manual_seed, whatever the thread count", function()
  local threads = ember.get_num_threads()
  local function draw()
    ember.manual_seed(42)
    return {ember.multinomial(ember.rand(3000, 7), 5, true), ember.multinomial(ember.rand(3000, 7), 3),
            ember.bernoulli(ember.rand(100000)), ember.poisson(ember.rand(50000) * 40),
            ember.zeros(70000):bernoulli_(0.3), ember.normal(ember.zeros(50000), 2)}
  end
  ember.set_num_threads(1)
  local a = draw()
  ember.set_num_threads(2)
  local b = draw()
  ember.set_num_threads(threads)
  for i = 1, #a do T.ok(ember.equal(a[i], b[i]), "draw " .. i .. " differs between 1 and 2 threads") end
  ember.manual_seed(43)
  T.ok(not ember.equal(a[1], ember.multinomial(ember.rand(3000, 7), 5, true)), "another seed, other draws")
end)

T.test("bernoulli and bernoulli_: frequencies, shapes, dtypes", function()
  ember.manual_seed(5)
  local b = ember.bernoulli(ember.full({100000}, 0.3))
  T.eq(b.dtype, "float32")
  within(b:sum():item(), 100000, 0.3, "bernoulli(0.3)")
  local p = ember.tensor{0., 1., 0.5}:expand(1000, 3)
  local s = ember.bernoulli(p):sum(1):totable()
  T.eq(s[1], 0)
  T.eq(s[2], 1000)
  within(s[3], 1000, 0.5, "column 3")
  local t = ember.zeros(50000, {dtype = "float64"}):bernoulli_(0.8)
  T.eq(t.dtype, "float64")
  within(t:sum():item(), 50000, 0.8, "bernoulli_(0.8)")
  local nc = ember.zeros(4, 3):t()
  nc:bernoulli_(ember.tensor{1., 0., 1., 0.})  -- tensor p, broadcast over a transposed view
  same(nc, {{1, 0, 1, 0}, {1, 0, 1, 0}, {1, 0, 1, 0}})
  local o = ember.bernoulli(ember.zeros(2, 3, {dtype = "int64"}), 1.0)
  T.same(o.shape, {2, 3})
  T.eq(o.dtype, "int64")
  T.eq(o:sum():item(), 6)
  T.raises(function() ember.bernoulli(ember.tensor{0.5, 1.5}) end, "bernoulli: probabilities must be in [0, 1], got 1.5")
  T.raises(function() ember.bernoulli(ember.tensor{nan}) end, "probabilities must be in [0, 1]")
  T.raises(function() ember.zeros(3):bernoulli_(ember.tensor{0.5, 0.5}) end, "do not broadcast")
  T.raises(function() ember.zeros(3):bernoulli_(-0.1) end, "probabilities must be in [0, 1]")
  T.raises(function() ember.zeros(3):requires_grad_():bernoulli_(0.5) end, "bernoulli_")
end)

T.test("poisson: means and variances over many draws", function()
  ember.manual_seed(9)
  for _, lam in ipairs({0.5, 4, 9.5, 30, 1000}) do
    local n = 40000
    local d = ember.poisson(ember.full({n}, lam, {dtype = "float64"}))
    T.eq(d:eq(d:floor()):all():item(), true)
    local m = d:mean():item()
    T.ok(math.abs(m - lam) <= 4 * math.sqrt(lam / n), string.format("rate %g: mean %g", lam, m))
    local v = d:var():item()
    T.ok(math.abs(v - lam) <= 6 * lam * math.sqrt(2 / n) + 4 * math.sqrt(lam / n), string.format("rate %g: var %g", lam, v))
  end
  same(ember.poisson(ember.zeros(3)), {0, 0, 0})
  T.eq(ember.poisson(ember.ones(2, 2)).dtype, "float32")
  T.raises(function() ember.poisson(ember.tensor{-1.}) end, "poisson: rates must be finite and >= 0, got -1")
  T.raises(function() ember.poisson(ember.tensor{1, 2}) end, "poisson: expected float rates")
end)

T.test("multinomial: errors name the problem", function()
  T.raises(function() ember.multinomial(ember.tensor{0.5, -0.1}, 1) end, "probabilities must be finite and >= 0, got -0.1 (row 1, category 2)")
  T.raises(function() ember.multinomial(ember.tensor{0.5, nan}, 1) end, "finite and >= 0")
  T.raises(function() ember.multinomial(ember.tensor{0.5, inf}, 1) end, "finite and >= 0")
  T.raises(function() ember.multinomial(ember.tensor{{1., 1.}, {0., 0.}}, 1) end, "row 2 of the probabilities sums to 0")
  T.raises(function() ember.multinomial(ember.tensor{0.5, 0.5}, 3) end, "cannot draw 3 samples from 2 categories without replacement")
  T.raises(function() ember.multinomial(ember.tensor{0.5, 0, 0.5}, 3) end, "only 2 nonzero categories")
  T.raises(function() ember.multinomial(ember.ones(2, 2, 2), 1) end, "1-D or 2-D")
  T.raises(function() ember.multinomial(ember.tensor{1, 2}, 1) end, "float")
  T.raises(function() ember.multinomial(ember.ones(2), -1) end, "must be >= 0")
  T.raises(function() ember.multinomial(ember.ones(2), 1.5) end, "multinomial")
  T.raises(function() ember.multinomial(ember.ones(2), 1, {replace = true}) end, "unknown option replace")
  T.raises(function() ember.multinomial(ember.zeros(0), 1) end, "no categories")
  T.eq(ember.multinomial(ember.ones(3), 0):numel(), 0)
  T.same(ember.multinomial(ember.ones(3), 2, true).shape, {2})
end)

T.test("help() documents the new functions", function()
  for _, name in ipairs({"cumprod", "logcumsumexp", "cummax", "cummin", "mode", "unique", "unique_consecutive",
      "bincount", "histc", "searchsorted", "multinomial", "bernoulli", "bernoulli_", "poisson", "argsort",
      "median", "nanmedian", "kthvalue", "quantile", "nanquantile", "count_nonzero", "aminmax", "var_mean",
      "std_mean", "nansum", "nanmean", "isclose", "allclose", "equal", "normal", "randint_like", "logspace"}) do
    T.ok(type(ember[name]) == "function", name .. " exists")
    local d = ember.doc(ember[name])
    T.ok(type(d) == "string" and #d > 20, name .. " has a docstring")
  end
  T.ok(ember.Tensor.median and ember.Tensor.quantile and ember.Tensor.cumprod, "tensor methods")
end)

T.done()
