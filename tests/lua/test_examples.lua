-- test_examples.lua: runs every script of examples/ the quick way, as a user
-- would (a child process `ember examples/X.lua` with EMBER_QUICK=1, plots
-- off, output files into a temporary folder), and checks that it exits with
-- status 0, prints the result lines its header promises (accuracy, loss,
-- throughput ...) and writes its PNG files, so that no example rots when the
-- library under it changes.  Also runs lenet and cifar_style_cnn on a fake
-- CIFAR-10 folder (the binary batch format, random pixels), and fails when a
-- new example has no entry here.
--   ember tests/lua/test_examples.lua     (EMBER=path of the binary, default ./ember)
local T = dofile("tests/lua/harness.lua")

local EMBER = os.getenv("EMBER") or "./ember"

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function mktemp_dir()
  local p = io.popen("mktemp -d /tmp/ember-examples.XXXXXX")
  local d = p:read("l")
  p:close()
  return d
end

local tmp = mktemp_dir()
assert(tmp and tmp ~= "", "mktemp -d failed")

-- runs `ember examples/<name>.lua args` the quick way; returns its combined
-- output and exit code, and the folder the outputs went to
local function run_example(name, args)
  local out = tmp .. "/" .. name .. (args and "-args" or "")
  os.execute("mkdir -p " .. sh_quote(out))
  local cmd = string.format("cd %s && EMBER_QUICK=1 EMBER_PLOT=none EMBER_OUT=%s timeout 300 %s examples/%s.lua %s 2>&1",
                            sh_quote(os.getenv("PWD") or "."), sh_quote(out), sh_quote(EMBER), name, args or "")
  local p = io.popen(cmd)
  local text = p:read("a")
  local _, _, code = p:close()
  return text, code, out
end

local function is_png(path)
  local f = io.open(path, "rb")
  if not f then return false, "missing" end
  local head = f:read(8)
  local size = f:seek("end")
  f:close()
  if head ~= "\137PNG\r\n\26\n" then return false, "no PNG header" end
  if size < 1000 then return false, "only " .. size .. " bytes" end
  return true
end

-- what each example must print (Lua patterns) and the PNGs it must write
local EXPECT = {
  binary_points = {
    lines = {"validation accuracy %d%.%d+", "test loss %d%.%d+, test accuracy %d%.%d+ on 1000 fresh points",
             "throughput %d+ samples/s"},
    pngs = {"binary_points_scatter.png", "binary_points_curves.png"}},
  fashion_mlp = {
    lines = {"test accuracy %d%.%d+ after 1 epochs", "throughput %d+ samples/s", "true \\ pred"},
    pngs = {"fashion_mlp_curves.png", "fashion_mlp_confusion.png"}},
  tiny_mlps = {
    lines = {"Epoch %[1/1%], Loss: %d%.%d+", "784%-500%-10 test accuracy %d%.%d+", "throughput %d+ samples/s",
             "2%-10%-1 final BCE loss %d%.%d+", "predicted probabilities"},
    pngs = {"tiny_mlps_loss.png"}},
  fashion_cnn = {
    lines = {"test accuracy %d%.%d+ after 1 epochs %(%d+ samples/s", "true \\ pred"},
    pngs = {"fashion_cnn_curves.png", "fashion_cnn_confusion.png"}},
  lenet = {
    lines = {"Fashion%-MNIST test accuracy %d%.%d+ after 1 epochs", "throughput %d+ samples/s", "true \\ pred"},
    pngs = {"lenet_curves.png", "lenet_confusion.png"}},
  cifar_style_cnn = {
    lines = {"Fashion%-MNIST test accuracy %d%.%d+ after 1 epochs", "throughput %d+ samples/s",
             "Linear%(576 %-> 64%)"},
    pngs = {"cifar_style_cnn_curves.png", "cifar_style_cnn_confusion.png"}},
  text_cnn = {
    lines = {"fortunes: %d+ from computers, %d+ from songs%-poems",
             "test accuracy %d%.%d+ %(majority baseline %d%.%d+%)", "throughput %d+ samples/s", "predicted "},
    pngs = {"text_cnn_curves.png"}},
  conv_autoencoder = {
    lines = {"test reconstruction MSE %d%.%d+ %(mean%-image baseline %d%.%d+%)", "throughput %d+ samples/s"},
    pngs = {"conv_autoencoder_reconstructions.png", "conv_autoencoder_curves.png"}},
  char_gpt = {
    lines = {"unigram entropy %d%.%d+ nats/char", "validation loss %d%.%d+ nats/char vs unigram entropy",
             "throughput %d+ samples/s", "sampled at temperature 0%.8", "sampled at temperature 0%.5"},
    pngs = {"char_gpt_loss.png"}},
  sweep_and_regularisation = {
    lines = {"1%. grid sweep", "best: lr=", "none%s+final val_loss", "l2%s+final val_loss",
             "dropout%s+final val_loss", "early_stopping%s+final val_loss", "sgd%s+lr", "sgd_momentum%s+lr",
             "adam%s+lr", "rmsprop%s+lr"},
    pngs = {"sweep_lr_width.png", "regularisation.png", "optimizers.png"}},
  tour = {lines = {"learned W:", "200 steps in"}, pngs = {}},
}

