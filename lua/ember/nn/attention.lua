-- ember.nn.attention: MultiheadAttention and TransformerEncoderLayer,
-- batch-first, with PyTorch's parameter names and initialisation
-- (in_proj_weight (3E, E) xavier-uniform, in_proj_bias and out_proj.bias
-- zero) so state dicts map one to one.  The attention itself is the fused
-- C kernel ember.scaled_dot_product_attention over (N, heads, L, E/heads);
-- masks (attn_mask, key_padding_mask) are folded into one float mask first.
local ember = require("ember")
local mod = require("ember.nn.module")
local init = require("ember.nn.init")
local layers = require("ember.nn.layers")

local doc = ember.doc
local Module, Parameter = mod.Module, mod.Parameter
local shape_str = mod.shape_str
local A = {}

local MultiheadAttention = Module:extend("MultiheadAttention")
A.MultiheadAttention = MultiheadAttention

function MultiheadAttention:init(embed_dim, num_heads, opts)
  opts = opts or {}
  if math.type(embed_dim) ~= "integer" or embed_dim < 1 then
    error("MultiheadAttention: embed_dim must be a positive integer, got " .. tostring(embed_dim), 3)
  end
  if math.type(num_heads) ~= "integer" or num_heads < 1 or embed_dim % num_heads ~= 0 then
    error(string.format("MultiheadAttention: embed_dim %d must be divisible by num_heads %s", embed_dim,
                        tostring(num_heads)), 3)
  end
  self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
  self.causal = opts.causal and true or false
  self.in_proj_weight = Parameter(init.xavier_uniform_(ember.empty(3 * embed_dim, embed_dim)))
  local bias = opts.bias ~= false
  if bias then self.in_proj_bias = Parameter(ember.zeros(3 * embed_dim)) end
  self.out_proj = layers.Linear(embed_dim, embed_dim, {bias = bias})
  if bias then init.zeros_(self.out_proj.bias) end
end

