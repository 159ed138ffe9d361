-- sweep_and_regularisation.lua: reference workload 10, the seeds' advice on
-- tuning and regularising, as three experiments on Fashion-MNIST MLPs, each
-- run with sweep.run (trials in parallel worker processes) and plotted with
-- the curves of all trials overlaid:
--   1. a grid sweep over learning rate and hidden width (Adam), plot.sweep;
--   2. regularisation on a small training set (1000 images) where a wide
--      MLP overfits: none, L2 weight decay, dropout, early stopping;
--   3. optimizers: SGD, SGD with momentum 0.9, Adam, RMSprop.
-- Prints each experiment's table (and the best trial) and saves three PNGs.
--   ember examples/sweep_and_regularisation.lua     (EMBER_QUICK=1: tiny runs)
local quick = os.getenv("EMBER_QUICK") == "1"
local outdir = os.getenv("EMBER_OUT") or "."
local show = os.getenv("EMBER_PLOT") ~= "none"
ember.manual_seed(10)

local full = data.fashion_mnist("train")
local test = data.fashion_mnist("test")
-- fixed subsets, shared by every trial (workers inherit them when forked)
local function rows(ds, first, n) return data.tensors(ds.x:narrow(1, first, n), ds.y:narrow(1, first, n)) end
local sweep_train = rows(full, 1, quick and 1000 or 10000)
local small_train = rows(full, 20001, quick and 300 or 1000)
local val = rows(test, 1, quick and 500 or 2000)

