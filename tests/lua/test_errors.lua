-- test_errors.lua: bad calls from Lua.  Each one must raise a Lua error (never
-- crash, abort or hang) whose message names the function and the offending
-- shapes or values, so a user can fix the call from the message alone.  The
-- file also runs under `make sanitize` (ASan + UBSan), where a bad call that
-- reads out of bounds or overflows an integer would abort the process; the
-- last test checks that the process is still healthy after all of them.
local T = dofile("tests/lua/harness.lua")

local count = 0

-- `fn` must raise an error containing every string of `pieces` (plain text)
local function bad(name, fn, pieces)
  T.test(name, function()
    local ok, err = pcall(fn)
    T.ok(not ok, "no error raised")
    err = tostring(err)
    for _, p in ipairs(pieces) do
      T.ok(err:find(p, 1, true), "message " .. string.format("%q", err) .. " lacks " .. string.format("%q", p))
    end
  end)
  count = count + 1
end

-- mismatched shapes
bad("add: shapes that do not broadcast", function() return ember.ones(2, 3) + ember.ones(4) end,
    {"add", "[2, 3]", "[4]", "3 vs 4"})
bad("ember.mul: shapes that do not broadcast", function() return ember.mul(ember.ones(3, 2), ember.ones(3)) end,
    {"mul", "[3, 2]", "[3]"})
bad("pow: shapes that do not broadcast", function() return ember.ones(2) ^ ember.ones(3) end,
    {"pow", "[2]", "[3]"})
bad("where: three shapes", function() return ember.where(ember.ones(2):bool(), ember.ones(3), ember.ones(2)) end,
    {"where", "[2]", "[3]"})
bad("copy_: source shape", function() return ember.ones(2, 3):copy_(ember.ones(4)) end,
    {"copy_", "[2, 3]", "[4]"})
bad("index assignment: tensor of the wrong shape", function() local t = ember.zeros(2, 3); t[1] = ember.ones(4) end,
    {"index assignment", "[3]", "[4]"})
bad("mask assignment: wrong number of values", function() local t = ember.zeros(3); t[t:eq(0)] = ember.ones(2) end,
    {"masked", "[2]", "3"})

-- matmul family
bad("matmul: inner sizes", function() return ember.ones(64, 784):matmul(ember.ones(512, 10)) end,
    {"matmul: shapes [64, 784] and [512, 10] do not match (784 vs 512)"})
bad("mm: a 3-D operand", function() return ember.ones(2, 3, 4):mm(ember.ones(4, 2)) end,
    {"mm", "2-D", "[2, 3, 4]"})
bad("bmm: batch sizes", function() return ember.ones(2, 3, 4):bmm(ember.ones(3, 4, 2)) end,
    {"bmm", "[2, 3, 4]", "[3, 4, 2]", "2 vs 3"})
bad("mv: vector length", function() return ember.ones(2, 3):mv(ember.ones(4)) end,
    {"mv", "[2, 3]", "[4]", "3 vs 4"})
bad("dot: lengths", function() return ember.ones(3):dot(ember.ones(4)) end,
    {"dot", "[3]", "[4]"})
bad("outer: a matrix", function() return ember.ones(2, 3):outer(ember.ones(3)) end,
    {"outer", "1-D", "[2, 3]"})
bad("matmul: a 0-dim operand", function() return ember.tensor(1.0):matmul(ember.ones(2)) end,
    {"matmul", "0"})

-- cat / stack
bad("cat: mismatched shapes", function() return ember.cat({ember.ones(2, 3), ember.ones(2, 4)}, 1) end,
    {"cat", "[2, 4]", "[2, 3]"})
bad("stack: mismatched shapes", function() return ember.stack({ember.ones(2), ember.ones(3)}) end,
    {"stack", "[2]", "[3]"})
bad("cat: a non-tensor in the list", function() return ember.cat({ember.ones(2), 5}) end,
    {"cat", "element 2", "number"})
bad("cat: empty list", function() return ember.cat({}) end, {"cat", "non-empty"})
bad("stack: dim out of range", function() return ember.stack({ember.ones(2), ember.ones(2)}, 4) end,
    {"stack", "dim 4", "2 dims"})

-- dtypes
bad("add_: float result into an int tensor", function() return ember.tensor{1, 2}:add_(0.5) end,
    {"add_", "float32", "int64"})
