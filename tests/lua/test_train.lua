-- test_train.lua: ember.train on small synthetic data: the loss decreases;
-- every optimizer and loss name works; validation_split holds out the last
-- rows (a recording model sees which rows train and which validate);
-- early stopping stops and restores the best weights; checkpoints are
-- written and load into a fresh model; schedulers step; evaluate/predict
-- run batched in eval mode; the progress display (plain lines without a
-- terminal, a bar redrawn in place on a pty); a SIGINT sent to a child
-- process during fit returns a partial History whose weights evaluate.
local T = dofile("tests/lua/harness.lua")

local tmpdir = os.tmpname()
os.remove(tmpdir)
os.execute("mkdir -p " .. tmpdir)

plot.config.terminal = "none"

local function linear_data(n, seed)
  ember.manual_seed(seed or 0)
  local x = ember.randn(n, 2)
  local y = (x:select(2, 1) * 3 - x:select(2, 2) * 2 + 1):view(n, 1)
  return x, y
end

local function blobs(n, seed)
  ember.manual_seed(seed or 0)
  local y = ember.randint(1, 4, {n})
  local centers = ember.tensor{{0, 3}, {3, -2}, {-3, -2}}
  local x = centers:index_select(1, y) + ember.randn(n, 2) * 0.5
  return x, y
end

