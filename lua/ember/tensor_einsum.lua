-- ember.tensor_einsum: einsum and tensordot, written with permute, reshape
-- and matmul so that the usual contractions ("ij,jk->ik", "bij,bjk->bik",
-- attention's "bhqd,bhkd->bhqk") run as one BLAS call, and autograd flows
-- through the composed ops.  Returns an installer called by
-- tensor_shape.lua with its helpers (fail, wrap_dim, install, ...).
--
-- einsum plan, PyTorch's semantics:
--  1. parse the equation into one label list per operand (letters; "..."
--     stands for the broadcast dims, right-aligned across operands);
--  2. a label repeated within one operand takes the diagonal (x:diagonal);
--  3. labels that occur in one operand only and not in the output are
--     summed right away;
--  4. operands are contracted left to right, two at a time: labels in both
--     and needed later are batch dims, in both and not needed are summed by
--     the matmul, the rest are the rows (left) and columns (right) of it;
--  5. the result is permuted into the output order.
-- Size-1 dims broadcast against any size, as in torch.
local ember = require("ember")

local is_tensor = ember.is_tensor
local unpack = table.unpack

return function(H)
  local fail, wrap_dim, shape_str, check_tensor = H._fail, H._wrap_dim, H._shape_str, H._check_tensor
  local install = H._install

  -- labels are numbers: letters their byte ('A'..'Z' sort before 'a'..'z',
  -- as torch orders an implicit output); the broadcast dims of "..." are
  -- ELL + 1 .. ELL + n, right-aligned
  local ELL = 1000

  local function label_name(l)
    if l > ELL then return "'...'" end
    return "'" .. string.char(l) .. "'"
  end

  -- "ij..k" -> {105, 106, "...", 107}; nil and a message when malformed
  local function parse_term(term)
    local out, i, ell = {}, 1, false
    while i <= #term do
      local c = term:sub(i, i)
      if c:match("%a") then
        out[#out + 1] = c:byte()
        i = i + 1
      elseif term:sub(i, i + 2) == "..." then
        if ell then return nil, "'...' appears more than once in '" .. term .. "'" end
        ell = true
        out[#out + 1] = "..."
        i = i + 3
      elseif c == "." then
        return nil, "a '.' that is not part of '...' in '" .. term .. "'"
      else
        return nil, "invalid character '" .. c .. "' in '" .. term .. "' (labels are letters a-z, A-Z)"
      end
    end
    return out, nil, ell
  end

  -- positions (1-based) of each label in a list
  local function positions(labels)
    local pos = {}
    for i, l in ipairs(labels) do
      pos[l] = pos[l] or {}
      table.insert(pos[l], i)
    end
    return pos
  end

  local function index_of(list, v)
    for i, x in ipairs(list) do if x == v then return i end end
    return nil
  end

  -- sums x over the dims whose labels satisfy drop(l); returns x, labels
  local function sum_labels(x, labels, drop)
    local dims, keep = {}, {}
    for i, l in ipairs(labels) do
      if drop(l) then dims[#dims + 1] = i else keep[#keep + 1] = l end
    end
    if #dims == 0 then return x, labels end
    return x:sum(dims), keep
  end

  -- x permuted so its labels read `order` (a permutation of labels)
  local function permute_to(x, labels, order)
    local perm, identity = {}, true
    for i, l in ipairs(order) do
      perm[i] = index_of(labels, l)
      if perm[i] ~= i then identity = false end
    end
    if identity then return x end
    return x:permute(perm)
  end

  -- Contracts A (labels la) with B (labels lb); `needed(l)` says whether a
  -- label is used after this step.  sizes[l] is the broadcast size.
  local function contract(A, la, B, lb, needed, sizes)
    local inB = {}
    for _, l in ipairs(lb) do inB[l] = true end
    local inA = {}
    for _, l in ipairs(la) do inA[l] = true end
    -- a label of one side only that nothing needs is summed first
    A, la = sum_labels(A, la, function(l) return not inB[l] and not needed(l) end)
    B, lb = sum_labels(B, lb, function(l) return not inA[l] and not needed(l) end)
    local batch, rows, cols, red = {}, {}, {}, {}
    for _, l in ipairs(la) do
      if inB[l] then
        if needed(l) then batch[#batch + 1] = l else red[#red + 1] = l end
      else
        rows[#rows + 1] = l
      end
    end
    for _, l in ipairs(lb) do
      if not inA[l] then cols[#cols + 1] = l end
    end
    -- a shared dim of size 1 on one side broadcasts against the other
    local function fit(x, labels)
      local shape, grow = x.shape, false
      for i, l in ipairs(labels) do
        if (inA[l] and inB[l]) and shape[i] ~= sizes[l] then shape[i] = sizes[l]; grow = true end
      end
      return grow and x:expand(shape) or x
    end
    A, B = fit(A, la), fit(B, lb)
    local function sz(list)
      local out, p = {}, 1
      for i, l in ipairs(list) do out[i] = sizes[l]; p = p * sizes[l] end
      return out, p
    end
    local bs, nb = sz(batch)
    local rs, m = sz(rows)
    local cs, n = sz(cols)
    local _, k = sz(red)
    local out_labels = {}
    for _, list in ipairs({batch, rows, cols}) do
      for _, l in ipairs(list) do out_labels[#out_labels + 1] = l end
    end
    local out_shape = {}
    for i, l in ipairs(out_labels) do out_shape[i] = sizes[l] end
    if #red == 0 then
      -- nothing summed (outer or elementwise products): broadcasting mul
      -- A as (batch, rows, 1..), B as (batch, 1.., cols)
      local av = permute_to(A, la, H._concat(batch, rows))
      local bv = permute_to(B, lb, H._concat(batch, cols))
      local ashape = H._concat(bs, rs)
      for _ = 1, #cols do ashape[#ashape + 1] = 1 end
      local bshape = H._concat(bs)
      for _ = 1, #rows do bshape[#bshape + 1] = 1 end
      for _, s in ipairs(cs) do bshape[#bshape + 1] = s end
      return av:reshape(ashape) * bv:reshape(bshape), out_labels
    end
    if m == 1 and n == 1 then
      -- batched dot products: multiply and sum, rather than many 1x1 matmuls
      local av = permute_to(A, la, H._concat(batch, red))
      local bv = permute_to(B, lb, H._concat(batch, red))
      local p = av:reshape(nb, k) * bv:reshape(nb, k)
      return p:sum(2):reshape(out_shape), out_labels
    end
    -- A: (batch, rows, red) -> (nb, m, k); B: (batch, red, cols) -> (nb, k, n)
    local a3 = permute_to(A, la, H._concat(batch, rows, red))
    local b3 = permute_to(B, lb, H._concat(batch, red, cols))
    local r
    if #batch == 0 then
      r = a3:reshape(m, k):matmul(b3:reshape(k, n))
    else
      r = a3:reshape(nb, m, k):matmul(b3:reshape(nb, k, n))
    end
    return r:reshape(out_shape), out_labels
  end

  local function einsum(equation, ...)
    if type(equation) ~= "string" then
      fail("einsum: the first argument must be the equation string (got %s)", type(equation))
    end
    local ops = H._tensor_list("einsum", ...)
    local eq = equation:gsub("%s", "")
    local lhs, rhs = eq, nil
    local arrow = eq:find("->", 1, true)
    if arrow then
      lhs, rhs = eq:sub(1, arrow - 1), eq:sub(arrow + 2)
      if rhs:find("->", 1, true) then fail("einsum: '->' appears more than once in '%s'", equation) end
    end
    local terms = {}
    for term in (lhs .. ","):gmatch("([^,]*),") do terms[#terms + 1] = term end
    if #terms ~= #ops then
      fail("einsum: the equation '%s' has %d operand%s but %d tensor%s given", equation, #terms,
           #terms == 1 and "" or "s", #ops, #ops == 1 and " was" or "s were")
    end
    -- 1. labels per operand, with "..." expanded to right-aligned broadcast labels
    local parsed, ell_dims, E = {}, {}, 0
    for i, term in ipairs(terms) do
      local p, err, has_ell = parse_term(term)
      if not p then fail("einsum: %s (equation '%s')", err, equation) end
      local letters = #p - (has_ell and 1 or 0)
      local nd = ops[i]:dim()
      if has_ell then
        if nd < letters then
          fail("einsum: operand %d has %d dims but the equation gives it at least %d ('%s')", i, nd, letters, term)
        end
        ell_dims[i] = nd - letters
      elseif nd ~= letters then
        fail("einsum: operand %d has %d dims but the equation gives it %d ('%s')", i, nd, letters, term)
      else
        ell_dims[i] = 0
      end
      if ell_dims[i] > E then E = ell_dims[i] end
      parsed[i] = p
    end
    local labels, sizes, where = {}, {}, {}
    for i, p in ipairs(parsed) do
      local list = {}
      for _, l in ipairs(p) do
        if l == "..." then
          for j = E - ell_dims[i] + 1, E do list[#list + 1] = ELL + j end
        else
          list[#list + 1] = l
        end
      end
      local shape = ops[i].shape
      local pos = positions(list)
      for l, ps in pairs(pos) do
        -- 2. a repeated label within one operand: its sizes must agree
        for j = 2, #ps do
          if shape[ps[j]] ~= shape[ps[1]] then
            fail("einsum: label %s is repeated in operand %d with different sizes %d and %d (shape %s)",
                 label_name(l), i, shape[ps[1]], shape[ps[j]], shape_str(shape))
          end
        end
        local s = shape[ps[1]]
        if sizes[l] == nil or sizes[l] == 1 then
          if sizes[l] == nil or s ~= 1 then sizes[l], where[l] = s, i end
        elseif s ~= 1 and s ~= sizes[l] then
          local j = where[l]
          fail("einsum: label %s has size %d in operand %d but %d in operand %d (equation '%s', shapes %s and %s)",
               label_name(l), sizes[l], j, s, i, equation, shape_str(ops[j].shape), shape_str(shape))
        end
      end
      labels[i] = list
    end
    -- the output labels
    local out = {}
    if rhs then
      local p, err = parse_term(rhs)
      if not p then fail("einsum: %s (equation '%s')", err, equation) end
      local seen = {}
      for _, l in ipairs(p) do
        if l == "..." then
          for j = 1, E do out[#out + 1] = ELL + j end
        else
          if seen[l] then
            fail("einsum: output label %s appears more than once (equation '%s')", label_name(l), equation)
          end
          if sizes[l] == nil then
            fail("einsum: output label %s does not appear in any input (equation '%s')", label_name(l), equation)
          end
          seen[l] = true
          out[#out + 1] = l
        end
      end
    else
      -- implicit output: the broadcast dims, then the labels used exactly once, sorted
      for j = 1, E do out[#out + 1] = ELL + j end
      local count = {}
      for _, list in ipairs(labels) do
        for _, l in ipairs(list) do count[l] = (count[l] or 0) + 1 end
      end
      local once = {}
      for l, c in pairs(count) do if c == 1 and l < ELL then once[#once + 1] = l end end
      table.sort(once)
      for _, l in ipairs(once) do out[#out + 1] = l end
    end
    local in_out = {}
    for _, l in ipairs(out) do in_out[l] = true end

    -- 2. diagonals of repeated labels
    local xs = {}
    for i, x in ipairs(ops) do
      local list = labels[i]
      local again = true
      while again do
        again = false
        local pos = positions(list)
        for l, ps in pairs(pos) do
          if #ps > 1 then
            x = H.diagonal(x, 0, ps[1], ps[2])   -- the pair's diagonal becomes the last dim
            table.remove(list, ps[2])
            table.remove(list, ps[1])
            list[#list + 1] = l
            again = true
            break
          end
        end
      end
      xs[i] = x
    end
    -- how many operands still hold each label (from operand i on)
    local function needed_after(i)
      local need = {}
      for j = i + 1, #xs do
        for _, l in ipairs(labels[j]) do need[l] = true end
      end
      return function(l) return in_out[l] or need[l] or false end
    end
    -- 3. labels of one operand only and not in the output are summed now
    for i = 1, #xs do
      local others = {}
      for j = 1, #xs do
        if j ~= i then for _, l in ipairs(labels[j]) do others[l] = true end end
      end
      xs[i], labels[i] = sum_labels(xs[i], labels[i], function(l) return not in_out[l] and not others[l] end)
    end
    -- 4. left to right
    local acc, la = xs[1], labels[1]
    for i = 2, #xs do
      acc, la = contract(acc, la, xs[i], labels[i], needed_after(i), sizes)
    end
    acc, la = sum_labels(acc, la, function(l) return not in_out[l] end)
    -- 5. output order; output broadcast dims that only size-1 operands had
    -- keep their size 1 (sizes[] already says so)
    local r = permute_to(acc, la, out)
    if #out == 0 and r:dim() ~= 0 then r = r:reshape({}) end
    return r
  end

  local function tensordot(a, b, dims)
    check_tensor("tensordot", a, "a")
    check_tensor("tensordot", b, "b")
    local da, db = {}, {}
    if dims == nil then dims = 2 end
    if type(dims) == "number" then
      local n = H._int_arg("tensordot", dims, "dims")
      if n < 0 or n > a:dim() or n > b:dim() then
        fail("tensordot: cannot contract %d dims of tensors with %d and %d dims", n, a:dim(), b:dim())
      end
      for i = 1, n do
        da[i] = a:dim() - n + i
        db[i] = i
      end
    elseif type(dims) == "table" and #dims == 2 then
      local la, lb = H._list_arg(dims[1]), H._list_arg(dims[2])
      if #la ~= #lb then
        fail("tensordot: the two dim lists must have the same length (got %d and %d)", #la, #lb)
      end
      local seen_a, seen_b = {}, {}
      for i = 1, #la do
        da[i] = wrap_dim("tensordot", la[i], a:dim(), "dim of a")
        db[i] = wrap_dim("tensordot", lb[i], b:dim(), "dim of b")
        if seen_a[da[i]] or seen_b[db[i]] then fail("tensordot: a dim appears twice in dims") end
        seen_a[da[i]], seen_b[db[i]] = true, true
      end
    else
      fail("tensordot: dims must be a number or two lists of dims {{dims of a}, {dims of b}}")
    end
    local sa, sb = a.shape, b.shape
    for i = 1, #da do
      if sa[da[i]] ~= sb[db[i]] then
        fail("tensordot: dim %d of a (size %d) and dim %d of b (size %d) must match (shapes %s and %s)",
             da[i], sa[da[i]], db[i], sb[db[i]], shape_str(sa), shape_str(sb))
      end
    end
    -- a: (free, contracted) -> (m, k); b: (contracted, free) -> (k, n)
    local ca, cb = {}, {}
    for _, d in ipairs(da) do ca[d] = true end
    for _, d in ipairs(db) do cb[d] = true end
    local pa, pb, out_shape = {}, {}, {}
    local m, n, k = 1, 1, 1
    for d = 1, #sa do
      if not ca[d] then pa[#pa + 1] = d; m = m * sa[d]; out_shape[#out_shape + 1] = sa[d] end
    end
    for i, d in ipairs(da) do pa[#pa + 1] = d; k = k * sa[d]; pb[i] = db[i] end
    for d = 1, #sb do
      if not cb[d] then pb[#pb + 1] = d; n = n * sb[d]; out_shape[#out_shape + 1] = sb[d] end
    end
    local a2 = (#pa > 0 and a:permute(pa) or a):reshape(m, k)
    local b2 = (#pb > 0 and b:permute(pb) or b):reshape(k, n)
    return a2:matmul(b2):reshape(out_shape)
  end

  install("einsum", einsum, [=[ember.einsum(equation, a, ...): Einstein summation over labelled dims, as torch.einsum.

"ij,jk->ik" is a matrix product, "bij,bjk->bik" a batched one, "ii->i" a
diagonal, "ii" a trace, "i,j->ij" an outer product, "...ij->...ji" a
transpose of the last two dims.  Without "->" the output is the labels used
once, in alphabetical order (upper case first), after the "..." dims.
Operands are tensors (or one list of them); contractions run as matmul.]=])
  install("tensordot", tensordot, [=[ember.tensordot(a, b [, dims]): sums products over dims of a and b.

dims: a number n (the last n dims of a with the first n of b; default 2) or
two lists of 1-based dims {{dims of a}, {dims of b}} (or {da, db}).]=])
end
