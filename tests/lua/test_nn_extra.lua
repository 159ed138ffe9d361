-- test_nn_extra.lua: the activations, functional ops and losses added in
-- nn/activation.c and lua/ember/nn/{activation,functional,loss_extra}.lua:
-- values and gradients at PyTorch's kinks (literals from PyTorch 1.13),
-- extreme inputs, error messages, module printing, state_dict keys and
-- training of the learnable ones.  Numerics on random inputs are in
-- test_nn_torch.lua (fixtures) and gradients in test_autograd.lua.
local T = dofile("tests/lua/harness.lua")

local function grad_of(f, values, dtype)
  local x = ember.tensor(values, dtype or "float64"):requires_grad_()
  local y = f(x)
  y:sum():backward()
  return y:totable(), x.grad:totable()
end

local KINKS = {-3.0, -1.0, 0.0, 1.0, 3.0, 6.0}

-- PyTorch 1.13 on KINKS: output, gradient of the sum
local EXPECT = {
  hardswish = {{0, -1 / 3, 0, 2 / 3, 3, 6}, {-0.5, 1 / 6, 0.5, 5 / 6, 1.5, 1}},
  hardsigmoid = {{0, 1 / 3, 0.5, 2 / 3, 1, 1}, {0, 1 / 6, 1 / 6, 1 / 6, 0, 0}},
  relu6 = {{0, 0, 0, 1, 3, 6}, {0, 0, 0, 1, 1, 0}},
  hardtanh = {{-1, -1, 0, 1, 1, 1}, {0, 0, 1, 0, 0, 0}},
  elu = {{-0.9502129316, -0.6321205588, 0, 1, 3, 6}, {0.0497870684, 0.3678794412, 1, 1, 1, 1}},
  selu = {{-1.6705687288, -1.1113307378, 0, 1.0507009874, 3.1521029621, 6.3042059241},
          {0.0875306121, 0.646768603, 1.7580993408, 1.0507009874, 1.0507009874, 1.0507009874}},
  mish = {{-0.1456474613, -0.3034014614, 0, 0.8650983883, 2.986535005, 5.9999266341},
          {-0.0933931145, 0.0592167559, 0.6, 1.0490362201, 1.0211069109, 1.0001341405}},
  logsigmoid = {{-3.0485873516, -1.3132616875, -0.6931471806, -0.3132616875, -0.0485873516, -0.0024756851},
                {0.9525741268, 0.7310585786, 0.5, 0.2689414214, 0.0474258732, 0.0024726232}},
  softshrink = {{-2.5, -0.5, 0, 0.5, 2.5, 5.5}, {1, 1, 0, 1, 1, 1}},
}

T.test("activations: values and gradients at the kinks (PyTorch 1.13)", function()
  for name, want in pairs(EXPECT) do
    for _, dtype in ipairs({"float64", "float32"}) do
      local y, g = grad_of(nn[name], KINKS, dtype)
      T.near(y, want[1], dtype == "float64" and 1e-9 or 1e-6, name .. " " .. dtype .. " value")
      T.near(g, want[2], dtype == "float64" and 1e-9 or 1e-6, name .. " " .. dtype .. " grad")
    end
  end
  local y, g = grad_of(function(x) return nn.celu(x, 2) end, KINKS)
  T.near(y, {-1.5537396797, -0.7869386806, 0, 1, 3, 6}, 1e-9)
  T.near(g, {0.2231301601, 0.6065306597, 1, 1, 1, 1}, 1e-9)
  y, g = grad_of(function(x) return nn.hardshrink(x, 1) end, KINKS)
  T.near(y, {-3, 0, 0, 0, 3, 6})
  T.near(g, {1, 0, 0, 0, 1, 1})
  y, g = grad_of(function(x) return nn.threshold(x, 1, -5) end, KINKS)
  T.near(y, {-5, -5, -5, -5, 3, 6})
  T.near(g, {0, 0, 0, 0, 1, 1})
end)

