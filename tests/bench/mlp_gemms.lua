-- mlp_gemms.lua: the matrix products of one training step of the issue-8
-- MLP (784-512-256-10, batch 64), each timed alone at 1 and 2 threads, with
-- their share of a 1-thread step.  The products that matter for the
-- 2-thread speed-up have only 64 rows (or a contraction of 64).  Not a test.
--   ember tests/bench/mlp_gemms.lua
local function bench(f)
  for _ = 1, 30 do f() end
  local best = math.huge
  for _ = 1, 5 do
    local s = ember.wall_time()
    for _ = 1, 200 do f() end
    best = math.min(best, (ember.wall_time() - s) / 200)
  end
  return best * 1e6
end
local x, W1 = ember.randn(64, 784), ember.randn(512, 784)    -- input, Linear(784, 512).weight
local h1, W2 = ember.randn(64, 512), ember.randn(256, 512)   -- hidden 1, Linear(512, 256).weight
local g1, g2 = ember.randn(64, 512), ember.randn(64, 256)    -- gradients at the two hidden layers
local cases = {
  {"forward 1   (64,784) x (784,512)", function() return x:matmul(W1:t()) end},
  {"forward 2   (64,512) x (512,256)", function() return h1:matmul(W2:t()) end},
  {"dW1         (512,64) x (64,784)", function() return g1:t():matmul(x) end},
  {"dW2         (256,64) x (64,512)", function() return g2:t():matmul(h1) end},
  {"d hidden 1  (64,256) x (256,512)", function() return g2:matmul(W2) end},
}
local saved = ember.get_num_threads()
local total1, total2 = 0, 0
print(string.format("%-36s %10s %10s %9s", "product", "1 thread", "2 threads", "speed-up"))
for _, c in ipairs(cases) do
  ember.set_num_threads(1); local t1 = bench(c[2])
  ember.set_num_threads(2); local t2 = bench(c[2])
  total1, total2 = total1 + t1, total2 + t2
  print(string.format("%-36s %8.1f us %8.1f us %8.2fx", c[1], t1, t2, t1 / t2))
end
print(string.format("%-36s %8.1f us %8.1f us %8.2fx", "all five", total1, total2, total1 / total2))
ember.set_num_threads(saved)
