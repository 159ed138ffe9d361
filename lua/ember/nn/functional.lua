-- ember.nn.functional: PyTorch's shape-changing and similarity functionals,
-- as functions (nn.pad, nn.F.pad, ...) and modules: normalize, pad (constant,
-- reflect, replicate, circular), interpolate / Upsample (nearest,
-- nearest-exact, linear, bilinear, area), pixel_shuffle / pixel_unshuffle,
-- unfold / fold (im2col and its adjoint), cosine_similarity,
-- pairwise_distance, Bilinear and the padding layers.
--
-- Everything but 1-D and 2-D resizing (the C kernels of nn/resample.c)
-- composes tensor ops (index_select, gather-like index maps, cat,
-- reshape/permute, matmul), so autograd works with no backward rules of its
-- own, and every op keeps the input's dtype.  Index maps are built with
-- integer tensor ops, not Lua loops, so big images stay cheap.  Dims and
-- sizes follow PyTorch (pad lists the last dim first); dims are 1-based.
local ember = require("ember")
local mod = require("ember.nn.module")
local init = require("ember.nn.init")

local doc = ember.doc
local Module, Parameter = mod.Module, mod.Parameter
local shape_str = mod.shape_str
local Fn = {}
local C = {}

local function check_tensor(name, x, what)
  if not ember.is_tensor(x) then
    error(string.format("%s: %s must be a tensor, got %s", name, what or "input", type(x)), 3)
  end
end

local function float_tensor(name, x, what)
  check_tensor(name, x, what)
  if x.dtype ~= "float32" and x.dtype ~= "float64" then
    error(string.format("%s: %s must be float32 or float64, got %s", name, what or "input", x.dtype), 3)
  end
end

local function wrap_dim(name, dim, ndim)
  local d = dim
  if math.type(dim) ~= "integer" then
    error(string.format("%s: dim must be an integer, got %s", name, tostring(dim)), 3)
  end
  if d < 0 then d = ndim + 1 + d end
  if d < 1 or d > math.max(ndim, 1) then
    error(string.format("%s: dim %d is out of range for a %d-dim input", name, dim, ndim), 3)
  end
  return d
end

-- 1-based int64 index tensor from a 0-based int64 tensor
local function one_based(t) return t + 1 end

-- ---------- normalize, cosine_similarity, pairwise_distance ----------

-- normalize(x [, p=2 [, dim=2 [, eps=1e-12]]]) or normalize(x, {p=, dim=, eps=})
function Fn.normalize(x, p, dim, eps)
  float_tensor("normalize", x)
  if type(p) == "table" then p, dim, eps = p.p, p.dim, p.eps end
  p, dim, eps = p or 2, dim or 2, eps or 1e-12
  if x:dim() == 1 and dim == 2 then dim = 1 end   -- PyTorch's dim=1 on a vector is an error; be kind
  local d = wrap_dim("normalize", dim, x:dim())
  return x / x:norm(p, d, true):clamp(eps, nil)
end

-- a tensor whose value is max(v, lo) but whose gradient is v's (PyTorch
-- clamps some denominators in place under no_grad)
local function clamp_value_only(v, lo)
  return v + (v:clamp(lo, nil) - v):detach()
end

function Fn.cosine_similarity(x1, x2, dim, eps)
  float_tensor("cosine_similarity", x1, "x1")
  float_tensor("cosine_similarity", x2, "x2")
  if type(dim) == "table" then dim, eps = dim.dim, dim.eps end
  eps = eps or 1e-8
  local ok, b = pcall(function() return x1 * x2 end)
  if not ok then
    error(string.format("cosine_similarity: shapes %s and %s do not broadcast", shape_str(x1.shape),
                        shape_str(x2.shape)), 2)
  end
  local d = wrap_dim("cosine_similarity", dim or 2, b:dim())
  x1, x2 = x1:expand_as(b), x2:expand_as(b)
  -- PyTorch 1.13: dot / sqrt(max(|x1|^2, eps^2) * max(|x2|^2, eps^2)), the
  -- clamps changing values only
  local s1 = clamp_value_only((x1 * x1):sum(d, true), eps * eps)
  local s2 = clamp_value_only((x2 * x2):sum(d, true), eps * eps)
  return (b / (s1 * s2):sqrt()):sum(d)
end

