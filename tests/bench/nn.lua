-- nn.lua: a benchmark (not a test) of the nn kernels at the shapes of the
-- reference workloads of DESIGN.md: the CNN (batch 32, Conv2d(1,32,3) on
-- 28x28, MaxPool2), LeNet-5 (batch 64, Conv2d(1,6,5,padding 2) on 28x28,
-- MaxPool2, Conv2d(6,16,5) on 14x14, MaxPool2) and the first layer of the
-- MLP (Linear(784,512) at batch 64, as ember.linear and as nn.Linear).
--   ./ember tests/bench/nn.lua [threads]          all cases (default 1 thread)
--   ./ember tests/bench/nn.lua threads CASE       one case: "CASE fwd_ms both_ms runs"
-- For each case: the median wall time (ember.wall_time) of the forward
-- alone and of forward + backward, in milliseconds, over repeated runs
-- after a warm-up.  Backward computes what training needs: the parameter
-- gradients, and the input gradient except for a network's first layer
-- (PyTorch skips it there too, since the input does not require grad).
--
-- Each case runs in its own process (EMBER, default ./ember): the tensor
-- allocator keeps a cache of freed blocks by size, and a case run after
-- others would find it full of the earlier cases' sizes and measure page
-- faults instead of the kernel (seen: Linear fwd+bwd 1.0 ms alone, 5 ms
-- after the conv cases in one process).
local threads = tonumber(arg and arg[1]) or 1
local only = arg and arg[2]
ember.set_num_threads(threads)
ember.manual_seed(0)

local function param(...) return ember.randn(...):mul_(0.1):requires_grad_() end

-- name -> {shape text, setup() returning f (the forward) and the leaves whose .grad to clear}
local order = {"conv2d CNN", "max_pool2d CNN", "conv2d LeNet 1", "max_pool2d LeNet 1", "conv2d LeNet 2",
               "max_pool2d LeNet 2", "ember.linear", "nn.Linear(784,512)"}
local cases = {
  -- CNN: Conv2d(1,32,3) on (32,1,28,28) -> (32,32,26,26), MaxPool2 -> 13x13
  ["conv2d CNN"] = {"(32,1,28,28) * (32,1,3,3)", function()
    local x, w, b = ember.randn(32, 1, 28, 28), param(32, 1, 3, 3), param(32)
    return function() return ember.conv2d(x, w, b) end, {w, b}
  end},
  ["max_pool2d CNN"] = {"(32,32,26,26) k2", function()
    local p = ember.randn(32, 32, 26, 26):requires_grad_()
    return function() return ember.max_pool2d(p, 2) end, {p}
  end},
  -- LeNet: Conv2d(1,6,5,padding 2) on (64,1,28,28), MaxPool2, Conv2d(6,16,5)
  -- on (64,6,14,14), MaxPool2
  ["conv2d LeNet 1"] = {"(64,1,28,28) * (6,1,5,5) p2", function()
    local x, w, b = ember.randn(64, 1, 28, 28), param(6, 1, 5, 5), param(6)
    return function() return ember.conv2d(x, w, b, {padding = 2}) end, {w, b}
  end},
  ["max_pool2d LeNet 1"] = {"(64,6,28,28) k2", function()
    local p = ember.randn(64, 6, 28, 28):requires_grad_()
    return function() return ember.max_pool2d(p, 2) end, {p}
  end},
  ["conv2d LeNet 2"] = {"(64,6,14,14) * (16,6,5,5)", function()
    local h, w, b = ember.randn(64, 6, 14, 14):requires_grad_(), param(16, 6, 5, 5), param(16)
    return function() return ember.conv2d(h, w, b) end, {h, w, b}
  end},
  ["max_pool2d LeNet 2"] = {"(64,16,10,10) k2", function()
    local p = ember.randn(64, 16, 10, 10):requires_grad_()
    return function() return ember.max_pool2d(p, 2) end, {p}
  end},
  -- Linear(784,512) at batch 64: the op, and the module (the same kernel
  -- plus the Lua call of the module)
  ["ember.linear"] = {"(64,784) x (512,784)^T", function()
    local x, W, b = ember.randn(64, 784), param(512, 784), param(512)
    return function() return ember.linear(x, W, b) end, {W, b}
  end},
  ["nn.Linear(784,512)"] = {"(64,784)", function()
    local x, m = ember.randn(64, 784), nn.Linear(784, 512)
    return function() return m(x) end, {m.weight, m.bias}
  end},
}

local function median(xs)
  table.sort(xs)
  local n = #xs
  return n % 2 == 1 and xs[(n + 1) // 2] or (xs[n // 2] + xs[n // 2 + 1]) / 2
end

-- median seconds of fn() over at least 9 runs and about `budget` seconds
local function bench(fn, budget)
  budget = budget or 0.6
  for _ = 1, 3 do fn() end  -- warm-up (allocator cache, CPU caches)
  local times, start = {}, ember.wall_time()
  while #times < 9 or (ember.wall_time() - start < budget and #times < 300) do
    local t0 = ember.wall_time()
    fn()
    times[#times + 1] = ember.wall_time() - t0
  end
  return median(times), #times
end

if only then
  local c = assert(cases[only], "unknown case " .. only)
  local f, leaves = c[2]()
  local fwd = bench(function() ember.no_grad(f) end)
  local g
  local both, n = bench(function()
    local y = f()
    g = g or ember.ones(table.unpack(y.shape))
    y:backward(g)
    for _, t in ipairs(leaves) do t.grad = nil end
  end)
  print(string.format("%s\t%.4f\t%.4f\t%d", only, fwd * 1e3, both * 1e3, n))
  return
end

local function loadavg()
  local f = io.open("/proc/loadavg")
  if not f then return "?" end
  local s = f:read("l") or ""
  f:close()
  return s:match("^(%S+ %S+ %S+)") or "?"
end

local ember_bin = os.getenv("EMBER") or "./ember"
local script = arg[0] or "tests/bench/nn.lua"
print(string.format("nn kernels, %d thread(s), median ms (load average %s)", threads, loadavg()))
print(string.format("%-20s %-28s %10s %12s %6s", "case", "shape", "forward", "fwd+bwd", "runs"))
for _, name in ipairs(order) do
  local p = io.popen(string.format("%s %s %d %q 2>&1", ember_bin, script, threads, name))
  local out = p:read("a")
  p:close()
  local _, fwd, both, n = out:match("([^\t]+)\t(%S+)\t(%S+)\t(%d+)")
  if fwd then
    print(string.format("%-20s %-28s %10.3f %12.3f %6d", name, cases[name][1], tonumber(fwd), tonumber(both), tonumber(n)))
  else
    print(string.format("%-20s failed: %s", name, out))
  end
end
