-- mlp_threads.lua: where the MLP training step's time goes with 1 and with
-- 2 threads (forward, backward, Adam step), to see which part keeps the
-- 2-thread speed-up from reaching 2x.  The MLP of issue 8 (784-512-256-10,
-- batch 64, Adam 1e-3) on fixed random data.  Not a test.
--   ember tests/bench/mlp_threads.lua [steps]
local steps = tonumber(arg and arg[1]) or 2000
local warm = 200

local function profile(threads)
  ember.set_num_threads(threads)
  ember.manual_seed(1)
  local m = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                          nn.Linear(256, 10))
  local opt = optim.Adam(m:parameters(), {lr = 1e-3})
  local x = ember.rand(64, 1, 28, 28)    -- (batch, 1, 28, 28)
  local y = ember.randint(1, 11, {64})   -- 1-based labels
  local t = {fwd = 0, bwd = 0, step = 0}
  for i = 1, warm + steps do
    local t0 = ember.wall_time()
    opt:zero_grad()
    local loss = nn.cross_entropy(m(x), y)
    local t1 = ember.wall_time()
    loss:backward()
    local t2 = ember.wall_time()
    opt:step()
    local t3 = ember.wall_time()
    if i > warm then
      t.fwd, t.bwd, t.step = t.fwd + t1 - t0, t.bwd + t2 - t1, t.step + t3 - t2
    end
  end
  t.total = t.fwd + t.bwd + t.step
  return t
end

local one, two = profile(1), profile(2)
print(string.format("MLP step: mean over %d steps after %d warm-up steps", steps, warm))
print(string.format("%-10s %12s %12s %9s", "part", "1 thread us", "2 threads us", "speed-up"))
for _, k in ipairs{"fwd", "bwd", "step", "total"} do
  print(string.format("%-10s %12.1f %12.1f %8.2fx", k, one[k] / steps * 1e6, two[k] / steps * 1e6, one[k] / two[k]))
end
print(string.format("samples/s: %.0f (1 thread), %.0f (2 threads)", 64 * steps / one.total, 64 * steps / two.total))
