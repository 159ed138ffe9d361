-- ember.data: datasets, splits, batch loaders and transforms, and readers for
-- the data sets a modeler reaches for first (Fashion-MNIST and CIFAR-10 in
-- their binary formats, IDX, CSV, the `fortunes` texts) plus a character
-- vocabulary for text models.
--
-- A dataset is anything with `#ds` and `ds:get(i)` returning the i-th input
-- and target (1-based); `ds[i]` gives the same pair as a table {x, y}.  A
-- dataset may also offer `ds:batch(idx)` (idx: a 1-D int64 tensor of 1-based
-- rows) returning whole batches at once: tensor datasets and their subsets do,
-- with one index_select per tensor, so the loader never loops over samples
-- in Lua for them.  Other datasets are batched by stacking their samples.
--
-- Shuffling: with a `seed`, permutations come from a private generator (so a
-- seeded split or loader is reproducible and leaves ember's global generator
-- alone); without one they come from ember.randperm, so ember.manual_seed
-- makes a whole script reproducible.
local ember = require("ember")
local class = require("ember.class")
local sys = ember._sys

local M = {}

local function doc(v, text) ember.doc(v, text); return v end

-- ---------------------------------------------------------------- helpers --

-- A 1-based permutation of 1..n as an int64 tensor.  With a seed: a
-- Fisher-Yates shuffle driven by splitmix64 (Lua integers wrap mod 2^64).
local function permutation(n, seed)
  if n == 0 then return ember.zeros(0, {dtype = "int64"}) end
  if seed == nil then return ember.randperm(n) end
  local state = math.tointeger(seed) or math.floor(seed * 1e6)
  local function nxt()
    state = state + 0x9E3779B97F4A7C15
    local z = state
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    return z ~ (z >> 31)
  end
  local p = {}
  for i = 1, n do p[i] = i end
  for i = n, 2, -1 do
    local j = (nxt() >> 11) % i + 1   -- top 53 bits, non-negative
    p[i], p[j] = p[j], p[i]
  end
  return ember.tensor(p)
end
M._permutation = permutation

local function range(first, n)   -- int64 tensor first, first+1, ..., n values
  return ember.arange(first, first + n)
end

local function is_tensor(v) return ember.is_tensor(v) end

local function check_dataset(ds, fname)
  if type(ds) ~= "table" or (type(ds.get) ~= "function") then
    error(fname .. ": expected a dataset (a table with #ds and ds:get(i)), got " .. type(ds), 3)
  end
end

-- ------------------------------------------------------- tensor datasets --

local TensorDataset = class("TensorDataset")
M.TensorDataset = TensorDataset

function TensorDataset.__len(self) return self.n end

function TensorDataset.__index(self, k)
  if math.type(k) == "integer" then
    local x, y = self:get(k)
    return {x, y}
  end
  return TensorDataset[k]
end

function TensorDataset.__tostring(self)
  local function shp(t) return t and ("[" .. table.concat(t.shape, ", ") .. "] " .. t.dtype) or "none" end
  return string.format("TensorDataset(%d samples, x %s, y %s)", self.n, shp(self.x), shp(self.y))
end

local function check_index(i, n, fname)
  if math.type(i) ~= "integer" then error(fname .. ": index must be an integer, got " .. tostring(i), 3) end
  if i < 0 then i = n + i + 1 end
  if i < 1 or i > n then error(string.format("%s: index %d out of range 1..%d", fname, i, n), 3) end
  return i
end

function TensorDataset:get(i)
  i = check_index(i, self.n, "dataset:get")
  local x = self.x[i]
  if self.y == nil then return x end
  return x, self.y[i]
end

-- the rows of idx (1-D int64, 1-based) as batch tensors
function TensorDataset:batch(idx)
  local x = self.x:index_select(1, idx)
  if self.y == nil then return x end
  return x, self.y:index_select(1, idx)
end

