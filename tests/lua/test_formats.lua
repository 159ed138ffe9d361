-- test_formats.lua: ember.save / ember.load (safetensors with the exact Lua
-- structure), .npy and IDX from Lua: round trips, hostile files, atomic
-- writes, and interoperability with numpy/PyTorch when they are installed.
local T = dofile("tests/lua/harness.lua")

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))
local function path(name) return dir .. "/" .. name end

local function same_tensor(a, b)
  T.eq(a.dtype, b.dtype)
  T.same(a.shape, b.shape)
  T.eq(a:eq(b):all():item(), true)
end

T.test("a nested structure round-trips exactly", function()
  local sd = {["1.weight"] = ember.randn(3, 4), ["1.bias"] = ember.zeros(3), ["3.weight"] = ember.randn(2, 3):t()}
  local value = {
    model = sd, epoch = 7, lr = 0.001, name = "adam", flags = {true, false},
    big = 9007199254740993, nested = {deep = {ids = ember.tensor{1, 2, 3}, mask = ember.tensor{true, false}}},
    dtypes = {ember.zeros(2, {dtype = "float64"}), ember.zeros(2, {dtype = "int32"}), ember.zeros(2, {dtype = "uint8"})},
    scalar = ember.tensor(2.5), empty = ember.zeros(0, 3),
  }
  ember.save(path("s.safetensors"), value)
  local r = ember.load(path("s.safetensors"))
  T.eq(r.epoch, 7)
  T.eq(math.type(r.epoch), "integer")
  T.eq(r.lr, 0.001)
  T.eq(r.name, "adam")
  T.same(r.flags, {true, false})
  T.eq(r.big, 9007199254740993)
  for k, v in pairs(sd) do same_tensor(r.model[k], v) end
  same_tensor(r.nested.deep.ids, value.nested.deep.ids)
  same_tensor(r.nested.deep.mask, value.nested.deep.mask)
  for i = 1, 3 do same_tensor(r.dtypes[i], value.dtypes[i]) end
  T.eq(r.scalar:dim(), 0)
  T.eq(r.scalar:item(), 2.5)
  T.same(r.empty.shape, {0, 3})
end)

