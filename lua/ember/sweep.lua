-- ember.sweep: hyperparameter sweeps that use every core, survive crashing
-- trials, and resume after the sweep itself was killed.
--
--   local res = sweep.run{
--     space = {lr = sweep.log_uniform(1e-4, 1e-1), width = {16, 32, 64}},
--     method = "random", trials = 20, seed = 1, log = "lr.jsonl",
--     trial = function(cfg, report)
--       ... for epoch = 1, 10 do ...; report{loss = l, val_loss = v} end
--       return {val_loss = v}
--     end, objective = "val_loss"}
--   print(res:table()); plot.sweep(res)
--
-- Each trial runs in a forked worker process (vm/sweep_bind.c): it inherits
-- the Lua state, so the trial function needs no serialising; a Lua error, an
-- os.exit or a segfault in it marks that trial FAILED and the sweep goes on.
-- `parallel` workers (default: the cores) each get cores / parallel math
-- threads.  Every trial appends a RUNNING line to the JSONL log when it
-- starts and a COMPLETE / PRUNED / FAILED line (params, seed, history,
-- metrics, seconds) when it ends; the same sweep run again reads the log and
-- runs only the trials that did not end COMPLETE or PRUNED, with the same
-- params and seed.  Trial i's params and seed depend only on the sweep seed
-- and i, so a random search can be extended with a larger `trials`.
--
-- Across machines, sweep.commands writes one `ember -e 'sweep.worker{...}'`
-- line per trial (GNU parallel, a Slurm array through SLURM_ARRAY_TASK_ID),
-- and sweep.load merges the logs they append to.
local ember = require("ember")
local S = ember._sweep
local R = require("ember.sweep.results")
local class = require("ember.class")

local M = {}

local function doc(v, text) ember.doc(v, text); return v end

-- ------------------------------------------------------------------ spaces --

local Space = class("sweep.Space")
M.Space = Space
doc(Space, [[sweep.Space: a parameter distribution (sweep.uniform, log_uniform,
int, choice).  s:sample(u) maps u in [0, 1) to a value; s:grid() lists the
values a grid search visits.]])

local function check_number(v, what, fname)
  if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then
    error(string.format("%s: %s must be a finite number, got %s", fname, what, tostring(v)), 3)
  end
end

M.uniform = doc(function(a, b, n)
  check_number(a, "a", "sweep.uniform"); check_number(b, "b", "sweep.uniform")
  if not (a < b) then error(string.format("sweep.uniform: need a < b, got %g, %g", a, b), 2) end
  return setmetatable({kind = "uniform", a = a, b = b, n = n}, Space)
end, [[sweep.uniform(a, b [, n]) -> Space

A float drawn uniformly from [a, b].  A grid search takes n evenly spaced
values (n is required there).]])

M.log_uniform = doc(function(a, b, n)
  check_number(a, "a", "sweep.log_uniform"); check_number(b, "b", "sweep.log_uniform")
  if not (a > 0 and a < b) then
    error(string.format("sweep.log_uniform: need 0 < a < b, got %g, %g", a, b), 2)
  end
  return setmetatable({kind = "log_uniform", a = a, b = b, n = n}, Space)
end, [[sweep.log_uniform(a, b [, n]) -> Space

A float whose logarithm is uniform on [log a, log b] (learning rates,
weight decay).  A grid search takes n values evenly spaced in log scale.]])

M.int = doc(function(a, b)
  if math.type(a) ~= "integer" or math.type(b) ~= "integer" or a > b then
    error(string.format("sweep.int: need integers a <= b, got %s, %s", tostring(a), tostring(b)), 2)
  end
  return setmetatable({kind = "int", a = a, b = b}, Space)
end, [[sweep.int(a, b) -> Space

An integer drawn uniformly from a..b (both included); a grid search visits
every one.]])

M.choice = doc(function(list)
  if type(list) ~= "table" or #list == 0 then error("sweep.choice: need a non-empty list", 2) end
  return setmetatable({kind = "choice", values = list}, Space)
end, [[sweep.choice(list) -> Space

One of the values of list (numbers, strings, booleans or plain tables).
A plain list in a space means the same.]])