local function check(self, what, t)
  if not ember.is_tensor(t) then
    error("MultiheadAttention: " .. what .. " must be a tensor, got " .. type(t), 4)
  end
  local s = t.shape
  if (#s ~= 3 and #s ~= 2) or s[#s] ~= self.embed_dim then
    error(string.format("MultiheadAttention: expected %s (N, L, %d), got shape %s", what, self.embed_dim,
                        shape_str(s)), 4)
  end
end

-- (N, L, E) -> (N, heads, L, head_dim)
local function split_heads(self, t)
  local s = t.shape
  return t:reshape(s[1], s[2], self.num_heads, self.head_dim):transpose(2, 3)
end

-- A mask as scores to add: float as given, bool true -> -inf (blocked)
local function additive(t, dtype)
  if t.dtype == "bool" then return ember.zeros(t.shape, {dtype = dtype}):masked_fill(t, -math.huge) end
  return t:to(dtype)
end

-- PyTorch's MultiheadAttention masks folded into one float mask that
-- broadcasts to the scores (N, heads, L, S), or nil when there is none:
-- attn_mask (L, S) or (N*heads, L, S) and key_padding_mask (N, S), each bool
-- (true = may NOT attend, the opposite of the functional's bool mask, as in
-- PyTorch) or float (added); causal adds the look-ahead mask.
local function combined_mask(self, opts, n, l, s, dtype, causal, unbatched)
  local am, kpm = opts and opts.attn_mask, opts and opts.key_padding_mask
  if am == nil and kpm == nil then return nil end
  local m
  if am ~= nil then
    if not ember.is_tensor(am) then error("MultiheadAttention: attn_mask must be a tensor, got " .. type(am), 4) end
    if am:dim() == 2 and am.shape[1] == l and am.shape[2] == s then
      m = additive(am, dtype):reshape(1, 1, l, s)
    elseif am:dim() == 3 and am.shape[1] == n * self.num_heads and am.shape[2] == l and am.shape[3] == s then
      m = additive(am, dtype):reshape(n, self.num_heads, l, s)
    else
      error(string.format("MultiheadAttention: attn_mask must be (L, S) = (%d, %d) or (N*heads, L, S) = (%d, %d, %d), got %s",
                          l, s, n * self.num_heads, l, s, shape_str(am.shape)), 4)
    end
  end
  if kpm ~= nil then
    if not ember.is_tensor(kpm) then error("MultiheadAttention: key_padding_mask must be a tensor, got " .. type(kpm), 4) end
    local want = unbatched and {s} or {n, s}
    if kpm:dim() ~= #want or kpm.shape[1] ~= want[1] or kpm.shape[#want] ~= want[#want] then
      error(string.format("MultiheadAttention: key_padding_mask must be %s (N, S), got %s",
                          shape_str(want), shape_str(kpm.shape)), 4)
    end
    local k = additive(kpm, dtype):reshape(n, 1, 1, s)
    m = m and m + k or k
  end
  if causal then
    m = m + additive(ember.ones(l, s, {dtype = "bool"}):triu(1), dtype)
  end
  return m
end

--- mha(x) self-attention, or mha(q, k, v [, {causal=, attn_mask=, key_padding_mask=}]) -> (N, L, E)
function MultiheadAttention:forward(q, k, v, opts)
  if type(k) == "table" and not ember.is_tensor(k) then opts, k, v = k, nil, nil end
  check(self, "query", q)
  local unbatched = q:dim() == 2
  local E = self.embed_dim
  local W, b = self.in_proj_weight, self.in_proj_bias
  local qp, kp, vp
  if k == nil and v == nil then
    if unbatched then q = q:unsqueeze(1) end
    -- one matmul for the three projections: (N, L, 3E)
    local qkv = q:matmul(W:t())
    if b then qkv = qkv + b end
    qp, kp, vp = qkv:narrow(3, 1, E), qkv:narrow(3, E + 1, E), qkv:narrow(3, 2 * E + 1, E)
  else
    v = v or k
    check(self, "key", k)
    check(self, "value", v)
    if unbatched then q, k, v = q:unsqueeze(1), k:unsqueeze(1), v:unsqueeze(1) end
    if k.shape[1] ~= q.shape[1] or v.shape[1] ~= q.shape[1] or k.shape[2] ~= v.shape[2] then
      error(string.format("MultiheadAttention: query %s, key %s and value %s do not match (batch, and key/value length)",
                          shape_str(q.shape), shape_str(k.shape), shape_str(v.shape)), 2)
    end
    local function proj(x, i)
      local y = x:matmul(W:narrow(1, i * E + 1, E):t())
      if b then y = y + b:narrow(1, i * E + 1, E) end
      return y
    end
    qp, kp, vp = proj(q, 0), proj(k, 1), proj(v, 2)
  end
  local causal = self.causal
  if opts and opts.causal ~= nil then causal = opts.causal end
  local n, l = qp.shape[1], qp.shape[2]
  local mask = combined_mask(self, opts, n, l, kp.shape[2], qp.dtype, causal, unbatched)
  local o = ember.scaled_dot_product_attention(split_heads(self, qp), split_heads(self, kp), split_heads(self, vp),
                                               mask and {attn_mask = mask} or {causal = causal})
  -- (N, heads, L, hd) -> (N, L, E)
  o = o:transpose(2, 3):reshape(n, l, E)
  local y = self.out_proj(o)
  if unbatched then y = y:squeeze(1) end
  return y
end

function MultiheadAttention:extra_repr()
  return string.format("%d, heads=%d%s", self.embed_dim, self.num_heads, self.causal and ", causal" or "")
end

local TransformerEncoderLayer = Module:extend("TransformerEncoderLayer")
A.TransformerEncoderLayer = TransformerEncoderLayer

function TransformerEncoderLayer:init(d_model, nhead, opts)
  opts = opts or {}
  local ff = opts.dim_feedforward or 2048
  local p = opts.dropout or 0.1
  local eps = opts.layer_norm_eps or 1e-5
  self.activation = opts.activation or "relu"
  if self.activation ~= "relu" and self.activation ~= "gelu" then
    error("TransformerEncoderLayer: activation must be 'relu' or 'gelu', got '" .. tostring(self.activation) .. "'", 3)
  end
  self.norm_first = opts.norm_first and true or false
  -- registration order = PyTorch's, so state_dict keys and order match
  self.self_attn = MultiheadAttention(d_model, nhead, {causal = opts.causal})
  self.linear1 = layers.Linear(d_model, ff)
  self.dropout = layers.Dropout(p)
  self.linear2 = layers.Linear(ff, d_model)
  self.norm1 = layers.LayerNorm(d_model, {eps = eps})
  self.norm2 = layers.LayerNorm(d_model, {eps = eps})
  self.dropout1 = layers.Dropout(p)
  self.dropout2 = layers.Dropout(p)
end

function TransformerEncoderLayer:_sa(x, opts)
  return self.dropout1(self.self_attn(x, opts))
end

function TransformerEncoderLayer:_ff(x)
  local h = self.linear1(x)
  h = self.activation == "gelu" and h:gelu() or h:relu()
  return self.dropout2(self.linear2(self.dropout(h)))
end

--- layer(x [, {causal=, attn_mask=, key_padding_mask=}]) -> (N, L, d_model)
function TransformerEncoderLayer:forward(x, opts)
  if self.norm_first then
    x = x + self:_sa(self.norm1(x), opts)
    return x + self:_ff(self.norm2(x))
  end
  x = self.norm1(x + self:_sa(x, opts))
  return self.norm2(x + self:_ff(x))
end

local TransformerEncoder = Module:extend("TransformerEncoder")
A.TransformerEncoder = TransformerEncoder

function TransformerEncoder:init(layer, num_layers, opts)
  if math.type(num_layers) ~= "integer" or num_layers < 1 then
    error("TransformerEncoder: num_layers must be a positive integer, got " .. tostring(num_layers), 3)
  end
  local list = {}
  for i = 1, num_layers do
    if type(layer) == "function" then
      list[i] = layer(i)
    elseif mod.is_module(layer) then
      list[i] = layer:clone()  -- independent copies, as PyTorch's deepcopy
    else
      error("TransformerEncoder: expected a layer module or a function returning one, got " .. type(layer), 3)
    end
    if not mod.is_module(list[i]) then error("TransformerEncoder: the layer function must return a Module", 3) end
  end
  self.layers = mod.ModuleList(list)
  self.num_layers = num_layers
  if opts and opts.norm then self.norm = opts.norm end
end

--- enc(x [, {causal=, attn_mask=, key_padding_mask=}]) -> (N, L, d_model)
function TransformerEncoder:forward(x, opts)
  for _, l in ipairs(self.layers) do x = l(x, opts) end
  if self.norm then x = self.norm(x) end
  return x
end

function TransformerEncoder:extra_repr() return "num_layers=" .. self.num_layers end

doc(TransformerEncoder, "nn.TransformerEncoder(layer, num_layers [, {norm=}])\n\n" ..
    "A stack of num_layers encoder layers: copies of `layer` (a module, cloned) or the results of calling\n" ..
    "`layer(i)` (a function), then the optional final `norm` module.  enc(x [, {causal=, attn_mask=,\n" ..
    "key_padding_mask=}]).  Layers are\n" ..
    "enc.layers[1..n] (state_dict keys \"layers.1.self_attn.in_proj_weight\" ...).")

doc(MultiheadAttention, "nn.MultiheadAttention(embed_dim, num_heads [, {causal=false, bias=true}])\n\n" ..
    "Multi-head attention, batch first.  mha(x) is self-attention on x (N, L, E); mha(q, k, v) attends q (N, L, E)\n" ..
    "to k, v (N, S, E).  A trailing options table: causal= overrides the layer's causal flag; attn_mask (L, S)\n" ..
    "or (N*heads, L, S) and key_padding_mask (N, S) are PyTorch's: bool true = may not attend, or float (added\n" ..
    "to the scores).  Returns (N, L, E) (no attention weights).  Parameters in_proj_weight (3E, E), in_proj_bias, out_proj.")
doc(TransformerEncoderLayer, "nn.TransformerEncoderLayer(d_model, nhead [, {dim_feedforward=2048, dropout=0.1, causal=false,\n" ..
    "activation='relu'|'gelu', norm_first=false, layer_norm_eps=1e-5}])\n\n" ..
    "Self-attention then a feed-forward block, each with a residual and LayerNorm (post-norm by default), as\n" ..
    "PyTorch's batch-first layer.  layer(x [, {causal=, attn_mask=, key_padding_mask=}]) with x (N, L, d_model)\n" ..
    "(the masks as nn.MultiheadAttention's: PyTorch's src_mask and src_key_padding_mask).")

return A
