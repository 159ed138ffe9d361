-- layout.lua: copies whose innermost dim is short (transposes of (n, 2),
-- cat along a short last dim, channel permutes, a (n, 3) + (3) broadcast),
-- the cases tensor/iter.c's visiting order is for; a contiguous add for
-- scale.  1 thread, best of 5, ms.  Not a test.
--   ember tests/bench/layout.lua
ember.set_num_threads(1)
local function time(name, f)
  f()
  local best = math.huge
  for _ = 1, 5 do
    local s = ember.wall_time()
    f()
    best = math.min(best, ember.wall_time() - s)
  end
  print(string.format("%-44s %8.3f ms", name, best * 1000))
end
local a = ember.randn(2, 1000000)
time("transpose (1e6,2) contiguous", function() return a:t():contiguous() end)
local b = ember.randn(1000000, 2)
time("cat last dim (1e6,2) + (1e6,2)", function() return ember.cat({b, b}, 2) end)
local c = ember.randn(1000, 1000)
time("transpose (1000,1000) contiguous", function() return c:t():contiguous() end)
local d = ember.randn(100000, 3, 4, 2)
time("permute (1e5,3,4,2) -> (1e5,2,3,4) contiguous", function() return d:permute(1, 4, 2, 3):contiguous() end)
local x, bias = ember.randn(1000000, 3), ember.randn(3)
time("broadcast add (1e6,3) + (3)", function() return x + bias end)
time("add contiguous 1000x1000", function() return c + c end)
