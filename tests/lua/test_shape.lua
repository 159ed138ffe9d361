-- test_shape.lua: the shape functions of lua/ember/tensor_shape.lua and
-- tensor_einsum.lua (flip, roll, rot90, tile/repeat, repeat_interleave,
-- diagonal/diag/diag_embed/trace, movedim, broadcasting, stacking, meshgrid,
-- tensor_split, tril/triu_indices, kron, tensordot, einsum, ...): values
-- against PyTorch 1.13 (tests/fixtures/shape_torch.lua, written by
-- tests/fixtures/make_shape_fixtures.py), views that must share storage,
-- finite-difference gradients of the composed ops, and error messages.
local T = dofile("tests/lua/harness.lua")
local fx = dofile("tests/fixtures/shape_torch.lua")

local function leaf(shape, lo, hi)
  lo, hi = lo or -1, hi or 1
  return ember.rand(shape, {dtype = "float64"}):mul(hi - lo):add(lo):requires_grad_()
end

local function check(fn, inputs, opts)
  local ok, msg = ember.gradcheck(fn, inputs, opts)
  if not ok then error(msg, 2) end
end

-- ---------------------------------------------------------------- values

local inputs = {}
for name, v in pairs(fx.inputs) do
  inputs[name] = ember.tensor(v.values, v.dtype):reshape(v.shape)
end
local env = setmetatable({ember = ember}, {__index = function(_, k) return inputs[k] or _G[k] end})