T.test("activations: extreme inputs stay finite", function()
  for _, dtype in ipairs({"float32", "float64"}) do
    local y, g = grad_of(ember.logsigmoid, {-1000, 1000}, dtype)
    T.near(y, {-1000, 0})
    T.near(g, {1, 0})
    y, g = grad_of(ember.mish, {-1000, 1000}, dtype)
    T.near(y, {0, 1000})
    T.near(g, {0, 1})
    y, g = grad_of(ember.elu, {-1000, 1000}, dtype)
    T.near(y, {-1, 1000})
    T.near(g, {0, 1})
  end
  local nan = ember.tensor{0 / 0}
  T.ok(ember.hardtanh(nan):isnan():item(), "hardtanh propagates NaN")
  T.ok(ember.hardswish(nan):isnan():item(), "hardswish propagates NaN")
end)

T.test("activations: big inputs (parallel chunks) and strides agree with the formulas", function()
  ember.manual_seed(3)
  local x = ember.randn(300, 200):mul(4)
  local xd = x:double()
  local elu64 = ember.where(xd:gt(0), xd, (xd:exp() - 1) * 0.5)
  T.ok((ember.elu(x, 0.5):double() - elu64):abs():max():item() < 1e-6, "float32 elu (vectorised exp)")
  T.ok((ember.elu(xd:t(), 0.5) - elu64:t()):abs():max():item() < 1e-12, "transposed input")
  local hs = xd * (xd + 3):clamp(0, 6) / 6
  T.ok((ember.hardswish(xd) - hs):abs():max():item() < 1e-12, "hardswish")
  T.ok((ember.logsigmoid(xd) - xd:sigmoid():log()):abs():max():item() < 1e-9, "logsigmoid")
end)

T.test("activations: float32 kernels agree with float64 over [-100, 100]", function()
  local x = ember.linspace(-100, 100, 200001)
  local xd = x:double()
  for _, f in ipairs({"elu", "selu", "celu", "mish", "logsigmoid", "hardswish", "hardsigmoid"}) do
    local a, b = ember[f](x):double(), ember[f](xd)
    T.ok(((a - b):abs() - b:abs() * 1e-6):max():item() <= 1e-7, f .. " value")
    local x32, x64 = x:clone():requires_grad_(), xd:clone():requires_grad_()
    ember[f](x32):sum():backward()
    ember[f](x64):sum():backward()
    T.ok(((x32.grad:double() - x64.grad):abs() - x64.grad:abs() * 1e-6):max():item() <= 1e-7, f .. " gradient")
  end
end)

T.test("activations: empty and 0-dim inputs", function()
  T.same(ember.elu(ember.zeros(0, 3)).shape, {0, 3})
  T.eq(ember.mish(ember.tensor(1.0)):dim(), 0)
  local x = ember.zeros(2, 3, 0):requires_grad_()
  local w = ember.ones(3):requires_grad_()
  ember.prelu(x, w):sum():backward()
  T.same(w.grad:totable(), {0, 0, 0})
end)

T.test("activations: grad_fn names and dtypes", function()
  local x = ember.randn(3):requires_grad_()
  T.eq(ember.elu(x).grad_fn, "elu")
  T.eq(ember.selu(x).grad_fn, "elu")
  T.eq(ember.relu6(x).grad_fn, "hardtanh")
  T.eq(ember.logsigmoid(x).grad_fn, "log_sigmoid")
  T.eq(ember.mish(x).dtype, "float32")
  T.eq(ember.mish(x:double()).dtype, "float64")
  T.eq(ember.prelu(x, ember.tensor{0.1}).grad_fn, "prelu")
end)

