-- ember.nn.module: the Module system of nn: nn.Module (registration of
-- parameters, buffers and submodules, traversal, train/eval, state_dict and
-- checkpoints, dtype conversion, the printed tree), nn.Parameter, and the
-- containers Sequential and ModuleList.
--
-- Registration: registered values are ordinary fields of the instance (so
-- reading them is a plain table access, and completion and pairs() see
-- them); two raw tables beside them record _kind (name -> "param" |
-- "buffer" | "module") and _order (names in registration order, which fixes
-- the order of parameters() and of state_dict keys, as PyTorch's definition
-- order).  Assigning a new name goes through __newindex, which registers a
-- Module, or a parameter: a float leaf tensor that requires grad
-- (nn.Parameter(t) makes one); anything else is a plain field.  Reassigning
-- a registered field keeps its kind while it holds a value of that kind;
-- set to nil or to something else, it drops out of the traversals.
local ember = require("ember")
local class = require("ember.class")

local doc = ember.doc
local is_tensor = ember.is_tensor
local no_grad = ember.no_grad

local M = {}

local Module = class("Module")
M.Module = Module

-- class default; train()/eval() set the field on each instance
Module.training = true

local function is_module(v)
  return type(v) == "table" and class.isinstance(v, Module)
end
M.is_module = is_module

local function shape_str(shape)
  return "[" .. table.concat(shape, ", ") .. "]"
end
M.shape_str = shape_str

-- the registry: _kind (name -> kind) and _order (names in registration
-- order), made on first registration (subclasses need not call a parent init)
local function kinds_of(self)
  local kinds = rawget(self, "_kind")
  if kinds == nil then
    kinds = {}
    rawset(self, "_kind", kinds)
    rawset(self, "_order", {})
  end
  return kinds
end

