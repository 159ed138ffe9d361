-- ember.optim.lr_scheduler: learning-rate schedulers with PyTorch's
-- formulas (closed forms of torch.optim.lr_scheduler): StepLR, MultiStepLR,
-- LinearLR (warm-up), LambdaLR, ExponentialLR, CosineAnnealingLR, OneCycleLR
-- and ReduceLROnPlateau.
-- Building a scheduler sets the epoch-0 learning rate, as PyTorch does;
-- sched:step() (once per epoch, or per batch for OneCycleLR) moves to the
-- next.  state_dict holds numbers only (infinities as strings, since the
-- JSON of a safetensors header has no inf), so ember.save can store it.
local ember = require("ember")
local class = require("ember.class")

local doc = ember.doc
local S = {}

local function check_optimizer(name, opt)
  if type(opt) ~= "table" or type(opt.param_groups) ~= "table" then
    error(name .. ": the first argument must be an optimizer", 4)
  end
end

-- a number for every group: v itself or v[i]
local function per_group(name, what, v, n)
  local out = {}
  for i = 1, n do
    local x = type(v) == "table" and v[i] or v
    if type(x) ~= "number" then
      error(string.format("%s: %s must be a number or one number per param group", name, what), 4)
    end
    out[i] = x
  end
  return out
end

local function enc(v)
  if v == math.huge then return "inf" elseif v == -math.huge then return "-inf" end
  return v
end
local function dec(v)
  if v == "inf" then return math.huge elseif v == "-inf" then return -math.huge end
  return v
end

local function as_list(t)
  if type(t) ~= "table" then return t end
  local out, i = {}, 1
  while true do
    local v = t[i]
    if v == nil then v = t[tostring(i)] end
    if v == nil then break end
    out[i] = dec(v)
    i = i + 1
  end
  return out
end

-- ---------- base ----------

local LRScheduler = class("LRScheduler")
S.LRScheduler = LRScheduler

-- fields listed in self._state are saved by state_dict
function LRScheduler:_setup(name, optimizer, fields)
  check_optimizer(name, optimizer)
  self.optimizer = optimizer
  self._state = fields
  self.base_lrs = {}
  for i, g in ipairs(optimizer.param_groups) do
    if g.initial_lr == nil then g.initial_lr = g.lr end
    self.base_lrs[i] = g.initial_lr
  end
  self.last_epoch = -1
  self:step()
end

--- sched:step([epoch]): moves to the next epoch (or to `epoch`) and sets each group's lr
function LRScheduler:step(epoch)
  if epoch ~= nil then self.last_epoch = epoch else self.last_epoch = self.last_epoch + 1 end
  local lrs = self:get_lr()
  for i, g in ipairs(self.optimizer.param_groups) do g.lr = lrs[i] end
  self._last_lr = lrs
end

--- sched:get_last_lr() -> list of the current lr of each group
function LRScheduler:get_last_lr()
  local out = {}
  for i, v in ipairs(self._last_lr or {}) do out[i] = v end
  return out
end

--- sched:state_dict() -> table of numbers
function LRScheduler:state_dict()
  local sd = {last_epoch = self.last_epoch, base_lrs = {}, _last_lr = {}}
  for i, v in ipairs(self.base_lrs) do sd.base_lrs[i] = v end
  for i, v in ipairs(self._last_lr or {}) do sd._last_lr[i] = v end
  for _, k in ipairs(self._state or {}) do
    local v = self[k]
    if type(v) == "table" then
      local t = {}
      for i, x in ipairs(v) do t[i] = enc(x) end
      v = t
    end
    sd[k] = enc(v)
  end
  return sd
end

--- sched:load_state_dict(sd): restores a saved schedule and the lr it had set
-- Building the scheduler has set the epoch-0 lr; the saved lr goes back so
-- that training resumes where it stopped.
function LRScheduler:load_state_dict(sd)
  if type(sd) ~= "table" then error(class.name(self) .. ".load_state_dict: expected a table", 2) end
  for k, v in pairs(sd) do
    if type(v) == "table" then v = as_list(v) else v = dec(v) end
    self[k] = v
  end
  local last = self._last_lr
  if type(last) == "table" then
    for i, g in ipairs(self.optimizer.param_groups) do
      if type(last[i]) == "number" then g.lr = last[i] end
    end
  end
end

