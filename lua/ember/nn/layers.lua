-- ember.nn.layers: the feed-forward layers of nn with PyTorch's parameter
-- names, shapes and default initialisation: Linear, Conv1d, Conv2d,
-- ConvTranspose2d, pooling, Flatten, Embedding, Dropout, BatchNorm1d/2d,
-- LayerNorm and the activations.  Each forward is one or two calls into the
-- C kernels (vm/nn_bind.c), after a cheap shape check whose error names the
-- layer and the shapes, e.g. "Linear: expected input with 784 features, got
-- 512 (input shape [64, 512])".
local ember = require("ember")
local mod = require("ember.nn.module")
local init = require("ember.nn.init")

local doc = ember.doc
local Module, Parameter = mod.Module, mod.Parameter
local shape_str = mod.shape_str
local L = {}

local SQRT5 = math.sqrt(5)

local function check_tensor(name, x)
  if not ember.is_tensor(x) then
    error(string.format("%s: expected a tensor input, got %s", name, type(x)), 3)
  end
end

-- a number or {a, b} -> a, b
local function pair(v, name, what)
  if type(v) == "table" then return v[1], v[2] or v[1] end
  if math.type(v) ~= "integer" then
    error(string.format("%s: %s must be an integer or {h, w}, got %s", name, what, tostring(v)), 4)
  end
  return v, v
end

local function positive(v, name, what)
  if math.type(v) ~= "integer" or v < 1 then
    error(string.format("%s: %s must be a positive integer, got %s", name, what, tostring(v)), 4)
  end
end

local function opt(opts, key, default)
  if opts == nil then return default end
  local v = opts[key]
  if v == nil then return default end
  return v
end

-- PyTorch's default for Linear and Conv: kaiming_uniform(a = sqrt 5) for
-- the weight (a bound of 1/sqrt(fan_in)) and U(-1/sqrt(fan_in), 1/sqrt(fan_in))
-- for the bias
local function reset_default(w, b)
  init.kaiming_uniform_(w, SQRT5)
  if b then
    local fan_in = init.calculate_fans(w)
    local bound = fan_in > 0 and 1 / math.sqrt(fan_in) or 0
    init.uniform_(b, -bound, bound)
  end
end

local function new_param(...)
  return Parameter(ember.empty(...))
end

-- ---------- Linear ----------

local Linear = Module:extend("Linear")
L.Linear = Linear

function Linear:init(in_features, out_features, opts)
  positive(in_features, "Linear", "in_features")
  positive(out_features, "Linear", "out_features")
  self.in_features, self.out_features = in_features, out_features
  self.weight = new_param(out_features, in_features)
  if opt(opts, "bias", true) then self.bias = new_param(out_features) end
  reset_default(self.weight, self.bias)
end

