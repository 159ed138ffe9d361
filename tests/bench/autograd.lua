-- autograd.lua: the cost of a tiny training step (issue: autograd).
-- Linear-like x:matmul(W) + b on (1,4)x(4,4), sum, backward, and an SGD
-- update written in Lua.  Prints microseconds per step (median of 5 runs).
--   ember tests/bench/autograd.lua [steps]
local steps = tonumber(arg and arg[1]) or 20000
ember.set_num_threads(1)
local x = ember.randn(1, 4)
local W = ember.randn(4, 4):requires_grad_()
local b = ember.zeros(4):requires_grad_()
local params = {W, b}

local function step()
  local loss = (x:matmul(W) + b):sum()
  loss:backward()
  ember.no_grad(function()
    for i = 1, #params do
      local p = params[i]
      p:sub_(p.grad * 0.01)
      p.grad = nil
    end
  end)
end

for _ = 1, 1000 do step() end  -- warm up
local times = {}
for r = 1, 5 do
  local t0 = os.clock()
  for _ = 1, steps do step() end
  times[r] = (os.clock() - t0) / steps * 1e6
end
table.sort(times)
print(string.format("tiny step (matmul + add + sum + backward + SGD in Lua): %.2f us/step", times[3]))

-- per-op cost: a + b on 1-element tensors
local a1, b1 = ember.ones(1), ember.ones(1)
local n = steps * 10
local t0 = os.clock()
for _ = 1, n do local _c = a1 + b1 end
print(string.format("a + b, 1-element tensors: %.3f us/op", (os.clock() - t0) / n * 1e6))