local function same_tensor(got, want, what)
  T.ok(ember.is_tensor(got), what .. ": expected a tensor, got " .. type(got))
  T.eq(got.dtype, want.dtype, what .. " dtype")
  T.same(got.shape, want.shape, what .. " shape")
  local vals = got:reshape(got:numel()):totable()
  T.eq(#vals, #want.values, what .. " numel")
  local tol = want.dtype == "float32" and 1e-5 or 1e-10
  for i, w in ipairs(want.values) do
    local g = vals[i]
    if type(w) == "number" and math.type(w) == "float" then
      if not (math.abs(g - w) <= tol * (1 + math.abs(w))) then
        error(string.format("%s: element %d is %s, expected %s", what, i, tostring(g), tostring(w)), 2)
      end
    elseif g ~= w then
      error(string.format("%s: element %d is %s, expected %s", what, i, tostring(g), tostring(w)), 2)
    end
  end
end

-- one test per section of the generator (flip, roll, ..., einsum)
local groups, order = {}, {}
for _, c in ipairs(fx.cases) do
  if not groups[c.group] then
    groups[c.group] = {}
    order[#order + 1] = c.group
  end
  table.insert(groups[c.group], c)
end

for _, name in ipairs(order) do
  local cases = groups[name]
  T.test("values match PyTorch: " .. name .. " (" .. #cases .. " cases)", function()
    local failures = {}
    for _, c in ipairs(cases) do
      local ok, err = pcall(function()
        local f = assert(load("return " .. c.lua, "=" .. c.lua, "t", env))
        local got = f()
        if c.list then
          T.eq(type(got), "table", "a list of tensors")
          T.eq(#got, #c.list, "number of results")
          for i, want in ipairs(c.list) do same_tensor(got[i], want, "result " .. i) end
        else
          same_tensor(got, c.out, "result")
        end
      end)
      if not ok then failures[#failures + 1] = c.lua .. ": " .. tostring(err) end
    end
    T.ok(#failures == 0, #failures .. " cases differ:\n  " .. table.concat(failures, "\n  "))
  end)
end

T.test("einsum matches PyTorch on " .. #fx.einsum_fuzz .. " random equations", function()
  local failures = {}
  for _, c in ipairs(fx.einsum_fuzz) do
    local ok, err = pcall(function()
      local ops = {}
      for i, o in ipairs(c.ops) do ops[i] = ember.tensor(o.values, o.dtype):reshape(o.shape) end
      same_tensor(ember.einsum(c.eq, ops), c.out, "result")
    end)
    if not ok then
      local shapes = {}
      for i, o in ipairs(c.ops) do shapes[i] = "[" .. table.concat(o.shape, ", ") .. "]" end
      failures[#failures + 1] = c.eq .. " " .. table.concat(shapes, " ") .. ": " .. tostring(err)
    end
  end
  T.ok(#failures == 0, #failures .. " equations differ:\n  " .. table.concat(failures, "\n  "))
end)

-- ----------------------------------------------------------------- views

T.test("views share storage where PyTorch returns views", function()
  local x = ember.arange(12.0):reshape(3, 4)
  x:diagonal():fill_(-1)
  T.same(x:diagonal():totable(), {-1, -1, -1})
  x:t():diagonal(1):fill_(-2)           -- the transposed side: still a view
  T.eq(x[{2, 1}]:item(), -2)
  local b = ember.zeros(2, 3, 4)
  b:diagonal(0, 2, 3):fill_(5)
  T.eq(b:sum():item(), 2 * 3 * 5)
  local y = ember.zeros(2, 3, 4)
  y:movedim(1, 3)[{1, 1, 2}] = 7
  T.eq(y[{2, 1, 1}]:item(), 7)
  y:swapaxes(1, 2)[{3, 1, 4}] = 8
  T.eq(y[{1, 3, 4}]:item(), 8)
  y:unflatten(3, {2, 2})[{1, 1, 2, 1}] = 9
  T.eq(y[{1, 1, 3}]:item(), 9)
  local v = ember.zeros(3)
  local bv = v:broadcast_to(2, 3)
  T.same(bv:stride(), {0, 1})
  local m1, m2 = ember.meshgrid(ember.arange(2), ember.arange(3))
  T.same(m1:stride(), {1, 0})
  T.same(m2:stride(), {0, 1})
  local parts = ember.zeros(4):tensor_split(2)
  parts[2]:fill_(1)
  local u = ember.zeros(2, 2)
  u:unbind(2)[1]:fill_(3)
  T.same(u:totable(), {{3, 0}, {3, 0}})
  -- torch.flip and roll copy
  local f = ember.arange(3.0)
  f:flip(1):fill_(0)
  T.same(f:totable(), {0, 1, 2})
end)

T.test("diag of a matrix and repeat results are copies", function()
  local x = ember.arange(4.0):reshape(2, 2)
  x:diag():fill_(9)
  T.same(x:totable(), {{0, 1}, {2, 3}})
  local t = x:tile(1, 1)
  t:fill_(7)
  T.same(x:totable(), {{0, 1}, {2, 3}})
end)

T.test("new_* keep self's dtype unless told otherwise", function()
  local x = ember.zeros(2, {dtype = "float64"})
  local z = x:new_zeros(2, 3)
  T.eq(z.dtype, "float64"); T.same(z.shape, {2, 3}); T.eq(z:sum():item(), 0)
  local o = x:new_ones{4}
  T.eq(o.dtype, "float64"); T.eq(o:sum():item(), 4)
  local o2 = x:new_ones({2}, {dtype = "int32"})
  T.eq(o2.dtype, "int32")
  local fl = x:new_full({2, 2}, 3.5)
  T.eq(fl.dtype, "float64"); T.eq(fl:sum():item(), 14)
  local e = ember.tensor{1, 2}:new_empty(3)
  T.eq(e.dtype, "int64"); T.same(e.shape, {3})
  local t = ember.zeros(1, {dtype = "int32"}):new_tensor{{1, 2}, {3, 4}}
  T.eq(t.dtype, "int32"); T.same(t:totable(), {{1, 2}, {3, 4}})
  local src = ember.ones(2):requires_grad_()
  local c = x:new_tensor(src)
  T.eq(c.dtype, "float64"); T.eq(c.requires_grad, false)
  local r = x:new_zeros({2}, {requires_grad = true})
  T.eq(r.requires_grad, true)
  T.eq(ember.zeros(1):new_zeros(0):numel(), 0)
end)

T.test("broadcast_shapes", function()
  T.same(ember.broadcast_shapes({3, 1}, {4}), {3, 4})
  T.same(ember.broadcast_shapes({2, 1, 3}, {5, 1}, 3), {2, 5, 3})
  T.same(ember.broadcast_shapes(), {})
  T.raises(function() ember.broadcast_shapes({3}, {4}) end, "broadcast_shapes: shape 2 [4] does not broadcast with [3]")
end)

T.test("repeat is registered under its keyword name; tile documents it", function()
  T.eq(ember.Tensor["repeat"], ember["repeat"])
  local x = ember.tensor{1, 2}
  T.same(x["repeat"](x, 2):totable(), {1, 2, 1, 2})
  T.ok(ember.doc(ember.tile):find("repeat", 1, true))
  for _, name in ipairs({"flip", "roll", "einsum", "tensordot", "diagonal", "meshgrid", "moveaxis", "swapdims",
                         "row_stack", "tril_indices", "atleast_3d", "new_full"}) do
    local d = ember.doc(ember[name])
    T.ok(d and d:match("^%S+%(") ~= nil, name .. " has a usage line")
  end
end)

T.test("einsum keeps plain contractions as one matmul", function()
  local a, b = ember.randn(5, 6), ember.randn(6, 7)
  local e = ember.einsum("ij,jk->ik", a, b)
  T.ok((e - a:matmul(b)):abs():max():item() < 1e-5)
  local p, q = ember.randn(3, 5, 6), ember.randn(3, 6, 2)
  T.ok((ember.einsum("bij,bjk->bik", p, q) - p:bmm(q)):abs():max():item() < 1e-5)
  -- a transpose alone is a view
  local v = ember.einsum("ij->ji", a)
  T.same(v:stride(), {1, 6})
end)

-- ------------------------------------------------------------- gradients

T.test("gradcheck: flip, fliplr, flipud, roll, rot90", function()
  check(function(x) return x:flip(1) end, {leaf({3, 4})})
  check(function(x) return x:flip{1, 3} end, {leaf({2, 3, 4})})
  check(function(x) return x:flip(1, 2, 3) end, {leaf({2, 3, 4})})
  check(function(x) return x:t():flip(2) end, {leaf({4, 3})})
  check(function(x) return x:fliplr() end, {leaf({3, 4})})
  check(function(x) return x:flipud() end, {leaf({3, 4})})
  check(function(x) return x:roll(2) end, {leaf({3, 4})})
  check(function(x) return x:roll({1, -2}, {1, 3}) end, {leaf({2, 3, 4})})
  check(function(x) return x:t():roll(1, 1) end, {leaf({4, 3})})
  for k = -1, 3 do check(function(x) return x:rot90(k, {1, 3}) end, {leaf({2, 3, 4})}) end
end)

T.test("gradcheck: tile, repeat, repeat_interleave", function()
  check(function(x) return x:tile(2, 3) end, {leaf({3, 2})})
  check(function(x) return x:tile(2, 1, 2) end, {leaf({3, 2})})
  check(function(x) return x:t():tile(2) end, {leaf({3, 2})})
  check(function(x) return x["repeat"](x, 2, 1, 3) end, {leaf({2, 3})})
  check(function(x) return x:tile(2, 1, 2, 1, 2) end, {leaf({1, 2, 1, 2, 1})})
  check(function(x) return x:repeat_interleave(3) end, {leaf({2, 2})})
  check(function(x) return x:repeat_interleave(2, 2) end, {leaf({2, 3})})
  check(function(x) return x:repeat_interleave(ember.tensor{2, 0, 3}, 1) end, {leaf({3, 2})})
end)

T.test("gradcheck: diagonal, diag, diag_embed, trace", function()
  for _, off in ipairs({0, 1, -1, 2}) do
    check(function(x) return x:diagonal(off) end, {leaf({3, 4})})
    check(function(x) return x:diagonal(off, 1, 3) end, {leaf({3, 2, 4})})
    check(function(x) return x:diagonal(off, 3, 2) end, {leaf({2, 3, 4})})
  end
  check(function(x) return x:t():diagonal(1) end, {leaf({4, 3})})   -- non-contiguous
  check(function(x) return x:diag() end, {leaf({4})})
  check(function(x) return x:diag(-2) end, {leaf({3})})
  check(function(x) return x:diag(1) end, {leaf({3, 3})})
  check(function(x) return x:diag_embed() end, {leaf({2, 3})})
  check(function(x) return x:diag_embed(1, 1, 3) end, {leaf({2, 3})})
  check(function(x) return x:trace() end, {leaf({3, 4})})
  check(function(x) return x:t():trace() end, {leaf({4, 3})})
end)

T.test("gradcheck: kron, tensordot, block_diag", function()
  check(function(a, b) return ember.kron(a, b) end, {leaf({2, 3}), leaf({3, 2})})
  check(function(a, b) return ember.kron(a, b) end, {leaf({2, 1, 3}), leaf({2, 2})})
  check(function(a, b) return ember.tensordot(a, b, 1) end, {leaf({2, 3}), leaf({3, 4})})
  check(function(a, b) return ember.tensordot(a, b, {{1, 3}, {3, 1}}) end, {leaf({2, 3, 4}), leaf({4, 5, 2})})
  check(function(a, b) return ember.tensordot(a, b) end, {leaf({2, 3, 4}), leaf({3, 4})})
  check(function(a, b, c) return ember.block_diag(a, b, c) end, {leaf({2, 2}), leaf({3}), leaf({1, 2})})
  check(function(a, b) return a:t():kron(b:t()) end, {leaf({3, 2}), leaf({2, 3})})       -- non-contiguous
  check(function(a, b) return ember.tensordot(a:t(), b, 1) end, {leaf({3, 2}), leaf({3, 4})})
end)

T.test("gradcheck: einsum", function()
  check(function(a, b) return ember.einsum("ij,jk->ik", a, b) end, {leaf({2, 3}), leaf({3, 4})})
  check(function(a, b) return ember.einsum("ji,jk", a, b) end, {leaf({3, 2}), leaf({3, 4})})
  check(function(a, b) return ember.einsum("bij,bjk->bik", a, b) end, {leaf({2, 2, 3}), leaf({2, 3, 2})})
  check(function(a, b) return ember.einsum("bhqd,bhkd->bqhk", a, b) end, {leaf({2, 2, 3, 2}), leaf({2, 2, 2, 2})})
  check(function(a) return ember.einsum("ii->i", a) end, {leaf({3, 3})})
  check(function(a) return ember.einsum("iij->j", a) end, {leaf({3, 3, 2})})
  check(function(a, b) return ember.einsum("i,i->", a, b) end, {leaf({4}), leaf({4})})
  check(function(a, b) return ember.einsum("i,j->ij", a, b) end, {leaf({3}), leaf({2})})
  check(function(a, b) return ember.einsum("ij,ij->i", a, b) end, {leaf({3, 4}), leaf({3, 4})})
  check(function(a, b, c) return ember.einsum("ij,jk,kl->il", a, b, c) end, {leaf({2, 3}), leaf({3, 2}), leaf({2, 2})})
  check(function(a, b) return ember.einsum("...i,...i->...", a, b) end, {leaf({4, 1, 3}), leaf({2, 3})})
  check(function(a, b) return ember.einsum("ij,jk->ik", a, b) end, {leaf({3, 1}), leaf({2, 4})})   -- size-1 broadcast
  check(function(a) return ember.einsum("...ij->...ji", a) end, {leaf({2, 3, 4})})
  check(function(a, b) return ember.einsum("ij,kj->", a:t(), b) end, {leaf({3, 2}), leaf({4, 3})})
end)

T.test("gradcheck: einsum on the first 40 random equations", function()
  for n = 1, math.min(40, #fx.einsum_fuzz) do
    local c = fx.einsum_fuzz[n]
    local ops = {}
    for i, o in ipairs(c.ops) do ops[i] = ember.tensor(o.values, o.dtype):reshape(o.shape):requires_grad_() end
    local ok, msg = ember.gradcheck(function(...) return ember.einsum(c.eq, ...) end, ops)
    if not ok then error(c.eq .. ": " .. tostring(msg)) end
  end
end)

T.test("gradcheck: unbind, movedim, broadcast_to, stacks, meshgrid, tensor_split, unflatten", function()
  check(function(x) local l = x:unbind(2); return l[1] * l[3] end, {leaf({2, 3})})
  check(function(x) return x:movedim({1, 2}, {3, 1}) end, {leaf({2, 3, 4})})
  check(function(x) return x:broadcast_to(2, 3, 4) end, {leaf({3, 1})})
  check(function(a, b) return ember.hstack{a, b} end, {leaf({2, 3}), leaf({2, 1})})
  check(function(a, b) return ember.vstack{a, b} end, {leaf({3}), leaf({2, 3})})
  check(function(a, b) return ember.dstack{a, b} end, {leaf({3}), leaf({3})})
  check(function(a, b) return ember.column_stack{a, b} end, {leaf({3}), leaf({3, 2})})
  check(function(a, b) local X, Y = ember.meshgrid(a, b, {indexing = "xy"}); return X * Y end, {leaf({3}), leaf({2})})
  check(function(a, b) return ember.cartesian_prod(a, b) end, {leaf({3}), leaf({2})})
  check(function(x) local p = x:tensor_split({2, 3}, 2); return p[1]:sum() * p[3] end, {leaf({2, 5})})
  check(function(x) return x:unflatten(2, {2, -1}) end, {leaf({3, 4})})
  check(function(a, b) local p, q = ember.broadcast_tensors(a, b); return p * q:exp() end, {leaf({3, 1}), leaf({4})})
  check(function(x) local p = x:hsplit({2}); return p[2]:sum(2) * p[1] end, {leaf({3, 4})})
  check(function(x) return x:swapaxes(1, 3):ravel() end, {leaf({2, 3, 4})})
  check(function(x) return ember.atleast_3d(x):diag_embed() end, {leaf({2, 3})})
end)

-- ---------------------------------------------------------------- errors

T.test("bad input raises clear errors", function()
  local x = ember.zeros(3, 4)
  local b = ember.zeros(2, 3, 4)
  T.raises(function() x:flip(3) end, "flip: dim 3 is out of range for a tensor with 2 dims")
  T.raises(function() x:flip{1, -2} end, "flip: dim 1 appears more than once")
  T.raises(function() x:flip() end, "flip: dims are required")
  T.raises(function() x:flip(1.5) end, "flip: dim must be an integer (got 1.5)")
  T.raises(function() ember.flip("x", 1) end, "flip: the input must be a tensor (got string)")
  T.raises(function() ember.zeros(3):fliplr() end, "fliplr: expected a tensor with at least 2 dims (got 1)")
  T.raises(function() ember.tensor(1):flipud() end, "flipud: expected a tensor with at least 1 dim")
  T.raises(function() x:roll({1, 2}) end, "roll: without dims, shifts must be one number (got 2 shifts)")
  T.raises(function() x:roll({1, 2}, 1) end, "roll: shifts and dims must have the same length (got 2 shifts and 1 dims)")
  T.raises(function() x:roll(1, 5) end, "roll: dim 5 is out of range")
  T.raises(function() x:rot90(1, {1}) end, "rot90: dims must be two dims (got 1)")
  T.raises(function() x:rot90(1, {2, -1}) end, "rot90: the two dims must differ (both are 2)")
  T.raises(function() ember.zeros(3):rot90() end, "rot90: expected a tensor with at least 2 dims (got 1)")
  T.raises(function() x:tile(-1, 2) end, "tile: repetitions must be non-negative (got -1 at position 1)")
  T.raises(function() x:tile() end, "tile: the repetitions are required")
  T.raises(function() x["repeat"](x, 2) end, "repeat: 1 repetitions given for a tensor with 2 dims")
  T.raises(function() x:repeat_interleave(-1) end, "repeat_interleave: repeats must be non-negative (got -1)")
  T.raises(function() x:repeat_interleave(ember.tensor{1, 2}, 1) end,
           "repeat_interleave: repeats has 2 elements but dim 1 has size 3")
  T.raises(function() x:repeat_interleave(ember.tensor{1.0, 2, 3}, 1) end, "repeat_interleave: repeats must be a number or a 1-D integer tensor")
  T.raises(function() x:repeat_interleave(ember.tensor{1, -2, 3}, 1) end, "repeat_interleave: repeats must be non-negative")
  T.raises(function() ember.repeat_interleave(ember.tensor{1.5}) end, "repeat_interleave: with one argument, expected a 1-D integer tensor")
  T.raises(function() ember.zeros(3):diagonal() end, "diagonal: expected a tensor with at least 2 dims (got 1)")
  T.raises(function() x:diagonal(0, 2, -1) end, "diagonal: dim1 and dim2 must differ (both are 2)")
  T.raises(function() x:diagonal(0, 1, 3) end, "diagonal: dim2 3 is out of range for a tensor with 2 dims")
  T.raises(function() x:diagonal(0.5) end, "diagonal: offset must be an integer (got 0.5)")
  T.raises(function() b:diag() end, "diag: expected a 1-D or 2-D tensor (got 3 dims, shape [2, 3, 4])")
  T.raises(function() ember.tensor(1.0):diag_embed() end, "diag_embed: expected a tensor with at least 1 dim")
  T.raises(function() x:diag_embed(0, 1, -3) end, "diag_embed: dim1 and dim2 must differ (both are 1)")
  T.raises(function() b:trace() end, "trace: expected a 2-D tensor (got 3 dims, shape [2, 3, 4])")
  T.raises(function() ember.tensor(1):unbind() end, "unbind: cannot unbind a 0-dim tensor")
  T.raises(function() b:movedim({1, 2}, {3}) end, "movedim: source and destination must have the same length (got 2 and 1)")
  T.raises(function() b:movedim({1, 1}, {2, 3}) end, "movedim: dim 1 appears more than once in the source list")
  T.raises(function() b:movedim(4, 1) end, "movedim: source 4 is out of range for a tensor with 3 dims")
  T.raises(function() b:movedim(1) end, "movedim: source and destination dims are required")
  T.raises(function() x:swapaxes(1, 3) end, "swapaxes: dim1 3 is out of range")
  T.raises(function() x:broadcast_to(2, 4) end, "broadcast_to: cannot broadcast [3, 4] to [2, 4] (dim 1: 3 vs 2)")
  T.raises(function() x:broadcast_to(4) end, "broadcast_to: cannot broadcast [3, 4] to [4] (the target has fewer dims)")
  T.raises(function() x:broadcast_to(-1, 3, 4) end, "broadcast_to: -1 is not allowed for the new leading dim 1")
  T.raises(function() ember.broadcast_tensors(x, ember.zeros(2, 1)) end,
           "broadcast_tensors: tensor 2 of shape [2, 1] does not broadcast with the others (shapes [3, 4], [2, 1])")
  T.raises(function() ember.broadcast_tensors(x, 3) end, "broadcast_tensors: tensor 2 must be a tensor (got number)")
  T.raises(function() x:unflatten(2, {3, 2}) end, "unflatten: sizes [3, 2] multiply to 6, not to the size 4 of dim 2")
  T.raises(function() x:unflatten(2, {-1, -1}) end, "unflatten: only one size can be -1")
  T.raises(function() x:unflatten(2, {3, -1}) end, "unflatten: sizes [3, -1] cannot split dim 2 of size 4")
  T.raises(function() x:unflatten(2, 4) end, "unflatten: sizes must be a non-empty table of sizes (got number)")
  T.raises(function() ember.hstack{} end, "hstack: expected a non-empty list of tensors")
  T.raises(function() ember.vstack{x, 2} end, "vstack: tensor 2 must be a tensor (got number)")
  T.raises(function() ember.vstack{x, ember.zeros(3)} end, "cat")
  T.raises(function() ember.meshgrid(x) end, "meshgrid: expected 0-D or 1-D tensors (tensor 1 has shape [3, 4])")
  T.raises(function() ember.meshgrid(ember.zeros(2), {indexing = "yx"}) end, "meshgrid: indexing must be \"ij\" or \"xy\" (got yx)")
  T.raises(function() ember.meshgrid() end, "meshgrid: expected at least one tensor")
  T.raises(function() ember.cartesian_prod(ember.zeros(2), x) end, "cartesian_prod: expected 1-D tensors (tensor 2 has shape [3, 4])")
  T.raises(function() ember.block_diag(b) end, "block_diag: expected tensors with at most 2 dims (tensor 1 has shape [2, 3, 4])")
  T.raises(function() ember.kron(x, 2) end, "kron: b must be a tensor (got number)")
  T.raises(function() ember.kron(ember.zeros(2, 2, 2, 2, 2), ember.zeros(2, 2, 2, 2, 2)) end,
           "kron: shapes [2, 2, 2, 2, 2] and [2, 2, 2, 2, 2] need 10 dims for the block product (at most 8)")
  T.raises(function() x:tensor_split(0) end, "tensor_split: sections must be a positive integer (got 0)")
  T.raises(function() x:tensor_split({2, 0}) end, "tensor_split: index 0 is invalid (indices are 1-based)")
  T.raises(function() ember.zeros(3):diag(2^40) end, "diag: offset 1099511627776 is too large")
  -- an error of a C op underneath names the function called
  T.raises(function() x:tile(1e9, 1e9) end, "tile: expand: shape [1000000000, 3, 1000000000, 4] is too large")
  T.raises(function() x:view_as(ember.zeros(5)) end, "view_as: view: shape [5] is invalid for input of size 12")
  T.raises(function() x:tensor_split("a") end, "tensor_split: expected a number of sections or a table of 1-based split indices")
  T.raises(function() x:tensor_split(ember.tensor{1.5}) end, "tensor_split: an indices_or_sections tensor must be int64 (got float32)")
  T.raises(function() ember.tensor(1):tensor_split(2) end, "tensor_split: expected a tensor with at least 1 dim")
  T.raises(function() x:hsplit(3) end, "hsplit: dim 2 of size 4 does not split into 3 equal sections")
  T.raises(function() x:vsplit(0) end, "vsplit: sections must be a positive integer (got 0)")
  T.raises(function() ember.zeros(3):vsplit(3) end, "vsplit: expected a tensor with at least 2 dims (got 1)")
  T.raises(function() x:dsplit(2) end, "dsplit: expected a tensor with at least 3 dims (got 2)")
  T.raises(function() x:hsplit("a") end, "hsplit: expected a number of sections or a table of 1-based split indices")
  T.raises(function() ember.tensor(1):hsplit(1) end, "hsplit: expected a tensor with at least 1 dim (got 0)")
  T.raises(function() ember.broadcast_tensors(x, nil, x) end, "broadcast_tensors: tensor 2 must be a tensor (got nil)")
  T.raises(function() ember.tril_indices(-1, 3) end, "tril_indices: row must be non-negative (got -1)")
  T.raises(function() ember.triu_indices(3, 2.5) end, "triu_indices: col must be an integer (got 2.5)")
  T.raises(function() ember.tril_indices(3, 3, 0, {dtype = "float32"}) end, "tril_indices: dtype must be \"int64\" or \"int32\" (got float32)")
  T.raises(function() x:new_full({2}, "a") end, "new_full: fill value must be a number (got string)")
  T.raises(function() x:new_zeros(2, "a") end, "new_zeros: size 2 must be an integer (got a)")
end)

T.test("tensordot and einsum errors name the equation and the shapes", function()
  local a, b = ember.zeros(2, 3), ember.zeros(4, 5)
  T.raises(function() ember.tensordot(a, b, 1) end,
           "tensordot: dim 2 of a (size 3) and dim 1 of b (size 4) must match (shapes [2, 3] and [4, 5])")
  T.raises(function() ember.tensordot(a, b, 3) end, "tensordot: cannot contract 3 dims of tensors with 2 and 2 dims")
  T.raises(function() ember.tensordot(a, b, {{1, 2}, {1}}) end, "tensordot: the two dim lists must have the same length (got 2 and 1)")
  T.raises(function() ember.tensordot(a, b, {{3}, {1}}) end, "tensordot: dim of a 3 is out of range")
  T.raises(function() ember.tensordot(a, b, "x") end, "tensordot: dims must be a number or two lists of dims")
  T.raises(function() ember.einsum("ij,jk->ik", a, b) end,
           "einsum: label 'j' has size 3 in operand 1 but 4 in operand 2 (equation 'ij,jk->ik', shapes [2, 3] and [4, 5])")
  T.raises(function() ember.einsum("ij,jk->ik", a, ember.zeros(3, 4, 5)) end,
           "einsum: operand 2 has 3 dims but the equation gives it 2 ('jk')")
  T.raises(function() ember.einsum("...ijk", a) end, "einsum: operand 1 has 2 dims but the equation gives it at least 3 ('...ijk')")
  T.raises(function() ember.einsum("ij,jk->ik", a) end, "einsum: the equation 'ij,jk->ik' has 2 operands but 1 tensor was given")
  T.raises(function() ember.einsum("ij", a, a) end, "einsum: the equation 'ij' has 1 operand but 2 tensors were given")
  T.raises(function() ember.einsum("ij->k", a) end, "einsum: output label 'k' does not appear in any input (equation 'ij->k')")
  T.raises(function() ember.einsum("ij->ii", a) end, "einsum: output label 'i' appears more than once (equation 'ij->ii')")
  T.raises(function() ember.einsum("i1", a) end, "einsum: invalid character '1' in 'i1' (labels are letters a-z, A-Z)")
  T.raises(function() ember.einsum("i.j", a) end, "einsum: a '.' that is not part of '...' in 'i.j'")
  T.raises(function() ember.einsum("......", a) end, "einsum: '...' appears more than once in '......'")
  T.raises(function() ember.einsum("ij->i->j", a) end, "einsum: '->' appears more than once in 'ij->i->j'")
  T.raises(function() ember.einsum("ii", a) end, "einsum: label 'i' is repeated in operand 1 with different sizes 2 and 3 (shape [2, 3])")
  T.raises(function() ember.einsum(a, a) end, "einsum: the first argument must be the equation string (got userdata)")
  T.raises(function() ember.einsum("ij", "a") end, "einsum: tensor 1 must be a tensor (got string)")
end)

T.test("errors point at the caller's line", function()
  local ok, err = pcall(function() ember.zeros(3):fliplr() end)
  T.ok(not ok)
  T.ok(err:find("test_shape.lua:", 1, true) ~= nil, "the position is the test's line: " .. err)
end)

T.done()