T.test("activations: bad input is a clear error", function()
  T.raises(function() ember.elu(ember.tensor{1, 2}) end, "elu: input must be float32 or float64, got int64")
  T.raises(function() ember.mish("x") end, "tensor")
  T.raises(function() ember.hardtanh(ember.randn(2), 1, -1) end, "hardtanh: min_val (1) must not be greater than max_val (-1)")
  T.raises(function() ember.celu(ember.randn(2), 0) end, "celu: alpha must not be 0")
  T.raises(function() ember.elu(ember.randn(2), 0 / 0) end, "elu: alpha must be a finite number")
  T.raises(function() ember.prelu(ember.randn(2, 3), ember.ones(4)) end,
           "prelu: weight has 4 slopes but input of shape [2, 3] has another channel count")
  T.raises(function() ember.prelu(ember.randn(3), ember.ones(3)) end, "no channel dim")
  T.raises(function() ember.prelu(ember.randn(2, 3), ember.ones(3):double()) end, "prelu: weight is float64 but input is float32")
  T.raises(function() nn.glu(ember.randn(2, 3)) end, "glu: halving dim -1 needs an even size, got 3")
  T.raises(function() nn.glu(ember.randn(2, 4), 3) end, "glu: dim 3 is out of range")
  T.raises(function() nn.softshrink(ember.randn(2), -1) end, "softshrink: lambd must be >= 0")
  T.raises(function() nn.softsign(ember.tensor{1, 2}) end, "softsign: input must be float32 or float64")
  T.raises(function() nn.threshold(ember.randn(2)) end, "threshold: usage")
  T.raises(function() nn.Hardtanh(2, 1) end, "Hardtanh: min_val (2) must not be greater than max_val (1)")
  T.raises(function() nn.Softshrink(-0.5) end, "Softshrink: lambd must be >= 0")
  T.raises(function() nn.ELU("big") end, "ELU: alpha must be a number")
  T.raises(function() nn.Threshold(0.5) end, "Threshold: value must be a number")
  T.raises(function() nn.PReLU(0) end, "PReLU: num_parameters must be a positive integer")
  T.raises(function() nn.ReLU6()(42) end, "ReLU6: expected a tensor input")
  T.raises(function() nn.F.gelu(ember.randn(2), "fast") end, "gelu: approximate must be 'none' or 'tanh'")
end)

T.test("activation modules: printing, options tables, functional aliases", function()
  T.eq(tostring(nn.ELU(0.5)), "ELU(alpha=0.5)")
  T.eq(tostring(nn.ELU{alpha = 0.25}), "ELU(alpha=0.25)")
  T.eq(tostring(nn.Hardtanh{min_val = -2}), "Hardtanh(min_val=-2, max_val=1)")
  T.eq(tostring(nn.Threshold(0.1, 20)), "Threshold(threshold=0.1, value=20)")
  T.eq(tostring(nn.GLU()), "GLU(dim=-1)")
  T.eq(tostring(nn.SELU()), "SELU()")
  T.eq(nn.F.elu, ember.elu)
  T.eq(nn.F.softsign, nn.softsign)
  T.ok(ember.doc(nn.Mish):find("tanh", 1, true), "help(nn.Mish)")
  T.ok(ember.doc(ember.hardswish):find("hardswish", 1, true), "help(ember.hardswish)")
  local x = ember.randn(2, 4)
  T.near(nn.Softmin(2)(x):totable()[1], (-x):softmax(2):totable()[1])
  T.near(nn.GLU(2)(x):totable()[1], (x:narrow(2, 1, 2) * x:narrow(2, 3, 2):sigmoid()):totable()[1])
end)

