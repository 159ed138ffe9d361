-- tour.lua: a first look at ember: tensors, broadcasting, 1-based indexing,
-- autograd, and a tiny model fitted by gradient descent.
--   ember examples/tour.lua
ember.manual_seed(0)

local x = ember.tensor{{1, 2, 3}, {4, 5, 6}}
print("x =", x)
print("x:float() / 2 + 1 =", x:float() / 2 + 1)
print("column 2:", x[{{}, 2}])
local v, i = x:max(2)
print("row maxima and their 1-based positions:", v, i)

-- fit y = 3 x1 - 2 x2 + 1 by gradient descent, autograd doing the calculus
local X = ember.randn(256, 2)
local Y = X:matmul(ember.tensor{{3.0}, {-2.0}}) + 1
local W = ember.zeros(2, 1):requires_grad_()
local b = ember.zeros(1):requires_grad_()
local t0 = os.clock()
for step = 1, 200 do
  local loss = (X:matmul(W) + b - Y):pow(2):mean()
  loss:backward()
  ember.no_grad(function()
    W:sub_(W.grad * 0.1)
    b:sub_(b.grad * 0.1)
  end)
  W.grad, b.grad = nil, nil
  if step % 50 == 0 then print(string.format("step %3d  loss %.6f", step, loss:item())) end
end
print("learned W:", W:detach(), "b:", b:detach())
print(string.format("200 steps in %.1f ms", (os.clock() - t0) * 1000))