function Space:sample(u)
  local k = self.kind
  if k == "uniform" then return self.a + (self.b - self.a) * u end
  if k == "log_uniform" then return math.exp(math.log(self.a) + (math.log(self.b) - math.log(self.a)) * u) end
  if k == "int" then return math.min(self.b, self.a + math.floor(u * (self.b - self.a + 1))) end
  return self.values[math.min(#self.values, 1 + math.floor(u * #self.values))]
end
doc(Space.sample, "s:sample(u) -> value: the value at quantile u in [0, 1).")

function Space:grid(name)
  local k = self.kind
  if k == "choice" then return self.values end
  if k == "int" then
    local out = {}
    for v = self.a, self.b do out[#out + 1] = v end
    return out
  end
  local n = self.n
  if math.type(n) ~= "integer" or n < 1 then
    error(string.format("sweep.run: a grid over %s (%s) needs a number of points: sweep.%s(a, b, n)",
                        tostring(name), k, k), 0)
  end
  local out = {}
  for i = 0, n - 1 do
    local u = n == 1 and 0 or i / (n - 1)
    if k == "uniform" then out[#out + 1] = self.a + (self.b - self.a) * u
    else out[#out + 1] = math.exp(math.log(self.a) + (math.log(self.b) - math.log(self.a)) * u) end
  end
  return out
end
doc(Space.grid, "s:grid([name]) -> list: the values a grid search visits.")

-- a space entry as a Space (lists are choices, other values constants)
local function as_space(v)
  if getmetatable(v) == Space then return v end
  if type(v) == "table" and #v > 0 then return setmetatable({kind = "choice", values = v}, Space) end
  return setmetatable({kind = "choice", values = {v}}, Space)
end

-- --------------------------------------------------------------- the plan --

-- splitmix64: a tiny, well-mixed generator on Lua's wrapping integers, so
-- trial i's params and seed depend on (seed, i) alone (no global state).
local function mix(x)
  x = x + 0x9E3779B97F4A7C15
  local z = x
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return x, z ~ (z >> 31)
end

local function int_seed(seed)
  if math.type(seed) == "integer" then return seed end
  if type(seed) == "number" then return math.floor(seed) end
  local h = 0
  for i = 1, #tostring(seed) do h = h * 31 + tostring(seed):byte(i) end
  return h
end

-- the seed of trial i: 31 bits, fine for every RNG that takes a seed
function M.trial_seed(seed, i)
  local _, z = mix(int_seed(seed) * 1000003 + i)
  return (z >> 33) & 0x7FFFFFFF
end
doc(M.trial_seed, [[sweep.trial_seed(seed, i) -> integer

The seed of trial i of a sweep with this seed (31 bits); the worker calls
ember.manual_seed and math.randomseed with it before the trial.]])

local function sorted_names(space)
  local names = {}
  for k in pairs(space) do
    if type(k) ~= "string" then error("sweep: space keys must be parameter names (strings)", 0) end
    names[#names + 1] = k
  end
  table.sort(names)
  return names
end

-- The planned trials {index, params, seed} of a spec, in order.
function M.plan(spec)
  local space = spec.space
  if type(space) ~= "table" then error("sweep: spec.space must be a table of parameters", 0) end
  local method = spec.method or (spec.trials and "random" or "grid")
  local seed = spec.seed or 0
  local names = sorted_names(space)
  local trials = {}
  if method == "grid" then
    -- cartesian product, the last name (sorted) varying fastest
    local values = {}
    for i, n in ipairs(names) do values[i] = as_space(space[n]):grid(n) end
    local idx = {}
    for i = 1, #names do idx[i] = 1 end
    local total = 1
    for i = 1, #names do total = total * #values[i] end
    for t = 1, total do
      local p = {}
      for i, n in ipairs(names) do p[n] = values[i][idx[i]] end
      trials[t] = {index = t, params = p, seed = M.trial_seed(seed, t)}
      for i = #names, 1, -1 do
        idx[i] = idx[i] + 1
        if idx[i] <= #values[i] then break end
        idx[i] = 1
      end
    end
  elseif method == "random" then
    local n = spec.trials or 10
    if math.type(n) ~= "integer" or n < 1 then error("sweep: trials must be a positive integer", 0) end
    for t = 1, n do
      local state = int_seed(seed) * 7919 + t * 104729
      local p = {}
      for _, name in ipairs(names) do
        local z
        state, z = mix(state)
        p[name] = as_space(space[name]):sample((z >> 11) * 2.0 ^ -53)
      end
      trials[t] = {index = t, params = p, seed = M.trial_seed(seed, t)}
    end
  else
    error("sweep: method must be \"grid\" or \"random\", got " .. tostring(method), 0)
  end
  return trials
end
doc(M.plan, [[sweep.plan(spec) -> list of {index, params, seed}

The trials a spec describes, without running them: a grid is the cartesian
product of the values (parameter names sorted, the last varying fastest); a
random search draws trial i from a generator seeded by (seed, i) alone.]])

-- ---------------------------------------------------------------- metrics --

-- A metrics table made of plain values (tensors become numbers).
local function clean_metrics(m)
  if ember.is_tensor(m) then return {value = m:item()} end
  if type(m) == "number" then return {value = m} end
  if type(m) ~= "table" then error("sweep: report expects a table of metrics, got " .. type(m), 3) end
  local out = {}
  for k, v in pairs(m) do
    if type(k) == "string" then
      if ember.is_tensor(v) then
        if v:numel() == 1 then out[k] = v:item() end
      elseif type(v) == "number" or type(v) == "string" or type(v) == "boolean" then
        out[k] = v
      end
    end
  end
  return out
end

local function is_number_list(v)
  if type(v) ~= "table" or #v == 0 then return false end
  for _, x in ipairs(v) do if type(x) ~= "number" then return false end end
  return true
end

-- The final metrics and, when it carries one, the history of a trial's
-- return value: nothing (the last report), a number (the objective), a
-- metrics table, or a History-like table of per-epoch lists (train.fit's).
local function final_of(ret, last, objective)
  local oname = type(objective) == "string" and objective or "objective"
  if ret == nil then return last or {}, nil end
  if ember.is_tensor(ret) then ret = ret:item() end
  if type(ret) == "number" then return {[oname] = ret}, nil end
  if type(ret) ~= "table" then return last or {}, nil end
  local metrics, hist = {}, nil
  for k, v in pairs(ret) do
    if type(k) == "string" then
      if is_number_list(v) then
        hist = hist or {}
        hist[k] = v
        metrics[k] = v[#v]
      elseif ember.is_tensor(v) and v:numel() == 1 then
        metrics[k] = v:item()
      elseif type(v) == "number" or type(v) == "string" or type(v) == "boolean" then
        metrics[k] = v
      end
    end
  end
  return metrics, hist
end

-- appends a report to a column history, filling holes with NaN
local function add_to_history(hist, step, m)
  for k, v in pairs(m) do
    if type(v) == "number" then
      local col = hist[k]
      if not col then col = {}; hist[k] = col end
      for s = #col + 1, step - 1 do col[s] = 0 / 0 end
      col[step] = v
    end
  end
end

-- --------------------------------------------------------------- pruning --

local Median = class("sweep.MedianPruner")
doc(Median, [[sweep.MedianPruner: made by sweep.median{...}; p:should_prune(step,
value, others, mode) decides one report.]])

M.median = doc(function(opts)
  opts = opts or {}
  local p = setmetatable({warmup = opts.warmup or 1, min_trials = opts.min_trials or 3}, Median)
  if math.type(p.warmup) ~= "integer" or p.warmup < 0 then error("sweep.median: warmup must be an integer >= 0", 2) end
  if math.type(p.min_trials) ~= "integer" or p.min_trials < 1 then
    error("sweep.median: min_trials must be an integer >= 1", 2)
  end
  return p
end, [[sweep.median{warmup=1, min_trials=3} -> pruner

Median pruning: after `warmup` reports, a trial whose objective at report
`step` is worse than the median of the completed trials' objectives at the
same step is stopped (status PRUNED), once at least `min_trials` trials have
completed that step.  Pass it as sweep.run{prune = sweep.median{...}}.]])

function Median:should_prune(step, value, others, mode)
  if step <= self.warmup or value == nil or #others < self.min_trials then return false end
  table.sort(others)
  local n = #others
  local med = n % 2 == 1 and others[(n + 1) // 2] or (others[n // 2] + others[n // 2 + 1]) / 2
  if value ~= value then return true end  -- a NaN curve is never better
  if mode == "max" then return value < med end
  return value > med
end
doc(Median.should_prune, [[p:should_prune(step, value, others, mode) -> boolean

Whether a trial whose objective at report `step` is `value` stops, given the
values `others` of the completed trials at that step.]])

-- -------------------------------------------------------------- the child --

local PRUNED = setmetatable({}, {__tostring = function() return "trial pruned" end})

local function send(msg) S.child_send(S.json_encode(msg) .. "\n") end

-- Runs in the worker process: seeds, runs the trial, sends the outcome.
local function child_body(fn, t, spec)
  ember.manual_seed(t.seed)
  math.randomseed(t.seed)
  local step, last = 0, nil
  local prune = spec.prune ~= nil
  local function report(m)
    m = clean_metrics(m)
    step = step + 1
    last = m
    send{t = "report", m = m}
    if prune then
      local r = S.child_recv()
      if r == nil then os.exit(1) end  -- the sweep is gone
      if r == "prune" then error(PRUNED, 0) end
    end
    return true
  end
  local cfg = {}
  for k, v in pairs(t.params) do cfg[k] = v end
  local ok, ret = xpcall(fn, function(e)
    if e == PRUNED then return e end
    return debug.traceback(tostring(e), 2)
  end, cfg, report)
  if ok then
    local ok2, metrics, hist = pcall(final_of, ret, last, spec.objective)
    if ok2 then send{t = "result", m = metrics, h = hist}
    else send{t = "error", e = "sweep: the trial's result: " .. tostring(metrics)} end
  elseif ret == PRUNED then
    send{t = "pruned"}
  else
    send{t = "error", e = tostring(ret)}
  end
end

-- ------------------------------------------------------------ the parent --

local LOG_ORDER = {"trial", "status", "params", "seed", "metrics", "seconds", "error"}

local function log_event(path, ev)
  if not path then return end
  local ok, err = S.append(path, S.json_encode(ev, LOG_ORDER))
  if not ok then io.stderr:write("sweep: cannot write the log: ", tostring(err), "\n") end
end

local function fmt_num(v)
  if type(v) ~= "number" then return tostring(v) end
  if math.type(v) == "integer" then return tostring(v) end
  return string.format("%.4g", v)
end

-- The progress line: trials done / running / failed, best so far.
local function progress(run, final)
  if run.verbose == false then return end
  local c = run.counts
  local parts = {string.format("sweep: %d/%d done", c.done, run.total), string.format("%d running", c.running)}
  if c.failed > 0 then parts[#parts + 1] = c.failed .. " failed" end
  if c.pruned > 0 then parts[#parts + 1] = c.pruned .. " pruned" end
  local best = run.best
  if best then
    parts[#parts + 1] = string.format("best %s %s (trial %d)", run.oname, fmt_num(best.value), best.index)
  end
  parts[#parts + 1] = string.format("%.1fs", S.clock() - run.t0)
  local line = table.concat(parts, ", ")
  if run.tty then
    -- redrawn at most 10 times a second, and whenever a trial ends
    local now = S.clock()
    if not final and c.done == run.drawn_done and now - (run.drawn_at or 0) < 0.1 then return end
    run.drawn_done, run.drawn_at = c.done, now
    io.stdout:write("\r\27[K", line, final and "\n" or "")
    io.stdout:flush()
  elseif c.done ~= (run.printed_done or 0) or (final and not run.printed_done) then
    run.printed_done = c.done
    io.stdout:write(line, "\n")
    io.stdout:flush()
  end
end

-- objective values per step of completed trials, for the pruner
local function record_curve(run, trial)
  local n = R.steps(trial.history)
  for s = 1, n do
    local v = R.objective_value(run.objective, R.step_metrics(trial.history, s))
    if v ~= nil then
      local list = run.curves[s]
      if not list then list = {}; run.curves[s] = list end
      list[#list + 1] = v
    end
  end
end

local function note_end(run, trial)
  local c = run.counts
  c.done = c.done + 1
  if trial.status == "FAILED" then c.failed = c.failed + 1 end
  if trial.status == "PRUNED" then c.pruned = c.pruned + 1 end
  if trial.status == "COMPLETE" then
    trial.value = R.objective_value(run.objective, trial.metrics)
    if R.better(trial.value, run.best and run.best.value, run.mode) then run.best = trial end
    record_curve(run, trial)
  end
end

local function on_message(run, w, line)
  local msg = S.json_decode(line)
  if type(msg) ~= "table" then return end
  if msg.t == "report" then
    local m = type(msg.m) == "table" and msg.m or {}
    w.step = w.step + 1
    w.last = m
    add_to_history(w.history, w.step, m)
    if run.prune then
      local v = R.objective_value(run.objective, m)
      local others = {}
      for i, x in ipairs(run.curves[w.step] or {}) do others[i] = x end
      local stop = run.prune:should_prune(w.step, v, others, run.mode)
      if stop then w.pruned = true end
      w.proc:send(stop and "prune\n" or "go\n")
    end
  elseif msg.t == "result" then
    w.result = type(msg.m) == "table" and msg.m or {}
    if type(msg.h) == "table" and next(w.history) == nil then w.history = msg.h end
  elseif msg.t == "pruned" then
    w.pruned = true
  elseif msg.t == "error" then
    w.error = tostring(msg.e)
  end
end

local function finish(run, w, kind, code, signame)
  local t = w.trial
  local trial = {index = t.index, params = t.params, seed = t.seed, history = w.history,
                 seconds = S.clock() - w.start, attempts = (t.attempts or 0) + 1}
  if w.result then
    trial.status, trial.metrics = "COMPLETE", w.result
  elseif w.pruned then
    trial.status, trial.metrics = "PRUNED", w.last or {}
  else
    trial.status, trial.metrics = "FAILED", w.last or {}
    if w.timed_out then
      trial.error = string.format("timeout after %gs", run.timeout)
    elseif w.error then
      trial.error = w.error
    elseif kind == "signal" then
      trial.error = string.format("killed by signal %d (%s)", code, signame or "?")
    elseif kind == "exit" then
      trial.error = string.format("the worker exited with code %d", code)
    else
      trial.error = "the worker was lost"
    end
  end
  log_event(run.log, {trial = t.index, status = trial.status, params = t.params, seed = t.seed,
                      metrics = trial.metrics, history = trial.history, seconds = trial.seconds,
                      error = trial.error, objective = run.oname, mode = run.mode,
                      time = S.time(), host = run.host})
  note_end(run, trial)
  return trial
end

local function start(run, t)
  log_event(run.log, {trial = t.index, status = "RUNNING", params = t.params, seed = t.seed,
                      time = S.time(), host = run.host, pid = S.getpid()})
  local fn, spec = run.fn, run.spec
  local proc = S.spawn(function() child_body(fn, t, spec) end, run.threads)
  return {proc = proc, trial = t, start = S.clock(), step = 0, history = {}}
end

-- Runs the trials `todo` with run.parallel workers; returns trial index ->
-- finished trial.
local function execute(run, todo)
  local done, running, next_i = {}, {}, 1
  local function loop()
    while next_i <= #todo or #running > 0 do
      while #running < run.parallel and next_i <= #todo do
        running[#running + 1] = start(run, todo[next_i])
        next_i = next_i + 1
        run.counts.running = #running
      end
      -- wait for a message or an exit; a socket at EOF whose process is not
      -- reaped yet (exiting) needs only a short wait
      local procs, exiting = {}, false
      for i, w in ipairs(running) do
        procs[i] = w.proc
        exiting = exiting or w.eof
      end
      S.poll(procs, exiting and 2 or 200)
      local i = 1
      while i <= #running do
        local w = running[i]
        local lines, eof = w.proc:read()
        w.eof = eof
        for _, line in ipairs(lines) do on_message(run, w, line) end
        local kind, code, name = w.proc:wait()
        if not kind and run.timeout and S.clock() - w.start > run.timeout then
          w.timed_out = true
          w.proc:kill()
          kind, code, name = w.proc:wait(true)
        end
        if kind then
          -- what the child wrote just before it exited is still in the socket
          for _, line in ipairs((w.proc:read())) do on_message(run, w, line) end
          w.proc:close()
          done[w.trial.index] = finish(run, w, kind, code, name)
          table.remove(running, i)
          run.counts.running = #running
        else
          i = i + 1
        end
      end
      progress(run, false)
    end
  end
  local ok, err = pcall(loop)
  if not ok then
    -- interrupted (Ctrl-C) or an error of ours: stop the workers; their
    -- trials stay RUNNING in the log and a resumed sweep runs them again
    for _, w in ipairs(running) do
      w.proc:kill()
      w.proc:wait(true)
      w.proc:close()
    end
    if run.tty and run.verbose ~= false then io.stdout:write("\n") end
    error(err, 0)
  end
  return done
end

local function new_run(spec, total)
  local cores = S.cores()
  local parallel = spec.parallel or cores
  if math.type(parallel) ~= "integer" or parallel < 1 then
    error("sweep.run: parallel must be a positive integer", 3)
  end
  local mode = spec.mode or "min"
  if mode ~= "min" and mode ~= "max" then error("sweep.run: mode must be \"min\" or \"max\"", 3) end
  local objective = spec.objective or "loss"
  if type(objective) ~= "string" and type(objective) ~= "function" then
    error("sweep.run: objective must be a metric name or a function(metrics)", 3)
  end
  local prune = spec.prune
  if prune ~= nil and (type(prune) ~= "table" or type(prune.should_prune) ~= "function") then
    error("sweep.run: prune must be a pruner such as sweep.median{...}", 3)
  end
  return {
    spec = spec, parallel = parallel, log = spec.log, mode = mode, objective = objective,
    oname = type(objective) == "string" and objective or "objective", prune = prune,
    threads = spec.threads or math.max(1, cores // math.min(parallel, math.max(total, 1))),
    timeout = spec.timeout, verbose = spec.verbose, tty = S.isatty(1), t0 = S.clock(),
    counts = {done = 0, running = 0, failed = 0, pruned = 0}, total = total,
    curves = {}, host = S.hostname(),
  }
end

-- the trial function of a spec: spec.trial, or the chunk of spec.script
-- (called with cfg, report; loaded once, here, so a syntax error is ours)
local function trial_fn(spec, fname)
  if spec.trial ~= nil and spec.script ~= nil then error(fname .. ": give trial or script, not both", 3) end
  if type(spec.trial) == "function" then return spec.trial end
  if type(spec.script) == "string" then
    local chunk, err = loadfile(spec.script)
    if not chunk then error(fname .. ": " .. tostring(err), 3) end
    return chunk
  end
  error(fname .. ": spec.trial must be a function(cfg, report) (or spec.script a path)", 3)
end

M.run = doc(function(spec)
  if type(spec) ~= "table" then error("sweep.run: expected a spec table", 2) end
  local fn = trial_fn(spec, "sweep.run")
  local ok, planned = pcall(M.plan, spec)
  if not ok then error(planned, 2) end
  -- resume: trials that ended COMPLETE or PRUNED in the log are kept
  local prior = {}
  if spec.log then
    local events = R.read_lines(spec.log)
    local _, by_key = R.merge(events)
    prior = by_key
  end
  local todo, kept = {}, {}
  for _, t in ipairs(planned) do
    local p = prior[R.key(t.index, t.params)]
    if p and (p.status == "COMPLETE" or p.status == "PRUNED") then
      kept[t.index] = p
    else
      t.attempts = p and p.attempts or 0
      todo[#todo + 1] = t
    end
  end
  if spec.log then
    -- a log that cannot be written is an error now, not after the trials ran
    local f, err = io.open(spec.log, "a")
    if not f then error("sweep.run: cannot write the log: " .. tostring(err), 2) end
    f:close()
  end
  local run = new_run(spec, #todo)
  run.total = #planned
  run.fn = fn
  run.spec = spec
  run.parallel = math.min(run.parallel, math.max(#todo, 1))
  for _, t in pairs(kept) do note_end(run, t) end
  local done = #todo > 0 and execute(run, todo) or {}
  progress(run, true)
  local trials = {}
  for i, t in ipairs(planned) do trials[i] = kept[t.index] or done[t.index] end
  local res = R.new(trials, run.objective, run.mode)
  -- which parameters were drawn on a log scale (plot.sweep gives them a log axis)
  res.log_params = {}
  for name, sp in pairs(spec.space or {}) do
    if getmetatable(sp) == Space and sp.kind == "log_uniform" then res.log_params[name] = true end
  end
  return res
end, [[sweep.run(spec) -> Results

Runs a sweep.  spec fields:
  space     {name = values}: a list (choice), sweep.uniform(a, b),
            sweep.log_uniform(a, b), sweep.int(a, b), or a constant
  method    "grid" (uniform spaces need n points) or "random"; the default
            is "random" when trials is given, else "grid"
  trials    number of random trials (default 10)
  trial     function(cfg, report) ... end: trains with cfg (the params),
            calls report{loss = ..., ...} once per epoch, returns the final
            metrics (a table, a number, or a train.fit History); or
  script    a path: a Lua file run as the trial (local cfg, report = ...)
  objective a metric name (default "loss") or function(metrics) -> number
  mode      "min" (default) or "max"
  parallel  worker processes (default: the number of cores); each worker
            gets cores / parallel math threads (threads= overrides)
  log       a JSONL file: every trial is appended; running again resumes
  seed      sweep seed (default 0): trial i gets sweep.trial_seed(seed, i)
  prune     sweep.median{warmup=, min_trials=}: report() then waits for
            the sweep's verdict and, when the trial is pruned, unwinds it
            with an error the sweep catches (status PRUNED)
  timeout   seconds after which a trial is killed (FAILED)
  verbose   false silences the progress line
A trial that raises, exits or crashes is FAILED; the others go on.]])

-- ------------------------------------------------------------- load / cli --

M.load = doc(function(paths, opts)
  opts = opts or {}
  local files = R.expand(paths)
  local events = {}
  local found = false
  for _, f in ipairs(files) do
    local _, ok = R.read_lines(f, events)
    found = found or ok
  end
  if not found then error("sweep.load: no log file at " .. tostring(type(paths) == "table" and table.concat(paths, ", ") or paths), 2) end
  local trials = R.merge(events)
  local objective, mode = opts.objective, opts.mode
  for _, t in ipairs(trials) do
    objective = objective or t.objective_name
    mode = mode or t.mode
    t.objective_name = nil
    t.mode = nil
  end
  return R.new(trials, objective or "loss", mode or "min")
end, [[sweep.load(path [, {objective=, mode=}]) -> Results

Reads one or more sweep logs (a path, a glob such as "logs/*.jsonl", or a
list) and merges them: one trial per (index, params), its final state the
last COMPLETE event, else PRUNED, else FAILED, else RUNNING (interrupted).
The objective and mode come from the logs unless given.]])

-- A Lua literal of a plain value (exact floats), for the command lines.
local function literal(v)
  local tv = type(v)
  if tv == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    if v ~= v then return "(0/0)" end
    if v == math.huge then return "math.huge" end
    if v == -math.huge then return "-math.huge" end
    local s = string.format("%.17g", v)
    if not s:find("[.eEn]") then s = s .. ".0" end
    return s
  elseif tv == "string" then
    return (string.format("%q", v):gsub("\\\n", "\\n"))
  elseif tv == "boolean" then
    return tostring(v)
  elseif tv == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for _, k in ipairs(keys) do
      local key = (type(k) == "string" and k:match("^[%a_][%w_]*$")) and k or "[" .. literal(k) .. "]"
      parts[#parts + 1] = key .. "=" .. literal(v[k])
    end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  error("sweep.commands: cannot write a " .. tv .. " value into a command", 0)
end

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

M.commands = doc(function(spec)
  if type(spec) ~= "table" then error("sweep.commands: expected a spec table", 2) end
  if type(spec.script) ~= "string" then error("sweep.commands: spec.script (the trial script) is required", 2) end
  if type(spec.log) ~= "string" then error("sweep.commands: spec.log (the log to append to) is required", 2) end
  if type(spec.objective) == "function" then
    error("sweep.commands: the objective must be a metric name here (commands carry no functions)", 2)
  end
  local ok, planned = pcall(M.plan, spec)
  if not ok then error(planned, 2) end
  local exe = spec.ember or "ember"
  local common = {script = spec.script, log = spec.log, objective = spec.objective, mode = spec.mode,
                  threads = spec.threads}
  local cmds = {}
  for i, t in ipairs(planned) do
    local w = {trial = t.index, params = t.params, seed = t.seed, exit = true}
    for k, v in pairs(common) do w[k] = v end
    cmds[i] = exe .. " -e " .. shell_quote("sweep.worker" .. literal(w))
  end
  if spec.file then
    local f, err = io.open(spec.file, "w")
    if not f then error("sweep.commands: " .. tostring(err), 2) end
    f:write(table.concat(cmds, "\n"), "\n")
    f:close()
  end
  local array
  if spec.plan then
    local p = {trials = {}}
    for k, v in pairs(common) do p[k] = v end
    for i, t in ipairs(planned) do p.trials[i] = {trial = t.index, params = t.params, seed = t.seed} end
    local f, err = io.open(spec.plan, "w")
    if not f then error("sweep.commands: " .. tostring(err), 2) end
    f:write(S.json_encode(p), "\n")
    f:close()
    array = exe .. " -e " .. shell_quote("sweep.worker" .. literal({plan = spec.plan, exit = true}))
  end
  return cmds, array
end, [[sweep.commands(spec) -> commands, array_command

One shell command per trial, each running ember on spec.script with that
trial's params and seed and appending to spec.log, for GNU parallel
(`parallel -j 8 < cmds.txt`) or any scheduler.  spec: the fields of
sweep.run (space, method, trials, seed, objective, mode) plus script, log
(may contain {host}, {pid}, {trial}: one log per machine), ember (the
executable, default "ember"), threads (math threads per trial), file (write
the commands there, one per line) and plan (write a JSON plan there; then
array_command is one command for a Slurm job array: `sbatch --array=1-N`,
each task runs trial SLURM_ARRAY_TASK_ID).  sweep.load merges the logs.]])

local function expand_log(path, trial)
  return (path:gsub("{host}", S.hostname()):gsub("{pid}", tostring(S.getpid()))
              :gsub("{trial}", tostring(trial)))
end

M.worker = doc(function(opts)
  if type(opts) ~= "table" then error("sweep.worker: expected a table", 2) end
  if opts.plan then
    local f, err = io.open(opts.plan, "r")
    if not f then error("sweep.worker: " .. tostring(err), 2) end
    local plan = S.json_decode(f:read("a"))
    f:close()
    if type(plan) ~= "table" or type(plan.trials) ~= "table" then error("sweep.worker: " .. opts.plan .. " is not a sweep plan", 2) end
    local idx = opts.trial
    if not idx then
      idx = math.tointeger(tonumber(os.getenv("SLURM_ARRAY_TASK_ID") or ""))
      if not idx then error("sweep.worker: no trial given and SLURM_ARRAY_TASK_ID is not set", 2) end
      -- an array numbered from 0 (--array=0-N) runs trials 1..N+1
      if os.getenv("SLURM_ARRAY_TASK_MIN") == "0" then idx = idx + 1 end
    end
    local t
    for _, x in ipairs(plan.trials) do if x.trial == idx then t = x end end
    if not t then error("sweep.worker: the plan has no trial " .. tostring(idx), 2) end
    local o = {trial = t.trial, params = t.params, seed = t.seed}
    for k, v in pairs(plan) do if k ~= "trials" and o[k] == nil then o[k] = v end end
    for k, v in pairs(opts) do if k ~= "plan" and k ~= "trial" then o[k] = v end end
    opts = o
  end
  if math.type(opts.trial) ~= "integer" or type(opts.params) ~= "table" then
    error("sweep.worker: need trial (an integer) and params", 2)
  end
  if type(opts.log) ~= "string" then error("sweep.worker: need log (a path)", 2) end
  local log = expand_log(opts.log, opts.trial)
  local t = {index = opts.trial, params = opts.params, seed = opts.seed or M.trial_seed(0, opts.trial)}
  -- already ended in this log (a rerun of the same commands): nothing to do
  local _, by_key = R.merge((R.read_lines(log)))
  local prior = by_key[R.key(t.index, t.params)]
  if prior and (prior.status == "COMPLETE" or prior.status == "PRUNED") and not opts.force then
    if opts.verbose ~= false then print(string.format("sweep: trial %d already %s in %s", t.index, prior.status, log)) end
    return prior
  end
  t.attempts = prior and prior.attempts or 0
  local spec = {script = opts.script, trial = opts.trial_fn, objective = opts.objective, mode = opts.mode,
                log = log, parallel = 1, threads = opts.threads, timeout = opts.timeout, verbose = false}
  local run = new_run(spec, 1)
  run.fn = trial_fn(spec, "sweep.worker")
  local trial = execute(run, {t})[t.index]
  if opts.verbose ~= false then
    print(string.format("sweep: trial %d %s in %.1fs%s", t.index, trial.status, trial.seconds,
                        trial.error and (": " .. trial.error:match("[^\n]*")) or ""))
  end
  -- as a scheduler's command: the exit status tells GNU parallel (--joblog,
  -- --retries) or Slurm which trials failed
  if opts.exit then os.exit(trial.status == "FAILED" and 1 or 0, true) end
  return trial
end, [[sweep.worker{script=, log=, trial=, params=, seed= [, objective=, mode=,
threads=, timeout=, exit=]} -> trial  or  sweep.worker{plan= [, trial=, exit=]}

Runs one trial (in a worker process, like sweep.run) and appends it to the
log; what the commands of sweep.commands call.  With plan=, the trial comes
from the plan file, its number from trial= or SLURM_ARRAY_TASK_ID (plus 1
when SLURM_ARRAY_TASK_MIN is 0, for --array=0-N).  A trial
that already ended COMPLETE or PRUNED in the log is not run again.  With
exit=true (as in the generated commands) the process exits when the trial
ends: status 1 if it FAILED, else 0.]])

M.callback = doc(function(report)
  return {on_epoch_end = function(_, _, logs) report(logs) end}
end, [[sweep.callback(report) -> callback

A train.fit callback that reports each epoch's logs (loss, val_loss,
metrics) to the sweep: train.fit(model, d, {callbacks = {sweep.callback(report)}}).]])

M.Results = R.Results

doc(M, [[ember.sweep: hyperparameter sweeps in worker processes.

sweep.run{space=, method=, trials=, trial=|script=, objective=, mode=,
parallel=, log=, seed=, prune=} -> Results; spaces sweep.uniform,
sweep.log_uniform, sweep.int, sweep.choice (or a plain list);
sweep.median{...} (pruning); sweep.load(logs) -> Results;
sweep.commands(spec) (GNU parallel, Slurm arrays) and sweep.worker.]])

return M
