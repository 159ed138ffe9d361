-- test_data.lua: ember.data: tensor datasets, subsets and split, the loader
-- (batch sizes, drop_last, seeded shuffles covering every row once,
-- transforms), the transforms themselves, the readers (IDX plain and
-- gzipped, Fashion-MNIST, CIFAR-10 on a generated file, CSV, fortunes) and
-- the character vocabulary.
local T = dofile("tests/lua/harness.lua")

local tmpdir = os.tmpname()
os.remove(tmpdir)
os.execute("mkdir -p " .. tmpdir)

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

T.test("tensors: length, get, [i], batch, errors", function()
  local x = ember.arange(12):view(6, 2)
  local y = ember.arange(1, 7)
  local ds = data.tensors(x, y)
  T.eq(#ds, 6)
  local xi, yi = ds:get(3)
  T.same(xi:totable(), {4, 5})
  T.eq(yi, 3)
  local pair = ds[2]
  T.same(pair[1]:totable(), {2, 3})
  T.eq(pair[2], 2)
  local xb, yb = ds:batch(ember.tensor{6, 1})
  T.same(xb:totable(), {{10, 11}, {0, 1}})
  T.same(yb:totable(), {6, 1})
  T.same(ds:get(-1):totable(), {10, 11})
  T.raises(function() ds:get(7) end, "out of range 1..6")
  T.raises(function() data.tensors(x, ember.arange(5)) end, "x has 6 rows but y has 5")
  T.raises(function() data.tensors({1, 2}) end, "x must be a tensor")
  T.ok(tostring(ds):find("TensorDataset%(6 samples"))
end)

T.test("split: sizes, disjoint cover, seeded and reproducible", function()
  local ds = data.tensors(ember.arange(100):view(100, 1), ember.arange(100))
  local a, b = data.split(ds, 0.8, {seed = 5})
  T.eq(#a, 80)
  T.eq(#b, 20)
  local seen = {}
  for i = 1, #a do local _, y = a:get(i); seen[y] = (seen[y] or 0) + 1 end
  for i = 1, #b do local _, y = b:get(i); seen[y] = (seen[y] or 0) + 1 end
  for v = 0, 99 do T.eq(seen[v], 1, "row " .. v) end
  local a2 = data.split(ds, 0.8, {seed = 5})
  T.same(a2.indices:totable(), a.indices:totable())
  local a3 = data.split(ds, 0.8, {seed = 6})
  T.ok(table.concat(a3.indices:totable(), ",") ~= table.concat(a.indices:totable(), ","), "other seed, other order")
  -- shuffled: not the identity
  T.ok(table.concat(a.indices:totable(), ",") ~= table.concat(ember.arange(1, 81):totable(), ","))
  -- subset batches go through the parent's index_select
  local xb, yb = a:batch(ember.tensor{1, 2})
  T.same(yb:totable(), {a.indices[1] - 1, a.indices[2] - 1})
  T.eq(xb.shape[1], 2)
  T.raises(function() data.split(ds, 1.5) end, "fraction")
end)

T.test("loader: batch count, last batch, drop_last, seeded shuffle covers every row", function()
  local ds = data.tensors(ember.arange(10):view(10, 1):float(), ember.arange(10))
  local l = data.loader(ds, {batch_size = 4})
  T.eq(#l, 3)
  local sizes, ys = {}, {}
  for xb, yb in l:batches() do
    sizes[#sizes + 1] = xb.shape[1]
    for _, v in ipairs(yb:totable()) do ys[#ys + 1] = v end
  end
  T.same(sizes, {4, 4, 2})
  T.same(ys, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
  local ld = data.loader(ds, {batch_size = 4, drop_last = true})
  T.eq(#ld, 2)
  local n = 0
  for xb in ld:batches() do n = n + 1; T.eq(xb.shape[1], 4) end
  T.eq(n, 2)
  local ls = data.loader(ds, {batch_size = 3, shuffle = true, seed = 1})
  local order1 = {}
  for _, yb in ls:batches() do for _, v in ipairs(yb:totable()) do order1[#order1 + 1] = v end end
  local order2 = {}
  for _, yb in ls:batches() do for _, v in ipairs(yb:totable()) do order2[#order2 + 1] = v end end
  local sorted = {table.unpack(order1)}
  table.sort(sorted)
  T.same(sorted, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
  T.ok(table.concat(order1, ",") ~= table.concat(order2, ","), "a new order each epoch")
  local ls2 = data.loader(ds, {batch_size = 3, shuffle = true, seed = 1})
  local again = {}
  for _, yb in ls2:batches() do for _, v in ipairs(yb:totable()) do again[#again + 1] = v end end
  T.same(again, order1, "same seed, same first epoch")
  T.raises(function() data.loader(ds, {batch_size = 0}) end, "batch_size")
  T.raises(function() data.loader(42) end, "expected a dataset")
end)

T.test("loader over a generic dataset stacks samples; transform runs per batch", function()
  local ds = {n = 5}
  function ds.get(self, i) return ember.full({2}, i), i * 10 end
  setmetatable(ds, {__len = function(s) return s.n end})
  local l = data.loader(ds, {batch_size = 2, transform = function(x, y) return x * 2, y end})
  local xs, ys = {}, {}
  for xb, yb in l:batches() do xs[#xs + 1] = xb; ys[#ys + 1] = yb end
  T.eq(#xs, 3)
  T.same(xs[1]:totable(), {{2, 2}, {4, 4}})
  T.same(ys[3]:totable(), {50})
end)

T.test("loader is fast on tensor datasets (no per-sample Lua loop)", function()
  local x = ember.rand(60000, 784)
  local y = ember.randint(1, 11, {60000})
  local l = data.loader(data.tensors(x, y), {batch_size = 64, shuffle = true})
  local t0 = ember._sys.clock()
  local n = 0
  for xb in l:batches() do n = n + xb.shape[1] end
  T.eq(n, 60000)
  T.ok(ember._sys.clock() - t0 < 2.0, "one pass over 60000x784 took " .. (ember._sys.clock() - t0) .. " s")
end)

T.test("transforms: normalize, random_crop, horizontal_flip, compose", function()
  local x = ember.arange(2 * 3 * 4 * 4):view(2, 3, 4, 4):float()
  local nrm = data.normalize({1, 2, 3}, {2, 2, 2})
  local out = nrm(x)
  T.near(out[{1, 2, 1, 1}]:item(), (x[{1, 2, 1, 1}]:item() - 2) / 2)
  T.near(out[{2, 3, 4, 4}]:item(), (x[{2, 3, 4, 4}]:item() - 3) / 2)
  T.near(data.normalize(0.5, 0.5)(ember.ones(1, 2, 2)):sum():item(), 4)
  -- crop without padding to the same size is the identity
  T.eq((data.random_crop(4, 0)(x) - x):abs():max():item(), 0)
  local c = data.random_crop(4, 2)(x)
  T.same(c.shape, {2, 3, 4, 4})
  -- every cropped value is either padding (0) or a value of the same sample
  local c1 = data.random_crop(2)(x:select(1, 1))
  T.same(c1.shape, {3, 2, 2})
  -- a crop is a contiguous window: its right neighbour is +1, its lower +4
  T.eq(c1[{1, 1, 2}]:item() - c1[{1, 1, 1}]:item(), 1)
  T.eq(c1[{1, 2, 1}]:item() - c1[{1, 1, 1}]:item(), 4)
  local flipped = data.horizontal_flip(1.0)(x)
  T.same(flipped[{1, 1, 1}]:totable(), {3, 2, 1, 0})
  local same = data.horizontal_flip(0.0)(x)
  T.eq((same - x):abs():max():item(), 0)
  local both = data.compose{data.horizontal_flip(1.0), data.normalize(0, 2)}(x)
  T.same(both[{1, 1, 1}]:totable(), {1.5, 1, 0.5, 0})
  T.raises(function() data.random_crop(9)(x) end, "larger than")
end)

-- an IDX file: magic 0 0 type ndim, big-endian dims, payload
local function idx_bytes(code, shape, payload)
  local parts = {string.char(0, 0, code, #shape)}
  for _, d in ipairs(shape) do parts[#parts + 1] = string.pack(">I4", d) end
  parts[#parts + 1] = payload
  return table.concat(parts)
end

T.test("idx: uint8, int32, gzipped, truncated", function()
  local p = tmpdir .. "/a.idx"
  write(p, idx_bytes(0x08, {2, 3}, string.char(1, 2, 3, 4, 5, 255)))
  local t = data.idx(p)
  T.eq(t.dtype, "uint8")
  T.same(t:totable(), {{1, 2, 3}, {4, 5, 255}})
  os.execute("gzip -kf " .. p)
  T.same(data.idx(p .. ".gz"):totable(), {{1, 2, 3}, {4, 5, 255}})
  write(p, idx_bytes(0x0C, {2}, string.pack(">i4>i4", -7, 70000)))
  local i = data.idx(p)
  T.same(i:totable(), {-7, 70000})
  write(p, idx_bytes(0x08, {4, 4}, "abc"))
  T.raises(function() data.idx(p) end, "")
  write(p, "hello world")
  T.raises(function() data.idx(p) end, "")
end)

T.test("idx: the Lua fallback reader agrees with data.idx", function()
  local p = tmpdir .. "/b.idx"
  write(p, idx_bytes(0x08, {2, 2}, string.char(9, 8, 7, 6)))
  T.same(data._read_idx_lua(p):totable(), {{9, 8}, {7, 6}})
  os.execute("gzip -kf " .. p)
  T.same(data._read_idx_lua(p .. ".gz"):totable(), {{9, 8}, {7, 6}})
  write(p, idx_bytes(0x0D, {3}, string.pack(">f>f>f", 1.5, -2, 0.25)))
  T.same(data._read_idx_lua(p):totable(), {1.5, -2, 0.25})
  write(p, idx_bytes(0x0E, {1}, string.pack(">d", 0.1)))
  T.eq(data._read_idx_lua(p):totable()[1], 0.1)
  write(p, idx_bytes(0x08, {3, 3}, "ab"))
  T.raises(function() data._read_idx_lua(p) end, "bytes of data, shape needs 9")
  write(p, idx_bytes(0x07, {1}, "a"))
  T.raises(function() data._read_idx_lua(p) end, "unknown element type 0x07")
end)

T.test("_sys.from_bytes: copies bytes, checks sizes", function()
  local t = ember._sys.from_bytes("\1\2\3\4\5", "uint8", {2, 2}, 2)
  T.same(t:totable(), {{2, 3}, {4, 5}})
  local f = ember._sys.from_bytes(string.pack("<f<f", 1.5, -3), "float32", {2})
  T.same(f:totable(), {1.5, -3})
  T.raises(function() ember._sys.from_bytes("abc", "uint8", {2, 2}) end, "4 bytes needed")
  T.raises(function() ember._sys.from_bytes("abc", "uint8", {1}, 9) end, "string has 0 left")
  T.raises(function() ember._sys.from_bytes("abc", "uint8", {-1}) end, "bad size")
  T.raises(function() ember._sys.from_bytes("abc", "uint8", {1}, 0) end, "offset")
end)

T.test("fashion_mnist: shapes, ranges, classes, load time", function()
  local f = io.open("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", "rb")
  if not f then
    T.raises(function() data.fashion_mnist("test") end, "dataset-fashion-mnist")
    return
  end
  f:close()
  -- load time is a benchmark figure (tests/bench), never asserted: the
  -- machines are shared and noisy
  local ds = data.fashion_mnist("train")
  T.eq(#ds, 60000)
  T.same(ds.x.shape, {60000, 1, 28, 28})
  T.eq(ds.x.dtype, "float32")
  T.eq(ds.y.dtype, "int64")
  T.eq(ds.y:min():item(), 1)
  T.eq(ds.y:max():item(), 10)
  T.ok(ds.x:min():item() >= 0 and ds.x:max():item() <= 1)
  T.eq(ds.classes[1], "T-shirt/top")
  T.eq(ds.classes[10], "Ankle boot")
  -- the first training image is an ankle boot (label 9 zero-based)
  T.eq(ds.y[1], 10)
  local test = data.fashion_mnist("test")
  T.eq(#test, 10000)
  -- 1000 images per class in the test split
  T.eq(test.y:eq(3):sum():item(), 1000)
  T.raises(function() data.fashion_mnist("valid") end, 'split must be "train" or "test"')
  T.raises(function() data.fashion_mnist("test", {dir = tmpdir .. "/none"}) end,
           "install the Debian package dataset-fashion-mnist")
end)

T.test("cifar10: a generated binary batch", function()
  local dir = tmpdir .. "/cifar-10-batches-bin"
  os.execute("mkdir -p " .. dir)
  local recs = {}
  for r = 1, 3 do
    local px = {}
    for i = 1, 3072 do px[i] = string.char((r * 7 + i) % 256) end
    recs[r] = string.char(r - 1) .. table.concat(px)
  end
  write(dir .. "/test_batch.bin", table.concat(recs))
  local ds = data.cifar10(dir, "test")
  T.eq(#ds, 3)
  T.same(ds.x.shape, {3, 3, 32, 32})
  T.same(ds.y:totable(), {1, 2, 3})
  T.eq(ds.classes[1], "airplane")
  -- record 2, channel 1, pixel (1,1) is byte (2*7+1) % 256
  T.near(ds.x[{2, 1, 1, 1}]:item(), 15 / 255, 1e-6)
  -- channel 3 starts at byte 2049 of the record's pixels
  T.near(ds.x[{1, 3, 1, 1}]:item(), ((7 + 2049) % 256) / 255, 1e-6)
  T.raises(function() data.cifar10(dir, "train") end, "data_batch_1.bin not found")
  write(dir .. "/test_batch.bin", "short")
  T.raises(function() data.cifar10(dir, "test") end, "not a whole number")
end)

T.test("csv: header, numbers, NaN, bad fields", function()
  local p = tmpdir .. "/a.csv"
  write(p, "a,b,c\n1,2,3\n4.5,-5,\n")
  local t, names = data.csv(p)
  T.same(names, {"a", "b", "c"})
  T.same(t.shape, {2, 3})
  T.near(t[{2, 1}]:item(), 4.5)
  T.ok(t[{2, 3}]:item() ~= t[{2, 3}]:item(), "empty cell is NaN")
  write(p, "1;2\n3;4\n")
  local t2, n2 = data.csv(p, {sep = ";"})
  T.eq(n2, nil)
  T.same(t2:totable(), {{1, 2}, {3, 4}})
  write(p, "1,2\n3,x\n")
  T.raises(function() data.csv(p) end, "a.csv:2: field 2 is not a number")
  write(p, "1,2\n3\n")
  T.raises(function() data.csv(p) end, "1 fields, expected 2")
end)

T.test("fortunes: texts with categories", function()
  local f = io.open("/usr/share/games/fortunes/fortunes", "r")
  if not f then
    T.raises(function() data.fortunes() end, "install the Debian package fortunes")
    return
  end
  f:close()
  local fs = data.fortunes()
  T.ok(#fs > 1000, "#fortunes " .. #fs)
  T.eq(#fs.texts, #fs.categories)
  T.eq(fs.labels:numel(), #fs)
  local text, cat = fs:get(1)
  T.eq(type(text), "string")
  T.eq(fs.classes[fs.labels[1]], cat)
  local has = {}
  for _, c in ipairs(fs.classes) do has[c] = true end
  T.ok(has.computers and has.science, "categories are the file names")
  for i = 1, #fs, 997 do T.ok(not fs.texts[i]:find("\n%%\n"), "no separator inside a text") end
  -- a directory of our own
  local d = tmpdir .. "/fort"
  os.execute("mkdir -p " .. d)
  write(d .. "/jokes", "one\n%\ntwo\nlines\n%\nthree\n")
  write(d .. "/jokes.dat", "\0\0binary")
  local mine = data.fortunes{dir = d}
  T.same(mine.texts, {"one", "two\nlines", "three"})
  T.same(mine.classes, {"jokes"})
  T.raises(function() data.fortunes{dir = d .. "/none"} end, "install the Debian package fortunes")
end)

T.test("vocab: encode/decode round trip, 1-based ids, UTF-8, errors", function()
  local v = data.vocab("hello world")
  T.eq(#v, 8)
  T.same(v.chars, {" ", "d", "e", "h", "l", "o", "r", "w"})
  local ids = v:encode("hello")
  T.eq(ids.dtype, "int64")
  T.same(ids:totable(), {4, 3, 5, 5, 6})
  T.eq(v:decode(ids), "hello")
  T.eq(v:decode({8, 6, 7, 5, 2}), "world")
  local u = data.vocab("héé!")
  T.eq(#u, 3)
  T.eq(u:decode(u:encode("éh!")), "éh!")
  T.raises(function() v:encode("xyz") end, "not in the vocabulary")
  T.raises(function() v:decode({9}) end, "out of range")
  T.eq(v:encode(""):numel(), 0)
end)

T.test("every public function has a docstring", function()
  for _, k in ipairs{"tensors", "subset", "split", "loader", "normalize", "random_crop", "horizontal_flip",
                     "compose", "idx", "fashion_mnist", "cifar10", "csv", "fortunes", "vocab"} do
    T.ok(ember.doc(data[k]), "data." .. k)
  end
end)

os.execute("rm -rf " .. tmpdir)
T.done()
