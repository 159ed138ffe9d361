-- ember.nn.activation: the activations of nn beyond ReLU/GELU/SiLU/...,
-- as functions (nn.elu, nn.F.elu, ...) and as modules (nn.ELU(), ...), with
-- PyTorch's names, parameters and defaults.  The hot ones (elu, selu, celu,
-- hardtanh, relu6, hardsigmoid, hardswish, mish, logsigmoid, prelu) are the
-- C kernels of nn/activation.c; the rare ones (softsign, tanhshrink,
-- softshrink, hardshrink, threshold, softmin, glu) compose tensor ops, so
-- autograd works through them without rules of their own.
-- Modules take PyTorch's positional arguments, or one options table with
-- the same names: nn.ELU(0.5) or nn.ELU{alpha = 0.5}.
local ember = require("ember")
local mod = require("ember.nn.module")

local doc = ember.doc
local Module, Parameter = mod.Module, mod.Parameter
local shape_str = mod.shape_str
local A = {}   -- functions (installed into nn and nn.F)
local C = {}   -- module classes (installed into nn)

local function check_tensor(name, x)
  if not ember.is_tensor(x) then
    error(string.format("%s: expected a tensor input, got %s", name, type(x)), 3)
  end
end

local function number_arg(name, what, v, default)
  if v == nil then return default end
  if type(v) ~= "number" or v ~= v then
    error(string.format("%s: %s must be a number, got %s", name, what, tostring(v)), 4)
  end
  return v
end

-- a float tensor (the composed activations need one, like the C kernels)
local function float_input(name, x)
  check_tensor(name, x)
  if x.dtype ~= "float32" and x.dtype ~= "float64" then
    error(string.format("%s: input must be float32 or float64, got %s", name, x.dtype), 3)
  end
end

-- ---------- functions ----------

for _, n in ipairs({"elu", "selu", "celu", "hardtanh", "relu6", "hardsigmoid", "hardswish", "mish",
                    "logsigmoid", "prelu"}) do
  A[n] = ember[n]
end

function A.softsign(x)
  float_input("softsign", x)
  return x / (x:abs() + 1)
end

function A.tanhshrink(x)
  float_input("tanhshrink", x)
  return x - x:tanh()
end

local function lambd_arg(name, l)
  l = number_arg(name, "lambd", l, 0.5)
  if l < 0 then error(string.format("%s: lambd must be >= 0, got %g", name, l), 3) end
  return l
end

function A.softshrink(x, lambd)
  float_input("softshrink", x)
  local l = lambd_arg("softshrink", lambd)
  -- x - l above l, x + l below -l, 0 between: x - clamp(x, -l, l)
  return x - x:clamp(-l, l)
end

function A.hardshrink(x, lambd)
  float_input("hardshrink", x)
  local l = lambd_arg("hardshrink", lambd)
  return ember.where(x:abs():gt(l), x, 0)
end

function A.threshold(x, threshold, value)
  float_input("threshold", x)
  threshold = number_arg("threshold", "threshold", threshold)
  value = number_arg("threshold", "value", value)
  if threshold == nil or value == nil then error("threshold: usage threshold(x, threshold, value)", 2) end
  return ember.where(x:gt(threshold), x, value)
end

function A.softmin(x, dim)
  float_input("softmin", x)
  return (-x):softmax(dim or -1)
end

