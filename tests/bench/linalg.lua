-- linalg.lua: ember.linalg timings for `make bench` (tests/bench/run.sh runs
-- tests/bench/torch_linalg.py on the same cases and prints the ratios).
-- Both sides call the same OpenBLAS LAPACK, so the goal is a ratio near 1.
-- Prints "case milliseconds" lines: the best of several runs, float32.
--   ember tests/bench/linalg.lua
local threads = tonumber(os.getenv("EMBER_BENCH_THREADS") or "1")
ember.set_num_threads(threads)
ember.manual_seed(0)
local L = ember.linalg

local function best(fn, reps)
  fn()
  local t = math.huge
  for _ = 1, reps do
    local t0 = ember.wall_time()
    fn()
    t = math.min(t, ember.wall_time() - t0)
  end
  return t * 1e3
end

local n = 512
local A = ember.randn(n, n) + ember.eye(n) * n ^ 0.5
local S = A:matmul(A:t()) / n
local B, b = ember.randn(n, n), ember.randn(n)
local As = ember.randn(10000, 4, 4) + ember.eye(4) * 4
local Bs = ember.randn(10000, 4, 1)
local cases = {
  {"solve512", function() return L.solve(A, B) end, 20},
  {"solve512_vec", function() return L.solve(A, b) end, 20},
  {"inv512", function() return L.inv(A) end, 20},
  {"det512", function() return L.det(A) end, 20},
  {"cholesky512", function() return L.cholesky(S) end, 20},
  {"eigh512", function() return L.eigh(S) end, 5},
  {"svd512", function() return L.svd(A, false) end, 3},
  {"qr512", function() return L.qr(A) end, 10},
  {"inv_10000x4x4", function() return L.inv(As) end, 20},
  {"solve_10000x4x4", function() return L.solve(As, Bs) end, 20},
}
for _, c in ipairs(cases) do
  if not arg[1] or arg[1] == c[1] then print(string.format("%s %.3f", c[1], best(c[2], c[3]))) end
end