function Fn.pairwise_distance(x1, x2, p, eps, keepdim)
  float_tensor("pairwise_distance", x1, "x1")
  float_tensor("pairwise_distance", x2, "x2")
  if type(p) == "table" then p, eps, keepdim = p.p, p.eps, p.keepdim end
  p, eps = p or 2, eps or 1e-6
  local ok, diff = pcall(function() return x1 - x2 end)
  if not ok then
    error(string.format("pairwise_distance: shapes %s and %s do not broadcast", shape_str(x1.shape),
                        shape_str(x2.shape)), 2)
  end
  if diff:dim() == 0 then diff = diff:view(1) end
  return (diff + eps):norm(p, -1, keepdim and true or false)
end

-- ---------- pad ----------

local PAD_MODES = {constant = true, reflect = true, replicate = true, circular = true}

-- the 1-based source index of each output position along a dim of size n
-- padded by lo before and hi after, for the non-constant modes
local function pad_index(mode, n, lo, hi)
  local j = ember.arange(-lo, n + hi)       -- 0-based source positions, out of range at the borders
  if mode == "replicate" then
    j = j:clamp(0, n - 1)
  elseif mode == "circular" then
    j = j % n
  else -- reflect about the first and last element (no repeat of the edge)
    j = j:abs()
    j = ember.where(j:gt(n - 1), (n - 1) * 2 - j, j)
  end
  return one_based(j)
end

