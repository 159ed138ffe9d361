-- ember.train: the training loop a modeler would otherwise rewrite each time:
-- train.fit (epochs of batches with an optimizer and a loss, metrics,
-- validation, callbacks, a progress display, a live plot, and Ctrl-C that
-- stops cleanly), train.evaluate and train.predict (no grad, eval mode,
-- batched), the History that fit returns, and the callbacks
-- early_stopping, checkpoint and scheduler.
--
-- Ctrl-C during fit: ember._sys.sigint_trap makes the first Ctrl-C only set
-- a flag, polled after every batch, so the batch in flight (forward,
-- backward and the optimizer step) completes and the weights stay
-- consistent; fit then returns the History so far with interrupted = true.
-- A second Ctrl-C falls through to the REPL's handler, which interrupts the
-- running code at once ("interrupted" error): fit catches that too.
--
-- A model is anything callable as model(x) (or with model:forward(x)) that
-- has parameters(); train()/eval(), state_dict()/load_state_dict() are
-- used when present (every nn.Module has them).
local ember = require("ember")
local class = require("ember.class")
local sys = ember._sys
local data = require("ember.data")
local metrics_mod = require("ember.metrics")

local M = {}

local function doc(v, text) ember.doc(v, text); return v end

-- ---------------------------------------------------------------- helpers --

local function forward(model, x)
  if type(model) == "function" then return model(x) end
  local mt = getmetatable(model)
  if mt and mt.__call then return model(x) end
  return model:forward(x)
end

local function set_mode(model, training)
  if type(model) ~= "table" then return nil end
  local was = model.training
  if training and model.train then model:train()
  elseif not training and model.eval then model:eval() end
  return was
end

local function restore_mode(model, was)
  if was == nil or type(model) ~= "table" then return end
  if was and model.train then model:train() elseif not was and model.eval then model:eval() end
end

local function is_loader(v) return type(v) == "table" and type(v.batches) == "function" end
local function is_dataset(v) return type(v) == "table" and type(v.get) == "function" end

-- {x, y} / dataset / tensor -> dataset
local function as_dataset(d, fname)
  if is_dataset(d) then return d end
  if ember.is_tensor(d) then return data.tensors(d) end
  if type(d) == "table" and ember.is_tensor(d[1]) then return data.tensors(d[1], d[2]) end
  if type(d) == "table" and ember.is_tensor(d.x) then return data.tensors(d.x, d.y) end
  error(fname .. ": data must be a dataset, a loader, a tensor or {x, y}", 3)
end

local function as_loader(d, opts, shuffle, fname)
  if is_loader(d) then return d end
  return data.loader(as_dataset(d, fname), {batch_size = opts.batch_size or 32, shuffle = shuffle,
                                            drop_last = opts.drop_last, transform = opts.transform})
end

-- ------------------------------------------------------------------ losses --

-- name -> {nn function name, ember kernel fallback, kind}
local LOSSES = {
  mse = {"mse_loss", "mse_loss", "regression"},
  l1 = {"l1_loss", "l1_loss", "regression"},
  smooth_l1 = {"smooth_l1_loss", "smooth_l1_loss", "regression"},
  bce = {"bce_loss", "binary_cross_entropy", "regression"},
  bce_with_logits = {"bce_with_logits", "binary_cross_entropy_with_logits", "regression"},
  cross_entropy = {"cross_entropy", "cross_entropy", "class"},
  nll = {"nll_loss", "nll_loss", "class"},
}
M.losses = LOSSES