bad("mean of an int tensor", function() return ember.tensor{1, 2}:mean() end, {"mean", "int64"})
bad("softmax of an int tensor", function() return ember.tensor{1, 2}:softmax(1) end, {"softmax", "int64"})
bad("masked_fill: a float mask", function() return ember.ones(2):masked_fill(ember.ones(2), 1) end,
    {"masked_fill", "bool", "float32"})
bad("gather: float indices", function() return ember.ones(2, 3):gather(2, ember.tensor{{1.0}, {1.0}}) end,
    {"gather", "float32"})
bad("index_select: float indices", function() return ember.ones(3):index_select(1, ember.tensor{1.5}) end,
    {"index_select", "float32"})
bad("neg of a bool tensor", function() return -ember.tensor{true} end, {"neg", "bool"})
bad("requires_grad_ on an int tensor", function() return ember.tensor{1, 2}:requires_grad_() end,
    {"requires_grad_", "int64"})
bad("requires_grad option on an int tensor", function() return ember.zeros(2, {dtype = "int64", requires_grad = true}) end,
    {"zeros", "float"})
bad("rand of an int dtype", function() return ember.rand(3, {dtype = "int64"}) end, {"rand", "int64"})
bad("integer tensor to a negative number power", function() return ember.tensor{2, 3} ^ -1 end,
    {"pow", "negative", "-1"})
T.test("integer pow by a tensor exponent keeps the elementwise rule", function()
  local r = ember.pow(ember.tensor{1, -1, 2}, ember.tensor{-1, -1, -1})
  T.same(r:totable(), {1, -1, 0})
  T.same((ember.tensor{2, 3} ^ 2):totable(), {4, 9})
end)
bad("integer remainder by zero", function() return ember.tensor{1, 2} % 0 end, {"remainder", "zero"})

-- unknown dtypes and options
bad("to: unknown dtype", function() return ember.zeros(2):to("float16") end,
    {"to", "unknown dtype 'float16'"})
bad("zeros: unknown dtype in options", function() return ember.zeros(2, {dtype = "half"}) end,
    {"zeros", "unknown dtype 'half'"})
bad("ones: dtype of the wrong type", function() return ember.ones(2, {dtype = 5}) end,
    {"ones", "dtype", "number"})
bad("zeros: misspelt option name", function() return ember.zeros(2, {dtpye = "float64"}) end,
    {"zeros", "unknown option 'dtpye'"})
bad("tensor: requires_grad of the wrong type", function() return ember.tensor({1.0}, {requires_grad = "yes"}) end,
    {"tensor", "requires_grad", "string"})
bad("set_printoptions: unknown option", function() ember.set_printoptions{precisoin = 3} end,
    {"set_printoptions", "unknown option 'precisoin'"})
bad("set_printoptions: negative value", function() ember.set_printoptions{precision = -5} end,
    {"set_printoptions", "precision", "-5"})
bad("var: bad option value", function() return ember.ones(3):var(1, {correction = "x"}) end,
    {"var", "correction"})
bad("norm: bad p", function() return ember.ones(6):norm("x") end, {"norm", "p"})

-- non-tensor arguments
bad("exp of a string", function() return ember.exp("x") end, {"exp", "tensor expected", "string"})
bad("exp of a table", function() return ember.exp({1, 2}) end, {"exp", "table"})
bad("add of a string", function() return ember.ones(2) + "x" end, {"add", "string"})
bad("logical_and of a string", function() return ember.ones(2):logical_and("x") end, {"logical_and", "string"})
bad("fill_ with a string", function() return ember.ones(2):fill_("x") end, {"fill_", "string"})
bad("clamp with a string", function() return ember.ones(2):clamp("a") end, {"clamp", "string"})
bad("tensor of a file handle", function() return ember.tensor(io.stdout) end, {"tensor", "userdata"})
bad("index assignment of a string", function() local t = ember.zeros(2, 3); t[1] = "x" end,
    {"index assignment", "string"})

-- ragged and malformed nested tables
bad("tensor: ragged rows", function() return ember.tensor{{1, 2}, {3}} end, {"tensor", "ragged", "1", "2"})
bad("tensor: a number among rows", function() return ember.tensor{{1, 2}, 3} end, {"tensor", "ragged", "number"})
bad("tensor: a string element", function() return ember.tensor{{1, "a"}} end, {"tensor", "string"})
bad("tensor: a table that contains itself", function() local a = {}; a[1] = a; return ember.tensor(a) end,
    {"tensor", "too many dims"})

