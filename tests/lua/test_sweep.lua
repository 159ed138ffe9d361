-- test_sweep.lua: hyperparameter sweeps (lua/ember/sweep.lua and
-- vm/sweep_bind.c): spaces and plans, grid and seeded random sweeps of a
-- small autograd model in 2 worker processes, trials that raise / exit /
-- segfault, worker thread limits and math after fork, median pruning, the
-- JSONL log (resume after failures, after SIGKILL of the whole sweep, and a
-- random search extended with more trials), sweep.commands through GNU
-- parallel and through a Slurm-style loop merged by sweep.load, Results
-- (table, csv, best), and plot.sweep writing a PNG.
local T = dofile("tests/lua/harness.lua")
local sweep = require("ember.sweep")
local S = ember._sweep

local EMBER = S.self_exe() or arg[-1] or "./ember"
local TMP = io.popen("mktemp -d /tmp/ember-sweep-XXXXXX"):read("l")
local function tmp(name) return TMP .. "/" .. name end
local function sleep(s) S.poll({}, math.floor(s * 1000)) end
local function read_file(p)
  local f = io.open(p, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
local function write_file(p, s)
  local f = assert(io.open(p, "w"))
  f:write(s)
  f:close()
end
local function lines_of(p)
  local out = {}
  local s = read_file(p) or ""
  for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end
local function sh(cmd)
  local ok, _, code = os.execute(cmd)
  return ok and 0 or code
end

-- The small model of the sweeps: linear regression y = x w* + noise fitted
-- by gradient descent with autograd; data and init come from the trial's
-- seed.  The same code serves as a trial function and as a trial script.
local MODEL_SRC = [[
local cfg, report = ...
local x = ember.randn(64, 3)
local y = x:matmul(ember.tensor{{1.0}, {-2.0}, {0.5}}) + ember.randn(64, 1) * 0.1
local w = (ember.randn(3, 1) * (cfg.init or 0.1)):requires_grad_()
local loss
for epoch = 1, cfg.epochs or 5 do
  loss = ((x:matmul(w) - y) ^ 2):mean()
  w.grad = nil
  loss:backward()
  ember.no_grad(function() w:sub_(w.grad * cfg.lr) end)
  report{loss = loss:item(), epoch = epoch}
end
return {loss = loss:item(), threads = ember.get_num_threads()}
]]
local model_trial = assert(load(MODEL_SRC, "=model"))
local MODEL_SCRIPT = tmp("model.lua")
write_file(MODEL_SCRIPT, MODEL_SRC)

local quiet = {verbose = false}
local function spec_of(t)
  for k, v in pairs(quiet) do if t[k] == nil then t[k] = v end end
  return t
end

T.test("spaces: ranges, errors, grid values", function()
  local u = sweep.uniform(1, 3)
  T.eq(u:sample(0), 1)
  T.near(u:sample(0.5), 2)
  local lu = sweep.log_uniform(1e-4, 1e-2)
  T.near(lu:sample(0.5), 1e-3, 1e-9)
  local i = sweep.int(2, 4)
  T.eq(i:sample(0), 2)
  T.eq(i:sample(0.999999), 4)
  T.same(i:grid(), {2, 3, 4})
  T.near(sweep.log_uniform(1e-3, 1e-1, 3):grid(), {1e-3, 1e-2, 1e-1}, 1e-9)
  T.raises(function() sweep.uniform(2, 1) end, "a < b")
  T.raises(function() sweep.log_uniform(0, 1) end, "0 < a")
  T.raises(function() sweep.int(1.5, 3) end, "integers")
  T.raises(function() sweep.plan{space = {lr = sweep.uniform(0, 1)}} end, "needs a number of points")
  T.raises(function() sweep.plan{space = {a = {1}}, method = "bayes"} end, "method")
  T.raises(function() sweep.median{warmup = -1} end, "warmup")
end)

T.test("plan: grid order and a seeded random search", function()
  local g = sweep.plan{space = {b = {"x", "y"}, a = {1, 2, 3}, c = 7}}
  T.eq(#g, 6)
  T.same(g[1].params, {a = 1, b = "x", c = 7})
  T.same(g[2].params, {a = 1, b = "y", c = 7})
  T.same(g[6].params, {a = 3, b = "y", c = 7})
  local space = {lr = sweep.log_uniform(1e-4, 1e-1), width = sweep.int(8, 64), act = {"relu", "tanh"},
                 drop = sweep.uniform(0, 0.5)}
  local r1 = sweep.plan{space = space, method = "random", trials = 20, seed = 5}
  local r2 = sweep.plan{space = space, method = "random", trials = 30, seed = 5}
  local r3 = sweep.plan{space = space, method = "random", trials = 20, seed = 6}
  local differ = 0
  local seeds = {}
  for i = 1, 20 do
    T.same(r2[i].params, r1[i].params)  -- more trials keep the first ones
    T.eq(r2[i].seed, r1[i].seed)
    if r3[i].params.lr ~= r1[i].params.lr then differ = differ + 1 end
    local p = r1[i].params
    T.ok(p.lr >= 1e-4 and p.lr <= 1e-1, "lr in range")
    T.ok(p.width >= 8 and p.width <= 64 and math.type(p.width) == "integer", "width")
    T.ok(p.act == "relu" or p.act == "tanh")
    T.ok(p.drop >= 0 and p.drop < 0.5)
    seeds[r1[i].seed] = true
  end
  T.eq(differ, 20)
  local nseeds = 0
  for _ in pairs(seeds) do nseeds = nseeds + 1 end
  T.eq(nseeds, 20)
  T.eq(sweep.trial_seed(5, 3), r1[3].seed)
  -- trials without a method means a random search
  T.same(sweep.plan{space = space, trials = 20, seed = 5}[7].params, r1[7].params)
end)

T.test("json: round trip of log values", function()
  local v = {a = {1, 2.5, -3}, s = "x\"y\n", b = true, nan = 0 / 0, inf = math.huge, nested = {k = {}}}
  local back = S.json_decode(S.json_encode(v))
  T.same(back.a, {1, 2.5, -3})
  T.eq(math.type(back.a[1]), "integer")
  T.eq(back.s, "x\"y\n")
  T.eq(back.b, true)
  T.ok(back.nan ~= back.nan, "NaN survives")
  T.eq(back.inf, math.huge)
  local x = 0.1 + 0.2
  T.eq(S.json_decode(S.json_encode{x})[1], x)  -- exact doubles
  T.eq(S.json_decode("{bad"), nil)
  T.raises(function() S.json_encode{f = print} end, "cannot encode")
  local cyc = {}
  cyc.self = cyc
  T.raises(function() S.json_encode(cyc) end, "deeper")
end)

T.test("grid sweep of a small model, parallel = 2", function()
  local res = sweep.run(spec_of{space = {lr = {0.3, 0.1, 0.01}, epochs = 4}, trial = model_trial,
                                parallel = 2, seed = 3})
  T.eq(#res, 3)
  for i, t in ipairs(res) do
    T.eq(t.status, "COMPLETE")
    T.eq(t.index, i)
    T.eq(#t.history.loss, 4)
    T.same(t.history.epoch, {1, 2, 3, 4})
    T.eq(t.metrics.threads, 1, "2 workers on 2 cores get 1 thread each")
    T.ok(t.seconds >= 0 and t.seconds < 30)
    -- the worker seeded itself with the trial seed: the same trial run here
    -- gives the same numbers
    ember.manual_seed(t.seed)
    local curve = {}
    local m = model_trial(t.params, function(r) curve[#curve + 1] = r.loss end)
    T.eq(t.metrics.loss, m.loss)
    T.same(t.history.loss, curve)
  end
  T.eq(res:best().params.lr, 0.3)
  T.ok(res[1].metrics.loss < res[3].metrics.loss)
  local tbl = res:table()
  T.ok(tbl:find("lr", 1, true) and tbl:find("COMPLETE", 1, true))
  local rows = {}
  for l in tbl:gmatch("[^\n]+") do rows[#rows + 1] = l; T.ok(#l <= 80, "fits 80 columns") end
  T.eq(#rows, 4)
  T.ok(rows[2]:find("0.3", 1, true), "best first")
  T.eq(tostring(res), tbl)
end)

T.test("seeded random sweep is reproducible (script trial, parallel = 2)", function()
  local spec = {space = {lr = sweep.log_uniform(0.01, 0.5), init = sweep.uniform(0, 1)}, method = "random",
                trials = 4, seed = 11, script = MODEL_SCRIPT, parallel = 2}
  local a = sweep.run(spec_of(spec))
  local b = sweep.run(spec_of(spec))
  T.eq(#a, 4)
  for i = 1, 4 do
    T.eq(a[i].status, "COMPLETE")
    T.same(a[i].params, b[i].params)
    T.eq(a[i].seed, b[i].seed)
    T.eq(a[i].metrics.loss, b[i].metrics.loss)
    T.same(a[i].history, b[i].history)
  end
  T.ok(a[1].params.lr ~= a[2].params.lr)
  local c = sweep.run(spec_of{space = spec.space, method = "random", trials = 4, seed = 12, script = MODEL_SCRIPT,
                              parallel = 2})
  T.ok(c[1].params.lr ~= a[1].params.lr, "another seed, other params")
end)

T.test("trials that raise, exit or segfault are FAILED; the rest complete", function()
  local res = sweep.run(spec_of{
    space = {kind = {"ok1", "raise", "exit", "segv", "ok2", "nan"}}, parallel = 2,
    trial = function(cfg, report)
      report{loss = 1}
      if cfg.kind == "raise" then error("boom in trial") end
      if cfg.kind == "exit" then os.exit(3) end
      if cfg.kind == "segv" then ember._sweep.crash_for_test() end
      if cfg.kind == "nan" then return {loss = 0 / 0} end
      return {loss = cfg.kind == "ok1" and 0.5 or 0.25}
    end})
  local by = {}
  for _, t in ipairs(res) do by[t.params.kind] = t end
  T.eq(by.ok1.status, "COMPLETE")
  T.eq(by.ok2.status, "COMPLETE")
  T.eq(by.nan.status, "COMPLETE")
  T.ok(by.nan.metrics.loss ~= by.nan.metrics.loss)
  T.eq(by.raise.status, "FAILED")
  T.ok(by.raise.error:find("boom in trial", 1, true), by.raise.error)
  T.eq(by.exit.status, "FAILED")
  T.ok(by.exit.error:find("code 3", 1, true), by.exit.error)
  T.eq(by.segv.status, "FAILED")
  T.ok(by.segv.error:find("signal 11", 1, true), by.segv.error)
  T.eq(#by.segv.history.loss, 1, "history up to the crash is kept")
  T.eq(res:best().params.kind, "ok2")
  local sorted = res:sorted()
  T.eq(sorted[1].params.kind, "ok2")
  T.eq(sorted[#sorted].status, "FAILED")
end)

T.test("math works in a worker after the parent used both threads", function()
  ember.set_num_threads(2)
  local a = ember.randn(300, 300)
  local ref = a:matmul(a):sum():item()  -- a big product on 2 threads here
  local big = ember.randn(2000000)
  local ref2 = (big * 2):sum():item()
  local res = sweep.run(spec_of{space = {p = {1, 2}}, parallel = 1,
    trial = function(cfg)
      return {mm = a:matmul(a):sum():item(), ew = (big * 2):sum():item(), threads = ember.get_num_threads()}
    end})
  for _, t in ipairs(res) do
    T.eq(t.status, "COMPLETE")
    T.near(t.metrics.mm, ref, 1e-5)
    T.near(t.metrics.ew, ref2, 1e-6)
    T.eq(t.metrics.threads, S.cores(), "one worker gets every core")
  end
  local r3 = sweep.run(spec_of{space = {p = {1}}, threads = 1, trial = function()
    return {threads = ember.get_num_threads()}
  end})
  T.eq(r3[1].metrics.threads, 1)
end)

T.test("median pruning stops trials with bad curves", function()
  -- curves: the good ones fall (all alike, so that none is ever worse than
  -- the median whatever order the workers finish in), the bad ones stay
  -- high.  The bad trials come last: with 2 workers, when the first of them
  -- starts, 3 good trials have completed (>= min_trials).
  local good = {1.0, 0.5, 0.3, 0.2, 0.1}
  local curves = {g1 = good, g2 = good, g3 = good, g4 = good,
                  b1 = {1.0, 0.9, 0.9, 0.9, 0.9}, b2 = {1.2, 1.1, 1.0, 1.0, 1.0}}
  local log = tmp("prune.jsonl")
  local res = sweep.run(spec_of{space = {c = {"g1", "g2", "g3", "g4", "b1", "b2"}}, parallel = 2, log = log,
    prune = sweep.median{warmup = 1, min_trials = 2},
    trial = function(cfg, report)
      for _, v in ipairs(curves[cfg.c]) do
        report{loss = v}
        sleep(0.01)
      end
    end})
  local by = {}
  for _, t in ipairs(res) do by[t.params.c] = t end
  for _, g in ipairs{"g1", "g2", "g3", "g4"} do
    T.eq(by[g].status, "COMPLETE", g)
    T.eq(#by[g].history.loss, 5)
  end
  for _, b in ipairs{"b1", "b2"} do
    T.eq(by[b].status, "PRUNED", b)
    T.eq(#by[b].history.loss, 2, b .. " stopped at the first step after warmup")
  end
  T.eq(res:best().params.c, "g1")  -- ties go to the first trial
  -- a pruned trial is logged PRUNED and kept when the sweep runs again
  local again = sweep.run(spec_of{space = {c = {"g1", "g2", "g3", "g4", "b1", "b2"}}, parallel = 2, log = log,
    prune = sweep.median{warmup = 1, min_trials = 2},
    trial = function() error("must not run again") end})
  T.eq(again[5].status, "PRUNED")
  T.eq(again[1].status, "COMPLETE")
  -- the pruner on its own
  local p = sweep.median{warmup = 2, min_trials = 3}
  T.eq(p:should_prune(2, 10, {1, 2, 3}, "min"), false)  -- warmup
  T.eq(p:should_prune(3, 10, {1, 2}, "min"), false)     -- too few trials
  T.eq(p:should_prune(3, 10, {1, 2, 3}, "min"), true)
  T.eq(p:should_prune(3, 1.5, {1, 2, 3}, "min"), false)
  T.eq(p:should_prune(3, 1.5, {1, 2, 3}, "max"), true)
end)

T.test("log: resume keeps completed trials and retries failed ones with the same seed", function()
  local log = tmp("resume.jsonl")
  local counter = tmp("resume.count")
  local flag = tmp("resume.flag")
  local function spec()
    return spec_of{space = {k = {1, 2, 3, 4}}, parallel = 2, log = log, seed = 9, trial = function(cfg)
      local f = io.open(counter, "a"); f:write(cfg.k, " ", ember.rand(1):item(), "\n"); f:close()
      if cfg.k == 3 and not io.open(flag, "r") then error("first time fails") end
      return {loss = cfg.k + ember.rand(1):item()}
    end}
  end
  local r1 = sweep.run(spec())
  T.eq(r1[3].status, "FAILED")
  T.eq(r1[1].status, "COMPLETE")
  write_file(flag, "")
  local r2 = sweep.run(spec())
  for i = 1, 4 do T.eq(r2[i].status, "COMPLETE") end
  T.eq(r2[1].metrics.loss, r1[1].metrics.loss)
  T.eq(r2[3].seed, r1[3].seed)
  T.eq(r2[3].attempts, 2)
  local runs, draws = {}, {}
  for _, l in ipairs(lines_of(counter)) do
    local k, d = l:match("(%d+) (%S+)")
    runs[k] = (runs[k] or 0) + 1
    draws[k] = draws[k] or {}
    table.insert(draws[k], d)
  end
  T.same(runs, {["1"] = 1, ["2"] = 1, ["3"] = 2, ["4"] = 1})
  T.eq(draws["3"][1], draws["3"][2], "the retry ran with the same seed")
  -- the log: one RUNNING line per start, one end line per run
  local n_running, n_end = 0, 0
  for _, l in ipairs(lines_of(log)) do
    local e = S.json_decode(l)
    if e.status == "RUNNING" then n_running = n_running + 1 else n_end = n_end + 1 end
    T.ok(e.params and e.seed and e.trial, "every line has params, seed, trial")
  end
  T.eq(n_running, 5)
  T.eq(n_end, 5)
  local loaded = sweep.load(log)
  T.eq(#loaded, 4)
  T.eq(loaded[3].status, "COMPLETE")
  T.eq(loaded.objective, "loss")
  T.eq(loaded:best().index, 1)
end)

T.test("a finished random search is extended with more trials", function()
  local log = tmp("extend.jsonl")
  local counter = tmp("extend.count")
  local function run(n)
    return sweep.run(spec_of{space = {x = sweep.uniform(-1, 1)}, method = "random", trials = n, seed = 4,
      log = log, parallel = 2, trial = function(cfg)
        local f = io.open(counter, "a"); f:write("x\n"); f:close()
        return {loss = cfg.x * cfg.x}
      end})
  end
  local a = run(3)
  local b = run(5)
  T.eq(#lines_of(counter), 5, "only the 2 new trials ran")
  for i = 1, 3 do T.same(b[i].params, a[i].params) end
  T.eq(#b, 5)
  for i = 1, 5 do T.eq(b[i].status, "COMPLETE") end
end)

T.test("a sweep killed with SIGKILL half-way resumes without rerunning completed trials", function()
  local log = tmp("kill.jsonl")
  local counter = tmp("kill.count")
  local script = tmp("kill_sweep.lua")
  write_file(script, string.format([[
local res = sweep.run{space = {k = sweep.int(1, 8)}, parallel = 2, log = %q, verbose = false,
  trial = function(cfg)
    local t0 = ember._sweep.clock()
    while ember._sweep.clock() - t0 < 0.3 do end
    local f = io.open(%q, "a"); f:write(cfg.k, "\n"); f:close()
    return {loss = -cfg.k}
  end}
local n = 0
for _, t in ipairs(res) do if t.status == "COMPLETE" then n = n + 1 end end
print("complete", n)
]], log, counter))
  local pid = tonumber(io.popen(EMBER .. " " .. script .. " >/dev/null 2>&1 & echo $!"):read("l"))
  T.ok(pid, "started")
  -- wait until some trials are logged COMPLETE, then kill the sweep
  local done_before = {}
  local t0 = S.clock()
  while S.clock() - t0 < 30 do
    local n = 0
    for _, l in ipairs(lines_of(log)) do
      local e = S.json_decode(l)
      if e and e.status == "COMPLETE" then n = n + 1 end
    end
    if n >= 3 then break end
    sleep(0.02)
  end
  for _, l in ipairs(lines_of(log)) do
    local e = S.json_decode(l)
    if e and e.status == "COMPLETE" then done_before[e.trial] = true end
  end
  sh("kill -9 " .. pid)
  sleep(0.3)
  local ndone = 0
  for _ in pairs(done_before) do ndone = ndone + 1 end
  T.ok(ndone >= 3 and ndone < 8, "killed half-way (" .. ndone .. " done)")
  local stat = read_file("/proc/" .. pid .. "/stat")
  T.ok(stat == nil or stat:match("^%d+ %b() (%a)") == "Z", "the sweep is dead")
  -- the workers died with it (PR_SET_PDEATHSIG): the counter stops growing
  local c1 = #lines_of(counter)
  sleep(0.5)
  T.eq(#lines_of(counter), c1, "no orphan workers kept running")
  local out = io.popen(EMBER .. " " .. script .. " 2>&1"):read("a")
  T.ok(out:find("complete\t8"), out)
  local res = sweep.load(log)
  T.eq(#res, 8)
  local runs = {}
  for _, l in ipairs(lines_of(counter)) do runs[tonumber(l)] = (runs[tonumber(l)] or 0) + 1 end
  for k = 1, 8 do
    T.eq(res[k].status, "COMPLETE")
    if done_before[k] then
      T.eq(runs[k], 1, "trial " .. k .. " completed before the kill ran once")
      T.eq(res[k].attempts, 1)
    end
  end
end)

T.test("sweep.commands through GNU parallel and a Slurm loop match a local run", function()
  local spec = {space = {lr = {0.3, 0.03}, init = sweep.uniform(0, 1, 2)}, seed = 21, script = MODEL_SCRIPT,
                objective = "loss"}
  local cmds, array = sweep.commands{space = spec.space, seed = 21, script = MODEL_SCRIPT, objective = "loss",
                                     log = tmp("par-{host}.jsonl"), ember = EMBER, threads = 1,
                                     file = tmp("cmds.txt"), plan = tmp("plan.json")}
  T.eq(#cmds, 4)
  T.eq(#lines_of(tmp("cmds.txt")), 4)
  T.ok(cmds[1]:find("sweep.worker", 1, true))
  local local_res = sweep.run(spec_of{space = spec.space, seed = 21, script = MODEL_SCRIPT, objective = "loss",
                                      parallel = 2})
  local function same_as_local(res, what)
    T.eq(#res, #local_res, what)
    for i, t in ipairs(local_res) do
      T.eq(res[i].status, "COMPLETE", what)
      T.same(res[i].params, t.params, what)
      T.eq(res[i].seed, t.seed, what)
      T.eq(res[i].metrics.loss, t.metrics.loss, what)
      T.same(res[i].history.loss, t.history.loss, what)
    end
    T.eq(res:best().index, local_res:best().index)
  end
  if sh("command -v parallel >/dev/null 2>&1") == 0 then
    T.eq(sh("parallel --will-cite -j2 < " .. tmp("cmds.txt") .. " >" .. tmp("par.out") .. " 2>&1"), 0,
         read_file(tmp("par.out")))
    same_as_local(sweep.load(tmp("par-*.jsonl")), "GNU parallel")
    -- running the commands again finds every trial done
    sh("parallel --will-cite -j2 < " .. tmp("cmds.txt") .. " >" .. tmp("par2.out") .. " 2>&1")
    T.ok(read_file(tmp("par2.out")):find("already COMPLETE", 1, true))
  else
    io.write("SKIP GNU parallel is not installed (make deps)\n")
  end
  -- a Slurm job array: one command, the trial from SLURM_ARRAY_TASK_ID,
  -- each task with its own log
  T.ok(array:find("sweep.worker{", 1, true) and array:find("plan=", 1, true), array)
  local slurm = array:gsub("plan=", "log=\"" .. tmp("slurm-{pid}.jsonl") .. "\", plan=")
  T.eq(sh("for i in 1 2 3 4; do SLURM_ARRAY_TASK_ID=$i " .. slurm .. " >>" .. tmp("slurm.out") .. " 2>&1; done"), 0,
       read_file(tmp("slurm.out")))
  T.eq(#S.glob(tmp("slurm-*.jsonl")), 4)
  same_as_local(sweep.load(tmp("slurm-*.jsonl")), "Slurm loop")
  T.raises(function() sweep.worker{plan = tmp("plan.json")} end, "SLURM_ARRAY_TASK_ID")
  T.raises(function() sweep.commands{space = {a = {1}}, log = "x"} end, "script")
end)

T.test("sweep.commands: a failed trial's command exits non-zero, for the scheduler", function()
  local script = tmp("maybe_fail.lua")
  write_file(script, "local cfg = ...\nif cfg.k == 2 then error('trial two breaks') end\nreturn {loss = cfg.k}\n")
  local cmds = sweep.commands{space = {k = {1, 2, 3}}, script = script, objective = "loss",
                              log = tmp("exit-codes.jsonl"), ember = EMBER, threads = 1}
  local codes = {}
  for i, c in ipairs(cmds) do codes[i] = sh(c .. " >>" .. tmp("exit-codes.out") .. " 2>&1") end
  T.same(codes, {0, 1, 0}, read_file(tmp("exit-codes.out")))
  local res = sweep.load(tmp("exit-codes.jsonl"))
  T.eq(res[2].status, "FAILED")
  T.ok(res[2].error:find("trial two breaks", 1, true), res[2].error)
  T.eq(res[1].status, "COMPLETE")
  -- a rerun skips the finished trials (exit 0) and runs the failed one again
  T.eq(sh(cmds[1] .. " >/dev/null 2>&1"), 0)
  T.eq(sh(cmds[2] .. " >/dev/null 2>&1"), 1)
end)

T.test("Results: table fits 80 columns, csv, load of a glob, best with mode max", function()
  local space = {}
  for i = 1, 12 do space[string.format("parameter_%02d", i)] = {i * 1.123456789} end
  space.name = {"a-rather-long-value-that-does-not-fit-anywhere"}
  local res = sweep.run(spec_of{space = space, parallel = 2, objective = "acc", mode = "max",
    trial = function(cfg) return {acc = 0.9, loss = 0.1} end})
  local tbl = res:table()
  for l in tbl:gmatch("[^\n]+") do T.ok(#l <= 80, "line of " .. #l .. " columns: " .. l) end
  T.ok(tbl:find("not shown", 1, true))
  T.eq(res:best().metrics.acc, 0.9)
  local csv = tmp("res.csv")
  res:save_csv(csv)
  local rows = lines_of(csv)
  T.eq(#rows, 2)
  T.ok(rows[1]:find("trial,status,objective,name,parameter_01", 1, true), rows[1])
  T.ok(rows[1]:find("metric.acc", 1, true))
  T.ok(rows[2]:find("COMPLETE", 1, true))
  -- best of mode max
  local r2 = sweep.run(spec_of{space = {v = {1, 3, 2}}, objective = "v", mode = "max", parallel = 2,
    trial = function(cfg) return {v = cfg.v} end})
  T.eq(r2:best().params.v, 3)
  T.eq(r2:sorted()[3].params.v, 1)
  -- objective as a function
  local r3 = sweep.run(spec_of{space = {v = {1, 3, 2}}, objective = function(m) return (m.v - 2) ^ 2 end,
    parallel = 2, trial = function(cfg) return {v = cfg.v} end})
  T.eq(r3:best().params.v, 2)
  T.eq(r3.objective, "objective")
end)

T.test("timeout, errors of the spec, trial returning a History", function()
  local res = sweep.run(spec_of{space = {s = {0.01, 5}}, timeout = 0.5, parallel = 2, trial = function(cfg)
    local t0 = S.clock()
    while S.clock() - t0 < cfg.s do end
    return {loss = cfg.s}
  end})
  T.eq(res[1].status, "COMPLETE")
  T.eq(res[2].status, "FAILED")
  T.ok(res[2].error:find("timeout", 1, true))
  T.ok(res[2].seconds < 3)
  T.raises(function() sweep.run{space = {a = {1}}} end, "trial")
  T.raises(function() sweep.run{space = {a = {1}}, trial = print, parallel = 0} end, "parallel")
  T.raises(function() sweep.run{space = {a = {1}}, trial = print, mode = "best"} end, "mode")
  T.raises(function() sweep.run{space = {a = {1}}, script = tmp("missing.lua")} end, "missing.lua")
  T.raises(function() sweep.load(tmp("nothing-*.jsonl")) end, "no log")
  T.raises(function() sweep.run{space = {a = {1}}, trial = print, log = tmp("no/such/dir.jsonl")} end,
           "cannot write the log")
  local h = sweep.run(spec_of{space = {a = {1}}, trial = function()
    return {loss = {3, 2, 1}, acc = {0.1, 0.2, 0.3}}
  end})
  T.same(h[1].history.loss, {3, 2, 1})
  T.eq(h[1].metrics.loss, 1)
  T.eq(h[1].metrics.acc, 0.3)
  -- sweep.callback: train.fit's epoch logs (tensors too) become reports
  local c = sweep.run(spec_of{space = {a = {1}}, trial = function(cfg, report)
    local cb = sweep.callback(report)
    for e = 1, 3 do cb:on_epoch_end(e, {loss = ember.tensor(1.0 / e), val_loss = 2.0 / e}) end
  end})
  T.eq(c[1].status, "COMPLETE")
  T.near(c[1].history.loss, {1, 0.5, 1 / 3})
  T.near(c[1].metrics.val_loss, 2 / 3)
end)

T.test("plot.sweep draws the Results into a PNG", function()
  local ok, plot = pcall(require, "ember.plot")
  if not ok or type(plot.sweep) ~= "function" or sh("command -v gnuplot >/dev/null 2>&1") ~= 0 then
    io.write("SKIP plot.sweep or gnuplot is missing\n")
    return
  end
  local res = sweep.run(spec_of{space = {lr = {0.3, 0.1, 0.03}}, trial = model_trial, parallel = 2})
  local png = tmp("sweep.png")
  plot.sweep(res, {save = png, show = false})
  local head = read_file(png)
  T.ok(head and head:sub(1, 8) == "\137PNG\r\n\26\n", "a PNG file")
end)

os.execute("rm -rf " .. TMP)
T.done()
