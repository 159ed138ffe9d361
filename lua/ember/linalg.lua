-- ember.linalg (Lua part): the functions of torch.linalg that are
-- compositions of the LAPACK-based ones of vm/linalg_bind.c (inv, det,
-- solve, svd, qr, eigh, ...) and of ordinary tensor ops, so their gradients
-- come from the pieces and need no rule of their own: norms, cond, rank,
-- pinv, lstsq, matrix_power, matrix_exp, cross, vecdot, multi_dot.  Also the
-- top-level aliases torch has for them (ember.matrix_power, x:pinverse(),
-- ember.cross, x:logdet(), ...).  Dims are 1-based, negative from the end.
local ember = require("ember")
local L = ember.linalg
local T = ember.Tensor
local doc = ember.doc

local INF = math.huge

local function fail(op, fmt, ...)
  error("linalg." .. op .. ": " .. string.format(fmt, ...), 3)
end

local function shape_str(t)
  return "[" .. table.concat(t.shape, ", ") .. "]"
end

local function check_tensor(op, x, what)
  if not ember.is_tensor(x) then
    fail(op, "%s must be a tensor, got %s", what or "the input", type(x))
  end
end

local function check_float(op, x)
  check_tensor(op, x)
  if x.dtype ~= "float32" and x.dtype ~= "float64" then
    fail(op, "expected a float32 or float64 tensor, got %s (convert with :float() or :double())", x.dtype)
  end
end

local function check_matrix(op, x, square)
  check_float(op, x)
  if x:dim() < 2 then fail(op, "expected a tensor of at least 2 dims (..., rows, cols), got shape %s", shape_str(x)) end
  if square and x.shape[x:dim()] ~= x.shape[x:dim() - 1] then
    fail(op, "expected square matrices in the last two dims, got shape %s", shape_str(x))
  end
end

-- a 1-based dim (negative from the end) as a positive 1-based dim
local function wrap(op, d, nd)
  if math.type(d) ~= "integer" then fail(op, "dim must be an integer, got %s", tostring(d)) end
  local n = nd > 0 and nd or 1
  if d == 0 or d > n or d < -n then
    fail(op, "dim %d is out of range for a tensor with %d dims (dims are 1-based)", d, nd)
  end
  return d < 0 and d + n + 1 or d
end

-- "inf", "-inf", math.huge or a number
local function ord_value(o)
  if o == "inf" then return INF end
  if o == "-inf" then return -INF end
  return o
end

-- machine epsilon of a float dtype (the default tolerances of rank and pinv)
local function eps(dtype)
  return dtype == "float64" and 2.220446049250313e-16 or 1.1920928955078125e-07
end

-- ---------- norms ----------

-- the dims of a reduction as a sorted list of positive dims (nil: all)
local function dim_list(op, x, dim)
  local nd = x:dim()
  if dim == nil then
    local all = {}
    for i = 1, nd do all[i] = i end
    return all
  end
  if type(dim) ~= "table" then dim = {dim} end
  local out, seen = {}, {}
  for i, d in ipairs(dim) do
    local w = wrap(op, d, nd)
    if seen[w] then fail(op, "dim %d appears twice", d) end
    seen[w] = true
    out[i] = w
  end
  table.sort(out)
  return out
end

function L.vector_norm(x, ord, dim, keepdim)
  check_float("vector_norm", x)
  ord = ord_value(ord == nil and 2 or ord)
  if type(ord) ~= "number" then fail("vector_norm", "ord must be a number or 'inf'/'-inf', got %s", tostring(ord)) end
  local dims = dim_list("vector_norm", x, dim)
  if x:dim() == 0 then dims = {} end
  local a = x:abs()
  local r
  if ord == INF then
    r = #dims > 0 and a:amax(dims, keepdim) or a
  elseif ord == -INF then
    r = #dims > 0 and a:amin(dims, keepdim) or a
  elseif ord == 0 then
    r = #dims > 0 and a:ne(0):to(x.dtype):sum(dims, keepdim) or a:ne(0):to(x.dtype)
  elseif ord > 0 then
    if #dims == 1 then
      r = x:norm(ord, dims[1], keepdim)
    elseif #dims == x:dim() and not keepdim then
      r = x:norm(ord)
    else
      r = a:pow(ord):sum(dims, keepdim):pow(1 / ord)
    end
  else
    r = #dims > 0 and a:pow(ord):sum(dims, keepdim):pow(1 / ord) or a
  end
  return r