M.tensors = doc(function(x, y)
  if not is_tensor(x) then error("data.tensors: x must be a tensor, got " .. type(x), 2) end
  if x:dim() == 0 then error("data.tensors: x must have at least one dim", 2) end
  if y ~= nil then
    if not is_tensor(y) then error("data.tensors: y must be a tensor, got " .. type(y), 2) end
    if y:dim() == 0 or #y ~= #x then
      error(string.format("data.tensors: x has %d rows but y has %d", #x, y:dim() == 0 and 0 or #y), 2)
    end
  end
  return setmetatable({x = x, y = y, n = #x}, TensorDataset)
end, [[data.tensors(x [, y]) -> Dataset

A dataset over the rows (dim 1) of x and y: #ds, ds:get(i) -> x[i], y[i],
ds[i] -> {x[i], y[i]}, ds:batch(idx) -> whole batches (index_select).]])

-- ----------------------------------------------------------------- subsets --

local Subset = class("Subset")
M.Subset = Subset
Subset.__len = function(self) return self.n end
Subset.__index = function(self, k)
  if math.type(k) == "integer" then
    local x, y = self:get(k)
    return {x, y}
  end
  return Subset[k]
end
Subset.__tostring = function(self)
  return string.format("Subset(%d of %d samples)", self.n, #self.dataset)
end

function Subset:get(i)
  i = check_index(i, self.n, "dataset:get")
  return self.dataset:get(self.indices[i])
end

function Subset:batch(idx)
  local inner = self.indices:index_select(1, idx)
  if self.dataset.batch then return self.dataset:batch(inner) end
  return M._gather(self.dataset, inner)
end

M.subset = doc(function(ds, indices)
  check_dataset(ds, "data.subset")
  if type(indices) == "table" then indices = ember.tensor(indices) end
  if not is_tensor(indices) or indices:dim() ~= 1 then
    error("data.subset: indices must be a 1-D tensor or a list of 1-based rows", 2)
  end
  indices = indices:long()
  if indices:numel() > 0 then
    local lo, hi = indices:min():item(), indices:max():item()
    if lo < 1 or hi > #ds then
      error(string.format("data.subset: indices %d..%d out of range 1..%d", lo, hi, #ds), 2)
    end
  end
  -- properties of the parent (classes, ...) stay reachable
  return setmetatable({dataset = ds, indices = indices, n = indices:numel(), classes = ds.classes}, Subset)
end, [[data.subset(ds, indices) -> Dataset

The rows `indices` (1-based tensor or list) of ds, without copying data.]])

M.split = doc(function(ds, fraction, opts)
  check_dataset(ds, "data.split")
  opts = opts or {}
  if type(fraction) ~= "number" or fraction <= 0 or fraction >= 1 then
    error("data.split: fraction must be a number in (0, 1), got " .. tostring(fraction), 2)
  end
  local n = #ds
  local n1 = math.floor(n * fraction + 0.5)
  local perm = opts.shuffle == false and range(1, n) or permutation(n, opts.seed)
  local a = M.subset(ds, perm:narrow(1, 1, n1))
  local b = M.subset(ds, perm:narrow(1, n1 + 1, n - n1))
  return a, b
end, [[data.split(ds, fraction [, {seed=, shuffle=true}]) -> ds1, ds2

Shuffles the rows (seeded when seed is given), then returns the first
round(fraction * #ds) rows and the rest, as subsets (no copy).]])

-- Stacks samples ds:get(i) for the 1-based rows in idx (a tensor).
function M._gather(ds, idx)
  local xs, ys = {}, {}
  local rows = idx:totable()
  for k, i in ipairs(rows) do
    local x, y = ds:get(i)
    xs[k] = is_tensor(x) and x or ember.tensor(x)
    if y ~= nil then ys[k] = is_tensor(y) and y or ember.tensor(y) end
  end
  local xb = ember.stack(xs, 1)
  if #ys == 0 then return xb end
  return xb, ember.stack(ys, 1)
end

-- ------------------------------------------------------------------ loader --

local Loader = class("Loader")
M.Loader = Loader

function Loader.__len(self)
  local n = #self.dataset
  if self.drop_last then return n // self.batch_size end
  return (n + self.batch_size - 1) // self.batch_size
end

function Loader.__tostring(self)
  return string.format("Loader(%d samples, batch_size=%d, %d batches%s%s)", #self.dataset,
                       self.batch_size, #self, self.shuffle and ", shuffled" or "",
                       self.drop_last and ", drop_last" or "")
end

function Loader:batches()
  local n = #self.dataset
  local order
  if self.shuffle then
    self.epoch = self.epoch + 1
    order = permutation(n, self.seed and (self.seed * 1000003 + self.epoch) or nil)
  end
  local bs, nb = self.batch_size, #self
  local ds, transform = self.dataset, self.transform
  local b = 0
  return function()
    b = b + 1
    if b > nb then return nil end
    local first = (b - 1) * bs + 1
    local len = math.min(bs, n - first + 1)
    local idx = order and order:narrow(1, first, len) or range(first, len)
    local xb, yb
    if ds.batch then xb, yb = ds:batch(idx) else xb, yb = M._gather(ds, idx) end
    if transform then
      local tx, ty = transform(xb, yb)
      xb = tx
      if ty ~= nil then yb = ty end
    end
    return xb, yb
  end
end
doc(Loader.batches, [[loader:batches() -> iterator

`for xb, yb in loader:batches() do ... end`: one pass over the data (a new
shuffle each pass when shuffle=true).]])

M.loader = doc(function(ds, opts)
  check_dataset(ds, "data.loader")
  opts = opts or {}
  local bs = opts.batch_size or 32
  if math.type(bs) ~= "integer" or bs < 1 then
    error("data.loader: batch_size must be a positive integer, got " .. tostring(bs), 2)
  end
  if opts.transform ~= nil and type(opts.transform) ~= "function" and
     not (type(opts.transform) == "table" and getmetatable(opts.transform) and getmetatable(opts.transform).__call) then
    error("data.loader: transform must be a function", 2)
  end
  return setmetatable({dataset = ds, batch_size = bs, shuffle = opts.shuffle and true or false,
                       drop_last = opts.drop_last and true or false, seed = opts.seed,
                       transform = opts.transform, epoch = 0}, Loader)
end, [[data.loader(ds, {batch_size=32, shuffle=false, drop_last=false, seed=, transform=}) -> Loader

Batches of a dataset: `for xb, yb in loader:batches() do ... end`; #loader is
the number of batches.  Tensor datasets are batched with index_select (no
per-sample Lua loop).  transform(xb, yb) -> xb [, yb] runs on each batch.]])

-- -------------------------------------------------------------- transforms --

-- mean/std as a number or a per-channel list; shaped to broadcast over
-- (C, H, W) or (B, C, H, W) inputs.
local function channel_tensor(v, name)
  if type(v) == "number" then return v end
  if type(v) == "table" then return ember.tensor(v, "float32"):view(#v, 1, 1) end
  if is_tensor(v) then return v:float():view(v:numel(), 1, 1) end
  error("data.normalize: " .. name .. " must be a number or a list", 3)
end

M.normalize = doc(function(mean, std)
  local m, s = channel_tensor(mean, "mean"), channel_tensor(std, "std")
  return function(x, y) return (x - m) / s, y end
end, [[data.normalize(mean, std) -> transform

(x - mean) / std; mean and std are numbers or per-channel lists (for
(C,H,W) samples or (B,C,H,W) batches).]])

local function as_batch(x)
  if x:dim() == 3 then return x:unsqueeze(1), true end
  if x:dim() ~= 4 then error("data transforms: expected (C,H,W) or (B,C,H,W) images, got shape ["
                             .. table.concat(x.shape, ", ") .. "]", 3) end
  return x, false
end

M.random_crop = doc(function(size, padding)
  local h, w = size, size
  if type(size) == "table" then h, w = size[1], size[2] end
  padding = padding or 0
  return function(x, y)
    local xb, single = as_batch(x)
    local B, C, H, W = xb.shape[1], xb.shape[2], xb.shape[3], xb.shape[4]
    local Hp, Wp = H + 2 * padding, W + 2 * padding
    if h > Hp or w > Wp then
      error(string.format("data.random_crop: crop %dx%d larger than padded image %dx%d", h, w, Hp, Wp), 2)
    end
    local padded = xb
    if padding > 0 then
      padded = ember.zeros({B, C, Hp, Wp}, {dtype = xb.dtype})
      padded:narrow(3, padding + 1, H):narrow(4, padding + 1, W):copy_(xb)
    end
    local out = ember.empty({B, C, h, w}, {dtype = xb.dtype})
    local oy = ember.randint(1, Hp - h + 2, {B}):totable()
    local ox = ember.randint(1, Wp - w + 2, {B}):totable()
    for i = 1, B do   -- one strided copy per sample: offsets differ per sample
      out:select(1, i):copy_(padded:select(1, i):narrow(2, oy[i], h):narrow(3, ox[i], w))
    end
    if single then out = out:squeeze(1) end
    return out, y
  end
end, [[data.random_crop(size [, padding=0]) -> transform

Pads with zeros, then crops a random size x size window per sample (size may
be {h, w}); for (C,H,W) samples or (B,C,H,W) batches.]])

M.horizontal_flip = doc(function(p)
  p = p or 0.5
  return function(x, y)
    local xb, single = as_batch(x)
    local B, W = xb.shape[1], xb.shape[4]
    local rev = ember.arange(W, 0, -1)   -- W, W-1, ..., 1 (1-based)
    local flipped = xb:index_select(4, rev)
    local mask = ember.rand(B):lt(p):view(B, 1, 1, 1)
    local out = ember.where(mask, flipped, xb)
    if single then out = out:squeeze(1) end
    return out, y
  end
end, [[data.horizontal_flip([p=0.5]) -> transform

Mirrors each image left-right with probability p.]])

M.compose = doc(function(list)
  if type(list) ~= "table" then error("data.compose: expected a list of transforms", 2) end
  for i, f in ipairs(list) do
    if type(f) ~= "function" then error("data.compose: element " .. i .. " is not a function", 2) end
  end
  return function(x, y)
    for _, f in ipairs(list) do
      local nx, ny = f(x, y)
      x = nx
      if ny ~= nil then y = ny end
    end
    return x, y
  end
end, [[data.compose{t1, t2, ...} -> transform

Applies the transforms in order.]])

-- ------------------------------------------------------------------ files --

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- IDX element types: code -> dtype read, bytes per element, unpack format
local IDX_TYPES = {[0x08] = {"uint8", 1}, [0x09] = {"int8", 1, "i1"}, [0x0B] = {"int16", 2, ">i2"},
                   [0x0C] = {"int32", 4, ">i4"}, [0x0D] = {"float32", 4, ">f"}, [0x0E] = {"float64", 8, ">d"}}

-- IDX from Lua: reads (gunzipping through gzip when the file is compressed)
-- and decodes; uint8 payloads become a tensor with one copy.
local function read_idx_lua(path)
  local f, err = io.open(path, "rb")
  if not f then error("data.idx: " .. err, 3) end
  local head = f:read(2) or ""
  f:close()
  local s
  if head == "\31\139" then
    local p = io.popen("gzip -dc " .. shell_quote(path) .. " 2>/dev/null", "r")
    s = p:read("a")
    p:close()
  else
    f = io.open(path, "rb")
    s = f:read("a")
    f:close()
  end
  if #s < 4 or s:byte(1) ~= 0 or s:byte(2) ~= 0 then error("data.idx: " .. path .. ": not an IDX file", 3) end
  local code, ndim = s:byte(3), s:byte(4)
  local ty = IDX_TYPES[code]
  if not ty then error(string.format("data.idx: %s: unknown element type 0x%02x", path, code), 3) end
  if ndim < 1 or ndim > 8 or #s < 4 + 4 * ndim then error("data.idx: " .. path .. ": truncated header", 3) end
  local shape, numel = {}, 1
  for d = 1, ndim do
    shape[d] = string.unpack(">I4", s, 5 + 4 * (d - 1))
    numel = numel * shape[d]
  end
  local off = 5 + 4 * ndim
  if #s - off + 1 < numel * ty[2] then
    error(string.format("data.idx: %s: %d bytes of data, shape needs %d", path, #s - off + 1, numel * ty[2]), 3)
  end
  if code == 0x08 then return sys.from_bytes(s, "uint8", shape, off) end
  local vals, fmt, step = {}, ty[3], ty[2]
  for i = 1, numel do vals[i] = string.unpack(fmt, s, off + (i - 1) * step) end
  local dt = (code == 0x0D and "float32") or (code == 0x0E and "float64") or "int64"
  return ember.tensor(vals, dt):view(shape)
end

M._read_idx_lua = read_idx_lua   -- the reader used when the build has no ember.read_idx

M.idx = doc(function(path)
  if type(path) ~= "string" then error("data.idx: path must be a string", 2) end
  if ember.read_idx then return ember.read_idx(path) end
  return read_idx_lua(path)
end, [[data.idx(path) -> Tensor

Reads an IDX file (the MNIST format), plain or gzip-compressed; uint8 data
stays uint8.]])

local FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
M.fashion_mnist_classes = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

M.fashion_mnist = doc(function(split, opts)
  split = split or "train"
  opts = opts or {}
  local prefix = ({train = "train", test = "t10k"})[split]
  if not prefix then error('data.fashion_mnist: split must be "train" or "test", got ' .. tostring(split), 2) end
  local dir = opts.dir or FMNIST_DIR
  local ipath = dir .. "/" .. prefix .. "-images-idx3-ubyte.gz"
  local lpath = dir .. "/" .. prefix .. "-labels-idx1-ubyte.gz"
  for _, p in ipairs{ipath, lpath} do
    if not file_exists(p) then
      error("data.fashion_mnist: " .. p .. " not found (install the Debian package dataset-fashion-mnist)", 2)
    end
  end
  -- images decoded straight into float32 / 255: the raw bytes are never
  -- held as a second tensor (the dataset is most of a run's peak memory)
  local img = ember.read_idx(ipath, {dtype = "float32", scale = 1 / 255})
  local lab = M.idx(lpath)
  local n = img.shape[1]
  local x = img:view(n, 1, img.shape[2], img.shape[3])
  local y = lab:long() + 1
  local ds = M.tensors(x, y)
  ds.classes = M.fashion_mnist_classes
  return ds
end, [[data.fashion_mnist("train"|"test") -> Dataset

Fashion-MNIST from the Debian package dataset-fashion-mnist: ds.x is
(N,1,28,28) float32 in [0,1], ds.y int64 labels 1..10, ds.classes their
names (classes[1] == "T-shirt/top").]])

M.cifar10_classes = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

M.cifar10 = doc(function(dir, split)
  if type(dir) ~= "string" then error("data.cifar10: dir must be the path of cifar-10-batches-bin", 2) end
  split = split or "train"
  local files
  if split == "train" then
    files = {}
    for i = 1, 5 do files[i] = dir .. "/data_batch_" .. i .. ".bin" end
  elseif split == "test" then
    files = {dir .. "/test_batch.bin"}
  else
    error('data.cifar10: split must be "train" or "test", got ' .. tostring(split), 2)
  end
  local xs, ys = {}, {}
  local REC = 1 + 3 * 32 * 32
  for _, p in ipairs(files) do
    local f = io.open(p, "rb")
    if not f then
      error("data.cifar10: " .. p .. " not found (download the CIFAR-10 binary version, cifar-10-binary.tar.gz, "
            .. "and pass the cifar-10-batches-bin folder)", 2)
    end
    local s = f:read("a")
    f:close()
    if #s == 0 or #s % REC ~= 0 then
      error(string.format("data.cifar10: %s: %d bytes is not a whole number of %d-byte records", p, #s, REC), 2)
    end
    local n = #s // REC
    local raw = sys.from_bytes(s, "uint8", {n, REC})
    xs[#xs + 1] = raw:narrow(2, 2, REC - 1)
    ys[#ys + 1] = raw:select(2, 1)
  end
  local x = #xs == 1 and xs[1] or ember.cat(xs, 1)
  local y = #ys == 1 and ys[1] or ember.cat(ys, 1)
  local n = x.shape[1]
  local ds = M.tensors(x:float():div_(255):view(n, 3, 32, 32), y:long() + 1)
  ds.classes = M.cifar10_classes
  return ds
end, [[data.cifar10(dir [, "train"|"test"]) -> Dataset

CIFAR-10 from its binary batches (dir holds data_batch_1..5.bin and
test_batch.bin): x (N,3,32,32) float32 in [0,1], y int64 1..10, .classes.]])

-- CSV: numbers only (a header row of names is allowed); returns a float
-- tensor (rows, columns) and the column names.
M.csv = doc(function(path, opts)
  opts = opts or {}
  local f, err = io.open(path, "r")
  if not f then error("data.csv: " .. tostring(err), 2) end
  local sep = opts.sep or ","
  local pat = "([^" .. sep:gsub("%p", "%%%0") .. "]*)"
  local rows, names, ncol = {}, nil, nil
  local lineno = 0
  local header = opts.header
  for line in f:lines() do
    lineno = lineno + 1
    line = line:gsub("\r$", "")
    if line:match("%S") then
      local cells = {}
      for cell in (line .. sep):gmatch(pat .. sep:gsub("%p", "%%%0")) do
        cells[#cells + 1] = cell:match("^%s*\"?(.-)\"?%s*$")
      end
      if names == nil and #rows == 0 and (header == true or (header == nil and tonumber(cells[1]) == nil
                                                              and cells[1] ~= "")) then
        names = cells
        ncol = #cells
      else
        ncol = ncol or #cells
        if #cells ~= ncol then
          f:close()
          error(string.format("data.csv: %s:%d: %d fields, expected %d", path, lineno, #cells, ncol), 2)
        end
        local r = {}
        for j, c in ipairs(cells) do
          local v = tonumber(c)
          if v == nil then
            if c == "" or c:lower() == "nan" or c:lower() == "na" then v = 0 / 0
            else
              f:close()
              error(string.format("data.csv: %s:%d: field %d is not a number: %q", path, lineno, j, c), 2)
            end
          end
          r[j] = v
        end
        rows[#rows + 1] = r
      end
    end
  end
  f:close()
  if #rows == 0 then return ember.zeros(0, ncol or 0, {dtype = opts.dtype or "float32"}), names end
  return ember.tensor(rows, opts.dtype or "float32"), names
end, [[data.csv(path [, {header=auto, sep=",", dtype="float32"}]) -> Tensor, names

A numeric CSV file as a (rows, columns) tensor; a first row that does not
start with a number (or header=true) gives the column names.  Empty cells
and NA read as NaN.]])

-- -------------------------------------------------------------------- text --

local FORTUNES_DIR = "/usr/share/games/fortunes"

M.fortunes = doc(function(opts)
  opts = opts or {}
  local dir = opts.dir or FORTUNES_DIR
  local p = io.popen("ls -1 " .. shell_quote(dir) .. " 2>/dev/null", "r")
  local listing = p:read("a")
  p:close()
  local files = {}
  for name in listing:gmatch("[^\n]+") do
    if not name:find("%.") then files[#files + 1] = name end   -- skip .dat/.u8 indexes
  end
  table.sort(files)
  local texts, cats, labels, classes = {}, {}, {}, {}
  for _, name in ipairs(files) do
    local f = io.open(dir .. "/" .. name, "rb")
    if f then
      local s = f:read("a")
      f:close()
      if s and not s:find("%z") then
        local got = false
        for item in (s .. "\n%\n"):gmatch("(.-)\n%%\n") do
          item = item:gsub("^\n+", ""):gsub("\n+$", "")
          if item:match("%S") then
            if not got then classes[#classes + 1] = name; got = true end
            texts[#texts + 1] = item
            cats[#cats + 1] = name
            labels[#labels + 1] = #classes
          end
        end
      end
    end
  end
  if #texts == 0 then
    error("data.fortunes: no fortunes under " .. dir .. " (install the Debian package fortunes)", 2)
  end
  local ds = {texts = texts, categories = cats, classes = classes, labels = ember.tensor(labels), n = #texts}
  return setmetatable(ds, {
    __len = function(self) return self.n end,
    __index = {get = function(self, i)
      i = check_index(i, self.n, "fortunes:get")
      return self.texts[i], self.categories[i]
    end},
    __tostring = function(self) return string.format("Fortunes(%d texts, %d categories)", self.n, #self.classes) end})
end, [[data.fortunes([{dir=}]) -> table

The fortunes of the Debian package fortunes: f.texts[i] with its category
f.categories[i] (the file it came from), f.labels (int64, 1-based index into
f.classes), #f, f:get(i) -> text, category.]])

local Vocab = class("Vocab")
Vocab.__len = function(self) return #self.chars end
Vocab.__tostring = function(self) return string.format("Vocab(%d characters)", #self.chars) end
M.Vocab = Vocab

-- iterates the characters of s: UTF-8 code points when s is valid UTF-8,
-- bytes otherwise
local function chars_of(s)
  if utf8.len(s) then return s:gmatch(utf8.charpattern) end
  return s:gmatch(".")
end

M.vocab = doc(function(text)
  if type(text) == "table" then text = table.concat(text, "\n") end
  if type(text) ~= "string" then error("data.vocab: expected a string or a list of strings", 2) end
  local seen, chars = {}, {}
  for c in chars_of(text) do
    if not seen[c] then seen[c] = true; chars[#chars + 1] = c end
  end
  table.sort(chars)
  local index = {}
  for i, c in ipairs(chars) do index[c] = i end
  return setmetatable({chars = chars, index = index, size = #chars}, Vocab)
end, [[data.vocab(text) -> Vocab

The sorted set of characters of text (UTF-8 code points, or bytes when text
is not UTF-8): #v, v.chars[id], v:encode(s) -> int64 ids 1..#v, v:decode(ids).]])

function Vocab:encode(s)
  local ids, index, n = {}, self.index, 0
  for c in chars_of(s) do
    local id = index[c]
    if not id then error(string.format("vocab:encode: character %q is not in the vocabulary", c), 2) end
    n = n + 1
    ids[n] = id
  end
  if n == 0 then return ember.zeros(0, {dtype = "int64"}) end
  return ember.tensor(ids)
end
doc(Vocab.encode, "vocab:encode(s) -> Tensor\n\nThe 1-based ids (int64) of the characters of s.")

function Vocab:decode(ids)
  if is_tensor(ids) then ids = ids:reshape(-1):totable() end
  local out, chars = {}, self.chars
  for i, id in ipairs(ids) do
    local c = chars[id]
    if not c then error(string.format("vocab:decode: id %s out of range 1..%d", tostring(id), #chars), 2) end
    out[i] = c
  end
  return table.concat(out)
end
doc(Vocab.decode, "vocab:decode(ids) -> string\n\nThe text of 1-based ids (a tensor or a list).")

doc(M, [[data: datasets, loaders, transforms and readers

data.tensors(x, y), data.split(ds, fraction), data.loader(ds, opts),
data.fashion_mnist(split), data.cifar10(dir, split), data.idx(path),
data.csv(path), data.fortunes(), data.vocab(text), transforms normalize,
random_crop, horizontal_flip, compose.]])
doc(TensorDataset, "data.TensorDataset: rows of tensors x (and y); made by data.tensors(x, y).")
doc(TensorDataset.get, "ds:get(i) -> x, y\n\nThe i-th row of x and y (1-based; negative counts from the end).")
doc(TensorDataset.batch, "ds:batch(idx) -> xb, yb\n\nThe rows idx (a 1-D int64 tensor, 1-based) via index_select.")
doc(Subset, "data.Subset: some rows of a dataset, without copying; made by data.subset and data.split.")
doc(Subset.get, "sub:get(i) -> x, y\n\nThe i-th row of the subset.")
doc(Subset.batch, "sub:batch(idx) -> xb, yb\n\nRows idx of the subset, through the parent's batch().")
doc(Loader, "data.Loader: batches of a dataset; made by data.loader(ds, opts).")
doc(Vocab, "data.Vocab: a character vocabulary; made by data.vocab(text).")

return M
