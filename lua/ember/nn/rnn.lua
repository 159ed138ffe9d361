-- ember.nn.rnn: the recurrent layers RNN, LSTM and GRU, batch-first, with
-- PyTorch's parameter names (weight_ih_l0, weight_hh_l0, bias_ih_l0,
-- bias_hh_l0, ...), gate order (LSTM i f g o, GRU r z n), initialisation
-- U(-1/sqrt(hidden), 1/sqrt(hidden)) and return values (output, h_n) or
-- (output, {h_n, c_n}).
--
-- Composed from tensor ops, so autograd needs nothing more.  For speed the
-- input projection of all time steps is one matmul per layer before the
-- loop; inside the loop each step does one matmul for all gates of the
-- hidden state, then cheap elementwise work on narrow() views.
local ember = require("ember")
local mod = require("ember.nn.module")
local init = require("ember.nn.init")

local doc = ember.doc
local Module, Parameter = mod.Module, mod.Parameter
local shape_str = mod.shape_str
local R = {}

local GATES = {RNN = 1, LSTM = 4, GRU = 3}

local function base_init(self, cname, input_size, hidden_size, opts)
  for what, v in pairs({input_size = input_size, hidden_size = hidden_size}) do
    if math.type(v) ~= "integer" or v < 1 then
      error(string.format("%s: %s must be a positive integer, got %s", cname, what, tostring(v)), 4)
    end
  end
  opts = opts or {}
  self.mode = cname
  self.input_size, self.hidden_size = input_size, hidden_size
  self.num_layers = opts.layers or opts.num_layers or 1
  self.bias_enabled = opts.bias ~= false
  self.dropout = opts.dropout or 0
  self.nonlinearity = opts.nonlinearity or "tanh"
  if cname == "RNN" and self.nonlinearity ~= "tanh" and self.nonlinearity ~= "relu" then
    error("RNN: nonlinearity must be 'tanh' or 'relu', got '" .. tostring(self.nonlinearity) .. "'", 4)
  end
  if opts.bidirectional then error(cname .. ": bidirectional layers are not supported", 4) end
  local g = GATES[cname] * hidden_size
  local bound = 1 / math.sqrt(hidden_size)
  for l = 0, self.num_layers - 1 do
    local in_l = l == 0 and input_size or hidden_size
    -- registration order = PyTorch's: w_ih, w_hh, b_ih, b_hh per layer
    self["weight_ih_l" .. l] = Parameter(init.uniform_(ember.empty(g, in_l), -bound, bound))
    self["weight_hh_l" .. l] = Parameter(init.uniform_(ember.empty(g, hidden_size), -bound, bound))
    if self.bias_enabled then
      self["bias_ih_l" .. l] = Parameter(init.uniform_(ember.empty(g), -bound, bound))
      self["bias_hh_l" .. l] = Parameter(init.uniform_(ember.empty(g), -bound, bound))
    end
  end
end

