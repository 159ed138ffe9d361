-- make_seeds.lua: writes the seed corpora of the fuzz targets (small valid
-- files of several dtypes and layouts) into tests/fuzz/seeds/.  The seeds
-- are committed; run this again after a format change:
--   ./ember tests/fuzz/make_seeds.lua
local root = "tests/fuzz/seeds/"
for _, d in ipairs{"safetensors", "npy", "idx"} do assert(os.execute("mkdir -p " .. root .. d)) end

local function write(p, bytes)
  local f = assert(io.open(p, "wb"))
  f:write(bytes)
  f:close()
end

-- safetensors: what ember.save writes (nested tables, every dtype, a
-- non-contiguous source, an empty and a 0-d tensor) and a flat file as
-- PyTorch writes it (no ember.structure), with F16 and BF16 entries
local st = root .. "safetensors/"
local x = ember.arange(6):view(2, 3)
ember.save(st .. "f32.safetensors", x:float())
ember.save(st .. "nested.safetensors", {
  model = {["0.weight"] = ember.arange(4):view(2, 2):float() / 3, ["0.bias"] = ember.zeros(2, {dtype = "float64"})},
  step = 3, lr = 0.5, name = "sgd", flags = {true, false},
})
ember.save(st .. "dtypes.safetensors", {
  a = x:to("int64"), b = x:to("int32"), c = x:to("uint8"), d = x:gt(2), e = x:t():double(),
  z = ember.zeros(0, 2), s = ember.tensor(1.5),
})
local function flat(entries)  -- {name, dtype, shape, bytes}...
  local parts, data, off = {}, {}, 0
  for _, e in ipairs(entries) do
    parts[#parts + 1] = string.format('"%s":{"dtype":"%s","shape":[%s],"data_offsets":[%d,%d]}',
      e[1], e[2], table.concat(e[3], ","), off, off + #e[4])
    data[#data + 1] = e[4]
    off = off + #e[4]
  end
  local h = "{" .. '"__metadata__":{"format":"pt"},' .. table.concat(parts, ",") .. "}"
  h = h .. string.rep(" ", (8 - #h % 8) % 8)
  return string.pack("<I8", #h) .. h .. table.concat(data)
end
write(st .. "flat_half.safetensors", flat{
  {"h", "F16", {2, 2}, string.pack("<I2I2I2I2", 0x3C00, 0xC000, 0x0001, 0x7C00)},
  {"bf", "BF16", {3}, string.pack("<I2I2I2", 0x3F80, 0xBF80, 0x7FC0)},
  {"w", "F32", {2}, string.pack("<ff", 1.0, -2.0)},
})

-- .npy: every dtype, 0-d, empty, Fortran order, big-endian, version 2
local np = root .. "npy/"
for _, dt in ipairs{"float32", "float64", "int64", "int32", "uint8", "bool"} do
  ember.save_npy(np .. dt .. ".npy", (x % 3):to(dt))
end
ember.save_npy(np .. "scalar.npy", ember.tensor(2.5))
ember.save_npy(np .. "empty.npy", ember.zeros(0, 3))
local function npy(dict, data, v2)
  local pad = (64 - ((v2 and 12 or 10) + #dict + 1) % 64) % 64
  local h = dict .. string.rep(" ", pad) .. "\n"
  if v2 then return "\147NUMPY\2\0" .. string.pack("<I4", #h) .. h .. data end
  return "\147NUMPY\1\0" .. string.pack("<I2", #h) .. h .. data
end
write(np .. "fortran.npy", npy("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }",
  string.pack("<i4i4i4i4i4i4", 0, 3, 1, 4, 2, 5)))
write(np .. "bigendian.npy", npy("{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", string.pack(">dd", 1.5, -3)))
write(np .. "v2.npy", npy("{'descr': '|u1', 'fortran_order': False, 'shape': (4L,), }", "\1\2\3\4", true))

-- IDX: each element type, plain and gzip
local ix = root .. "idx/"
local function idx(code, dims, payload)
  local h = string.char(0, 0, code, #dims)
  for _, d in ipairs(dims) do h = h .. string.pack(">I4", d) end
  return h .. payload
end
write(ix .. "u8.idx", idx(0x08, {2, 3, 3}, string.rep("\0\128\255", 6)))
write(ix .. "i8.idx", idx(0x09, {4}, "\0\127\128\255"))
write(ix .. "i16.idx", idx(0x0B, {2, 2}, string.pack(">i2i2i2i2", 1, -1, 300, -300)))
write(ix .. "i32.idx", idx(0x0C, {3}, string.pack(">i4i4i4", 7, -7, 1 << 30)))
write(ix .. "f32.idx", idx(0x0D, {2}, string.pack(">ff", 0.5, -2)))
write(ix .. "f64.idx", idx(0x0E, {1, 2}, string.pack(">dd", 0.25, 1e300)))
write(ix .. "labels.idx", idx(0x08, {20}, "\0\1\2\3\4\5\6\7\8\9\9\8\7\6\5\4\3\2\1\0"))
for _, name in ipairs{"u8", "i16", "f64", "labels"} do
  assert(os.execute("gzip -9 -n -c " .. ix .. name .. ".idx > " .. ix .. name .. ".idx.gz"))
end
print("seeds written to " .. root)
