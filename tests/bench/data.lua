-- data.lua: how long data.fashion_mnist takes to load (goal: the train
-- split in under 1 s).  Median of 5 loads.
--   ember tests/bench/data.lua
local function median(t) table.sort(t); return t[(#t + 1) // 2] end
for _, split in ipairs{"train", "test"} do
  local times = {}
  for r = 1, 5 do
    collectgarbage()
    local t0 = ember.wall_time()
    local ds = data.fashion_mnist(split)
    times[r] = ember.wall_time() - t0
    assert(#ds > 0)
  end
  print(string.format("data.fashion_mnist(%q): %.3f s (median of 5)", split, median(times)))
end
