-- ember.plot: plots through gnuplot, driven over a pipe.
--
-- One gnuplot process per Lua state (started on first use, restarted if it
-- died) receives whole scripts: the data of every series as a named data
-- block ($name << EOD) written at full precision (%.17g), then the settings
-- and the plot command.  After each script we ask gnuplot to print a marker
-- on its stderr and read stderr up to it (ember._sys.spawn gives us that
-- pipe): whatever came before the marker is gnuplot's complaint, raised as a
-- Lua error carrying gnuplot's message (warnings go to stderr).  gnuplot is
-- looked up on PATH before anything is written, and SIGPIPE is ignored, so
-- a missing or dead gnuplot is an error, never a dead REPL.
--
-- Terminals: EMBER_PLOT (or plot.config.terminal) = dumb|qt|wxt|x11|sixel|
-- none picks one; otherwise a window (qt, wxt, x11: the first gnuplot has)
-- when DISPLAY is set, else `dumb` sized to the terminal, whose text goes to
-- a temporary file that we print inline (and keep in fig.text).
-- fig:save(path) renders the same figure to png / svg / pdf by extension.
--
-- A Figure holds panels (a grid when layout={rows, cols}); each panel holds
-- series (lines, points, boxes, an image).  Methods without a panel number
-- act on the current panel (fig:panel(i) selects one).  A series given the
-- label of an existing one replaces its data, which is how live figures
-- (fit{plot=true}) update: change the data, then fig:update(), throttled to
-- one redraw per `interval` seconds.
local ember = require("ember")
local class = require("ember.class")
local sys = ember._sys

local M = {}

local function doc(v, text) ember.doc(v, text); return v end

M.config = {
  terminal = nil,     -- nil: EMBER_PLOT, then automatic
  gnuplot = nil,      -- nil: EMBER_GNUPLOT or "gnuplot" from PATH
  timeout = 60,       -- seconds to wait for gnuplot to answer
  size = nil,         -- {w, h} for windows and saved files (pixels)
  interval = 0.5,     -- live figures redraw at most this often (seconds)
}

-- ------------------------------------------------------------- the process --

local session = nil   -- {proc=, terminals={name=true}, seq=}

local function gp_quote(s)
  return "'" .. tostring(s):gsub("'", "''"):gsub("\n", " ") .. "'"
end