local function check(name, text, code, out, spec)
  if code ~= 0 then
    error(string.format("%s exited with %s; output:\n%s", name, tostring(code), text:sub(-2000)), 0)
  end
  for _, pat in ipairs(spec.lines) do
    if not text:find(pat) then
      error(string.format("%s: no line matching %q in its output:\n%s", name, pat, text:sub(-2000)), 0)
    end
  end
  for _, png in ipairs(spec.pngs) do
    local ok, why = is_png(out .. "/" .. png)
    if not ok then error(string.format("%s: %s: %s", name, png, why), 0) end
  end
end

-- every example has an entry (a new one must be added above)
T.test("every example is covered", function()
  local p = io.popen("ls examples/*.lua")
  local n = 0
  for path in p:lines() do
    local name = path:match("examples/(.-)%.lua$")
    n = n + 1
    T.ok(EXPECT[name], "examples/" .. name .. ".lua has no entry in tests/lua/test_examples.lua")
  end
  p:close()
  T.ok(n >= #{"binary_points", "fashion_mlp", "tiny_mlps", "fashion_cnn", "lenet", "cifar_style_cnn", "text_cnn",
              "conv_autoencoder", "char_gpt", "sweep_and_regularisation", "tour"}, "examples missing")
end)

local ORDER = {"tour", "binary_points", "fashion_mlp", "tiny_mlps", "fashion_cnn", "lenet", "cifar_style_cnn",
               "text_cnn", "conv_autoencoder", "char_gpt", "sweep_and_regularisation"}
for _, name in ipairs(ORDER) do
  T.test(name, function()
    local t0 = os.time()
    local text, code, out = run_example(name)
    check(name, text, code, out, EXPECT[name])
    io.write(string.format("ok %s (%d s)\n", name, os.time() - t0))
  end)
end

-- CIFAR-10 path: six batch files of 60 records (a label byte, then 3x32x32
-- pixel bytes), a deterministic pattern standing in for the pictures
local function fake_cifar(dir)
  os.execute("mkdir -p " .. sh_quote(dir))
  local files = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                 "data_batch_5.bin", "test_batch.bin"}
  local state = 12345
  for _, f in ipairs(files) do
    local parts = {}
    for r = 1, 60 do
      local px = {}
      for i = 1, 3072 do
        state = (state * 1103515245 + 12345) % 2147483648
        px[i] = string.char((state >> 16) & 255)
      end
      parts[r] = string.char((r - 1) % 10) .. table.concat(px)
    end
    local h = assert(io.open(dir .. "/" .. f, "wb"))
    h:write(table.concat(parts))
    h:close()
  end
end

T.test("lenet and cifar_style_cnn on a CIFAR-10 folder", function()
  local dir = tmp .. "/cifar-10-batches-bin"
  fake_cifar(dir)
  for _, name in ipairs{"lenet", "cifar_style_cnn"} do
    local text, code, out = run_example(name, sh_quote(dir))
    local pngs = {name .. "_curves.png", name .. "_confusion.png"}
    local lines = {"CIFAR%-10 test accuracy %d%.%d+ after 1 epochs", "throughput %d+ samples/s"}
    if name == "lenet" then lines[#lines + 1] = "Conv2d%(3, 6, kernel_size=5" end
    if name == "cifar_style_cnn" then lines[#lines + 1] = "Linear%(1024 %-> 64%)" end
    check(name .. " (CIFAR-10)", text, code, out, {lines = lines, pngs = pngs})
  end
end)

os.execute("rm -rf " .. sh_quote(tmp))
T.done()
