-- einsum.lua: ember.einsum against the equivalent matmul call, to show the
-- Lua planning in lua/ember/tensor_einsum.lua adds no cost beyond one
-- BLAS call: (64,128)x(128,256) "ij,jk->ik" vs a:matmul(b), and the batched
-- (32,64,64)x(32,64,64) "bij,bjk->bik" vs a:bmm(b); also attention's
-- "bhqd,bhkd->bhqk" vs q:matmul(k:transpose(3, 4)).  Prints microseconds per
-- call (median of 7 runs) and the ratio einsum / matmul.
--   ember tests/bench/einsum.lua [iterations] [threads]
local iters = tonumber(arg and arg[1]) or 2000
ember.set_num_threads(tonumber(arg and arg[2]) or 1)

-- runs of the two functions alternate, so a change in machine load hits both
local function compare(name, e, m)
  for _ = 1, math.max(10, iters // 10) do e(); m() end
  local te, tm = {}, {}
  for r = 1, 7 do
    for _, pair in ipairs({{e, te}, {m, tm}}) do
      local fn, out = pair[1], pair[2]
      local t0 = ember.wall_time()
      for _ = 1, iters do fn() end
      out[r] = (ember.wall_time() - t0) / iters * 1e6
    end
  end
  table.sort(te); table.sort(tm)
  print(string.format("%-44s einsum %8.1f us   matmul %8.1f us   ratio %.3f", name, te[4], tm[4], te[4] / tm[4]))
end

local a, b = ember.randn(64, 128), ember.randn(128, 256)
compare("ij,jk->ik (64,128)x(128,256)",
        function() return ember.einsum("ij,jk->ik", a, b) end, function() return a:matmul(b) end)
local p, q = ember.randn(32, 64, 64), ember.randn(32, 64, 64)
compare("bij,bjk->bik (32,64,64)x(32,64,64)",
        function() return ember.einsum("bij,bjk->bik", p, q) end, function() return p:bmm(q) end)
local qh, kh = ember.randn(8, 4, 64, 32), ember.randn(8, 4, 64, 32)
compare("bhqd,bhkd->bhqk (8,4,64,32)x(8,4,64,32)",
        function() return ember.einsum("bhqd,bhkd->bhqk", qh, kh) end,
        function() return qh:matmul(kh:transpose(3, 4)) end)