function A.glu(x, dim)
  check_tensor("glu", x)
  dim = dim or -1
  if math.type(dim) ~= "integer" then error("glu: dim must be an integer, got " .. tostring(dim), 2) end
  local d = dim < 0 and x:dim() + 1 + dim or dim
  if d < 1 or d > x:dim() then
    error(string.format("glu: dim %s is out of range for input shape %s", tostring(dim), shape_str(x.shape)), 2)
  end
  local n = x.shape[d]
  if n % 2 ~= 0 then
    error(string.format("glu: halving dim %d needs an even size, got %d (input shape %s)", dim, n,
                        shape_str(x.shape)), 2)
  end
  return x:narrow(d, 1, n // 2) * x:narrow(d, n // 2 + 1, n // 2):sigmoid()
end

-- ---------- modules ----------

-- args(opts_or_first, ...): one options table, or positional values named by keys
local function named(keys, defaults, ...)
  local first = ...
  local v = {}
  if type(first) == "table" and not ember.is_tensor(first) then
    for _, k in ipairs(keys) do v[k] = first[k] end
  else
    local a = table.pack(...)
    for i, k in ipairs(keys) do v[k] = a[i] end
  end
  for _, k in ipairs(keys) do if v[k] == nil then v[k] = defaults[k] end end
  return v
end

-- an activation module: keys (its options, in PyTorch's positional order)
-- are stored as fields; fn(self, x) computes it
local function activation(cname, keys, defaults, fn, text)
  local M = Module:extend(cname)
  function M:init(...)
    local v = named(keys, defaults, ...)
    for _, k in ipairs(keys) do
      if k ~= "inplace" and type(v[k]) ~= "number" then
        error(string.format("%s: %s must be a number, got %s", cname, k, tostring(v[k])), 3)
      end
      self[k] = v[k]
    end
    if self._check_args then self:_check_args(cname) end
  end
  function M:forward(x)
    check_tensor(cname, x)
    return fn(self, x)
  end
  if #keys > 0 then
    function M:extra_repr()
      local parts = {}
      for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. tostring(self[k]) end
      return table.concat(parts, ", ")
    end
  end
  C[cname] = M
  doc(M, text)
  return M
end

activation("ELU", {"alpha"}, {alpha = 1}, function(s, x) return ember.elu(x, s.alpha) end,
           "nn.ELU([alpha=1]): x for x > 0, alpha * (exp(x) - 1) otherwise.")
activation("SELU", {}, {}, function(_, x) return ember.selu(x) end,
           "nn.SELU(): scale * elu(x, alpha), alpha = 1.6733, scale = 1.0507 (self-normalizing networks).")
activation("CELU", {"alpha"}, {alpha = 1}, function(s, x) return ember.celu(x, s.alpha) end,
           "nn.CELU([alpha=1]): max(0, x) + min(0, alpha * (exp(x / alpha) - 1)).")
local Hardtanh = activation("Hardtanh", {"min_val", "max_val"}, {min_val = -1, max_val = 1},
           function(s, x) return ember.hardtanh(x, s.min_val, s.max_val) end,
           "nn.Hardtanh([min_val=-1 [, max_val=1]]): x clamped to [min_val, max_val].")
function Hardtanh:_check_args()
  if self.min_val > self.max_val then
    error(string.format("Hardtanh: min_val (%g) must not be greater than max_val (%g)", self.min_val,
                        self.max_val), 4)
  end
end
activation("ReLU6", {}, {}, function(_, x) return ember.relu6(x) end, "nn.ReLU6(): min(max(x, 0), 6).")
activation("Hardsigmoid", {}, {}, function(_, x) return ember.hardsigmoid(x) end,
           "nn.Hardsigmoid(): clamp(x/6 + 1/2, 0, 1).")
activation("Hardswish", {}, {}, function(_, x) return ember.hardswish(x) end,
           "nn.Hardswish(): x * hardsigmoid(x).")
activation("Mish", {}, {}, function(_, x) return ember.mish(x) end, "nn.Mish(): x * tanh(softplus(x)).")
activation("LogSigmoid", {}, {}, function(_, x) return ember.logsigmoid(x) end,
           "nn.LogSigmoid(): log(sigmoid(x)), computed stably.")
activation("Softsign", {}, {}, function(_, x) return A.softsign(x) end, "nn.Softsign(): x / (1 + |x|).")
activation("Tanhshrink", {}, {}, function(_, x) return A.tanhshrink(x) end, "nn.Tanhshrink(): x - tanh(x).")
local function lambd_check(self, cname)
  if self.lambd < 0 then error(string.format("%s: lambd must be >= 0, got %g", cname, self.lambd), 4) end
end
activation("Softshrink", {"lambd"}, {lambd = 0.5}, function(s, x) return A.softshrink(x, s.lambd) end,
           "nn.Softshrink([lambd=0.5]): x - lambd above lambd, x + lambd below -lambd, 0 between.")._check_args = lambd_check
activation("Hardshrink", {"lambd"}, {lambd = 0.5}, function(s, x) return A.hardshrink(x, s.lambd) end,
           "nn.Hardshrink([lambd=0.5]): x where |x| > lambd, else 0.")._check_args = lambd_check
activation("Threshold", {"threshold", "value"}, {}, function(s, x) return A.threshold(x, s.threshold, s.value) end,
           "nn.Threshold(threshold, value): x where x > threshold, else value.")
activation("Softmin", {"dim"}, {dim = -1}, function(s, x) return A.softmin(x, s.dim) end,
           "nn.Softmin([dim=-1]): softmax(-x) along dim (1-based).")
activation("GLU", {"dim"}, {dim = -1}, function(s, x) return A.glu(x, s.dim) end,
           "nn.GLU([dim=-1]): gated linear unit: a * sigmoid(b) with a, b the two halves of x along dim.")

-- PReLU: a learnable slope, one for all channels or one per channel
local PReLU = Module:extend("PReLU")
C.PReLU = PReLU

function PReLU:init(...)
  local v = named({"num_parameters", "init"}, {num_parameters = 1, init = 0.25}, ...)
  if math.type(v.num_parameters) ~= "integer" or v.num_parameters < 1 then
    error("PReLU: num_parameters must be a positive integer, got " .. tostring(v.num_parameters), 3)
  end
  if type(v.init) ~= "number" then error("PReLU: init must be a number, got " .. tostring(v.init), 3) end
  self.slopes = v.num_parameters   -- (not num_parameters: that is Module's parameter count)
  self.weight = Parameter(ember.full({v.num_parameters}, v.init))
end

function PReLU:forward(x)
  check_tensor("PReLU", x)
  if x.dtype ~= self.weight.dtype then
    error(string.format("PReLU: input is %s but the weight is %s (convert one: m:to(\"%s\"))", x.dtype,
                        self.weight.dtype, x.dtype), 2)
  end
  return ember.prelu(x, self.weight)
end

function PReLU:extra_repr() return "num_parameters=" .. self.slopes end
doc(PReLU, "nn.PReLU([num_parameters=1 [, init=0.25]]): x for x > 0, a * x otherwise, with a learnable slope\n" ..
    "`weight` (num_parameters): one for all, or one per channel (dim 2 of the input).")

-- ---------- F.gelu with approximate ----------

local GELU_C = math.sqrt(2 / math.pi)
function A.gelu(x, approximate)
  if type(approximate) == "table" then approximate = approximate.approximate end
  approximate = approximate or "none"
  if approximate == "tanh" then
    check_tensor("gelu", x)
    return x * 0.5 * (1 + ((x + x * x * x * 0.044715) * GELU_C):tanh())
  elseif approximate ~= "none" then
    error("gelu: approximate must be 'none' or 'tanh', got '" .. tostring(approximate) .. "'", 2)
  end
  return ember.gelu(x)
end

doc(A.softsign, "nn.softsign(x) -> tensor: x / (1 + |x|).")
doc(A.tanhshrink, "nn.tanhshrink(x) -> tensor: x - tanh(x).")
doc(A.softshrink, "nn.softshrink(x [, lambd=0.5]) -> tensor: x - lambd above lambd, x + lambd below -lambd, else 0.")
doc(A.hardshrink, "nn.hardshrink(x [, lambd=0.5]) -> tensor: x where |x| > lambd, else 0.")
doc(A.threshold, "nn.threshold(x, threshold, value) -> tensor: x where x > threshold, else value.")
doc(A.softmin, "nn.softmin(x [, dim=-1]) -> tensor: softmax(-x) along dim (1-based).")
doc(A.glu, "nn.glu(x [, dim=-1]) -> tensor: a * sigmoid(b), a and b the halves of x along dim (its size must be even).")
doc(A.gelu, "nn.F.gelu(x [, approximate='none']) -> tensor: x * Phi(x); approximate='tanh' (or {approximate='tanh'}) for the tanh form.")

return {functions = A, modules = C}
