-- test_autograd.lua: the autograd API from Lua, its errors, the
-- finite-difference check of every differentiable op (with a coverage test
-- that fails when an op of the core has no check), and memory stability of
-- a training-like loop.
local T = dofile("tests/lua/harness.lua")

local function leaf(shape, lo, hi)
  lo, hi = lo or -1, hi or 1
  return ember.rand(shape, {dtype = "float64"}):mul(hi - lo):add(lo):requires_grad_()
end

T.test("requires_grad, grad, grad_fn, detach", function()
  local x = ember.tensor{1.0, 2.0, 3.0}
  T.eq(x.requires_grad, false)
  T.eq(x:requires_grad_(), x)
  T.eq(x.requires_grad, true)
  T.eq(x.is_leaf, true)
  local y = (x * x):sum()
  T.eq(y.grad_fn, "sum")
  T.eq((x * 2).grad_fn, "mul")
  y:backward()
  T.near(x.grad:totable(), {2, 4, 6})
  x.grad = nil
  T.eq(x.grad, nil)
  local d = (x * 3):detach()
  T.eq(d.requires_grad, false)
  T.eq(d.grad_fn, nil)
  x.grad = ember.zeros(3)
  T.raises(function() x.grad = ember.zeros(2) end, "shape")
  T.raises(function() ember.tensor{1, 2}:requires_grad_() end, "float")
  local z = ember.zeros(2, {requires_grad = true})
  T.eq(z.requires_grad, true)
end)

T.test("backward with a gradient argument and retain_graph", function()
  local x = ember.tensor{1.0, 2.0}:requires_grad_()
  local y = x * 3
  y:backward(ember.tensor{1.0, 10.0}, {retain_graph = true})
  T.near(x.grad:totable(), {3, 30})
  y:backward(ember.tensor{1.0, 1.0})
  T.near(x.grad:totable(), {6, 33})
end)

T.test("no_grad and set_grad_enabled", function()
  local x = ember.ones(2):requires_grad_()
  local a, b = ember.no_grad(function(k) return x * k, 7 end, 2)
  T.eq(a.requires_grad, false)
  T.eq(b, 7)
  T.eq(ember.is_grad_enabled(), true)
  T.eq(ember.set_grad_enabled(false), true)
  T.eq((x * 2).requires_grad, false)
  ember.set_grad_enabled(true)
  T.eq((x * 2).requires_grad, true)
  -- an error inside no_grad restores the mode
  pcall(ember.no_grad, function() error("boom") end)
  T.eq(ember.is_grad_enabled(), true)
end)

T.test("errors are clear Lua errors and the process lives on", function()
  local x = ember.ones(3):requires_grad_()
  T.raises(function() (x * 2):backward() end, "one element")
  local s = (x * x):sum()
  s:backward()
  T.raises(function() s:backward() end, "second time")
  local h = x * 1
  local e = h:exp()
  local es = e:sum()
  ember.no_grad(function() e:add_(1) end)
  T.raises(function() es:backward() end, "in-place")
  T.raises(function() ember.ones(2):sum():backward() end, "does not require grad")
  T.raises(function() x:add_(1) end, "leaf")
  -- still alive and working
  local y = (x * 2):sum()
  y:backward()
  T.ok(x.grad ~= nil)
end)

T.test("gradients of broadcast inputs reduce to the input's shape", function()
  local w = ember.ones(3, 1):requires_grad_()
  local b = ember.ones(4):requires_grad_()
  ;(w * b):sum():backward()
  T.same(w.grad.shape, {3, 1})
  T.same(b.grad.shape, {4})
  T.near(w.grad:totable(), {{4}, {4}, {4}})
  T.near(b.grad:totable(), {3, 3, 3, 3})
end)

-- ---------- finite-difference checks of every differentiable op ----------
-- checks[name] runs gradcheck on the op with several input shapes; the
-- coverage test below fails for any op of ember.op_names() missing here.

local function check(fn, inputs, opts)
  local ok, msg = ember.gradcheck(fn, inputs, opts)
  if not ok then error(msg, 2) end
