-- test_memory.lua: tensor memory is charged to the Lua GC, so a loop that
-- creates big tensors and drops them needs no collectgarbage().  Lua only
-- sees the few bytes of each tensor's box; without the accounting of
-- vm/tensor_bind.c (vm_gc_account) it would let gigabytes of dead storage
-- pile up before collecting (Torch7's classic out-of-memory).  The measure is
-- the kernel's: the process's peak resident set (VmHWM in /proc/self/status),
-- which counts pages really touched, so every tensor here is filled.
local T = dofile("tests/lua/harness.lua")

local LIMIT_MB = 512
-- ASan keeps freed blocks in a quarantine (256 MB by default) and maps
-- shadow memory beside the heap; under `make sanitize` those come on top.
local ASAN_EXTRA_MB = os.getenv("SANITIZE") and 384 or 0

local function status_kb(field)
  local f = io.open("/proc/self/status", "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return tonumber(s:match(field .. ":%s*(%d+) kB"))
end

local function peak_mb() return status_kb("VmHWM") / 1024 end

if not status_kb("VmHWM") then
  io.write("SKIP test_memory: /proc/self/status has no VmHWM here\n")
  T.done()
end

local start_mb = peak_mb()

T.test("5,000 filled tensors of 4 MB (20 GB in all), no collectgarbage: peak RSS < 512 MB", function()
  local n = 1000000                 -- float32: 4 MB
  local last
  for i = 1, 5000 do
    local t = ember.ones(n)          -- ones writes every element: all pages touched
    if i % 1000 == 0 then last = t end
  end
  T.eq(last:sum():item(), n, "the tensors really hold their values")
  local peak = peak_mb()
  io.write(string.format("peak RSS (VmHWM) %.1f MB, at start %.1f MB\n", peak, start_mb))
  T.ok(peak < LIMIT_MB + ASAN_EXTRA_MB, string.format("peak RSS %.1f MB", peak))
end)

T.test("5,000 chained 4 MB temporaries (x = x * c + 1, fill_), no collectgarbage: peak RSS < 512 MB", function()
  local x = ember.empty(1000000):fill_(0)
  for _ = 1, 2500 do
    x = x * 0.5 + 1                  -- two fresh 4 MB results per step
  end
  for _ = 1, 1000 do
    local y = ember.empty(1000000, {dtype = "float64"}):fill_(2)   -- 8 MB each
    x:add_(y:float():mul_(0))
  end
  T.near(x[1], 2, 1e-6)              -- the fixed point of x * 0.5 + 1
  local peak = peak_mb()
  io.write(string.format("peak RSS (VmHWM) %.1f MB\n", peak))
  T.ok(peak < LIMIT_MB + ASAN_EXTRA_MB, string.format("peak RSS %.1f MB", peak))
end)

T.done()