-- sizes
bad("zeros: negative size", function() return ember.zeros(2, -1) end, {"zeros", "-1", "dim 2"})
bad("randn: negative size", function() return ember.randn(3, -3) end, {"randn", "-3"})
bad("zeros: fractional size", function() return ember.zeros(2.5) end, {"zeros", "2.5"})
bad("zeros: too many dims", function() local s = {}; for i = 1, 100 do s[i] = 1 end; return ember.zeros(s) end,
    {"zeros", "100 dims"})
bad("ones: element count beyond int64", function() return ember.ones(2 ^ 31, 2 ^ 31) end,
    {"ones", "[2147483648, 2147483648]", "too large"})
bad("expand: element count beyond int64", function() return ember.ones(1):expand(2 ^ 40, 2 ^ 40, 2 ^ 40) end,
    {"expand", "[1099511627776, 1099511627776, 1099511627776]", "too large"})
-- ASan aborts on an 8 TB request unless told to return NULL (make sanitize does)
if not os.getenv("SANITIZE") or (os.getenv("ASAN_OPTIONS") or ""):find("allocator_may_return_null=1", 1, true) then
  bad("full: out of memory", function() return ember.full({2 ^ 40}, 1) end, {"full", "out of memory"})
else
  io.write("SKIP full: out of memory (ASAN_OPTIONS lacks allocator_may_return_null=1)\n")
end
bad("randperm: negative n", function() return ember.randperm(-1) end, {"randperm", "-1"})
bad("linspace: negative count", function() return ember.linspace(0, 1, -2) end, {"linspace", "-2"})
bad("eye: negative size", function() return ember.eye(-2) end, {"eye", "-2"})
bad("arange: zero step", function() return ember.arange(0, 5, 0) end, {"arange", "step 0"})
bad("randint: empty range", function() return ember.randint(5, 5, {3}) end, {"randint", "[5, 5)"})
bad("one_hot: negative class count", function() return ember.one_hot(ember.tensor{1}, -3) end, {"one_hot", "-3"})
bad("chunk: zero chunks", function() return ember.ones(4):chunk(0) end, {"chunk", "0"})
bad("split: zero size", function() return ember.ones(4):split(0) end, {"split", "0"})
bad("set_num_threads(0)", function() return ember.set_num_threads(0) end, {"set_num_threads", "0"})

-- views
bad("view of a non-contiguous tensor", function() return ember.zeros(2, 3):t():view(6) end,
    {"view", "[6]", "[3, 2]", "reshape"})
bad("view: wrong element count", function() return ember.zeros(2, 3):view(4) end, {"view", "[4]", "6"})
bad("view: two -1", function() return ember.zeros(2, 3):view(-1, -1) end, {"view", "-1"})
bad("reshape: no inferable size", function() return ember.ones(6):reshape(4, -1) end, {"reshape", "[4, -1]", "6"})
bad("expand: incompatible size", function() return ember.ones(2, 3):expand(4, 3) end, {"expand", "[2, 3]", "[4, 3]"})
bad("expand_as: incompatible shape", function() return ember.ones(2, 3):expand_as(ember.ones(3, 2)) end,
    {"expand", "[2, 3]", "[3, 2]"})
bad("permute: repeated dim", function() return ember.ones(2, 3):permute(1, 1) end, {"permute", "dim 1"})
bad("permute: wrong count", function() return ember.ones(2, 3):permute(1) end, {"permute", "1", "2 dims"})
bad("flatten: start after stop", function() return ember.ones(2, 3, 4):flatten(3, 2) end, {"flatten", "3", "2"})

-- dims
bad("sum: dim out of range", function() return ember.zeros(2, 3):sum(3) end, {"sum", "dim 3", "2 dims"})
bad("sum: dim 0", function() return ember.zeros(2, 3):sum(0) end, {"sum", "dim 0", "1-based"})
bad("transpose: dim out of range", function() return ember.ones(2, 3):transpose(1, 3) end, {"transpose", "dim 3"})
bad("squeeze: dim out of range", function() return ember.ones(2, 3):squeeze(4) end, {"squeeze", "dim 4"})
bad("unsqueeze: dim out of range", function() return ember.ones(2, 3):unsqueeze(5) end, {"unsqueeze", "dim 5"})
bad("softmax: dim out of range", function() return ember.ones(4):softmax(2) end, {"softmax", "dim 2"})
bad("sort: dim out of range", function() return ember.ones(4):sort(3) end, {"sort", "dim 3"})
bad("size: dim out of range", function() return ember.ones(6):size(2) end, {"size", "dim 2"})
bad("stride: dim 0", function() return ember.ones(3):stride(0) end, {"stride", "dim 0"})
bad("max: the smallest integer as dim", function() return ember.ones(4):max(math.mininteger) end,
    {"max", "dim -9223372036854775808"})