end

local function unary(name, lo, hi)
  return function()
    check(function(x) return x[name](x) end, {leaf({3, 4}, lo, hi)})
    -- non-contiguous input
    local x = leaf({4, 3}, lo, hi)
    check(function(a) return a:t()[name](a:t()) end, {x})
  end
end

local function binary(name, lo, hi)
  return function()
    check(function(a, b) return a[name](a, b) end, {leaf({3, 4}, lo, hi), leaf({3, 4}, lo, hi)})
    check(function(a, b) return a[name](a, b) end, {leaf({3, 1}, lo, hi), leaf({4}, lo, hi)})  -- broadcast
    check(function(a, b) return a:t()[name](a:t(), b) end, {leaf({4, 3}, lo, hi), leaf({3, 4}, lo, hi)})
  end
end

local function reduction(name, with_dims)
  return function()
    check(function(x) return x[name](x) end, {leaf({2, 3, 4}, 0.5, 2)})
    if with_dims then
      for d = 1, 3 do
        check(function(x) return x[name](x, d) end, {leaf({2, 3, 4}, 0.5, 2)})
        check(function(x) return x[name](x, -d, true) end, {leaf({2, 3, 4}, 0.5, 2)})
      end
      check(function(x) return x:t()[name](x:t(), 1) end, {leaf({3, 4}, 0.5, 2)})
    end
  end
end

