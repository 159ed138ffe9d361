-- ember.class: the one small class helper that nn, optim and the other Lua
-- modules build their classes with.
--
--   local class = require("ember.class")
--   local Point = class("Point")            -- a root class
--   function Point:init(x, y) self.x, self.y = x, y end
--   local P3 = Point:extend("P3")           -- a subclass
--   local p = P3(1, 2)                      -- builds, calling :init(1, 2)
--   class.isinstance(p, Point)              -- true
--
-- A class is the metatable of its instances: methods and metamethods
-- (__call, __tostring, __newindex, ...) live in the class table.  Lua looks
-- metamethods up without __index, so extend() copies the parent's
-- metamethods into the child; methods are inherited through the class
-- table's own metatable (__index = parent).  Define a class's metamethods
-- before extending it (they are copied at extend time).  If a class sets
-- __index to a function (to compute fields), subclasses keep that function;
-- otherwise instances look fields up in their class.
local class = {}

-- metamethods that belong to the class itself, not to its instances' lookup
local not_copied = {__index = true, __name = true, __class_parent = true}

local function construct(cls, ...)
  local obj = setmetatable({}, cls)
  local init = cls.init
  if init then init(obj, ...) end
  return obj
end

local class_meta_cache = setmetatable({}, {__mode = "k"})

-- the metatable of a class table: calling the class builds an instance, and
-- method lookup falls back to the parent
local function class_meta(parent)
  local mt = parent and class_meta_cache[parent]
  if mt then return mt end
  mt = {__call = construct, __index = parent,
        __tostring = function(c) return "class " .. tostring(rawget(c, "__name")) end}
  if parent then class_meta_cache[parent] = mt end
  return mt
end

local function new_class(name, parent)
  assert(type(name) == "string", "class: the class name must be a string")
  local cls = {__name = name, __class_parent = parent}
  if parent then
    for k, v in pairs(parent) do
      if type(k) == "string" and k:sub(1, 2) == "__" and not not_copied[k] then cls[k] = v end
    end
    local pidx = rawget(parent, "__index")
    cls.__index = (type(pidx) == "function") and pidx or cls
  else
    cls.__index = cls
    cls.extend = class.extend  -- C:extend(name), inherited by every subclass
  end
  return setmetatable(cls, class_meta(parent))
end

--- class.extend(parent, name): a subclass; also available as Parent:extend(name).
function class.extend(parent, name) return new_class(name, parent) end

--- class.new(name [, parent]): a new class.
function class.new(name, parent) return new_class(name, parent) end

--- class.isinstance(obj, cls): whether obj is an instance of cls or of a subclass.
function class.isinstance(obj, cls)
  if type(obj) ~= "table" then return false end
  local c = getmetatable(obj)
  while type(c) == "table" do
    if c == cls then return true end
    c = rawget(c, "__class_parent")
  end
  return false
end

--- class.name(obj_or_class): the class name of an instance or a class, or nil.
function class.name(x)
  if type(x) ~= "table" then return nil end
  local n = rawget(x, "__name")
  if type(n) == "string" and rawget(x, "__index") ~= nil then return n end
  local mt = getmetatable(x)
  return type(mt) == "table" and rawget(mt, "__name") or nil
end

--- class.parent(cls): the parent class, or nil for a root class.
function class.parent(cls) return rawget(cls, "__class_parent") end

setmetatable(class, {__call = function(_, name, parent) return new_class(name, parent) end})

local ok, ember = pcall(require, "ember")
if ok and ember.doc then
  ember.doc(class, "ember.class(name [, parent]) -> class\n\n" ..
    "The class helper: class(\"Name\") makes a class, Class:extend(\"Sub\") a subclass,\n" ..
    "Class(...) builds an instance and calls its :init(...).  class.isinstance(obj, C)\n" ..
    "tests membership, class.name(x) gives the class name.  Metamethods defined on a\n" ..
    "class (__call, __tostring, ...) are inherited by its subclasses.")
  ember.doc(class.isinstance, "class.isinstance(obj, cls) -> boolean: obj is an instance of cls or of a subclass.")
  ember.doc(class.name, "class.name(x) -> string or nil: the class name of an instance or of a class.")
  ember.doc(class.extend, "class.extend(parent, name) -> class: a subclass (also Parent:extend(name)).")
  ember.doc(class.new, "class.new(name [, parent]) -> class: a new class.")
  ember.doc(class.parent, "class.parent(cls) -> class or nil: the parent class.")
end

return class
