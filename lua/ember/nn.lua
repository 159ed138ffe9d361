-- ember.nn: the neural-network module (the REPL global `nn`).  It gathers
-- the pieces kept in lua/ember/nn/: the Module system and containers
-- (module.lua), layers (layers.lua), recurrent layers (rnn.lua), attention
-- (attention.lua), losses (loss.lua) and initialisation (init.lua), and
-- adds nn.F (the functional API: the C kernels of vm/nn_bind.c and the
-- activations) and nn.clip_grad_norm_.
local ember = require("ember")
local class = require("ember.class")
local mod = require("ember.nn.module")

local doc = ember.doc
local nn = {}

nn.Module = mod.Module
nn.Parameter = mod.Parameter
nn.Sequential = mod.Sequential
nn.ModuleList = mod.ModuleList
nn.init = require("ember.nn.init")

for _, part in ipairs({"ember.nn.layers", "ember.nn.rnn", "ember.nn.attention", "ember.nn.loss"}) do
  for k, v in pairs(require(part)) do nn[k] = v end
end

--- nn.is_module(v): whether v is an nn.Module instance
nn.is_module = mod.is_module

-- ---------- functional API ----------
local F = {}
for _, name in ipairs({"conv1d", "conv2d", "conv_transpose2d", "max_pool1d", "max_pool2d", "avg_pool1d",
                       "avg_pool2d", "adaptive_avg_pool2d", "batch_norm", "layer_norm", "dropout", "embedding",
                       "cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
                       "mse_loss", "l1_loss", "smooth_l1_loss", "scaled_dot_product_attention", "relu", "gelu",
                       "silu", "sigmoid", "tanh", "softplus", "leaky_relu", "softmax", "log_softmax",
                       "one_hot"}) do
  F[name] = ember[name]
end

--- F.linear(x, w [, b]): x W^T + b
function F.linear(x, w, b)
  local y = x:matmul(w:t())
  if b then y = y + b end
  return y
end
doc(F.linear, "nn.F.linear(x, weight [, bias]) -> x weight^T + bias; weight (out, in).")
doc(F, "nn.F: the functional API: conv1d conv2d conv_transpose2d max_pool1d max_pool2d avg_pool1d avg_pool2d\n" ..
    "adaptive_avg_pool2d batch_norm layer_norm dropout embedding cross_entropy nll_loss binary_cross_entropy\n" ..
    "binary_cross_entropy_with_logits mse_loss l1_loss smooth_l1_loss scaled_dot_product_attention linear and\n" ..
    "the activations (the same functions as ember.NAME), and the functions of nn's activation, functional and\n" ..
    "loss additions (elu ... glu, pad interpolate normalize unfold fold ..., kl_div huber_loss ...).")
nn.F = F

-- activations, functional ops and more losses (activation.lua,
-- functional.lua, loss_extra.lua): functions into nn and nn.F, modules into nn
for _, part in ipairs({"ember.nn.activation", "ember.nn.functional", "ember.nn.loss_extra"}) do
  local p = require(part)
  for k, v in pairs(p.modules) do nn[k] = v end
  for k, v in pairs(p.functions) do nn[k], F[k] = v, v end
end

-- ---------- gradient clipping ----------

local function param_list(params, fname)
  if mod.is_module(params) then return params:parameters() end
  if ember.is_tensor(params) then return {params} end
  if type(params) ~= "table" then
    error(fname .. ": expected a list of tensors or a module, got " .. type(params), 3)
  end
  return params
end