-- The useful lines of gnuplot's stderr: drops the echo of the command
-- ("gnuplot> ...") and the caret line under it.
local function clean_message(text)
  local keep = {}
  for line in text:gmatch("[^\n]+") do
    if not line:match("^%s*gnuplot>") and not line:match("^%s*%^%s*$") and line:match("%S") then
      keep[#keep + 1] = line:gsub("^%s+", "")
    end
  end
  return table.concat(keep, "; ")
end

-- an error, as opposed to a warning ("line 1: warning: Skipping data file
-- with no valid points"), which gnuplot reports in the same form
local function is_error(text)
  for rest in text:gmatch("line %d+:%s*([^\n]*)") do
    if not rest:find("^warning:") then return true end
  end
  return false
end

local function stop_session()
  if session then
    pcall(session.proc.write, session.proc, "quit\n")
    session.proc:close()
    session = nil
  end
end

-- Sends a script and waits until gnuplot has run it.  Raises on a gnuplot
-- error (with its message) or when gnuplot is gone.
local function send(script, quiet)
  local s = M._session()
  s.seq = s.seq + 1
  local marker = "__ember_sync_" .. s.seq .. "__"
  local ok, err = s.proc:write(script .. "\nprint " .. gp_quote(marker) .. "\n")
  if not ok then
    stop_session()
    error("plot: gnuplot " .. err .. " (it is started again on the next plot)", 0)
  end
  local text, status = s.proc:read_until(marker, M.config.timeout)
  if status == "eof" then
    local msg = clean_message(text)
    stop_session()
    error("plot: gnuplot exited" .. (msg ~= "" and (": " .. msg) or ""), 0)
  elseif status == "interrupted" then
    stop_session()   -- its answers would now be out of step with our questions
    error("plot: interrupted", 0)
  elseif status == "timeout" then
    stop_session()
    error("plot: gnuplot did not answer within " .. M.config.timeout .. " s", 0)
  end
  if text:match("%S") then
    if is_error(text) then
      -- leave gnuplot in a clean state for the next figure
      s.proc:write("unset multiplot\nunset output\n")
      error("plot: gnuplot: " .. clean_message(text), 0)
    end
    -- "empty y range [1:1], adjusting to [0.99:1.01]" (a constant or one-point
    -- series) is gnuplot doing the right thing: not worth a message
    local msg = clean_message(text:gsub("[^\n]*[Ww]arning: empty %w+ range[^\n]*adjusting[^\n]*", ""))
    if not quiet and msg ~= "" then io.stderr:write("plot: gnuplot: ", msg, "\n") end
  end
  return text
end

function M._session()
  if session and session.proc:alive() then return session end
  session = nil
  local prog = M.config.gnuplot or os.getenv("EMBER_GNUPLOT") or "gnuplot"
  -- -persist: windows outlive the gnuplot process (a script's plots stay up)
  local proc, err = sys.spawn{prog, "-persist"}
  if not proc then
    error("plot: gnuplot is not installed (" .. err .. "): install the Debian package gnuplot-nox", 0)
  end
  session = {proc = proc, seq = 0, terminals = {}}
  local text = send("print GPVAL_TERMINALS", true)
  for name in text:gmatch("%S+") do session.terminals[name] = true end
  return session
end

M.gnuplot = doc(function(cmd)
  if type(cmd) ~= "string" then error("plot.gnuplot: expected a string of gnuplot commands", 2) end
  return send(cmd, true)
end, [[plot.gnuplot(commands) -> string

Sends raw commands to the plot session's gnuplot and returns what it
printed; a gnuplot error becomes a Lua error with gnuplot's message.]])

M.close = doc(function() stop_session() end,
  "plot.close()\n\nStops the gnuplot process (the next plot starts a new one).")

-- ------------------------------------------------------------- terminals --

local function term_cols_rows()
  local cols, rows = tonumber(os.getenv("COLUMNS")), tonumber(os.getenv("LINES"))
  if not cols or not rows then
    local c, r = sys.term_size()
    cols, rows = cols or c, rows or r
  end
  if not cols then
    local p = io.popen("tput cols 2>/dev/null; tput lines 2>/dev/null")
    local out = p and p:read("a") or ""
    if p then p:close() end
    local c, r = out:match("(%d+)%s+(%d+)")
    if sys.isatty(1) then cols, rows = tonumber(c), rows or tonumber(r) end
  end
  cols = math.max(40, math.min(cols or 80, 400))
  rows = math.max(12, math.min((rows or 25) - 1, 100))
  return cols, rows
end

-- The display terminal: "none", "dumb", or a window terminal name.
M.terminal = doc(function()
  local want = M.config.terminal or os.getenv("EMBER_PLOT")
  if want and want ~= "" then
    if want == "none" or want == "dumb" then return want end
    local ok = ({qt = true, wxt = true, x11 = true, sixel = true})[want]
    if not ok then error("plot: EMBER_PLOT must be dumb, qt, wxt, x11, sixel or none, got " .. want, 0) end
    return want
  end
  local disp = os.getenv("DISPLAY")
  if disp and disp ~= "" then
    local s = M._session()
    for _, t in ipairs{"qt", "wxt", "x11"} do
      if s.terminals[t] then return t end
    end
  end
  return "dumb"
end, [[plot.terminal() -> string

The display terminal plots go to: EMBER_PLOT (dumb qt wxt x11 sixel none) or
plot.config.terminal when set; else qt/wxt/x11 when DISPLAY is set and
gnuplot has one; else "dumb" (text, sized to the terminal, printed inline).]])

local function size_opt(default_w, default_h)
  local sz = M.config.size
  return string.format("size %d,%d", sz and sz[1] or default_w, sz and sz[2] or default_h)
end

-- ---------------------------------------------------------------- series --

local function as_vector(v, what)
  if type(v) == "table" and not ember.is_tensor(v) then
    if #v == 0 then return ember.zeros(0, {dtype = "float64"}) end
    v = ember.tensor(v, "float64")
  end
  if not ember.is_tensor(v) then error("plot: " .. what .. " must be a tensor or a list of numbers", 3) end
  if v:dim() == 2 and (v.shape[2] == 1 or v.shape[1] == 1) then v = v:reshape(-1) end
  if v:dim() ~= 1 then
    error("plot: " .. what .. " must be 1-D, got shape [" .. table.concat(v.shape, ", ") .. "]", 3)
  end
  return v:detach()
end

-- (x, y, opts) or (y, opts): x defaults to 1..n
local function is_opts(v) return v == nil or (type(v) == "table" and not ember.is_tensor(v) and #v == 0) end

local function xy_args(a, b, c, what)
  local x, y, opts
  if is_opts(b) then
    y, opts = as_vector(a, what), b
    x = ember.arange(1, y:numel() + 1)
  else
    x, y, opts = as_vector(a, "x"), as_vector(b, what), c
    if x:numel() ~= y:numel() then
      error(string.format("plot: x has %d values but y has %d", x:numel(), y:numel()), 3)
    end
  end
  return x, y, opts or {}
end

-- ---------------------------------------------------------------- figure --

local Figure = class("Figure")
M.Figure = Figure
local next_id = 0

local function new_panel() return {series = {}, logscale = "", legend = true, set = {}} end

function Figure.__tostring(self)
  local n = 0
  for _, p in ipairs(self.panels) do n = n + #p.series end
  return string.format("Figure %d (%d panel%s, %d series)", self.id, #self.panels,
                       #self.panels == 1 and "" or "s", n)
end

M.figure = doc(function(opts)
  opts = opts or {}
  next_id = next_id + 1
  local layout = opts.layout or {1, 1}
  local fig = setmetatable({id = next_id, panels = {}, current = 1, layout = layout,
                            size = opts.size, interval = opts.interval, renders = 0,
                            last_render = -math.huge, live = opts.live}, Figure)
  for i = 1, layout[1] * layout[2] do fig.panels[i] = new_panel() end
  if opts.title then fig.panels[1].title = opts.title end
  if opts.xlabel then fig.panels[1].xlabel = opts.xlabel end
  if opts.ylabel then fig.panels[1].ylabel = opts.ylabel end
  if opts.logscale then fig.panels[1].logscale = opts.logscale end
  if opts.suptitle then fig.suptitle = opts.suptitle end
  return fig
end, [[plot.figure([{title=, xlabel=, ylabel=, logscale=, layout={rows, cols}, size={w, h}, interval=}]) -> Figure

A figure to build step by step: fig:line(...), fig:scatter(...), fig:title(s),
fig:xlabel(s), fig:ylabel(s), fig:logscale("y"), fig:legend(pos|false),
fig:panel(i), then fig:show(), fig:save("f.png"|"f.svg"|"f.pdf") or, for a
live figure, fig:update() after changing data (redraws at most once per
interval seconds).]])

function Figure:panel(i)
  if math.type(i) ~= "integer" or i < 1 or i > #self.panels then
    error(string.format("figure:panel: panel %s out of range 1..%d", tostring(i), #self.panels), 2)
  end
  self.current = i
  return self
end
doc(Figure.panel, "fig:panel(i) -> fig\n\nMakes panel i (of layout={rows, cols}) the one later calls change.")

local function cur(self) return self.panels[self.current] end

local function add_series(self, s)
  local p = cur(self)
  if s.label then
    for i, old in ipairs(p.series) do
      if old.label == s.label then p.series[i] = s; return self end
    end
  end
  p.series[#p.series + 1] = s
  return self
end

function Figure:line(a, b, c)
  local x, y, opts = xy_args(a, b, c, "y")
  return add_series(self, {kind = "line", x = x, y = y, label = opts.label or opts.name,
                           style = opts.style, width = opts.width, color = opts.color, axis = opts.axis})
end
doc(Figure.line, [[fig:line([x,] y [, {label=, style="lines"|"linespoints"|"points", width=, color=, axis=2}]) -> fig

Adds a line (x defaults to 1..n); a label already present replaces that
series' data (live updates).]])

function Figure:scatter(a, b, c)
  local x, y, opts = xy_args(a, b, c, "y")
  local s = {kind = "scatter", x = x, y = y, label = opts.label or opts.name, size = opts.size}
  if opts.color ~= nil then
    local col = as_vector(opts.color, "color")
    if col:numel() ~= x:numel() then
      error(string.format("plot.scatter: %d points but %d colors", x:numel(), col:numel()), 2)
    end
    s.color, s.classes = col, opts.classes
  end
  return add_series(self, s)
end
doc(Figure.scatter, [[fig:scatter(x, y [, {color=labels, classes=names, label=, size=}]) -> fig

Adds points; color= gives each point a class label (one colour and legend
entry per class, named by classes=) or a continuous value (a palette).]])

function Figure:boxes(x, y, opts)
  opts = opts or {}
  return add_series(self, {kind = "boxes", x = as_vector(x, "x"), y = as_vector(y, "y"),
                           label = opts.label, width = opts.width})
end
doc(Figure.boxes, "fig:boxes(x, y [, {label=, width=}]) -> fig\n\nAdds bars centred at x (histograms).")

function Figure:image(t, opts)
  opts = opts or {}
  local p = cur(self)
  p.series = {{kind = "image", m = t, rgb = opts.rgb, labels = opts.labels, palette = opts.palette}}
  p.image = true
  p.xtics, p.ytics = opts.xtics, opts.ytics
  return self
end
doc(Figure.image, "fig:image(matrix [, {labels=true, palette=}]) -> fig\n\nShows a 2-D tensor as an image (row 1 at the top).")

for _, field in ipairs{"title", "xlabel", "ylabel"} do
  Figure[field] = function(self, s)
    cur(self)[field] = s ~= nil and tostring(s) or nil
    return self
  end
  doc(Figure[field], "fig:" .. field .. "(text) -> fig\n\nSets the " .. field .. " of the current panel.")
end

function Figure:logscale(axes)
  axes = axes or "y"
  if type(axes) ~= "string" or not axes:match("^[xy]*$") then
    error('figure:logscale: axes must be "x", "y", "xy" or "" (got ' .. tostring(axes) .. ")", 2)
  end
  cur(self).logscale = axes
  return self
end
doc(Figure.logscale, 'fig:logscale(["y"|"x"|"xy"|""]) -> fig\n\nLogarithmic axes for the current panel ("" turns it off).')

function Figure:legend(pos)
  if pos == nil then pos = true end
  cur(self).legend = pos
  return self
end
doc(Figure.legend, 'fig:legend([false | "top left" | ...]) -> fig\n\nShows (where) or hides the key.')

function Figure:set(cmd)
  local p = cur(self)
  p.set[#p.set + 1] = cmd
  return self
end
doc(Figure.set, 'fig:set("grid") -> fig\n\nAn extra gnuplot `set` command for the current panel.')

-- ------------------------------------------------------------- rendering --

local function block(name, body) return name .. " << EOD\n" .. body .. "EOD\n" end

local function panel_script(fig, pi, p, out)
  local pre = "$e" .. fig.id .. "_" .. pi .. "_"
  out[#out + 1] = "unset title; unset xlabel; unset ylabel; unset logscale; unset y2tics; "
                  .. "set ytics mirror; unset label; set autoscale; unset xtics; unset ytics; "
                  .. "set xtics; set ytics; unset colorbox; set style fill empty; set size noratio; set offsets 0,0,0,0\n"
  if p.title then out[#out + 1] = "set title " .. gp_quote(p.title) .. "\n" end
  if p.xlabel then out[#out + 1] = "set xlabel " .. gp_quote(p.xlabel) .. "\n" end
  if p.ylabel then out[#out + 1] = "set ylabel " .. gp_quote(p.ylabel) .. "\n" end
  if p.logscale ~= "" then out[#out + 1] = "set logscale " .. p.logscale .. "\n" end
  if p.legend == false then out[#out + 1] = "unset key\n"
  elseif type(p.legend) == "string" then out[#out + 1] = "set key " .. p.legend .. "\n"
  else out[#out + 1] = "set key default\n" end
  if p.xstep then out[#out + 1] = "set xtics " .. p.xstep .. "\n" end
  if p.xrange then out[#out + 1] = "set xrange " .. p.xrange .. "\n" end
  for _, cmd in ipairs(p.set) do out[#out + 1] = "set " .. cmd .. "\n" end
  local clauses = {}
  for si, s in ipairs(p.series) do
    local name = pre .. si
    if s.x and s.x:numel() == 0 then goto continue end   -- nothing to draw (an empty range is an error)
    local title = s.label and ("title " .. gp_quote(s.label)) or "notitle"
    if s.kind == "line" then
      out[#out + 1] = block(name, sys.format_columns(s.x, s.y))
      local st = s.style or "lines"
      local extra = (s.width and (" lw " .. s.width) or "") .. (s.color and (" lc rgb " .. gp_quote(s.color)) or "")
      if s.axis == 2 then
        extra = extra .. " axes x1y2"
        out[#out + 1] = "set y2tics; set ytics nomirror\n"
      end
      clauses[#clauses + 1] = string.format("%s using 1:2 with %s%s %s", name, st, extra, title)
    elseif s.kind == "boxes" then
      out[#out + 1] = block(name, sys.format_columns(s.x, s.y))
      out[#out + 1] = "set style fill solid 0.5 border -1\n"
      if s.width then out[#out + 1] = "set boxwidth " .. string.format("%.17g", s.width) .. " absolute\n" end
      clauses[#clauses + 1] = string.format("%s using 1:2 with boxes %s", name, title)
    elseif s.kind == "scatter" then
      out[#out + 1] = "set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05\n"
      local pt = " pt 7 ps " .. (s.size or 0.6)
      if s.color == nil then
        out[#out + 1] = block(name, sys.format_columns(s.x, s.y))
        clauses[#clauses + 1] = string.format("%s using 1:2 with points%s %s", name, pt, title)
      elseif s.color.dtype ~= "float32" and s.color.dtype ~= "float64" or s.classes then
        -- one block per class: one colour and one legend entry each
        local labels = s.color:long()
        local uniq = labels:sort():totable()
        local seen, classes = {}, {}
        for _, v in ipairs(uniq) do if not seen[v] then seen[v] = true; classes[#classes + 1] = v end end
        if #classes > 64 then error("plot.scatter: more than 64 classes in color=", 0) end
        for ci, c in ipairs(classes) do
          local mask = labels:eq(c)
          local cname = name .. "c" .. ci
          out[#out + 1] = block(cname, sys.format_columns(s.x:masked_select(mask), s.y:masked_select(mask)))
          local lab = s.classes and s.classes[c] or tostring(c)
          clauses[#clauses + 1] = string.format("%s using 1:2 with points%s lc %d title %s", cname, pt, ci,
                                                gp_quote(lab))
        end
      else
        out[#out + 1] = block(name, sys.format_columns(s.x, s.y, s.color))
        out[#out + 1] = "set colorbox\n"
        clauses[#clauses + 1] = string.format("%s using 1:2:3 with points%s lc palette %s", name, pt, title)
      end
    elseif s.kind == "image" and s.rgb then
      -- (3,H,W) colour: rows "x y r g b" with channels scaled to 0..255
      local m = s.m:double()
      local H, W = m.shape[2], m.shape[3]
      if m:max():item() <= 1 then m = m * 255 end
      m = m:clamp(0, 255)
      local xs = ember.arange(1, W + 1):view(1, W):expand(H, W):reshape(-1)
      local ys = ember.arange(1, H + 1):view(H, 1):expand(H, W):reshape(-1)
      out[#out + 1] = block(name, sys.format_columns(xs, ys, m[1]:reshape(-1), m[2]:reshape(-1), m[3]:reshape(-1)))
      out[#out + 1] = "set size ratio -1; set yrange [" .. H + 0.5 .. ":0.5]; set xrange [0.5:" .. W + 0.5 .. "]\n"
      clauses[#clauses + 1] = string.format("%s using 1:2:3:4:5 with rgbimage notitle", name)
    elseif s.kind == "image" then
      local m = s.m
      local rows, cols = m.shape[1], m.shape[2]
      out[#out + 1] = block(name, sys.format_columns(m:double():contiguous()))
      out[#out + 1] = "set size ratio -1; set yrange [" .. rows + 0.5 .. ":0.5]; set xrange [0.5:"
                      .. cols + 0.5 .. "]; set colorbox\n"
      out[#out + 1] = "set palette " .. (s.palette or "gray") .. "\n"
      local function tics(axis, names)
        if not names then return end
        local parts = {}
        for i, nm in ipairs(names) do parts[i] = gp_quote(nm) .. " " .. i end
        out[#out + 1] = "set " .. axis .. "tics (" .. table.concat(parts, ", ") .. ")"
                        .. (axis == "x" and " rotate by 45 right" or "") .. "\n"
      end
      tics("x", p.xtics)
      tics("y", p.ytics)
      clauses[#clauses + 1] = string.format("%s using ($1+1):($2+1):3 matrix with image notitle", name)
      if s.labels then
        clauses[#clauses + 1] = string.format("%s using ($1+1):($2+1):(sprintf('%%g', $3)) matrix with labels "
                                              .. "tc rgb 'red' notitle", name)
      end
    end
    ::continue::
  end
  if #clauses == 0 then
    -- an empty panel still draws its axes and title (explicit ranges: an
    -- autoscaled range of no points is an error)
    clauses[1] = "[0:1][0:1] NaN notitle"
  end
  out[#out + 1] = "plot " .. table.concat(clauses, ", \\\n     ") .. "\n"
end

-- The whole script of fig for terminal line `term` writing to `output`
-- (nil: the terminal's own window).
local function script(fig, term, output)
  local out = {"reset\nset terminal " .. term .. "\nset termoption noenhanced\n"}
  if output then out[#out + 1] = "set output " .. gp_quote(output) .. "\n" end
  local multi = #fig.panels > 1
  if multi then
    out[#out + 1] = string.format("set multiplot layout %d,%d%s\n", fig.layout[1], fig.layout[2],
                                  fig.suptitle and (" title " .. gp_quote(fig.suptitle)) or "")
  end
  for i, p in ipairs(fig.panels) do panel_script(fig, i, p, out) end
  if multi then out[#out + 1] = "unset multiplot\n" end
  if output then out[#out + 1] = "unset output\n" end
  return table.concat(out)
end

local function tmpname()
  local n = os.tmpname()
  return n
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

-- A gray image as text: gnuplot's dumb terminal draws `with image` as an
-- empty frame, so a lone image panel (a digit) is shaded here instead, two
-- characters per pixel (about square), subsampled to fit cols x rows.
local SHADES = " .:-=+*#%@"
local function ascii_image(title, m, cols, rows)
  local H, W = m.shape[1], m.shape[2]
  local step = math.max(1, math.ceil(W * 2 / (cols - 2)), math.ceil(H / math.max(rows - 3, 1)))
  local v = m:double():contiguous()
  local lo, hi = v:min():item(), v:max():item()
  local span = hi > lo and hi - lo or 1
  local vals = v:totable()
  local lines = {}
  if title then lines[1] = string.rep(" ", math.max(0, (W // step * 2 - #title) // 2)) .. title end
  for r = 1, H, step do
    local row = {}
    for c = 1, W, step do
      local k = math.floor((vals[r][c] - lo) / span * (#SHADES - 1) + 0.5) + 1
      local ch = SHADES:sub(k, k)
      row[#row + 1] = ch .. ch
    end
    lines[#lines + 1] = table.concat(row)
  end
  return table.concat(lines, "\n") .. "\n"
end

-- Draws fig on the display terminal.  Returns true when something was
-- drawn (false for EMBER_PLOT=none).
local function render(fig)
  local term = M.terminal()
  fig.last_render = sys.clock()
  if term == "none" then return false end
  local p1 = fig.panels[1]
  local s1 = #fig.panels == 1 and #p1.series == 1 and p1.series[1]
  if term == "dumb" and s1 and s1.kind == "image" and not s1.rgb and not s1.labels then
    local cols, rows = term_cols_rows()
    if fig.size then cols, rows = fig.size[1], fig.size[2] end
    fig.text = ascii_image(p1.title, s1.m, cols, rows)
    io.stdout:write(fig.text)
    io.stdout:flush()
  elseif term == "dumb" then
    local cols, rows = term_cols_rows()
    if fig.size then cols, rows = fig.size[1], fig.size[2] end
    local path = tmpname()
    local ok, err = pcall(send, script(fig, string.format("dumb size %d,%d", cols, rows), path))
    local text = read_file(path):gsub("\f", "")   -- dumb starts each page with a form feed
    os.remove(path)
    if not ok then error(err, 0) end
    fig.text = text
    io.stdout:write(text)
    io.stdout:flush()
  else
    local tname = term == "sixel" and "sixelgd" or term
    local s = M._session()
    if not s.terminals[tname] then
      error("plot: gnuplot has no " .. tname .. " terminal (install gnuplot-qt for windows)", 0)
    end
    local size = fig.size and string.format(" size %d,%d", fig.size[1], fig.size[2]) or
                 (M.config.size and " " .. size_opt(800, 600) or "")
    local tline = tname .. (tname == "sixelgd" and "" or (" " .. fig.id)) .. size
    if tname == "sixelgd" then
      io.stdout:flush()   -- gnuplot writes the picture to our stdout
      send(script(fig, tline, nil))
    else
      send(script(fig, tline .. " title " .. gp_quote("ember figure " .. fig.id), nil))
    end
  end
  fig.renders = fig.renders + 1
  fig.dirty = false
  return true
end

function Figure:show()
  render(self)
  return self
end
doc(Figure.show, "fig:show() -> fig\n\nDraws the figure on the display terminal (see plot.terminal()).")

function Figure:update(opts)
  local interval = self.interval or M.config.interval
  if not (opts and opts.force) and sys.clock() - self.last_render < interval then
    self.dirty = true
    return false
  end
  return render(self)
end
doc(Figure.update, [[fig:update([{force=true}]) -> boolean

Redraws after the data changed, at most once per `interval` seconds (the
figure's interval=, else plot.config.interval); returns whether it drew.]])

local SAVE_TERMS = {png = {"pngcairo", "png"}, svg = {"svg"}, pdf = {"pdfcairo"}}

function Figure:save(path, opts)
  opts = opts or {}
  if type(path) ~= "string" then error("figure:save: path must be a string", 2) end
  local ext = (path:match("%.(%w+)$") or ""):lower()
  local cands = SAVE_TERMS[ext]
  if not cands then error("figure:save: unknown extension of " .. path .. " (use .png, .svg or .pdf)", 2) end
  local s = M._session()
  local tname
  for _, t in ipairs(cands) do if s.terminals[t] then tname = t; break end end
  if not tname then error("figure:save: gnuplot has no terminal for ." .. ext, 2) end
  local w, h = (opts.size or self.size or M.config.size or {})[1], (opts.size or self.size or M.config.size or {})[2]
  w = w or math.max(800, 420 * self.layout[2])
  h = h or math.max(600, 400 * self.layout[1])
  local size
  if ext == "pdf" then size = string.format("size %gin,%gin", (w or 800) / 100, (h or 600) / 100)
  else size = string.format("size %d,%d", w or 800, h or 600) end
  send(script(self, tname .. " " .. size, path))
  return self
end
doc(Figure.save, [[fig:save(path [, {size={w, h}}]) -> fig

Writes the figure to path as PNG, SVG or PDF, chosen by the extension.]])

-- -------------------------------------------------------- plot functions --

local function finish(fig, opts)
  if opts.title then fig.panels[1].title = opts.title end
  if opts.xlabel then fig.panels[1].xlabel = opts.xlabel end
  if opts.ylabel then fig.panels[1].ylabel = opts.ylabel end
  if opts.logscale then fig.panels[1].logscale = opts.logscale end
  if opts.legend ~= nil then fig.panels[1].legend = opts.legend end
  if opts.save then fig:save(opts.save) end
  if opts.show ~= false then fig:show() end
  return fig
end

local function plain_opts(a, b, c)
  if is_opts(b) then return b or {} end
  return c or {}
end

M.line = doc(function(a, b, c)
  local opts = plain_opts(a, b, c)
  local fig = M.figure{size = opts.size}
  fig:line(a, b, c)
  return finish(fig, opts)
end, [[plot.line([x,] y [, {title=, xlabel=, ylabel=, label=, logscale=, save=path, show=true}]) -> Figure

A line plot (x defaults to 1..n), drawn on the display terminal.]])

M.scatter = doc(function(x, y, opts)
  opts = opts or {}
  local fig = M.figure{size = opts.size}
  fig:scatter(x, y, opts)
  return finish(fig, opts)
end, [[plot.scatter(x, y [, {color=labels, classes=names, title=, save=, show=}]) -> Figure

A scatter plot; color= colours points by class label (legend per class).]])

M.hist = doc(function(t, opts)
  opts = opts or {}
  local v = ember.is_tensor(t) and t:detach():reshape(-1):double() or as_vector(t, "values")
  local bins = opts.bins or 10
  if math.type(bins) ~= "integer" or bins < 1 then error("plot.hist: bins must be a positive integer", 2) end
  local vals = v:totable()
  local lo, hi = math.huge, -math.huge
  for _, x in ipairs(vals) do
    if x == x then
      if x < lo then lo = x end
      if x > hi then hi = x end
    end
  end
  if opts.range then lo, hi = opts.range[1], opts.range[2] end
  if lo == math.huge then lo, hi = 0, 1 end
  if hi <= lo then hi = lo + 1 end
  local w = (hi - lo) / bins
  local counts = {}
  for i = 1, bins do counts[i] = 0 end
  for _, x in ipairs(vals) do
    if x == x and x >= lo and x <= hi then
      local b = math.floor((x - lo) / w) + 1
      if b > bins then b = bins end
      counts[b] = counts[b] + 1
    end
  end
  local centers = {}
  for i = 1, bins do centers[i] = lo + (i - 0.5) * w end
  local fig = M.figure{size = opts.size}
  fig:boxes(centers, counts, {label = opts.label, width = w})
  fig.counts, fig.edges = counts, {lo = lo, hi = hi, width = w}
  if opts.legend == nil then opts.legend = opts.label ~= nil end
  return finish(fig, opts)
end, [[plot.hist(t [, {bins=10, range={lo, hi}, title=, save=, show=}]) -> Figure

A histogram of the values of t; fig.counts holds the bin counts.]])

M.image = doc(function(t, opts)
  opts = opts or {}
  local fig = M.figure{size = opts.size}
  if class.name(t) == "ConfusionMatrix" then
    local names = t.classes
    if not names then
      names = {}
      for i = 1, t.k do names[i] = tostring(i - 1 + t.base) end
    end
    fig:image(t.matrix, {labels = opts.labels ~= false, palette = opts.palette or "defined (0 'white', 1 'blue')",
                         xtics = names, ytics = names})
    fig.panels[1].xlabel = opts.xlabel or "predicted"
    fig.panels[1].ylabel = opts.ylabel or "true"
    fig.panels[1].title = opts.title or "confusion matrix"
  else
    if not ember.is_tensor(t) then error("plot.image: expected a tensor or a confusion matrix", 2) end
    local m = t:detach()
    if m:dim() == 3 and m.shape[1] == 1 then m = m:squeeze(1) end
    if m:dim() == 1 then
      local side = math.floor(math.sqrt(m:numel()) + 0.5)
      if side * side ~= m:numel() then error("plot.image: a 1-D tensor must have a square number of values", 2) end
      m = m:view(side, side)
    end
    local rgb = m:dim() == 3 and m.shape[1] == 3
    if m:dim() ~= 2 and not rgb then
      error("plot.image: expected (H,W), (1,H,W), (3,H,W) or a square vector, got shape ["
            .. table.concat(m.shape, ", ") .. "]", 2)
    end
    fig:image(m, {labels = opts.labels, palette = opts.palette, rgb = rgb})
  end
  return finish(fig, opts)
end, [[plot.image(t [, {title=, palette=, labels=, save=, show=}]) -> Figure

Shows a 2-D tensor (a digit: (28,28), (1,28,28) or 784 values) as a gray
image with row 1 at the top, a (3,H,W) colour image (values in [0,1] or
0..255), or a metrics.confusion_matrix with class names
and the counts written in the cells.]])

-- keys of a history in display order: loss first, then metrics; val_ keys
-- paired with their training key
local function history_keys(h)
  local keys = {}
  for k, v in pairs(h) do
    if type(v) == "table" and type(k) == "string" and #v > 0 and type(v[1]) == "number" and not k:match("^val_")
       and k ~= "lr" then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys, function(a, b)
    if a == "loss" then return b ~= "loss" end
    if b == "loss" then return false end
    return a < b
  end)
  return keys
end

-- Fills fig's panels with the curves of history h (used by fit's live plot).
function M._fill_curves(fig, h)
  local keys = history_keys(h)
  for i, k in ipairs(keys) do
    if i > #fig.panels then break end
    fig:panel(i)
    local p = fig.panels[i]
    p.title = p.title or k
    p.xlabel = p.xlabel or "epoch"
    p.xstep = #h[k] <= 15 and 1 or nil   -- whole epochs
    p.xrange = #h[k] == 1 and "[0.5:1.5]" or nil   -- one epoch: not an empty range
    if #h[k] > 0 then fig:line(h[k], {label = k, style = "linespoints"}) end
    local vk = h["val_" .. k]
    if type(vk) == "table" and #vk > 0 then fig:line(vk, {label = "val_" .. k, style = "linespoints"}) end
  end
  fig:panel(1)
  return fig
end

M.curves = doc(function(h, opts)
  opts = opts or {}
  if type(h) ~= "table" then error("plot.curves: expected a History (or a table of per-epoch lists)", 2) end
  local keys = history_keys(h)
  if #keys == 0 then error("plot.curves: the history has no per-epoch values", 2) end
  local fig = M.figure{layout = {1, #keys}, size = opts.size}
  M._fill_curves(fig, h)
  if opts.logscale then fig.panels[1].logscale = opts.logscale end
  if opts.save then fig:save(opts.save) end
  if opts.show ~= false then fig:show() end
  return fig
end, [[plot.curves(history [, {save=, show=, logscale=}]) -> Figure

Training curves: one panel per quantity (loss, then each metric), the
training and validation (val_) curves together, against the epoch.]])

local function params_label(params)
  local keys = {}
  for k in pairs(params or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do
    local v = params[k]
    parts[i] = k .. "=" .. (type(v) == "number" and string.format("%.4g", v) or tostring(v))
  end
  return table.concat(parts, " ")
end

M.sweep = doc(function(results, opts)
  opts = opts or {}
  if type(results) ~= "table" or #results == 0 then error("plot.sweep: expected a non-empty list of results", 2) end
  local first = results[1]
  local curve = opts.curve
  if not curve then
    curve = first.history and first.history.val_loss and #first.history.val_loss > 0 and "val_loss" or "loss"
  end
  local objective = opts.objective or curve
  local pnames = {}
  for k in pairs(first.params or {}) do pnames[#pnames + 1] = k end
  table.sort(pnames)
  local fig = M.figure{layout = {1, 1 + #pnames}, size = opts.size}
  fig:panel(1):title(curve .. " per trial"):xlabel("epoch")
  local objs = {}
  for i, r in ipairs(results) do
    local hv = r.history and r.history[curve]
    if type(hv) == "table" and #hv > 0 then
      fig:line(hv, {label = params_label(r.params) ~= "" and params_label(r.params) or ("trial " .. i)})
    end
    local o = r.metrics and r.metrics[objective]
    if o == nil and r.history and type(r.history[objective]) == "table" then
      o = r.history[objective][#r.history[objective]]
    end
    objs[i] = o
  end
  if #results > 8 then fig.panels[1].legend = false end
  for pi, pn in ipairs(pnames) do
    fig:panel(pi + 1):title(objective .. " vs " .. pn):xlabel(pn):ylabel(objective):legend(false)
    local xs, ys, cats, numeric = {}, {}, {}, true
    for _, r in ipairs(results) do
      if type(r.params[pn]) ~= "number" then numeric = false end
    end
    local pos, positive, lo, hi = {}, true, math.huge, -math.huge
    for i, r in ipairs(results) do
      if objs[i] ~= nil then
        local v = r.params[pn]
        if not numeric then
          v = tostring(v)
          if not pos[v] then cats[#cats + 1] = v; pos[v] = #cats end
          v = pos[v]
        else
          if v <= 0 then positive = false end
          lo, hi = math.min(lo, v), math.max(hi, v)
        end
        xs[#xs + 1], ys[#ys + 1] = v, objs[i]
      end
    end
    if #xs > 0 then fig:scatter(xs, ys, {size = 1.2}) end
    -- a log axis for parameters drawn log-uniformly (the sweep says which),
    -- or when the values span two decades or more
    local logp = type(results.log_params) == "table" and results.log_params[pn]
    if numeric and positive and (logp or hi / lo >= 100) then fig:logscale("x") end
    if not numeric then
      local parts = {}
      for i, c in ipairs(cats) do parts[i] = gp_quote(c) .. " " .. i end
      fig:set("xtics (" .. table.concat(parts, ", ") .. ")")
      fig:set("xrange [0.5:" .. #cats + 0.5 .. "]")
    end
  end
  fig:panel(1)
  if opts.save then fig:save(opts.save) end
  if opts.show ~= false then fig:show() end
  return fig
end, [[plot.sweep(results [, {curve=, objective=, save=, show=}]) -> Figure

A sweep at a glance: every trial's curve (history[curve], default val_loss
or loss) overlaid, labelled by its parameters, and the objective
(metrics[objective], else the curve's last value) against each parameter.]])

doc(M, [[plot: plots through gnuplot

plot.line, plot.scatter, plot.hist, plot.image, plot.curves, plot.sweep,
plot.figure; plot.terminal(), plot.config, plot.gnuplot(cmds), plot.close().]])
doc(Figure, [[plot.Figure: a figure of one or more panels

fig:line, fig:scatter, fig:boxes, fig:image, fig:title, fig:xlabel, fig:ylabel,
fig:logscale, fig:legend, fig:set, fig:panel, fig:show, fig:save, fig:update.]])

return M