local checks = {
  add = binary("add"), sub = binary("sub"), mul = binary("mul"), div = binary("div", 0.5, 2),
  pow = binary("pow", 0.5, 2), maximum = binary("maximum"), minimum = binary("minimum"),
  neg = unary("neg"), abs = unary("abs", 0.2, 2), exp = unary("exp"), log = unary("log", 0.2, 2),
  log1p = unary("log1p", -0.5, 2), sqrt = unary("sqrt", 0.2, 2), rsqrt = unary("rsqrt", 0.2, 2),
  sin = unary("sin"), cos = unary("cos"), tanh = unary("tanh"), sigmoid = unary("sigmoid"),
  relu = unary("relu", 0.1, 1), gelu = unary("gelu", -3, 3), silu = unary("silu", -3, 3),
  softplus = unary("softplus", -3, 3), reciprocal = unary("reciprocal", 0.5, 2),
  leaky_relu = function() check(function(x) return x:leaky_relu(0.2) end, {leaf({3, 4})}) end,
  clamp = function() check(function(x) return x:clamp(-0.5, 0.5) end, {leaf({3, 4})}) end,
  where = function()
    check(function(a, b) return ember.where(a:gt(0), a, b) end, {leaf({3, 4}), leaf({4})})
  end,
  masked_fill = function() check(function(a) return a:masked_fill(a:gt(0), 2) end, {leaf({3, 4})}) end,
  to = function()
    check(function(a) return a:float():double() end, {leaf({3})}, {eps = 1e-2, atol = 1e-3, rtol = 1e-3})
  end,
  clone = unary("clone"),
  sum = reduction("sum", true), mean = reduction("mean", true), prod = reduction("prod", true),
  amax = reduction("amax", true), amin = reduction("amin", true),
  max = function()
    for d = 1, 3 do check(function(x) return (x:max(d)) end, {leaf({2, 3, 4})}) end
  end,
  min = function()
    for d = 1, 3 do check(function(x) return (x:min(d)) end, {leaf({2, 3, 4})}) end
  end,
  logsumexp = reduction("logsumexp", true), norm = function()
    check(function(x) return x:norm() end, {leaf({3, 4})})
    check(function(x) return x:norm(2, 2) end, {leaf({3, 4})})
    check(function(x) return x:norm(1, 1) end, {leaf({3, 4}, 0.2, 1)})
  end,
  cumsum = function()
    for d = 1, 2 do check(function(x) return x:cumsum(d) end, {leaf({3, 4})}) end
  end,
  tril = function()
    for _, k in ipairs({0, 1, -1}) do check(function(x) return x:tril(k) end, {leaf({2, 3, 4})}) end
  end,
  triu = function()
    for _, k in ipairs({0, 2, -1}) do check(function(x) return x:triu(k) end, {leaf({3, 4})}) end
  end,
  softmax = function()
    for d = 1, 3 do check(function(x) return x:softmax(d) end, {leaf({2, 3, 4})}) end
  end,
  log_softmax = function()
    for d = 1, 3 do check(function(x) return x:log_softmax(d) end, {leaf({2, 3, 4})}) end
  end,
  view = function()
    check(function(x) return x:view(4, 3) end, {leaf({3, 4})})
    check(function(x) return x:t():reshape(12) end, {leaf({3, 4})})
    check(function(x) return x:unsqueeze(1):squeeze(1):flatten() end, {leaf({3, 4})})
  end,
  permute = function()
    check(function(x) return x:permute(3, 1, 2) end, {leaf({2, 3, 4})})
    check(function(x) return x:transpose(1, 2) end, {leaf({2, 3})})
  end,
  slice = function()
    check(function(x) return x:narrow(2, 2, 2) end, {leaf({3, 4})})
    check(function(x) return x[{{1, -1, 2}, {2, 3}}] end, {leaf({3, 4})})
  end,
  select = function()
    check(function(x) return x[2] end, {leaf({3, 4})})
    check(function(x) return x:select(2, 3) end, {leaf({3, 4})})
  end,
  expand = function() check(function(x) return x:expand(3, 4) end, {leaf({3, 1})}) end,
  cat = function()
    check(function(a, b) return ember.cat({a, b}, 2) end, {leaf({2, 3}), leaf({2, 2})})
    check(function(a, b) return ember.stack({a, b}, 1) end, {leaf({2, 3}), leaf({2, 3})})
  end,
  index_select = function()
    check(function(x) return x:index_select(1, ember.tensor{3, 1, 3}) end, {leaf({3, 4})})
    check(function(x) return x:index_select(2, ember.tensor{2, 4}) end, {leaf({3, 4})})
  end,
  gather = function()
    check(function(x) return x:gather(2, ember.tensor{{1, 1}, {4, 2}, {3, 3}}) end, {leaf({3, 4})})
  end,
  scatter_add = function()
    check(function(x, s) return x:scatter_add(2, ember.tensor{{1, 1}, {4, 2}, {3, 3}}, s) end,
          {leaf({3, 4}), leaf({3, 2})})
  end,
  masked_select = function()
    check(function(x) return x:masked_select(ember.tensor{{true, false}, {false, true}}) end, {leaf({2, 2})})
  end,
  matmul = function()
    check(function(a, b) return a:matmul(b) end, {leaf({3, 4}), leaf({4, 2})})
    check(function(a, b) return a:matmul(b) end, {leaf({2, 3, 4}), leaf({4, 2})})  -- broadcast batch
    check(function(a, b) return a:matmul(b) end, {leaf({4}), leaf({4, 2})})
    check(function(a, b) return a:matmul(b) end, {leaf({3, 4}), leaf({4})})
    check(function(a, b) return a:t():matmul(b) end, {leaf({4, 3}), leaf({4, 2})})  -- transposed
    check(function(a, b) return a:dot(b) end, {leaf({4}), leaf({4})})
    check(function(a, b) return a:outer(b) end, {leaf({3}), leaf({2})})
  end,
  cumprod = function()
    for d = 1, 2 do check(function(x) return x:cumprod(d) end, {leaf({3, 4})}) end
    -- zeros: one inside a line, two in a line, at the start and at the end
    local z = ember.tensor({{0.5, 0, 2, -1.5, 0.7}, {0, 1.2, 0, 0.9, 2}, {1.1, -0.8, 0.6, 1.3, 0}},
                           {dtype = "float64", requires_grad = true})
    check(function(x) return x:cumprod(2) end, {z})
    check(function(x) return x:t():cumprod(1) end, {z})  -- non-contiguous
  end,
  logcumsumexp = function()
    for d = 1, 3 do check(function(x) return x:logcumsumexp(d) end, {leaf({2, 3, 4}, -3, 3)}) end
    check(function(x) return x:t():logcumsumexp(2) end, {leaf({4, 3}, -20, 20)})
  end,
}
-- elementwise_math.c: domains keep away from poles and jumps
for name, fn in pairs{
  log2 = unary("log2", 0.2, 2), log10 = unary("log10", 0.2, 2), expm1 = unary("expm1"),
  exp2 = unary("exp2"), erf = unary("erf", -2, 2), erfc = unary("erfc", -2, 2),
  erfinv = unary("erfinv", -0.8, 0.8), sinh = unary("sinh"), cosh = unary("cosh"),
  asin = unary("asin", -0.8, 0.8), acos = unary("acos", -0.8, 0.8), atan = unary("atan", -3, 3),
  asinh = unary("asinh", -3, 3), acosh = unary("acosh", 1.2, 3), atanh = unary("atanh", -0.8, 0.8),
  trunc = unary("trunc", -0.9, 0.9), frac = unary("frac", 0.1, 0.9), square = unary("square"),
  sinc = unary("sinc", -2, 2), deg2rad = unary("deg2rad"), rad2deg = unary("rad2deg"),
  lgamma = unary("lgamma", 0.2, 4), digamma = unary("digamma", 0.2, 4),
  atan2 = binary("atan2", 0.2, 2), hypot = binary("hypot", 0.2, 2), xlogy = binary("xlogy", 0.2, 2),
  logaddexp = binary("logaddexp", -3, 3), logaddexp2 = binary("logaddexp2", -3, 3),
  fmod = function()
    -- a / b in (2, 2.9): fmod(a, b) = a - 2b, smooth in both
    check(function(a, b) return a:fmod(b) end, {leaf({3, 4}, 2.1, 2.9), leaf({3, 4}, 1, 1.04)})
    check(function(a, b) return a:fmod(b) end, {leaf({3, 1}, -2.9, -2.1), leaf({4}, 1, 1.04)})
    check(function(a) return a:fmod(1.5) end, {leaf({3, 4}, 0.1, 1.4)})
  end,
  copysign = function()
    check(function(a, b) return a:copysign(b) end, {leaf({3, 4}, 0.2, 2), leaf({3, 4}, 0.2, 1)})
    check(function(a, b) return a:copysign(b) end, {leaf({3, 1}, -2, -0.2), leaf({4}, 0.2, 1)})
    check(function(a) return ember.copysign(a, -1) end, {leaf({3, 4}, 0.2, 2)})
  end,
  logit = function()
    check(function(x) return x:logit() end, {leaf({3, 4}, 0.2, 0.8)})
    check(function(x) return x:logit(0.1) end, {leaf({3, 4}, 0.2, 0.8)})
    check(function(x) return x:t():logit() end, {leaf({4, 3}, 0.2, 0.8)})
  end,
  nan_to_num = unary("nan_to_num"),
  lerp = function()
    check(function(a, b, w) return a:lerp(b, w) end, {leaf({3, 4}), leaf({3, 4}), leaf({3, 4})})
    check(function(a, b, w) return a:lerp(b, w) end, {leaf({3, 1}), leaf({4}), leaf({1, 4})})  -- broadcast
    check(function(a, b) return a:lerp(b, 0.3) end, {leaf({3, 4}), leaf({3, 4})})
    check(function(a, b) return a:t():lerp(b, 0.8) end, {leaf({4, 3}), leaf({3, 4})})
  end,
} do checks[name] = fn end

