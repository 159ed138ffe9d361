-- ember.init: the Lua side of the ember module table.  Runs once when
-- `ember` is first loaded, after the C bindings have filled the table, and
-- adds what is easier to write in Lua (documentation, helpers).
local ember = require("ember")
ember._VERSION = "ember 0.1.0"
require("ember.tensor_shape")  -- flip, roll, diagonal, einsum, ...: shape functions written in Lua
require("ember.stats")  -- median, quantile, nansum, isclose, ... (composed ops)
require("ember.linalg")  -- the Lua half of ember.linalg (norms, pinv, matrix_exp, ...)
-- not the ember table itself: package.loaded["ember.init"] would then alias
-- it, and tracebacks would name functions "ember.init.matmul"
return true