-- Flatten-Linear(784,w)-ReLU-[Dropout]-...-Linear(w,10), `depth` hidden layers
local function mlp(width, depth, dropout)
  local layers, d_in = {nn.Flatten()}, 784
  for _ = 1, depth do
    layers[#layers + 1] = nn.Linear(d_in, width)
    layers[#layers + 1] = nn.ReLU()
    if dropout then layers[#layers + 1] = nn.Dropout(dropout) end
    d_in = width
  end
  layers[#layers + 1] = nn.Linear(d_in, 10)
  return nn.Sequential(table.unpack(layers))
end

-- overlays history[key] of every trial on panel `panel` of fig
local function overlay(fig, panel, res, key, title, label_of)
  fig:panel(panel):title(title):xlabel("epoch")
  for _, t in ipairs(res) do
    if t.history and t.history[key] then fig:line(t.history[key], {label = label_of(t), style = "linespoints"}) end
  end
end

local function last(t, key) local h = t.history and t.history[key]; return h and h[#h] or 0 / 0 end

-- 1. learning rate x width --------------------------------------------------------
local epochs1 = quick and 2 or 5
print(string.format("1. grid sweep: Adam lr x hidden width, %d images, %d epochs", #sweep_train, epochs1))
local res1 = sweep.run{
  space = {lr = quick and {1e-4, 1e-2} or {1e-4, 1e-3, 1e-2}, width = quick and {32} or {32, 256}},
  method = "grid", objective = "val_loss", mode = "min", seed = 10, verbose = false,
  trial = function(cfg, report)
    local model = mlp(cfg.width, 1)
    return train.fit(model, sweep_train, {
      epochs = epochs1, batch_size = 64, optimizer = "adam", lr = cfg.lr, loss = "cross_entropy",
      metrics = {"accuracy"}, validation_data = val, verbose = 0, callbacks = {sweep.callback(report)}})
  end,
}
print(res1:table())
local best = res1:best()
print(string.format("best: lr=%g width=%d  val_loss %.4f  val_accuracy %.4f", best.params.lr, best.params.width,
                    last(best, "val_loss"), last(best, "val_accuracy")))
local sweep_png = outdir .. "/sweep_lr_width.png"
plot.sweep(res1, {save = sweep_png, show = show})

-- 2. regularisation ---------------------------------------------------------------
-- a 784-512-512-10 MLP on 1000 images overfits within a few epochs: the
-- validation loss turns up while the training loss goes on falling
local epochs2 = quick and 4 or 40
local methods = {"none", "l2", "dropout", "early_stopping"}
print(string.format("\n2. regularisation: 784-512-512-10 on %d images, Adam 1e-3, up to %d epochs",
                    #small_train, epochs2))
local res2 = sweep.run{
  space = {method = methods}, method = "grid", objective = "val_loss", mode = "min", seed = 10, verbose = false,
  trial = function(cfg, report)
    local m = cfg.method
    ember.manual_seed(10)   -- every method starts from the same weights and batch order
    local model = mlp(512, 2, m == "dropout" and 0.5 or nil)
    local cbs = {sweep.callback(report)}
    local es
    if m == "early_stopping" then
      es = train.early_stopping{monitor = "val_loss", patience = 3, restore_best = true}
      table.insert(cbs, 1, es)
    end
    local h = train.fit(model, small_train, {
      epochs = epochs2, batch_size = 32, optimizer = "adam", lr = 1e-3,
      weight_decay = m == "l2" and 1e-3 or nil, loss = "cross_entropy", metrics = {"accuracy"},
      validation_data = val, verbose = 0, callbacks = cbs})
    -- the model as it ends up (early stopping restores its best epoch)
    local final = train.evaluate(model, val, {loss = "cross_entropy", metrics = {"accuracy"}})
    return {val_loss = final.loss, val_accuracy = final.accuracy, epochs = h.epochs,
            train_loss = h.loss[#h.loss]}
  end,
}
for _, t in ipairs(res2) do
  print(string.format("  %-15s final val_loss %.4f  val_accuracy %.4f  train loss %.4f  (%d epochs)",
                      t.params.method, t.metrics.val_loss or 0 / 0, t.metrics.val_accuracy or 0 / 0,
                      t.metrics.train_loss or 0 / 0, t.metrics.epochs or 0))
end
local label2 = function(t) return t.params.method end
local fig2 = plot.figure{layout = {1, 2}}
overlay(fig2, 1, res2, "loss", "training loss", label2)
overlay(fig2, 2, res2, "val_loss", "validation loss", label2)
fig2:panel(1)
local reg_png = outdir .. "/regularisation.png"
fig2:save(reg_png)
if show then fig2:show() end

-- 3. optimizers ---------------------------------------------------------------------
local epochs3 = quick and 2 or 10
local opts3 = {
  sgd = {name = "SGD", lr = 0.01}, sgd_momentum = {name = "SGD", lr = 0.01, momentum = 0.9},
  adam = {name = "Adam", lr = 1e-3}, rmsprop = {name = "RMSprop", lr = 1e-3},
}
print(string.format("\n3. optimizers: 784-128-10 on %d images, batch 64, %d epochs", #sweep_train, epochs3))
local res3 = sweep.run{
  space = {optimizer = {"sgd", "sgd_momentum", "adam", "rmsprop"}}, method = "grid",
  objective = "val_loss", mode = "min", seed = 10, verbose = false,
  trial = function(cfg, report)
    local o = opts3[cfg.optimizer]
    ember.manual_seed(10)   -- the same initial weights and batch order for each optimizer
    local model = mlp(128, 1)
    local opt = optim[o.name](model:parameters(), {lr = o.lr, momentum = o.momentum})
    return train.fit(model, sweep_train, {
      epochs = epochs3, batch_size = 64, optimizer = opt, loss = "cross_entropy", metrics = {"accuracy"},
      validation_data = val, verbose = 0, callbacks = {sweep.callback(report)}})
  end,
}
for _, t in ipairs(res3) do
  local o = opts3[t.params.optimizer]
  print(string.format("  %-13s lr %-6g final loss %.4f  val_loss %.4f  val_accuracy %.4f", t.params.optimizer,
                      o.lr, last(t, "loss"), last(t, "val_loss"), last(t, "val_accuracy")))
end
local label3 = function(t) return t.params.optimizer end
local fig3 = plot.figure{layout = {1, 2}}
overlay(fig3, 1, res3, "loss", "training loss", label3)
overlay(fig3, 2, res3, "val_accuracy", "validation accuracy", label3)
fig3:legend("bottom right")   -- accuracy curves rise into the top corner
fig3:panel(1)
local opt_png = outdir .. "/optimizers.png"
fig3:save(opt_png)
if show then fig3:show() end

print("\nsaved " .. sweep_png .. ", " .. reg_png .. " and " .. opt_png)
