-- ember.tensor_einsum: einsum and tensordot, written with permute, reshape
-- and matmul so that the usual contractions ("ij,jk->ik", "bij,bjk->bik",
-- attention's "bhqd,bhkd->bhqk") run as one BLAS call, and autograd flows
-- through the composed ops.  Returns an installer called by
-- tensor_shape.lua with its helpers (fail, wrap_dim, install, ...).
--
-- einsum, with PyTorch's semantics, in two halves.  Planning looks only at
-- the equation and the operand shapes:
--  1. parse the equation into one label list per operand (letters; "..."
--     stands for the broadcast dims, right-aligned across operands);
--  2. a label repeated within one operand takes the diagonal;
--  3. labels that occur in one operand only and not in the output are
--     summed right away;
--  4. operands are contracted left to right, two at a time: labels in both
--     and needed later are batch dims, in both and not needed are summed by
--     the matmul, the rest are the rows (left) and columns (right) of it;
--  5. the result is permuted into the output order.
-- Size-1 dims broadcast against any size, as in torch.  The plan is a list
-- of steps (diagonal, sum, permute, reshape, expand, matmul, mul) on one
-- register per operand; plans are cached by equation and shapes, so a call
-- in a training loop costs a table lookup and the C calls themselves.
local ember = require("ember")

local is_tensor = ember.is_tensor

return function(H)
  local fail, wrap_dim, shape_str, check_tensor = H._fail, H._wrap_dim, H._shape_str, H._check_tensor
  local install, concat = H._install, H._concat

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

  -- positions (1-based, ascending) of each label in a list
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

  local function same_list(a, b)
    if #a ~= #b then return false end
    for i = 1, #a do if a[i] ~= b[i] then return false end end
    return true
  end

  -- ------------------------------------------------------------ planning

  local DIAG, SUM, PERMUTE, RESHAPE, EXPAND, MATMUL, MUL = 1, 2, 3, 4, 5, 6, 7

  -- A register is the planner's picture of one operand: its labels (one per
  -- dim) and its shape.  Each helper updates the picture and appends the
  -- step that does the same to the real tensor.
  local function planner()
    local steps = {}
    local P = {steps = steps}

    function P.diag(r, reg, p, q)          -- p < q carry the same label
      steps[#steps + 1] = {DIAG, r, p, q}
      local l, s = reg.labels[p], reg.shape[p]
      table.remove(reg.labels, q); table.remove(reg.labels, p)
      table.remove(reg.shape, q); table.remove(reg.shape, p)
      reg.labels[#reg.labels + 1], reg.shape[#reg.shape + 1] = l, s
    end

    function P.sum(r, reg, drop)            -- sums the dims whose label drop() selects
      local dims, labels, shape = {}, {}, {}
      for i, l in ipairs(reg.labels) do
        if drop(l) then dims[#dims + 1] = i
        else labels[#labels + 1], shape[#shape + 1] = l, reg.shape[i] end
      end
      if #dims == 0 then return end
      steps[#steps + 1] = {SUM, r, dims}
      reg.labels, reg.shape = labels, shape
    end

    function P.permute(r, reg, order)       -- order: the labels in their new order
      local perm, shape, identity = {}, {}, true
      for i, l in ipairs(order) do
        perm[i] = index_of(reg.labels, l)
        shape[i] = reg.shape[perm[i]]
        if perm[i] ~= i then identity = false end
      end
      if identity then return end
      steps[#steps + 1] = {PERMUTE, r, perm}
      reg.labels, reg.shape = concat(order), shape
    end

    function P.reshape(r, reg, shape)       -- the labels no longer describe the dims
      if not same_list(reg.shape, shape) then
        steps[#steps + 1] = {RESHAPE, r, shape}
        reg.shape = shape
      end
      reg.labels = nil
    end

    function P.expand(r, reg, shape)
      if not same_list(reg.shape, shape) then
        steps[#steps + 1] = {EXPAND, r, shape}
        reg.shape = shape
      end
    end

    function P.binary(op, r, s) steps[#steps + 1] = {op, r, s} end
    return P
  end

  -- Plans the contraction of register ra (A) with rb (B) into ra; needed(l)
  -- says whether a label is used after this step, sizes[l] is its
  -- broadcast size.  Returns the result register.
  local function contract(P, ra, A, rb, B, needed, sizes)
    local inA, inB = {}, {}
    for _, l in ipairs(A.labels) do inA[l] = true end
    for _, l in ipairs(B.labels) do inB[l] = true end
    -- a label of one side only that nothing needs is summed first
    P.sum(ra, A, function(l) return not inB[l] and not needed(l) end)
    P.sum(rb, B, function(l) return not inA[l] and not needed(l) end)
    local batch, rows, cols, red = {}, {}, {}, {}
    for _, l in ipairs(A.labels) do
      if inB[l] then
        if needed(l) then batch[#batch + 1] = l else red[#red + 1] = l end
      else
        rows[#rows + 1] = l
      end
    end
    for _, l in ipairs(B.labels) do
      if not inA[l] then cols[#cols + 1] = l end
    end
    -- a shared dim of size 1 on one side broadcasts against the other
    for r, reg in pairs({[ra] = A, [rb] = B}) do
      local shape = concat(reg.shape)
      for i, l in ipairs(reg.labels) do
        if inA[l] and inB[l] then shape[i] = sizes[l] end
      end
      P.expand(r, reg, shape)
    end
    -- the sizes the registers have now: shared labels are at their broadcast
    -- size; a label of one side keeps its own (it may be 1 here and
    -- broadcast against a later operand)
    local have = {}
    for _, reg in ipairs({A, B}) do
      for i, l in ipairs(reg.labels) do have[l] = reg.shape[i] end
    end
    local function sz(list)
      local out, p = {}, 1
      for i, l in ipairs(list) do out[i] = have[l]; p = p * have[l] end
      return out, p
    end
    local bs, nb = sz(batch)
    local rs, m = sz(rows)
    local cs, n = sz(cols)
    local _, k = sz(red)
    local out_labels = concat(batch, rows, cols)
    local out_shape = concat(bs, rs, cs)
    if #red == 0 then
      -- nothing summed (outer or elementwise products): a broadcasting mul
      -- of A as (batch, rows, 1..) with B as (batch, 1.., cols)
      P.permute(ra, A, concat(batch, rows))
      P.permute(rb, B, concat(batch, cols))
      local ashape, bshape = concat(bs, rs), concat(bs)
      for _ = 1, #cols do ashape[#ashape + 1] = 1 end
      for _ = 1, #rows do bshape[#bshape + 1] = 1 end
      P.reshape(ra, A, ashape)
      P.reshape(rb, B, concat(bshape, cs))
      P.binary(MUL, ra, rb)
    elseif #rows == 0 and #cols == 0 then
      -- batched dot products: multiply and sum, rather than many 1x1 matmuls
      P.permute(ra, A, concat(batch, red))
      P.permute(rb, B, concat(batch, red))
      P.reshape(ra, A, {nb, k})
      P.reshape(rb, B, {nb, k})
      P.binary(MUL, ra, rb)
      P.sum(ra, {labels = {0, 1}, shape = {nb, k}}, function(l) return l == 1 end)
      A.shape = {nb}
      P.reshape(ra, A, out_shape)
    else
      -- A: (batch, rows, red) -> (nb, m, k); B: (batch, red, cols) -> (nb, k, n)
      P.permute(ra, A, concat(batch, rows, red))
      P.permute(rb, B, concat(batch, red, cols))
      if #batch == 0 then
        P.reshape(ra, A, {m, k})
        P.reshape(rb, B, {k, n})
        A.shape = {m, n}
      else
        P.reshape(ra, A, {nb, m, k})
        P.reshape(rb, B, {nb, k, n})
        A.shape = {nb, m, n}
      end
      P.binary(MATMUL, ra, rb)
      P.reshape(ra, A, out_shape)
    end
    A.labels, A.shape = out_labels, out_shape
    return A
  end

  -- The plan of an einsum call: its steps, given the equation and the
  -- operand shapes; raises the equation's errors.
  local function plan_einsum(equation, shapes)
    local eq = equation:gsub("%s", "")
    local lhs, rhs = eq, nil
    local arrow = eq:find("->", 1, true)
    if arrow then
      lhs, rhs = eq:sub(1, arrow - 1), eq:sub(arrow + 2)
      if rhs:find("->", 1, true) then fail("einsum: '->' appears more than once in '%s'", equation) end
    end
    local terms = {}
    for term in (lhs .. ","):gmatch("([^,]*),") do terms[#terms + 1] = term end
    if #terms ~= #shapes then
      fail("einsum: the equation '%s' has %d operand%s but %d tensor%s given", equation, #terms,
           #terms == 1 and "" or "s", #shapes, #shapes == 1 and " was" or "s were")
    end
    -- 1. labels per operand, with "..." expanded to right-aligned broadcast labels
    local parsed, ell_dims, E = {}, {}, 0
    for i, term in ipairs(terms) do
      local p, err, has_ell = parse_term(term)
      if not p then fail("einsum: %s (equation '%s')", err, equation) end
      local letters = #p - (has_ell and 1 or 0)
      local nd = #shapes[i]
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
    local regs, sizes, where = {}, {}, {}
    for i, p in ipairs(parsed) do
      local list = {}
      for _, l in ipairs(p) do
        if l == "..." then
          for j = E - ell_dims[i] + 1, E do list[#list + 1] = ELL + j end
        else
          list[#list + 1] = l
        end
      end
      local shape = shapes[i]
      for l, ps in pairs(positions(list)) do
        -- a label repeated within one operand: its sizes must agree
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
               label_name(l), sizes[l], j, s, i, equation, shape_str(shapes[j]), shape_str(shape))
        end
      end
      regs[i] = {labels = list, shape = concat(shape)}
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
      for _, reg in ipairs(regs) do
        for _, l in ipairs(reg.labels) do count[l] = (count[l] or 0) + 1 end
      end
      local once = {}
      for l, c in pairs(count) do if c == 1 and l < ELL then once[#once + 1] = l end end
      table.sort(once)
      for _, l in ipairs(once) do out[#out + 1] = l end
    end
    local in_out = {}
    for _, l in ipairs(out) do in_out[l] = true end

    local P = planner()
    -- 2. diagonals of repeated labels (the pair's diagonal becomes the last dim)
    for r, reg in ipairs(regs) do
      local again = true
      while again do
        again = false
        for _, ps in pairs(positions(reg.labels)) do
          if #ps > 1 then
            P.diag(r, reg, ps[1], ps[2])
            again = true
            break
          end
        end
      end
    end
    -- 3. labels of one operand only and not in the output are summed now
    for r, reg in ipairs(regs) do
      local others = {}
      for j, o in ipairs(regs) do
        if j ~= r then for _, l in ipairs(o.labels) do others[l] = true end end
      end
      P.sum(r, reg, function(l) return not in_out[l] and not others[l] end)
    end
    -- 4. left to right, into register 1
    for r = 2, #regs do
      local later = {}
      for j = r + 1, #regs do
        for _, l in ipairs(regs[j].labels) do later[l] = true end
      end
      contract(P, 1, regs[1], r, regs[r], function(l) return in_out[l] or later[l] or false end, sizes)
    end
    -- 5. the output order
    P.sum(1, regs[1], function(l) return not in_out[l] end)
    P.permute(1, regs[1], out)
    return P.steps
  end

  -- ------------------------------------------------------------ running

  local diagonal = H._diagonal
  local function run(steps, xs)
    for i = 1, #steps do
      local s = steps[i]
      local op, r = s[1], s[2]
      local x = xs[r]
      if op == MATMUL then xs[r] = x:matmul(xs[s[3]])
      elseif op == RESHAPE then xs[r] = x:reshape(s[3])
      elseif op == PERMUTE then xs[r] = x:permute(s[3])
      elseif op == MUL then xs[r] = x * xs[s[3]]
      elseif op == SUM then xs[r] = x:sum(s[3])
      elseif op == EXPAND then xs[r] = x:expand(s[3])
      elseif op == DIAG then xs[r] = diagonal(x, 0, s[3], s[4])
      end
    end
    return xs[1]
  end

  -- Plans cached in a trie: cache[equation], then one level per size of
  -- each operand, -1 closing an operand, the plan under .plan.  A lookup is
  -- a few table reads (building a string key cost as much as a small
  -- matmul).  The cache is emptied when it holds CACHE_MAX plans.
  local CACHE_MAX = 256
  local cache, cached = {}, 0

  local function einsum(equation, ...)
    if type(equation) ~= "string" then
      fail("einsum: the first argument must be the equation string (got %s)", type(equation))
    end
    local xs = {...}
    local n = select("#", ...)
    if n == 1 and type(xs[1]) == "table" and not is_tensor(xs[1]) then xs = H._tensor_list("einsum", xs[1])
    else
      for i = 1, n do
        if not is_tensor(xs[i]) then xs = H._tensor_list("einsum", ...) end  -- raises, naming the operand
      end
    end
    local shapes = {}
    local node = cache[equation]
    if not node then node = {}; cache[equation] = node end
    for i = 1, #xs do
      local s = xs[i].shape
      shapes[i] = s
      for j = 1, #s + 1 do
        local k = s[j] or -1
        local nx = node[k]
        if not nx then nx = {}; node[k] = nx end
        node = nx
      end
    end
    local steps = node.plan
    if not steps then
      steps = plan_einsum(equation, shapes)
      if cached >= CACHE_MAX then
        cache, cached = {}, 0
      else
        node.plan, cached = steps, cached + 1
      end
    end
    return run(steps, xs)
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