-- indices
bad("t[i] out of range", function() return ember.zeros(3)[4] end, {"index", "index 4", "size 3"})
bad("t[0]", function() return ember.zeros(3)[0] end, {"index", "index 0", "1-based"})
bad("t[-4] on 3 elements", function() return ember.zeros(3)[-4] end, {"index", "-4", "size 3"})
bad("t[1.5]", function() return ember.zeros(3)[1.5] end, {"index", "1.5"})
bad("t[NaN]", function() return ember.zeros(3)[0 / 0] end, {"index", "nan"})
bad("t[math.mininteger]", function() return ember.zeros(3)[math.mininteger] end, {"index", "-9223372036854775808"})
bad("t[{...}] with too many indices", function() return ember.zeros(2, 3)[{1, 1, 1}] end, {"index", "3 indices", "2 dims"})
bad("t[{...}] range past the end", function() return ember.zeros(2, 3)[{{1, 5}}] end, {"index", "size 2"})
bad("t[{...}] zero step", function() return ember.zeros(2, 3)[{{1, 2, 0}}] end, {"index", "step", "{1, 2, 0}"})
bad("t[{...}] a string", function() return ember.ones(4)[{"a"}] end, {"index", "string"})
bad("t[i] = v out of range", function() local t = ember.zeros(2); t[3] = 1 end, {"index assignment", "index 3", "size 2"})
bad("item of a 0-dim index", function() return ember.tensor(1)[1] end, {"index", "0-dim"})
bad("mask of another shape", function() return ember.ones(2, 4)[ember.tensor{true, false, true}] end, {"[2, 4]", "[3]"})
bad("narrow past the end", function() return ember.arange(5):narrow(1, 4, 3) end, {"narrow", "start 4", "length 3", "size 5"})
bad("select out of range", function() return ember.arange(5):select(1, 6) end, {"select", "index 6", "size 5"})
bad("gather: index out of range", function() return ember.ones(2, 3):gather(2, ember.tensor{{4}, {1}}) end,
    {"gather", "index 4", "size 3"})
bad("scatter_add: index out of range", function() return ember.zeros(3):scatter_add(1, ember.tensor{5}, ember.tensor{1.0}) end,
    {"scatter_add", "index 5", "size 3"})
bad("index_select: index out of range", function() return ember.ones(2, 3):index_select(2, ember.tensor{4}) end,
    {"index_select", "4"})
bad("one_hot: label 0", function() return ember.one_hot(ember.tensor{0, 1}, 3) end, {"one_hot", "0", "3 classes"})
bad("one_hot: label past n", function() return ember.one_hot(ember.tensor{1, 5}, 3) end, {"one_hot", "5", "3 classes"})
bad("topk: k larger than the dim", function() return ember.ones(4):topk(5) end, {"topk", "5", "size 4"})

-- other states
bad("item of a multi-element tensor", function() return ember.zeros(2):item() end, {"item", "[2]", "2 elements"})
bad("# of a 0-dim tensor", function() return #ember.tensor(1) end, {"0-dim"})
bad("backward of a non-scalar", function() return (ember.ones(2):requires_grad_() * 2):backward() end,
    {"backward", "[2]"})
bad("use after <close>", function()
  local t = ember.ones(2)
  do local c <close> = t end
  return t:sum()
end, {"closed"})

T.test("at least 25 different bad calls were checked", function()
  T.ok(count >= 25, "only " .. count .. " bad calls")
end)

T.test("the process is healthy after every bad call", function()
  ember.set_printoptions{precision = 4, threshold = 1000, edgeitems = 3, linewidth = 80}
  collectgarbage()
  local a = ember.arange(12):float():view(3, 4)
  T.same(a:sum(1):totable(), {12, 15, 18, 21})
  T.eq((a:matmul(a:t()))[1][1], 14)
  T.ok(tostring(a):find("11.", 1, true))
end)

T.done()