function Fn.pad(x, pad, mode, value)
  check_tensor("pad", x)
  if type(mode) == "table" then mode, value = mode.mode, mode.value end
  mode = mode or "constant"
  if not PAD_MODES[mode] then
    error("pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got '" .. tostring(mode) .. "'", 2)
  end
  if type(pad) ~= "table" or #pad % 2 ~= 0 then
    error("pad: pad must be a list of an even number of integers {left, right [, top, bottom ...]}", 2)
  end
  local nd = x:dim()
  if #pad // 2 > nd then
    error(string.format("pad: %d values pad %d dims but the input has %d (shape %s)", #pad, #pad // 2, nd,
                        shape_str(x.shape)), 2)
  end
  for _, v in ipairs(pad) do
    if math.type(v) ~= "integer" then error("pad: pad values must be integers, got " .. tostring(v), 2) end
  end
  if mode ~= "constant" and value ~= nil and value ~= 0 then
    error("pad: value is only used with mode='constant' (got mode '" .. mode .. "')", 2)
  end
  value = value or 0
  local y = x
  for i = 1, #pad // 2 do
    local d = nd + 1 - i                       -- pad lists the last dim first
    local lo, hi = pad[2 * i - 1], pad[2 * i]
    local n = y.shape[d]
    if mode == "constant" or (mode == "circular" and (lo < 0 or hi < 0)) then
      -- negative pads crop
      if lo < 0 or hi < 0 then
        local a, b = math.max(-lo, 0), math.max(-hi, 0)
        if a + b > n then
          error(string.format("pad: cropping %d + %d from dim %d of size %d leaves nothing (shape %s)", a, b, d, n,
                              shape_str(x.shape)), 2)
        end
        y = y:narrow(d, a + 1, n - a - b)
        lo, hi = math.max(lo, 0), math.max(hi, 0)
      end
      if lo > 0 or hi > 0 then
        if mode == "constant" then
          local parts = {}
          local shape = y.shape
          if lo > 0 then shape[d] = lo; parts[#parts + 1] = ember.full(shape, value, {dtype = y.dtype}) end
          parts[#parts + 1] = y
          if hi > 0 then shape[d] = hi; parts[#parts + 1] = ember.full(shape, value, {dtype = y.dtype}) end
          y = ember.cat(parts, d)
        else
          y = y:index_select(d, pad_index(mode, y.shape[d], lo, hi))
        end
      end
    else
      if lo < 0 or hi < 0 then
        error(string.format("pad: mode '%s' needs non-negative padding, got {%d, %d} for dim %d", mode, lo, hi, d), 2)
      end
      if mode == "reflect" and (lo >= n or hi >= n) then
        error(string.format("pad: reflect padding {%d, %d} must be smaller than the size %d of dim %d (shape %s)",
                            lo, hi, n, d, shape_str(x.shape)), 2)
      elseif mode == "circular" and (lo > n or hi > n) then
        error(string.format("pad: circular padding {%d, %d} must be at most the size %d of dim %d (shape %s)",
                            lo, hi, n, d, shape_str(x.shape)), 2)
      elseif n == 0 then
        error(string.format("pad: mode '%s' cannot pad the empty dim %d (shape %s)", mode, d, shape_str(x.shape)), 2)
      end
      if lo > 0 or hi > 0 then y = y:index_select(d, pad_index(mode, n, lo, hi)) end
    end
  end
  return y
end

-- ---------- interpolate ----------

local INTERP_DIMS = {linear = 3, bilinear = 4, trilinear = 5}

-- source positions (0-based floats or ints) along one dim for each output index
local function resize_dim(y, d, n, out, mode, align, scale)
  if mode == "nearest" or mode == "nearest-exact" then
    -- PyTorch uses 1/scale_factor when the scale was given, else in/out; its
    -- 3-d kernel shortcuts the same size and exact doubling
    local s = scale and 1 / scale or n / out
    local pos = ember.arange(out):double()
    if mode == "nearest-exact" then pos = pos + 0.5 end
    local src = (pos * s):floor():long():clamp(0, n - 1)
    if mode == "nearest" and out == n then return y end
    if mode == "nearest" and out == 2 * n then src = ember.arange(n):view(n, 1):expand(n, 2):reshape(out) end
    return y:index_select(d, one_based(src))
  end
  local pos
  if align then
    local s = out > 1 and (n - 1) / (out - 1) or 0
    pos = ember.arange(out):double() * s
  else
    local s = scale and 1 / scale or n / out
    pos = ((ember.arange(out):double() + 0.5) * s - 0.5):clamp(0, nil)
  end
  local i0 = pos:floor():long():clamp(0, n - 1)
  local i1 = (i0 + 1):clamp(0, n - 1)
  local w = (pos - i0:double()):to(y.dtype)
  local wshape = {}
  for k = 1, y:dim() do wshape[k] = 1 end
  wshape[d] = out
  w = w:view(wshape)
  return y:index_select(d, one_based(i0)) * (1 - w) + y:index_select(d, one_based(i1)) * w
end

function Fn.interpolate(x, opts)
  float_tensor("interpolate", x)
  opts = opts or {}
  if type(opts) ~= "table" then error("interpolate: options must be a table {size=, scale_factor=, mode=}", 2) end
  local mode = opts.mode or "nearest"
  local nsp = x:dim() - 2
  if mode == "nearest" or mode == "nearest-exact" or mode == "area" then
    if nsp < 1 or nsp > 3 then
      error(string.format("interpolate: expected a 3-D, 4-D or 5-D input (N, C, spatial...), got shape %s",
                          shape_str(x.shape)), 2)
    end
    if opts.align_corners ~= nil then
      error("interpolate: align_corners can only be set with the interpolating modes linear, bilinear, trilinear", 2)
    end
  elseif INTERP_DIMS[mode] then
    if x:dim() ~= INTERP_DIMS[mode] then
      error(string.format("interpolate: mode '%s' needs a %d-D input, got shape %s", mode, INTERP_DIMS[mode],
                          shape_str(x.shape)), 2)
    end
  else
    error("interpolate: mode must be 'nearest', 'nearest-exact', 'linear', 'bilinear', 'trilinear' or 'area', got '" ..
          tostring(mode) .. "'", 2)
  end
  local size, sf = opts.size, opts.scale_factor
  if (size == nil) == (sf == nil) then error("interpolate: give exactly one of size and scale_factor", 2) end
  local out, scales = {}, {}
  for i = 1, nsp do
    local n = x.shape[i + 2]
    if size ~= nil then
      local s = type(size) == "table" and size[i] or size
      if type(size) == "table" and #size ~= nsp then
        error(string.format("interpolate: size has %d entries for %d spatial dims", #size, nsp), 2)
      end
      if math.type(s) ~= "integer" or s < 1 then
        error("interpolate: sizes must be positive integers, got " .. tostring(s), 2)
      end
      out[i] = s
    else
      local f = type(sf) == "table" and sf[i] or sf
      if type(sf) == "table" and #sf ~= nsp then
        error(string.format("interpolate: scale_factor has %d entries for %d spatial dims", #sf, nsp), 2)
      end
      if type(f) ~= "number" or not (f > 0) then
        error("interpolate: scale_factor must be positive, got " .. tostring(f), 2)
      end
      out[i] = math.floor(n * f)
      if out[i] < 1 then
        error(string.format("interpolate: scale_factor %g makes dim %d of size %d empty", f, i + 2, n), 2)
      end
      if not opts.recompute_scale_factor then scales[i] = f end
    end
  end
  if mode == "area" then
    if nsp == 1 then
      return ember.adaptive_avg_pool2d(x:unsqueeze(3), {1, out[1]}):squeeze(3)
    elseif nsp == 2 then
      return ember.adaptive_avg_pool2d(x, {out[1], out[2]})
    end
    error("interpolate: mode 'area' supports 3-D and 4-D inputs", 2)
  end
  if nsp <= 2 and mode ~= "trilinear" then
    -- the C kernel (nn/resample.c): one pass, PyTorch's float positions
    local sc = {}
    for i = 1, nsp do sc[i] = scales[i] or 0 end
    return ember._resample(x, out, (mode == "linear" or mode == "bilinear") and "linear" or mode,
                           opts.align_corners and true or false, sc)
  end
  -- 3 spatial dims: one resampling pass per dim, composed from index_select
  local y = x
  for i = 1, nsp do
    local n = x.shape[i + 2]
    if out[i] ~= n or mode ~= "nearest" then
      y = resize_dim(y, i + 2, n, out[i], mode, opts.align_corners and true or false, scales[i])
    end
  end
  return y
end

local Upsample = Module:extend("Upsample")
C.Upsample = Upsample

function Upsample:init(opts)
  if type(opts) ~= "table" then error("Upsample: expected options {size= or scale_factor=, mode=, align_corners=}", 3) end
  self.size, self.scale_factor = opts.size, opts.scale_factor
  self.mode = opts.mode or "nearest"
  self.align_corners = opts.align_corners
  if (self.size == nil) == (self.scale_factor == nil) then error("Upsample: give exactly one of size and scale_factor", 3) end
end

function Upsample:forward(x)
  return Fn.interpolate(x, {size = self.size, scale_factor = self.scale_factor, mode = self.mode,
                            align_corners = self.align_corners})
end

local function list_str(v)
  if type(v) == "table" then return "{" .. table.concat(v, ", ") .. "}" end
  return tostring(v)
end

function Upsample:extra_repr()
  local s = self.size and ("size=" .. list_str(self.size)) or ("scale_factor=" .. list_str(self.scale_factor))
  s = s .. ", mode='" .. self.mode .. "'"
  if self.align_corners ~= nil then s = s .. ", align_corners=" .. tostring(self.align_corners) end
  return s
end

-- ---------- pixel shuffle ----------

local function factor_arg(name, r)
  if math.type(r) ~= "integer" or r < 1 then
    error(string.format("%s: the factor must be a positive integer, got %s", name, tostring(r)), 3)
  end
end

function Fn.pixel_shuffle(x, r)
  check_tensor("pixel_shuffle", x)
  factor_arg("pixel_shuffle", r)
  local s = x.shape
  local nd = #s
  if nd < 3 or s[nd - 2] % (r * r) ~= 0 then
    error(string.format("pixel_shuffle: expected input (*, C*r^2, H, W) with C*r^2 divisible by %d, got shape %s",
                        r * r, shape_str(s)), 2)
  end
  local B = 1
  for i = 1, nd - 3 do B = B * s[i] end
  local c, h, w = s[nd - 2] // (r * r), s[nd - 1], s[nd]
  local y = x:reshape(B, c, r, r, h, w):permute(1, 2, 5, 3, 6, 4):reshape(B, c, h * r, w * r)
  local out = {}
  for i = 1, nd - 3 do out[i] = s[i] end
  out[#out + 1], out[#out + 2], out[#out + 3] = c, h * r, w * r
  return y:reshape(out)
end

function Fn.pixel_unshuffle(x, r)
  check_tensor("pixel_unshuffle", x)
  factor_arg("pixel_unshuffle", r)
  local s = x.shape
  local nd = #s
  if nd < 3 or s[nd - 1] % r ~= 0 or s[nd] % r ~= 0 then
    error(string.format("pixel_unshuffle: expected input (*, C, H, W) with H and W divisible by %d, got shape %s",
                        r, shape_str(s)), 2)
  end
  local B = 1
  for i = 1, nd - 3 do B = B * s[i] end
  local c, h, w = s[nd - 2], s[nd - 1] // r, s[nd] // r
  local y = x:reshape(B, c, h, r, w, r):permute(1, 2, 4, 6, 3, 5):reshape(B, c * r * r, h, w)
  local out = {}
  for i = 1, nd - 3 do out[i] = s[i] end
  out[#out + 1], out[#out + 2], out[#out + 3] = c * r * r, h, w
  return y:reshape(out)
end

local function factor_module(cname, fn, field, text)
  local M = Module:extend(cname)
  function M:init(r)
    factor_arg(cname, r)
    self[field] = r
  end
  function M:forward(x) return fn(x, self[field]) end
  function M:extra_repr() return field .. "=" .. self[field] end
  C[cname] = M
  doc(M, text)
end
factor_module("PixelShuffle", Fn.pixel_shuffle, "upscale_factor",
              "nn.PixelShuffle(upscale_factor): (*, C*r^2, H, W) -> (*, C, H*r, W*r).")
factor_module("PixelUnshuffle", Fn.pixel_unshuffle, "downscale_factor",
              "nn.PixelUnshuffle(downscale_factor): (*, C, H*r, W*r) -> (*, C*r^2, H, W), the inverse of PixelShuffle.")

-- ---------- unfold / fold ----------

local function pair(name, v, what, min)
  local a, b
  if type(v) == "table" then a, b = v[1], v[2] or v[1] else a, b = v, v end
  if math.type(a) ~= "integer" or math.type(b) ~= "integer" or a < min or b < min then
    error(string.format("%s: %s must be %s integer or {h, w}, got %s", name, what,
                        min > 0 and "a positive" or "a non-negative", list_str(v)), 4)
  end
  return {a, b}
end

local function im2col_args(name, kernel_size, opts)
  opts = opts or {}
  return pair(name, kernel_size, "kernel_size", 1), pair(name, opts.dilation or 1, "dilation", 1),
         pair(name, opts.padding or 0, "padding", 0), pair(name, opts.stride or 1, "stride", 1)
end

-- output positions per spatial dim, and the (kh*kw*L) 1-based index map of
-- each (kernel offset, position) into a padded plane of width wp
local function im2col_index(name, H, W, k, d, p, s)
  local hp, wp = H + 2 * p[1], W + 2 * p[2]
  local oh = (hp - (d[1] * (k[1] - 1) + 1)) // s[1] + 1
  local ow = (wp - (d[2] * (k[2] - 1) + 1)) // s[2] + 1
  if oh < 1 or ow < 1 then
    error(string.format("%s: the kernel %dx%d (dilation %dx%d) does not fit in the padded input %dx%d", name,
                        k[1], k[2], d[1], d[2], hp, wp), 3)
  end
  local rows = (ember.arange(oh) * s[1]):view(oh, 1) * wp + ember.arange(ow) * s[2]        -- (oh, ow)
  local offs = (ember.arange(k[1]) * d[1]):view(k[1], 1) * wp + ember.arange(k[2]) * d[2]  -- (kh, kw)
  local idx = offs:view(k[1] * k[2], 1) + rows:view(1, oh * ow)                           -- (kh*kw, L)
  return one_based(idx:flatten()), oh, ow, hp, wp
end

function Fn.unfold(x, kernel_size, opts)
  float_tensor("unfold", x)
  local k, d, p, s = im2col_args("unfold", kernel_size, opts)
  local unbatched = x:dim() == 3
  if x:dim() ~= 4 and not unbatched then
    error("unfold: expected input (N, C, H, W) or (C, H, W), got shape " .. shape_str(x.shape), 2)
  end
  if unbatched then x = x:unsqueeze(1) end
  local N, Cc, H, W = x.shape[1], x.shape[2], x.shape[3], x.shape[4]
  local idx, oh, ow, hp, wp = im2col_index("unfold", H, W, k, d, p, s)
  local xp = (p[1] > 0 or p[2] > 0) and Fn.pad(x, {p[2], p[2], p[1], p[1]}) or x
  -- (N, C, Hp*Wp) -> (N, C, kh*kw*L) -> (N, C*kh*kw, L)
  local cols = xp:reshape(N, Cc, hp * wp):index_select(3, idx):view(N, Cc * k[1] * k[2], oh * ow)
  return unbatched and cols:squeeze(1) or cols
end

function Fn.fold(x, output_size, kernel_size, opts)
  float_tensor("fold", x)
  local k, d, p, s = im2col_args("fold", kernel_size, opts)
  local out = pair("fold", output_size, "output_size", 1)
  local unbatched = x:dim() == 2
  if x:dim() ~= 3 and not unbatched then
    error("fold: expected input (N, C*kh*kw, L) or (C*kh*kw, L), got shape " .. shape_str(x.shape), 2)
  end
  if unbatched then x = x:unsqueeze(1) end
  local N, CK, L = x.shape[1], x.shape[2], x.shape[3]
  local kk = k[1] * k[2]
  if CK % kk ~= 0 then
    error(string.format("fold: dim 2 of the input (%d) must be divisible by the kernel's %dx%d = %d", CK, k[1], k[2],
                        kk), 2)
  end
  local idx, oh, ow, hp, wp = im2col_index("fold", out[1], out[2], k, d, p, s)
  if L ~= oh * ow then
    error(string.format("fold: the input has %d blocks but output_size %dx%d with these options gives %d x %d = %d",
                        L, out[1], out[2], oh, ow, oh * ow), 2)
  end
  local Cc = CK // kk
  -- the adjoint of unfold: blocks summed into the padded planes
  local index = idx:view(1, 1, kk * L):expand(N, Cc, kk * L):contiguous()
  local planes = ember.zeros({N, Cc, hp * wp}, {dtype = x.dtype}):scatter_add(3, index, x:reshape(N, Cc, kk * L))
  local y = planes:view(N, Cc, hp, wp)
  if p[1] > 0 or p[2] > 0 then y = y:narrow(3, p[1] + 1, out[1]):narrow(4, p[2] + 1, out[2]) end
  return unbatched and y:squeeze(1) or y
end

local Unfold = Module:extend("Unfold")
C.Unfold = Unfold
function Unfold:init(kernel_size, opts)
  local k, d, p, s = im2col_args("Unfold", kernel_size, opts)
  self.kernel_size, self.dilation, self.padding, self.stride = k, d, p, s
end
function Unfold:forward(x)
  return Fn.unfold(x, self.kernel_size, {dilation = self.dilation, padding = self.padding, stride = self.stride})
end
function Unfold:extra_repr()
  return string.format("kernel_size=%s, dilation=%s, padding=%s, stride=%s", list_str(self.kernel_size),
                       list_str(self.dilation), list_str(self.padding), list_str(self.stride))
end

local Fold = Module:extend("Fold")
C.Fold = Fold
function Fold:init(output_size, kernel_size, opts)
  self.output_size = pair("Fold", output_size, "output_size", 1)
  local k, d, p, s = im2col_args("Fold", kernel_size, opts)
  self.kernel_size, self.dilation, self.padding, self.stride = k, d, p, s
end
function Fold:forward(x)
  return Fn.fold(x, self.output_size, self.kernel_size, {dilation = self.dilation, padding = self.padding,
                                                         stride = self.stride})
end
function Fold:extra_repr() return "output_size=" .. list_str(self.output_size) .. ", " .. Unfold.extra_repr(self) end

-- ---------- similarity modules ----------

local CosineSimilarity = Module:extend("CosineSimilarity")
C.CosineSimilarity = CosineSimilarity
function CosineSimilarity:init(dim, eps)
  if type(dim) == "table" then dim, eps = dim.dim, dim.eps end
  self.dim, self.eps = dim or 2, eps or 1e-8
end
function CosineSimilarity:forward(x1, x2) return Fn.cosine_similarity(x1, x2, self.dim, self.eps) end
function CosineSimilarity:extra_repr() return string.format("dim=%d, eps=%g", self.dim, self.eps) end

local PairwiseDistance = Module:extend("PairwiseDistance")
C.PairwiseDistance = PairwiseDistance
function PairwiseDistance:init(p, eps, keepdim)
  if type(p) == "table" then p, eps, keepdim = p.p, p.eps, p.keepdim end
  self.norm, self.eps, self.keepdim = p or 2, eps or 1e-6, keepdim and true or false
end
function PairwiseDistance:forward(x1, x2) return Fn.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim) end
function PairwiseDistance:extra_repr()
  return string.format("p=%s, eps=%g, keepdim=%s", tostring(self.norm), self.eps, tostring(self.keepdim))
end

-- ---------- Bilinear ----------

local Bilinear = Module:extend("Bilinear")
C.Bilinear = Bilinear

function Bilinear:init(in1, in2, out, opts)
  for _, v in ipairs({{in1, "in1_features"}, {in2, "in2_features"}, {out, "out_features"}}) do
    if math.type(v[1]) ~= "integer" or v[1] < 1 then
      error(string.format("Bilinear: %s must be a positive integer, got %s", v[2], tostring(v[1])), 3)
    end
  end
  self.in1_features, self.in2_features, self.out_features = in1, in2, out
  -- PyTorch: weight and bias from U(-1/sqrt(in1), 1/sqrt(in1))
  local bound = 1 / math.sqrt(in1)
  self.weight = Parameter(ember.empty(out, in1, in2))
  init.uniform_(self.weight, -bound, bound)
  if opts == nil or opts.bias ~= false then
    self.bias = Parameter(ember.empty(out))
    init.uniform_(self.bias, -bound, bound)
  end
end

function Bilinear:forward(x1, x2)
  check_tensor("Bilinear", x1, "input1")
  check_tensor("Bilinear", x2, "input2")
  local s1, s2 = x1.shape, x2.shape
  local ok = #s1 >= 1 and #s1 == #s2 and s1[#s1] == self.in1_features and s2[#s2] == self.in2_features
  for i = 1, #s1 - 1 do ok = ok and s1[i] == s2[i] end
  if not ok then
    error(string.format("Bilinear: expected inputs (..., %d) and (..., %d) with the same leading dims, got %s and %s",
                        self.in1_features, self.in2_features, shape_str(s1), shape_str(s2)), 2)
  end
  local lead = {}
  for i = 1, #s1 - 1 do lead[i] = s1[i] end
  local a = x1:reshape(-1, self.in1_features)
  local b = x2:reshape(-1, self.in2_features)
  local O, I1, I2 = self.out_features, self.in1_features, self.in2_features
  -- y[n, o] = sum_ij a[n, i] W[o, i, j] b[n, j]: (N, I1) @ (I1, O*I2), then a dot with b per o
  local t = a:matmul(self.weight:permute(2, 1, 3):reshape(I1, O * I2)):view(-1, O, I2)
  local y = (t * b:unsqueeze(2)):sum(3)
  if self.bias then y = y + self.bias end
  lead[#lead + 1] = O
  return y:reshape(lead)
end

function Bilinear:extra_repr()
  return string.format("in1_features=%d, in2_features=%d, out_features=%d%s", self.in1_features, self.in2_features,
                       self.out_features, self.bias and "" or ", bias=false")
end

-- ---------- padding layers ----------

local function pad_module(cname, mode, ndims, constant)
  local M = Module:extend(cname)
  function M:init(padding, value)
    local p
    if math.type(padding) == "integer" then
      p = {}
      for i = 1, 2 * ndims do p[i] = padding end
    elseif type(padding) == "table" and #padding == 2 * ndims then
      p = padding
    else
      error(string.format("%s: padding must be an integer or a list of %d integers, got %s", cname, 2 * ndims,
                          list_str(padding)), 3)
    end
    for _, v in ipairs(p) do
      if math.type(v) ~= "integer" then error(cname .. ": padding values must be integers, got " .. tostring(v), 3) end
    end
    self.padding = p
    if constant then
      if value ~= nil and type(value) ~= "number" then error(cname .. ": value must be a number", 3) end
      self.value = value or 0
    end
  end
  function M:forward(x)
    check_tensor(cname, x)
    if x:dim() ~= ndims + 1 and x:dim() ~= ndims + 2 then
      error(string.format("%s: expected a %d-D or %d-D input, got shape %s", cname, ndims + 1, ndims + 2,
                          shape_str(x.shape)), 2)
    end
    return Fn.pad(x, self.padding, mode, self.value)
  end
  function M:extra_repr()
    return list_str(self.padding) .. (constant and (", value=" .. tostring(self.value)) or "")
  end
  C[cname] = M
  local what = ndims == 1 and "(N, C, L) or (C, L)" or "(N, C, H, W) or (C, H, W)"
  local order = ndims == 1 and "{left, right}" or "{left, right, top, bottom}"
  doc(M, string.format("nn.%s(padding%s): pads %s inputs (%s); padding an integer or %s.", cname,
                       constant and (cname == "ZeroPad2d" and "" or ", value") or "",
                       mode == "constant" and (cname == "ZeroPad2d" and "with zeros" or "with a constant")
                         or ("by " .. mode .. "ion"), what, order))
  return M
end

pad_module("ConstantPad1d", "constant", 1, true)
pad_module("ConstantPad2d", "constant", 2, true)
local ZeroPad2d = pad_module("ZeroPad2d", "constant", 2, false)
function ZeroPad2d:forward(x)
  check_tensor("ZeroPad2d", x)
  if x:dim() ~= 3 and x:dim() ~= 4 then
    error("ZeroPad2d: expected a 3-D or 4-D input, got shape " .. shape_str(x.shape), 2)
  end
  return Fn.pad(x, self.padding)
end
function ZeroPad2d:extra_repr() return list_str(self.padding) end
pad_module("ReflectionPad1d", "reflect", 1, false)
pad_module("ReflectionPad2d", "reflect", 2, false)
pad_module("ReplicationPad1d", "replicate", 1, false)
pad_module("ReplicationPad2d", "replicate", 2, false)

-- ---------- docs ----------
doc(Fn.normalize, "nn.normalize(x [, p=2 [, dim=2 [, eps=1e-12]]]) -> tensor (or normalize(x, {p=, dim=, eps=}))\n\n" ..
    "x / max(||x||_p, eps) along dim (1-based; PyTorch's dim=1 default is ember's 2).")
doc(Fn.cosine_similarity, "nn.cosine_similarity(x1, x2 [, dim=2 [, eps=1e-8]]) -> tensor\n\n" ..
    "sum(x1 * x2) / sqrt(max(|x1|^2, eps^2) * max(|x2|^2, eps^2)) along dim; x1 and x2 broadcast.")
doc(Fn.pairwise_distance, "nn.pairwise_distance(x1, x2 [, p=2 [, eps=1e-6 [, keepdim=false]]]) -> tensor: ||x1 - x2 + eps||_p over the last dim.")
doc(Fn.pad, "nn.pad(x, pad [, {mode='constant', value=0}]) -> tensor (also pad(x, pad, mode, value))\n\n" ..
    "pad = {left, right [, top, bottom [, front, back]]} counts from the LAST dim, as PyTorch.  Modes: constant\n" ..
    "(negative values crop), reflect (pad < size), replicate, circular (pad <= size).")
doc(Fn.interpolate, "nn.interpolate(x, {size= | scale_factor=, mode='nearest', align_corners=}) -> tensor\n\n" ..
    "Resizes (N, C, L) / (N, C, H, W) / (N, C, D, H, W).  Modes nearest, nearest-exact, linear (3-D), bilinear (4-D),\n" ..
    "trilinear (5-D), area; size and scale_factor a number or one per spatial dim.  PyTorch's sampling positions:\n" ..
    "with scale_factor the source step is 1/scale_factor (recompute_scale_factor=true uses in/out).")
doc(Upsample, "nn.Upsample({size= | scale_factor=, mode='nearest', align_corners=}): the module form of nn.interpolate.")
doc(Fn.pixel_shuffle, "nn.pixel_shuffle(x, r) -> tensor: (*, C*r^2, H, W) -> (*, C, H*r, W*r).")
doc(Fn.pixel_unshuffle, "nn.pixel_unshuffle(x, r) -> tensor: (*, C, H*r, W*r) -> (*, C*r^2, H, W).")
doc(Fn.unfold, "nn.unfold(x, kernel_size [, {dilation=1, padding=0, stride=1}]) -> tensor\n\n" ..
    "im2col: (N, C, H, W) -> (N, C*kh*kw, L) with the sliding blocks as columns (channel-major rows, as PyTorch).")
doc(Fn.fold, "nn.fold(x, output_size, kernel_size [, {dilation=1, padding=0, stride=1}]) -> tensor\n\n" ..
    "col2im, the adjoint of unfold: (N, C*kh*kw, L) -> (N, C, H, W), overlapping blocks summed.")
doc(Unfold, "nn.Unfold(kernel_size [, {dilation=1, padding=0, stride=1}]): the module form of nn.unfold.")
doc(Fold, "nn.Fold(output_size, kernel_size [, {dilation=1, padding=0, stride=1}]): the module form of nn.fold.")
doc(CosineSimilarity, "nn.CosineSimilarity([dim=2 [, eps=1e-8]]): m(x1, x2) = nn.cosine_similarity(x1, x2, dim, eps).")
doc(PairwiseDistance, "nn.PairwiseDistance([p=2 [, eps=1e-6 [, keepdim=false]]]): m(x1, x2) = ||x1 - x2 + eps||_p over the last dim.")
doc(Bilinear, "nn.Bilinear(in1_features, in2_features, out_features [, {bias=true}])\n\n" ..
    "y = x1^T W x2 + b: m(x1 (..., in1), x2 (..., in2)) -> (..., out); weight (out, in1, in2), bias (out), both from\n" ..
    "U(-1/sqrt(in1), 1/sqrt(in1)) as PyTorch.")

return {functions = Fn, modules = C}
