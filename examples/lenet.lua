-- lenet.lua: reference workload 5, LeNet-5 trained with SGD (momentum 0.9,
-- lr 0.01, batch 64, cross-entropy, 5 epochs):
--   Conv2d(C,6,5,padding p)-ReLU-MaxPool2-Conv2d(6,16,5)-ReLU-MaxPool2-
--   Flatten-Linear(400,120)-ReLU-Linear(120,84)-ReLU-Linear(84,10)
-- On Fashion-MNIST (1x28x28) the first convolution pads by 2 so that the
-- feature maps are 28 -> 14 -> 10 -> 5, as LeNet's 32x32 input; on CIFAR-10
-- (3x32x32, the seed's data) there is no padding: 32 -> 28 -> 14 -> 10 -> 5.
-- Either way the flattened features are 16*5*5 = 400.  Prints the test
-- accuracy (goal >= 0.87 on Fashion-MNIST; PyTorch 0.874) and throughput,
-- saves curves and the confusion matrix as PNG.
--   ember examples/lenet.lua [epochs]                  Fashion-MNIST
--   ember examples/lenet.lua path/to/cifar-10-batches-bin [epochs]
--   (EMBER_QUICK=1: a small subset)
local quick = os.getenv("EMBER_QUICK") == "1"
local outdir = os.getenv("EMBER_OUT") or "."
local cifar_dir = arg and arg[1] and not tonumber(arg[1]) and arg[1] or nil
local epochs = tonumber(arg and arg[cifar_dir and 2 or 1]) or (quick and 1 or 5)
ember.manual_seed(5)

local train_set, test_set, name
if cifar_dir then
  train_set, test_set, name = data.cifar10(cifar_dir, "train"), data.cifar10(cifar_dir, "test"), "CIFAR-10"
else
  train_set, test_set, name = data.fashion_mnist("train"), data.fashion_mnist("test"), "Fashion-MNIST"
end
local classes = test_set.classes
local channels = train_set.x.shape[2]
if quick then
  local function head(ds, k)
    k = math.min(k, #ds)
    return data.tensors(ds.x:narrow(1, 1, k), ds.y:narrow(1, 1, k))
  end
  train_set, test_set = head(train_set, 2000), head(test_set, 500)
end

local model = nn.Sequential(
  nn.Conv2d(channels, 6, 5, {padding = cifar_dir and 0 or 2}), nn.ReLU(), nn.MaxPool2d(2),
  nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
  nn.Flatten(),
  nn.Linear(400, 120), nn.ReLU(),
  nn.Linear(120, 84), nn.ReLU(),
  nn.Linear(84, 10))
print(model)

local opt = optim.SGD(model:parameters(), {lr = 0.01, momentum = 0.9})
local t0 = ember.wall_time()
local history = train.fit(model, train_set, {
  epochs = epochs, batch_size = 64, optimizer = opt, loss = "cross_entropy",
  metrics = {"accuracy"}, validation_data = test_set, seed = 5,
})
local seconds = ember.wall_time() - t0
local n_train = #train_set * history.epochs

local scores = train.predict(model, test_set.x)
local acc = metrics.accuracy(scores, test_set.y)
print(string.format("\n%s test accuracy %.4f after %d epochs%s", name, acc, history.epochs,
                    cifar_dir and "" or " (goal 0.87)"))
print(string.format("throughput %.0f samples/s (%d training samples in %.1f s, with per-epoch evaluation)",
                    n_train / seconds, n_train, seconds))
local cm = metrics.confusion_matrix(scores, test_set.y, classes)
print(cm)

if os.getenv("EMBER_PLOT") ~= "none" then plot.curves(history) end
local curves_png = outdir .. "/lenet_curves.png"
local cm_png = outdir .. "/lenet_confusion.png"
plot.curves(history, {save = curves_png, show = false})
plot.image(cm, {save = cm_png, show = false, title = "LeNet-5 on " .. name .. ": confusion matrix"})
print("saved " .. curves_png .. " and " .. cm_png)
