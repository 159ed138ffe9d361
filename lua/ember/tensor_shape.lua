-- ember.tensor_shape: the shape and layout functions of PyTorch that are
-- compositions of ember's own ops (flip, roll, rot90, tile/repeat,
-- repeat_interleave, diag/diagonal/diag_embed/trace, unbind, movedim,
-- swapaxes, broadcast_to/broadcast_tensors, unflatten, the *stack family,
-- meshgrid, view_as/reshape_as, new_*, tensor_split, tril/triu_indices,
-- hsplit/vsplit/dsplit, ravel, kron, cartesian_prod, block_diag,
-- atleast_*d).  einsum and tensordot live
-- in tensor_einsum.lua, installed from here with the shared helpers.
--
-- Everything is written with differentiable C ops (index_select, cat,
-- narrow, reshape, expand, permute, slicing, mul, sum, matmul), so autograd
-- flows through these functions with no backward rules of their own.
-- Dims are 1-based and negative dims count from the end, as everywhere in
-- ember's Lua API; so are the indices tensor_split, tril_indices and
-- repeat_interleave take or return.  Loaded once by ember.init, which
-- installs each function as ember.f(...) and, where PyTorch has the method,
-- as x:f(...) on ember.Tensor.
local ember = require("ember")

local is_tensor = ember.is_tensor
local unpack = table.unpack
local MAX_DIMS = 8   -- TN_MAX_DIMS of the C core (tensor/tensor.h)

-- ---------------------------------------------------------------- helpers

-- Raises an error naming the function; install() below adds the caller's
-- position when it re-raises it.
local function fail(fmt, ...)
  error(select("#", ...) > 0 and string.format(fmt, ...) or fmt, 0)
end

local function shape_str(s)
  local parts = {}
  for i = 1, #s do parts[i] = tostring(s[i]) end
  return "[" .. table.concat(parts, ", ") .. "]"
end

local function check_tensor(fname, x, what)
  if not is_tensor(x) then
    fail("%s: %s must be a tensor (got %s)", fname, what or "the input", type(x))
  end
  return x
end

-- v as a Lua integer, or an error naming fname and what
local function int_arg(fname, v, what, default)
  if v == nil and default ~= nil then return default end
  local i = math.tointeger(v)
  if i == nil then fail("%s: %s must be an integer (got %s)", fname, what, tostring(v)) end
  return i
end

-- A 1-based dim d (negative counts from the end) of a tensor with ndim dims,
-- as a positive 1-based dim.  A 0-dim tensor accepts 1 and -1, as PyTorch's
-- accepts 0 and -1.
local function wrap_dim(fname, d, ndim, what)
  what = what or "dim"
  local di = math.tointeger(d)
  if di == nil then fail("%s: %s must be an integer (got %s)", fname, what, tostring(d)) end
  local n = ndim > 0 and ndim or 1
  if di == 0 or di < -n or di > n then
    fail("%s: %s %d is out of range for a tensor with %d dims (dims are 1-based)", fname, what, di, ndim)
  end
  return di < 0 and di + n + 1 or di
end

-- A list argument given as one table or as numbers (varargs): {…} either way.
local function list_arg(a, ...)
  if type(a) == "table" and not is_tensor(a) then
    local out = {}
    for i = 1, #a do out[i] = a[i] end
    return out
  end
  return {a, ...}
end