T.test("long, colliding and reserved names, and many tensors", function()
  local a = string.rep("k", 600)  -- paths longer than any fixed buffer
  local v = {[a .. "1"] = ember.ones(2), [a .. "2"] = ember.zeros(2), __metadata__ = ember.ones(1),
             ["x.y"] = ember.full({1}, 3), x = {y = ember.full({1}, 4)}}
  ember.save(path("names.safetensors"), v)
  local r = ember.load(path("names.safetensors"))
  T.eq(r[a .. "1"]:sum():item(), 2)
  T.eq(r[a .. "2"]:sum():item(), 0)
  T.eq(r.__metadata__[1], 1)
  T.eq(r["x.y"][1], 3)
  T.eq(r.x.y[1], 4)
  local many = {}
  for i = 1, 5000 do many[i] = ember.full({1}, i) end
  ember.save(path("many.safetensors"), many)
  local m = ember.load(path("many.safetensors"))
  T.eq(#m, 5000)
  T.eq(m[4321][1], 4321)
  T.raises(function() ember.zeros(0, 2 ^ 40, 2 ^ 40) end, "too large")
end)

T.test("a single tensor round-trips", function()
  local t = ember.randn(5, 6)
  ember.save(path("t.safetensors"), t)
  same_tensor(ember.load(path("t.safetensors")), t)
end)

T.test("unsupported values and cycles are errors, and an existing file is kept", function()
  ember.save(path("keep.safetensors"), {x = ember.ones(2)})
  T.raises(function() ember.save(path("keep.safetensors"), {f = print}) end, "cannot save a function")
  local cyc = {}
  cyc.self = cyc
  T.raises(function() ember.save(path("keep.safetensors"), cyc) end, "cycle")
  T.same(ember.load(path("keep.safetensors")).x:totable(), {1, 1})
  T.raises(function() ember.save(dir .. "/no/such/dir/x.safetensors", ember.ones(1)) end, "no/such/dir")
end)

T.test("malformed and hostile files give errors, never crashes", function()
  ember.save(path("good.safetensors"), {a = ember.randn(16, 16), b = ember.arange(10)})
  local good = assert(io.open(path("good.safetensors"), "rb")):read("a")
  local function write(name, bytes)
    local f = assert(io.open(path(name), "wb"))
    f:write(bytes)
    f:close()
    return path(name)
  end
  T.raises(function() ember.load(write("empty", "")) end)
  T.raises(function() ember.load(write("short", good:sub(1, 5))) end)
  T.raises(function() ember.load(write("trunc", good:sub(1, #good - 100))) end)
  T.raises(function() ember.load(write("huge", string.pack("<I8", 1 << 62) .. good:sub(9))) end)
  T.raises(function() ember.load(write("garbage", string.rep("\255", 200))) end)
  -- random byte flips: must either load or raise, never crash
  math.randomseed(1)
  for i = 1, 200 do
    local b = {good:byte(1, -1)}
    for _ = 1, 3 do
      local k = math.random(1, math.min(#b, 200))
      b[k] = math.random(0, 255)
    end
    local bytes = {}
    for j = 1, #b do bytes[j] = string.char(b[j]) end
    pcall(ember.load, write("flip" .. i, table.concat(bytes)))
  end
  T.raises(function() ember.load_npy(write("bad.npy", "\147NUMPY\1\0\20\0{'descr': '<f4'")) end)
  T.raises(function() ember.read_idx(write("bad.idx", "\0\0\8\3\0\0")) end)
end)

T.test(".npy round trips for every dtype", function()
  for _, dt in ipairs{"float32", "float64", "int64", "int32", "uint8", "bool"} do
    local t = (ember.arange(12):view(3, 4) % 3):to(dt)
    ember.save_npy(path(dt .. ".npy"), t)
    same_tensor(ember.load_npy(path(dt .. ".npy")), t)
  end
  local nc = ember.randn(3, 4):t()
  ember.save_npy(path("nc.npy"), nc)
  same_tensor(ember.load_npy(path("nc.npy")), nc:contiguous())
end)

T.test("IDX: Fashion-MNIST labels from the Debian package", function()
  local f = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"
  if not io.open(f) then error("missing " .. f .. ": install the Debian package dataset-fashion-mnist") end
  local y = ember.read_idx(f)
  T.same(y.shape, {10000})
  T.eq(y.dtype, "uint8")
  T.eq(y:max():item(), 9)
end)

-- numpy / PyTorch interoperability (python3-numpy / python3-torch are
-- benchmark peers, not test dependencies: skipped with a message when absent)
local py = "/usr/bin/python3"
local has_numpy = os.execute(py .. " -c 'import numpy' >/dev/null 2>&1")
if not has_numpy then
  io.write("SKIP numpy interoperability: /usr/bin/python3 with numpy is not installed\n")
else
  T.test("numpy reads ember's files and ember reads numpy's", function()
    local t = ember.arange(24):view(2, 3, 4):float() / 7
    ember.save(path("np.safetensors"), {w = t, n = 3})
    ember.save_npy(path("e.npy"), t)
    local script = path("interop.py")
    local f = assert(io.open(script, "w"))
    f:write([[
import json, struct, sys
import numpy as np
d = sys.argv[1]
b = open(d + "/np.safetensors", "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
s, e = h["w"]["data_offsets"]
w = np.frombuffer(b[8 + n + s:8 + n + e], dtype="<f4").reshape(h["w"]["shape"])
ref = (np.arange(24).reshape(2, 3, 4) / 7).astype(np.float32)
assert h["w"]["dtype"] == "F32" and np.allclose(w, ref), "safetensors mismatch"
assert np.allclose(np.load(d + "/e.npy"), ref), "npy mismatch"
np.save(d + "/from_numpy.npy", np.arange(6, dtype=np.int64).reshape(2, 3) * 5)
print("OK")
]])
    f:close()
    local p = io.popen(py .. " " .. script .. " " .. dir .. " 2>&1")
    local out = p:read("a")
    p:close()
    T.ok(out:find("OK"), out)
    T.same(ember.load_npy(path("from_numpy.npy")):totable(), {{0, 5, 10}, {15, 20, 25}})
  end)
end

local has_torch = os.execute(py .. " -c 'import torch' >/dev/null 2>&1")
if not has_torch then
  io.write("SKIP PyTorch interoperability: /usr/bin/python3 with torch is not installed\n")
else
  T.test("a file written by PyTorch code loads in ember", function()
    local script = path("torch_write.py")
    local f = assert(io.open(script, "w"))
    -- write safetensors by hand from torch tensors (the safetensors package
    -- is not in Debian 12), as safetensors.torch.save_file lays it out
    f:write([[
import json, struct, sys, torch
t = {"layer.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4, "steps": torch.tensor([7], dtype=torch.int64)}
header, blobs, off = {}, [], 0
for k, v in t.items():
    raw = v.numpy().tobytes()
    header[k] = {"dtype": {torch.float32: "F32", torch.int64: "I64"}[v.dtype], "shape": list(v.shape), "data_offsets": [off, off + len(raw)]}
    blobs.append(raw); off += len(raw)
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
]])
    f:close()
    T.ok(os.execute(py .. " " .. script .. " " .. path("torch.safetensors")))
    local r = ember.load(path("torch.safetensors"))
    T.near(r["layer.weight"]:totable(), {{0, 0.25, 0.5}, {0.75, 1, 1.25}})
    T.eq(r.steps[1], 7)
  end)
end

os.execute("rm -rf " .. dir)
T.done()
