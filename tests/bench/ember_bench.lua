-- ember_bench.lua: the ember side of `make bench`; the same cases as
-- torch_bench.py, one "name value unit" line each (run.sh prints ratios).
--   ember tests/bench/ember_bench.lua CASE [samples]
-- CASES: add, tiny_step, mm1024, mm2048, conv, mlp, cnn, lenet
-- Threads: EMBER_BENCH_THREADS (default 1).
local case = assert(arg[1], "usage: ember_bench.lua CASE [samples]")
local samples = tonumber(arg[2]) or 20000
ember.set_num_threads(tonumber(os.getenv("EMBER_BENCH_THREADS") or "1"))
ember.manual_seed(0)

local function now()
  -- wall clock with sub-millisecond resolution (os.clock is CPU time, which
  -- would count both threads)
  return ember.wall_time and ember.wall_time() or os.clock()
end

local function timeit(fn, min_time)
  min_time = min_time or 0.5
  fn()
  local n, t0 = 0, now()
  while true do
    fn()
    n = n + 1
    local dt = now() - t0
    if dt > min_time then return dt / n end
  end
end

local function peak_rss_kb()
  local f = io.open("/proc/self/status")
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmHWM:%s*(%d+)"))
end

local function train(model, opt, batch)
  local ds = data.fashion_mnist("train")
  local x, y = ds.x, ds.y
  local n = x:size(1)
  local function run(count)
    local perm = ember.randperm(n)
    local done, i = 0, 1
    while done < count do
      if i + batch - 1 > n then i = 1 end
      local idx = perm:narrow(1, i, batch)
      i = i + batch
      local xb, yb = x:index_select(1, idx), y:index_select(1, idx)
      opt:zero_grad()
      local loss = nn.cross_entropy(model(xb), yb)
      loss:backward()
      opt:step()
      done = done + batch
    end
  end
  run(batch * 20)  -- warm up
  local t0 = now()
  run(samples)
  print(string.format("samples_per_s %.0f samples/s", samples / (now() - t0)))
  print(string.format("peak_rss %d KB", peak_rss_kb()))
end

if case == "add" then
  local a, b = ember.ones(1), ember.ones(1)
  print(string.format("add %.3f us", timeit(function() return a + b end) * 1e6))
elseif case == "tiny_step" then
  local x = ember.randn(1, 4)
  local W = ember.randn(4, 4):requires_grad_()
  local b = ember.zeros(4):requires_grad_()
  local params = {W, b}
  local function step()
    local loss = (x:matmul(W) + b):sum()
    loss:backward()
    ember.no_grad(function()
      for i = 1, 2 do
        local p = params[i]
        p:sub_(p.grad * 0.01)
        p.grad = nil
      end
    end)
  end
  print(string.format("tiny_step %.2f us", timeit(step) * 1e6))
elseif case == "mm1024" or case == "mm2048" then
  local n = case == "mm1024" and 1024 or 2048
  local a, b = ember.randn(n, n), ember.randn(n, n)
  local t = timeit(function() return a:mm(b) end, 1.0)
  print(string.format("%s %.1f GFLOP/s", case, 2 * n ^ 3 / t / 1e9))
elseif case == "conv" then
  local x = ember.randn(32, 1, 28, 28)
  local w = ember.randn(32, 1, 3, 3):requires_grad_()
  local b = ember.zeros(32):requires_grad_()
  local function step()
    ember.conv2d(x, w, b):sum():backward()
    w.grad, b.grad = nil, nil
  end
  print(string.format("conv %.3f ms", timeit(step) * 1e3))
elseif case == "mlp" then
  local m = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                          nn.Linear(256, 10))
  train(m, optim.Adam(m:parameters(), {lr = 1e-3}), 64)
elseif case == "cnn" then
  local m = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(5408, 128), nn.ReLU(), nn.Linear(128, 10))
  train(m, optim.Adam(m:parameters(), {lr = 1e-3}), 32)
elseif case == "lenet" then
  local m = nn.Sequential(nn.Conv2d(1, 6, 5, {padding = 2}), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                          nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
                          nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
  train(m, optim.SGD(m:parameters(), {lr = 0.01, momentum = 0.9}), 64)
else
  error("unknown case " .. case)
end
