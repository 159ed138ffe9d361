-- ember.nn.loss: the losses of nn, as functions (nn.mse_loss, nn.cross_entropy,
-- ...) and as modules (nn.MSELoss(), nn.CrossEntropyLoss(), ...).  The
-- functions are the fused C kernels of vm/nn_bind.c; the modules keep their
-- options and call them.  Class targets are 1-based.
local ember = require("ember")
local mod = require("ember.nn.module")

local doc = ember.doc
local Module = mod.Module
local shape_str = mod.shape_str
local Lo = {}

local function tensor_arg(fname, what, v)
  if not ember.is_tensor(v) then
    error(string.format("%s: %s must be a tensor, got %s", fname, what, type(v)), 3)
  end
end

-- same-shape losses: a clearer message than a broadcast error when shapes
-- differ (PyTorch warns and broadcasts; a silent broadcast of (N,1) against
-- (N) is a classic bug, so ember refuses it)
local function same_shape(fname, a, b)
  tensor_arg(fname, "input", a)
  if not ember.is_tensor(b) then
    if type(b) == "number" or type(b) == "table" then return end  -- converted by the kernel
    error(string.format("%s: target must be a tensor, got %s", fname, type(b)), 3)
  end
  local sa, sb = a.shape, b.shape
  local same = #sa == #sb
  for i = 1, #sa do same = same and sa[i] == sb[i] end
  if not same then
    error(string.format("%s: input shape %s and target shape %s differ", fname, shape_str(sa), shape_str(sb)), 3)
  end
end

local function pair_loss(fname, kernel)
  return function(input, target, opts)
    same_shape(fname, input, target)
    return kernel(input, target, opts)
  end
end

Lo.mse_loss = pair_loss("mse_loss", ember.mse_loss)
Lo.l1_loss = pair_loss("l1_loss", ember.l1_loss)
Lo.smooth_l1_loss = pair_loss("smooth_l1_loss", ember.smooth_l1_loss)
Lo.bce_loss = pair_loss("bce_loss", ember.binary_cross_entropy)
Lo.bce_with_logits = pair_loss("bce_with_logits", ember.binary_cross_entropy_with_logits)
Lo.binary_cross_entropy = Lo.bce_loss
Lo.binary_cross_entropy_with_logits = Lo.bce_with_logits