-- A list of sizes (table or varargs) as Lua integers; an optional trailing
-- options table (string keys) is split off and returned second.
local function sizes_arg(fname, ...)
  local args = {...}
  local opts
  local last = args[#args]
  if #args >= 1 and type(last) == "table" and not is_tensor(last) and next(last) ~= nil and #last == 0 then
    opts = last
    args[#args] = nil
  end
  local list = args
  if type(args[1]) == "table" and not is_tensor(args[1]) then
    if #args > 1 then fail("%s: give the sizes as one table or as numbers, not both", fname) end
    list = args[1]
  end
  local out = {}
  for i = 1, #list do out[i] = int_arg(fname, list[i], "size " .. i) end
  return out, opts
end

-- wrapped 1-based dims of a list, refusing repeats
local function dims_arg(fname, list, ndim, what)
  local seen, out = {}, {}
  for i, d in ipairs(list) do
    local w = wrap_dim(fname, d, ndim, what)
    if seen[w] then fail("%s: dim %d appears more than once in the %s list", fname, w, what or "dim") end
    seen[w] = true
    out[i] = w
  end
  return out, seen
end

-- The tensors of a call that takes them as varargs or as one list.
local function tensor_list(fname, first, ...)
  local list, n
  if type(first) == "table" and not is_tensor(first) then
    list, n = first, #first
  elseif first == nil and select("#", ...) == 0 then
    list, n = {}, 0
  else
    list, n = {first, ...}, select("#", ...) + 1   -- counted: a nil argument is an error, not the end
  end
  local out = {}
  for i = 1, n do out[i] = check_tensor(fname, list[i], "tensor " .. i) end
  if select("#", ...) > 0 and list == first then
    fail("%s: give the tensors as one list or as arguments, not both", fname)
  end
  return out
end

-- The result shape of broadcasting two shapes (numpy rules), or nil and the
-- first dim (from the right) that disagrees.
local function broadcast2(a, b)
  local n = math.max(#a, #b)
  local out = {}
  for i = 1, n do
    local sa = a[#a - n + i] or 1
    local sb = b[#b - n + i] or 1
    if sa == sb or sb == 1 then out[i] = sa
    elseif sa == 1 then out[i] = sb
    else return nil, i end
  end
  return out
end

local function copy_list(t, i, j)
  local out = {}
  for k = i or 1, j or #t do out[#out + 1] = t[k] end
  return out
end

local function concat_lists(...)
  local out = {}
  for _, t in ipairs({...}) do
    for _, v in ipairs(t) do out[#out + 1] = v end
  end
  return out
end

-- Slices dim d of x from 1-based first, every step elements, count of them:
-- a view (the strided slice of the indexing syntax).
local function strided(x, d, first, step, count)
  local key = {}
  for i = 1, x:dim() do key[i] = {} end
  key[d] = {first, first + (count - 1) * step, step}
  return x[key]
end

local M = {}

-- ------------------------------------------------------------- flip, roll

local function flip(x, dims, ...)
  check_tensor("flip", x)
  if dims == nil then fail("flip: dims are required, e.g. x:flip(1) or x:flip{1, 2}") end
  local nd = x:dim()
  local list = dims_arg("flip", list_arg(dims, ...), nd)
  if nd == 0 then return x:clone() end
  local todo = {}
  for _, d in ipairs(list) do
    if x:size(d) > 1 then todo[#todo + 1] = d end
  end
  if #todo == 0 then return x:clone() end
  -- reversing every dim of size > 1 is reversing the flattened tensor: one
  -- gather instead of one per dim
  local big = 0
  for d = 1, nd do if x:size(d) > 1 then big = big + 1 end end
  if #todo == big and #todo > 1 then
    local n = x:numel()
    return x:reshape(n):index_select(1, ember.arange(n, 0, -1)):view(x.shape)
  end
  local out = x
  for _, d in ipairs(todo) do
    local n = x:size(d)
    local rev = ember.arange(n, 0, -1)
    if d == nd then
      -- along the last dim a gather with the index broadcast over the rows
      -- runs faster than index_select's element-by-element rows
      local shape = out.shape
      local ishape = {}
      for i = 1, nd - 1 do ishape[i] = 1 end
      ishape[nd] = n
      out = out:gather(d, rev:view(ishape):expand(shape))
    else
      out = out:index_select(d, rev)
    end
  end
  return out
end

local function fliplr(x)
  check_tensor("fliplr", x)
  if x:dim() < 2 then fail("fliplr: expected a tensor with at least 2 dims (got %d)", x:dim()) end
  return flip(x, 2)
end

local function flipud(x)
  check_tensor("flipud", x)
  if x:dim() < 1 then fail("flipud: expected a tensor with at least 1 dim (got a 0-dim tensor)") end
  return flip(x, 1)
end

-- x rolled by s along dim d: the last s elements come first
local function roll1(x, d, s)
  local n = x:size(d)
  if n == 0 then return x end
  s = s % n
  if s == 0 then return x end
  return ember.cat({x:narrow(d, n - s + 1, s), x:narrow(d, 1, n - s)}, d)
end

local function roll(x, shifts, dims)
  check_tensor("roll", x)
  if shifts == nil then fail("roll: shifts are required, e.g. x:roll(1, 1)") end
  local sl = list_arg(shifts)
  for i, s in ipairs(sl) do sl[i] = int_arg("roll", s, "shift " .. i) end
  if dims == nil then
    if #sl ~= 1 then
      fail("roll: without dims, shifts must be one number (got %d shifts)", #sl)
    end
    local r = roll1(x:reshape(x:numel()), 1, sl[1])
    return r == x and x:clone() or r:view(x.shape)
  end
  local dl = list_arg(dims)
  if #dl ~= #sl then
    fail("roll: shifts and dims must have the same length (got %d shifts and %d dims)", #sl, #dl)
  end
  local out = x
  for i, d in ipairs(dl) do
    out = roll1(out, wrap_dim("roll", d, x:dim()), sl[i])
  end
  if out == x then out = x:clone() end
  return out
end

local function rot90(x, k, dims)
  check_tensor("rot90", x)
  k = int_arg("rot90", k, "k", 1)
  local dl = list_arg(dims or {1, 2})
  if #dl ~= 2 then fail("rot90: dims must be two dims (got %d)", #dl) end
  if x:dim() < 2 then fail("rot90: expected a tensor with at least 2 dims (got %d)", x:dim()) end
  local d1, d2 = wrap_dim("rot90", dl[1], x:dim()), wrap_dim("rot90", dl[2], x:dim())
  if d1 == d2 then fail("rot90: the two dims must differ (both are %d)", d1) end
  k = k % 4
  if k == 1 then return flip(x, d2):transpose(d1, d2) end
  if k == 2 then return flip(x, {d1, d2}) end
  if k == 3 then return flip(x, d1):transpose(d1, d2) end
  return x:clone()
end

-- ------------------------------------------------- tile, repeat, interleave

-- x repeated reps[i] times along dim i; #reps >= x:dim() (leading dims new)
local function repeat_dims(fname, x, reps)
  for i, r in ipairs(reps) do
    if r < 0 then fail("%s: repetitions must be non-negative (got %d at position %d)", fname, r, i) end
  end
  local m = #reps
  local shape = x.shape
  local padded = {}
  for i = 1, m - #shape do padded[i] = 1 end
  for _, s in ipairs(shape) do padded[#padded + 1] = s end
  local out_shape, grow = {}, 0
  for i = 1, m do
    out_shape[i] = padded[i] * reps[i]
    if reps[i] ~= 1 then grow = grow + 1 end
  end
  if grow == 0 then return x:reshape(padded):clone() end
  local base = x:reshape(padded)
  if m + grow <= MAX_DIMS then
    -- one broadcast copy: a size-1 dim before each repeated dim, expanded to
    -- the repetition count, then merged with it: (r1, s1, s2, r3, s3) -> (r1*s1, s2, r3*s3)
    local view, full = {}, {}
    for i = 1, m do
      if reps[i] ~= 1 then
        view[#view + 1] = 1
        full[#full + 1] = reps[i]
      end
      view[#view + 1] = padded[i]
      full[#full + 1] = padded[i]
    end
    return base:reshape(view):expand(full):reshape(out_shape)
  end
  -- too many dims for one view: repeat one dim at a time
  local out = base
  for i = 1, m do
    if reps[i] ~= 1 then
      local s = out.shape
      local full = concat_lists(copy_list(s, 1, i - 1), {reps[i]}, copy_list(s, i))
      local merged = copy_list(s)
      merged[i] = s[i] * reps[i]
      out = out:unsqueeze(i):expand(full):reshape(merged)
    end
  end
  return out
end

local function tile(x, ...)
  check_tensor("tile", x)
  local reps = sizes_arg("tile", ...)
  if #reps == 0 then fail("tile: the repetitions are required, e.g. x:tile(2, 1) or x:tile{2, 1}") end
  -- fewer repetitions than dims: the leading dims are repeated once (torch.tile)
  local pad = {}
  for i = 1, x:dim() - #reps do pad[i] = 1 end
  return repeat_dims("tile", x, concat_lists(pad, reps))
end

local function repeat_(x, ...)
  check_tensor("repeat", x)
  local reps = sizes_arg("repeat", ...)
  if #reps < x:dim() then
    fail("repeat: %d repetitions given for a tensor with %d dims (need at least one per dim; x:tile pads them)",
         #reps, x:dim())
  end
  return repeat_dims("repeat", x, reps)
end

-- 1-based indices 1..n with index i repeated counts[i] times (int64 counts
-- tensor, non-negative): the segment id of each output position, found as
-- the running count of segment starts.
local function interleave_index(counts, total)
  local n = counts:numel()
  if total == 0 then return ember.zeros({0}, {dtype = "int64"}) end
  local starts = counts:cumsum(1) - counts            -- 0-based start of each segment
  local marks = ember.zeros({total + 1}, {dtype = "int64"})
  if n > 1 then
    local later = starts:narrow(1, 2, n - 1)
    marks = marks:scatter_add(1, later + 1, ember.ones({n - 1}, {dtype = "int64"}))
  end
  return marks:narrow(1, 1, total):cumsum(1) + 1
end

local function repeat_interleave(x, repeats, dim)
  check_tensor("repeat_interleave", x)
  if repeats == nil then
    -- torch.repeat_interleave(counts): index i (1-based here) counts[i] times
    if x:dim() > 1 or x.dtype ~= "int64" and x.dtype ~= "int32" then
      fail("repeat_interleave: with one argument, expected a 1-D integer tensor of counts (got %s %s)",
           x.dtype, shape_str(x.shape))
    end
    local counts = x:reshape(x:numel()):long()
    if x:numel() > 0 and counts:min():item() < 0 then fail("repeat_interleave: counts must be non-negative") end
    return interleave_index(counts, x:numel() > 0 and counts:sum():item() or 0)
  end
  local src = x
  local d
  if dim == nil then
    src = x:reshape(x:numel())
    d = 1
  else
    d = wrap_dim("repeat_interleave", dim, x:dim())
    if x:dim() == 0 then src = x:reshape(1) end
  end
  local n = src:size(d)
  if is_tensor(repeats) and repeats:numel() == 1 and repeats:dim() <= 1 then repeats = repeats:item() end
  if is_tensor(repeats) then
    if repeats:dim() ~= 1 or (repeats.dtype ~= "int64" and repeats.dtype ~= "int32") then
      fail("repeat_interleave: repeats must be a number or a 1-D integer tensor (got %s %s)",
           repeats.dtype, shape_str(repeats.shape))
    end
    if repeats:numel() ~= n then
      fail("repeat_interleave: repeats has %d elements but dim %d has size %d", repeats:numel(), d, n)
    end
    local counts = repeats:long()
    if counts:min():item() < 0 then fail("repeat_interleave: repeats must be non-negative") end
    return src:index_select(d, interleave_index(counts, counts:sum():item()))
  end
  local r = int_arg("repeat_interleave", repeats, "repeats")
  if r < 0 then fail("repeat_interleave: repeats must be non-negative (got %d)", r) end
  local shape = src.shape
  local merged = copy_list(shape)
  merged[d] = shape[d] * r
  if #shape + 1 > MAX_DIMS then
    return src:index_select(d, interleave_index(ember.full({n}, r), n * r))
  end
  local post = 1
  for i = d + 1, #shape do post = post * shape[i] end
  if post == 1 and r > 1 and r <= 64 then
    -- along the last dim the broadcast copy below would move r elements at
    -- a time; r copies of the whole dim into a new trailing dim are faster
    local u = src:unsqueeze(d + 1)
    local pieces = {}
    for i = 1, r do pieces[i] = u end
    return ember.cat(pieces, d + 1):reshape(merged)
  end
  -- (.., s, ..) -> (.., s, r, ..) broadcast -> (.., s*r, ..): each slice r times in a row
  local full = concat_lists(copy_list(shape, 1, d), {r}, copy_list(shape, d + 1))
  return src:unsqueeze(d + 1):expand(full):reshape(merged)
end

-- ------------------------------------------------ diagonals and the trace

local function diagonal(x, offset, dim1, dim2)
  check_tensor("diagonal", x)
  local nd = x:dim()
  if nd < 2 then fail("diagonal: expected a tensor with at least 2 dims (got %d)", nd) end
  offset = int_arg("diagonal", offset, "offset", 0)
  local d1 = wrap_dim("diagonal", dim1 or 1, nd, "dim1")
  local d2 = wrap_dim("diagonal", dim2 or 2, nd, "dim2")
  if d1 == d2 then fail("diagonal: dim1 and dim2 must differ (both are %d)", d1) end
  -- diagonal(x, k, d1, d2) == diagonal(x, -k, d2, d1): put the dim with the
  -- larger stride first, so the pair usually merges into one dim without a
  -- copy and the result is a view
  local st = x:stride()
  if st[d1] < st[d2] then d1, d2, offset = d2, d1, -offset end
  local perm = {}
  for d = 1, nd do if d ~= d1 and d ~= d2 then perm[#perm + 1] = d end end
  perm[#perm + 1] = d1
  perm[#perm + 1] = d2
  local y = x:permute(perm)
  local shape = y.shape
  local n, m = shape[nd - 1], shape[nd]
  -- element (i, i + k) of the (n, m) matrix flattened row-major sits at
  -- i * (m + 1) + k; for k < 0 element (i - k, i) at -k * m + i * (m + 1)
  local len, first
  if offset >= 0 then
    len, first = math.min(n, m - offset), offset
  else
    len, first = math.min(n + offset, m), -offset * m
  end
  local flat_shape = copy_list(shape, 1, nd - 2)
  flat_shape[nd - 1] = n * m
  local flat = y:reshape(flat_shape)
  if len <= 0 then return flat:narrow(nd - 1, 1, 0) end
  return strided(flat, nd - 1, first + 1, m + 1, len)
end

local function movedim(x, source, destination)
  check_tensor("movedim", x)
  if source == nil or destination == nil then
    fail("movedim: source and destination dims are required, e.g. x:movedim(1, -1)")
  end
  local nd = x:dim()
  local src = dims_arg("movedim", list_arg(source), nd, "source")
  local dst = dims_arg("movedim", list_arg(destination), nd, "destination")
  if #src ~= #dst then
    fail("movedim: source and destination must have the same length (got %d and %d)", #src, #dst)
  end
  if nd == 0 then return x:view({}) end
  local perm, used = {}, {}
  for i = 1, #src do
    perm[dst[i]] = src[i]
    used[src[i]] = true
  end
  local rest = 1
  for pos = 1, nd do
    if perm[pos] == nil then
      while used[rest] do rest = rest + 1 end
      perm[pos] = rest
      rest = rest + 1
    end
  end
  return x:permute(perm)
end

local function diag_embed(x, offset, dim1, dim2)
  check_tensor("diag_embed", x)
  local nd = x:dim()
  if nd < 1 then fail("diag_embed: expected a tensor with at least 1 dim (got a 0-dim tensor)") end
  offset = int_arg("diag_embed", offset, "offset", 0)
  local d1 = wrap_dim("diag_embed", dim1 or -2, nd + 1, "dim1")
  local d2 = wrap_dim("diag_embed", dim2 or -1, nd + 1, "dim2")
  if d1 == d2 then fail("diag_embed: dim1 and dim2 must differ (both are %d)", d1) end
  local shape = x.shape
  local n = shape[nd]
  if offset > 2^31 or offset < -2^31 then fail("diag_embed: offset %d is too large", offset) end
  local N = n + math.abs(offset)
  local prefix = copy_list(shape, 1, nd - 1)
  local opts = {dtype = x.dtype}
  local function with(...) return concat_lists(prefix, {...}) end
  -- each value followed by N zeros, (.., n, N+1), flattened: value i lands
  -- at i * (N + 1), which is the diagonal of an (N, N) matrix; shifted by
  -- `front` zeros it becomes the offset diagonal (see diagonal above)
  local rows = ember.cat({x:unsqueeze(nd + 1), ember.zeros(with(n, N), opts)}, nd + 1)
  local flat = rows:reshape(with(n * (N + 1)))
  local front = offset >= 0 and offset or -offset * N
  local used = math.min(n * (N + 1), N * N - front)
  local parts = {}
  if front > 0 then parts[#parts + 1] = ember.zeros(with(front), opts) end
  parts[#parts + 1] = flat:narrow(nd, 1, used)
  local rest = N * N - front - used
  if rest > 0 then parts[#parts + 1] = ember.zeros(with(rest), opts) end
  local full = #parts == 1 and parts[1] or ember.cat(parts, nd)
  local mat = full:reshape(with(N, N))   -- (.., N, N): rows are dim1, columns dim2
  return movedim(mat, {nd, nd + 1}, {d1, d2})
end

local function diag(x, k)
  check_tensor("diag", x)
  k = int_arg("diag", k, "diagonal offset", 0)
  local nd = x:dim()
  if nd == 1 then
    if k > 2^31 or k < -2^31 then fail("diag: offset %d is too large", k) end
    return diag_embed(x, k)
  end
  if nd == 2 then return diagonal(x, k):clone() end
  fail("diag: expected a 1-D or 2-D tensor (got %d dims, shape %s)", nd, shape_str(x.shape))
end

local function trace(x)
  check_tensor("trace", x)
  if x:dim() ~= 2 then fail("trace: expected a 2-D tensor (got %d dims, shape %s)", x:dim(), shape_str(x.shape)) end
  return diagonal(x):sum()
end

-- ------------------------------------------------------ views of one tensor

local function unbind(x, dim)
  check_tensor("unbind", x)
  if x:dim() == 0 then fail("unbind: cannot unbind a 0-dim tensor") end
  local d = wrap_dim("unbind", dim or 1, x:dim())
  local out = {}
  for i = 1, x:size(d) do out[i] = x:select(d, i) end
  return out
end

local function swapaxes(x, a, b)
  check_tensor("swapaxes", x)
  local d1 = wrap_dim("swapaxes", a, x:dim(), "dim0")
  local d2 = wrap_dim("swapaxes", b, x:dim(), "dim1")
  if x:dim() == 0 then return x:view({}) end
  return x:transpose(d1, d2)
end

local function broadcast_to(x, ...)
  check_tensor("broadcast_to", x)
  local shape = sizes_arg("broadcast_to", ...)
  local xs = x.shape
  if #shape < #xs then
    fail("broadcast_to: cannot broadcast %s to %s (the target has fewer dims)", shape_str(xs), shape_str(shape))
  end
  local target = {}
  for i = 1, #shape do
    local j = i - (#shape - #xs)   -- the matching dim of x, right-aligned
    local s = shape[i]
    if s == -1 then
      if j < 1 then fail("broadcast_to: -1 is not allowed for the new leading dim %d (target %s)", i, shape_str(shape)) end
      s = xs[j]
    elseif s < 0 then
      fail("broadcast_to: invalid size %d in dim %d of the target %s", s, i, shape_str(shape))
    end
    if j >= 1 and xs[j] ~= s and xs[j] ~= 1 then
      fail("broadcast_to: cannot broadcast %s to %s (dim %d: %d vs %d)", shape_str(xs), shape_str(shape), i, xs[j], s)
    end
    target[i] = s
  end
  return x:expand(target)
end

local function broadcast_shapes(...)
  local shapes = {...}
  local out = {}
  for i, s in ipairs(shapes) do
    local list = type(s) == "table" and s or {s}
    for j, v in ipairs(list) do int_arg("broadcast_shapes", v, "size " .. j .. " of shape " .. i) end
    local r, bad = broadcast2(out, list)
    if not r then
      fail("broadcast_shapes: shape %d %s does not broadcast with %s (dim %d from the end)",
           i, shape_str(list), shape_str(out), math.max(#out, #list) - bad + 1)
    end
    out = r
  end
  return out
end

local function broadcast_tensors(...)
  local ts = tensor_list("broadcast_tensors", ...)
  local shape = {}
  for i, t in ipairs(ts) do
    local r = broadcast2(shape, t.shape)
    if not r then
      local shapes = {}
      for j, u in ipairs(ts) do shapes[j] = shape_str(u.shape) end
      fail("broadcast_tensors: tensor %d of shape %s does not broadcast with the others (shapes %s)",
           i, shape_str(t.shape), table.concat(shapes, ", "))
    end
    shape = r
  end
  local out = {}
  for i, t in ipairs(ts) do out[i] = t:expand(shape) end
  return unpack(out, 1, #ts)
end

local function unflatten(x, dim, sizes)
  check_tensor("unflatten", x)
  local d = wrap_dim("unflatten", dim, x:dim())
  if type(sizes) ~= "table" or is_tensor(sizes) or #sizes == 0 then
    fail("unflatten: sizes must be a non-empty table of sizes (got %s)", type(sizes))
  end
  local n = x:dim() > 0 and x:size(d) or 1
  local infer, known = nil, 1
  local s = {}
  for i, v in ipairs(sizes) do
    s[i] = int_arg("unflatten", v, "size " .. i)
    if s[i] == -1 then
      if infer then fail("unflatten: only one size can be -1 (sizes %s)", shape_str(sizes)) end
      infer = i
    elseif s[i] < 0 then
      fail("unflatten: invalid size %d in sizes %s", s[i], shape_str(sizes))
    else
      known = known * s[i]
    end
  end
  if infer then
    if known == 0 or n % known ~= 0 then
      fail("unflatten: sizes %s cannot split dim %d of size %d", shape_str(sizes), d, n)
    end
    s[infer] = n // known
  elseif known ~= n then
    fail("unflatten: sizes %s multiply to %d, not to the size %d of dim %d", shape_str(sizes), known, n, d)
  end
  local shape = x.shape
  return x:view(concat_lists(copy_list(shape, 1, d - 1), s, copy_list(shape, d + 1)))
end

local function view_as(x, other)
  check_tensor("view_as", x)
  check_tensor("view_as", other, "other")
  return x:view(other.shape)
end

local function reshape_as(x, other)
  check_tensor("reshape_as", x)
  check_tensor("reshape_as", other, "other")
  return x:reshape(other.shape)
end

-- ---------------------------------------------------------- at least n-d

local function atleast(fname, n, x)
  check_tensor(fname, x)
  local nd = x:dim()
  if nd >= n then return x end
  if n == 1 then return x:reshape(1) end
  if n == 2 then return nd == 0 and x:reshape(1, 1) or x:unsqueeze(1) end
  if nd == 0 then return x:reshape(1, 1, 1) end
  if nd == 1 then return x:reshape(1, x:size(1), 1) end
  return x:unsqueeze(3)
end

-- atleast_nd(x) -> tensor; atleast_nd(a, b, ...) -> several; atleast_nd{a, b} -> a list
local function atleast_fn(fname, n)
  return function(first, ...)
    if type(first) == "table" and not is_tensor(first) then
      local out = {}
      for i, t in ipairs(tensor_list(fname, first)) do out[i] = atleast(fname, n, t) end
      return out
    end
    local ts = tensor_list(fname, first, ...)
    local out = {}
    for i, t in ipairs(ts) do out[i] = atleast(fname, n, t) end
    return unpack(out, 1, #ts)
  end
end

local atleast_1d, atleast_2d, atleast_3d = atleast_fn("atleast_1d", 1), atleast_fn("atleast_2d", 2),
                                           atleast_fn("atleast_3d", 3)

-- ------------------------------------------------------------- stacking

local function stack_list(fname, ...)
  local ts = tensor_list(fname, ...)
  if #ts == 0 then fail("%s: expected a non-empty list of tensors", fname) end
  return ts
end

local function hstack(...)
  local ts = stack_list("hstack", ...)
  for i, t in ipairs(ts) do ts[i] = atleast(nil, 1, t) end
  return ember.cat(ts, ts[1]:dim() == 1 and 1 or 2)
end

local function vstack(...)
  local ts = stack_list("vstack", ...)
  for i, t in ipairs(ts) do ts[i] = atleast(nil, 2, t) end
  return ember.cat(ts, 1)
end

local function dstack(...)
  local ts = stack_list("dstack", ...)
  for i, t in ipairs(ts) do ts[i] = atleast(nil, 3, t) end
  return ember.cat(ts, 3)
end

local function column_stack(...)
  local ts = stack_list("column_stack", ...)
  for i, t in ipairs(ts) do
    if t:dim() <= 1 then ts[i] = t:reshape(t:numel(), 1) end
  end
  return ember.cat(ts, 2)
end

-- --------------------------------------------------------- grids, products

-- splits a trailing options table ({indexing=...}) off a tensor list
local function grid_args(fname, ...)
  local args = {...}
  local opts = {}
  local last = args[#args]
  if #args > 0 and type(last) == "table" and not is_tensor(last) and (#last == 0 or last.indexing) then
    opts = last
    args[#args] = nil
  end
  local ts = tensor_list(fname, unpack(args))
  return ts, opts
end

local function meshgrid(...)
  local ts, opts = grid_args("meshgrid", ...)
  if #ts == 0 then fail("meshgrid: expected at least one tensor") end
  local indexing = opts.indexing or "ij"
  if indexing ~= "ij" and indexing ~= "xy" then
    fail("meshgrid: indexing must be \"ij\" or \"xy\" (got %s)", tostring(indexing))
  end
  local sizes = {}
  for i, t in ipairs(ts) do
    if t:dim() > 1 then
      fail("meshgrid: expected 0-D or 1-D tensors (tensor %d has shape %s)", i, shape_str(t.shape))
    end
    sizes[i] = t:numel()
  end
  -- "xy": the first two inputs vary along dims 2 and 1 (Cartesian x/y)
  local pos = {}
  for i = 1, #ts do pos[i] = i end
  if indexing == "xy" and #ts >= 2 then pos[1], pos[2] = 2, 1 end
  local shape = {}
  for i = 1, #ts do shape[pos[i]] = sizes[i] end
  local out = {}
  for i, t in ipairs(ts) do
    local v = {}
    for j = 1, #ts do v[j] = 1 end
    v[pos[i]] = sizes[i]
    out[i] = t:reshape(v):expand(shape)
  end
  return unpack(out, 1, #ts)
end

local function cartesian_prod(...)
  local ts = tensor_list("cartesian_prod", ...)
  if #ts == 0 then fail("cartesian_prod: expected at least one tensor") end
  for i, t in ipairs(ts) do
    if t:dim() ~= 1 then
      fail("cartesian_prod: expected 1-D tensors (tensor %d has shape %s)", i, shape_str(t.shape))
    end
  end
  if #ts == 1 then return ts[1] end
  local grids = {meshgrid(ts)}
  for i, g in ipairs(grids) do grids[i] = g:reshape(g:numel()) end
  return ember.stack(grids, 2)
end

local function block_diag(...)
  local ts = tensor_list("block_diag", ...)
  local blocks, cols = {}, 0
  local dtype
  for i, t in ipairs(ts) do
    if t:dim() > 2 then
      fail("block_diag: expected tensors with at most 2 dims (tensor %d has shape %s)", i, shape_str(t.shape))
    end
    local b = t:dim() == 2 and t or t:reshape(1, t:numel())
    blocks[i] = b
    cols = cols + b:size(2)
    -- the promoted dtype, as the core's binary ops compute it (two empty
    -- tensors: no data touched)
    dtype = dtype and (ember.zeros({0}, {dtype = dtype}) + ember.zeros({0}, {dtype = b.dtype})).dtype or b.dtype
  end
  if #blocks == 0 then return ember.zeros(1, 0) end
  local rows, left = {}, 0
  for i, b in ipairs(blocks) do
    local r, c = b:size(1), b:size(2)
    local parts = {}
    if left > 0 then parts[#parts + 1] = ember.zeros({r, left}, {dtype = dtype}) end
    parts[#parts + 1] = b.dtype == dtype and b or b:to(dtype)
    local right = cols - left - c
    if right > 0 then parts[#parts + 1] = ember.zeros({r, right}, {dtype = dtype}) end
    rows[i] = #parts == 1 and parts[1] or ember.cat(parts, 2)
    left = left + c
  end
  return #rows == 1 and rows[1]:clone() or ember.cat(rows, 1)
end

local function kron(a, b)
  check_tensor("kron", a, "a")
  check_tensor("kron", b, "b")
  local sa, sb = a.shape, b.shape
  local n = math.max(#sa, #sb)
  while #sa < n do table.insert(sa, 1, 1) end
  while #sb < n do table.insert(sb, 1, 1) end
  -- a as (a1, 1, a2, 1, ..) times b as (1, b1, 1, b2, ..) is the block
  -- product (a1, b1, a2, b2, ..); merged pairwise it is kron.  Dims where a
  -- side has size 1 need no pair of their own.
  local va, vb, out = {}, {}, {}
  for i = 1, n do
    out[i] = sa[i] * sb[i]
    if sa[i] ~= 1 and sb[i] ~= 1 then
      va[#va + 1], vb[#vb + 1] = sa[i], 1
      va[#va + 1], vb[#vb + 1] = 1, sb[i]
    else
      va[#va + 1], vb[#vb + 1] = sa[i], sb[i]
    end
  end
  if #va > MAX_DIMS then
    fail("kron: shapes %s and %s need %d dims for the block product (at most %d)",
         shape_str(a.shape), shape_str(b.shape), #va, MAX_DIMS)
  end
  return (a:reshape(va) * b:reshape(vb)):reshape(out)
end

-- ------------------------------------------------------- splitting, indices

local function tensor_split(x, ios, dim)
  check_tensor("tensor_split", x)
  if x:dim() == 0 then fail("tensor_split: expected a tensor with at least 1 dim (got a 0-dim tensor)") end
  local d = wrap_dim("tensor_split", dim or 1, x:dim())
  local n = x:size(d)
  local bounds = {}   -- 0-based piece starts, then n
  if is_tensor(ios) then
    if ios.dtype ~= "int64" and ios.dtype ~= "int32" then
      fail("tensor_split: an indices_or_sections tensor must be int64 (got %s)", ios.dtype)
    end
    if ios:dim() > 1 then fail("tensor_split: indices must be 0-D or 1-D (got shape %s)", shape_str(ios.shape)) end
    ios = ios:dim() == 0 and ios:item() or ios:totable()
  end
  if type(ios) == "number" then
    local k = int_arg("tensor_split", ios, "sections")
    if k <= 0 then fail("tensor_split: sections must be a positive integer (got %d)", k) end
    -- the first n % k pieces get one extra element (numpy.array_split)
    local q, r = n // k, n % k
    local at = 0
    for i = 1, k do
      bounds[i] = at
      at = at + q + (i <= r and 1 or 0)
    end
  elseif type(ios) == "table" then
    bounds[1] = 0
    for i, v in ipairs(ios) do
      -- index v (1-based; negative counts from the end) starts a new piece;
      -- out-of-range indices clamp, as Python slice bounds do in torch
      local iv = int_arg("tensor_split", v, "index " .. i)
      if iv == 0 then fail("tensor_split: index 0 is invalid (indices are 1-based)") end
      local b0 = iv > 0 and iv - 1 or n + iv
      bounds[i + 1] = math.max(0, math.min(n, b0))
    end
  else
    fail("tensor_split: expected a number of sections or a table of 1-based split indices (got %s)", type(ios))
  end
  bounds[#bounds + 1] = n
  local out = {}
  for i = 1, #bounds - 1 do
    local start = bounds[i]
    local len = math.max(0, bounds[i + 1] - start)
    out[i] = x:narrow(d, start + 1, len)
  end
  return out
end

-- hsplit / vsplit / dsplit: tensor_split along dim 2 (dim 1 for 1-D), 1 or
-- 3; a number of sections must divide the dim, as numpy's (and torch's) do
local function split_along(fname, x, ios, d, min_dims)
  check_tensor(fname, x)
  if x:dim() < min_dims then
    fail("%s: expected a tensor with at least %d dim%s (got %d)", fname, min_dims, min_dims == 1 and "" or "s", x:dim())
  end
  if type(ios) == "number" then
    local k = int_arg(fname, ios, "sections")
    if k <= 0 then fail("%s: sections must be a positive integer (got %d)", fname, k) end
    if x:size(d) % k ~= 0 then
      fail("%s: dim %d of size %d does not split into %d equal sections", fname, d, x:size(d), k)
    end
  elseif type(ios) ~= "table" then
    fail("%s: expected a number of sections or a table of 1-based split indices (got %s)", fname, type(ios))
  end
  return tensor_split(x, ios, d)
end

local function hsplit(x, ios)
  return split_along("hsplit", x, ios, is_tensor(x) and x:dim() == 1 and 1 or 2, 1)
end
local function vsplit(x, ios) return split_along("vsplit", x, ios, 1, 2) end
local function dsplit(x, ios) return split_along("dsplit", x, ios, 3, 3) end

local function ravel(x)
  check_tensor("ravel", x)
  return x:reshape(x:numel())
end

local function tri_indices(fname, lower, row, col, offset, opts)
  if type(offset) == "table" and opts == nil then offset, opts = nil, offset end
  row = int_arg(fname, row, "row")
  col = int_arg(fname, col, "col")
  offset = int_arg(fname, offset, "offset", 0)
  if row < 0 then fail("%s: row must be non-negative (got %d)", fname, row) end
  if col < 0 then fail("%s: col must be non-negative (got %d)", fname, col) end
  local dtype = opts and opts.dtype or "int64"
  if dtype ~= "int64" and dtype ~= "int32" then
    fail("%s: dtype must be \"int64\" or \"int32\" (got %s)", fname, tostring(dtype))
  end
  local r = ember.arange(row):view(row, 1):expand(row, col)
  local c = ember.arange(col):view(1, col):expand(row, col)
  local diff = c - r
  local mask = lower and diff:le(offset) or diff:ge(offset)
  local rows, cols = r:masked_select(mask) + 1, c:masked_select(mask) + 1
  return ember.stack({rows, cols}, 1):to(dtype)
end

local function tril_indices(row, col, offset, opts) return tri_indices("tril_indices", true, row, col, offset, opts) end
local function triu_indices(row, col, offset, opts) return tri_indices("triu_indices", false, row, col, offset, opts) end

-- ------------------------------------------------------------ new_* ops

local function new_opts(x, opts)
  local o = {dtype = x.dtype}
  if opts then
    for k, v in pairs(opts) do o[k] = v end
  end
  return o
end

local function new_zeros(x, ...)
  check_tensor("new_zeros", x)
  local shape, opts = sizes_arg("new_zeros", ...)
  return ember.zeros(shape, new_opts(x, opts))
end

local function new_ones(x, ...)
  check_tensor("new_ones", x)
  local shape, opts = sizes_arg("new_ones", ...)
  return ember.ones(shape, new_opts(x, opts))
end

local function new_empty(x, ...)
  check_tensor("new_empty", x)
  local shape, opts = sizes_arg("new_empty", ...)
  return ember.empty(shape, new_opts(x, opts))
end

local function new_full(x, size, value, opts)
  check_tensor("new_full", x)
  if type(size) ~= "table" or is_tensor(size) then
    fail("new_full: size must be a table of sizes (got %s)", type(size))
  end
  if type(value) ~= "number" and type(value) ~= "boolean" then
    fail("new_full: fill value must be a number (got %s)", type(value))
  end
  local shape = sizes_arg("new_full", size)
  return ember.full(shape, value, new_opts(x, opts))
end

local function new_tensor(x, data, opts)
  check_tensor("new_tensor", x)
  local o = new_opts(x, opts)
  local t
  if is_tensor(data) then
    t = data:detach():to(o.dtype):clone()
  else
    t = ember.tensor(data, o.dtype)
  end
  if o.requires_grad then t:requires_grad_() end
  return t
end

-- ------------------------------------------------------------ registering

-- An error inside fn, from fail() or from a C op it calls ("expand: shape
-- ... is too large"), re-raised with fn's name in front and the position
-- of the user's call rather than a line of this file.
local function rethrow(name, ok, ...)
  if ok then return ... end
  local msg = ...
  if type(msg) ~= "string" then error(msg, 0) end
  msg = msg:gsub("^[^\n]-ember/tensor_%a+%.lua:%d+: ", "")
  if msg:sub(1, #name + 1) ~= name .. ":" then msg = name .. ": " .. msg end
  error(msg, 2)   -- rethrow runs as wrapped's tail call: level 2 is wrapped's caller
end

local function install(name, fn, doc, method)
  local function wrapped(...) return rethrow(name, pcall(fn, ...)) end
  ember[name] = wrapped
  if method then ember.Tensor[name] = wrapped end
  ember.doc(wrapped, doc)
  M[name] = wrapped
end

install("flip", flip, [=[t:flip(dims): a copy with the order of elements reversed along each of dims.

dims: one dim or a list (x:flip(1), x:flip{1, 2}, x:flip(1, 2)); 1-based,
negative counts from the end.  As torch.flip, the result is a copy.]=], true)
install("fliplr", fliplr, [=[t:fliplr(): flips dim 2 (left/right); needs at least 2 dims.]=], true)
install("flipud", flipud, [=[t:flipud(): flips dim 1 (up/down); needs at least 1 dim.]=], true)
install("roll", roll, [=[t:roll(shifts [, dims]): rolls elements along dims; those pushed past the end come back at the start.

shifts and dims are numbers or lists of the same length (x:roll({1, -2}, {1, 2})).
Without dims the tensor is rolled as if flattened, then restored to its shape.]=], true)
install("rot90", rot90, [=[t:rot90([k [, dims]]): rotates by 90 degrees k times (default 1) in the plane of dims (default {1, 2}).

The rotation goes from the first towards the second dim, as torch.rot90;
negative k rotates the other way.]=], true)
install("tile", tile, [=[t:tile(reps...): the tensor repeated reps[i] times along dim i (a copy).

reps as numbers or one table: x:tile(2, 3) or x:tile{2, 3}.  With fewer reps
than dims the leading dims are repeated once; with more, new leading dims
are added.  This is also torch's Tensor.repeat: `repeat` is a Lua keyword, so
x:repeat(2, 1) cannot be written; x:tile(2, 1) is the same call (and
x["repeat"](x, 2, 1) the strict spelling, which wants at least one rep per dim).]=], true)
install("repeat", repeat_, [=[t["repeat"](t, reps...): torch's Tensor.repeat (needs at least one rep per dim); prefer t:tile(reps...).

`repeat` is a Lua keyword, so the method cannot be called as x:repeat(...);
x:tile(...) does the same with the leading reps optional.]=], true)
install("repeat_interleave", repeat_interleave, [=[t:repeat_interleave(repeats [, dim]): repeats each element (each slice along dim) in place: {1, 2} -> {1, 1, 2, 2}.

repeats: a number, or a 1-D integer tensor with one count per slice.
Without dim the input is flattened first.  ember.repeat_interleave(counts)
alone gives the 1-based indices 1..n with index i repeated counts[i] times.]=], true)
install("diagonal", diagonal, [=[t:diagonal([offset [, dim1, dim2]]): the diagonal of the (dim1, dim2) planes (default 1 and 2) as a new last dim.

offset > 0 is above the main diagonal, < 0 below.  A view (writes go through,
as torch's) when the two dims can be merged into one, which holds for a
contiguous or transposed input; otherwise a copy.]=], true)
install("diag_embed", diag_embed, [=[t:diag_embed([offset [, dim1, dim2]]): builds matrices whose (dim1, dim2) diagonals are the last dim of t (defaults -2, -1).

The result has one more dim than t; dim1 and dim2 refer to the result.]=], true)
install("diag", diag, [=[t:diag([k]): a 1-D tensor -> the square matrix with it on diagonal k; a 2-D tensor -> its diagonal k (a copy).]=], true)
install("trace", trace, [=[t:trace(): the sum of the main diagonal of a 2-D tensor (a 0-dim tensor).]=], true)
install("unbind", unbind, [=[t:unbind([dim]): a Lua list of the slices along dim (default 1), each a view with that dim removed.]=], true)
install("movedim", movedim, [=[t:movedim(source, destination): a view with dims source moved to positions destination (numbers or lists); the others keep their order.]=], true)
install("moveaxis", movedim, [=[t:moveaxis(source, destination): the same as t:movedim (numpy's name).]=], true)
install("swapaxes", swapaxes, [=[t:swapaxes(dim0, dim1): a view with the two dims exchanged (torch.swapaxes / swapdims, the same as transpose).]=], true)
install("swapdims", swapaxes, [=[t:swapdims(dim0, dim1): the same as t:swapaxes and t:transpose.]=], true)
install("broadcast_to", broadcast_to, [=[t:broadcast_to(shape): a broadcast view of t with the given shape (a table or numbers; -1 keeps a dim).]=], true)
install("broadcast_shapes", broadcast_shapes, [=[ember.broadcast_shapes(shape, ...): the shape (a table) that tensors of the given shapes broadcast to.]=])
install("broadcast_tensors", broadcast_tensors, [=[ember.broadcast_tensors(a, b, ...): the tensors expanded to their common broadcast shape (views), as several results.

local x2, y2 = ember.broadcast_tensors(x, y); a single list argument is accepted too.]=])
install("unflatten", unflatten, [=[t:unflatten(dim, sizes): a view with dim split into the dims sizes (a table; one may be -1).]=], true)
install("view_as", view_as, [=[t:view_as(other): t:view(other.shape).]=], true)
install("reshape_as", reshape_as, [=[t:reshape_as(other): t:reshape(other.shape).]=], true)
install("atleast_1d", atleast_1d, [=[ember.atleast_1d(t, ...): each tensor with at least 1 dim (a 0-dim tensor becomes shape {1}); a list in, a list out.]=])
install("atleast_2d", atleast_2d, [=[ember.atleast_2d(t, ...): each tensor with at least 2 dims (0-dim -> {1, 1}, {n} -> {1, n}); a list in, a list out.]=])
install("atleast_3d", atleast_3d, [=[ember.atleast_3d(t, ...): each tensor with at least 3 dims (0-dim -> {1, 1, 1}, {n} -> {1, n, 1}, {m, n} -> {m, n, 1}); a list in, a list out.]=])
install("hstack", hstack, [=[ember.hstack(list): concatenates along dim 2 (dim 1 for 1-D tensors), as numpy.hstack.]=])
install("vstack", vstack, [=[ember.vstack(list): concatenates along dim 1 after making each tensor at least 2-D (1-D tensors become rows).]=])
install("row_stack", vstack, [=[ember.row_stack(list): the same as ember.vstack.]=])
install("dstack", dstack, [=[ember.dstack(list): concatenates along dim 3 after making each tensor at least 3-D.]=])
install("column_stack", column_stack, [=[ember.column_stack(list): 0-D and 1-D tensors become columns {n, 1}; everything is concatenated along dim 2.]=])
install("meshgrid", meshgrid, [=[ember.meshgrid(x, y, ... [, {indexing="ij"|"xy"}]): coordinate grids from 1-D tensors, as several results (views).

local X, Y = ember.meshgrid(x, y): with "ij" (the default) X and Y have shape
{#x, #y}; with "xy" (Cartesian, as numpy's default) shape {#y, #x}.]=])
install("cartesian_prod", cartesian_prod, [=[ember.cartesian_prod(a, b, ...): the Cartesian product of 1-D tensors as rows of an {n, k} tensor (itertools.product order).]=])
install("block_diag", block_diag, [=[ember.block_diag(a, b, ...): a block-diagonal matrix from 0-D, 1-D (one row) and 2-D tensors.]=])
install("kron", kron, [=[t:kron(other): the Kronecker product; shapes are aligned on the right, the result has size a_i * b_i in each dim.]=], true)
install("tensor_split", tensor_split, [=[t:tensor_split(sections or indices [, dim]): a Lua list of views along dim (default 1).

A number n gives n pieces as equal as possible (the first size % n one
longer).  A table (or int64 tensor) of 1-based indices starts a new piece
at each index: x:tensor_split({2, 5}) gives x[1], x[2..4], x[5..] (torch's
[1, 4]); negative indices count from the end, out-of-range ones clamp.]=], true)
install("hsplit", hsplit, [=[t:hsplit(sections or indices): t:tensor_split along dim 2 (dim 1 for a 1-D tensor); a number must divide the dim.]=], true)
install("vsplit", vsplit, [=[t:vsplit(sections or indices): t:tensor_split along dim 1 of a tensor with at least 2 dims; a number must divide the dim.]=], true)
install("dsplit", dsplit, [=[t:dsplit(sections or indices): t:tensor_split along dim 3 of a tensor with at least 3 dims; a number must divide the dim.]=], true)
install("ravel", ravel, [=[t:ravel(): the elements as a 1-D tensor (a view when the layout allows, else a copy).]=], true)
install("tril_indices", tril_indices, [=[ember.tril_indices(row, col [, offset] [, {dtype=}]): the 1-based (row, column) indices of the lower triangle of a row x col matrix, as a {2, n} int64 tensor (row-major order).

offset moves the diagonal up (> 0) or down (< 0), as in tril.]=])
install("triu_indices", triu_indices, [=[ember.triu_indices(row, col [, offset] [, {dtype=}]): the 1-based (row, column) indices of the upper triangle of a row x col matrix, as a {2, n} int64 tensor (row-major order).]=])
install("new_zeros", new_zeros, [=[t:new_zeros(size... [, opts]): zeros with t's dtype (opts: {dtype=, requires_grad=} override).]=], true)
install("new_ones", new_ones, [=[t:new_ones(size... [, opts]): ones with t's dtype.]=], true)
install("new_empty", new_empty, [=[t:new_empty(size... [, opts]): an uninitialised tensor with t's dtype.]=], true)
install("new_full", new_full, [=[t:new_full(size, value [, opts]): a tensor of shape size (a table) filled with value, with t's dtype.]=], true)
install("new_tensor", new_tensor, [=[t:new_tensor(data [, opts]): ember.tensor(data) with t's dtype (a tensor argument is copied and detached).]=], true)

-- the shared helpers, for tensor_einsum.lua
M._fail, M._wrap_dim, M._check_tensor, M._shape_str, M._int_arg = fail, wrap_dim, check_tensor, shape_str, int_arg
M._list_arg, M._tensor_list, M._install, M._concat = list_arg, tensor_list, install, concat_lists
M._diagonal = diagonal   -- unwrapped, for einsum's plans
require("ember.tensor_einsum")(M)

return M