function Linear:forward(x)
  check_tensor("Linear", x)
  local shape = x.shape
  if #shape == 0 or shape[#shape] ~= self.in_features then
    error(string.format("Linear: expected input with %d features, got %s (input shape %s)", self.in_features,
                        #shape == 0 and "a 0-dim tensor" or tostring(shape[#shape]), shape_str(shape)), 2)
  end
  -- one fused op: the bias rides in the GEMM and dW comes out in weight's
  -- layout (x:matmul(W:t()) + b would copy a transposed gradient each step)
  return ember.linear(x, self.weight, self.bias)
end

function Linear:extra_repr()
  return string.format("%d -> %d%s", self.in_features, self.out_features, self.bias and "" or ", bias=false")
end

-- ---------- convolutions ----------

-- checks x (N, C, spatial...) or an unbatched (C, spatial...) input; returns
-- the batched x and whether it was unbatched
local function conv_input(name, x, channels, nspatial)
  check_tensor(name, x)
  local shape = x.shape
  local want = nspatial + 2
  local unbatched = #shape == want - 1
  if (#shape ~= want and not unbatched) or shape[unbatched and 1 or 2] ~= channels then
    local sp = nspatial == 1 and "L" or "H, W"
    error(string.format("%s: expected input (N, %d, %s) with %d channels, got shape %s", name, channels, sp,
                        channels, shape_str(shape)), 3)
  end
  if unbatched then x = x:unsqueeze(1) end
  return x, unbatched
end

-- the kernels need one float dtype; say how to fix a mismatch
local function same_dtype(name, x, w)
  if x.dtype ~= w.dtype then
    error(string.format("%s: input is %s but the layer's weights are %s (convert one: m:to(\"%s\") or x:to(\"%s\"))",
                        name, x.dtype, w.dtype, x.dtype, w.dtype), 3)
  end
end

local function conv_opts(self, name, opts, two)
  local s1, s2 = pair(opt(opts, "stride", 1), name, "stride")
  local d1, d2 = pair(opt(opts, "dilation", 1), name, "dilation")
  local p = opt(opts, "padding", 0)
  local p1, p2
  if p == "same" then
    -- PyTorch's "same" (stride 1): total padding d*(k-1), split evenly
    local k1, k2 = self.kernel_size[1], self.kernel_size[2] or self.kernel_size[1]
    if s1 ~= 1 or s2 ~= 1 then error(name .. ": padding='same' needs stride 1", 4) end
    local t1, t2 = d1 * (k1 - 1), d2 * (k2 - 1)
    if t1 % 2 ~= 0 or t2 % 2 ~= 0 then
      error(name .. ": padding='same' needs an odd effective kernel size", 4)
    end
    p1, p2 = t1 // 2, t2 // 2
  elseif p == "valid" then
    p1, p2 = 0, 0
  else
    p1, p2 = pair(p, name, "padding")
  end
  if two then
    self.stride, self.padding, self.dilation = {s1, s2}, {p1, p2}, {d1, d2}
  else
    self.stride, self.padding, self.dilation = s1, p1, d1
  end
end

local Conv1d = Module:extend("Conv1d")
L.Conv1d = Conv1d

function Conv1d:init(in_channels, out_channels, kernel_size, opts)
  positive(in_channels, "Conv1d", "in_channels")
  positive(out_channels, "Conv1d", "out_channels")
  positive(kernel_size, "Conv1d", "kernel_size")
  self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, {kernel_size}
  conv_opts(self, "Conv1d", opts, false)
  self.weight = new_param(out_channels, in_channels, kernel_size)
  if opt(opts, "bias", true) then self.bias = new_param(out_channels) end
  reset_default(self.weight, self.bias)
end

function Conv1d:forward(x)
  local xb, unbatched = conv_input("Conv1d", x, self.in_channels, 1)
  same_dtype("Conv1d", xb, self.weight)
  local y = ember.conv1d(xb, self.weight, self.bias, {stride = self.stride, padding = self.padding,
                                                      dilation = self.dilation})
  return unbatched and y:squeeze(1) or y
end

function Conv1d:extra_repr()
  return string.format("%d, %d, kernel_size=%d, stride=%d, padding=%d%s", self.in_channels, self.out_channels,
                       self.kernel_size[1], self.stride, self.padding, self.bias and "" or ", bias=false")
end

local Conv2d = Module:extend("Conv2d")
L.Conv2d = Conv2d

function Conv2d:init(in_channels, out_channels, kernel_size, opts)
  positive(in_channels, "Conv2d", "in_channels")
  positive(out_channels, "Conv2d", "out_channels")
  local kh, kw = pair(kernel_size, "Conv2d", "kernel_size")
  self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, {kh, kw}
  conv_opts(self, "Conv2d", opts, true)
  self.weight = new_param(out_channels, in_channels, kh, kw)
  if opt(opts, "bias", true) then self.bias = new_param(out_channels) end
  reset_default(self.weight, self.bias)
end

function Conv2d:forward(x)
  local xb, unbatched = conv_input("Conv2d", x, self.in_channels, 2)
  same_dtype("Conv2d", xb, self.weight)
  local sh = xb.shape
  local kh = self.dilation[1] * (self.kernel_size[1] - 1) + 1
  local kw = self.dilation[2] * (self.kernel_size[2] - 1) + 1
  if sh[3] + 2 * self.padding[1] < kh or sh[4] + 2 * self.padding[2] < kw then
    error(string.format("Conv2d: input %s is smaller than the kernel (%d x %d) after padding", shape_str(x.shape),
                        kh, kw), 2)
  end
  local y = ember.conv2d(xb, self.weight, self.bias, {stride = self.stride, padding = self.padding,
                                                      dilation = self.dilation})
  return unbatched and y:squeeze(1) or y
end

local function hw(t) return t[1] == t[2] and tostring(t[1]) or ("{" .. t[1] .. ", " .. t[2] .. "}") end

function Conv2d:extra_repr()
  return string.format("%d, %d, kernel_size=%s, stride=%s, padding=%s%s", self.in_channels, self.out_channels,
                       hw(self.kernel_size), hw(self.stride), hw(self.padding), self.bias and "" or ", bias=false")
end

local ConvTranspose2d = Module:extend("ConvTranspose2d")
L.ConvTranspose2d = ConvTranspose2d

function ConvTranspose2d:init(in_channels, out_channels, kernel_size, opts)
  positive(in_channels, "ConvTranspose2d", "in_channels")
  positive(out_channels, "ConvTranspose2d", "out_channels")
  local kh, kw = pair(kernel_size, "ConvTranspose2d", "kernel_size")
  self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, {kh, kw}
  conv_opts(self, "ConvTranspose2d", opts, true)
  self.output_padding = {pair(opt(opts, "output_padding", 0), "ConvTranspose2d", "output_padding")}
  -- weight (in, out, kh, kw): PyTorch's fan_in for its init is out*kh*kw
  self.weight = new_param(in_channels, out_channels, kh, kw)
  if opt(opts, "bias", true) then self.bias = new_param(out_channels) end
  reset_default(self.weight, self.bias)
end

function ConvTranspose2d:forward(x)
  local xb, unbatched = conv_input("ConvTranspose2d", x, self.in_channels, 2)
  same_dtype("ConvTranspose2d", xb, self.weight)
  local y = ember.conv_transpose2d(xb, self.weight, self.bias, {stride = self.stride, padding = self.padding,
                                   output_padding = self.output_padding, dilation = self.dilation})
  return unbatched and y:squeeze(1) or y
end

ConvTranspose2d.extra_repr = Conv2d.extra_repr

-- ---------- pooling ----------

-- (k [, stride or {stride=, padding=, ceil_mode=, ...}])
local function pool_init(self, name, k, arg, two)
  local o = type(arg) == "table" and arg or {stride = arg}
  if two then
    self.kernel_size = {pair(k, name, "kernel_size")}
    self.stride = o.stride and {pair(o.stride, name, "stride")} or {self.kernel_size[1], self.kernel_size[2]}
    self.padding = {pair(o.padding or 0, name, "padding")}
  else
    positive(k, name, "kernel_size")
    self.kernel_size = k
    self.stride = o.stride or k
    positive(self.stride, name, "stride")
    self.padding = o.padding or 0
  end
  self.ceil_mode = o.ceil_mode and true or false
  if o.count_include_pad ~= nil then self.count_include_pad = o.count_include_pad else self.count_include_pad = true end
end

local function pool_check(name, x, nspatial)
  check_tensor(name, x)
  local d = x:dim()
  if d ~= nspatial + 2 and d ~= nspatial + 1 then
    error(string.format("%s: expected input (N, C, %s), got shape %s", name, nspatial == 1 and "L" or "H, W",
                        shape_str(x.shape)), 3)
  end
end

local function pool_repr(self)
  local k, s = self.kernel_size, self.stride
  if type(k) == "table" then k, s = hw(k), hw(s) end
  return string.format("kernel_size=%s, stride=%s", k, s)
end

local function pool_class(cname, fname, two, avg)
  local C = Module:extend(cname)
  function C:init(k, arg) pool_init(self, cname, k, arg, two) end
  function C:forward(x)
    pool_check(cname, x, two and 2 or 1)
    local o = {stride = self.stride, padding = self.padding, ceil_mode = self.ceil_mode}
    if avg then o.count_include_pad = self.count_include_pad end
    return ember[fname](x, self.kernel_size, o)
  end
  C.extra_repr = pool_repr
  L[cname] = C
  doc(C, string.format("nn.%s(k [, stride or {stride=k, padding=0, ceil_mode=false%s}])\n\n" ..
      "%s pooling over (N, C, %s) inputs (also unbatched); kernel and stride a number%s.", cname,
      avg and ", count_include_pad=true" or "", avg and "Average" or "Max", two and "H, W" or "L",
      two and " or {h, w}" or ""))
  return C
end

pool_class("MaxPool1d", "max_pool1d", false, false)
pool_class("MaxPool2d", "max_pool2d", true, false)
pool_class("AvgPool1d", "avg_pool1d", false, true)
pool_class("AvgPool2d", "avg_pool2d", true, true)

local AdaptiveAvgPool2d = Module:extend("AdaptiveAvgPool2d")
L.AdaptiveAvgPool2d = AdaptiveAvgPool2d

function AdaptiveAvgPool2d:init(size)
  self.output_size = {pair(size, "AdaptiveAvgPool2d", "output size")}
end

function AdaptiveAvgPool2d:forward(x)
  pool_check("AdaptiveAvgPool2d", x, 2)
  return ember.adaptive_avg_pool2d(x, self.output_size)
end

function AdaptiveAvgPool2d:extra_repr() return "output_size=" .. hw(self.output_size) end

-- ---------- reshaping ----------

local Flatten = Module:extend("Flatten")
L.Flatten = Flatten

function Flatten:init(start_dim, end_dim)
  self.start_dim, self.end_dim = start_dim or 2, end_dim or -1
end

function Flatten:forward(x)
  check_tensor("Flatten", x)
  local d = x:dim()
  local s = self.start_dim < 0 and d + 1 + self.start_dim or self.start_dim
  if s < 1 or s > math.max(d, 1) then
    error(string.format("Flatten: start_dim %d is out of range for input shape %s", self.start_dim,
                        shape_str(x.shape)), 2)
  end
  return x:flatten(self.start_dim, self.end_dim)
end

function Flatten:extra_repr() return string.format("start_dim=%d, end_dim=%d", self.start_dim, self.end_dim) end

-- ---------- embedding ----------

local Embedding = Module:extend("Embedding")
L.Embedding = Embedding

function Embedding:init(num_embeddings, embedding_dim, opts)
  positive(num_embeddings, "Embedding", "num_embeddings")
  positive(embedding_dim, "Embedding", "embedding_dim")
  self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
  local pad = opt(opts, "padding_idx", nil)
  if pad ~= nil then
    if pad < 0 then pad = num_embeddings + 1 + pad end
    if math.type(pad) ~= "integer" or pad < 1 or pad > num_embeddings then
      error(string.format("Embedding: padding_idx must be in 1..%d, got %s", num_embeddings,
                          tostring(opts.padding_idx)), 3)
    end
  end
  self.padding_idx = pad
  self.weight = new_param(num_embeddings, embedding_dim)
  init.normal_(self.weight)
  if pad then ember.no_grad(function() self.weight[pad]:zero_() end) end
end

function Embedding:forward(ids)
  if not ember.is_tensor(ids) then
    if type(ids) == "table" or math.type(ids) == "integer" then
      ids = ember.tensor(ids)
    else
      error("Embedding: expected a tensor of 1-based ids, got " .. type(ids), 2)
    end
  end
  return ember.embedding(self.weight, ids, self.padding_idx)
end

function Embedding:extra_repr()
  return string.format("%d, %d%s", self.num_embeddings, self.embedding_dim,
                       self.padding_idx and (", padding_idx=" .. self.padding_idx) or "")
end

-- ---------- dropout ----------

local Dropout = Module:extend("Dropout")
L.Dropout = Dropout

function Dropout:init(p)
  p = p or 0.5
  if type(p) ~= "number" or p < 0 or p > 1 then
    error("Dropout: p must be a probability in [0, 1], got " .. tostring(p), 3)
  end
  self.p = p
end

function Dropout:forward(x)
  check_tensor("Dropout", x)
  return ember.dropout(x, self.p, self.training)
end

function Dropout:extra_repr() return "p=" .. self.p end

-- ---------- normalization ----------

local function batchnorm_class(cname, dims, dims_text)
  local C = Module:extend(cname)
  function C:init(num_features, opts)
    positive(num_features, cname, "num_features")
    self.num_features = num_features
    self.eps = opt(opts, "eps", 1e-5)
    self.momentum = opt(opts, "momentum", 0.1)
    if opts and opts.momentum == false then self.momentum = nil end  -- cumulative average
    self.affine = opt(opts, "affine", true)
    self.track_running_stats = opt(opts, "track_running_stats", true)
    if self.affine then
      self.weight = Parameter(ember.ones(num_features))
      self.bias = Parameter(ember.zeros(num_features))
    end
    if self.track_running_stats then
      self:register_buffer("running_mean", ember.zeros(num_features))
      self:register_buffer("running_var", ember.ones(num_features))
      self:register_buffer("num_batches_tracked", ember.tensor(0))
    end
  end
  function C:forward(x)
    check_tensor(cname, x)
    local shape = x.shape
    if not dims[#shape] or shape[2] ~= self.num_features then
      error(string.format("%s: expected input %s with %d channels, got shape %s", cname,
                          dims_text:gsub("C", tostring(self.num_features)), self.num_features, shape_str(shape)), 2)
    end
    local momentum = self.momentum
    if self.training and self.track_running_stats then
      local nbt = self.num_batches_tracked
      ember.no_grad(function() nbt:add_(1) end)
      if momentum == nil then momentum = 1 / nbt:item() end
    end
    local use_batch = self.training or not self.track_running_stats
    return ember.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_batch,
                            momentum or 0, self.eps)
  end
  function C:extra_repr()
    return string.format("%d, eps=%g, momentum=%s, affine=%s, track_running_stats=%s", self.num_features, self.eps,
                         tostring(self.momentum), tostring(self.affine), tostring(self.track_running_stats))
  end
  L[cname] = C
  doc(C, string.format("nn.%s(num_features [, {eps=1e-5, momentum=0.1, affine=true, track_running_stats=true}])\n\n" ..
      "Batch normalization of %s inputs over the batch (and length) per channel.  Training uses the batch\n" ..
      "statistics and updates running_mean / running_var (unbiased) with momentum (momentum=false: cumulative\n" ..
      "average); eval() uses the running statistics.  Parameters weight, bias; buffers running_mean,\n" ..
      "running_var, num_batches_tracked.", cname, dims_text))
  return C
end

batchnorm_class("BatchNorm1d", {[2] = true, [3] = true}, "(N, C) or (N, C, L)")
batchnorm_class("BatchNorm2d", {[4] = true}, "(N, C, H, W)")

local LayerNorm = Module:extend("LayerNorm")
L.LayerNorm = LayerNorm

function LayerNorm:init(normalized_shape, opts)
  if type(normalized_shape) == "number" then normalized_shape = {normalized_shape} end
  if type(normalized_shape) ~= "table" or #normalized_shape == 0 then
    error("LayerNorm: normalized_shape must be a positive integer or a list of them", 3)
  end
  for _, n in ipairs(normalized_shape) do positive(n, "LayerNorm", "normalized_shape") end
  self.normalized_shape = normalized_shape
  self.eps = opt(opts, "eps", 1e-5)
  self.elementwise_affine = opt(opts, "elementwise_affine", true)
  if self.elementwise_affine then
    self.weight = Parameter(ember.ones(normalized_shape))
    if opt(opts, "bias", true) then self.bias = Parameter(ember.zeros(normalized_shape)) end
  end
end

function LayerNorm:forward(x)
  check_tensor("LayerNorm", x)
  local shape, ns = x.shape, self.normalized_shape
  local ok = #shape >= #ns
  for i = 1, #ns do ok = ok and shape[#shape - #ns + i] == ns[i] end
  if not ok then
    error(string.format("LayerNorm: expected input ending in %s, got shape %s", shape_str(ns), shape_str(shape)), 2)
  end
  return ember.layer_norm(x, ns, self.weight, self.bias, self.eps)
end

function LayerNorm:extra_repr() return shape_str(self.normalized_shape) .. ", eps=" .. self.eps end

-- ---------- activations ----------

local function activation(cname, fn, text, init_fn, repr)
  local C = Module:extend(cname)
  if init_fn then C.init = init_fn end
  function C:forward(x)
    check_tensor(cname, x)
    return fn(self, x)
  end
  if repr then C.extra_repr = repr end
  L[cname] = C
  doc(C, text)
  return C
end

activation("ReLU", function(_, x) return x:relu() end, "nn.ReLU(): max(x, 0).")
activation("LeakyReLU", function(self, x) return x:leaky_relu(self.negative_slope) end,
           "nn.LeakyReLU([negative_slope=0.01]): x for x > 0, negative_slope * x otherwise.",
           function(self, slope) self.negative_slope = slope or 0.01 end,
           function(self) return "negative_slope=" .. self.negative_slope end)
-- the tanh form is composed from tensor ops (the C kernel is the exact erf form)
local GELU_C = math.sqrt(2 / math.pi)
local function gelu_tanh(x)
  return x * 0.5 * (1 + ((x + x * x * x * 0.044715) * GELU_C):tanh())
end

activation("GELU", function(self, x)
  if self.approximate == "tanh" then return gelu_tanh(x) end
  return x:gelu()
end, "nn.GELU([approximate='none']): x * Phi(x) (approximate='tanh' for the tanh form).",
function(self, approximate)
  self.approximate = approximate or "none"
  if self.approximate ~= "none" and self.approximate ~= "tanh" then
    error("GELU: approximate must be 'none' or 'tanh', got '" .. tostring(approximate) .. "'", 3)
  end
end)
activation("SiLU", function(_, x) return x:silu() end, "nn.SiLU(): x * sigmoid(x) (swish).")
activation("Sigmoid", function(_, x) return x:sigmoid() end, "nn.Sigmoid(): 1 / (1 + exp(-x)).")
activation("Tanh", function(_, x) return x:tanh() end, "nn.Tanh(): tanh(x).")
activation("Softplus", function(_, x) return x:softplus() end, "nn.Softplus(): log(1 + exp(x)).")
activation("Softmax", function(self, x) return x:softmax(self.dim) end,
           "nn.Softmax([dim=-1]): exp(x) / sum(exp(x)) along dim (1-based; -1 the last).",
           function(self, dim) self.dim = dim or -1 end, function(self) return "dim=" .. self.dim end)
activation("LogSoftmax", function(self, x) return x:log_softmax(self.dim) end,
           "nn.LogSoftmax([dim=-1]): log of softmax along dim, computed stably.",
           function(self, dim) self.dim = dim or -1 end, function(self) return "dim=" .. self.dim end)
local Identity = Module:extend("Identity")
L.Identity = Identity
function Identity:forward(...) return ... end
doc(Identity, "nn.Identity(): returns its arguments unchanged (a placeholder layer).")

-- ---------- docs ----------
doc(Linear, "nn.Linear(in_features, out_features [, {bias=true}])\n\n" ..
    "y = x W^T + b over the last dim of x (..., in) -> (..., out).  weight (out, in) from\n" ..
    "kaiming_uniform(a=sqrt 5), bias (out) from U(-1/sqrt(in), 1/sqrt(in)), as PyTorch.")
doc(Conv1d, "nn.Conv1d(in_channels, out_channels, k [, {stride=1, padding=0 or 'same', dilation=1, bias=true}])\n\n" ..
    "1-D convolution of (N, C_in, L) -> (N, C_out, L_out); weight (out, in, k), PyTorch's default init.")
doc(Conv2d, "nn.Conv2d(in_channels, out_channels, k [, {stride=1, padding=0 or 'same', dilation=1, bias=true}])\n\n" ..
    "2-D convolution of (N, C_in, H, W) -> (N, C_out, H_out, W_out); k, stride, padding, dilation a number or\n" ..
    "{h, w}; weight (out, in, kh, kw), PyTorch's default init.")
doc(ConvTranspose2d, "nn.ConvTranspose2d(in_channels, out_channels, k [, {stride=1, padding=0, output_padding=0, dilation=1, bias=true}])\n\n" ..
    "Transposed 2-D convolution (the gradient of Conv2d), for upsampling; weight (in, out, kh, kw).")
doc(AdaptiveAvgPool2d, "nn.AdaptiveAvgPool2d(size or {h, w}): average pooling of (N, C, H, W) to a fixed (h, w).")
doc(Flatten, "nn.Flatten([start_dim=2 [, end_dim=-1]]): flattens dims start..end (1-based, inclusive): (N, C, H, W) -> (N, C*H*W).")
doc(Embedding, "nn.Embedding(num_embeddings, embedding_dim [, {padding_idx=}])\n\n" ..
    "A lookup table: 1-based integer ids of any shape -> ids.shape + (embedding_dim).  weight\n" ..
    "(num, dim) from N(0, 1); the padding_idx row is zero and gets no gradient.")
doc(Dropout, "nn.Dropout([p=0.5]): in training zeroes each element with probability p and scales the rest by\n" ..
    "1/(1-p); identity in eval().  Seeded by ember.manual_seed.")
doc(LayerNorm, "nn.LayerNorm(normalized_shape [, {eps=1e-5, elementwise_affine=true, bias=true}])\n\n" ..
    "Normalizes over the last dims (a number or a shape table), then weight * x + bias.")

return L
