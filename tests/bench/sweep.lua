-- tests/bench/sweep.lua: wall time of a sweep of 8 equal trials, each about
-- 0.5 s of single-threaded math (a small autograd model: forward, backward
-- and an update on tensors too small for parallel loops), with parallel = 1
-- and parallel = 2 worker processes, and the speed-up (goal: >= 1.7x on 2
-- cores).  Run: ./ember tests/bench/sweep.lua [seconds_per_trial [reps]]
local sweep = require("ember.sweep")
local S = ember._sweep

local per_trial = tonumber(arg and arg[1]) or 0.5
-- repetitions of each configuration: the best wall time counts (other
-- processes on a shared machine only ever make a run slower)
local reps = math.tointeger(tonumber(arg and arg[2])) or 1

local function work(iters)
  local x = ember.randn(32, 16)
  local y = ember.randn(32, 16)
  local w = (ember.randn(16, 16) * 0.1):requires_grad_()
  local loss
  for _ = 1, iters do
    loss = ((x:matmul(w):relu() - y) ^ 2):mean()
    w.grad = nil
    loss:backward()
    ember.no_grad(function() w:sub_(w.grad * 0.01) end)
  end
  return loss:item()
end

-- calibrate: iterations for per_trial seconds of CPU on one thread (CPU
-- time, so that other load on the machine does not skew the trial size)
ember.set_num_threads(1)
work(2000)  -- warm up (allocator caches, clock ramp)
local iters, t = 2000, 0
while true do
  local t0 = os.clock()
  work(iters)
  t = os.clock() - t0
  if t > 0.3 then break end
  iters = iters * 2
end
iters = math.max(1, math.floor(iters * per_trial / t))

local function run(parallel)
  local t0 = S.clock()
  local res = sweep.run{space = {k = sweep.int(1, 8)}, parallel = parallel, verbose = false,
                        trial = function() return {loss = work(iters)} end}
  local wall = S.clock() - t0
  local busy = 0
  for _, r in ipairs(res) do
    assert(r.status == "COMPLETE", r.error)
    busy = busy + r.seconds
  end
  return wall, busy / wall
end

print(string.format("sweep bench: 8 trials of %d iterations (~%.2f s each on 1 thread), %d cores",
                    iters, per_trial, S.cores()))
-- concurrency: the sum of the trials' wall times over the sweep's (how
-- many trials were running on average)
local w1, w2, c1, c2 = math.huge, math.huge, 0, 0
for _ = 1, reps do
  local w, c = run(1)
  if w < w1 then w1, c1 = w, c end
  w, c = run(2)
  if w < w2 then w2, c2 = w, c end
end
print(string.format("parallel = 1: %6.2f s  (concurrency %.2f)", w1, c1))
print(string.format("parallel = 2: %6.2f s  (concurrency %.2f)", w2, c2))
print(string.format("speed-up:     %6.2fx (goal >= 1.7x)", w1 / w2))
-- other load matters: with the kernel's autogroup scheduling, a session's
-- processes share one slice of a busy machine however many there are
local f = io.open("/proc/loadavg", "r")
if f then
  print("load average: " .. (f:read("l") or "?"):match("^(%S+ %S+ %S+)") ..
        " (the speed-up needs otherwise idle cores)")
  f:close()
end
