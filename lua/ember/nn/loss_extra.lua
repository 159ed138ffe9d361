-- ember.nn.loss_extra: the rest of PyTorch's losses, as functions (nn.kl_div,
-- nn.huber_loss, ...) and modules (nn.KLDivLoss(), nn.HuberLoss(), ...):
-- kl_div, huber, soft margin, margin ranking, hinge embedding, cosine
-- embedding, triplet margin, Poisson NLL, Gaussian NLL, multilabel soft
-- margin and multi margin.  Each is PyTorch's formula composed from tensor
-- ops (so autograd needs no rules of its own), with its reduction
-- ("mean" | "sum" | "none", and "batchmean" for kl_div).  Options come in a
-- trailing table with PyTorch's names; class targets are 1-based.
local ember = require("ember")
local mod = require("ember.nn.module")
local pairfn = require("ember.nn.functional").functions

local doc = ember.doc
local Module = mod.Module
local shape_str = mod.shape_str
local Lo = {}
local C = {}

local function float_tensor(fname, what, v)
  if not ember.is_tensor(v) then
    error(string.format("%s: %s must be a tensor, got %s", fname, what, type(v)), 3)
  end
  if v.dtype ~= "float32" and v.dtype ~= "float64" then
    error(string.format("%s: %s must be float32 or float64, got %s", fname, what, v.dtype), 3)
  end
end

local function same_shape(fname, a, b, wa, wb)
  local sa, sb = a.shape, b.shape
  local same = #sa == #sb
  for i = 1, #sa do same = same and sa[i] == sb[i] end
  if not same then
    error(string.format("%s: %s shape %s and %s shape %s differ", fname, wa or "input", shape_str(sa), wb or "target",
                        shape_str(sb)), 3)
  end
end