-- checks x (N, L, in) or unbatched (L, in); returns the batched x
local function check_input(self, x)
  local name = self.mode
  if not ember.is_tensor(x) then error(name .. ": expected a tensor input, got " .. type(x), 3) end
  local s = x.shape
  if (#s ~= 3 and #s ~= 2) or s[#s] ~= self.input_size then
    error(string.format("%s: expected input (N, L, %d) (batch first), got shape %s", name, self.input_size,
                        shape_str(s)), 3)
  end
  if #s == 2 then return x:unsqueeze(1), true end
  return x, false
end

-- an initial state (layers, N, H), or zeros
local function check_state(self, h, n, what, unbatched)
  if h == nil then
    return ember.zeros(self.num_layers, n, self.hidden_size, {dtype = self.weight_ih_l0.dtype})
  end
  if not ember.is_tensor(h) then error(self.mode .. ": " .. what .. " must be a tensor", 3) end
  if unbatched and h:dim() == 2 then h = h:unsqueeze(2) end
  local s = h.shape
  if #s ~= 3 or s[1] ~= self.num_layers or s[2] ~= n or s[3] ~= self.hidden_size then
    error(string.format("%s: expected %s of shape [%d, %d, %d] (layers, N, hidden), got %s", self.mode, what,
                        self.num_layers, n, self.hidden_size, shape_str(s)), 3)
  end
  return h
end

-- one layer over the whole sequence: inp (N, L, in), h (N, H) [, c (N, H)]
-- -> out (N, L, H), h_last, c_last
local function run_layer(self, l, inp, h, c)
  local H = self.hidden_size
  local w_ih, w_hh = self["weight_ih_l" .. l], self["weight_hh_l" .. l]
  local b_ih, b_hh = self["bias_ih_l" .. l], self["bias_hh_l" .. l]
  local mode = self.mode
  -- xp (N, L, G*H): the input part of every gate for every step at once
  local xp = inp:matmul(w_ih:t())
  if b_ih then
    -- for GRU b_hn stays inside r * (W_hn h + b_hn), so b_hh joins the loop
    if mode == "GRU" then xp = xp + b_ih else xp = xp + (b_ih + b_hh) end
  end
  local whhT = w_hh:t()
  local steps = inp.shape[2]
  local outs = {}
  for t = 1, steps do
    local xt = xp:select(2, t)  -- (N, G*H)
    if mode == "RNN" then
      local a = xt + h:matmul(whhT)
      h = self.nonlinearity == "relu" and a:relu() or a:tanh()
    elseif mode == "LSTM" then
      local gates = xt + h:matmul(whhT)  -- (N, 4H): i f g o
      -- one sigmoid over all four gates (fewer op calls than three narrow ones)
      local s = gates:sigmoid()
      local i, f, o = s:narrow(2, 1, H), s:narrow(2, H + 1, H), s:narrow(2, 3 * H + 1, H)
      local g = gates:narrow(2, 2 * H + 1, H):tanh()
      c = f * c + i * g
      h = o * c:tanh()
    else  -- GRU: r z n
      local gh = h:matmul(whhT)
      if b_hh then gh = gh + b_hh end
      local rz = (xt:narrow(2, 1, 2 * H) + gh:narrow(2, 1, 2 * H)):sigmoid()
      local r, z = rz:narrow(2, 1, H), rz:narrow(2, H + 1, H)
      local n = (xt:narrow(2, 2 * H + 1, H) + r * gh:narrow(2, 2 * H + 1, H)):tanh()
      h = n + z * (h - n)  -- (1 - z) * n + z * h
    end
    outs[t] = h
  end
  local out
  if steps == 0 then
    out = ember.zeros(inp.shape[1], 0, H, {dtype = w_ih.dtype})
  else
    out = ember.stack(outs, 2)
  end
  return out, h, c
end

local function forward(self, x, hx)
  local xb, unbatched = check_input(self, x)
  local n = xb.shape[1]
  local h0, c0
  if self.mode == "LSTM" then
    if hx ~= nil and (type(hx) ~= "table") then
      error("LSTM: the initial state must be a table {h0, c0}", 2)
    end
    h0 = check_state(self, hx and hx[1], n, "h0", unbatched)
    c0 = check_state(self, hx and hx[2], n, "c0", unbatched)
  else
    h0 = check_state(self, hx, n, "h0", unbatched)
  end
  local inp = xb
  local hs, cs = {}, {}
  for l = 0, self.num_layers - 1 do
    local out, h, c = run_layer(self, l, inp, h0:select(1, l + 1), c0 and c0:select(1, l + 1))
    hs[l + 1], cs[l + 1] = h, c
    if l < self.num_layers - 1 and self.dropout > 0 and self.training then
      out = ember.dropout(out, self.dropout, true)
    end
    inp = out
  end
  local h_n = ember.stack(hs, 1)
  local c_n = c0 and ember.stack(cs, 1)
  if unbatched then
    inp, h_n = inp:squeeze(1), h_n:squeeze(2)
    if c_n then c_n = c_n:squeeze(2) end
  end
  if self.mode == "LSTM" then return inp, {h_n, c_n} end
  return inp, h_n
end

local function extra_repr(self)
  local s = string.format("%d, %d", self.input_size, self.hidden_size)
  if self.num_layers ~= 1 then s = s .. ", layers=" .. self.num_layers end
  if self.mode == "RNN" and self.nonlinearity ~= "tanh" then s = s .. ", nonlinearity=" .. self.nonlinearity end
  if not self.bias_enabled then s = s .. ", bias=false" end
  if self.dropout > 0 then s = s .. ", dropout=" .. self.dropout end
  return s
end

for _, cname in ipairs({"RNN", "LSTM", "GRU"}) do
  local C = Module:extend(cname)
  function C:init(input_size, hidden_size, opts) base_init(self, cname, input_size, hidden_size, opts) end
  C.forward = forward
  C.extra_repr = extra_repr
  R[cname] = C
end

doc(R.RNN, "nn.RNN(input_size, hidden_size [, {layers=1, nonlinearity='tanh'|'relu', bias=true, dropout=0}])\n\n" ..
    "Elman RNN, batch first: rnn(x [, h0]) with x (N, L, input_size) -> output (N, L, hidden), h_n (layers, N, hidden).\n" ..
    "h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh).  Parameters weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ...")
doc(R.LSTM, "nn.LSTM(input_size, hidden_size [, {layers=1, bias=true, dropout=0}])\n\n" ..
    "LSTM, batch first: lstm(x [, {h0, c0}]) with x (N, L, input_size) -> output (N, L, hidden), {h_n, c_n}\n" ..
    "(each (layers, N, hidden)).  Gates i, f, g, o stacked in weight_ih_l0 (4*hidden, in) as PyTorch.")
doc(R.GRU, "nn.GRU(input_size, hidden_size [, {layers=1, bias=true, dropout=0}])\n\n" ..
    "GRU, batch first: gru(x [, h0]) with x (N, L, input_size) -> output (N, L, hidden), h_n (layers, N, hidden).\n" ..
    "Gates r, z, n as PyTorch: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) n + z h.")

return R
