-- test_nn.lua: the Lua nn module: the class helper, Module registration and
-- traversal, state_dict / load_state_dict / save / load, train/eval
-- behaviour, dtype conversion, every layer's output shape, finite-difference
-- gradient checks through every layer (float64, parameters included),
-- losses, nn.init, clip_grad_norm_, error messages, and tostring.
local T = dofile("tests/lua/harness.lua")
local class = require("ember.class")

local function shape(t) return t.shape end

local function check(fn, inputs, opts)
  local ok, msg = ember.gradcheck(fn, inputs, opts)
  if not ok then error(msg, 2) end
end

local function f64(...) return ember.randn(...):double() end
local function leaf(...) return f64(...):requires_grad_() end

-- max |a - b|
local function maxdiff(a, b) return (a - b):abs():max():item() end

local function keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

local tmpdir = os.getenv("TMPDIR") or "/tmp"
local function tmpfile(name) return string.format("%s/ember-test-nn-%d-%s", tmpdir, os.time(), name) end

-- ---------- class helper ----------

T.test("class: extend, init, inheritance, metamethods, isinstance", function()
  local A = class("A")
  function A:init(x) self.x = x end
  function A:get() return self.x end
  A.__tostring = function(a) return "A(" .. a.x .. ")" end
  local B = A:extend("B")
  function B:init(x, y) A.init(self, x); self.y = y end
  local b = B(1, 2)
  T.eq(b:get(), 1)
  T.eq(b.y, 2)
  T.eq(tostring(b), "A(1)")  -- metamethod inherited
  T.ok(class.isinstance(b, A) and class.isinstance(b, B))
  T.ok(not class.isinstance(A(1), B))
  T.eq(class.name(b), "B")
  T.eq(class.name(B), "B")
  T.eq(class.parent(B), A)
  T.ok(not class.isinstance(5, A))
end)

-- ---------- registration ----------

local Net = nn.Module:extend("Net")
function Net:init(hidden)
  self.fc1 = nn.Linear(4, hidden)
  self.note = "plain field"
  self.count = 3
  self.scale = nn.Parameter(ember.ones(1))
  self.blocks = nn.ModuleList{nn.Linear(hidden, hidden), nn.ReLU()}
  self.fc2 = nn.Linear(hidden, 2, {bias = false})
  self:register_buffer("steps", ember.zeros(1))
end
function Net:forward(x)
  local h = self.fc1(x):relu()
  for _, m in ipairs(self.blocks) do h = m(h) end
  return self.fc2(h) * self.scale
end