local function options(fname, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(fname .. ": options must be a table, got " .. type(opts), 3) end
  for k in pairs(opts) do
    if not allowed[k] then error(string.format("%s: unknown option '%s'", fname, tostring(k)), 3) end
  end
  return opts
end

local function reduce(fname, l, red, extra)
  red = red or "mean"
  if red == "mean" then return l:mean() end
  if red == "sum" then return l:sum() end
  if red == "none" then return l end
  error(string.format("%s: unknown reduction '%s' (expected 'mean', 'sum'%s or 'none')", fname, tostring(red),
                      extra or ""), 3)
end

local function number_opt(fname, o, key, default)
  local v = o[key]
  if v == nil then return default end
  if type(v) ~= "number" then error(string.format("%s: %s must be a number, got %s", fname, key, tostring(v)), 3) end
  return v
end

-- a {-1, 1} target as a float tensor of dtype dt (numbers and tables accepted)
local function sign_target(fname, y, dt)
  if type(y) == "number" or type(y) == "table" then y = ember.tensor(y) end
  if not ember.is_tensor(y) then error(fname .. ": target must be a tensor of 1 and -1, got " .. type(y), 3) end
  return y:to(dt)
end

local R = {reduction = true}
local function with(t) local r = {reduction = true}; for _, k in ipairs(t) do r[k] = true end; return r end

-- ---------- kl_div ----------

function Lo.kl_div(input, target, opts)
  float_tensor("kl_div", "input", input)
  float_tensor("kl_div", "target", target)
  local o = options("kl_div", opts, with({"log_target"}))
  local l
  if o.log_target then
    l = target:exp() * (target - input)
  else
    -- xlogy(t, t) - t * input: 0 where the target is 0
    local pos = target:gt(0)
    local tlogt = ember.where(pos, target * ember.where(pos, target, 1):log(), 0)
    l = tlogt - target * input
  end
  local red = o.reduction or "mean"
  if red == "batchmean" then
    if input:dim() == 0 then return l:sum() end
    return l:sum() / input.shape[1]
  end
  return reduce("kl_div", l, red, ", 'batchmean'")
end

-- ---------- regression-style ----------

function Lo.huber_loss(input, target, opts)
  float_tensor("huber_loss", "input", input)
  float_tensor("huber_loss", "target", target)
  same_shape("huber_loss", input, target)
  local o = options("huber_loss", opts, with({"delta"}))
  local delta = number_opt("huber_loss", o, "delta", 1)
  if not (delta > 0) then error("huber_loss: delta must be positive, got " .. tostring(delta), 2) end
  local d = input - target
  local ad = d:abs()
  local l = ember.where(ad:lt(delta), d * d * 0.5, (ad - 0.5 * delta) * delta)
  return reduce("huber_loss", l, o.reduction)
end

function Lo.soft_margin_loss(input, target, opts)
  float_tensor("soft_margin_loss", "input", input)
  local o = options("soft_margin_loss", opts, R)
  local y = sign_target("soft_margin_loss", target, input.dtype)
  same_shape("soft_margin_loss", input, y)
  -- log(1 + exp(-y x)) = -logsigmoid(y x), stable
  return reduce("soft_margin_loss", -ember.logsigmoid(y * input), o.reduction)
end

function Lo.margin_ranking_loss(x1, x2, target, opts)
  float_tensor("margin_ranking_loss", "input1", x1)
  float_tensor("margin_ranking_loss", "input2", x2)
  local o = options("margin_ranking_loss", opts, with({"margin"}))
  local y = sign_target("margin_ranking_loss", target, x1.dtype)
  same_shape("margin_ranking_loss", x1, x2, "input1", "input2")
  same_shape("margin_ranking_loss", x1, y, "input1", "target")
  local margin = number_opt("margin_ranking_loss", o, "margin", 0)
  return reduce("margin_ranking_loss", (-y * (x1 - x2) + margin):clamp(0, nil), o.reduction)
end

function Lo.hinge_embedding_loss(input, target, opts)
  float_tensor("hinge_embedding_loss", "input", input)
  local o = options("hinge_embedding_loss", opts, with({"margin"}))
  local y = sign_target("hinge_embedding_loss", target, input.dtype)
  same_shape("hinge_embedding_loss", input, y)
  local margin = number_opt("hinge_embedding_loss", o, "margin", 1)
  -- PyTorch: x where y != -1, plus max(0, margin - x) where y != 1
  local l = ember.where(y:ne(-1), input, 0) + ember.where(y:ne(1), (-input + margin):clamp(0, nil), 0)
  return reduce("hinge_embedding_loss", l, o.reduction)
end

function Lo.cosine_embedding_loss(x1, x2, target, opts)
  float_tensor("cosine_embedding_loss", "input1", x1)
  float_tensor("cosine_embedding_loss", "input2", x2)
  local o = options("cosine_embedding_loss", opts, with({"margin"}))
  same_shape("cosine_embedding_loss", x1, x2, "input1", "input2")
  if x1:dim() ~= 1 and x1:dim() ~= 2 then
    error("cosine_embedding_loss: expected inputs (N, D) or (D), got shape " .. shape_str(x1.shape), 2)
  end
  local y = sign_target("cosine_embedding_loss", target, x1.dtype)
  local want = x1:dim() == 2 and {x1.shape[1]} or {}
  same_shape("cosine_embedding_loss", y, {shape = want}, "target", "expected")
  local margin = number_opt("cosine_embedding_loss", o, "margin", 0)
  local d = x1:dim()
  local EPS = 1e-12
  local prod = (x1 * x2):sum(d)
  local m1 = (x1 * x1):sum(d) + EPS
  local m2 = (x2 * x2):sum(d) + EPS
  local cos = prod / (m1 * m2):sqrt()
  local l = ember.where(y:eq(1), -cos + 1, 0) + ember.where(y:eq(-1), (cos - margin):clamp(0, nil), 0)
  return reduce("cosine_embedding_loss", l, o.reduction)
end

function Lo.triplet_margin_loss(anchor, positive, negative, opts)
  float_tensor("triplet_margin_loss", "anchor", anchor)
  float_tensor("triplet_margin_loss", "positive", positive)
  float_tensor("triplet_margin_loss", "negative", negative)
  local o = options("triplet_margin_loss", opts, with({"margin", "p", "eps", "swap"}))
  local margin = number_opt("triplet_margin_loss", o, "margin", 1)
  local p = o.p or 2
  local eps = number_opt("triplet_margin_loss", o, "eps", 1e-6)
  local nd = anchor:dim()
  if nd ~= positive:dim() or nd ~= negative:dim() then
    error(string.format("triplet_margin_loss: anchor %s, positive %s and negative %s must have the same number of dims",
                        shape_str(anchor.shape), shape_str(positive.shape), shape_str(negative.shape)), 2)
  end
  local dp = pairfn.pairwise_distance(anchor, positive, p, eps)
  local dn = pairfn.pairwise_distance(anchor, negative, p, eps)
  if o.swap then dn = ember.minimum(dn, pairfn.pairwise_distance(positive, negative, p, eps)) end
  return reduce("triplet_margin_loss", (dp - dn + margin):clamp(0, nil), o.reduction)
end

-- ---------- likelihoods ----------

function Lo.poisson_nll_loss(input, target, opts)
  float_tensor("poisson_nll_loss", "input", input)
  float_tensor("poisson_nll_loss", "target", target)
  same_shape("poisson_nll_loss", input, target)
  local o = options("poisson_nll_loss", opts, with({"log_input", "full", "eps"}))
  local eps = number_opt("poisson_nll_loss", o, "eps", 1e-8)
  local l
  if o.log_input == nil or o.log_input then
    l = input:exp() - target * input
  else
    l = input - target * (input + eps):log()
  end
  if o.full then
    -- Stirling's term t log t - t + log(2 pi t) / 2, where the target > 1
    local big = target:gt(1)
    local t = ember.where(big, target, 1)
    local stirling = t * t:log() - t + (t * (2 * math.pi)):log() * 0.5
    l = l + ember.where(big, stirling, 0)
  end
  return reduce("poisson_nll_loss", l, o.reduction)
end

function Lo.gaussian_nll_loss(input, target, var, opts)
  float_tensor("gaussian_nll_loss", "input", input)
  float_tensor("gaussian_nll_loss", "target", target)
  if type(var) == "number" then var = ember.full(input.shape, var, {dtype = input.dtype}) end
  float_tensor("gaussian_nll_loss", "var", var)
  local o = options("gaussian_nll_loss", opts, with({"full", "eps"}))
  local eps = number_opt("gaussian_nll_loss", o, "eps", 1e-6)
  same_shape("gaussian_nll_loss", input, target)
  -- var: input's shape, or one dim less / a last dim of 1 (homoscedastic)
  local si, sv = input.shape, var.shape
  local given = shape_str(sv)
  if #sv == #si - 1 then
    var = var:unsqueeze(-1)
    sv = var.shape
  end
  local ok = #sv == #si
  for i = 1, #si do ok = ok and (sv[i] == si[i] or (i == #si and sv[i] == 1)) end
  if not ok then
    error(string.format("gaussian_nll_loss: var of shape %s does not fit input of shape %s", given, shape_str(si)), 2)
  end
  if var:lt(0):any():item() then error("gaussian_nll_loss: var has negative entries", 2) end
  -- PyTorch clamps var at eps in place under no_grad: the value changes,
  -- the gradient passes through
  local v = var + (var:clamp(eps, nil) - var):detach()
  local d = input - target
  local l = (v:log() + d * d / v) * 0.5
  if o.full then l = l + 0.5 * math.log(2 * math.pi) end
  return reduce("gaussian_nll_loss", l, o.reduction)
end

-- ---------- multi-class margins ----------

local function class_weight(fname, w, nclass, dt)
  if w == nil then return nil end
  if not ember.is_tensor(w) or w:dim() ~= 1 or w.shape[1] ~= nclass then
    error(string.format("%s: weight must be a 1-D tensor with one weight per class (%d)", fname, nclass), 3)
  end
  return w:to(dt)
end

function Lo.multilabel_soft_margin_loss(input, target, opts)
  float_tensor("multilabel_soft_margin_loss", "input", input)
  local o = options("multilabel_soft_margin_loss", opts, with({"weight"}))
  if not ember.is_tensor(target) then error("multilabel_soft_margin_loss: target must be a tensor of 0 and 1", 2) end
  local y = target:to(input.dtype)
  same_shape("multilabel_soft_margin_loss", input, y)
  if input:dim() < 1 then error("multilabel_soft_margin_loss: expected input (N, C) or (C), got a 0-dim tensor", 2) end
  local nd = input:dim()
  local nclass = input.shape[nd]
  local l = -(y * ember.logsigmoid(input) + (1 - y) * ember.logsigmoid(-input))
  local w = class_weight("multilabel_soft_margin_loss", o.weight, nclass, input.dtype)
  if w then l = l * w end
  return reduce("multilabel_soft_margin_loss", l:sum(nd) / nclass, o.reduction)
end

function Lo.multi_margin_loss(input, target, opts)
  float_tensor("multi_margin_loss", "input", input)
  local o = options("multi_margin_loss", opts, with({"p", "margin", "weight"}))
  local p = o.p or 1
  if p ~= 1 and p ~= 2 then error("multi_margin_loss: p must be 1 or 2, got " .. tostring(p), 2) end
  local margin = number_opt("multi_margin_loss", o, "margin", 1)
  local x = input
  if x:dim() == 1 then x = x:unsqueeze(1) end
  if x:dim() ~= 2 then error("multi_margin_loss: expected input (N, C) or (C), got shape " .. shape_str(input.shape), 2) end
  local N, nclass = x.shape[1], x.shape[2]
  if type(target) == "number" or type(target) == "table" then target = ember.tensor(target) end
  if not ember.is_tensor(target) or (target.dtype ~= "int64" and target.dtype ~= "int32") then
    error("multi_margin_loss: target must hold 1-based class indices (int64)", 2)
  end
  local t = target:long():reshape(-1)
  if t:numel() ~= N then
    error(string.format("multi_margin_loss: %d targets for %d samples (input shape %s)", t:numel(), N,
                        shape_str(input.shape)), 2)
  end
  if N > 0 and (t:min():item() < 1 or t:max():item() > nclass) then
    error(string.format("multi_margin_loss: targets must be in 1..%d, got %d..%d", nclass, t:min():item(),
                        t:max():item()), 2)
  end
  local ti = t:view(N, 1)
  local xy = x:gather(2, ti)                                   -- (N, 1)
  local z = (x - xy + margin):clamp(0, nil)
  if p == 2 then z = z * z end
  local w = class_weight("multi_margin_loss", o.weight, nclass, x.dtype)
  if w then z = z * w:index_select(1, t):view(N, 1) end
  local not_target = ember.arange(1, nclass + 1):view(1, nclass):ne(ti)
  local l = ember.where(not_target, z, 0):sum(2) / nclass
  if input:dim() == 1 then l = l:view({}) end
  return reduce("multi_margin_loss", l, o.reduction)
end

-- ---------- modules ----------

local function loss_module(cname, fn, keys, nargs, text)
  local M = Module:extend(cname)
  function M:init(opts)
    opts = opts or {}
    if type(opts) ~= "table" then error(cname .. ": options must be a table", 3) end
    local o = {}
    for _, k in ipairs(keys) do o[k] = opts[k] end
    for k in pairs(opts) do
      local known = false
      for _, kk in ipairs(keys) do known = known or kk == k end
      if not known then error(string.format("%s: unknown option '%s'", cname, tostring(k)), 3) end
    end
    self.opts = o
  end
  if nargs == 3 then
    function M:forward(a, b, c) return fn(a, b, c, self.opts) end
  else
    function M:forward(a, b) return fn(a, b, self.opts) end
  end
  function M:extra_repr()
    local parts = {}
    for _, k in ipairs(keys) do
      local v = self.opts[k]
      if v ~= nil then parts[#parts + 1] = k .. "=" .. (ember.is_tensor(v) and "tensor" or tostring(v)) end
    end
    return table.concat(parts, ", ")
  end
  C[cname] = M
  doc(M, text)
end

loss_module("KLDivLoss", Lo.kl_div, {"reduction", "log_target"}, 2,
            "nn.KLDivLoss([{reduction='mean'|'batchmean'|'sum'|'none', log_target=false}]): loss(log_q, p) = p (log p - log_q).")
loss_module("HuberLoss", Lo.huber_loss, {"reduction", "delta"}, 2,
            "nn.HuberLoss([{reduction=, delta=1}]): 0.5 d^2 for |d| < delta, else delta (|d| - delta/2).")
loss_module("SoftMarginLoss", Lo.soft_margin_loss, {"reduction"}, 2,
            "nn.SoftMarginLoss([{reduction=}]): loss(x, y in {1, -1}) = log(1 + exp(-y x)).")
loss_module("MarginRankingLoss", Lo.margin_ranking_loss, {"reduction", "margin"}, 3,
            "nn.MarginRankingLoss([{reduction=, margin=0}]): loss(x1, x2, y) = max(0, -y (x1 - x2) + margin).")
loss_module("HingeEmbeddingLoss", Lo.hinge_embedding_loss, {"reduction", "margin"}, 2,
            "nn.HingeEmbeddingLoss([{reduction=, margin=1}]): x where y = 1, max(0, margin - x) where y = -1.")
loss_module("CosineEmbeddingLoss", Lo.cosine_embedding_loss, {"reduction", "margin"}, 3,
            "nn.CosineEmbeddingLoss([{reduction=, margin=0}]): loss(x1, x2, y) = 1 - cos where y = 1, max(0, cos - margin) where y = -1.")
loss_module("TripletMarginLoss", Lo.triplet_margin_loss, {"reduction", "margin", "p", "eps", "swap"}, 3,
            "nn.TripletMarginLoss([{reduction=, margin=1, p=2, eps=1e-6, swap=false}]): max(d(a, p) - d(a, n) + margin, 0).")
loss_module("PoissonNLLLoss", Lo.poisson_nll_loss, {"reduction", "log_input", "full", "eps"}, 2,
            "nn.PoissonNLLLoss([{reduction=, log_input=true, full=false, eps=1e-8}]): exp(x) - t x (log_input), or x - t log(x + eps).")
loss_module("GaussianNLLLoss", Lo.gaussian_nll_loss, {"reduction", "full", "eps"}, 3,
            "nn.GaussianNLLLoss([{reduction=, full=false, eps=1e-6}]): loss(mu, t, var) = (log var + (mu - t)^2 / var) / 2.")
loss_module("MultiLabelSoftMarginLoss", Lo.multilabel_soft_margin_loss, {"reduction", "weight"}, 2,
            "nn.MultiLabelSoftMarginLoss([{reduction=, weight=}]): per-class BCE with logits, averaged over the classes.")
loss_module("MultiMarginLoss", Lo.multi_margin_loss, {"reduction", "p", "margin", "weight"}, 2,
            "nn.MultiMarginLoss([{reduction=, p=1, margin=1, weight=}]): multi-class hinge loss on 1-based targets.")

doc(Lo.kl_div, "nn.kl_div(input, target [, {reduction='mean', log_target=false}]) -> tensor\n\n" ..
    "KL divergence with input holding log-probabilities: target * (log target - input) (0 where target = 0), or\n" ..
    "exp(target) * (target - input) with log_target.  reduction 'batchmean' divides the sum by the batch size\n" ..
    "(the mathematically right KL; 'mean' averages over every element, as PyTorch).")
doc(Lo.huber_loss, "nn.huber_loss(input, target [, {reduction='mean', delta=1}]) -> tensor: 0.5 d^2 if |d| < delta else delta (|d| - delta/2).")
doc(Lo.soft_margin_loss, "nn.soft_margin_loss(input, target [, {reduction='mean'}]) -> tensor: log(1 + exp(-y x)), y in {1, -1}.")
doc(Lo.margin_ranking_loss, "nn.margin_ranking_loss(x1, x2, target [, {reduction='mean', margin=0}]) -> tensor: max(0, -y (x1 - x2) + margin).")
doc(Lo.hinge_embedding_loss, "nn.hinge_embedding_loss(input, target [, {reduction='mean', margin=1}]) -> tensor: x for y = 1, max(0, margin - x) for y = -1.")
doc(Lo.cosine_embedding_loss, "nn.cosine_embedding_loss(x1, x2, target [, {reduction='mean', margin=0}]) -> tensor\n\n" ..
    "x1, x2 (N, D) or (D); target (N) of 1 and -1: 1 - cos(x1, x2) where 1, max(0, cos - margin) where -1.")
doc(Lo.triplet_margin_loss, "nn.triplet_margin_loss(anchor, positive, negative [, {reduction='mean', margin=1, p=2, eps=1e-6, swap=false}]) -> tensor\n\n" ..
    "max(d(a, p) - d(a, n) + margin, 0) with d the pairwise p-norm distance; swap uses min(d(a, n), d(p, n)).")
doc(Lo.poisson_nll_loss, "nn.poisson_nll_loss(input, target [, {reduction='mean', log_input=true, full=false, eps=1e-8}]) -> tensor\n\n" ..
    "exp(input) - target * input (log_input) or input - target * log(input + eps); full adds Stirling's term for target > 1.")
doc(Lo.gaussian_nll_loss, "nn.gaussian_nll_loss(input, target, var [, {reduction='mean', full=false, eps=1e-6}]) -> tensor\n\n" ..
    "(log(max(var, eps)) + (input - target)^2 / max(var, eps)) / 2 (+ log(2 pi)/2 with full); var of input's shape, or\n" ..
    "with the last dim 1 or missing (one variance per sample), or a number.")
doc(Lo.multilabel_soft_margin_loss, "nn.multilabel_soft_margin_loss(input, target [, {reduction='mean', weight=}]) -> tensor\n\n" ..
    "-(y log sigmoid(x) + (1 - y) log sigmoid(-x)) averaged over the C classes; input, target (N, C); weight (C).")
doc(Lo.multi_margin_loss, "nn.multi_margin_loss(input, target [, {reduction='mean', p=1, margin=1, weight=}]) -> tensor\n\n" ..
    "sum over i != y of max(0, margin - x[y] + x[i])^p / C, per sample; input (N, C), target 1-based (N); weight (C)\n" ..
    "scales each sample's loss by weight[y].")

return {functions = Lo, modules = C}