T.test("PReLU: parameter, state_dict keys, training and dtype", function()
  local m = nn.Sequential(nn.Linear(3, 4), nn.PReLU(4, 0.1))
  local keys = {}
  for k in pairs(m:state_dict()) do keys[#keys + 1] = k end
  table.sort(keys)
  T.same(keys, {"1.bias", "1.weight", "2.weight"})
  T.same(m[2].weight.shape, {4})
  T.near(m[2].weight:totable(), {0.1, 0.1, 0.1, 0.1})
  T.eq(m:num_parameters(), 3 * 4 + 4 + 4)
  T.ok(tostring(m[2]):find("PReLU(num_parameters=4)", 1, true), tostring(m[2]))
  local opt = optim.SGD(m:parameters(), {lr = 0.5})
  local x = ember.randn(8, 3)
  local before = m[2].weight:clone()
  local loss = m(x):pow(2):mean()
  loss:backward()
  T.ok(m[2].weight.grad ~= nil, "PReLU weight gets a gradient")
  opt:step()
  T.ok((m[2].weight - before):abs():max():item() > 0, "PReLU weight moves")
  m:to("float64")
  T.eq(m(x:double()).dtype, "float64")
  T.raises(function() m[2](ember.randn(8, 4)) end, "PReLU: input is float32 but the weight is float64")
  -- one shared slope over every channel, eval() changes nothing
  local p = nn.PReLU()
  p:eval()
  T.near(p(ember.tensor{{-1.0, 2.0}, {-4.0, 0.0}}):totable()[2], {-1, 0})
end)

-- ---------- functional ----------

T.test("pad: modes and values (PyTorch 1.13)", function()
  local x = ember.tensor{{{1.0, 2.0, 3.0, 4.0}}}
  T.same(nn.pad(x, {2, 2}, {mode = "reflect"}):totable()[1][1], {3, 2, 1, 2, 3, 4, 3, 2})
  T.same(nn.pad(x, {2, 3}, "circular"):totable()[1][1], {3, 4, 1, 2, 3, 4, 1, 2, 3})
  T.same(nn.pad(x, {2, 1}, {mode = "replicate"}):totable()[1][1], {1, 1, 1, 2, 3, 4, 4})
  T.same(nn.pad(x, {1, -2}, {value = 9}):totable()[1][1], {9, 1, 2})
  T.same(nn.pad(x, {0, 0, 1, 0}).shape, {1, 2, 4})
  T.same(nn.pad(x, {}).shape, {1, 1, 4})
  T.eq(nn.pad(x:long(), {1, 1}).dtype, "int64")
  T.same(nn.ZeroPad2d({1, 0, 2, 1})(ember.ones(1, 2, 3)).shape, {1, 5, 4})
end)

T.test("pad: errors", function()
  local x = ember.randn(1, 2, 3)
  T.raises(function() nn.pad(x, {1}) end, "pad: pad must be a list of an even number of integers")
  T.raises(function() nn.pad(x, {1, 1, 1, 1, 1, 1, 1, 1}) end, "pad: 8 values pad 4 dims but the input has 3")
  T.raises(function() nn.pad(x, {1, 1}, {mode = "mirror"}) end, "pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got 'mirror'")
  T.raises(function() nn.pad(x, {3, 0}, {mode = "reflect"}) end, "pad: reflect padding {3, 0} must be smaller than the size 3 of dim 3")
  T.raises(function() nn.pad(x, {4, 0}, {mode = "circular"}) end, "at most the size 3")
  T.raises(function() nn.pad(x, {-1, 0}, {mode = "replicate"}) end, "needs non-negative padding")
  T.raises(function() nn.pad(x, {1.5, 0}) end, "pad: pad values must be integers, got 1.5")
  T.raises(function() nn.pad(x, {1, 1}, {mode = "reflect", value = 2}) end, "value is only used with mode='constant'")
  T.raises(function() nn.pad(x, {-2, -2}) end, "leaves nothing")
  T.raises(function() nn.ReflectionPad2d({1, 2}) end, "ReflectionPad2d: padding must be an integer or a list of 4 integers")
  T.raises(function() nn.ReflectionPad2d(1)(ember.randn(5)) end, "ReflectionPad2d: expected a 3-D or 4-D input, got shape [5]")
end)

T.test("interpolate / Upsample: values, printing, errors", function()
  local x = ember.arange(4):double():view(1, 1, 4)
  T.near(nn.interpolate(x, {size = 6, mode = "linear", align_corners = true}):totable()[1][1],
         {0, 0.6, 1.2, 1.8, 2.4, 3})
  T.near(nn.interpolate(x, {size = 6, mode = "linear"}):totable()[1][1], {0, 0.5, 7 / 6, 11 / 6, 2.5, 3})
  T.same(nn.interpolate(ember.arange(5):double():view(1, 1, 5), {scale_factor = 1.5}):totable()[1][1],
         {0, 0, 1, 2, 2, 3, 4})
  -- 1-d nearest samples at 1/scale_factor steps even when the size stays
  -- (PyTorch's forward too; its backward differs, shortcutting to identity)
  local x5 = ember.arange(5):double():view(1, 1, 5):requires_grad_()
  local y5 = nn.interpolate(x5, {scale_factor = 1.1})
  T.same(y5:totable()[1][1], {0, 0, 1, 2, 3})
  y5:backward(ember.tensor{{{1.0, 10.0, 100.0, 1000.0, 10000.0}}})
  T.same(x5.grad:totable()[1][1], {11, 100, 1000, 10000, 0})
  -- 2-d: PyTorch's shortcuts for the same size and exact doubling
  local x2 = ember.arange(6):double():view(1, 1, 2, 3)
  T.same(nn.interpolate(x2, {scale_factor = {2.05, 1.1}}):totable()[1][1], {{0, 1, 2}, {0, 1, 2}, {3, 4, 5}, {3, 4, 5}})
  T.same(nn.Upsample({scale_factor = 2})(ember.ones(2, 3, 4, 5)).shape, {2, 3, 8, 10})
  T.eq(tostring(nn.Upsample({scale_factor = 2, mode = "bilinear"})), "Upsample(scale_factor=2, mode='bilinear')")
  local img = ember.randn(1, 2, 4, 4)
  T.raises(function() nn.interpolate(img, {size = 3, scale_factor = 2}) end, "interpolate: give exactly one of size and scale_factor")
  T.raises(function() nn.interpolate(img, {}) end, "give exactly one")
  T.raises(function() nn.interpolate(img, {size = 3, mode = "cubic"}) end, "interpolate: mode must be")
  T.raises(function() nn.interpolate(img, {size = 3, mode = "linear"}) end, "interpolate: mode 'linear' needs a 3-D input, got shape [1, 2, 4, 4]")
  T.raises(function() nn.interpolate(img, {size = 3, align_corners = true}) end, "align_corners can only be set")
  T.raises(function() nn.interpolate(img, {size = {3, 0}}) end, "sizes must be positive integers")
  T.raises(function() nn.interpolate(img, {size = {3, 3, 3}}) end, "size has 3 entries for 2 spatial dims")
  T.raises(function() nn.interpolate(img, {scale_factor = 0.1}) end, "makes dim 3 of size 4 empty")
  T.raises(function() nn.interpolate(ember.randn(4, 4), {size = 2}) end, "expected a 3-D, 4-D or 5-D input")
  T.raises(function() nn.Upsample() end, "Upsample: expected options")
end)

T.test("pixel_shuffle, unfold, fold", function()
  local x = ember.randn(2, 8, 3, 5)
  local y = nn.pixel_shuffle(x, 2)
  T.same(y.shape, {2, 2, 6, 10})
  T.eq((nn.pixel_unshuffle(y, 2) - x):abs():max():item(), 0)
  T.same(nn.PixelShuffle(2)(ember.randn(8, 2, 2)).shape, {2, 4, 4})
  T.raises(function() nn.pixel_shuffle(ember.randn(1, 6, 2, 2), 2) end, "pixel_shuffle: expected input (*, C*r^2, H, W) with C*r^2 divisible by 4")
  T.raises(function() nn.PixelShuffle(0) end, "PixelShuffle: the factor must be a positive integer")
  -- non-overlapping blocks: fold undoes unfold exactly
  local img = ember.randn(2, 3, 4, 6)
  local cols = nn.unfold(img, 2, {stride = 2})
  T.same(cols.shape, {2, 12, 6})
  T.eq((nn.fold(cols, {4, 6}, 2, {stride = 2}) - img):abs():max():item(), 0)
  -- overlapping: fold(unfold(ones)) counts the blocks covering each pixel
  local counts = nn.fold(nn.unfold(ember.ones(1, 1, 3, 3), 2), {3, 3}, 2)
  T.same(counts:totable()[1][1], {{1, 2, 1}, {2, 4, 2}, {1, 2, 1}})
  T.same(nn.unfold(ember.randn(3, 5, 5), 3).shape, {27, 9})  -- unbatched
  T.eq(tostring(nn.Unfold(3)), "Unfold(kernel_size={3, 3}, dilation={1, 1}, padding={0, 0}, stride={1, 1})")
  T.raises(function() nn.unfold(img, 5) end, "unfold: the kernel 5x5 (dilation 1x1) does not fit in the padded input 4x6")
  T.raises(function() nn.unfold(img, 0) end, "unfold: kernel_size must be a positive integer or {h, w}")
  T.raises(function() nn.unfold(ember.randn(4, 4), 2) end, "unfold: expected input (N, C, H, W) or (C, H, W), got shape [4, 4]")
  T.raises(function() nn.fold(cols, {4, 5}, 2, {stride = 2}) end, "fold: the input has 6 blocks but output_size 4x5")
  T.raises(function() nn.fold(ember.randn(1, 5, 6), {4, 6}, 2) end, "fold: dim 2 of the input (5) must be divisible")
end)

T.test("normalize, cosine_similarity, pairwise_distance, Bilinear", function()
  local x = ember.tensor{{3.0, 4.0}, {0.0, 0.0}}
  T.near(nn.normalize(x):totable()[1], {0.6, 0.8})
  T.near(nn.normalize(x):totable()[2], {0, 0})
  T.near(nn.normalize(x, {p = 1, dim = 1}):totable()[1], {1, 1})
  T.near(nn.normalize(ember.tensor{3.0, 4.0}):totable(), {0.6, 0.8})
  T.near(nn.cosine_similarity(ember.tensor{{1.0, 0.0}}, ember.tensor{{1.0, 1.0}}):item(), math.sqrt(0.5))
  T.near(nn.pairwise_distance(ember.tensor{{0.0, 0.0}}, ember.tensor{{3.0, 4.0}}):item(), 5, 1e-5)
  T.same(nn.PairwiseDistance(2, 1e-6, true)(ember.randn(3, 2), ember.randn(3, 2)).shape, {3, 1})
  T.raises(function() nn.cosine_similarity(ember.randn(2, 3), ember.randn(2, 4)) end,
           "cosine_similarity: shapes [2, 3] and [2, 4] do not broadcast")
  T.raises(function() nn.cosine_similarity(ember.randn(2, 3), ember.randn(2, 3), 4) end, "cosine_similarity: dim 4 is out of range")
  T.raises(function() nn.pairwise_distance(ember.tensor{1, 2}, ember.tensor{1, 2}) end, "pairwise_distance: x1 must be float32 or float64")
  local b = nn.Bilinear(3, 4, 2)
  T.same(b.weight.shape, {2, 3, 4})
  T.ok(b.weight:abs():max():item() <= 1 / math.sqrt(3), "U(-1/sqrt(in1), 1/sqrt(in1))")
  local keys = {}
  for k in pairs(b:state_dict()) do keys[#keys + 1] = k end
  table.sort(keys)
  T.same(keys, {"bias", "weight"})
  local x1, x2 = ember.randn(5, 3), ember.randn(5, 4)
  local y = b(x1, x2)
  local want = (x1:view(5, 1, 1, 3):matmul(b.weight:view(1, 2, 3, 4)):matmul(x2:view(5, 1, 4, 1))):view(5, 2) + b.bias
  T.ok((y - want):abs():max():item() < 1e-5, "x1^T W x2 + b")
  T.same(b(ember.randn(2, 7, 3), ember.randn(2, 7, 4)).shape, {2, 7, 2})
  T.eq(tostring(nn.Bilinear(2, 3, 4, {bias = false})):match("^[^\n]*"),
       "Bilinear(in1_features=2, in2_features=3, out_features=4, bias=false)  weight [4, 2, 3]  (24 params)")
  T.raises(function() b(ember.randn(5, 3), ember.randn(5, 3)) end, "Bilinear: expected inputs (..., 3) and (..., 4)")
  T.raises(function() nn.Bilinear(3, 0, 2) end, "Bilinear: in2_features must be a positive integer")
end)

-- ---------- losses ----------

T.test("losses: values on small cases", function()
  local p = ember.tensor{{0.5, 0.5}, {1.0, 0.0}}
  local logq = ember.tensor{{0.25, 0.75}, {0.5, 0.5}}:log()
  -- batchmean: the KL per sample, averaged over the batch; 0 * log 0 = 0
  local kl = (0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75) + math.log(1 / 0.5)) / 2
  T.near(nn.kl_div(logq, p, {reduction = "batchmean"}):item(), kl, 1e-6)
  T.near(nn.kl_div(logq, p, {reduction = "sum"}):item(), kl * 2, 1e-6)
  T.near(nn.kl_div(logq, p):item(), kl * 2 / 4, 1e-6)
  local p2 = ember.tensor{{0.5, 0.5}, {0.75, 0.25}}
  T.near(nn.kl_div(logq, p2:log(), {log_target = true, reduction = "sum"}):item(),
         nn.kl_div(logq, p2, {reduction = "sum"}):item(), 1e-6)
  T.near(nn.huber_loss(ember.tensor{0.0, 3.0}, ember.tensor{0.5, 0.0}, {delta = 2}):item(), (0.125 + 2 * (3 - 1)) / 2)
  T.near(nn.margin_ranking_loss(ember.tensor{1.0, 2.0}, ember.tensor{2.0, 1.0}, ember.tensor{1.0, 1.0}):item(), 0.5)
  T.near(nn.hinge_embedding_loss(ember.tensor{0.3, 2.0}, ember.tensor{-1.0, 1.0}, {reduction = "sum"}):item(), 0.7 + 2)
  T.near(nn.soft_margin_loss(ember.tensor{0.0}, ember.tensor{1.0}):item(), math.log(2))
  -- terms max(0, 1 - 0.8 + x_i) for the three other classes, over C = 4
  T.near(nn.multi_margin_loss(ember.tensor{{0.1, 0.2, 0.4, 0.8}}, ember.tensor{4}):item(), (0.3 + 0.4 + 0.6) / 4, 1e-6)
  T.near(nn.cosine_embedding_loss(ember.tensor{{1.0, 0.0}}, ember.tensor{{1.0, 0.0}}, ember.tensor{1.0}):item(), 0, 1e-6)
  T.near(nn.triplet_margin_loss(ember.zeros(1, 2), ember.zeros(1, 2), ember.tensor{{3.0, 4.0}}):item(), 0)
  T.near(nn.gaussian_nll_loss(ember.tensor{1.0}, ember.tensor{0.0}, 1.0):item(), 0.5)
  T.near(nn.poisson_nll_loss(ember.tensor{0.0}, ember.tensor{2.0}):item(), 1)
  T.same(nn.multilabel_soft_margin_loss(ember.zeros(3, 4), ember.ones(3, 4), {reduction = "none"}).shape, {3})
end)

T.test("losses: errors name the loss and the problem", function()
  local a, b = ember.randn(3, 4), ember.randn(3, 4)
  T.raises(function() nn.kl_div(a, b, {reduction = "avg"}) end,
           "kl_div: unknown reduction 'avg' (expected 'mean', 'sum', 'batchmean' or 'none')")
  T.raises(function() nn.huber_loss(a, b, {reduction = "batchmean"}) end, "huber_loss: unknown reduction 'batchmean'")
  T.raises(function() nn.huber_loss(a, b, {beta = 1}) end, "huber_loss: unknown option 'beta'")
  T.raises(function() nn.huber_loss(a, b, {delta = 0}) end, "huber_loss: delta must be positive")
  T.raises(function() nn.huber_loss(a, ember.randn(4, 3)) end, "huber_loss: input shape [3, 4] and target shape [4, 3] differ")
  T.raises(function() nn.kl_div(a, "p") end, "kl_div: target must be a tensor, got string")
  T.raises(function() nn.soft_margin_loss(ember.tensor{1, 2}, b) end, "soft_margin_loss: input must be float32 or float64, got int64")
  T.raises(function() nn.margin_ranking_loss(a, ember.randn(3), b) end, "margin_ranking_loss: input1 shape [3, 4] and input2 shape [3] differ")
  T.raises(function() nn.cosine_embedding_loss(a, b, ember.ones(4)) end, "cosine_embedding_loss: target shape [4] and expected shape [3] differ")
  T.raises(function() nn.cosine_embedding_loss(ember.randn(2, 3, 4), ember.randn(2, 3, 4), ember.ones(2)) end,
           "cosine_embedding_loss: expected inputs (N, D) or (D)")
  T.raises(function() nn.triplet_margin_loss(a, b, ember.randn(4)) end, "must have the same number of dims")
  T.raises(function() nn.gaussian_nll_loss(a, b, ember.ones(4)) end, "gaussian_nll_loss: var of shape [4] does not fit input of shape [3, 4]")
  T.raises(function() nn.gaussian_nll_loss(a, b, -ember.ones(3, 4)) end, "gaussian_nll_loss: var has negative entries")
  T.raises(function() nn.multi_margin_loss(a, ember.tensor{1, 5, 2}) end, "multi_margin_loss: targets must be in 1..4, got 1..5")
  T.raises(function() nn.multi_margin_loss(a, ember.tensor{1, 2}) end, "multi_margin_loss: 2 targets for 3 samples")
  T.raises(function() nn.multi_margin_loss(a, ember.tensor{1.0, 2.0, 3.0}) end, "multi_margin_loss: target must hold 1-based class indices")
  T.raises(function() nn.multi_margin_loss(a, ember.tensor{1, 2, 3}, {p = 3}) end, "multi_margin_loss: p must be 1 or 2, got 3")
  T.raises(function() nn.multi_margin_loss(a, ember.tensor{1, 2, 3}, {weight = ember.ones(3)}) end,
           "multi_margin_loss: weight must be a 1-D tensor with one weight per class (4)")
  T.raises(function() nn.multilabel_soft_margin_loss(a, "y") end, "multilabel_soft_margin_loss: target must be a tensor")
  T.raises(function() nn.HuberLoss({delta = 1, beta = 2}) end, "HuberLoss: unknown option 'beta'")
  T.raises(function() nn.KLDivLoss(3) end, "KLDivLoss: options must be a table")
end)

T.test("loss modules: forward, printing, gradients flow", function()
  T.eq(tostring(nn.KLDivLoss({reduction = "batchmean"})), "KLDivLoss(reduction=batchmean)")
  T.eq(tostring(nn.TripletMarginLoss({margin = 0.5, swap = true})), "TripletMarginLoss(margin=0.5, swap=true)")
  T.eq(tostring(nn.MultiMarginLoss({weight = ember.ones(3)})), "MultiMarginLoss(weight=tensor)")
  local a = ember.randn(4, 3):requires_grad_()
  local p, n = ember.randn(4, 3), ember.randn(4, 3)
  local l = nn.TripletMarginLoss()(a, p, n)
  T.same(l.shape, {})
  l:backward()
  T.same(a.grad.shape, {4, 3})
  local m = nn.GaussianNLLLoss({reduction = "none"})
  T.same(m(ember.randn(5, 2), ember.randn(5, 2), ember.ones(5)).shape, {5, 2})
  T.same(nn.MarginRankingLoss({margin = 1})(ember.randn(3), ember.randn(3), ember.tensor{1, -1, 1}).shape, {})
  T.same(nn.CosineEmbeddingLoss()(ember.randn(3), ember.randn(3), ember.tensor(1)).shape, {})
  T.same(nn.MultiLabelSoftMarginLoss()(ember.randn(2, 3), ember.tensor{{1, 0, 1}, {0, 0, 1}}).shape, {})
  T.same(nn.PoissonNLLLoss({log_input = false})(ember.rand(4), ember.rand(4)).shape, {})
end)

T.done()
