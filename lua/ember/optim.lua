-- ember.optim: the optimizers (the REPL global `optim`): SGD, Adam, AdamW,
-- RMSprop and Adagrad with PyTorch's semantics, param groups and
-- state_dict / load_state_dict, plus the learning-rate schedulers of
-- lua/ember/optim/lr_scheduler.lua.
--
-- Each update is one fused C call per parameter tensor (ember.sgd_step_,
-- adam_step_, rmsprop_step_, adagrad_step_ in nn/optim.c): the Lua side only
-- keeps the per-parameter state tensors (created lazily at the first step,
-- as PyTorch) and the hyperparameters of each group.  State is keyed by the
-- parameter tensor itself; state_dict numbers parameters 1..n in group
-- order (PyTorch's layout), so a saved optimizer loads into a fresh one
-- built over the same model and training resumes exactly.
local ember = require("ember")
local class = require("ember.class")

local doc = ember.doc
local is_tensor = ember.is_tensor
local optim = {}

local Optimizer = class("Optimizer")
optim.Optimizer = Optimizer

local function is_module(v)
  return type(v) == "table" and type(v.parameters) == "function" and type(v.named_parameters) == "function"
end

local function check_params(list, name)
  if type(list) ~= "table" then error(name .. ": params must be a list of tensors, got " .. type(list), 4) end
  local out = {}
  for i, p in ipairs(list) do
    if not is_tensor(p) then
      error(string.format("%s: parameter %d is a %s, expected a tensor", name, i, type(p)), 4)
    end
    if p.dtype ~= "float32" and p.dtype ~= "float64" then
      error(string.format("%s: parameter %d is %s; only float tensors can be optimized", name, i, p.dtype), 4)
    end
    if not p.is_leaf then
      error(string.format("%s: parameter %d is not a leaf tensor (optimize the leaves, e.g. model:parameters())",
                          name, i), 4)
    end
    out[i] = p
  end
  return out
end

-- params: a module, a list of tensors, or a list of groups {params=..., lr=...}
function Optimizer:_setup(name, params, opts, defaults)
  opts = opts or {}
  if type(opts) ~= "table" then error(name .. ": options must be a table, got " .. type(opts), 3) end
  for k in pairs(opts) do
    if defaults[k] == nil then error(string.format("%s: unknown option '%s'", name, tostring(k)), 3) end
  end
  local d = {}
  for k, v in pairs(defaults) do
    if opts[k] ~= nil then d[k] = opts[k] else d[k] = v end
  end
  self.defaults = d
  self.state = {}
  self.param_groups = {}
  if is_module(params) then params = params:parameters() end
  if is_tensor(params) then params = {params} end
  if type(params) ~= "table" then error(name .. ": params must be a list of tensors or of groups", 3) end
  local groups
  if params[1] ~= nil and not is_tensor(params[1]) and type(params[1]) == "table" then
    groups = params
  else
    groups = {{params = params}}
  end
  for _, g in ipairs(groups) do self:add_param_group(g) end
  local total = 0
  for _, g in ipairs(self.param_groups) do total = total + #g.params end
  if total == 0 then error(name .. ": got an empty parameter list", 3) end
  self._name = name
end

--- opt:add_param_group(group): adds {params=..., lr=...}; missing settings come from the defaults
function Optimizer:add_param_group(group)
  local name = class.name(self)
  if type(group) ~= "table" or group.params == nil then
    error(name .. ": a param group is a table with a 'params' list", 2)
  end
  local ps = group.params
  if is_module(ps) then ps = ps:parameters() end
  if is_tensor(ps) then ps = {ps} end
  local g = {params = check_params(ps, name)}
  for k, v in pairs(group) do
    if k ~= "params" then
      if self.defaults[k] == nil and k ~= "initial_lr" then
        error(string.format("%s: unknown option '%s' in a param group", name, tostring(k)), 2)
      end
      g[k] = v
    end
  end
  for k, v in pairs(self.defaults) do
    if g[k] == nil then g[k] = v end
  end
  local seen = {}
  for _, og in ipairs(self.param_groups) do
    for _, p in ipairs(og.params) do seen[p] = true end
  end
  for _, p in ipairs(g.params) do
    if seen[p] then error(name .. ": a parameter appears in more than one group", 2) end
  end
  self.param_groups[#self.param_groups + 1] = g
  return g
end

--- opt:zero_grad(): sets the grad of every parameter to nil
function Optimizer:zero_grad()
  for _, g in ipairs(self.param_groups) do
    for _, p in ipairs(g.params) do p.grad = nil end
  end
end

--- opt:step([closure]) -> loss: one update of every parameter that has a grad
function Optimizer:step(closure)
  local loss
  if closure ~= nil then loss = closure() end
  for _, g in ipairs(self.param_groups) do
    local opts = self:_opts(g)
    for _, p in ipairs(g.params) do
      local grad = p.grad
      if grad ~= nil then
        if not grad:is_contiguous() then grad = grad:contiguous() end
        local st = self.state[p]
        if st == nil then
          st = {}
          self.state[p] = st
        end
        self:_update(p, grad, st, g, opts)
      end
    end
  end
  return loss
end

local function zeros_like(p) return ember.zeros(p.shape, {dtype = p.dtype}) end

-- ---------- state_dict ----------

local function copy_value(v)
  if is_tensor(v) then return v:detach():clone() end
  if type(v) == "table" then
    local t = {}
    for k, x in pairs(v) do t[k] = copy_value(x) end
    return t
  end
  return v
end

--- opt:state_dict() -> {state = {[i] = {...}}, param_groups = {{lr=, ..., params = {i...}}}}
function Optimizer:state_dict()
  local state, groups = {}, {}
  local idx = 0
  for gi, g in ipairs(self.param_groups) do
    local sg = {}
    for k, v in pairs(g) do
      if k ~= "params" then sg[k] = copy_value(v) end
    end
    local ids = {}
    for _, p in ipairs(g.params) do
      idx = idx + 1
      ids[#ids + 1] = idx
      local st = self.state[p]
      if st and next(st) ~= nil then state[idx] = copy_value(st) end
    end
    sg.params = ids
    groups[gi] = sg
  end
  return {state = state, param_groups = groups}
end

-- t[i] or t["i"]: files give string keys back for what were integers
local function geti(t, i)
  if type(t) ~= "table" then return nil end
  local v = t[i]
  if v == nil then v = t[tostring(i)] end
  return v
end

-- a list from a table with integer or string keys
local function as_list(t)
  if type(t) ~= "table" or is_tensor(t) then return t end
  local out, i = {}, 1
  while true do
    local v = geti(t, i)
    if v == nil then break end
    out[i] = v
    i = i + 1
  end
  return out
end

local function count(t)
  if type(t) ~= "table" then return 0 end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

--- opt:load_state_dict(sd): restores hyperparameters and per-parameter state (copies)
function Optimizer:load_state_dict(sd)
  local name = class.name(self)
  if type(sd) ~= "table" or type(sd.param_groups) ~= "table" then
    error(name .. ".load_state_dict: expected a table with state and param_groups", 2)
  end
  local groups = as_list(sd.param_groups)
  if #groups ~= #self.param_groups then
    error(string.format("%s.load_state_dict: the optimizer has %d param groups, the state dict %d", name,
                        #self.param_groups, #groups), 2)
  end
  for gi, g in ipairs(self.param_groups) do
    local n = count(groups[gi].params)
    if n ~= #g.params then
      error(string.format("%s.load_state_dict: group %d has %d parameters, the state dict's has %d", name, gi,
                          #g.params, n), 2)
    end
  end
  -- validate every state tensor before changing anything
  local new_state, idx = {}, 0
  for _, g in ipairs(self.param_groups) do
    for _, p in ipairs(g.params) do
      idx = idx + 1
      local s = geti(sd.state, idx)
      if s ~= nil then
        local st = {}
        for k, v in pairs(s) do
          if is_tensor(v) and k ~= "step" then
            local a, b = p.shape, v.shape
            local same = #a == #b
            for i = 1, #a do same = same and a[i] == b[i] end
            if not same then
              error(string.format("%s.load_state_dict: state '%s' of parameter %d has shape [%s], the parameter [%s]",
                                  name, k, idx, table.concat(b, ", "), table.concat(a, ", ")), 2)
            end
            st[k] = zeros_like(p):copy_(v)
          elseif is_tensor(v) then
            st[k] = v:item()
          else
            st[k] = v
          end
        end
        new_state[p] = st
      end
    end
  end
  for gi, g in ipairs(self.param_groups) do
    for k, v in pairs(groups[gi]) do
      if k ~= "params" then
        if type(v) == "table" and not is_tensor(v) then v = as_list(v) end
        g[k] = v
      end
    end
  end
  self.state = new_state
end

function Optimizer.__tostring(self)
  local lines = {class.name(self) .. " ("}
  for gi, g in ipairs(self.param_groups) do
    local keys = {}
    for k in pairs(g) do if k ~= "params" then keys[#keys + 1] = k end end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do
      local v = g[k]
      if type(v) == "table" then v = "{" .. table.concat(v, ", ") .. "}" end
      parts[#parts + 1] = k .. "=" .. tostring(v)
    end
    lines[#lines + 1] = string.format("  group %d: %d tensors, %s", gi, #g.params, table.concat(parts, ", "))
  end
  lines[#lines + 1] = ")"
  return table.concat(lines, "\n")
end

-- ---------- SGD ----------

local SGD = Optimizer:extend("SGD")
optim.SGD = SGD

function SGD:init(params, opts)
  self:_setup("SGD", params, opts, {lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false})
  local d = self.defaults
  if d.nesterov and (d.momentum <= 0 or d.dampening ~= 0) then
    error("SGD: nesterov momentum needs momentum > 0 and dampening 0", 3)
  end
end

function SGD:_opts(g) return g end

function SGD:_update(p, grad, st, g, opts)
  local buf, init = nil, false
  if g.momentum ~= 0 then
    buf = st.momentum_buffer
    if buf == nil then
      buf = zeros_like(p)
      st.momentum_buffer = buf
      init = true
    end
  end
  ember.sgd_step_(p, grad, buf, init, opts)
end

-- ---------- Adam / AdamW ----------

local function adam_init(self, name, params, opts, wd, decoupled)
  self:_setup(name, params, opts, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = wd,
                                   amsgrad = false})
  local b = self.defaults.betas
  if type(b) ~= "table" or not (b[1] >= 0 and b[1] < 1 and b[2] >= 0 and b[2] < 1) then
    error(name .. ": betas must be {beta1, beta2} in [0, 1)", 4)
  end
  self.decoupled = decoupled
end

local function adam_opts(self, g)
  return {lr = g.lr, beta1 = g.betas[1], beta2 = g.betas[2], eps = g.eps, weight_decay = g.weight_decay,
          amsgrad = g.amsgrad, decoupled = self.decoupled}
end

local function adam_update(_, p, grad, st, g, opts)
  if st.step == nil then
    st.step = 0
    st.exp_avg = zeros_like(p)
    st.exp_avg_sq = zeros_like(p)
    if g.amsgrad then st.max_exp_avg_sq = zeros_like(p) end
  end
  if g.amsgrad and st.max_exp_avg_sq == nil then st.max_exp_avg_sq = zeros_like(p) end
  st.step = st.step + 1
  ember.adam_step_(p, grad, st.exp_avg, st.exp_avg_sq, g.amsgrad and st.max_exp_avg_sq or nil, st.step, opts)
end

local Adam = Optimizer:extend("Adam")
optim.Adam = Adam
function Adam:init(params, opts) adam_init(self, "Adam", params, opts, 0, false) end
Adam._opts = adam_opts
Adam._update = adam_update

local AdamW = Optimizer:extend("AdamW")
optim.AdamW = AdamW
function AdamW:init(params, opts) adam_init(self, "AdamW", params, opts, 0.01, true) end
AdamW._opts = adam_opts
AdamW._update = adam_update

-- ---------- RMSprop ----------

local RMSprop = Optimizer:extend("RMSprop")
optim.RMSprop = RMSprop

function RMSprop:init(params, opts)
  self:_setup("RMSprop", params, opts, {lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0,
                                        centered = false})
end

function RMSprop:_opts(g) return g end

function RMSprop:_update(p, grad, st, g, opts)
  if st.step == nil then
    st.step = 0
    st.square_avg = zeros_like(p)
  end
  if g.momentum > 0 and st.momentum_buffer == nil then st.momentum_buffer = zeros_like(p) end
  if g.centered and st.grad_avg == nil then st.grad_avg = zeros_like(p) end
  st.step = st.step + 1
  ember.rmsprop_step_(p, grad, st.square_avg, g.momentum > 0 and st.momentum_buffer or nil,
                      g.centered and st.grad_avg or nil, opts)
end

-- ---------- Adagrad ----------

local Adagrad = Optimizer:extend("Adagrad")
optim.Adagrad = Adagrad

function Adagrad:init(params, opts)
  self:_setup("Adagrad", params, opts, {lr = 1e-2, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0,
                                        eps = 1e-10})
end

function Adagrad:_opts(g) return g end

function Adagrad:_update(p, grad, st, g, opts)
  if st.step == nil then
    st.step = 0
    st.sum = ember.full(p.shape, g.initial_accumulator_value + 0.0, {dtype = p.dtype})
  end
  st.step = st.step + 1
  ember.adagrad_step_(p, grad, st.sum, st.step, opts)
end

-- ---------- schedulers ----------
for k, v in pairs(require("ember.optim.lr_scheduler")) do optim[k] = v end

-- ---------- docs ----------
doc(optim, "optim: optimizers SGD Adam AdamW RMSprop Adagrad (one fused C update per parameter tensor, PyTorch's\n" ..
    "formulas) and learning-rate schedulers StepLR MultiStepLR LinearLR LambdaLR ExponentialLR CosineAnnealingLR OneCycleLR\n" ..
    "ReduceLROnPlateau.\n\n" ..
    "  local opt = optim.Adam(model:parameters(), {lr = 1e-3})\n" ..
    "  opt:zero_grad(); loss:backward(); opt:step()")
doc(Optimizer, "optim.Optimizer: the base class.  opt.param_groups[i] holds params and settings (lr, ...);\n" ..
    "methods step([closure]) zero_grad() state_dict() load_state_dict(sd) add_param_group(g).")
doc(Optimizer.step, "opt:step([closure]) -> loss: updates every parameter that has a grad (closure() is called first).")
doc(Optimizer.zero_grad, "opt:zero_grad(): sets every parameter's grad to nil.")
doc(Optimizer.state_dict, "opt:state_dict() -> table: {state = {[i] = {step=, exp_avg=, ...}}, param_groups = {...}}\n\n" ..
    "Copies of the state tensors and settings, parameters numbered 1..n in group order; ember.save can store it.")
doc(Optimizer.load_state_dict, "opt:load_state_dict(sd): restores the settings and state of an optimizer built over the same\n" ..
    "parameters (the same group sizes and shapes), so training resumes exactly.")
doc(Optimizer.add_param_group, "opt:add_param_group{params=..., lr=...}: adds a group; missing settings come from the defaults.")
doc(SGD, "optim.SGD(params [, {lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=false}])\n\n" ..
    "Stochastic gradient descent with PyTorch's momentum: buf = momentum*buf + (1-dampening)*g (buf = g at the\n" ..
    "first step), p -= lr*(nesterov and g + momentum*buf or buf); weight_decay adds wd*p to g.\n" ..
    "params: a list of tensors, a module, or a list of groups {params=..., lr=...}.")
doc(Adam, "optim.Adam(params [, {lr=1e-3, betas={0.9, 0.999}, eps=1e-8, weight_decay=0, amsgrad=false}])\n\n" ..
    "Adam with bias correction; weight_decay is L2 (added to the gradient).")
doc(AdamW, "optim.AdamW(params [, {lr=1e-3, betas={0.9, 0.999}, eps=1e-8, weight_decay=0.01, amsgrad=false}])\n\n" ..
    "Adam with decoupled weight decay: p *= 1 - lr*weight_decay before the Adam step.")
doc(RMSprop, "optim.RMSprop(params [, {lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=false}])\n\n" ..
    "v = alpha*v + (1-alpha)*g^2; p -= lr*g/(sqrt(v)+eps) (centered subtracts the mean gradient squared).")
doc(Adagrad, "optim.Adagrad(params [, {lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10}])\n\n" ..
    "sum += g^2; p -= lr/(1+(step-1)*lr_decay) * g/(sqrt(sum)+eps).")
for _, C in ipairs({SGD, Adam, AdamW, RMSprop, Adagrad}) do
  doc(C.init, string.format("%s:init(params, opts): builds the optimizer; called by optim.%s(...).",
                            class.name(C), class.name(C)))
end

return optim