-- ember.linalg (tensor/linalg_lu.c, linalg_decomp.c): well-conditioned
-- inputs; symmetric ones built as x + x^T (eigh) or x x^T + I (cholesky)
-- since those functions read one triangle; singular vectors through
-- sign-invariant functions of them
local function wellcond(shape)
  local n = shape[#shape]
  return (ember.rand(shape, {dtype = "float64"}) + ember.eye(n, {dtype = "float64"}) * 3):requires_grad_()
end
local function sym(x) return x + x:transpose(-2, -1) end
checks.linalg_inv = function()
  check(function(a) return ember.linalg.inv(a) end, {wellcond({2, 3, 3})})
  check(function(a) return ember.linalg.inv(a:t()) end, {wellcond({3, 3})})  -- non-contiguous
end
checks.linalg_det = function()
  check(function(a) return ember.linalg.det(a) end, {wellcond({2, 3, 3})})
  -- singular (rank n-1 and n-2): the gradient is the adjugate, computed without inverting
  check(function(a) return ember.linalg.det(a) end, {ember.tensor({{1.0, 2, 3}, {2, 4, 6}, {1, 0, 1}}, "float64"):requires_grad_()})
  check(function(a) return ember.linalg.det(a) end, {ember.tensor({{1.0, 2, 3}, {2, 4, 6}, {3, 6, 9}}, "float64"):requires_grad_()})
end
checks.linalg_slogdet = function()
  check(function(a) local _, l = ember.linalg.slogdet(a); return l end, {wellcond({2, 3, 3})})
end
checks.linalg_solve = function()
  check(function(a, b) return ember.linalg.solve(a, b) end, {wellcond({2, 3, 3}), leaf({2, 3, 2})})
  check(function(a, b) return ember.linalg.solve(a, b) end, {wellcond({3, 3}), leaf({3})})          -- vector
  check(function(a, b) return ember.linalg.solve(a, b) end, {wellcond({2, 1, 3, 3}), leaf({4, 3, 2})})  -- broadcast
  check(function(a, b) return ember.linalg.solve(a:t(), b) end, {wellcond({3, 3}), leaf({3, 2})})
end
checks.linalg_solve_triangular = function()
  local st = ember.linalg.solve_triangular
  for _, o in ipairs({{upper = false}, {upper = true}, {upper = true, unitriangular = true}}) do
    check(function(a, b) return st(a, b, o) end, {wellcond({2, 3, 3}), leaf({3, 2})})  -- broadcast B
  end
  check(function(a, b) return st(a, b, {upper = false, left = false}) end, {wellcond({3, 3}), leaf({2, 3})})
end
checks.linalg_cholesky = function()
  local I = ember.eye(3, {dtype = "float64"})
  check(function(x) return ember.linalg.cholesky(x:matmul(x:transpose(-2, -1)) + I) end, {leaf({2, 3, 3})})
end
checks.linalg_eigh = function()
  check(function(x) return (ember.linalg.eigh(sym(x))) end, {leaf({2, 3, 3})})
  check(function(x) return ember.linalg.eigvalsh(sym(x)) end, {leaf({4, 4})})
end
checks.linalg_eigh_vectors = function()
  check(function(x) local _, v = ember.linalg.eigh(sym(x)); return v * v end, {leaf({2, 3, 3})})
  check(function(x) local w, v = ember.linalg.eigh(sym(x)); return (v * w:unsqueeze(-2)):matmul(v:t()) end, {leaf({3, 3})})
end
checks.linalg_svd = function()
  check(function(x) return ember.linalg.svdvals(x) end, {leaf({2, 4, 3})})
  check(function(x) return ember.linalg.svdvals(x) end, {leaf({3, 5})})
  check(function(x) local _, s = ember.linalg.svd(x); return s end, {leaf({4, 3})})
end
checks.linalg_svd_u = function()
  check(function(x) local u = ember.linalg.svd(x, false); return u * u end, {leaf({2, 4, 3})})
  check(function(x) local u = ember.linalg.svd(x, false); return u * u end, {leaf({3, 5})})
  check(function(x) local u, _, vh = ember.linalg.svd(x, false); return u:matmul(vh) end, {leaf({3, 5})})
end
checks.linalg_svd_vh = function()
  check(function(x) local _, _, vh = ember.linalg.svd(x, false); return vh * vh end, {leaf({2, 4, 3})})
  check(function(x) local _, _, vh = ember.linalg.svd(x, false); return vh * vh end, {leaf({3, 5})})
  check(function(x) local u, _, vh = ember.linalg.svd(x); return u:narrow(2, 1, 3):matmul(vh) end, {leaf({4, 3})})  -- full
end
checks.linalg_qr_q = function()
  check(function(x) return (ember.linalg.qr(x)) end, {leaf({2, 4, 3})})
  check(function(x) return (ember.linalg.qr(x, "complete")) end, {leaf({3, 3})})
  check(function(x) return (ember.linalg.qr(x)) end, {leaf({2, 3, 5})})  -- wide
end
checks.linalg_qr_r = function()
  check(function(x) local _, r = ember.linalg.qr(x); return r end, {leaf({2, 4, 3})})
  check(function(x) local _, r = ember.linalg.qr(x:t()); return r end, {leaf({3, 3})})
  check(function(x) local _, r = ember.linalg.qr(x); return r end, {leaf({2, 3, 5})})  -- wide
  check(function(x) local q, r = ember.linalg.qr(x, "complete"); return q:matmul(r) end, {leaf({3, 4})})
end

-- nn/ kernels (their own op table: ember.nn_op_names())
local function f64(shape, lo, hi) return leaf(shape, lo, hi) end
local nn_checks = {
  linear = function()
    check(function(x, w, b) return ember.linear(x, w, b) end, {f64({3, 4}), f64({2, 4}), f64({2})})
    check(function(x, w) return ember.linear(x, w) end, {f64({2, 3, 4}), f64({5, 4})})
    check(function(x, w, b) return ember.linear(x:t(), w, b) end, {f64({4, 3}), f64({2, 4}), f64({2})})
  end,
  conv1d = function()
    check(function(x, w, b) return ember.conv1d(x, w, b, {stride = 2, padding = 1}) end,
          {f64({2, 3, 7}), f64({4, 3, 3}), f64({4})})
  end,
  conv2d = function()
    check(function(x, w, b) return ember.conv2d(x, w, b) end, {f64({2, 1, 5, 5}), f64({3, 1, 3, 3}), f64({3})})
    check(function(x, w) return ember.conv2d(x, w, nil, {stride = 2, padding = 1, dilation = {1, 2}}) end,
          {f64({1, 2, 6, 7}), f64({2, 2, 3, 2})})
  end,
  conv_transpose2d = function()
    check(function(x, w, b) return ember.conv_transpose2d(x, w, b, {stride = 2, padding = 1}) end,
          {f64({1, 2, 3, 3}), f64({2, 3, 3, 3}), f64({3})})
  end,
  max_pool1d = function() check(function(x) return ember.max_pool1d(x, 2) end, {f64({2, 2, 6})}) end,
  max_pool2d = function()
    check(function(x) return ember.max_pool2d(x, 2) end, {f64({2, 2, 4, 6})})
    check(function(x) return ember.max_pool2d(x, 3, {stride = 2, padding = 1}) end, {f64({1, 1, 5, 5})})
  end,
  avg_pool1d = function() check(function(x) return ember.avg_pool1d(x, 2) end, {f64({2, 2, 6})}) end,
  avg_pool2d = function() check(function(x) return ember.avg_pool2d(x, 2) end, {f64({2, 2, 4, 6})}) end,
  adaptive_avg_pool2d = function()
    check(function(x) return ember.adaptive_avg_pool2d(x, {2, 3}) end, {f64({1, 2, 5, 7})})
  end,
  batch_norm = function()
    check(function(x, w, b) return ember.batch_norm(x, nil, nil, w, b, true) end, {f64({4, 3, 2, 2}), f64({3}), f64({3})})
    check(function(x) return ember.batch_norm(x, ember.zeros(3, {dtype = "float64"}), ember.ones(3, {dtype = "float64"}), nil, nil, false) end,
          {f64({4, 3})})
  end,
  layer_norm = function()
    check(function(x, w, b) return ember.layer_norm(x, {4}, w, b) end, {f64({3, 4}), f64({4}), f64({4})})
  end,
  dropout = function()
    check(function(x) ember.manual_seed(5); return ember.dropout(x, 0.3, true) end, {f64({4, 5})})
  end,
  embedding = function()
    check(function(w) return ember.embedding(w, ember.tensor{{1, 3}, {3, 2}}) end, {f64({4, 3})})
  end,
  cross_entropy = function()
    check(function(x) return ember.cross_entropy(x, ember.tensor{1, 3, 2}, {label_smoothing = 0.1}) end, {f64({3, 4})})
    check(function(x) return ember.cross_entropy(x, ember.tensor{{1, 2}, {3, 1}}, {reduction = "sum"}) end, {f64({2, 3, 2})})
  end,
  nll_loss = function()
    check(function(x) return ember.nll_loss(x:log_softmax(2), ember.tensor{1, 3, 2}) end, {f64({3, 4})})
  end,
  binary_cross_entropy = function()
    check(function(p) return ember.binary_cross_entropy(p, ember.tensor{{0.0, 1.0}, {1.0, 0.0}}:double()) end,
          {f64({2, 2}, 0.1, 0.9)})
  end,
  binary_cross_entropy_with_logits = function()
    check(function(x) return ember.binary_cross_entropy_with_logits(x, ember.tensor{{0.0, 1.0}, {1.0, 0.5}}:double()) end,
          {f64({2, 2})})
  end,
  scaled_dot_product_attention = function()
    check(function(q, k, v) return ember.scaled_dot_product_attention(q, k, v) end,
          {f64({1, 2, 3, 4}), f64({1, 2, 5, 4}), f64({1, 2, 5, 3})})
    check(function(q, k, v) return ember.scaled_dot_product_attention(q, k, v, {causal = true}) end,
          {f64({2, 4, 3}), f64({2, 4, 3}), f64({2, 4, 3})})
    -- an explicit mask (the composed path): bool broadcast over the batch,
    -- and a float mask, which gets a gradient too
    local keep = ember.tensor{{true, false, true, true, false}, {true, true, false, true, true}, {false, true, true, true, true}}
    check(function(q, k, v) return ember.scaled_dot_product_attention(q, k, v, {attn_mask = keep}) end,
          {f64({2, 3, 4}), f64({2, 5, 4}), f64({2, 5, 3})})
    check(function(q, k, v, m) return ember.scaled_dot_product_attention(q, k, v, {attn_mask = m, scale = 0.7}) end,
          {f64({1, 2, 3, 4}), f64({1, 2, 5, 4}), f64({1, 2, 5, 3}), f64({2, 1, 5})})
  end,
}
-- activations (nn/activation.c): wide ranges cross every kink's sides;
-- a transposed (non-contiguous) input too
local function act_check(fn, lo, hi)
  check(fn, {f64({3, 5}, lo or -4, hi or 4)})
  check(function(x) return fn(x:t()) end, {f64({4, 3}, lo or -4, hi or 4)})
end
nn_checks.elu = function()
  act_check(function(x) return ember.elu(x, 0.7) end)
  act_check(ember.selu)
  act_check(function(x) return ember.celu(x, 1.5) end)
end
nn_checks.hardtanh = function()
  act_check(function(x) return ember.hardtanh(x, -0.5, 2) end)
  act_check(ember.relu6, -3, 9)
end
nn_checks.hardsigmoid = function() act_check(ember.hardsigmoid, -5, 5) end
nn_checks.hardswish = function() act_check(ember.hardswish, -5, 5) end
nn_checks.mish = function() act_check(ember.mish, -6, 6) end
nn_checks.log_sigmoid = function() act_check(ember.logsigmoid, -30, 30) end
nn_checks.prelu = function()
  check(function(x, w) return ember.prelu(x, w) end, {f64({2, 3, 4}), f64({3})})
  check(function(x, w) return ember.prelu(x, w) end, {f64({5}), f64({1})})
  check(function(x, w) return ember.prelu(x:transpose(1, 2), w) end, {f64({3, 4}), f64({3})})
end
-- resizing (nn/resample.c): odd ratios, align_corners, down- and upsampling,
-- a non-contiguous input
nn_checks.upsample_nearest = function()
  check(function(x) return ember._resample(x, {7}, "nearest", false, {0}) end, {f64({2, 2, 5})})
  check(function(x) return ember._resample(x, {5, 3}, "nearest-exact", false, {0, 0}) end, {f64({1, 2, 3, 4})})
  check(function(x) return ember._resample(x:transpose(3, 4), {8, 3}, "nearest", false, {2, 0.7}) end,
        {f64({1, 2, 3, 4})})
end
nn_checks.upsample_linear = function()
  check(function(x) return ember._resample(x, {7}, "linear", false, {0}) end, {f64({2, 2, 5})})
  check(function(x) return ember._resample(x, {5, 3}, "linear", true, {0, 0}) end, {f64({1, 2, 3, 4})})
  check(function(x) return ember._resample(x:transpose(3, 4), {7, 2}, "linear", false, {1.9, 0.6}) end,
        {f64({2, 1, 3, 4})})
end
for _, name in ipairs(ember.nn_op_names()) do
  if nn_checks[name] then T.test("gradcheck nn: " .. name, nn_checks[name]) end
end

-- composites (no rule of their own) are checked too
T.test("gradcheck: composites var, std, sort, topk", function()
  check(function(x) return x:var(2) end, {leaf({3, 4})})
  check(function(x) return x:std() end, {leaf({3, 4})})
  check(function(x) return (x:sort(2)) end, {leaf({3, 4})})
  check(function(x) return (x:topk(2)) end, {leaf({3, 4})})
end)

for _, name in ipairs(ember.op_names()) do
  if checks[name] then T.test("gradcheck: " .. name, checks[name]) end
end

T.test("every differentiable op has a finite-difference check", function()
  local missing = {}
  for _, name in ipairs(ember.op_names()) do
    if not checks[name] then missing[#missing + 1] = name end
  end
  for _, name in ipairs(ember.nn_op_names()) do
    if not nn_checks[name] then missing[#missing + 1] = "nn." .. name end
  end
  T.eq(table.concat(missing, ", "), "", "ops without a gradient check")
end)

-- ---------- memory: a 2-layer MLP loop keeps RSS flat ----------
local function rss_kb()
  local f = io.open("/proc/self/status")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)"))
end

T.test("5,000 forward+backward steps of a 784-256-10 MLP keep RSS flat", function()
  ember.manual_seed(1)
  local x = ember.randn(128, 784)
  local y = ember.randint(1, 11, {128})
  local W1 = (ember.randn(784, 256) * 0.05):requires_grad_()
  local b1 = ember.zeros(256):requires_grad_()
  local W2 = (ember.randn(256, 10) * 0.05):requires_grad_()
  local b2 = ember.zeros(10):requires_grad_()
  local target = ember.one_hot(y, 10):float()
  local iters = tonumber(os.getenv("EMBER_MLP_ITERS") or "5000")
  local rss100
  for i = 1, iters do
    local h = (x:matmul(W1) + b1):relu()
    local logits = h:matmul(W2) + b2
    local loss = -(logits:log_softmax(2) * target):sum(2):mean()
    loss:backward()
    ember.no_grad(function()
      for _, p in ipairs{W1, b1, W2, b2} do
        p:sub_(p.grad * 0.01)
        p.grad = nil
      end
    end)
    if i == 100 then rss100 = rss_kb() end
  end
  local rss_end = rss_kb()
  if rss100 and rss_end then
    -- 10% plus 8 MB: on a loaded machine the thread pool's per-thread free
    -- lists settle a few MB higher (seen: +3 MB); a leak of one activation
    -- per step would be +600 MB
    T.ok(rss_end < rss100 * 1.10 + 8192, string.format("RSS grew from %d KB to %d KB", rss100, rss_end))
  end
end)

T.done()