-- class weights (PyTorch's weight=): per-sample losses from the kernel,
-- scaled by weight[target]; "mean" divides by the summed weights of the
-- targets that count (not ignore_index), as PyTorch
local function weighted(fname, kernel, input, target, opts)
  local weight = opts.weight
  if not ember.is_tensor(weight) or weight:dim() ~= 1 then
    error(fname .. ": weight must be a 1-D tensor with one weight per class", 3)
  end
  local classes = input:dim() == 1 and input.shape[1] or input.shape[2]
  if weight.shape[1] ~= classes then
    error(string.format("%s: weight has %d entries for %d classes", fname, weight.shape[1], classes), 3)
  end
  if not ember.is_tensor(target) or target.dtype == "float32" or target.dtype == "float64" then
    error(fname .. ": weight needs class-index targets", 3)
  end
  if (opts.label_smoothing or 0) ~= 0 then error(fname .. ": weight with label_smoothing is not supported", 3) end
  local per = kernel(input, target, {reduction = "none", ignore_index = opts.ignore_index})
  local t = target
  local counted
  if opts.ignore_index ~= nil then
    counted = target:ne(opts.ignore_index)
    t = ember.where(counted, target, 1)  -- any valid row for the gather; masked below
  end
  local w = weight:to(per.dtype):index_select(1, t:flatten()):view(per.shape)
  if counted then w = w * counted:to(per.dtype) end
  local loss = per * w
  local red = opts.reduction or "mean"
  if red == "none" then return loss end
  if red == "sum" then return loss:sum() end
  return loss:sum() / w:sum()
end

function Lo.cross_entropy(logits, target, opts)
  tensor_arg("cross_entropy", "logits", logits)
  if opts and opts.weight ~= nil then return weighted("cross_entropy", ember.cross_entropy, logits, target, opts) end
  return ember.cross_entropy(logits, target, opts)
end

function Lo.nll_loss(logp, target, opts)
  tensor_arg("nll_loss", "log-probabilities", logp)
  if opts and opts.weight ~= nil then return weighted("nll_loss", ember.nll_loss, logp, target, opts) end
  return ember.nll_loss(logp, target, opts)
end

local function loss_module(cname, fn, keys, text)
  local C = Module:extend(cname)
  function C:init(opts)
    opts = opts or {}
    local o = {}
    for _, k in ipairs(keys) do o[k] = opts[k] end
    self.opts = o
  end
  function C:forward(input, target) return fn(input, target, self.opts) end
  function C:extra_repr()
    local parts = {}
    for _, k in ipairs(keys) do
      if self.opts[k] ~= nil then parts[#parts + 1] = k .. "=" .. tostring(self.opts[k]) end
    end
    return table.concat(parts, ", ")
  end
  Lo[cname] = C
  doc(C, text)
  return C
end

loss_module("MSELoss", Lo.mse_loss, {"reduction"},
            "nn.MSELoss([{reduction='mean'|'sum'|'none'}]): loss(input, target) = mean((input - target)^2).")
loss_module("L1Loss", Lo.l1_loss, {"reduction"},
            "nn.L1Loss([{reduction=}]): loss(input, target) = mean(|input - target|).")
loss_module("SmoothL1Loss", Lo.smooth_l1_loss, {"reduction", "beta"},
            "nn.SmoothL1Loss([{reduction=, beta=1}]): quadratic below beta, linear above.")
loss_module("CrossEntropyLoss", Lo.cross_entropy, {"reduction", "label_smoothing", "ignore_index", "weight"},
            "nn.CrossEntropyLoss([{reduction=, label_smoothing=0, ignore_index=, weight=}])\n\n" ..
            "loss(logits (N, C), target): log_softmax + NLL fused; target holds 1-based class ids (N) or class\n" ..
            "probabilities (N, C).")
loss_module("NLLLoss", Lo.nll_loss, {"reduction", "ignore_index", "weight"},
            "nn.NLLLoss([{reduction=, ignore_index=, weight=}]): loss(log_probs (N, C), target 1-based (N)).")
loss_module("BCELoss", Lo.bce_loss, {"reduction"},
            "nn.BCELoss([{reduction=}]): binary cross-entropy on probabilities in [0, 1].")
loss_module("BCEWithLogitsLoss", Lo.bce_with_logits, {"reduction"},
            "nn.BCEWithLogitsLoss([{reduction=}]): binary cross-entropy on logits (sigmoid fused, stable).")

doc(Lo.mse_loss, "nn.mse_loss(input, target [, {reduction='mean'}]) -> tensor: mean((input - target)^2); shapes must match.")
doc(Lo.l1_loss, "nn.l1_loss(input, target [, {reduction='mean'}]) -> tensor: mean(|input - target|).")
doc(Lo.smooth_l1_loss, "nn.smooth_l1_loss(input, target [, {reduction='mean', beta=1}]) -> tensor: 0.5 d^2/beta for |d| < beta, else |d| - beta/2.")
doc(Lo.bce_loss, "nn.bce_loss(p, y [, {reduction='mean'}]) -> tensor: -(y log p + (1-y) log(1-p)), logs clamped at -100.")
doc(Lo.bce_with_logits, "nn.bce_with_logits(x, y [, {reduction='mean'}]) -> tensor: BCE of sigmoid(x), computed stably from logits.")
doc(Lo.cross_entropy, "nn.cross_entropy(logits, target [, {reduction='mean', label_smoothing=0, ignore_index=, weight=}]) -> tensor\n\n" ..
    "Softmax cross-entropy: logits (N, C) (or (N, C, d...)), target 1-based class ids (N) or probabilities (N, C).\n" ..
    "weight (C) scales each class's loss; \"mean\" then divides by the summed weights, as PyTorch.")
doc(Lo.nll_loss, "nn.nll_loss(logp, target [, {reduction='mean', ignore_index=, weight=}]) -> tensor: -logp[target] averaged; 1-based targets.")

return Lo