T.test("Module: registration in definition order, nested names, plain fields", function()
  local net = Net(5)
  local names = {}
  for name, p in net:named_parameters() do names[#names + 1] = name .. ":" .. table.concat(p.shape, "x") end
  T.same(names, {"fc1.weight:5x4", "fc1.bias:5", "scale:1", "blocks.1.weight:5x5", "blocks.1.bias:5",
                 "fc2.weight:2x5"})
  T.eq(#net:parameters(), 6)
  T.eq(net.note, "plain field")
  T.eq(net.count, 3)
  T.eq(#net:children(), 3)
  T.eq(#net:modules(), 6)  -- net, fc1, blocks, blocks.1, blocks.2, fc2
  local mnames = {}
  for n in net:named_modules() do mnames[#mnames + 1] = n end
  T.same(mnames, {"", "fc1", "blocks", "blocks.1", "blocks.2", "fc2"})
  T.eq(net:num_parameters(), 5 * 4 + 5 + 1 + 25 + 5 + 10)
  T.eq(#net:buffers(), 1)
  T.same(keys(net:state_dict()), {"blocks.1.bias", "blocks.1.weight", "fc1.bias", "fc1.weight", "fc2.weight",
                                  "scale", "steps"})
  -- a non-leaf tensor that requires grad is a plain field, not a parameter
  net.cache = net.fc1.weight * 2
  T.eq(#net:parameters(), 6)
  -- reassigning keeps the slot; nil removes it
  net.scale = nn.Parameter(ember.full({1}, 2.0))
  T.eq(net.scale:item(), 2)
  T.eq(#net:parameters(), 6)
  net.scale = nil
  T.eq(#net:parameters(), 5)
  T.eq(net.scale, nil)
  net.scale = nn.Parameter(ember.ones(1))  -- back, in its old place
  T.eq(#net:parameters(), 6)
  T.eq(select(1, net:named_parameters()()), "fc1.weight")
  T.eq(rawget(net, "fc1"), net.fc1)  -- registered values are plain fields
  -- a module field replaced by a number becomes a plain field
  net.fc2 = 7
  T.eq(net.fc2, 7)
  T.eq(#net:children(), 2)
end)

T.test("Module: shared parameters count once; apply; zero_grad; frozen parameters", function()
  local a = nn.Linear(3, 3)
  local seq = nn.Sequential(a, nn.Tanh(), a)
  T.eq(#seq:parameters(), 2)
  T.eq(seq:num_parameters(), 12)
  local visited = {}
  seq:apply(function(m) visited[#visited + 1] = class.name(m) end)
  T.same(visited, {"Linear", "Tanh", "Linear", "Sequential"})
  seq(ember.randn(2, 3)):sum():backward()
  T.ok(a.weight.grad ~= nil)
  seq:zero_grad()
  T.eq(a.weight.grad, nil)
  a.bias.requires_grad = false
  T.eq(seq:num_parameters(true), 9)
  T.eq(seq:num_parameters(), 12)
  T.eq(seq:requires_grad_(false), seq)
  T.eq(seq:num_parameters(true), 0)
  seq:requires_grad_()
  T.eq(seq:num_parameters(true), 12)
end)

T.test("Sequential and ModuleList: 1-based children, #, add, append, forward errors", function()
  local s = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
  T.eq(#s, 2)
  s:add(nn.Linear(3, 1))
  T.eq(#s, 3)
  T.eq(class.name(s[3]), "Linear")
  T.same(keys(s:state_dict()), {"1.bias", "1.weight", "3.bias", "3.weight"})
  T.same(shape(s(ember.randn(5, 2))), {5, 1})
  local s2 = nn.Sequential{nn.Identity(), nn.Sigmoid()}
  T.eq(#s2, 2)
  local ml = nn.ModuleList{nn.Linear(1, 1)}
  ml:append(nn.Linear(1, 2))
  T.eq(#ml, 2)
  T.same(keys(ml:state_dict()), {"1.bias", "1.weight", "2.bias", "2.weight"})
  T.raises(function() ml(ember.randn(1)) end, "ModuleList")
  T.raises(function() nn.Sequential(nn.ReLU(), 3) end, "Sequential: argument 2")
  local Bare = nn.Module:extend("Bare")
  T.raises(function() Bare()(1) end, "Bare: forward() is not defined")
end)

-- ---------- state_dict ----------

T.test("state_dict: PyTorch names and shapes of every layer", function()
  local function sd_shapes(m)
    local out = {}
    for k, v in pairs(m:state_dict()) do out[k] = table.concat(v.shape, "x") end
    return out
  end
  T.same(sd_shapes(nn.Linear(784, 10)), {weight = "10x784", bias = "10"})
  T.same(sd_shapes(nn.Conv2d(3, 8, 5)), {weight = "8x3x5x5", bias = "8"})
  T.same(sd_shapes(nn.Conv2d(3, 8, {3, 5}, {bias = false})), {weight = "8x3x3x5"})
  T.same(sd_shapes(nn.Conv1d(4, 6, 3)), {weight = "6x4x3", bias = "6"})
  T.same(sd_shapes(nn.ConvTranspose2d(4, 6, 3)), {weight = "4x6x3x3", bias = "6"})
  T.same(sd_shapes(nn.Embedding(10, 3)), {weight = "10x3"})
  T.same(sd_shapes(nn.BatchNorm1d(5)), {weight = "5", bias = "5", running_mean = "5", running_var = "5",
                                        num_batches_tracked = ""})
  T.same(sd_shapes(nn.LayerNorm(6)), {weight = "6", bias = "6"})
  T.same(sd_shapes(nn.LSTM(3, 4, {layers = 2})), {
    weight_ih_l0 = "16x3", weight_hh_l0 = "16x4", bias_ih_l0 = "16", bias_hh_l0 = "16",
    weight_ih_l1 = "16x4", weight_hh_l1 = "16x4", bias_ih_l1 = "16", bias_hh_l1 = "16"})
  T.same(sd_shapes(nn.GRU(3, 4)), {weight_ih_l0 = "12x3", weight_hh_l0 = "12x4", bias_ih_l0 = "12",
                                   bias_hh_l0 = "12"})
  T.same(sd_shapes(nn.RNN(3, 4, {bias = false})), {weight_ih_l0 = "4x3", weight_hh_l0 = "4x4"})
  T.same(sd_shapes(nn.MultiheadAttention(8, 2)), {in_proj_weight = "24x8", in_proj_bias = "24",
                                                  ["out_proj.weight"] = "8x8", ["out_proj.bias"] = "8"})
  local enc = sd_shapes(nn.TransformerEncoderLayer(8, 2, {dim_feedforward = 16}))
  T.same(keys(enc), {"linear1.bias", "linear1.weight", "linear2.bias", "linear2.weight", "norm1.bias",
                     "norm1.weight", "norm2.bias", "norm2.weight", "self_attn.in_proj_bias",
                     "self_attn.in_proj_weight", "self_attn.out_proj.bias", "self_attn.out_proj.weight"})
  T.eq(enc["linear1.weight"], "16x8")
end)

T.test("load_state_dict: copies values; strict errors name the keys and shapes", function()
  ember.manual_seed(1)
  local a, b = Net(5), Net(5)
  local x = ember.randn(3, 4)
  T.ok(maxdiff(a(x), b(x)) > 0)
  local missing, unexpected = b:load_state_dict(a:state_dict())
  T.eq(#missing, 0)
  T.eq(#unexpected, 0)
  T.eq(maxdiff(a(x), b(x)), 0)
  -- the copy is a copy: changing a does not change b
  ember.no_grad(function() a.fc1.weight:add_(1) end)
  T.ok(maxdiff(a(x), b(x)) > 0)
  -- nested tables (as a file loader may return) are accepted
  local nested = {fc1 = {weight = a.fc1.weight, bias = a.fc1.bias}, scale = a.scale,
                  blocks = {[1] = {weight = a.blocks[1].weight, bias = a.blocks[1].bias}},
                  fc2 = {weight = a.fc2.weight}, steps = a.steps}
  b:load_state_dict(nested)
  T.eq(maxdiff(a(x), b(x)), 0)
  local sd = a:state_dict()
  sd["fc1.weight"] = ember.zeros(5, 3)
  T.raises(function() b:load_state_dict(sd) end, "'fc1.weight' has shape [5, 3] in the state dict, the model has [5, 4]")
  sd = a:state_dict()
  sd["extra"] = ember.zeros(1)
  sd["fc2.weight"] = nil
  local err = T.raises(function() b:load_state_dict(sd) end, "missing keys: fc2.weight")
  T.ok(err:find("unexpected keys: extra", 1, true), err)
  missing, unexpected = b:load_state_dict(sd, false)
  T.same(missing, {"fc2.weight"})
  T.same(unexpected, {"extra"})
  T.raises(function() b:load_state_dict(5) end, "expected a table")
  -- a whole checkpoint table: the error names the prefix to use
  T.raises(function() b:load_state_dict({model = a:state_dict()}) end, "the keys start with 'model.'")
end)

T.test("save / load: a fresh model gives identical outputs", function()
  if not ember.save then
    print("SKIP save/load round trip: ember.save is not in this build yet")
    return
  end
  ember.manual_seed(2)
  local m = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 3 * 3, 5))
  m(ember.randn(4, 1, 8, 8))  -- moves the running statistics
  m:eval()
  local path = tmpfile("model.safetensors")
  m:save(path)
  ember.manual_seed(3)
  local m2 = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                           nn.Linear(4 * 3 * 3, 5))
  m2:load(path)
  m2:eval()
  local x = ember.randn(2, 1, 8, 8)
  T.eq(maxdiff(m(x), m2(x)), 0)
  T.eq(m2[2].num_batches_tracked:item(), 1)
  T.eq(m2[2].num_batches_tracked.dtype, "int64")
  os.remove(path)
  -- a file for another architecture is refused with the key names
  local other = nn.Sequential(nn.Linear(2, 2))
  local p2 = tmpfile("other.safetensors")
  other:save(p2)
  T.raises(function() m2:load(p2) end, "load_state_dict")
  os.remove(p2)
end)

-- ---------- train / eval ----------

T.test("train/eval: dropout drops and rescales in training, is the identity in eval", function()
  local m = nn.Sequential(nn.Dropout(0.5))
  T.eq(m.training, true)
  local x = ember.ones(10000)
  ember.manual_seed(4)
  local y = m(x)
  local zeros = y:eq(0):sum():item()
  T.ok(zeros > 4500 and zeros < 5500, "about half dropped: " .. zeros)
  T.near(y:max():item(), 2, 1e-6)
  m:eval()
  T.eq(m.training, false)
  T.eq(m[1].training, false)
  T.eq(maxdiff(m(x), x), 0)
  m:train()
  T.eq(m[1].training, true)
  T.raises(function() nn.Dropout(1.5) end, "Dropout: p must be")
end)

T.test("train/eval: batch norm statistics, momentum, num_batches_tracked", function()
  local bn = nn.BatchNorm1d(3)
  local x = ember.tensor({{1, 2, 3}, {3, 6, 9}, {5, 10, 15}}, "float32")
  local y = bn(x)
  -- training output: per-channel batch normalisation (biased variance)
  local mean, var = x:mean(1), x:var(1, {correction = 0})
  T.near(maxdiff(y, (x - mean) / (var + 1e-5):sqrt()), 0, 1e-5)
  -- running stats: 0.9 * init + 0.1 * batch (unbiased variance)
  T.near(bn.running_mean:totable(), {0.3, 0.6, 0.9}, 1e-6)
  T.near(bn.running_var:totable(), {0.9 + 0.1 * 4, 0.9 + 0.1 * 16, 0.9 + 0.1 * 36}, 1e-6)
  T.eq(bn.num_batches_tracked:item(), 1)
  bn(x)
  T.eq(bn.num_batches_tracked:item(), 2)
  bn:eval()
  local rm, rv = bn.running_mean:clone(), bn.running_var:clone()
  local ye = bn(x)
  T.near(maxdiff(ye, (x - rm) / (rv + 1e-5):sqrt()), 0, 1e-5)
  T.eq(maxdiff(bn.running_mean, rm), 0)  -- eval leaves them alone
  -- cumulative average (momentum=false)
  local cb = nn.BatchNorm1d(3, {momentum = false})
  cb(x)
  cb(x * 0)
  T.near(cb.running_mean:totable(), {1.5, 3, 4.5}, 1e-6)
  -- without running statistics eval uses the batch
  local nb = nn.BatchNorm2d(2, {track_running_stats = false, affine = false})
  T.eq(#nb:parameters(), 0)
  T.eq(#nb:buffers(), 0)
  nb:eval()
  local x4 = ember.randn(4, 2, 3, 3)
  T.near(nb(x4):mean():item(), 0, 1e-5)
end)

-- ---------- dtype conversion ----------

T.test("to(dtype): float parameters and buffers convert, grads reset, int buffers stay", function()
  local m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
  m(ember.randn(4, 3)):sum():backward()
  m:to("float64")
  for name, p in m:named_parameters() do
    T.eq(p.dtype, "float64", name)
    T.ok(p.requires_grad and p.is_leaf, name)
    T.eq(p.grad, nil, name)
  end
  T.eq(m[2].running_mean.dtype, "float64")
  T.eq(m[2].num_batches_tracked.dtype, "int64")
  T.eq(m(ember.randn(4, 3):double()).dtype, "float64")
  m:float()
  T.eq(m[1].weight.dtype, "float32")
  T.raises(function() m:to("int64") end, "float dtype")
end)

-- ---------- output shapes ----------

T.test("layers: output shapes", function()
  local function s(m, x) return m(x).shape end
  T.same(s(nn.Linear(6, 3), ember.randn(2, 5, 6)), {2, 5, 3})
  T.same(s(nn.Conv1d(4, 8, 3, {padding = 1}), ember.randn(2, 4, 10)), {2, 8, 10})
  T.same(s(nn.Conv1d(4, 8, 5, {padding = "same"}), ember.randn(2, 4, 10)), {2, 8, 10})
  T.same(s(nn.Conv1d(4, 8, 3, {stride = 2}), ember.randn(4, 10)), {8, 4})  -- unbatched
  T.same(s(nn.Conv2d(1, 32, 3), ember.randn(2, 1, 28, 28)), {2, 32, 26, 26})
  T.same(s(nn.Conv2d(1, 6, 5, {padding = 2}), ember.randn(2, 1, 28, 28)), {2, 6, 28, 28})
  T.same(s(nn.Conv2d(3, 4, {3, 1}, {stride = {2, 1}}), ember.randn(1, 3, 9, 9)), {1, 4, 4, 9})
  T.same(s(nn.ConvTranspose2d(4, 2, 2, {stride = 2}), ember.randn(1, 4, 7, 7)), {1, 2, 14, 14})
  T.same(s(nn.ConvTranspose2d(4, 2, 3, {stride = 2, padding = 1, output_padding = 1}), ember.randn(1, 4, 7, 7)),
         {1, 2, 14, 14})
  T.same(s(nn.MaxPool1d(5), ember.randn(2, 3, 26)), {2, 3, 5})
  T.same(s(nn.MaxPool2d(2), ember.randn(2, 3, 7, 7)), {2, 3, 3, 3})
  T.same(s(nn.MaxPool2d(2, {ceil_mode = true}), ember.randn(2, 3, 7, 7)), {2, 3, 4, 4})
  T.same(s(nn.MaxPool2d(3, 1), ember.randn(2, 3, 7, 7)), {2, 3, 5, 5})
  T.same(s(nn.AvgPool2d(2), ember.randn(2, 3, 8, 8)), {2, 3, 4, 4})
  T.same(s(nn.AvgPool1d(2), ember.randn(2, 3, 8)), {2, 3, 4})
  T.same(s(nn.AdaptiveAvgPool2d(1), ember.randn(2, 3, 5, 7)), {2, 3, 1, 1})
  T.same(s(nn.AdaptiveAvgPool2d({2, 3}), ember.randn(2, 3, 5, 7)), {2, 3, 2, 3})
  T.same(s(nn.Flatten(), ember.randn(2, 3, 4, 5)), {2, 60})
  T.same(s(nn.Flatten(3), ember.randn(2, 3, 4, 5)), {2, 3, 20})
  T.same(s(nn.Embedding(10, 4), ember.tensor{{1, 2, 10}, {3, 3, 3}}), {2, 3, 4})
  T.same(s(nn.Dropout(0.2), ember.randn(3, 4)), {3, 4})
  T.same(s(nn.BatchNorm1d(4), ember.randn(3, 4, 5)), {3, 4, 5})
  T.same(s(nn.BatchNorm2d(4), ember.randn(3, 4, 5, 5)), {3, 4, 5, 5})
  T.same(s(nn.LayerNorm({4, 5}), ember.randn(3, 4, 5)), {3, 4, 5})
  for _, a in ipairs({nn.ReLU(), nn.LeakyReLU(0.2), nn.GELU(), nn.GELU("tanh"), nn.SiLU(), nn.Sigmoid(), nn.Tanh(),
                      nn.Softplus(), nn.Softmax(2), nn.LogSoftmax(), nn.Identity()}) do
    T.same(s(a, ember.randn(3, 4)), {3, 4}, class.name(a))
  end
  T.same(s(nn.MultiheadAttention(8, 2), ember.randn(2, 5, 8)), {2, 5, 8})
  T.same(s(nn.MultiheadAttention(8, 2), ember.randn(5, 8)), {5, 8})
  T.same(nn.MultiheadAttention(8, 2)(ember.randn(2, 5, 8), ember.randn(2, 7, 8), ember.randn(2, 7, 8)).shape, {2, 5, 8})
  T.same(s(nn.TransformerEncoderLayer(8, 2, {dim_feedforward = 16}), ember.randn(2, 5, 8)), {2, 5, 8})
  -- recurrent layers: output and final state like PyTorch
  local out, h = nn.RNN(3, 4, {layers = 2})(ember.randn(2, 6, 3))
  T.same(out.shape, {2, 6, 4})
  T.same(h.shape, {2, 2, 4})
  local out2, st = nn.LSTM(3, 5)(ember.randn(2, 6, 3))
  T.same(out2.shape, {2, 6, 5})
  T.same(st[1].shape, {1, 2, 5})
  T.same(st[2].shape, {1, 2, 5})
  local out3, h3 = nn.GRU(3, 5)(ember.randn(6, 3))  -- unbatched
  T.same(out3.shape, {6, 5})
  T.same(h3.shape, {1, 5})
end)

T.test("layers: default initialisation bounds as PyTorch", function()
  ember.manual_seed(5)
  local l = nn.Linear(100, 50)
  local bound = 1 / math.sqrt(100)
  T.ok(l.weight:abs():max():item() <= bound and l.weight:abs():max():item() > 0.9 * bound)
  T.ok(l.bias:abs():max():item() <= bound)
  -- U(-b, b) has std b / sqrt 3
  T.near(l.weight:std():item(), bound / math.sqrt(3), 0.05)
  local c = nn.Conv2d(3, 16, 5)
  local cb = 1 / math.sqrt(3 * 25)
  T.ok(c.weight:abs():max():item() <= cb and c.weight:abs():max():item() > 0.9 * cb)
  local ct = nn.ConvTranspose2d(16, 3, 4)  -- fan_in from dim 2: 3*4*4
  local tb = 1 / math.sqrt(3 * 16)
  T.ok(ct.weight:abs():max():item() <= tb and ct.weight:abs():max():item() > 0.8 * tb)
  local e = nn.Embedding(1000, 16, {padding_idx = 1})
  T.near(e.weight:std():item(), 1, 0.05)
  T.eq(e.weight[1]:abs():sum():item(), 0)
  local r = nn.LSTM(10, 25)
  T.ok(r.weight_hh_l0:abs():max():item() <= 1 / 5)
  local mha = nn.MultiheadAttention(16, 4)
  T.eq(mha.in_proj_bias:abs():sum():item(), 0)
  T.eq(mha.out_proj.bias:abs():sum():item(), 0)
  T.ok(mha.in_proj_weight:abs():max():item() <= math.sqrt(6 / (16 + 48)))
  local bn = nn.BatchNorm2d(3)
  T.same(bn.weight:totable(), {1, 1, 1})
  T.same(bn.running_var:totable(), {1, 1, 1})
end)

-- ---------- gradient checks through every layer ----------

local function layer_check(name, m, x, extra)
  m:to("float64")
  local inputs = {x}
  for _, p in ipairs(m:parameters()) do inputs[#inputs + 1] = p end
  check(function(xx) local y = m(xx, extra) return y end, inputs)
end

T.test("gradcheck: Linear, Conv1d, Conv2d, ConvTranspose2d", function()
  ember.manual_seed(6)
  layer_check("Linear", nn.Linear(4, 3), leaf(2, 4))
  layer_check("Conv1d", nn.Conv1d(2, 3, 3, {padding = 1, stride = 2}), leaf(2, 2, 7))
  layer_check("Conv2d", nn.Conv2d(2, 3, 3, {padding = 1}), leaf(2, 2, 5, 4))
  layer_check("Conv2d dilated", nn.Conv2d(1, 2, 2, {dilation = 2, stride = {1, 2}}), leaf(1, 1, 5, 6))
  layer_check("ConvTranspose2d", nn.ConvTranspose2d(2, 3, 3, {stride = 2, padding = 1, output_padding = 1}),
              leaf(1, 2, 3, 3))
end)

T.test("gradcheck: pooling, Flatten, Dropout(eval), activations", function()
  ember.manual_seed(7)
  layer_check("MaxPool1d", nn.MaxPool1d(2), leaf(2, 2, 6))
  layer_check("MaxPool2d", nn.MaxPool2d(2, {stride = 1}), leaf(1, 2, 4, 4))
  layer_check("AvgPool2d", nn.AvgPool2d(2), leaf(1, 2, 4, 4))
  layer_check("AvgPool1d", nn.AvgPool1d(3, {stride = 2, padding = 1}), leaf(1, 2, 7))
  layer_check("AdaptiveAvgPool2d", nn.AdaptiveAvgPool2d({2, 3}), leaf(1, 2, 5, 7))
  layer_check("Flatten", nn.Flatten(), leaf(2, 3, 2))
  local d = nn.Dropout(0.5)
  d:eval()
  layer_check("Dropout", d, leaf(3, 3))
  for _, a in ipairs({nn.LeakyReLU(0.1), nn.GELU(), nn.SiLU(), nn.Sigmoid(), nn.Tanh(), nn.Softplus(),
                      nn.Softmax(2), nn.LogSoftmax(1), nn.Identity()}) do
    layer_check(class.name(a), a, leaf(3, 4))
  end
end)

T.test("gradcheck: Dropout in training with a fixed seed", function()
  local d = nn.Dropout(0.3)
  local x = leaf(4, 5)
  check(function(xx) ember.manual_seed(11); return d(xx) end, {x})
end)

T.test("gradcheck: BatchNorm1d/2d (train and eval), LayerNorm, Embedding", function()
  ember.manual_seed(8)
  layer_check("BatchNorm1d", nn.BatchNorm1d(3), leaf(4, 3))
  layer_check("BatchNorm1d (N,C,L)", nn.BatchNorm1d(2), leaf(3, 2, 4))
  layer_check("BatchNorm2d", nn.BatchNorm2d(2), leaf(2, 2, 3, 3))
  local bn = nn.BatchNorm2d(2)
  bn(ember.randn(4, 2, 3, 3))
  bn:eval()
  layer_check("BatchNorm2d eval", bn, leaf(2, 2, 3, 3))
  layer_check("LayerNorm", nn.LayerNorm(4), leaf(3, 4))
  layer_check("LayerNorm 2 dims", nn.LayerNorm({2, 3}), leaf(2, 2, 3))
  local ids = ember.tensor{{1, 2, 5}, {5, 3, 1}}
  local e0 = nn.Embedding(5, 3):to("float64")
  check(function() return e0(ids) end, {e0.weight})
  -- padding_idx: that row reads normally but gets no gradient (so no gradcheck)
  local e = nn.Embedding(5, 3, {padding_idx = 2}):to("float64")
  e(ids):sum():backward()
  T.eq(e.weight.grad[2]:abs():sum():item(), 0)  -- the padding row gets no gradient
  T.near(e.weight.grad[1]:totable(), {2, 2, 2})
end)

T.test("gradcheck: RNN, LSTM, GRU (2 layers, with and without an initial state)", function()
  ember.manual_seed(9)
  local rnn = nn.RNN(3, 4, {layers = 2}):to("float64")
  local x = leaf(2, 3, 3)
  local inputs = {x}
  for _, p in ipairs(rnn:parameters()) do inputs[#inputs + 1] = p end
  check(function(xx) local o, h = rnn(xx) return o + h:select(1, 2):unsqueeze(2) end, inputs)
  local relu = nn.RNN(3, 4, {nonlinearity = "relu"}):to("float64")
  layer_check("RNN relu", relu, leaf(2, 3, 3))
  local lstm = nn.LSTM(3, 4, {layers = 2}):to("float64")
  local h0, c0 = leaf(2, 2, 4), leaf(2, 2, 4)
  inputs = {x, h0, c0}
  for _, p in ipairs(lstm:parameters()) do inputs[#inputs + 1] = p end
  check(function(xx, hh, cc)
    local o, st = lstm(xx, {hh, cc})
    return ember.cat({o:flatten(), st[1]:flatten(), st[2]:flatten()}, 1)
  end, inputs)
  local gru = nn.GRU(3, 4):to("float64")
  local g0 = leaf(1, 2, 4)
  inputs = {x, g0}
  for _, p in ipairs(gru:parameters()) do inputs[#inputs + 1] = p end
  check(function(xx, hh) local o, h = gru(xx, hh) return o:sum(2) + h:squeeze(1) end, inputs)
end)

T.test("gradcheck: MultiheadAttention (self, cross, causal), TransformerEncoderLayer", function()
  ember.manual_seed(10)
  layer_check("MHA", nn.MultiheadAttention(4, 2), leaf(2, 3, 4))
  layer_check("MHA causal", nn.MultiheadAttention(4, 2, {causal = true}), leaf(1, 4, 4))
  local mha = nn.MultiheadAttention(4, 2):to("float64")
  local q, k, v = leaf(1, 2, 4), leaf(1, 3, 4), leaf(1, 3, 4)
  check(function(a, b, c) return mha(a, b, c) end, {q, k, v})
  local enc = nn.TransformerEncoderLayer(4, 2, {dim_feedforward = 6, dropout = 0, causal = true})
  layer_check("TransformerEncoderLayer", enc, leaf(2, 3, 4))
  local pre = nn.TransformerEncoderLayer(4, 1, {dim_feedforward = 5, dropout = 0, norm_first = true,
                                                activation = "gelu"})
  layer_check("TransformerEncoderLayer norm_first gelu", pre, leaf(1, 3, 4))
end)

T.test("clone and TransformerEncoder: independent copies, stacked layers", function()
  ember.manual_seed(15)
  local m = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
  local c = m:clone()
  local x = ember.randn(4, 3)
  m:eval()
  c:eval()
  T.eq(maxdiff(m(x), c(x)), 0)
  ember.no_grad(function() m[1].weight:add_(1) end)
  T.ok(maxdiff(m(x), c(x)) > 0)
  T.ok(c[1].weight.requires_grad and c[1].weight.is_leaf)
  T.eq(class.name(c[2]), "BatchNorm1d")
  local layer = nn.TransformerEncoderLayer(8, 2, {dim_feedforward = 16, dropout = 0})
  local enc = nn.TransformerEncoder(layer, 3, {norm = nn.LayerNorm(8)})
  T.eq(#enc.layers, 3)
  T.ok(rawequal(enc.layers[1].linear1.weight, enc.layers[1].linear1.weight))
  T.ok(not rawequal(enc.layers[1].linear1.weight, enc.layers[2].linear1.weight))
  T.eq(enc:num_parameters(), 3 * layer:num_parameters() + 16)
  T.ok(enc:state_dict()["layers.3.self_attn.in_proj_weight"] ~= nil)
  local xe = ember.randn(2, 5, 8)
  T.same(enc(xe).shape, {2, 5, 8})
  local enc2 = nn.TransformerEncoder(function() return nn.TransformerEncoderLayer(8, 2, {dim_feedforward = 16}) end, 2)
  T.eq(#enc2.layers, 2)
  -- gradient through the stack: the input and the last layer's parameters (gradcheck takes 16 inputs)
  local small = nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 1, {dim_feedforward = 4, dropout = 0}), 2)
  small:to("float64")
  local xi = leaf(1, 3, 4)
  local inputs = {xi}
  for _, p in ipairs(small.layers[2]:parameters()) do inputs[#inputs + 1] = p end
  check(function(a) return small(a) end, inputs)
  T.raises(function() nn.TransformerEncoder(5, 2) end, "expected a layer module")
end)

T.test("attention masks: padded keys change nothing, a bool mask equals the causal flag", function()
  local mha = nn.MultiheadAttention(8, 2)
  local x = ember.randn(2, 5, 8)
  local pad = ember.tensor{{false, false, false, true, true}, {false, false, false, false, false}}
  local y = mha(x, {key_padding_mask = pad})
  local x2 = x:clone()
  x2[1]:narrow(1, 4, 2):fill_(7)   -- rewrite the padded positions of sequence 1
  local y2 = mha(x2, {key_padding_mask = pad})
  -- queries at real positions attend only to real keys: unchanged
  T.ok((y2[1]:narrow(1, 1, 3) - y[1]:narrow(1, 1, 3)):abs():max():item() < 1e-6)
  T.ok((y2[2] - y[2]):abs():max():item() < 1e-6)
  -- without the mask they would change
  T.ok((mha(x2)[1]:narrow(1, 1, 3) - mha(x)[1]:narrow(1, 1, 3)):abs():max():item() > 1e-3)
  -- the causal flag, a bool attn_mask and the functional's keep-mask agree
  local blocked = ember.ones(5, 5, {dtype = "bool"}):triu(1)
  local a = mha(x, {causal = true})
  T.ok((mha(x, {attn_mask = blocked}) - a):abs():max():item() < 1e-6)
  local q, k, v = ember.randn(2, 2, 5, 4), ember.randn(2, 2, 5, 4), ember.randn(2, 2, 5, 4)
  local keep = blocked:logical_not()
  T.ok((ember.scaled_dot_product_attention(q, k, v, {attn_mask = keep}) -
        ember.scaled_dot_product_attention(q, k, v, {causal = true})):abs():max():item() < 1e-6)
  T.raises(function() ember.scaled_dot_product_attention(q, k, v, {attn_mask = keep, causal = true}) end, "not both")
  T.raises(function() ember.scaled_dot_product_attention(q, k, v, {attn_mask = ember.ones(4, 5)}) end,
           "attn_mask of shape [4, 5] does not broadcast to the attention scores [2, 2, 5, 5]")
end)

T.test("attention: causal mask means no look-ahead; MHA equals the unfused formula", function()
  ember.manual_seed(12)
  local mha = nn.MultiheadAttention(4, 2, {causal = true})
  local x = ember.randn(1, 5, 4)
  local y = mha(x)
  local x2 = x:clone()
  x2[{1, 5, {}}] = 9  -- changing the last step changes no earlier output
  local y2 = mha(x2)
  T.near(maxdiff(y:narrow(2, 1, 4), y2:narrow(2, 1, 4)), 0, 1e-6)
  T.ok(maxdiff(y:narrow(2, 5, 1), y2:narrow(2, 5, 1)) > 1e-4)
  -- unfused reference for one head layout
  local m = nn.MultiheadAttention(4, 2)
  local W, b = m.in_proj_weight, m.in_proj_bias
  local qkv = x:matmul(W:t()) + b
  local outs = {}
  for h = 1, 2 do
    local q = qkv:narrow(3, (h - 1) * 2 + 1, 2)
    local k = qkv:narrow(3, 4 + (h - 1) * 2 + 1, 2)
    local v = qkv:narrow(3, 8 + (h - 1) * 2 + 1, 2)
    local att = (q:matmul(k:transpose(2, 3)) / math.sqrt(2)):softmax(-1)
    outs[h] = att:matmul(v)
  end
  local ref = m.out_proj(ember.cat(outs, 3))
  T.near(maxdiff(m(x), ref), 0, 1e-5)
end)

T.test("recurrent layers: LSTM and GRU equal a hand-written step", function()
  ember.manual_seed(13)
  local lstm = nn.LSTM(2, 3)
  local x = ember.randn(1, 1, 2)
  local out, st = lstm(x)
  local g = x[1][1]:matmul(lstm.weight_ih_l0:t()) + lstm.bias_ih_l0 + lstm.bias_hh_l0
  local i, f, gg, o = g:narrow(1, 1, 3):sigmoid(), g:narrow(1, 4, 3):sigmoid(), g:narrow(1, 7, 3):tanh(),
                      g:narrow(1, 10, 3):sigmoid()
  local c = i * gg + f * 0
  local h = o * c:tanh()
  T.near(maxdiff(out[1][1], h), 0, 1e-6)
  T.near(maxdiff(st[2][1][1], c), 0, 1e-6)
  local gru = nn.GRU(2, 3)
  local h0 = ember.randn(1, 1, 3)
  local o2 = gru(x, h0)
  local gi = x[1][1]:matmul(gru.weight_ih_l0:t()) + gru.bias_ih_l0
  local gh = h0[1][1]:matmul(gru.weight_hh_l0:t()) + gru.bias_hh_l0
  local r = (gi:narrow(1, 1, 3) + gh:narrow(1, 1, 3)):sigmoid()
  local z = (gi:narrow(1, 4, 3) + gh:narrow(1, 4, 3)):sigmoid()
  local n = (gi:narrow(1, 7, 3) + r * gh:narrow(1, 7, 3)):tanh()
  local hn = (1 - z) * n + z * h0[1][1]
  T.near(maxdiff(o2[1][1], hn), 0, 1e-6)
end)

-- ---------- losses ----------

T.test("losses: functions and modules agree with the formulas", function()
  local a = ember.tensor{0.5, 2.0, -1.0}
  local b = ember.tensor{1.0, 1.0, 1.0}
  T.near(nn.mse_loss(a, b):item(), (0.25 + 1 + 4) / 3, 1e-6)
  T.near(nn.MSELoss()(a, b):item(), (0.25 + 1 + 4) / 3, 1e-6)
  T.near(nn.MSELoss{reduction = "sum"}(a, b):item(), 5.25, 1e-6)
  T.near(nn.l1_loss(a, b):item(), 3.5 / 3, 1e-6)
  T.near(nn.L1Loss()(a, b):item(), 3.5 / 3, 1e-6)
  T.near(nn.smooth_l1_loss(a, b):item(), (0.125 + 0.5 + 1.5) / 3, 1e-6)
  local logits = ember.tensor{{1.0, 2.0, 3.0}, {1.0, 1.0, 1.0}}
  local y = ember.tensor{3, 1}
  local lse1 = math.log(math.exp(1) + math.exp(2) + math.exp(3))
  local expect = ((lse1 - 3) + math.log(3)) / 2
  T.near(nn.cross_entropy(logits, y):item(), expect, 1e-6)
  T.near(nn.CrossEntropyLoss()(logits, y):item(), expect, 1e-6)
  T.near(nn.nll_loss(logits:log_softmax(2), y):item(), expect, 1e-6)
  T.near(nn.NLLLoss()(logits:log_softmax(2), y):item(), expect, 1e-6)
  local p, t = ember.tensor{0.9, 0.2}, ember.tensor{1.0, 0.0}
  local bce = -(math.log(0.9) + math.log(0.8)) / 2
  T.near(nn.bce_loss(p, t):item(), bce, 1e-6)
  T.near(nn.BCELoss()(p, t):item(), bce, 1e-6)
  local z = ember.tensor{2.0, -1.0}
  T.near(nn.bce_with_logits(z, t):item(), nn.bce_loss(z:sigmoid(), t):item(), 1e-6)
  T.near(nn.BCEWithLogitsLoss()(z, t):item(), nn.bce_loss(z:sigmoid(), t):item(), 1e-6)
  T.raises(function() nn.mse_loss(ember.zeros(4, 1), ember.zeros(4)) end,
           "mse_loss: input shape [4, 1] and target shape [4] differ")
  T.raises(function() nn.bce_loss(ember.zeros(4, 1), ember.zeros(4)) end, "bce_loss")
  T.raises(function() nn.cross_entropy(5, y) end, "cross_entropy: logits must be a tensor")
  -- class weights: equal weights change nothing; errors name the sizes
  T.near(nn.cross_entropy(logits, y, {weight = ember.full({3}, 2.0)}):item(), expect, 1e-6)
  T.near(nn.CrossEntropyLoss{weight = ember.tensor{1.0, 1.0, 3.0}}(logits, y):item(),
         (3 * (lse1 - 3) + math.log(3)) / 4, 1e-6)
  T.raises(function() nn.cross_entropy(logits, y, {weight = ember.ones(2)}) end,
           "cross_entropy: weight has 2 entries for 3 classes")
  T.raises(function() nn.cross_entropy(logits, logits:softmax(2), {weight = ember.ones(3)}) end, "class-index targets")
end)

-- ---------- nn.init ----------

T.test("nn.init: fills, fans, gains, bounds", function()
  local w = ember.empty(20, 30, 3):requires_grad_()
  T.eq(nn.init.zeros_(w), w)
  T.eq(w:abs():sum():item(), 0)
  nn.init.ones_(w)
  T.eq(w:mean():item(), 1)
  nn.init.constant_(w, 0.5)
  T.eq(w:mean():item(), 0.5)
  local fi, fo = nn.init.calculate_fans(w)
  T.eq(fi, 90)
  T.eq(fo, 60)
  T.near(nn.init.calculate_gain("relu"), math.sqrt(2), 1e-12)
  T.near(nn.init.calculate_gain("tanh"), 5 / 3, 1e-12)
  T.near(nn.init.calculate_gain("leaky_relu", 0), math.sqrt(2), 1e-12)
  T.near(nn.init.calculate_gain("leaky_relu"), math.sqrt(2 / (1 + 1e-4)), 1e-12)
  ember.manual_seed(14)
  local big = ember.empty(200, 300)
  nn.init.xavier_uniform_(big)
  local xb = math.sqrt(6 / 500)
  T.ok(big:abs():max():item() <= xb and big:abs():max():item() > 0.99 * xb)
  nn.init.xavier_normal_(big)
  T.near(big:std():item(), math.sqrt(2 / 500), 0.03)
  nn.init.kaiming_uniform_(big, 0, "fan_in", "relu")
  local kb = math.sqrt(2) * math.sqrt(3 / 300)
  T.ok(big:abs():max():item() <= kb and big:abs():max():item() > 0.99 * kb)
  nn.init.kaiming_normal_(big, {mode = "fan_out", nonlinearity = "relu"})
  T.near(big:std():item(), math.sqrt(2 / 200), 0.03)
  nn.init.uniform_(big, 2, 3)
  T.ok(big:min():item() >= 2 and big:max():item() < 3)
  nn.init.normal_(big, 5, 0.1)
  T.near(big:mean():item(), 5, 0.01)
  T.raises(function() nn.init.xavier_uniform_(ember.empty(5)) end, "at least 2 dims")
  T.raises(function() nn.init.kaiming_uniform_(big, 0, "fan_middle") end, "mode must be")
end)

-- ---------- clip_grad_norm_ ----------

T.test("clip_grad_norm_: total norm returned, grads scaled only above max_norm", function()
  local a = ember.zeros(2):requires_grad_()
  local b = ember.zeros(1):requires_grad_()
  a.grad = ember.tensor{3.0, 0.0}
  b.grad = ember.tensor{4.0}
  local n = nn.clip_grad_norm_({a, b}, 10)
  T.near(n, 5, 1e-6)
  T.near(a.grad:totable(), {3, 0}, 1e-6)
  n = nn.clip_grad_norm_({a, b}, 1)
  T.near(n, 5, 1e-6)
  T.near(a.grad:totable(), {3 / (5 + 1e-6), 0}, 1e-6)
  T.near(b.grad:totable(), {4 / (5 + 1e-6)}, 1e-6)
  -- a module works too; params without grads are skipped
  local m = nn.Linear(2, 2)
  T.eq(nn.clip_grad_norm_(m, 1), 0)
  m(ember.ones(1, 2)):sum():backward()
  local total = nn.clip_grad_norm_(m, 0.5)
  T.near(total, math.sqrt(2 * 2 + 2), 1e-5)  -- weight grads all 1 (4), bias grads 1 (2)
  local after = 0
  for _, p in ipairs(m:parameters()) do after = after + (p.grad ^ 2):sum():item() end
  T.near(math.sqrt(after), 0.5, 1e-5)
  -- inf norm
  a.grad = ember.tensor{-7.0, 1.0}
  T.near(nn.clip_grad_norm_({a}, 100, math.huge), 7, 1e-6)
end)

-- ---------- errors ----------

T.test("errors name the layer and the shapes", function()
  T.raises(function() nn.Linear(784, 10)(ember.randn(64, 512)) end,
           "Linear: expected input with 784 features, got 512")
  T.raises(function() nn.Conv2d(3, 8, 3)(ember.randn(2, 1, 8, 8)) end,
           "Conv2d: expected input (N, 3, H, W) with 3 channels, got shape [2, 1, 8, 8]")
  T.raises(function() nn.Conv2d(1, 8, 5)(ember.randn(2, 1, 3, 3)) end, "smaller than the kernel")
  T.raises(function() nn.Conv1d(3, 8, 3)(ember.randn(2, 3)) end, "Conv1d: expected input (N, 3, L)")
  T.raises(function() nn.BatchNorm2d(3)(ember.randn(2, 4, 5, 5)) end,
           "BatchNorm2d: expected input (N, 3, H, W) with 3 channels, got shape [2, 4, 5, 5]")
  T.raises(function() nn.BatchNorm1d(3)(ember.randn(2, 3, 4, 4)) end, "BatchNorm1d")
  T.raises(function() nn.LayerNorm(5)(ember.randn(2, 4)) end, "LayerNorm: expected input ending in [5], got shape [2, 4]")
  T.raises(function() nn.LSTM(3, 4)(ember.randn(2, 5, 6)) end, "LSTM: expected input (N, L, 3)")
  T.raises(function() nn.GRU(3, 4)(ember.randn(2, 5, 3), ember.zeros(2, 2, 4)) end, "GRU: expected h0 of shape [1, 2, 4]")
  T.raises(function() nn.MultiheadAttention(6, 4) end, "divisible")
  T.raises(function() nn.MultiheadAttention(8, 2)(ember.randn(2, 3, 6)) end, "MultiheadAttention: expected query (N, L, 8)")
  T.raises(function() nn.MultiheadAttention(8, 2)(ember.randn(2, 3, 8), {attn_mask = ember.ones(3, 4)}) end,
           "attn_mask must be (L, S) = (3, 3)")
  T.raises(function() nn.MultiheadAttention(8, 2)(ember.randn(2, 3, 8), {key_padding_mask = ember.ones(3)}) end,
           "key_padding_mask must be [2, 3] (N, S), got [3]")
  T.raises(function() nn.MultiheadAttention(8, 2)(ember.randn(2, 3, 8), {attn_mask = "x"}) end, "attn_mask must be a tensor")
  T.raises(function() nn.Embedding(5, 2)(ember.tensor{6}) end, "embedding")
  T.raises(function() nn.Embedding(5, 2)(ember.tensor{0}) end, "embedding")
  T.raises(function() nn.Linear(0, 3) end, "Linear: in_features must be a positive integer")
  T.raises(function() nn.MaxPool2d(2)(ember.randn(5)) end, "MaxPool2d: expected input (N, C, H, W)")
  T.raises(function() nn.Linear(2, 2)("x") end, "Linear: expected a tensor input, got string")
  T.raises(function() nn.Parameter(ember.tensor{1, 2}) end, "only float tensors")
  T.raises(function() nn.Conv2d(1, 2, 3)(ember.randn(1, 1, 5, 5):double()) end,
           "Conv2d: input is float64 but the layer's weights are float32")
end)

T.test("tostring: the module tree with shapes and parameter counts", function()
  local m = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10))
  local s = tostring(m)
  T.ok(s:find("Sequential()  (407,050 params)", 1, true), s)
  T.ok(s:find("(1): Linear(784 -> 512)  weight [512, 784], bias [512]  (401,920 params)", 1, true), s)
  T.ok(s:find("(2): ReLU()", 1, true), s)
  local n = tostring(Net(3))
  T.ok(n:find("(blocks): ModuleList()", 1, true), n)
  T.ok(n:find("    (1): Linear(3 -> 3)", 1, true), n)
  T.ok(n:find("steps [1]", 1, true), n)
end)

T.test("end to end: an MLP, a GRU and a tiny causal transformer learn their tasks", function()
  ember.manual_seed(30)
  -- workload 1: label x1 + x2 > 1 on random points
  local x = ember.rand(512, 2)
  local y = (x:sum(2, true)):gt(1):float()
  local mlp = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1))
  local opt = optim.Adam(mlp, {lr = 0.02})
  for _ = 1, 300 do
    opt:zero_grad()
    nn.bce_with_logits(mlp(x), y):backward()
    opt:step()
  end
  local acc = mlp(x):gt(0):float():eq(y):float():mean():item()
  T.ok(acc > 0.95, "MLP accuracy " .. acc)
  -- a GRU counts the ones in a 0/1 sequence (regression on the last output)
  local seqs = ember.rand(256, 6, 1):gt(0.5):float()
  local target = seqs:sum(2)  -- (256, 1)
  local gru, head = nn.GRU(1, 16), nn.Linear(16, 1)
  local o2 = optim.Adam({{params = gru:parameters()}, {params = head:parameters()}}, {lr = 0.02})
  local loss
  for _ = 1, 300 do
    o2:zero_grad()
    local out = gru(seqs)
    loss = nn.mse_loss(head(out:select(2, 6)), target)
    loss:backward()
    o2:step()
  end
  T.ok(loss:item() < 0.05, "GRU count loss " .. loss:item())
  -- a causal transformer learns to predict the next token of a repeating sequence
  local V, L, D = 5, 8, 16
  local ids = ember.tensor{{1, 2, 3, 4, 5, 1, 2, 3, 4}, {3, 4, 5, 1, 2, 3, 4, 5, 1}}
  local inp, tgt = ids:narrow(2, 1, L), ids:narrow(2, 2, L)
  local emb, pos = nn.Embedding(V, D), nn.Embedding(L, D)
  local block = nn.TransformerEncoderLayer(D, 2, {dim_feedforward = 32, dropout = 0, causal = true})
  local out_proj = nn.Linear(D, V)
  local params = {}
  for _, m in ipairs({emb, pos, block, out_proj}) do
    for _, p in ipairs(m:parameters()) do params[#params + 1] = p end
  end
  local o3 = optim.AdamW(params, {lr = 0.01})
  local positions = ember.arange(1, L + 1):unsqueeze(1)
  for _ = 1, 150 do
    o3:zero_grad()
    local h = block(emb(inp) + pos(positions))
    loss = nn.cross_entropy(out_proj(h):reshape(2 * L, V), tgt:reshape(2 * L))
    loss:backward()
    o3:step()
  end
  T.ok(loss:item() < 0.1, "transformer next-token loss " .. loss:item())
end)

T.test("docs: layers and functions have help text", function()
  for _, name in ipairs({"Linear", "Conv2d", "LSTM", "MultiheadAttention", "Sequential", "BatchNorm2d",
                         "CrossEntropyLoss", "MaxPool2d"}) do
    T.ok(ember.doc(nn[name]), name)
    T.ok(ember.doc(nn[name].forward), name .. ".forward")
  end
  T.ok(ember.doc(nn.cross_entropy))
  T.ok(ember.doc(nn.init.kaiming_uniform_))
  T.ok(ember.doc(nn.clip_grad_norm_))
end)

T.done()
