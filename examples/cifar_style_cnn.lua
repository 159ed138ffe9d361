-- cifar_style_cnn.lua: reference workload 6, the seeds' Keras CIFAR-10 CNN
--   Conv2d(C,32,3)-ReLU-MaxPool2-Conv2d(32,64,3)-ReLU-MaxPool2-
--   Conv2d(64,64,3)-ReLU-Flatten-Linear(F,64)-ReLU-Linear(64,10)
-- with Adam (lr 1e-3, batch 64) and cross-entropy.  On Fashion-MNIST
-- (1x28x28): 28 -> 26 -> 13 -> 11 -> 5 -> 3, F = 64*3*3 = 576; on CIFAR-10
-- (3x32x32): 32 -> 30 -> 15 -> 13 -> 6 -> 4, F = 64*4*4 = 1024.  Prints the
-- test accuracy and throughput, saves curves and the confusion matrix.
--   ember examples/cifar_style_cnn.lua [epochs]              Fashion-MNIST
--   ember examples/cifar_style_cnn.lua path/to/cifar-10-batches-bin [epochs]
--   (EMBER_QUICK=1: a small subset)
local quick = os.getenv("EMBER_QUICK") == "1"
local outdir = os.getenv("EMBER_OUT") or "."
local cifar_dir = arg and arg[1] and not tonumber(arg[1]) and arg[1] or nil
local epochs = tonumber(arg and arg[cifar_dir and 2 or 1]) or (quick and 1 or 5)
ember.manual_seed(6)

local train_set, test_set, name
if cifar_dir then
  train_set, test_set, name = data.cifar10(cifar_dir, "train"), data.cifar10(cifar_dir, "test"), "CIFAR-10"
else
  train_set, test_set, name = data.fashion_mnist("train"), data.fashion_mnist("test"), "Fashion-MNIST"
end
local classes = test_set.classes
local channels, side = train_set.x.shape[2], train_set.x.shape[3]
if quick then
  local function head(ds, k)
    k = math.min(k, #ds)
    return data.tensors(ds.x:narrow(1, 1, k), ds.y:narrow(1, 1, k))
  end
  train_set, test_set = head(train_set, 1500), head(test_set, 500)
end

-- spatial size after the three valid 3x3 convolutions and two 2x2 pools
local s = ((side - 2) // 2 - 2) // 2 - 2
local model = nn.Sequential(
  nn.Conv2d(channels, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
  nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
  nn.Conv2d(64, 64, 3), nn.ReLU(),
  nn.Flatten(),
  nn.Linear(64 * s * s, 64), nn.ReLU(),
  nn.Linear(64, 10))
print(model)

local t0 = ember.wall_time()
local history = train.fit(model, train_set, {
  epochs = epochs, batch_size = 64, optimizer = "adam", lr = 1e-3, loss = "cross_entropy",
  metrics = {"accuracy"}, validation_data = test_set, seed = 6,
})
local seconds = ember.wall_time() - t0
local n_train = #train_set * history.epochs

local scores = train.predict(model, test_set.x)
local acc = metrics.accuracy(scores, test_set.y)
print(string.format("\n%s test accuracy %.4f after %d epochs", name, acc, history.epochs))
print(string.format("throughput %.0f samples/s (%d training samples in %.1f s, with per-epoch evaluation)",
                    n_train / seconds, n_train, seconds))
local cm = metrics.confusion_matrix(scores, test_set.y, classes)
print(cm)

if os.getenv("EMBER_PLOT") ~= "none" then plot.curves(history) end
local curves_png = outdir .. "/cifar_style_cnn_curves.png"
local cm_png = outdir .. "/cifar_style_cnn_confusion.png"
plot.curves(history, {save = curves_png, show = false})
plot.image(cm, {save = cm_png, show = false, title = "CIFAR-style CNN on " .. name .. ": confusion matrix"})
print("saved " .. curves_png .. " and " .. cm_png)
