-- test_nn_torch.lua: ember's nn layers, losses, optimizers and schedulers
-- against PyTorch numerics.  tests/fixtures/nn_torch.lua (written by
-- tests/fixtures/make_fixtures.py with torch; committed, so this test needs
-- no torch) holds, for every layer, PyTorch's parameters, an input, the
-- output and the gradients of sum(out * R); for every loss its value and
-- input gradient; 5 optimizer steps; scheduler lr sequences.  Each layer is
-- checked in float64 (within 1e-10) and float32 (within 1e-5), relative to
-- the largest magnitude of the reference.
local T = dofile("tests/lua/harness.lua")
local fx = dofile("tests/fixtures/nn_torch.lua")

local TOL = {float64 = 1e-10, float32 = 1e-5}

local function tensor(v, dtype)
  if type(v) == "number" then return ember.tensor(v, dtype) end
  return ember.tensor(v, dtype)
end

local function close(got, want, tol, what)
  if not ember.is_tensor(got) then error(what .. ": missing (got " .. type(got) .. ")", 2) end
  local w = tensor(want, "float64")
  if got:numel() ~= w:numel() then
    error(string.format("%s: %d elements, expected %d", what, got:numel(), w:numel()), 2)
  end
  local g = got:detach():double():reshape(w.shape)
  local d = (g - w):abs():max():item()
  local scale = w:numel() > 0 and w:abs():max():item() or 0
  if not (d <= tol * math.max(1, scale)) then
    error(string.format("%s: max difference %.3g (scale %.3g, tolerance %.1g)", what, d, scale, tol), 2)
  end
end

-- every tensor among the results (nested tables too), flattened and joined,
-- as the fixture's out_fn did; a single tensor stays as it is
local function joined(...)
  local list = {}
  local function add(v)
    if ember.is_tensor(v) then list[#list + 1] = v
    elseif type(v) == "table" then for _, x in ipairs(v) do add(x) end end
  end
  for i = 1, select("#", ...) do add((select(i, ...))) end
  if #list == 1 then return list[1] end
  for i, t in ipairs(list) do list[i] = t:flatten() end
  return ember.cat(list, 1)
end

local function build(expr, env)
  local chunk = assert(load("return " .. expr, "=" .. expr, "t", env))
  return chunk()
end

for _, c in ipairs(fx.layers) do
  T.test("torch: " .. c.name, function()
    for _, dtype in ipairs({"float64", "float32"}) do
      local tol = dtype == "float64" and c.tol64 or TOL[dtype]  -- tol64: see the fixture's comment
      local m = build(c.make, {nn = nn})
      m:to(dtype)
      local sd = {}
      for k, v in pairs(c.params) do
        sd[k] = k == "num_batches_tracked" and ember.tensor(v) or tensor(v, dtype)
      end
      m:load_state_dict(sd)
      m:train(c.train)
      local x
      if c.input_grad then
        x = tensor(c.input, dtype):requires_grad_()
      else
        x = ember.tensor(c.input)  -- 1-based ids
      end
      local args = {}
      for i, a in ipairs(c.args or {}) do args[i] = tensor(a, dtype) end
      if c.opts then args[#args + 1] = build(c.opts, {ember = ember, dtype = dtype}) end
      local out = joined(m(x, table.unpack(args)))
      close(out, c.output, tol, dtype .. " output")
      ;(out * tensor(c.R, dtype)):sum():backward()
      if c.input_grad then close(x.grad, c.input_grad, tol, dtype .. " input grad") end
      local n = 0
      for name, p in m:named_parameters() do
        if c.grads[name] then
          close(p.grad, c.grads[name], tol, dtype .. " grad of " .. name)
          n = n + 1
        end
      end
      local want = 0
      for _ in pairs(c.grads) do want = want + 1 end
      T.eq(n, want, "parameters with gradients")
      for k, v in pairs(c.buffers_after or {}) do close(m[k], v, tol, dtype .. " " .. k .. " after") end
    end
  end)
end

for _, c in ipairs(fx.losses) do
  T.test("torch loss: " .. c.name, function()
    for _, dtype in ipairs({"float64", "float32"}) do
      local tol = TOL[dtype]
      local x = tensor(c.input, dtype):requires_grad_()
      local target
      local first = c.target
      while type(first) == "table" do first = first[1] end
      if math.type(first) == "integer" then target = ember.tensor(c.target) else target = tensor(c.target, dtype) end
      local o = {}
      for k, ov in pairs(c.opts) do o[k] = type(ov) == "table" and tensor(ov, dtype) or ov end
      local v = nn[c.call](x, target, o)
      close(v, c.output, tol, dtype .. " value")
      ;(v * tensor(c.R, dtype)):sum():backward()
      close(x.grad, c.input_grad, tol, dtype .. " input grad")
    end
  end)
end

for _, c in ipairs(fx.optimizers) do
  T.test("torch optimizer: " .. c.name .. " (5 steps)", function()
    for _, dtype in ipairs({"float64", "float32"}) do
      local tol = TOL[dtype]
      local params = {}
      for i, p in ipairs(c.params0) do params[i] = tensor(p, dtype):requires_grad_() end
      local opt = optim[c.class](params, c.opts)
      for s = 1, #c.steps do
        for i, p in ipairs(params) do p.grad = tensor(c.grads[s][i], dtype) end
        opt:step()
        for i, p in ipairs(params) do close(p, c.steps[s][i], tol * 10, dtype .. " step " .. s .. " param " .. i) end
      end
    end
  end)
end

for _, c in ipairs(fx.schedulers) do
  T.test("torch scheduler: " .. c.name, function()
    local p = ember.zeros(1):requires_grad_()
    local opt = c.opt == "Adam" and optim.Adam({p}, {lr = 0.5}) or optim.SGD({p}, {lr = 0.5, momentum = 0.9})
    local s = build(c.make, {optim = optim, opt = opt})
    local lrs = {opt.param_groups[1].lr}
    for i = 1, #c.lrs - 1 do
      opt:step()
      s:step(c.metrics[i])
      lrs[#lrs + 1] = opt.param_groups[1].lr
    end
    T.near(lrs, c.lrs, 1e-12)
  end)
end

-- functional calls with several inputs (margin / embedding losses, pad,
-- interpolate, similarity): c.expr is a Lua function expression; inputs of
-- kind "grad" get gradients, "float" ones not, "int" ones are 1-based ids
for _, c in ipairs(fx.functional or {}) do
  T.test("torch functional: " .. c.name, function()
    for _, dtype in ipairs({"float64", "float32"}) do
      local tol = TOL[dtype]
      local args = {}
      for i, v in ipairs(c.inputs) do
        local kind = c.kinds[i]
        if kind == "int" then args[i] = ember.tensor(v)
        elseif kind == "float" then args[i] = tensor(v, dtype)
        else args[i] = tensor(v, dtype):requires_grad_() end
      end
      local f = build(c.expr, {nn = nn, ember = ember})
      local out = f(table.unpack(args, 1, #c.inputs))
      close(out, c.output, tol, dtype .. " output")
      ;(out * tensor(c.R, dtype)):sum():backward()
      for i, g in ipairs(c.grads) do
        if g then close(args[i].grad, g, tol, dtype .. " grad of input " .. i) end
      end
    end
  end)
end

T.done()
