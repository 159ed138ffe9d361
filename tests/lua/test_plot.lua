-- test_plot.lua: ember.plot with the real gnuplot (Debian gnuplot-nox):
-- every plot kind saved as PNG and SVG (headers, sizes, dimensions), PDF,
-- dumb text output holding the title and the plotted series (in process and
-- inline on a child's stdout with EMBER_PLOT=dumb), data blocks at full
-- precision, a live figure updated three times and its throttle, a missing
-- gnuplot (child process with an empty PATH) and gnuplot errors, which
-- must be Lua errors that leave the session usable.
local T = dofile("tests/lua/harness.lua")

local tmpdir = os.tmpname()
os.remove(tmpdir)
os.execute("mkdir -p " .. tmpdir)

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function check_png(path, w, h)
  local s = slurp(path)
  T.ok(s, path .. " was not written")
  T.eq(s:sub(1, 8), "\137PNG\r\n\26\n", path .. " PNG signature")
  T.eq(s:sub(13, 16), "IHDR")
  local pw, ph = string.unpack(">I4>I4", s, 17)
  T.eq(pw, w or 800, path .. " width")
  T.eq(ph, h or 600, path .. " height")
  T.ok(#s > 3000, path .. " is only " .. #s .. " bytes")
  T.eq(s:sub(-8, -5), "IEND", path .. " ends with IEND")
end

local function check_svg(path, needles)
  local s = slurp(path)
  T.ok(s, path .. " was not written")
  T.ok(s:sub(1, 5) == "<?xml" or s:sub(1, 4) == "<svg", path .. " SVG header")
  T.ok(s:find("<svg", 1, true), path .. " has an <svg> element")
  T.ok(s:find("</svg>%s*$"), path .. " is complete")
  T.ok(#s > 2000, path .. " is only " .. #s .. " bytes")
  for _, n in ipairs(needles or {}) do T.ok(s:find(n, 1, true), path .. " contains " .. n) end
end

local function saved(fig, name, needles)
  fig:save(tmpdir .. "/" .. name .. ".png")
  fig:save(tmpdir .. "/" .. name .. ".svg")
  check_png(tmpdir .. "/" .. name .. ".png", fig.expect_w, fig.expect_h)
  check_svg(tmpdir .. "/" .. name .. ".svg", needles)
end

plot.config.terminal = "none"   -- show() draws nothing unless a test asks for dumb

T.test("line: PNG, SVG, PDF", function()
  local fig = plot.line(ember.linspace(0, 1, 50):pow(2), {title = "parabola", label = "x squared"})
  T.eq(fig.renders, 0, "EMBER_PLOT=none draws nothing")
  saved(fig, "line", {"parabola", "x squared"})
  fig:save(tmpdir .. "/line.pdf")
  local pdf = slurp(tmpdir .. "/line.pdf")
  T.eq(pdf:sub(1, 5), "%PDF-")
  T.ok(#pdf > 1000)
  T.raises(function() fig:save(tmpdir .. "/line.bmp") end, "unknown extension")
end)

T.test("scatter colored by label: one legend entry per class", function()
  ember.manual_seed(1)
  local x, y = ember.randn(200), ember.randn(200)
  local lab = ember.randint(1, 4, {200})
  local fig = plot.scatter(x, y, {color = lab, classes = {"alpha", "beta", "gamma"}, title = "clusters"})
  saved(fig, "scatter", {"clusters", "alpha", "beta", "gamma"})
  local cont = plot.scatter(x, y, {color = x + y, title = "continuous"})
  saved(cont, "scatter2", {"continuous"})
  T.raises(function() plot.scatter(x, y, {color = ember.zeros(3)}) end, "200 points but 3 colors")
end)

T.test("hist: counts and files", function()
  local v = ember.tensor{0, 0.1, 0.2, 0.9, 1.0, 0.55}
  local fig = plot.hist(v, {bins = 2, title = "histogram"})
  T.same(fig.counts, {3, 3})
  saved(fig, "hist", {"histogram"})
  local big = plot.hist(ember.randn(5000), {bins = 30})
  local total = 0
  for _, c in ipairs(big.counts) do total = total + c end
  T.eq(total, 5000)
end)

T.test("image: a digit and a confusion matrix", function()
  local digit = ember.zeros(28, 28)
  digit[{{5, 24}, {13, 16}}] = 1
  local fig = plot.image(digit, {title = "a one"})
  saved(fig, "digit", {"a one"})
  plot.image(digit:view(1, 28, 28), {show = false})
  plot.image(digit:view(784), {show = false})
  T.raises(function() plot.image(ember.zeros(5)) end, "square")
  local rgb = ember.zeros(3, 8, 8)
  rgb[1] = 1   -- red
  saved(plot.image(rgb, {title = "red square"}), "rgb", {"red square"})
  local cm = metrics.confusion_matrix(ember.tensor{1, 2, 2, 3}, ember.tensor{1, 2, 3, 3}, {"cat", "dog", "bird"})
  local cfig = plot.image(cm)
  saved(cfig, "confusion", {"cat", "dog", "bird", "confusion matrix"})
end)

T.test("curves of a history, sweep results", function()
  local h = {loss = {1, 0.6, 0.4}, val_loss = {1.1, 0.8, 0.7}, accuracy = {0.5, 0.7, 0.8},
             val_accuracy = {0.45, 0.6, 0.65}}
  local fig = plot.curves(h)
  T.eq(#fig.panels, 2)
  fig.expect_w = 840
  saved(fig, "curves", {"val_loss", "val_accuracy", "epoch"})
  local results = {}
  for i, lr in ipairs{0.1, 0.01, 0.001} do
    results[i] = {params = {lr = lr, width = 8 * i}, history = {loss = {1, 1 - lr * 5, 1 - lr * 8}},
                  metrics = {loss = 1 - lr * 8}}
  end
  local sw = plot.sweep(results)
  T.eq(#sw.panels, 3)
  sw.expect_w = 1260
  saved(sw, "sweep", {"lr=0.1 width=8", "loss vs lr", "loss vs width"})
end)

T.test("figure methods: title, labels, logscale, legend, two panels", function()
  local fig = plot.figure{layout = {1, 2}}
  fig:panel(1):line({1, 10, 100}, {label = "growth"}):title("log"):xlabel("step"):ylabel("value"):logscale("y")
  fig:panel(2):scatter({1, 2, 3}, {3, 1, 2}, {label = "pts"}):legend("top left")
  fig.expect_w = 840
  saved(fig, "figure", {"growth", "pts", "step", "value"})
  T.raises(function() fig:panel(3) end, "out of range 1..2")
  T.raises(function() fig:logscale("z") end, "axes must be")
end)

T.test("data blocks carry full precision", function()
  local fig = plot.figure()
  fig:line({1, 2}, {1.0000000000000002, 0.1})
  fig:save(tmpdir .. "/precise.svg")
  local text = plot.gnuplot("print $e" .. fig.id .. "_1_1")
  T.ok(text:find("1.0000000000000002", 1, true), text)
  T.ok(text:find("0.10000000000000001", 1, true), text)
end)

T.test("dumb output holds the title and the series", function()
  plot.config.terminal = "dumb"
  local ok, err = pcall(function()
    local fig = plot.figure{title = "dumb title", size = {70, 20}}
    fig:line({1, 2, 3, 4, 5}, {1, 4, 9, 16, 25}, {label = "squares"})
    local saved_out = io.stdout
    fig:show()
    T.ok(fig.text, "text kept")
    T.ok(fig.text:find("dumb title", 1, true), fig.text)
    T.ok(fig.text:find("squares", 1, true), fig.text)
    T.ok(fig.text:find("25", 1, true), "the y range reaches 25")
    -- the line itself is drawn with '*' characters in several rows
    local rows = 0
    for l in fig.text:gmatch("[^\n]+") do if l:find("%*") then rows = rows + 1 end end
    T.ok(rows >= 5, "the series spans rows: " .. rows)
    local lines = 0
    for _ in fig.text:gmatch("\n") do lines = lines + 1 end
    T.eq(lines, 20, "sized as asked")
    -- a digit is shaded as text (gnuplot's dumb image is an empty frame)
    local digit = ember.zeros(28, 28)
    digit[{{5, 24}, {13, 16}}] = 1
    local img = plot.image(digit, {title = "a one", size = {70, 40}})
    T.ok(img.text:find("a one", 1, true), img.text)
    T.ok(img.text:find("@@@@@@@@", 1, true), "the bright bar")
    local nlines = select(2, img.text:gsub("\n", ""))
    T.eq(nlines, 29, "title and 28 rows")
    local cm = plot.image(metrics.confusion_matrix(ember.tensor{1, 2}, ember.tensor{1, 2}, {"ant", "bee"}))
    T.ok(cm.text:find("ant", 1, true) and cm.text:find("bee", 1, true), "confusion matrix through gnuplot")
    T.ok(saved_out == io.stdout)
  end)
  plot.config.terminal = "none"
  if not ok then error(err, 0) end
end)

T.test("a live figure updated three times, throttled", function()
  plot.config.terminal = "dumb"
  local ok, err = pcall(function()
    local fig = plot.figure{title = "live", interval = 0, size = {60, 16}}
    local texts = {}
    for i = 1, 3 do
      local ys = {}
      for k = 1, i + 2 do ys[k] = 1 / k end
      fig:line(ys, {label = "loss"})
      T.eq(fig:update(), true)
      texts[i] = fig.text
    end
    T.eq(fig.renders, 3)
    T.eq(#fig.panels[1].series, 1, "same label replaces the series")
    T.ok(texts[1] ~= texts[3], "the redraws show new data")
    fig.interval = 60
    fig:line({1, 2}, {label = "loss"})
    T.eq(fig:update(), false, "throttled")
    T.eq(fig.renders, 3)
    T.eq(fig:update({force = true}), true)
    T.eq(fig.renders, 4)
  end)
  plot.config.terminal = "none"
  if not ok then error(err, 0) end
end)

T.test("gnuplot errors are Lua errors and the session survives", function()
  local err = T.raises(function() plot.gnuplot("plot sin(x) with nonsense") end, "plot: gnuplot:")
  T.ok(err:find("unrecognized plot type", 1, true), err)
  local fig = plot.figure()
  fig:line({1, 2, 3})
  fig:set("nonexistentoption 3")
  T.raises(function() fig:save(tmpdir .. "/bad.png") end, "plot: gnuplot:")
  -- still usable
  local ok_fig = plot.line({3, 2, 1}, {title = "after the error"})
  ok_fig:save(tmpdir .. "/after.png")
  check_png(tmpdir .. "/after.png")
  -- gnuplot exiting is an error, and the next plot starts a new one
  T.raises(function() plot.gnuplot("exit") end, "gnuplot exited")
  ok_fig:save(tmpdir .. "/again.svg")
  check_svg(tmpdir .. "/again.svg")
  T.raises(function() plot.line("abc") end, "tensor or a list")
end)

T.test("empty figures and series draw; gnuplot warnings are not errors", function()
  local empty = plot.figure{title = "nothing yet"}
  empty:save(tmpdir .. "/empty.png")
  check_png(tmpdir .. "/empty.png")
  local fig = plot.figure{layout = {1, 2}}
  fig:line({}, {label = "no points"})
  fig:panel(2):line({1, 2})
  fig:save(tmpdir .. "/half.svg")
  check_svg(tmpdir .. "/half.svg")
  -- a constant series gives a warning ("empty y range [3:3], adjusting"),
  -- not an error
  local w = plot.figure()
  w:line({1, 2}, {3, 3})
  w:save(tmpdir .. "/warned.png")
  check_png(tmpdir .. "/warned.png")
end)

-- the ember being tested, as an absolute path (children run with odd PATHs)
local function ember_path()
  local e = os.getenv("EMBER") or "./ember"
  if e:sub(1, 1) ~= "/" then
    local p = io.popen("pwd")
    e = p:read("l") .. "/" .. e:gsub("^%./", "")
    p:close()
  end
  return e
end

local function run_child(env, code)
  local script = tmpdir .. "/child.lua"
  local f = io.open(script, "w")
  f:write(code)
  f:close()
  local p = io.popen(env .. " " .. ember_path() .. " " .. script .. " 2>&1")
  local out = p:read("a")
  local ok, how, rc = p:close()
  return out, rc, how
end

T.test("missing gnuplot: a Lua error naming gnuplot-nox, and the process lives on", function()
  local out, rc = run_child("PATH=/nonexistent EMBER_PLOT=dumb", [[
    local ok, err = pcall(plot.line, {1, 2, 3})
    print("ok=" .. tostring(ok))
    print("err=" .. tostring(err))
    local ok2 = pcall(function() plot.figure():line({1}):save("/tmp/x.png") end)
    print("ok2=" .. tostring(ok2))
    print("ALIVE")
  ]])
  T.ok(out:find("ok=false", 1, true), out)
  T.ok(out:find("gnuplot-nox", 1, true), out)
  T.ok(out:find("ok2=false", 1, true), out)
  T.ok(out:find("ALIVE", 1, true), out)
  T.eq(rc, 0, "exit code")
end)

T.test("EMBER_PLOT=dumb prints the plot inline on stdout", function()
  local out, rc = run_child("EMBER_PLOT=dumb COLUMNS=72 LINES=22", [[
    plot.line({8, 5, 3, 1}, {title = "inline plot", label = "series one"})
    print("END")
  ]])
  T.eq(rc, 0)
  T.ok(out:find("inline plot", 1, true), out)
  T.ok(out:find("series one", 1, true), out)
  T.ok(out:find("inline plot", 1, true) < out:find("END", 1, true), "drawn before the next output")
  local widest = 0
  for l in out:gmatch("[^\n]+") do widest = math.max(widest, #l) end
  T.eq(widest, 72, "sized to COLUMNS")
  local bad = run_child("EMBER_PLOT=bogus", [[print(pcall(plot.line, {1, 2}))]])
  T.ok(bad:find("EMBER_PLOT must be", 1, true), bad)
end)

T.test("_sys helpers: format_columns, spawn, clock", function()
  local s = ember._sys.format_columns(ember.tensor{1, 2}, ember.tensor({0.1, 0 / 0}, "float64"))
  T.eq(s, "1 0.10000000000000001\n2 NaN\n")
  T.eq(ember._sys.format_columns(ember.tensor{{1, 2}, {3, 4}}), "1 2\n3 4\n")
  T.eq(ember._sys.format_columns(ember.arange(6):view(3, 2):t()), "0 2 4\n1 3 5\n", "non-contiguous")
  T.raises(function() ember._sys.format_columns(ember.zeros(2), ember.zeros(3)) end, "columns of")
  local p, err = ember._sys.spawn{"ember-no-such-program"}
  T.eq(p, nil)
  T.ok(err:find("not found on PATH", 1, true))
  local c = ember._sys.spawn{"cat"}
  T.ok(c:alive())
  T.eq(c:close(), 0)
  T.eq(c:alive(), false)
  local ok, werr = c:write("x")
  T.eq(ok, nil)
  T.ok(werr)
  local t0 = ember._sys.clock()
  T.ok(ember._sys.clock() >= t0)
end)

T.test("every public function has a docstring", function()
  for _, k in ipairs{"line", "scatter", "hist", "image", "curves", "sweep", "figure", "gnuplot", "terminal", "close"} do
    T.ok(ember.doc(plot[k]), "plot." .. k)
  end
  for _, k in ipairs{"line", "scatter", "title", "xlabel", "ylabel", "logscale", "legend", "show", "save",
                     "update", "panel"} do
    T.ok(ember.doc(plot.Figure[k]), "Figure:" .. k)
  end
end)

os.execute("rm -rf " .. tmpdir)
T.done()