T.test("fit: the loss decreases (linear regression, SGD, mse)", function()
  local x, y = linear_data(256)
  local model = nn.Linear(2, 1)
  local h = train.fit(model, {x, y}, {epochs = 15, batch_size = 32, optimizer = "sgd", lr = 0.05,
                                      loss = "mse", verbose = 0, seed = 1})
  T.eq(h.epochs, 15)
  T.eq(#h.loss, 15)
  T.eq(h.interrupted, false)
  T.ok(h.loss[15] < h.loss[1] * 0.01, "loss " .. h.loss[1] .. " -> " .. h.loss[15])
  for i = 2, 15 do T.ok(h.loss[i] <= h.loss[i - 1] * 1.05, "epoch " .. i) end
  T.near(model.weight[{1, 1}]:item(), 3, 0.05)
  T.near(model.bias:totable()[1], 1, 0.05)
  T.eq(h.val_loss, nil, "no validation asked")
  T.ok(tostring(h):find("History%(15 epochs: loss"))
  T.eq(h:last("loss"), h.loss[15])
end)

T.test("fit: every optimizer and loss by name, metrics, dataset and loader inputs", function()
  local x, y = blobs(300)
  for _, o in ipairs{"sgd", "adam", "adamw", "rmsprop", "adagrad"} do
    ember.manual_seed(3)
    local model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    local h = train.fit(model, data.tensors(x, y), {epochs = 4, optimizer = o, lr = o == "sgd" and 0.1 or 0.01,
                                                    loss = "cross_entropy", metrics = {"accuracy", "f1"},
                                                    verbose = 0})
    T.ok(h.loss[4] < h.loss[1], o .. ": loss " .. h.loss[1] .. " -> " .. h.loss[4])
    T.ok(h.accuracy[4] > 0.8, o .. ": accuracy " .. h.accuracy[4])
    T.eq(#h.f1, 4)
  end
  -- nll on log-probabilities, from a loader
  local model = nn.Sequential(nn.Linear(2, 3), nn.LogSoftmax(2))
  local l = data.loader(data.tensors(x, y), {batch_size = 50, shuffle = true})
  local h = train.fit(model, l, {epochs = 3, loss = "nll", optimizer = "adam", lr = 0.05, verbose = 0})
  T.ok(h.loss[3] < h.loss[1])
  -- binary losses with (N) 0/1 targets against (N,1) outputs
  local xb = ember.randn(200, 2)
  local yb = xb:sum(2):gt(0):long()   -- int64 0/1, shape (N)
  for _, lname in ipairs{"bce_with_logits", "bce", "mse", "l1", "smooth_l1"} do
    local m = lname == "bce" and nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()) or nn.Linear(2, 1)
    local hb = train.fit(m, {xb, yb}, {epochs = 3, loss = lname, optimizer = "adam", lr = 0.05,
                                       metrics = {"accuracy"}, verbose = 0})
    T.ok(hb.loss[3] < hb.loss[1], lname)
    if lname:find("bce") then T.ok(hb.accuracy[3] > 0.8, lname .. " accuracy " .. hb.accuracy[3]) end
  end
  -- a function loss and a function metric
  local hf = train.fit(nn.Linear(2, 1), {linear_data(64)}, {epochs = 2, verbose = 0,
    loss = function(o, t) return ((o - t) ^ 2):mean() end,
    metrics = {maxerr = function(o, t) return (o - t):abs():max():item() end}})
  T.eq(#hf.maxerr, 2)
  T.raises(function() train.fit(nn.Linear(2, 1), {xb, yb}, {loss = "hinge", verbose = 0}) end, "unknown loss 'hinge'")
  T.raises(function() train.fit(nn.Linear(2, 1), {xb, yb}, {optimizer = "lbfgs", verbose = 0}) end, "unknown optimizer")
  T.raises(function() train.fit(nn.Linear(2, 1), {xb, yb}, {metrics = {"auc"}, verbose = 0}) end, "unknown metric 'auc'")
  T.raises(function() train.fit(nn.Linear(2, 1), 42, {verbose = 0}) end, "data must be")
end)

T.test("validation_split holds out the last rows", function()
  local Rec = nn.Module:extend("Recorder")
  function Rec:init() self.lin = nn.Linear(1, 1); self.train_ids = {}; self.eval_ids = {} end
  function Rec:forward(x)
    local ids = self.training and self.train_ids or self.eval_ids
    for _, v in ipairs(x:select(2, 1):totable()) do ids[math.floor(v + 0.5)] = true end
    return self.lin(x)
  end
  local n = 50
  local x = ember.arange(1, n + 1):float():view(n, 1)
  local y = x * 0.01
  local model = Rec()
  local h = train.fit(model, {x, y}, {epochs = 2, batch_size = 8, validation_split = 0.2, optimizer = "sgd",
                                      lr = 1e-4, verbose = 0})
  T.eq(#h.val_loss, 2)
  for i = 1, 40 do T.ok(model.train_ids[i], "row " .. i .. " trains") end
  for i = 41, 50 do
    T.ok(not model.train_ids[i], "row " .. i .. " never trains")
    T.ok(model.eval_ids[i], "row " .. i .. " validates")
  end
  for i = 1, 40 do T.ok(not model.eval_ids[i], "row " .. i .. " does not validate") end
  T.eq(model.training, true, "train mode restored")
  -- validation_data
  local h2 = train.fit(nn.Linear(1, 1), {x, y}, {epochs = 1, validation_data = {x:narrow(1, 1, 5), y:narrow(1, 1, 5)},
                                                  verbose = 0})
  T.eq(#h2.val_loss, 1)
  T.raises(function() train.fit(nn.Linear(1, 1), data.loader(data.tensors(x, y)), {validation_split = 0.2,
                                                                                   verbose = 0}) end,
           "not a loader")
end)

T.test("early stopping stops and restores the best weights", function()
  local x = ember.randn(128, 1)
  -- the validation targets are the opposite: fitting the training data
  -- makes the validation loss grow from the first epoch on
  local model = nn.Linear(1, 1)
  local es = train.early_stopping{monitor = "val_loss", patience = 2, restore_best = true}
  local h = train.fit(model, {x, x}, {epochs = 50, optimizer = "sgd", lr = 0.1, batch_size = 16,
                                      validation_data = {x, -x}, callbacks = {es}, verbose = 0})
  T.ok(h.epochs < 50, "stopped early at " .. h.epochs)
  T.eq(h.stopped_early, true)
  T.eq(es.stopped_epoch, h.epochs)
  T.eq(h.epochs - es.best_epoch, 2, "patience 2 after the best epoch")
  local best = h.val_loss[es.best_epoch]
  for _, v in ipairs(h.val_loss) do T.ok(v >= best) end
  T.ok(h.val_loss[h.epochs] > best, "the last epoch was worse")
  T.eq(es.restored, true)
  local now = train.evaluate(model, {x, -x}, {loss = "mse"}).loss
  T.near(now, best, 1e-5, "weights of the best epoch are back")
  -- mode max for accuracy-like monitors; a default monitor without validation watches loss
  local es2 = train.early_stopping{patience = 1}
  train.fit(nn.Linear(1, 1), {x, x}, {epochs = 3, callbacks = {es2}, verbose = 0})
  T.eq(es2.monitor, "loss")
  local es3 = train.early_stopping{monitor = "val_nothing"}
  T.raises(function() train.fit(nn.Linear(1, 1), {x, x}, {epochs = 1, callbacks = {es3}, verbose = 0}) end,
           "monitor 'val_nothing'")
end)

T.test("checkpoints are written and load into a fresh model", function()
  local x, y = linear_data(64)
  ember.manual_seed(5)
  local model = nn.Linear(2, 1)
  local ck = train.checkpoint{path = tmpdir .. "/ck_{epoch}.safetensors"}
  local best = train.checkpoint{path = tmpdir .. "/best.safetensors", monitor = "loss", save_best_only = true}
  local h = train.fit(model, {x, y}, {epochs = 3, optimizer = "sgd", lr = 0.05, callbacks = {ck, best},
                                      verbose = 0})
  T.eq(#ck.saved, 3)
  for e = 1, 3 do
    local f = io.open(string.format("%s/ck_%03d.safetensors", tmpdir, e), "rb")
    T.ok(f, "checkpoint of epoch " .. e)
    if f then f:close() end
  end
  T.eq(#best.saved, 3, "the loss improved each epoch")
  local fresh = nn.Linear(2, 1)
  fresh:load(tmpdir .. "/ck_003.safetensors")
  T.eq((fresh(x) - model(x)):abs():max():item(), 0)
  local older = nn.Linear(2, 1)
  older:load(tmpdir .. "/ck_001.safetensors")
  T.ok((older(x) - model(x)):abs():max():item() > 0, "epoch 1 differs from epoch 3")
  T.ok(h.loss[3] < h.loss[1])
  -- save_best_only skips epochs that did not improve
  local cb = train.checkpoint{path = tmpdir .. "/b2.safetensors", monitor = "val_loss", save_best_only = true}
  train.fit(nn.Linear(1, 1), {x:narrow(2, 1, 1), x:narrow(2, 1, 1)}, {epochs = 4, optimizer = "sgd", lr = 0.1,
            validation_data = {x:narrow(2, 1, 1), -x:narrow(2, 1, 1)}, callbacks = {cb}, verbose = 0})
  T.ok(#cb.saved < 4, "saved " .. #cb.saved .. " times")
  T.raises(function() train.checkpoint{} end, "path= is required")
end)

T.test("schedulers as callbacks", function()
  local x, y = linear_data(64)
  local model = nn.Linear(2, 1)
  local opt = optim.SGD(model:parameters(), {lr = 0.1})
  local h = train.fit(model, {x, y}, {epochs = 3, optimizer = opt, verbose = 0,
                                      callbacks = {optim.StepLR(opt, {step_size = 1, gamma = 0.5})}})
  T.near(h.lr, {0.1, 0.05, 0.025})
  local m2 = nn.Linear(2, 1)
  local o2 = optim.SGD(m2:parameters(), {lr = 0.1})
  local plateau = optim.ReduceLROnPlateau(o2, {patience = 0, factor = 0.5})
  local h2 = train.fit(m2, {x, y}, {epochs = 3, optimizer = o2, verbose = 0, validation_data = {x, -y},
                                    callbacks = {train.scheduler(plateau)}})
  T.ok(h2.lr[3] < 0.1, "plateau cut the lr: " .. tostring(h2.lr[3]))
end)

T.test("evaluate and predict: batched, no grad, eval mode restored", function()
  local x, y = blobs(300, 2)
  local model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 3))
  train.fit(model, {x, y}, {epochs = 10, loss = "cross_entropy", optimizer = "adam", lr = 0.01, verbose = 0})
  local p1 = train.predict(model, x, {batch_size = 7})
  local p2 = train.predict(model, x)
  T.same(p1.shape, {300, 3})
  T.eq((p1 - p2):abs():max():item(), 0, "eval mode: dropout off, deterministic")
  T.eq(p1.requires_grad, false)
  T.eq(model.training, true)
  local r = train.evaluate(model, {x, y})
  T.ok(r.accuracy > 0.9, "accuracy " .. r.accuracy)
  T.near(r.accuracy, metrics.accuracy(p1, y), 1e-12)
  local r2 = train.evaluate(model, data.tensors(x, y), {loss = "cross_entropy", metrics = {"accuracy", "recall"},
                                                        batch_size = 64})
  T.near(r2.accuracy, r.accuracy, 1e-12)
  T.near(r2.loss, nn.cross_entropy(p1, y):item(), 1e-5)
  T.ok(r2.recall > 0.9)
end)

T.test("fit{plot=true} draws the curves at the end on a dumb terminal; h:plot()", function()
  local x, y = linear_data(64)
  plot.config.terminal = "dumb"
  local saved_write = io.stdout
  local ok, err = pcall(function()
    local h = train.fit(nn.Linear(2, 1), {x, y}, {epochs = 3, optimizer = "sgd", lr = 0.05, verbose = 0,
                                                  plot = true, validation_split = 0.25})
    T.ok(h.figure, "a figure")
    T.ok(h.figure.text and h.figure.text:find("val_loss", 1, true), "dumb curves with val_loss")
    local fig = h:plot({show = false})
    fig:save(tmpdir .. "/h.png")
    local f = io.open(tmpdir .. "/h.png", "rb")
    T.eq(f:read(4), "\137PNG")
    f:close()
  end)
  plot.config.terminal = "none"
  T.ok(saved_write == io.stdout)
  if not ok then error(err, 0) end
end)

-- the ember being tested, as an absolute path
local function ember_path()
  local e = os.getenv("EMBER") or "./ember"
  if e:sub(1, 1) ~= "/" then
    local p = io.popen("pwd")
    e = p:read("l") .. "/" .. e:gsub("^%./", "")
    p:close()
  end
  return e
end

local function write(path, s)
  local f = assert(io.open(path, "w"))
  f:write(s)
  f:close()
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

local FIT_SCRIPT = [[
ember.manual_seed(0)
local x = ember.randn(512, 8)
local y = x:sum(2):gt(0):long() + 1
local model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 2))
%s
local h = train.fit(model, {x, y}, {epochs = %d, batch_size = 32, loss = "cross_entropy", optimizer = "adam",
                                    lr = 1e-3, metrics = {"accuracy"}, verbose = %d, callbacks = {marker}})
print(string.format("interrupted=%%s epochs=%%d losses=%%d", tostring(h.interrupted), h.epochs, #h.loss))
local r = train.evaluate(model, {x, y}, {loss = "cross_entropy"})
print(string.format("eval loss=%%.6f finite=%%s", r.loss, tostring(r.loss == r.loss and r.loss < math.huge)))
print("DONE")
]]

T.test("progress: one plain line per epoch when stdout is not a terminal", function()
  local script = tmpdir .. "/prog.lua"
  write(script, string.format(FIT_SCRIPT, "local marker = nil", 3, 1))
  local p = io.popen(ember_path() .. " " .. script .. " 2>&1")
  local out = p:read("a")
  p:close()
  local n = 0
  for line in out:gmatch("[^\n]+") do
    if line:match("^Epoch %d/3") then
      n = n + 1
      T.ok(line:find("16/16", 1, true), line)
      T.ok(line:find("samples/s", 1, true) and line:find("loss %d") and line:find("accuracy %d"), line)
    end
  end
  T.eq(n, 3, out)
  T.ok(not out:find("\r", 1, true), "no carriage returns")
end)

T.test("progress: a bar redrawn in place on a terminal", function()
  if not os.execute("command -v script >/dev/null 2>&1") then return end
  local script = tmpdir .. "/bar.lua"
  write(script, string.format(FIT_SCRIPT, [[
local marker = {on_batch_end = function() local t0 = ember._sys.clock() while ember._sys.clock() - t0 < 0.01 do end end}]], 2, 1))
  local log = tmpdir .. "/bar.out"
  os.execute("script -qec '" .. ember_path() .. " " .. script .. "' " .. log .. " >/dev/null 2>&1")
  local out = slurp(log)
  T.ok(out:find("\r", 1, true), "redrawn with carriage returns")
  T.ok(out:find("Epoch 1/2 %[=+>? *%]"), "a bar")
  T.ok(out:find("Epoch 2/2 %[========================%] 16/16"), "a full bar at the end")
  -- 16 batches of >= 10 ms: at most ~10 redraws a second, so fewer redraws than batches
  local redraws = select(2, out:gsub("\rEpoch 1/2", ""))
  T.ok(redraws >= 1 and redraws < 16, "redraws " .. redraws)
  T.ok(out:find("DONE", 1, true))
end)

T.test("SIGINT during fit returns a partial History; the weights evaluate", function()
  local script = tmpdir .. "/sigint.lua"
  local mark = tmpdir .. "/started"
  write(script, string.format(FIT_SCRIPT, string.format([[
local marker = {on_batch_end = function(self, b, logs, ctx)
  if ctx.epoch == 2 and b == 1 then local f = io.open(%q, "w"); f:write("x"); f:close() end
  local t0 = ember._sys.clock() while ember._sys.clock() - t0 < 0.002 do end
end}]], mark), 100000, 0))
  local out = tmpdir .. "/sigint.out"
  local p = io.popen("(" .. ember_path() .. " " .. script .. " >" .. out .. " 2>&1 & echo $!)")
  local pid = p:read("l")
  p:close()
  T.ok(pid and pid:match("^%d+$"), "child pid")
  local waited = 0
  while not io.open(mark) and waited < 300 do os.execute("sleep 0.1"); waited = waited + 1 end
  T.ok(io.open(mark), "the child reached epoch 2")
  os.execute("kill -INT " .. pid)
  waited = 0
  while not slurp(out):find("DONE", 1, true) and waited < 300 do os.execute("sleep 0.1"); waited = waited + 1 end
  local text = slurp(out)
  if not text:find("DONE", 1, true) then os.execute("kill -KILL " .. pid .. " 2>/dev/null") end
  T.ok(text:find("interrupted=true", 1, true), text)
  local epochs, losses = text:match("epochs=(%d+) losses=(%d+)")
  T.ok(tonumber(epochs) and tonumber(epochs) >= 1 and tonumber(epochs) < 100000, text)
  T.eq(epochs, losses, "one loss per finished epoch")
  T.ok(text:find("finite=true", 1, true), text)
  T.ok(text:find("DONE", 1, true), "the script went on after fit")
end)

T.test("a second SIGINT interrupts at once (a slow callback is cut short)", function()
  local script = tmpdir .. "/sigint2.lua"
  local mark = tmpdir .. "/started2"
  write(script, string.format(FIT_SCRIPT, string.format([[
local marker = {on_batch_end = function(self, b, logs, ctx)
  if ctx.epoch == 2 and b == 1 then local f = io.open(%q, "w"); f:write("x"); f:close() end
  if ember._sys.sigint_pending() then   -- after the first Ctrl-C: a batch end that takes 20 s
    local t0 = ember._sys.clock() while ember._sys.clock() - t0 < 20 do end
  end
end}]], mark), 100000, 0))
  local out = tmpdir .. "/sigint2.out"
  local p = io.popen("(" .. ember_path() .. " " .. script .. " >" .. out .. " 2>&1 & echo $!)")
  local pid = p:read("l")
  p:close()
  local waited = 0
  while not io.open(mark) and waited < 300 do os.execute("sleep 0.1"); waited = waited + 1 end
  local t0 = ember._sys.clock()
  os.execute("kill -INT " .. pid .. "; sleep 0.3; kill -INT " .. pid)
  waited = 0
  while not slurp(out):find("DONE", 1, true) and waited < 150 do os.execute("sleep 0.1"); waited = waited + 1 end
  local dt = ember._sys.clock() - t0
  local text = slurp(out)
  if not text:find("DONE", 1, true) then os.execute("kill -KILL " .. pid .. " 2>/dev/null") end
  T.ok(text:find("interrupted=true", 1, true), text)
  T.ok(text:find("finite=true", 1, true), text)
  T.ok(dt < 10, "returned " .. dt .. " s after the first Ctrl-C")
end)

T.test("every public function has a docstring", function()
  for _, k in ipairs{"fit", "evaluate", "predict", "early_stopping", "checkpoint", "scheduler"} do
    T.ok(ember.doc(train[k]), "train." .. k)
  end
  T.ok(ember.doc(train.History.plot))
end)

os.execute("rm -rf " .. tmpdir)
T.done()