--- nn.clip_grad_norm_(params, max_norm [, norm_type=2]) -> total norm (a number)
function nn.clip_grad_norm_(params, max_norm, norm_type)
  params = param_list(params, "clip_grad_norm_")
  if type(max_norm) ~= "number" then
    error("clip_grad_norm_: max_norm must be a number, got " .. type(max_norm), 2)
  end
  norm_type = norm_type or 2
  local grads = {}
  for _, p in ipairs(params) do
    local g = p.grad
    if g then grads[#grads + 1] = g end
  end
  if #grads == 0 then return 0 end
  local total
  if norm_type == math.huge or norm_type == "inf" then
    total = 0
    for _, g in ipairs(grads) do total = math.max(total, g:abs():max():item()) end
  else
    local acc = 0
    for _, g in ipairs(grads) do acc = acc + g:norm(norm_type):item() ^ norm_type end
    total = acc ^ (1 / norm_type)
  end
  local coef = max_norm / (total + 1e-6)
  if coef < 1 then
    ember.no_grad(function()
      for _, g in ipairs(grads) do g:mul_(coef) end
    end)
  end
  return total
end

--- nn.clip_grad_value_(params, clip): clamps every gradient to [-clip, clip]
function nn.clip_grad_value_(params, clip)
  params = param_list(params, "clip_grad_value_")
  ember.no_grad(function()
    for _, p in ipairs(params) do
      local g = p.grad
      if g then g:clamp_(-clip, clip) end
    end
  end)
end

doc(nn.clip_grad_norm_, "nn.clip_grad_norm_(params, max_norm [, norm_type=2]) -> number\n\n" ..
    "Scales the gradients of params (a list of tensors or a module) in place so that their joint norm is at\n" ..
    "most max_norm (coefficient max_norm / (norm + 1e-6), as PyTorch); returns the norm before clipping.")
doc(nn.clip_grad_value_, "nn.clip_grad_value_(params, clip): clamps every gradient to [-clip, clip] in place.")
doc(nn.is_module, "nn.is_module(v) -> boolean: whether v is an nn.Module instance.")
doc(nn, "nn: neural networks.  nn.Module:extend(\"Name\") defines a model; layers Linear Conv1d Conv2d\n" ..
    "ConvTranspose2d MaxPool1d MaxPool2d AvgPool1d AvgPool2d AdaptiveAvgPool2d Flatten Embedding Dropout\n" ..
    "BatchNorm1d BatchNorm2d LayerNorm RNN LSTM GRU MultiheadAttention TransformerEncoderLayer TransformerEncoder;\n" ..
    "activations ReLU LeakyReLU GELU SiLU Sigmoid Tanh Softplus Softmax LogSoftmax Identity; containers Sequential ModuleList;\n" ..
    "losses mse_loss l1_loss smooth_l1_loss bce_loss bce_with_logits cross_entropy nll_loss and MSELoss L1Loss\n" ..
    "SmoothL1Loss CrossEntropyLoss NLLLoss BCELoss BCEWithLogitsLoss; nn.init; nn.F; nn.clip_grad_norm_.\n" ..
    "More activations: ELU SELU CELU Hardtanh ReLU6 Hardsigmoid Hardswish Mish LogSigmoid Softsign Tanhshrink\n" ..
    "Softshrink Hardshrink Threshold PReLU Softmin GLU; resampling and padding: Upsample PixelShuffle\n" ..
    "PixelUnshuffle Unfold Fold ZeroPad2d ConstantPad1d/2d ReflectionPad1d/2d ReplicationPad1d/2d; Bilinear\n" ..
    "CosineSimilarity PairwiseDistance; functions pad interpolate normalize unfold fold pixel_shuffle\n" ..
    "cosine_similarity pairwise_distance; losses kl_div huber_loss soft_margin_loss margin_ranking_loss\n" ..
    "hinge_embedding_loss cosine_embedding_loss triplet_margin_loss poisson_nll_loss gaussian_nll_loss\n" ..
    "multilabel_soft_margin_loss multi_margin_loss with their modules (KLDivLoss HuberLoss ...).")

-- init/forward/extra_repr of every class get a docstring pointing at the
-- class's own
for _, v in pairs(nn) do
  if type(v) == "table" and class.name(v) and rawget(v, "__index") then mod.document_methods(v) end
end

return nn
