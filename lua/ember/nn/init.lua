-- ember.nn.init: weight initialisation (nn.init), with PyTorch's formulas
-- for fans and gains.  Every function fills its tensor in place under
-- no_grad (so it works on parameters) and returns it; random fills use the
-- seeded generator (ember.manual_seed).
local ember = require("ember")

local doc = ember.doc
local I = {}

local function check(t, fname)
  if not ember.is_tensor(t) then error("nn.init." .. fname .. ": expected a tensor, got " .. type(t), 3) end
end

--- fan_in, fan_out of a weight: (out, in, k...) -> in*k, out*k
function I.calculate_fans(t, fname)
  local shape = t.shape
  if #shape < 2 then
    error(string.format("nn.init.%s: fan in and fan out need a tensor of at least 2 dims, got shape [%s]",
                        fname or "calculate_fans", table.concat(shape, ", ")), 3)
  end
  local receptive = 1
  for i = 3, #shape do receptive = receptive * shape[i] end
  return shape[2] * receptive, shape[1] * receptive
end

--- the recommended gain for a nonlinearity (PyTorch's calculate_gain)
function I.calculate_gain(nonlinearity, param)
  nonlinearity = nonlinearity or "leaky_relu"
  local linear = {linear = true, conv1d = true, conv2d = true, conv3d = true, conv_transpose1d = true,
                  conv_transpose2d = true, conv_transpose3d = true, sigmoid = true}
  if linear[nonlinearity] then return 1 end
  if nonlinearity == "tanh" then return 5 / 3 end
  if nonlinearity == "relu" then return math.sqrt(2) end
  if nonlinearity == "leaky_relu" then
    local slope = param == nil and 0.01 or param
    return math.sqrt(2 / (1 + slope * slope))
  end
  if nonlinearity == "selu" then return 3 / 4 end
  error("nn.init.calculate_gain: unsupported nonlinearity '" .. tostring(nonlinearity) .. "'", 2)
end

local function fill(t, fn)
  ember.no_grad(fn)
  return t
end

function I.uniform_(t, a, b)
  check(t, "uniform_")
  return fill(t, function() t:uniform_(a or 0, b or 1) end)
end

function I.normal_(t, mean, std)
  check(t, "normal_")
  return fill(t, function() t:normal_(mean or 0, std or 1) end)
end

function I.constant_(t, v)
  check(t, "constant_")
  return fill(t, function() t:fill_(v) end)
end

function I.zeros_(t)
  check(t, "zeros_")
  return fill(t, function() t:zero_() end)
end

function I.ones_(t)
  check(t, "ones_")
  return fill(t, function() t:fill_(1) end)
end

function I.xavier_uniform_(t, gain)
  check(t, "xavier_uniform_")
  local fi, fo = I.calculate_fans(t, "xavier_uniform_")
  local bound = (gain or 1) * math.sqrt(6 / (fi + fo))
  return fill(t, function() t:uniform_(-bound, bound) end)
end

function I.xavier_normal_(t, gain)
  check(t, "xavier_normal_")
  local fi, fo = I.calculate_fans(t, "xavier_normal_")
  local std = (gain or 1) * math.sqrt(2 / (fi + fo))
  return fill(t, function() t:normal_(0, std) end)
end

local function kaiming_std(t, a, mode, nonlinearity, fname)
  local fi, fo = I.calculate_fans(t, fname)
  mode = mode or "fan_in"
  local fan
  if mode == "fan_in" then fan = fi elseif mode == "fan_out" then fan = fo
  else error("nn.init." .. fname .. ": mode must be 'fan_in' or 'fan_out', got '" .. tostring(mode) .. "'", 3) end
  local gain = I.calculate_gain(nonlinearity or "leaky_relu", a or 0)
  return gain / math.sqrt(fan)
end

function I.kaiming_uniform_(t, a, mode, nonlinearity)
  check(t, "kaiming_uniform_")
  if type(a) == "table" then a, mode, nonlinearity = a.a, a.mode, a.nonlinearity end
  local bound = math.sqrt(3) * kaiming_std(t, a, mode, nonlinearity, "kaiming_uniform_")
  return fill(t, function() t:uniform_(-bound, bound) end)
end

function I.kaiming_normal_(t, a, mode, nonlinearity)
  check(t, "kaiming_normal_")
  if type(a) == "table" then a, mode, nonlinearity = a.a, a.mode, a.nonlinearity end
  local std = kaiming_std(t, a, mode, nonlinearity, "kaiming_normal_")
  return fill(t, function() t:normal_(0, std) end)
end

doc(I, "nn.init: in-place weight initialisation with PyTorch's formulas (fans from (out, in, k...) shapes).")
doc(I.calculate_fans, "nn.init.calculate_fans(t) -> fan_in, fan_out: for (out, in, k...) weights, in*prod(k) and out*prod(k).")
doc(I.calculate_gain, "nn.init.calculate_gain(nonlinearity [, param]) -> number: 1 (linear, conv, sigmoid), 5/3 (tanh), sqrt(2) (relu), sqrt(2/(1+slope^2)) (leaky_relu), 3/4 (selu).")
doc(I.uniform_, "nn.init.uniform_(t [, a=0, b=1]) -> t: fills with U(a, b).")
doc(I.normal_, "nn.init.normal_(t [, mean=0, std=1]) -> t: fills with N(mean, std^2).")
doc(I.constant_, "nn.init.constant_(t, v) -> t: fills with v.")
doc(I.zeros_, "nn.init.zeros_(t) -> t: fills with 0.")
doc(I.ones_, "nn.init.ones_(t) -> t: fills with 1.")
doc(I.xavier_uniform_, "nn.init.xavier_uniform_(t [, gain=1]) -> t: U(-b, b) with b = gain*sqrt(6/(fan_in+fan_out)).")
doc(I.xavier_normal_, "nn.init.xavier_normal_(t [, gain=1]) -> t: N(0, std^2) with std = gain*sqrt(2/(fan_in+fan_out)).")
doc(I.kaiming_uniform_, "nn.init.kaiming_uniform_(t [, a=0 [, mode='fan_in' [, nonlinearity='leaky_relu']]]) -> t\n\n" ..
    "U(-b, b) with b = gain*sqrt(3/fan), gain = calculate_gain(nonlinearity, a).  Options may also come as {a=, mode=, nonlinearity=}.\n" ..
    "PyTorch's default Linear/Conv init is kaiming_uniform_(w, math.sqrt(5)).")
doc(I.kaiming_normal_, "nn.init.kaiming_normal_(t [, a=0 [, mode='fan_in' [, nonlinearity='leaky_relu']]]) -> t: N(0, (gain/sqrt(fan))^2).")

return I