-- A loss function (out, y) -> 0-dim tensor, and its name.  Named losses
-- adapt targets the way users expect: (N) targets against (N,1) outputs,
-- integer 0/1 targets for BCE, (N,1) class labels for cross-entropy.
local function resolve_loss(loss, fname)
  if type(loss) == "function" then return loss, "custom" end
  if type(loss) == "table" and getmetatable(loss) and getmetatable(loss).__call then
    return function(o, y) return loss(o, y) end, "custom"
  end
  loss = loss or "mse"
  local spec = LOSSES[loss] or LOSSES[tostring(loss):gsub("_loss$", "")]
  if not spec then
    local names = {}
    for k in pairs(LOSSES) do names[#names + 1] = k end
    table.sort(names)
    error(fname .. ": unknown loss '" .. tostring(loss) .. "' (use a function or one of "
          .. table.concat(names, " ") .. ")", 3)
  end
  local ok, nn = pcall(require, "ember.nn")
  local fn = ok and type(nn) == "table" and rawget(nn, spec[1]) or nil
  fn = fn or ember[spec[2]]
  if not fn then error(fname .. ": loss '" .. loss .. "' is not available in this build", 3) end
  if spec[3] == "regression" then
    return function(out, y)
      if y.shape and out.shape and y:numel() == out:numel() and y:dim() ~= out:dim() then
        y = y:reshape(out.shape)
      end
      if y.dtype ~= out.dtype then y = y:to(out.dtype) end
      return fn(out, y)
    end, loss
  end
  return function(out, y)
    if y:dim() == 2 and y.shape[2] == 1 then y = y:reshape(-1) end
    if y.dtype ~= "int64" and y:dim() == 1 then y = y:long() end
    return fn(out, y)
  end, loss
end
M._resolve_loss = resolve_loss

-- ----------------------------------------------------------------- metrics --

local MAX_METRICS = {accuracy = true, precision = true, recall = true, f1 = true}

-- list of {name=, fn=(out, y) -> number, named=bool}
local function resolve_metrics(list, loss_name, fname)
  local out = {}
  if list == nil then return out end
  if type(list) == "string" or type(list) == "function" then list = {list} end
  local logits = loss_name == "bce_with_logits"
  local function add(name, m)
    if type(m) == "string" then
      local f = metrics_mod[m]
      if not MAX_METRICS[m] or type(f) ~= "function" then
        error(fname .. ": unknown metric '" .. m .. "' (accuracy precision recall f1, or a function)", 4)
      end
      out[#out + 1] = {name = name or m, named = true, exact = f, fn = function(o, y)
        if logits then o = o:sigmoid() end
        return f(o, y)
      end}
    elseif type(m) == "function" then
      out[#out + 1] = {name = name or ("metric" .. (#out + 1)), fn = m}
    else
      error(fname .. ": metrics must be names or functions", 4)
    end
  end
  for _, m in ipairs(list) do add(nil, m) end
  for k, m in pairs(list) do
    if type(k) == "string" then add(k, m) end
  end
  return out
end

-- what named metrics need of a batch's output: labels for (N,K) scores,
-- probabilities for one column
local function metric_preds(out, logits)
  out = out:detach()
  if out:dim() == 2 and out.shape[2] > 1 then return out:argmax(2):reshape(-1) end
  if logits then out = out:sigmoid() end
  return out:reshape(-1)
end

local function targets_of(y) return y:detach():reshape(-1) end

-- Runs the model over a loader without grad in eval mode: mean loss and
-- metrics (named metrics exact over all rows; function metrics averaged
-- over batches weighted by batch size).
local function run_eval(model, loader, lossfn, mets, logits)
  local was = set_mode(model, false)
  local ok, res = pcall(ember.no_grad, function()
    local n, lsum = 0, 0
    local preds, ys, fsums = {}, {}, {}
    for xb, yb in loader:batches() do
      local out = forward(model, xb)
      local b = xb.shape[1]
      if lossfn and yb ~= nil then lsum = lsum + lossfn(out, yb):item() * b end
      if yb ~= nil and #mets > 0 then
        preds[#preds + 1] = metric_preds(out, logits)
        ys[#ys + 1] = targets_of(yb)
        for i, m in ipairs(mets) do
          if not m.named then fsums[i] = (fsums[i] or 0) + m.fn(out, yb) * b end
        end
      end
      n = n + b
    end
    local logs = {}
    if lossfn and n > 0 then logs.loss = lsum / n end
    if #preds > 0 then
      local p, y = ember.cat(preds, 1), ember.cat(ys, 1)
      for i, m in ipairs(mets) do
        if m.named then logs[m.name] = m.exact(p, y) else logs[m.name] = fsums[i] / n end
      end
    end
    return logs
  end)
  restore_mode(model, was)
  if not ok then error(res, 0) end
  return res
end

M.evaluate = doc(function(model, d, opts)
  opts = opts or {}
  local lossfn, lname
  if opts.loss then lossfn, lname = resolve_loss(opts.loss, "train.evaluate") end
  local mlist = opts.metrics
  if mlist == nil and lossfn == nil then mlist = {"accuracy"} end
  local mets = resolve_metrics(mlist, lname, "train.evaluate")
  local loader = as_loader(d, {batch_size = opts.batch_size or 256}, false, "train.evaluate")
  return run_eval(model, loader, lossfn, mets, lname == "bce_with_logits")
end, [[train.evaluate(model, data [, {loss=, metrics=, batch_size=256}]) -> table

The mean loss (when loss= is given) and metrics (default {"accuracy"} when
neither is given) over data (a dataset, loader or {x, y}), without grad and
with the model in eval mode.  Returns {loss=, accuracy=, ...}.]])

M.predict = doc(function(model, x, opts)
  opts = opts or {}
  local loader = as_loader(x, {batch_size = opts.batch_size or 256}, false, "train.predict")
  local was = set_mode(model, false)
  local ok, res = pcall(ember.no_grad, function()
    local outs = {}
    for xb in loader:batches() do outs[#outs + 1] = forward(model, xb) end
    if #outs == 0 then return nil end
    return #outs == 1 and outs[1] or ember.cat(outs, 1)
  end)
  restore_mode(model, was)
  if not ok then error(res, 0) end
  return res
end, [[train.predict(model, x [, {batch_size=256}]) -> Tensor

The model's outputs for x (a tensor, dataset or loader), batched, without
grad and in eval mode, concatenated along dim 1.]])

-- ----------------------------------------------------------------- History --

local History = class("History")
M.History = History

local function history_keys(h)
  local keys = {}
  for k, v in pairs(h) do
    if type(k) == "string" and type(v) == "table" and k ~= "lr" and (#v == 0 or type(v[1]) == "number") then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys, function(a, b)
    local ra, rb = a:gsub("^val_", ""), b:gsub("^val_", "")
    if ra ~= rb then
      if ra == "loss" then return true end
      if rb == "loss" then return false end
      return ra < rb
    end
    return a < b
  end)
  return keys
end

function History.__tostring(h)
  local parts = {}
  for _, k in ipairs(history_keys(h)) do
    local v = h[k]
    if #v > 0 then parts[#parts + 1] = string.format("%s %.4f", k, v[#v]) end
  end
  return string.format("History(%d epoch%s%s%s)", h.epochs, h.epochs == 1 and "" or "s",
                       #parts > 0 and (": " .. table.concat(parts, ", ")) or "",
                       h.interrupted and ", interrupted" or "")
end

function History:plot(opts) return require("ember.plot").curves(self, opts) end
doc(History.plot, "h:plot([opts]) -> Figure\n\nThe training curves (plot.curves(h)).")

function History:last(key)
  local v = self[key]
  return type(v) == "table" and v[#v] or nil
end
doc(History.last, "h:last(key) -> number\n\nThe last epoch's value of key (\"loss\", \"val_accuracy\", ...).")

-- --------------------------------------------------------------- progress --

local function fmt_time(s)
  if s ~= s or s == math.huge then return "--:--" end
  s = math.floor(s + 0.5)
  if s >= 3600 then return string.format("%d:%02d:%02d", s // 3600, s % 3600 // 60, s % 60) end
  return string.format("%02d:%02d", s // 60, s % 60)
end

local function fmt_logs(logs, keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = logs[k]
    if type(v) == "number" then parts[#parts + 1] = string.format("%s %.4f", k, v) end
  end
  return table.concat(parts, "  ")
end

-- mode: "bar" (a terminal: one line redrawn in place), "line" (one line per
-- epoch), "none"
local Progress = class("Progress")

local function new_progress(mode, epoch, epochs, nb)
  return setmetatable({mode = mode, epoch = epoch, epochs = epochs, nb = nb, t0 = sys.clock(),
                       last = -math.huge, width = 80}, Progress)
end

function Progress:line(b, seen, logs, keys)
  local el = sys.clock() - self.t0
  local rate = el > 0 and seen / el or 0
  local eta = b > 0 and el / b * (self.nb - b) or 0 / 0
  local head = string.format("Epoch %d/%d", self.epoch, self.epochs)
  local bar = ""
  if self.mode == "bar" then
    local w = 24
    local fill = self.nb > 0 and math.floor(w * b / self.nb) or w
    bar = " [" .. string.rep("=", math.max(fill - 1, 0)) .. (fill > 0 and (b == self.nb and "=" or ">") or "")
          .. string.rep(" ", w - fill) .. "]"
  end
  return string.format("%s%s %d/%d %s<%s %.0f samples/s  %s", head, bar, b, self.nb, fmt_time(el),
                       b == self.nb and "00:00" or fmt_time(eta), rate, fmt_logs(logs, keys))
end

function Progress:update(b, seen, logs, keys)
  if self.mode ~= "bar" or b == self.nb then return end   -- finish() draws the last state
  local now = sys.clock()
  if now - self.last < 0.1 and b < self.nb then return end
  self.last = now
  local s = self:line(b, seen, logs, keys)
  local cols = (sys.term_size()) or 100
  if #s > cols - 1 then s = s:sub(1, cols - 1) end
  io.stdout:write("\r", s, "\27[K")
  io.stdout:flush()
end

function Progress:finish(b, seen, logs, keys)
  if self.mode == "none" then return end
  local s = self:line(b, seen, logs, keys)
  if self.mode == "bar" then io.stdout:write("\r", s, "\27[K\n")
  else io.stdout:write(s, "\n") end
  io.stdout:flush()
end

-- --------------------------------------------------------------- callbacks --

local function auto_mode(monitor, mode)
  if mode and mode ~= "auto" then return mode end
  for _, w in ipairs{"acc", "f1", "precision", "recall"} do
    if monitor:find(w) then return "max" end
  end
  return "min"
end

local function pick_monitor(cb, logs, who)
  local v = logs[cb.monitor]
  if v == nil and cb.monitor_default and cb.monitor == "val_loss" then
    cb.monitor = "loss"   -- no validation data: watch the training loss
    v = logs.loss
  end
  if v == nil then
    local keys = {}
    for k in pairs(logs) do keys[#keys + 1] = k end
    table.sort(keys)
    error(string.format("%s: monitor '%s' is not among the epoch's values (%s)", who, cb.monitor,
                        table.concat(keys, " ")), 0)
  end
  return v
end

local function better(mode, v, best, delta)
  if best == nil then return true end
  if mode == "min" then return v < best - delta end
  return v > best + delta
end

local function snapshot(model)
  local sd = model:state_dict()
  local copy = {}
  for k, v in pairs(sd) do copy[k] = ember.is_tensor(v) and v:detach():clone() or v end
  return copy
end

M.early_stopping = doc(function(opts)
  opts = opts or {}
  return {
    name = "early_stopping", monitor = opts.monitor or "val_loss", monitor_default = opts.monitor == nil,
    patience = opts.patience or 3, min_delta = opts.min_delta or 0, restore_best = opts.restore_best or false,
    mode = opts.mode, wait = 0, best = nil, best_epoch = nil, stopped_epoch = nil,
    on_train_begin = function(self)
      self.wait, self.best, self.best_epoch, self.stopped_epoch, self.best_state = 0, nil, nil, nil, nil
    end,
    on_epoch_end = function(self, epoch, logs, ctx)
      local v = pick_monitor(self, logs, "train.early_stopping")
      local mode = auto_mode(self.monitor, self.mode)
      if better(mode, v, self.best, self.min_delta) then
        self.best, self.best_epoch, self.wait = v, epoch, 0
        if self.restore_best then self.best_state = snapshot(ctx.model) end
      else
        self.wait = self.wait + 1
        if self.wait >= self.patience then
          self.stopped_epoch = epoch
          ctx.stop = true
        end
      end
    end,
    on_train_end = function(self, ctx)
      if self.restore_best and self.best_state and self.best_epoch ~= ctx.history.epochs then
        ctx.model:load_state_dict(self.best_state)
        self.restored = true
      end
    end,
  }
end, [[train.early_stopping{monitor="val_loss", patience=3, min_delta=0, mode="auto", restore_best=false} -> callback

Stops fit when `monitor` has not improved for `patience` epochs (mode "min",
or "max" for accuracy-like names); restore_best puts back the weights of the
best epoch.  After fit: cb.best, cb.best_epoch, cb.stopped_epoch.]])

M.checkpoint = doc(function(opts)
  opts = opts or {}
  if type(opts.path) ~= "string" then error("train.checkpoint: path= is required", 2) end
  return {
    name = "checkpoint", path = opts.path, monitor = opts.monitor or "val_loss",
    monitor_default = opts.monitor == nil, save_best_only = opts.save_best_only or false,
    mode = opts.mode, best = nil, saved = {},
    on_epoch_end = function(self, epoch, logs, ctx)
      local path = self.path:gsub("{epoch}", string.format("%03d", epoch))
      if self.save_best_only then
        local v = pick_monitor(self, logs, "train.checkpoint")
        if not better(auto_mode(self.monitor, self.mode), v, self.best, 0) then return end
        self.best = v
      end
      local model = ctx.model
      if model.save then model:save(path)
      elseif ember.save then ember.save(path, model:state_dict())
      else error("train.checkpoint: ember.save is not available", 0) end
      self.saved[#self.saved + 1] = path
      self.last_path, self.last_epoch = path, epoch
    end,
  }
end, [[train.checkpoint{path=, monitor="val_loss", save_best_only=false, mode="auto"} -> callback

Saves the model (safetensors, model:save) after each epoch, or only when
`monitor` improves; "{epoch}" in path becomes the epoch number.  cb.saved
lists the files written.]])

M.scheduler = doc(function(sched, opts)
  opts = opts or {}
  if type(sched) ~= "table" or type(sched.step) ~= "function" then
    error("train.scheduler: expected a scheduler (an object with :step())", 2)
  end
  local name = class.name(sched) or ""
  local per = opts.per or (name == "OneCycleLR" and "batch" or "epoch")
  local needs_metric = opts.monitor ~= nil or name == "ReduceLROnPlateau"
  local cb = {name = "scheduler", scheduler = sched, monitor = opts.monitor or "val_loss",
              monitor_default = opts.monitor == nil}
  if per == "batch" then
    cb.on_batch_end = function() sched:step() end
  else
    cb.on_epoch_end = function(self, _, logs)
      if needs_metric then sched:step(pick_monitor(self, logs, "train.scheduler")) else sched:step() end
    end
  end
  return cb
end, [[train.scheduler(sched [, {per="epoch"|"batch", monitor=}]) -> callback

Steps an optim scheduler during fit: once per epoch (OneCycleLR: per batch);
ReduceLROnPlateau (or monitor=) gets the monitored value (val_loss, else
loss).  A scheduler placed directly in callbacks is wrapped this way.]])

local function as_callback(cb)
  if type(cb) ~= "table" then error("train.fit: callbacks must be tables", 3) end
  if cb.on_epoch_end or cb.on_batch_end or cb.on_train_begin or cb.on_train_end or cb.on_epoch_begin then
    return cb
  end
  if type(cb.step) == "function" then return M.scheduler(cb) end
  error("train.fit: a callback needs on_epoch_end / on_batch_end / on_train_begin / on_train_end", 3)
end

-- -------------------------------------------------------------------- fit --

local OPTIMIZERS = {sgd = "SGD", adam = "Adam", adamw = "AdamW", rmsprop = "RMSprop", adagrad = "Adagrad"}

local function resolve_optimizer(o, model, opts)
  if type(o) == "table" and type(o.step) == "function" then return o end
  local name = o or "adam"
  local cls = OPTIMIZERS[tostring(name):lower()]
  if not cls then
    error("train.fit: unknown optimizer '" .. tostring(name) .. "' (sgd adam adamw rmsprop adagrad, or an optimizer)", 3)
  end
  local optim = require("ember.optim")
  local ctor = optim[cls]
  if not ctor then error("train.fit: optim." .. cls .. " is not available", 3) end
  local oo = {lr = opts.lr or (cls == "SGD" and 0.01 or nil), momentum = opts.momentum,
              weight_decay = opts.weight_decay}
  return ctor(model:parameters(), oo)
end

local function is_interrupt(err)
  return type(err) == "string" and err:find("interrupted%s*$") ~= nil
end

local function current_lr(opt)
  local g = type(opt) == "table" and opt.param_groups and opt.param_groups[1]
  return g and g.lr or nil
end

local function call_cbs(cbs, event, ...)
  for _, cb in ipairs(cbs) do
    local f = cb[event]
    if f then f(cb, ...) end
  end
end

-- the validation rows: validation_data, or the last fraction of the data
local function split_validation(d, opts)
  if opts.validation_data ~= nil then
    return d, opts.validation_data
  end
  local vs = opts.validation_split
  if vs == nil or vs == 0 then return d, nil end
  if type(vs) ~= "number" or vs <= 0 or vs >= 1 then
    error("train.fit: validation_split must be in (0, 1), got " .. tostring(vs), 3)
  end
  if is_loader(d) then
    error("train.fit: validation_split needs a dataset or {x, y}, not a loader (use validation_data)", 3)
  end
  local ds = as_dataset(d, "train.fit")
  local n = #ds
  local nval = math.floor(n * vs)
  if nval < 1 or nval >= n then error("train.fit: validation_split leaves no training or no validation rows", 3) end
  -- as Keras: the last rows, before any shuffling
  return data.subset(ds, ember.arange(1, n - nval + 1)), data.subset(ds, ember.arange(n - nval + 1, n + 1))
end

M.fit = doc(function(model, d, opts)
  opts = opts or {}
  if model == nil then error("train.fit: model is nil", 2) end
  if opts.seed then ember.manual_seed(opts.seed) end
  local epochs = opts.epochs or 1
  local lossfn, lname = resolve_loss(opts.loss, "train.fit")
  local logits = lname == "bce_with_logits"
  local mets = resolve_metrics(opts.metrics, lname, "train.fit")
  local train_d, val_d = split_validation(d, opts)
  local loader = as_loader(train_d, opts, opts.shuffle ~= false, "train.fit")
  local val_loader = val_d and as_loader(val_d, {batch_size = opts.val_batch_size or math.max(opts.batch_size or 32, 256)},
                                         false, "train.fit")
  local opt = resolve_optimizer(opts.optimizer, model, opts)
  local cbs = {}
  for i, cb in ipairs(opts.callbacks or {}) do cbs[i] = as_callback(cb) end

  local verbose = opts.verbose
  if verbose == nil then verbose = 1 end
  if verbose == false then verbose = 0 end
  local mode = verbose == 0 and "none" or ((verbose == 1 and sys.isatty(1)) and "bar" or "line")

  local h = setmetatable({loss = {}, epochs = 0, interrupted = false, lr = {}}, History)
  if val_loader then h.val_loss = {} end
  for _, m in ipairs(mets) do
    h[m.name] = {}
    if val_loader then h["val_" .. m.name] = {} end
  end
  local keys = {"loss"}
  for _, m in ipairs(mets) do keys[#keys + 1] = m.name end
  local epoch_keys = {"loss"}
  for _, m in ipairs(mets) do epoch_keys[#epoch_keys + 1] = m.name end
  if val_loader then
    epoch_keys[#epoch_keys + 1] = "val_loss"
    for _, m in ipairs(mets) do epoch_keys[#epoch_keys + 1] = "val_" .. m.name end
  end

  local ctx = {model = model, optimizer = opt, history = h, stop = false, opts = opts}
  local fig, plot_failed
  local function live_plot(final)
    if not opts.plot or plot_failed then return end
    local ok, err = pcall(function()
      local plot = require("ember.plot")
      local term = plot.terminal()
      if term == "none" then return end
      if not fig then
        local n = 1 + #mets
        fig = opts.plot_figure or plot.figure{layout = {1, n}, interval = opts.plot_interval}
        ctx.figure = fig
      end
      plot._fill_curves(fig, h)
      if term == "dumb" then
        if final then fig:show() end   -- text plots: once, at the end
      else
        fig:update({force = final})
      end
    end)
    if not ok then
      plot_failed = true
      io.stderr:write("train.fit: plot disabled: ", tostring(err), "\n")
    end
  end

  sys.sigint_trap(true)
  local was_training = set_mode(model, true)
  local ok, err = pcall(function()
    call_cbs(cbs, "on_train_begin", ctx)
    for epoch = 1, epochs do
      ctx.epoch = epoch
      call_cbs(cbs, "on_epoch_begin", epoch, ctx)
      set_mode(model, true)
      local nb = #loader
      local prog = new_progress(mode, epoch, epochs, nb)
      local seen, lsum, b = 0, 0, 0
      local preds, ys, fsums = {}, {}, {}
      local running = {}
      for xb, yb in loader:batches() do
        local bok, berr = pcall(function()
          if opt.zero_grad then opt:zero_grad() end
          local out = forward(model, xb)
          local l = lossfn(out, yb)
          l:backward()
          opt:step()
          local n = xb.shape[1]
          local lv = l:item()
          if lv ~= lv then
            io.stderr:write(string.format("\ntrain.fit: loss is NaN at epoch %d batch %d\n", epoch, b + 1))
          end
          lsum = lsum + lv * n
          seen = seen + n
          if #mets > 0 then
            local pb, yt = metric_preds(out, logits), targets_of(yb)
            preds[#preds + 1], ys[#ys + 1] = pb, yt
            for i, m in ipairs(mets) do
              -- named metrics reuse the batch's labels (no second argmax)
              local v = m.named and m.exact(pb, yt) or m.fn(out:detach(), yb)
              fsums[i] = (fsums[i] or 0) + v * n
              running[m.name] = fsums[i] / seen
            end
          end
          running.loss = lsum / seen
        end)
        if not bok then
          if is_interrupt(berr) then h.interrupted = true; break end
          error(berr, 0)
        end
        b = b + 1
        call_cbs(cbs, "on_batch_end", b, running, ctx)
        prog:update(b, seen, running, keys)
        if sys.sigint_pending() then h.interrupted = true; break end
      end
      if b == 0 and h.interrupted then break end
      -- the epoch's values: exact over all rows for named metrics
      local logs = {loss = seen > 0 and lsum / seen or 0 / 0}
      if #preds > 0 then
        local p, y = ember.cat(preds, 1), ember.cat(ys, 1)
        for i, m in ipairs(mets) do
          logs[m.name] = m.named and m.exact(p, y) or fsums[i] / seen
        end
      end
      if val_loader and not h.interrupted then
        local vlogs = run_eval(model, val_loader, lossfn, mets, logits)
        for k, v in pairs(vlogs) do logs["val_" .. k] = v end
      end
      for k, v in pairs(logs) do
        h[k] = h[k] or {}
        h[k][#h[k] + 1] = v
      end
      h.lr[#h.lr + 1] = current_lr(opt)
      h.epochs = epoch
      prog:finish(b, seen, logs, epoch_keys)
      if h.interrupted then break end
      call_cbs(cbs, "on_epoch_end", epoch, logs, ctx)
      live_plot(false)
      if ctx.stop then h.stopped_early = true; break end
    end
  end)
  sys.sigint_trap(false)
  if not ok and is_interrupt(err) then
    h.interrupted = true
    ok = true
  end
  if ok then
    local cok, cerr = pcall(call_cbs, cbs, "on_train_end", ctx)
    if not cok then ok, err = false, cerr end
  end
  restore_mode(model, was_training)
  if not ok then error(err, 0) end
  if h.interrupted and mode ~= "none" then
    io.stdout:write(string.format("train.fit: interrupted after %d epoch%s; weights kept\n", h.epochs,
                                  h.epochs == 1 and "" or "s"))
  end
  live_plot(true)
  h.figure = fig
  return h
end, [[train.fit(model, data, opts) -> History

Trains model on data (a dataset, a loader, or {x, y}).  opts:
  epochs=1, batch_size=32, shuffle=true, seed=, transform= (training batches)
  optimizer= an optimizer, or "sgd" "adam" (default) "adamw" "rmsprop"
    "adagrad" with lr= (momentum=, weight_decay=)
  loss= a function (out, y) -> scalar, or "mse" (default) "l1" "smooth_l1"
    "bce" "bce_with_logits" "cross_entropy" "nll"
  metrics= {"accuracy", "precision", "recall", "f1", name = function(out, y)}
  validation_split= fraction (the last rows, held out) or validation_data=
  callbacks= {train.early_stopping{...}, train.checkpoint{...}, scheduler}
  verbose= 1 (progress bar; one line per epoch when stdout is not a
    terminal), 2 (one line per epoch), 0 (quiet)
  plot=true: live loss/metric curves (redrawn each epoch, throttled)
Returns a History: h.loss, h.val_loss, h.accuracy, h.val_accuracy, ... (one
value per epoch), h.epochs, h.lr, h.interrupted, h:plot().  Ctrl-C stops
after the current batch and returns the History so far (interrupted=true;
the interrupted epoch's values cover the batches it finished); the model
keeps its weights.  A second Ctrl-C interrupts at once.]])

doc(M, [[train: fit, evaluate and predict

train.fit(model, data, opts) -> History, train.evaluate(model, data),
train.predict(model, x); callbacks train.early_stopping{...},
train.checkpoint{...}, train.scheduler(sched).]])
doc(History, [[train.History: what fit returns

h.loss, h.val_loss, h.<metric>, h.val_<metric>: one value per epoch;
h.epochs, h.lr, h.interrupted, h.stopped_early; h:plot(), h:last(key).]])

return M