end
doc(L.vector_norm, "ember.linalg.vector_norm(x [, ord=2 [, dim [, keepdim]]]): the ord-norm of x over dim (a dim, a {dims} table, or all); ord any number, 'inf' or '-inf' (math.huge works too), 0 counts nonzeros.")

-- moves dims r and c (positive) to the end; returns the moved tensor
local function to_last_two(x, r, c)
  local nd, perm = x:dim(), {}
  for i = 1, nd do
    if i ~= r and i ~= c then perm[#perm + 1] = i end
  end
  perm[#perm + 1] = r
  perm[#perm + 1] = c
  return x:permute(perm)
end

local function restore_two(v, r, c, keepdim)
  if not keepdim then return v end
  -- v has the other dims in order; put size-1 dims back at r and c
  local lo, hi = math.min(r, c), math.max(r, c)
  return v:unsqueeze(lo):unsqueeze(hi)
end

function L.matrix_norm(A, ord, dim, keepdim)
  check_float("matrix_norm", A)
  ord = ord_value(ord == nil and "fro" or ord)
  if A:dim() < 2 then fail("matrix_norm", "expected a tensor of at least 2 dims, got shape %s", shape_str(A)) end
  dim = dim or {-2, -1}
  if type(dim) ~= "table" or #dim ~= 2 then fail("matrix_norm", "dim must be a table of 2 dims") end
  local r, c = wrap("matrix_norm", dim[1], A:dim()), wrap("matrix_norm", dim[2], A:dim())
  if r == c then fail("matrix_norm", "dims must be different, got %d and %d", dim[1], dim[2]) end
  if ord == "fro" then return L.vector_norm(A, 2, {r, c}, keepdim) end
  if ord == "nuc" or ord == 2 or ord == -2 then
    local s = L.svdvals(to_last_two(A, r, c))
    local v = ord == "nuc" and s:sum(-1) or ord == 2 and s:amax(-1) or s:amin(-1)
    return restore_two(v, r, c, keepdim)
  end
  local a = A:abs()
  if ord == 1 or ord == -1 then   -- max/min column sum
    local cs = a:sum(r, true)
    local v = ord == 1 and cs:amax(c, true) or cs:amin(c, true)
    return keepdim and v or v:squeeze(math.max(r, c)):squeeze(math.min(r, c))
  end
  if ord == INF or ord == -INF then   -- max/min row sum
    local rs = a:sum(c, true)
    local v = ord == INF and rs:amax(r, true) or rs:amin(r, true)
    return keepdim and v or v:squeeze(math.max(r, c)):squeeze(math.min(r, c))
  end
  fail("matrix_norm", "ord must be 'fro', 'nuc', 2, -2, 1, -1, 'inf' or '-inf', got %s", tostring(ord))
end
doc(L.matrix_norm, "ember.linalg.matrix_norm(A [, ord='fro' [, dim={-2, -1} [, keepdim]]]): a matrix norm over two dims: 'fro', 'nuc', 2 / -2 (largest / smallest singular value), 1 / -1 (max / min column abs sum), 'inf' / '-inf' (rows).")

function L.norm(x, ord, dim, keepdim)
  check_float("norm", x)
  if type(dim) == "table" and #dim == 2 then return L.matrix_norm(x, ord, dim, keepdim) end
  if dim ~= nil then return L.vector_norm(x, ord, dim, keepdim) end
  if ord == nil then return L.vector_norm(x, 2, nil, keepdim) end
  if x:dim() == 2 then return L.matrix_norm(x, ord, {1, 2}, keepdim) end
  if x:dim() == 1 then return L.vector_norm(x, ord, nil, keepdim) end
  fail("norm", "with ord and no dim the input must be 1-D or 2-D, got shape %s", shape_str(x))
end
doc(L.norm, "ember.linalg.norm(x [, ord [, dim [, keepdim]]]): a vector norm (dim a number, or x 1-D) or a matrix norm (dim two dims, or x 2-D with ord); no ord: the 2-norm of all elements.")

function L.cond(A, p)
  check_matrix("cond", A, p ~= nil and p ~= 2 and p ~= -2)
  p = ord_value(p)
  if p == nil or p == 2 or p == -2 then
    local s = L.svdvals(A)
    local hi, lo = s:amax(-1), s:amin(-1)
    return p == -2 and lo / hi or hi / lo
  end
  return L.matrix_norm(A, p) * L.matrix_norm(L.inv(A), p)
end
doc(L.cond, "ember.linalg.cond(A [, p=2]): the condition number ||A|| ||A^-1|| in matrix norm p (2 and -2 from the singular values; 'fro', 'nuc', 1, -1, 'inf', '-inf' need square A).")

-- ---------- rank, pseudo-inverse, least squares ----------

-- atol / rtol from a number or an options table; as in torch, a bare number
-- is matrix_rank's absolute tol but pinv's relative rcond
local function tolerances(op, A, opts, number_is_rtol)
  local atol, rtol, herm = nil, nil, false
  if type(opts) == "number" then
    if number_is_rtol then rtol = opts else atol = opts end
  elseif type(opts) == "table" then
    atol, rtol, herm = opts.atol, opts.rtol, opts.hermitian or false
  elseif opts ~= nil then
    fail(op, "expected a tolerance or an options table {atol=, rtol=, hermitian=}, got %s", type(opts))
  end
  if rtol == nil then
    rtol = (atol == nil or atol <= 0) and eps(A.dtype) * math.max(A.shape[A:dim()], A.shape[A:dim() - 1]) or 0
  end
  return atol or 0, rtol, herm
end

-- the singular values (or |eigenvalues| of symmetric A) and the cutoff per matrix (..., 1)
local function spectrum_cutoff(op, A, opts)
  local atol, rtol, herm = tolerances(op, A, opts)
  local s = herm and L.eigvalsh(A):abs() or L.svdvals(A)
  local cut = (s:amax(-1, true) * rtol):clamp(atol, nil)
  return s, cut
end

-- the batch shape of A (..., m, n) with the given trailing sizes appended
local function batch_shape(A, ...)
  local sh = {}
  for k = 1, A:dim() - 2 do sh[k] = A.shape[k] end
  for _, v in ipairs({...}) do sh[#sh + 1] = v end
  return sh
end

-- true when A's matrices are empty (no singular values: rank 0, pinv 0)
local function empty_matrices(A)
  return A.shape[A:dim()] == 0 or A.shape[A:dim() - 1] == 0
end

function L.matrix_rank(A, opts)
  check_matrix("matrix_rank", A)
  if empty_matrices(A) then return ember.zeros(batch_shape(A), {dtype = "int64"}) end
  local s, cut = ember.no_grad(spectrum_cutoff, "matrix_rank", A, opts)
  return s:gt(cut):sum(-1)
end
doc(L.matrix_rank, "ember.linalg.matrix_rank(A [, tol or {atol=, rtol=, hermitian=}]): the number of singular values above max(atol, rtol * largest) (default rtol = eps * max(rows, cols)), as int64.")

function L.pinv(A, opts)
  check_matrix("pinv", A)
  local atol, rtol, herm = tolerances("pinv", A, opts, true)
  if empty_matrices(A) then
    return ember.zeros(batch_shape(A, A.shape[A:dim()], A.shape[A:dim() - 1]), {dtype = A.dtype}) + A:sum() * 0
  end
  if herm then
    local w, V = L.eigh(A)
    local cut = ember.no_grad(function() return (w:abs():amax(-1, true) * rtol):clamp(atol, nil) end)
    local keep = w:abs():gt(cut)
    local winv = ember.where(keep, ember.where(keep, w, 1):reciprocal(), 0)
    return (V * winv:unsqueeze(-2)):matmul(V:transpose(-2, -1))
  end
  local U, S, Vh = L.svd(A, false)
  local cut = ember.no_grad(function() return (S:amax(-1, true) * rtol):clamp(atol, nil) end)
  local keep = S:gt(cut)
  -- 1/S where kept, 0 elsewhere; the inner where keeps 1/0 (and its gradient) out
  local sinv = ember.where(keep, ember.where(keep, S, 1):reciprocal(), 0)
  return (Vh:transpose(-2, -1) * sinv:unsqueeze(-2)):matmul(U:transpose(-2, -1))
end
doc(L.pinv, "ember.linalg.pinv(A [, rcond or {atol=, rtol=, hermitian=}]): the Moore-Penrose pseudo-inverse (n, m) of A (..., m, n) from its SVD, singular values below the cutoff treated as 0 (as matrix_rank).")

function L.lstsq(A, B, opts)
  check_matrix("lstsq", A)
  check_float("lstsq", B)
  local rcond = type(opts) == "table" and opts.rcond or (type(opts) == "number" and opts) or nil
  local m = A.shape[A:dim() - 1]
  local vec = B:dim() == 1
  local Bm = vec and B:unsqueeze(-1) or B
  if Bm.shape[Bm:dim() - 1] ~= m then
    fail("lstsq", "A of shape %s and B of shape %s do not match (B needs %d rows)", shape_str(A), shape_str(B), m)
  end
  local X = L.pinv(A, rcond and {rtol = rcond} or nil):matmul(Bm)
  return vec and X:squeeze(-1) or X
end
doc(L.lstsq, "ember.linalg.lstsq(A, B [, {rcond=}]) -> X: the minimum-norm least-squares solution of A X = B (as torch's gelsd driver), from the pseudo-inverse; B (..., m, k) or a vector (m).")

-- ---------- powers and exponential ----------

local function eye_like(A)
  local n = A.shape[A:dim()]
  local I = ember.eye(n, {dtype = A.dtype})
  return A:dim() > 2 and I:expand(table.unpack(A.shape)):contiguous() or I
end

function L.matrix_power(A, n)
  check_tensor("matrix_power", A)
  if math.type(n) ~= "integer" or n == math.mininteger then
    fail("matrix_power", "n must be an integer, got %s", tostring(n))
  end
  if A:dim() < 2 or A.shape[A:dim()] ~= A.shape[A:dim() - 1] then
    fail("matrix_power", "expected square matrices in the last two dims, got shape %s", shape_str(A))
  end
  if n == 0 then return eye_like(A):to(A.dtype) end
  if n < 0 then
    A = L.inv(A)
    n = -n
  end
  -- binary powering: the first set bit's power is the start, no identity product
  local result, base = nil, A
  while n > 0 do
    if n % 2 == 1 then result = result and result:matmul(base) or base end
    n = n // 2
    if n > 0 then base = base:matmul(base) end
  end
  return result
end
doc(L.matrix_power, "ember.linalg.matrix_power(A, n): A multiplied by itself n times (n >= 0, identity for 0; negative n uses inv(A)).")

-- Pade coefficients of degree 13 (Higham 2005, "The scaling and squaring method for the matrix exponential revisited")
local PADE13 = {64764752532480000, 32382376266240000, 7771770303897600, 1187353796428800, 129060195264000,
                10559470521600, 670442572800, 33522128640, 1323241920, 40840800, 960960, 16380, 182, 1}
local THETA13 = 5.371920351148152

function L.matrix_exp(A)
  check_matrix("matrix_exp", A, true)
  local b = PADE13
  if A:numel() == 0 then return A:clone() end
  local norm1 = ember.no_grad(function() return A:abs():sum(-2):amax():item() end)
  if norm1 ~= norm1 or norm1 == INF then fail("matrix_exp", "the input contains NaN or inf") end
  local s = norm1 > THETA13 and math.ceil(math.log(norm1 / THETA13, 2)) or 0
  local X = s > 0 and A / 2 ^ s or A
  local I = eye_like(A)
  local X2 = X:matmul(X)
  local X4 = X2:matmul(X2)
  local X6 = X4:matmul(X2)
  local U = X:matmul(X6:matmul(X6 * b[14] + X4 * b[12] + X2 * b[10]) + X6 * b[8] + X4 * b[6] + X2 * b[4] + I * b[2])
  local V = X6:matmul(X6 * b[13] + X4 * b[11] + X2 * b[9]) + X6 * b[7] + X4 * b[5] + X2 * b[3] + I * b[1]
  local R = L.solve(V - U, V + U)
  for _ = 1, s do R = R:matmul(R) end
  return R
end
doc(L.matrix_exp, "ember.linalg.matrix_exp(A): the matrix exponential of square A (..., n, n) by scaling and squaring with a degree-13 Pade approximant (differentiable through its pieces).")

-- ---------- products ----------

local function broadcast_shape(op, a, b)
  local na, nb = a:dim(), b:dim()
  local n, out = math.max(na, nb), {}
  for i = 1, n do
    local x = a.shape[na - n + i] or 1
    local y = b.shape[nb - n + i] or 1
    if x ~= y and x ~= 1 and y ~= 1 then
      fail(op, "shapes %s and %s cannot be broadcast", shape_str(a), shape_str(b))
    end
    out[i] = x == 1 and y or x
  end
  return out
end

local ROT1, ROT2 = nil, nil

local function cross_impl(op, a, b, dim)
  check_tensor(op, a)
  check_tensor(op, b, "the second argument")
  local shape = broadcast_shape(op, a, b)
  if dim == nil then   -- torch.cross's default: the first dim of size 3
    for i, s in ipairs(shape) do
      if s == 3 then dim = i break end
    end
    if dim == nil then fail(op, "no dim of size 3 in shape [%s]", table.concat(shape, ", ")) end
  end
  local d = wrap(op, dim, #shape)
  if a.shape[d - (#shape - a:dim())] ~= 3 or b.shape[d - (#shape - b:dim())] ~= 3 then
    fail(op, "inputs must have size 3 at dim %d, got shapes %s and %s", dim, shape_str(a), shape_str(b))
  end
  a = a:expand(table.unpack(shape))
  b = b:expand(table.unpack(shape))
  ROT1 = ROT1 or ember.tensor{2, 3, 1}
  ROT2 = ROT2 or ember.tensor{3, 1, 2}
  -- c_i = a_{i+1} b_{i+2} - a_{i+2} b_{i+1} (indices mod 3)
  return a:index_select(d, ROT1) * b:index_select(d, ROT2) - a:index_select(d, ROT2) * b:index_select(d, ROT1)
end

function L.cross(a, b, dim)
  return cross_impl("cross", a, b, dim or -1)
end
doc(L.cross, "ember.linalg.cross(a, b [, dim=-1]): the cross product of 3-vectors along dim (size 3), inputs broadcast.")

function L.vecdot(x, y, dim)
  check_tensor("vecdot", x)
  check_tensor("vecdot", y, "the second argument")
  local shape = broadcast_shape("vecdot", x, y)
  return (x * y):sum(wrap("vecdot", dim or -1, #shape))
end
doc(L.vecdot, "ember.linalg.vecdot(x, y [, dim=-1]): the dot product of x and y along dim, other dims broadcast.")

function L.multi_dot(list)
  if type(list) ~= "table" then fail("multi_dot", "expected a table of tensors, got %s", type(list)) end
  local n = #list
  if n < 2 then fail("multi_dot", "expected at least 2 tensors, got %d", n) end
  local ms = {}
  for i, t in ipairs(list) do
    check_tensor("multi_dot", t, "argument " .. i)
    local d = t:dim()
    local ok = d == 2 or (d == 1 and (i == 1 or i == n))
    if not ok then
      fail("multi_dot", "tensor %d must be 2-D (the first and last may be 1-D), got shape %s", i, shape_str(t))
    end
    ms[i] = d == 2 and t or (i == 1 and t:unsqueeze(1) or t:unsqueeze(2))
  end
  for i = 1, n - 1 do
    if ms[i].shape[2] ~= ms[i + 1].shape[1] then
      fail("multi_dot", "tensor %d of shape %s and tensor %d of shape %s do not match", i, shape_str(list[i]),
           i + 1, shape_str(list[i + 1]))
    end
  end
  -- the cheapest order (matrix chain dynamic programme over the dims p)
  local p = {ms[1].shape[1]}
  for i = 1, n do p[i + 1] = ms[i].shape[2] end
  local cost, split = {}, {}
  for i = 1, n do
    cost[i], split[i] = {[i] = 0}, {}
  end
  for len = 2, n do
    for i = 1, n - len + 1 do
      local j = i + len - 1
      cost[i][j] = math.huge
      for k = i, j - 1 do
        local c = cost[i][k] + cost[k + 1][j] + p[i] * p[k + 1] * p[j + 1]
        if c < cost[i][j] then cost[i][j], split[i][j] = c, k end
      end
    end
  end
  local function product(i, j)
    if i == j then return ms[i] end
    local k = split[i][j]
    return product(i, k):matmul(product(k + 1, j))
  end
  local r = product(1, n)
  if list[n]:dim() == 1 then r = r:squeeze(2) end
  if list[1]:dim() == 1 then r = r:squeeze(1) end
  return r
end
doc(L.multi_dot, "ember.linalg.multi_dot({A, B, C, ...}): the chained matrix product in the cheapest order; the first and last may be vectors.")

L.matmul = ember.matmul

function L.diagonal(A, offset)
  check_tensor("diagonal", A)
  offset = offset or 0
  if math.type(offset) ~= "integer" then fail("diagonal", "offset must be an integer, got %s", tostring(offset)) end
  if A:dim() < 2 then fail("diagonal", "expected a tensor of at least 2 dims, got shape %s", shape_str(A)) end
  local m, n = A.shape[A:dim() - 1], A.shape[A:dim()]
  -- element (i, i + offset) of the flattened (m * n) matrix sits at i * (n + 1) + offset
  local first = offset >= 0 and offset or -offset * n
  local len = math.max(0, offset >= 0 and math.min(m, n - offset) or math.min(m + offset, n))
  local idx = {}
  for k = 1, A:dim() - 2 do idx[k] = {} end
  local F = A:flatten(-2, -1)
  if len == 0 then
    local shape = {}
    for k = 1, A:dim() - 2 do shape[k] = A.shape[k] end
    shape[#shape + 1] = 0
    return ember.zeros(shape, {dtype = A.dtype})
  end
  idx[#idx + 1] = {first + 1, first + (len - 1) * (n + 1) + 1, n + 1}
  return F[idx]
end
doc(L.diagonal, "ember.linalg.diagonal(A [, offset=0]): the diagonal of each matrix of A (..., m, n) as (..., k); offset > 0 above the main diagonal, < 0 below (differentiable).")

-- ---------- tensor inverses ----------

local function prod(t, i, j)
  local p = 1
  for k = i, j do p = p * t[k] end
  return p
end

function L.tensorinv(A, ind)
  check_float("tensorinv", A)
  ind = ind or 2
  if math.type(ind) ~= "integer" or ind < 1 or ind >= A:dim() then
    fail("tensorinv", "ind must be an integer in [1, %d) for shape %s, got %s", A:dim(), shape_str(A), tostring(ind))
  end
  local sh, nd = A.shape, A:dim()
  local rows, cols = prod(sh, 1, ind), prod(sh, ind + 1, nd)
  if rows ~= cols then
    fail("tensorinv", "the product of the first %d dims (%d) must equal that of the rest (%d) for shape %s", ind, rows,
         cols, shape_str(A))
  end
  local out = {}
  for k = ind + 1, nd do out[#out + 1] = sh[k] end
  for k = 1, ind do out[#out + 1] = sh[k] end
  return L.inv(A:reshape(rows, cols)):reshape(out)
end
doc(L.tensorinv, "ember.linalg.tensorinv(A [, ind=2]): the inverse of A seen as a matrix of its first ind dims by the rest; the result has shape A.shape[ind+1..] .. A.shape[1..ind].")

function L.tensorsolve(A, B, dims)
  check_float("tensorsolve", A)
  check_float("tensorsolve", B)
  if dims ~= nil then   -- move these dims of A to the end, in order
    local moved = {}
    for _, d in ipairs(dims) do moved[wrap("tensorsolve", d, A:dim())] = true end
    local perm = {}
    for k = 1, A:dim() do if not moved[k] then perm[#perm + 1] = k end end
    for _, d in ipairs(dims) do perm[#perm + 1] = wrap("tensorsolve", d, A:dim()) end
    A = A:permute(perm)
  end
  local nb, sh = B:dim(), A.shape
  for k = 1, nb do
    if sh[k] ~= B.shape[k] then
      fail("tensorsolve", "A of shape %s must start with B's shape %s", shape_str(A), shape_str(B))
    end
  end
  local rows, cols = B:numel(), prod(sh, nb + 1, A:dim())
  if rows ~= cols then
    fail("tensorsolve", "A of shape %s is not square as a (%d, %d) matrix", shape_str(A), rows, cols)
  end
  local out = {}
  for k = nb + 1, A:dim() do out[#out + 1] = sh[k] end
  return L.solve(A:reshape(rows, cols), B:reshape(rows)):reshape(out)
end
doc(L.tensorsolve, "ember.linalg.tensorsolve(A, B [, dims]): X with tensordot(A, X) = B, X of shape A.shape[B:dim()+1..]; dims (of A) are moved to the end first.")

-- ---------- torch's top-level names (module functions and methods) ----------

local function alias(name, fn, text)
  local f = function(...) return fn(...) end
  doc(f, text)
  ember[name] = f
  T[name] = f
end
alias("matrix_power", L.matrix_power, "t:matrix_power(n) or ember.matrix_power(A, n): as ember.linalg.matrix_power.")
alias("matrix_exp", L.matrix_exp, "t:matrix_exp() or ember.matrix_exp(A): as ember.linalg.matrix_exp.")
alias("pinverse", function(A, rcond) return L.pinv(A, {rtol = rcond or 1e-15}) end,
      "t:pinverse([rcond=1e-15]) or ember.pinverse(A [, rcond]): the pseudo-inverse, singular values below rcond * largest dropped.")
alias("cross", function(a, b, dim) return cross_impl("cross", a, b, dim) end,
      "a:cross(b [, dim]) or ember.cross(a, b [, dim]): the cross product; without dim, along the first dim of size 3 (as torch.cross).")
alias("logdet", function(A)
  local s, l = L.slogdet(A)
  -- log det: -inf for det 0, NaN for a negative det (as torch.logdet)
  return ember.where(s:lt(0), ember.tensor(0 / 0, A.dtype), l)
end, "t:logdet() or ember.logdet(A): log(det(A)); NaN when det(A) < 0, -inf when 0.")

return L