local function register(self, name, value, kind)
  local kinds = kinds_of(self)
  if kinds[name] == nil then
    local order = rawget(self, "_order")
    order[#order + 1] = name
  end
  kinds[name] = kind
  rawset(self, name, value)
end

-- whether v can fill a slot of this kind
local function fits(kind, v)
  if kind == "module" then return is_module(v) end
  return is_tensor(v)
end

-- reached only for names that are not raw fields: new names, and names set
-- to nil before
function Module.__newindex(self, k, v)
  local kinds = rawget(self, "_kind")
  local kind = kinds and kinds[k]
  if kind and fits(kind, v) then
    rawset(self, k, v)
  elseif is_module(v) then
    register(self, k, v, "module")
  elseif is_tensor(v) and v.requires_grad and v.is_leaf then
    register(self, k, v, "param")
  else
    rawset(self, k, v)
  end
end

function Module.__call(self, ...) return self:forward(...) end

--- nn.Parameter(t): a leaf tensor that requires grad (t itself when it is one)
function M.Parameter(t)
  if not is_tensor(t) then error("Parameter: expected a tensor, got " .. type(t), 2) end
  if t.requires_grad and t.is_leaf then return t end
  if not (t.dtype == "float32" or t.dtype == "float64") then
    error("Parameter: only float tensors can be parameters (this one is " .. t.dtype .. ")", 2)
  end
  return t:detach():requires_grad_(true)
end

function Module:init() end

function Module:forward()
  error(class.name(self) .. ": forward() is not defined (define " .. class.name(self) ..
        ":forward(x) in the class)", 2)
end

--- m:register_parameter(name, t): registers t as a parameter even when it does not require grad
function Module:register_parameter(name, t)
  if t ~= nil and not is_tensor(t) then error("register_parameter: expected a tensor for '" .. tostring(name) .. "'", 2) end
  if t == nil then
    rawset(self, name, nil)
    return
  end
  register(self, name, t, "param")
end

--- m:register_buffer(name, t): registers t as a buffer (in state_dict, not a parameter)
function Module:register_buffer(name, t)
  if not is_tensor(t) then error("register_buffer: expected a tensor for '" .. tostring(name) .. "'", 2) end
  register(self, name, t, "buffer")
end

--- m:add_module(name, m): registers a submodule under name
function Module:add_module(name, m)
  if not is_module(m) then error("add_module: '" .. tostring(name) .. "' is not a Module", 2) end
  register(self, name, m, "module")
  return m
end

-- iterates (name, value, kind) over the module's registered fields in
-- order; a name whose field now holds something else (nil, a number in a
-- module slot) is skipped, so reassigning a field is all it takes to drop it
local function own(self)
  local order = rawget(self, "_order") or {}
  local kinds = rawget(self, "_kind")
  local i = 0
  local function nxt()
    i = i + 1
    local name = order[i]
    if name == nil then return nil end
    local v, kind = rawget(self, name), kinds[name]
    if not fits(kind, v) then return nxt() end
    return name, v, kind
  end
  return nxt
end
M.own = own

local function join(prefix, name)
  if prefix == "" then return tostring(name) end
  return prefix .. "." .. tostring(name)
end

-- walks the tree depth-first in registration order, appending
-- {path, tensor} for each registered tensor of the kinds asked for; shared
-- tensors (weight tying) appear once
local function collect(self, prefix, kinds_wanted, out, seen)
  for name, v, kind in own(self) do
    if kind == "module" then
      collect(v, join(prefix, name), kinds_wanted, out, seen)
    elseif kinds_wanted[kind] and not seen[v] then
      seen[v] = true
      out[#out + 1] = {join(prefix, name), v}
    end
  end
  return out
end

local function iterate(list)
  local i = 0
  return function()
    i = i + 1
    local e = list[i]
    if e then return e[1], e[2] end
  end
end

local PARAMS, BUFFERS, BOTH = {param = true}, {buffer = true}, {param = true, buffer = true}

--- m:parameters() -> list of the parameter tensors (depth-first, definition order)
function Module:parameters()
  local out = {}
  for i, e in ipairs(collect(self, "", PARAMS, {}, {})) do out[i] = e[2] end
  return out
end

--- for name, p in m:named_parameters() do ... end: dotted names ("1.weight")
function Module:named_parameters()
  return iterate(collect(self, "", PARAMS, {}, {}))
end

--- m:buffers() -> list of the buffer tensors (running statistics)
function Module:buffers()
  local out = {}
  for i, e in ipairs(collect(self, "", BUFFERS, {}, {})) do out[i] = e[2] end
  return out
end

--- for name, b in m:named_buffers() do ... end
function Module:named_buffers()
  return iterate(collect(self, "", BUFFERS, {}, {}))
end

--- m:children() -> list of the direct submodules
function Module:children()
  local out = {}
  for _, v, kind in own(self) do
    if kind == "module" then out[#out + 1] = v end
  end
  return out
end

--- for name, child in m:named_children() do ... end
function Module:named_children()
  local list = {}
  for name, v, kind in own(self) do
    if kind == "module" then list[#list + 1] = {tostring(name), v} end
  end
  return iterate(list)
end

local function collect_modules(self, prefix, out, seen)
  if seen[self] then return out end
  seen[self] = true
  out[#out + 1] = {prefix, self}
  for name, v, kind in own(self) do
    if kind == "module" then collect_modules(v, join(prefix, name), out, seen) end
  end
  return out
end

--- m:modules() -> list of m and all its descendants (depth-first)
function Module:modules()
  local out = {}
  for i, e in ipairs(collect_modules(self, "", {}, {})) do out[i] = e[2] end
  return out
end

--- for name, mod in m:named_modules() do ... end ("" is m itself)
function Module:named_modules()
  return iterate(collect_modules(self, "", {}, {}))
end

--- m:train([mode=true]) -> m: sets training on m and every submodule
function Module:train(mode)
  if mode == nil then mode = true end
  for _, m in ipairs(self:modules()) do rawset(m, "training", mode and true or false) end
  return self
end

--- m:eval() -> m: m:train(false)
function Module:eval() return self:train(false) end

--- m:zero_grad(): sets the gradient of every parameter to nil
function Module:zero_grad()
  for _, p in ipairs(self:parameters()) do p.grad = nil end
  return self
end

--- m:requires_grad_([flag=true]) -> m: turns gradient tracking of every parameter on or off (freezing)
function Module:requires_grad_(flag)
  if flag == nil then flag = true end
  for _, p in ipairs(self:parameters()) do p.requires_grad = flag and true or false end
  return self
end

--- m:num_parameters([trainable_only]) -> number of scalar parameters
function Module:num_parameters(trainable_only)
  local n = 0
  for _, p in ipairs(self:parameters()) do
    if not trainable_only or p.requires_grad then n = n + p:numel() end
  end
  return n
end

-- class tables are shared by copies, never copied
local function is_class_table(v)
  return rawget(v, "__index") ~= nil and type(rawget(v, "__name")) == "string"
end

--- m:clone() -> a deep copy of m (new parameter and buffer tensors, same settings)
function Module:clone()
  local seen = {}
  local function copy(v)
    if is_tensor(v) then
      local c = v:detach():clone()
      if v.requires_grad then c:requires_grad_(true) end
      return c
    end
    if type(v) ~= "table" or is_class_table(v) then return v end
    if seen[v] then return seen[v] end
    local out = {}
    seen[v] = out
    for k, x in next, v do rawset(out, k, copy(x)) end
    return setmetatable(out, getmetatable(v))
  end
  return copy(self)
end

--- m:apply(fn) -> m: calls fn(mod) on every submodule (children first), then on m
function Module:apply(fn)
  for _, c in ipairs(self:children()) do c:apply(fn) end
  fn(self)
  return self
end

local FLOAT = {float32 = true, float64 = true}
local DTYPE_ALIAS = {float = "float32", double = "float64", half = nil}

--- m:to(dtype) -> m: converts every float parameter and buffer ("float32"/"float64")
function Module:to(dtype)
  dtype = DTYPE_ALIAS[dtype] or dtype
  if not FLOAT[dtype] then
    error("to: a module converts to a float dtype (float32 or float64), got " .. tostring(dtype), 2)
  end
  for _, m in ipairs(self:modules()) do
    local changed = {}
    for name, v, kind in own(m) do
      if kind ~= "module" and FLOAT[v.dtype] and v.dtype ~= dtype then
        local nt = v:detach():to(dtype)
        if kind == "param" and v.requires_grad then nt:requires_grad_(true) end
        changed[name] = nt
      end
    end
    for name, nt in pairs(changed) do rawset(m, name, nt) end
  end
  return self
end
function Module:double() return self:to("float64") end
function Module:float() return self:to("float32") end

--- m:state_dict() -> {["1.weight"] = tensor, ...}: parameters and buffers by dotted path
-- The tensors are copies (PyTorch returns views): a state dict taken as a
-- snapshot, for early stopping say, stays as it was while training goes on.
function Module:state_dict()
  local sd = {}
  for _, e in ipairs(collect(self, "", BOTH, {}, {})) do sd[e[1]] = e[2]:detach():clone() end
  return sd
end

-- a nested table (as ember.load may return for dotted keys) back to
-- dotted paths
local function flatten(t, prefix, out)
  out = out or {}
  for k, v in pairs(t) do
    local key = prefix and (prefix .. "." .. tostring(k)) or tostring(k)
    if type(v) == "table" and not is_tensor(v) then flatten(v, key, out) else out[key] = v end
  end
  return out
end
M.flatten = flatten

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end

--- m:load_state_dict(sd [, strict=true]) -> missing, unexpected: copies values into the parameters and buffers
function Module:load_state_dict(sd, strict)
  if type(sd) ~= "table" then error("load_state_dict: expected a table, got " .. type(sd), 2) end
  if strict == nil then strict = true end
  local flat = flatten(sd)
  local name = class.name(self)
  local targets, missing, unexpected = {}, {}, {}
  local own_names = {}
  for _, e in ipairs(collect(self, "", BOTH, {}, {})) do
    local key, dst = e[1], e[2]
    own_names[key] = true
    local src = flat[key]
    if src == nil then
      missing[#missing + 1] = key
    elseif not is_tensor(src) then
      error(string.format("load_state_dict: %s: '%s' is a %s, expected a tensor", name, key, type(src)), 2)
    else
      local a, b = dst.shape, src.shape
      local same = #a == #b
      for i = 1, #a do same = same and a[i] == b[i] end
      if not same then
        error(string.format("load_state_dict: %s: '%s' has shape %s in the state dict, the model has %s",
                            name, key, shape_str(b), shape_str(a)), 2)
      end
      targets[#targets + 1] = {dst, src}
    end
  end
  for _, k in ipairs(sorted_keys(flat)) do
    if not own_names[k] then unexpected[#unexpected + 1] = k end
  end
  if strict and (#missing > 0 or #unexpected > 0) then
    local parts = {}
    if #missing > 0 then parts[#parts + 1] = "missing keys: " .. table.concat(missing, ", ") end
    if #unexpected > 0 then parts[#parts + 1] = "unexpected keys: " .. table.concat(unexpected, ", ") end
    -- a checkpoint table ({model = ..., optim = ...}) passed whole: name the prefix
    local hint = " (pass strict=false to load the matching keys only)"
    if #missing > 0 then
      local tail = "." .. missing[1]
      for _, k in ipairs(unexpected) do
        if #k > #tail and k:sub(-#tail) == tail then
          local prefix = k:sub(1, #k - #tail)
          hint = string.format(" (the keys start with '%s.': load that part, e.g. sd[\"%s\"] or sd.%s)",
                               prefix, prefix, prefix)
          break
        end
      end
    end
    error("load_state_dict: " .. name .. ": " .. table.concat(parts, "; ") .. hint, 2)
  end
  no_grad(function()
    for _, tv in ipairs(targets) do tv[1]:copy_(tv[2]) end
  end)
  return missing, unexpected
end

--- m:save(path) -> m: writes m:state_dict() as safetensors (ember.save)
function Module:save(path)
  if not ember.save then error("save: ember.save is not available in this build", 2) end
  ember.save(path, self:state_dict())
  return self
end

--- m:load(path [, strict=true]) -> m: loads a file written by m:save (or PyTorch's safetensors)
function Module:load(path, strict)
  if not ember.load then error("load: ember.load is not available in this build", 2) end
  self:load_state_dict(ember.load(path), strict)
  return self
end

--- m:extra_repr() -> string shown inside Name(...) by tostring
function Module:extra_repr() return "" end

local function commas(n)
  local s = tostring(math.tointeger(n) or n)
  local head, tail = s:match("^(-?%d+)(.*)$")
  if not head then return s end
  head = head:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^(-?),", "%1")
  return head .. tail
end
M.commas = commas

local function tree(m, label, indent, lines)
  local head = indent .. label .. class.name(m) .. "(" .. (m:extra_repr() or "") .. ")"
  local has_children, own_params = false, {}
  for name, v, kind in own(m) do
    if kind == "module" then
      has_children = true
    else
      own_params[#own_params + 1] = tostring(name) .. " " .. shape_str(v.shape)
    end
  end
  local n = m:num_parameters()
  if #own_params > 0 then head = head .. "  " .. table.concat(own_params, ", ") end
  if n > 0 then head = head .. "  (" .. commas(n) .. (n == 1 and " param)" or " params)") end
  lines[#lines + 1] = head
  if has_children then
    for name, v, kind in own(m) do
      if kind == "module" then tree(v, "(" .. tostring(name) .. "): ", indent .. "  ", lines) end
    end
  end
end

function Module.__tostring(m)
  local lines = {}
  tree(m, "", "", lines)
  return table.concat(lines, "\n")
end

-- ---------- containers ----------

local Sequential = Module:extend("Sequential")
M.Sequential = Sequential

function Sequential:init(...)
  local mods = {...}
  if #mods == 1 and not is_module(mods[1]) and type(mods[1]) == "table" then mods = mods[1] end
  for i, m in ipairs(mods) do
    if not is_module(m) then
      error(string.format("Sequential: argument %d is a %s, expected a Module", i, type(m)), 3)
    end
    self[i] = m
  end
end

function Sequential.__len(self) return #(rawget(self, "_order") or {}) end

--- seq:add(m) -> seq: appends a module
function Sequential:add(m)
  if not is_module(m) then error("Sequential.add: expected a Module, got " .. type(m), 2) end
  self[#self + 1] = m
  return self
end

function Sequential:forward(x, ...)
  local n = #self
  if n == 0 then return x, ... end
  for i = 1, n - 1 do x = self[i](x) end
  return self[n](x)
end

local ModuleList = Module:extend("ModuleList")
M.ModuleList = ModuleList

function ModuleList:init(mods)
  if mods ~= nil and type(mods) ~= "table" then
    error("ModuleList: expected a list of modules, got " .. type(mods), 3)
  end
  for i, m in ipairs(mods or {}) do
    if not is_module(m) then error(string.format("ModuleList: item %d is not a Module", i), 3) end
    self[i] = m
  end
end

ModuleList.__len = Sequential.__len

--- list:append(m) -> list
function ModuleList:append(m)
  if not is_module(m) then error("ModuleList.append: expected a Module, got " .. type(m), 2) end
  self[#self + 1] = m
  return self
end

function ModuleList:forward()
  error("ModuleList: a ModuleList has no forward(); call its modules (for i, m in ipairs(list) do ... end)", 2)
end

-- Layers override init/forward/extra_repr; their docstrings say so and
-- point at the class's own (help(nn.Linear) has the details).
local GENERIC = {
  init = "%s:init(...): builds the module; called by nn.%s(...) (see help(nn.%s)).",
  forward = "%s:forward(...): the computation of nn.%s; m(...) calls it (see help(nn.%s)).",
  extra_repr = "%s:extra_repr() -> string: the settings tostring shows inside %s(...)%s.",
}
function M.document_methods(cls)
  local name = class.name(cls)
  for k, v in pairs(cls) do
    if type(v) == "function" and type(k) == "string" and not k:match("^_") and not ember.doc(v) then
      local fmt = GENERIC[k]
      if fmt then
        doc(v, string.format(fmt, name, name, k == "extra_repr" and "" or name))
      end
    end
  end
end

-- ---------- docs ----------
doc(Module, [[
nn.Module: the base class of every layer and model.

  local Net = nn.Module:extend("Net")
  function Net:init(n)
    self.fc1 = nn.Linear(784, n)      -- submodules and parameters set here
    self.fc2 = nn.Linear(n, 10)       -- are registered in definition order
  end
  function Net:forward(x) return self.fc2(self.fc1(x):relu()) end
  local net = Net(128)                -- builds, calling init
  local y = net(x)                    -- calls forward

A parameter is a float leaf tensor with requires_grad (nn.Parameter(t));
register_buffer(name, t) adds state that is saved but not trained.
Methods: parameters named_parameters buffers named_buffers children
named_children modules named_modules train eval zero_grad state_dict
load_state_dict([strict]) save(path) load(path) num_parameters apply(fn)
to(dtype); field training.  tostring(m) prints the tree.]])
doc(M.Parameter, "nn.Parameter(t) -> tensor\n\nMarks t as a trainable parameter (a leaf that requires grad); " ..
    "assigning it to a module field registers it.")
doc(Module.register_parameter, "m:register_parameter(name, t): registers t as a parameter (also when it does not require grad).")
doc(Module.register_buffer, "m:register_buffer(name, t): registers t as a buffer: saved in state_dict, converted by to(), not trained.")
doc(Module.add_module, "m:add_module(name, child) -> child: registers a submodule under name.")
doc(Module.parameters, "m:parameters() -> list of tensors: every parameter, depth-first in definition order (shared ones once).")
doc(Module.named_parameters, "m:named_parameters() -> iterator of (name, tensor), names dotted as in state_dict (\"1.weight\").")
doc(Module.buffers, "m:buffers() -> list of tensors: the buffers (running statistics).")
doc(Module.named_buffers, "m:named_buffers() -> iterator of (name, tensor).")
doc(Module.children, "m:children() -> list of the direct submodules.")
doc(Module.named_children, "m:named_children() -> iterator of (name, module).")
doc(Module.modules, "m:modules() -> list of m and every descendant, depth-first.")
doc(Module.named_modules, "m:named_modules() -> iterator of (dotted name, module); m itself is \"\".")
doc(Module.train, "m:train([mode=true]) -> m: sets the training field of m and all submodules (dropout, batch norm).")
doc(Module.eval, "m:eval() -> m: evaluation mode, m:train(false).")
doc(Module.zero_grad, "m:zero_grad() -> m: sets every parameter's grad to nil.")
doc(Module.requires_grad_, "m:requires_grad_([flag=true]) -> m: sets requires_grad of every parameter (false freezes the module).")
doc(Module.num_parameters, "m:num_parameters([trainable_only]) -> integer: the number of scalar parameters.")
doc(Module.clone, "m:clone() -> module: a deep copy (fresh parameter tensors with the same values; shared tensors stay shared).")
doc(Module.apply, "m:apply(fn) -> m: calls fn(module) on every submodule (children first) and on m.")
doc(Module.to, "m:to(dtype) -> m: converts the float parameters and buffers to \"float32\" or \"float64\".\n\n" ..
    "The converted ones are new tensors (grads dropped): build the optimizer after converting.")
doc(Module.double, "m:double() -> m: m:to(\"float64\").")
doc(Module.float, "m:float() -> m: m:to(\"float32\").")
doc(Module.state_dict, "m:state_dict() -> table: dotted name -> tensor for every parameter and buffer (PyTorch's names);\n" ..
    "the tensors are copies, so a state dict is a snapshot.")
doc(Module.load_state_dict, "m:load_state_dict(sd [, strict=true]) -> missing, unexpected\n\n" ..
    "Copies the tensors of sd (flat dotted keys or nested tables) into the parameters and buffers.\n" ..
    "Shapes must match; with strict, missing or unexpected keys are an error.")
doc(Module.save, "m:save(path) -> m: writes the state_dict to a safetensors file (atomically).")
doc(Module.load, "m:load(path [, strict=true]) -> m: loads a state_dict file written by m:save (or PyTorch's save_file).")
doc(Module.init, "m:init(...): called by Name(...) to build the module; define it in each Module class.")
doc(Module.extra_repr, "m:extra_repr() -> string: the text inside Name(...) in tostring(m); override in layers.")
doc(Module.forward, "m:forward(...): the computation; m(...) calls it.  Define it in each Module class.")
doc(Sequential, "nn.Sequential(m1, m2, ...) or nn.Sequential{m1, m2, ...}\n\n" ..
    "Applies its modules in order; children are seq[1] .. seq[n] (state_dict keys \"1.weight\").  #seq, seq:add(m).")
doc(Sequential.add, "seq:add(m) -> seq: appends a module.")
doc(ModuleList, "nn.ModuleList{m1, m2, ...}: a list of registered modules (list[i], #list, ipairs, list:append(m)); no forward.")
doc(ModuleList.append, "list:append(m) -> list: appends a module.")

return M