function LRScheduler.__tostring(self)
  local parts = {}
  for _, k in ipairs(self._state or {}) do
    local v = self[k]
    if type(v) == "table" then v = "{" .. table.concat(v, ", ") .. "}" end
    parts[#parts + 1] = k .. "=" .. tostring(v)
  end
  return string.format("%s(%s) epoch %d, lr %s", class.name(self), table.concat(parts, ", "), self.last_epoch,
                       table.concat(self:get_last_lr(), ", "))
end

-- ---------- StepLR / ExponentialLR / CosineAnnealingLR ----------

local StepLR = LRScheduler:extend("StepLR")
S.StepLR = StepLR

function StepLR:init(optimizer, step_size, gamma)
  if type(step_size) == "table" then step_size, gamma = step_size.step_size, step_size.gamma end
  if math.type(step_size) ~= "integer" or step_size < 1 then
    error("StepLR: step_size must be a positive integer, got " .. tostring(step_size), 3)
  end
  self.step_size, self.gamma = step_size, gamma or 0.1
  self:_setup("StepLR", optimizer, {"step_size", "gamma"})
end

function StepLR:get_lr()
  local out = {}
  local k = self.last_epoch // self.step_size
  for i, b in ipairs(self.base_lrs) do out[i] = b * self.gamma ^ k end
  return out
end

local ExponentialLR = LRScheduler:extend("ExponentialLR")
S.ExponentialLR = ExponentialLR

function ExponentialLR:init(optimizer, gamma)
  if type(gamma) == "table" then gamma = gamma.gamma end
  if type(gamma) ~= "number" then error("ExponentialLR: gamma must be a number, got " .. tostring(gamma), 3) end
  self.gamma = gamma
  self:_setup("ExponentialLR", optimizer, {"gamma"})
end

function ExponentialLR:get_lr()
  local out = {}
  for i, b in ipairs(self.base_lrs) do out[i] = b * self.gamma ^ self.last_epoch end
  return out
end

local CosineAnnealingLR = LRScheduler:extend("CosineAnnealingLR")
S.CosineAnnealingLR = CosineAnnealingLR

function CosineAnnealingLR:init(optimizer, T_max, eta_min)
  if type(T_max) == "table" then T_max, eta_min = T_max.T_max, T_max.eta_min end
  if type(T_max) ~= "number" or T_max <= 0 then
    error("CosineAnnealingLR: T_max must be a positive number, got " .. tostring(T_max), 3)
  end
  self.T_max, self.eta_min = T_max, eta_min or 0
  self:_setup("CosineAnnealingLR", optimizer, {"T_max", "eta_min"})
end

function CosineAnnealingLR:get_lr()
  local out = {}
  local c = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
  for i, b in ipairs(self.base_lrs) do out[i] = self.eta_min + (b - self.eta_min) * c end
  return out
end

local MultiStepLR = LRScheduler:extend("MultiStepLR")
S.MultiStepLR = MultiStepLR

function MultiStepLR:init(optimizer, milestones, gamma)
  if type(milestones) ~= "table" then
    error("MultiStepLR: milestones must be a list of epochs, got " .. type(milestones), 3)
  end
  local ms = {}
  for i, m in ipairs(milestones) do
    if math.type(m) ~= "integer" then error("MultiStepLR: milestones must be integers", 3) end
    ms[i] = m
  end
  table.sort(ms)
  self.milestones, self.gamma = ms, gamma or 0.1
  self:_setup("MultiStepLR", optimizer, {"milestones", "gamma"})
end

function MultiStepLR:get_lr()
  local k = 0
  for _, m in ipairs(self.milestones) do
    if m <= self.last_epoch then k = k + 1 end
  end
  local out = {}
  for i, b in ipairs(self.base_lrs) do out[i] = b * self.gamma ^ k end
  return out
end

local LinearLR = LRScheduler:extend("LinearLR")
S.LinearLR = LinearLR

function LinearLR:init(optimizer, opts)
  opts = opts or {}
  self.start_factor = opts.start_factor or 1 / 3
  self.end_factor = opts.end_factor or 1
  self.total_iters = opts.total_iters or 5
  if not (self.start_factor > 0 and self.start_factor <= 1) or not (self.end_factor >= 0 and self.end_factor <= 1) then
    error("LinearLR: start_factor must be in (0, 1] and end_factor in [0, 1]", 3)
  end
  self:_setup("LinearLR", optimizer, {"start_factor", "end_factor", "total_iters"})
end

function LinearLR:get_lr()
  local t = math.min(self.last_epoch, self.total_iters)
  local factor = self.start_factor + (self.end_factor - self.start_factor) * t / self.total_iters
  local out = {}
  for i, b in ipairs(self.base_lrs) do out[i] = b * factor end
  return out
end

local LambdaLR = LRScheduler:extend("LambdaLR")
S.LambdaLR = LambdaLR

function LambdaLR:init(optimizer, fn)
  if type(fn) ~= "function" then error("LambdaLR: expected a function of the epoch, got " .. type(fn), 3) end
  self.lr_lambda = fn
  self:_setup("LambdaLR", optimizer, {})
end

function LambdaLR:get_lr()
  local out = {}
  for i, b in ipairs(self.base_lrs) do
    local f = self.lr_lambda(self.last_epoch)
    if type(f) ~= "number" then error("LambdaLR: the function must return a number", 3) end
    out[i] = b * f
  end
  return out
end

-- ---------- OneCycleLR ----------

local OneCycleLR = LRScheduler:extend("OneCycleLR")
S.OneCycleLR = OneCycleLR

local function anneal(strategy, start, stop, pct)
  if strategy == "linear" then return (stop - start) * pct + start end
  return stop + (start - stop) / 2 * (math.cos(math.pi * pct) + 1)
end

function OneCycleLR:init(optimizer, opts)
  check_optimizer("OneCycleLR", optimizer)
  if type(opts) ~= "table" then error("OneCycleLR: expected options {max_lr=, total_steps= ...}", 3) end
  local total = opts.total_steps
  if total == nil then
    if opts.epochs == nil or opts.steps_per_epoch == nil then
      error("OneCycleLR: give total_steps, or epochs and steps_per_epoch", 3)
    end
    total = opts.epochs * opts.steps_per_epoch
  end
  if math.type(total) ~= "integer" or total < 1 then
    error("OneCycleLR: total_steps must be a positive integer, got " .. tostring(total), 3)
  end
  local pct = opts.pct_start or 0.3
  if type(pct) ~= "number" or pct < 0 or pct > 1 then
    error("OneCycleLR: pct_start must be in [0, 1], got " .. tostring(pct), 3)
  end
  self.total_steps = total
  self.anneal_strategy = opts.anneal_strategy or "cos"
  if self.anneal_strategy ~= "cos" and self.anneal_strategy ~= "linear" then
    error("OneCycleLR: anneal_strategy must be 'cos' or 'linear'", 3)
  end
  self.three_phase = opts.three_phase and true or false
  local n = #optimizer.param_groups
  local max_lrs = per_group("OneCycleLR", "max_lr", opts.max_lr, n)
  local div, final_div = opts.div_factor or 25, opts.final_div_factor or 1e4
  if self.three_phase then
    self._phase_ends = {pct * total - 1, 2 * pct * total - 2, total - 1}
  else
    self._phase_ends = {pct * total - 1, total - 1}
  end
  self.cycle_momentum = opts.cycle_momentum ~= false
  local d = optimizer.defaults or {}
  if self.cycle_momentum then
    if d.momentum == nil and d.betas == nil then
      error("OneCycleLR: the optimizer must support momentum or betas with cycle_momentum (pass cycle_momentum=false)", 3)
    end
    self.use_beta1 = d.betas ~= nil
  end
  local base_m = per_group("OneCycleLR", "base_momentum", opts.base_momentum or 0.85, n)
  local max_m = per_group("OneCycleLR", "max_momentum", opts.max_momentum or 0.95, n)
  for i, g in ipairs(optimizer.param_groups) do
    g.initial_lr = max_lrs[i] / div
    g.max_lr = max_lrs[i]
    g.min_lr = g.initial_lr / final_div
    if self.cycle_momentum then
      if self.use_beta1 then
        g.betas = {max_m[i], g.betas[2]}
      else
        g.momentum = max_m[i]
      end
      g.max_momentum, g.base_momentum = max_m[i], base_m[i]
    end
  end
  self:_setup("OneCycleLR", optimizer, {"total_steps", "anneal_strategy", "three_phase", "cycle_momentum"})
end

-- phases: start/end lr and momentum fields of the group, per PyTorch
local PHASES2 = {{"initial_lr", "max_lr", "max_momentum", "base_momentum"},
                 {"max_lr", "min_lr", "base_momentum", "max_momentum"}}
local PHASES3 = {{"initial_lr", "max_lr", "max_momentum", "base_momentum"},
                 {"max_lr", "initial_lr", "base_momentum", "max_momentum"},
                 {"initial_lr", "min_lr", "max_momentum", "max_momentum"}}

function OneCycleLR:get_lr()
  local step = self.last_epoch
  if step > self.total_steps then
    error(string.format("OneCycleLR: tried to step %d times; total_steps is %d", step, self.total_steps), 3)
  end
  local phases = self.three_phase and PHASES3 or PHASES2
  local ends = self._phase_ends
  local out = {}
  for gi, g in ipairs(self.optimizer.param_groups) do
    local start = 0
    for i, ph in ipairs(phases) do
      local stop = ends[i]
      if step <= stop or i == #phases then
        local pct = (step - start) / (stop - start)
        out[gi] = anneal(self.anneal_strategy, g[ph[1]], g[ph[2]], pct)
        if self.cycle_momentum then
          local m = anneal(self.anneal_strategy, g[ph[3]], g[ph[4]], pct)
          if self.use_beta1 then g.betas = {m, g.betas[2]} else g.momentum = m end
        end
        break
      end
      start = stop
    end
  end
  return out
end

function OneCycleLR:state_dict()
  local sd = LRScheduler.state_dict(self)
  sd._phase_ends = {}
  for i, v in ipairs(self._phase_ends) do sd._phase_ends[i] = v end
  sd.use_beta1 = self.use_beta1
  return sd
end

-- ---------- ReduceLROnPlateau ----------

local ReduceLROnPlateau = class("ReduceLROnPlateau")
S.ReduceLROnPlateau = ReduceLROnPlateau

local PLATEAU_FIELDS = {"mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lrs", "eps",
                        "best", "num_bad_epochs", "cooldown_counter", "last_epoch"}

function ReduceLROnPlateau:init(optimizer, opts)
  check_optimizer("ReduceLROnPlateau", optimizer)
  opts = opts or {}
  self.optimizer = optimizer
  self._state = PLATEAU_FIELDS
  self.mode = opts.mode or "min"
  if self.mode ~= "min" and self.mode ~= "max" then error("ReduceLROnPlateau: mode must be 'min' or 'max'", 3) end
  self.factor = opts.factor or 0.1
  if self.factor >= 1 then error("ReduceLROnPlateau: factor must be < 1, got " .. self.factor, 3) end
  self.patience = opts.patience or 10
  self.threshold = opts.threshold or 1e-4
  self.threshold_mode = opts.threshold_mode or "rel"
  if self.threshold_mode ~= "rel" and self.threshold_mode ~= "abs" then
    error("ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs'", 3)
  end
  self.cooldown = opts.cooldown or 0
  self.min_lrs = per_group("ReduceLROnPlateau", "min_lr", opts.min_lr or 0, #optimizer.param_groups)
  self.eps = opts.eps or 1e-8
  self.best = self.mode == "min" and math.huge or -math.huge
  self.num_bad_epochs, self.cooldown_counter, self.last_epoch = 0, 0, 0
  self._last_lr = {}
  for i, g in ipairs(optimizer.param_groups) do self._last_lr[i] = g.lr end
end

function ReduceLROnPlateau:_is_better(a)
  local best, th = self.best, self.threshold
  if self.mode == "min" then
    if self.threshold_mode == "rel" then return a < best * (1 - th) end
    return a < best - th
  end
  if self.threshold_mode == "rel" then return a > best * (th + 1) end
  return a > best + th
end

--- plateau:step(metric): counts epochs without improvement and cuts lr by factor after patience
function ReduceLROnPlateau:step(metric)
  if ember.is_tensor(metric) then metric = metric:item() end
  if type(metric) ~= "number" then
    error("ReduceLROnPlateau.step: expected the monitored value (a number), got " .. type(metric), 2)
  end
  self.last_epoch = self.last_epoch + 1
  if self:_is_better(metric) then
    self.best = metric
    self.num_bad_epochs = 0
  else
    self.num_bad_epochs = self.num_bad_epochs + 1
  end
  if self.cooldown_counter > 0 then
    self.cooldown_counter = self.cooldown_counter - 1
    self.num_bad_epochs = 0
  end
  if self.num_bad_epochs > self.patience then
    for i, g in ipairs(self.optimizer.param_groups) do
      local old = g.lr
      local new = math.max(old * self.factor, self.min_lrs[i])
      if old - new > self.eps then g.lr = new end
    end
    self.cooldown_counter = self.cooldown
    self.num_bad_epochs = 0
  end
  for i, g in ipairs(self.optimizer.param_groups) do self._last_lr[i] = g.lr end
end

ReduceLROnPlateau.get_last_lr = LRScheduler.get_last_lr
ReduceLROnPlateau.load_state_dict = LRScheduler.load_state_dict
ReduceLROnPlateau.__tostring = LRScheduler.__tostring

function ReduceLROnPlateau:state_dict()
  local sd = {_last_lr = {}}
  for i, v in ipairs(self._last_lr) do sd._last_lr[i] = v end
  for _, k in ipairs(PLATEAU_FIELDS) do
    local v = self[k]
    if type(v) == "table" then
      local t = {}
      for i, x in ipairs(v) do t[i] = enc(x) end
      v = t
    end
    sd[k] = enc(v)
  end
  return sd
end

-- ---------- docs ----------
doc(LRScheduler, "optim.LRScheduler: base of the epoch schedulers: sched:step([epoch]), sched:get_last_lr(),\n" ..
    "sched:state_dict(), sched:load_state_dict(sd), sched.last_epoch.  Building one sets the epoch-0 lr.")
doc(LRScheduler.step, "sched:step([epoch]): advances one epoch (or to epoch) and sets the lr of every param group.")
doc(LRScheduler.get_last_lr, "sched:get_last_lr() -> list: the lr of each param group after the last step.")
doc(LRScheduler.state_dict, "sched:state_dict() -> table of numbers (ember.save can store it).")
doc(LRScheduler.load_state_dict, "sched:load_state_dict(sd): restores a schedule saved with state_dict(), and the lr it had set.")
doc(StepLR, "optim.StepLR(opt, step_size [, gamma=0.1]): lr = base_lr * gamma^floor(epoch / step_size).")
doc(ExponentialLR, "optim.ExponentialLR(opt, gamma): lr = base_lr * gamma^epoch.")
doc(CosineAnnealingLR, "optim.CosineAnnealingLR(opt, T_max [, eta_min=0]): lr = eta_min + (base_lr - eta_min)(1 + cos(pi epoch/T_max))/2.")
doc(OneCycleLR, "optim.OneCycleLR(opt, {max_lr=, total_steps= | epochs=, steps_per_epoch=, pct_start=0.3,\n" ..
    "anneal_strategy='cos'|'linear', div_factor=25, final_div_factor=1e4, three_phase=false, cycle_momentum=true,\n" ..
    "base_momentum=0.85, max_momentum=0.95})\n\n" ..
    "The 1cycle policy, stepped once per batch: lr rises from max_lr/div_factor to max_lr over pct_start of the\n" ..
    "steps, then anneals to initial_lr/final_div_factor; momentum (or Adam's beta1) cycles the other way.")
doc(ReduceLROnPlateau, "optim.ReduceLROnPlateau(opt [, {mode='min', factor=0.1, patience=10, threshold=1e-4,\n" ..
    "threshold_mode='rel', cooldown=0, min_lr=0, eps=1e-8}])\n\n" ..
    "sched:step(metric) once per epoch: after more than patience epochs without improvement, lr = max(lr * factor, min_lr).")
doc(ReduceLROnPlateau.step, "plateau:step(metric): records the monitored value; cuts the lr after patience bad epochs.")
doc(ReduceLROnPlateau.state_dict, "plateau:state_dict() -> table of numbers and strings (infinities as \"inf\").")
doc(MultiStepLR, "optim.MultiStepLR(opt, milestones [, gamma=0.1]): lr = base_lr * gamma^(number of milestones <= epoch).")
doc(LinearLR, "optim.LinearLR(opt [, {start_factor=1/3, end_factor=1, total_iters=5}])\n\n" ..
    "Linear warm-up: the factor on base_lr goes from start_factor to end_factor over total_iters steps, then stays.")
doc(LambdaLR, "optim.LambdaLR(opt, fn): lr = base_lr * fn(epoch).  (fn is not saved by state_dict.)")
for _, C in ipairs({StepLR, MultiStepLR, LinearLR, LambdaLR, ExponentialLR, CosineAnnealingLR, OneCycleLR,
                    ReduceLROnPlateau}) do
  local n = class.name(C)
  doc(C.init, string.format("%s:init(...): builds the scheduler; called by optim.%s(...).", n, n))
  if rawget(C, "get_lr") then
    doc(C.get_lr, string.format("%s:get_lr() -> list: the lr of each group at sched.last_epoch (closed form).", n))
  end
end
doc(OneCycleLR.state_dict, "OneCycleLR:state_dict() -> table: the schedule and its phase boundaries.")

return S
