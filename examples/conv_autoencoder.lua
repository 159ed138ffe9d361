-- conv_autoencoder.lua: reference workload 8, a convolutional autoencoder
-- (self-supervised: the target is the input) on Fashion-MNIST.
--   encoder  Conv2d(1,16,3,pad 1)-ReLU-MaxPool2   (N,16,14,14)
--            Conv2d(16,8,3,pad 1)-ReLU-MaxPool2   (N,8,7,7): the 392-number code
--   decoder  Conv2d(8,8,3,pad 1)-ReLU              (N,8,7,7)
--            ConvTranspose2d(8,16,2,stride 2)-ReLU (N,16,14,14)
--            ConvTranspose2d(16,1,2,stride 2)-Sigmoid (N,1,28,28)
-- Adam lr 1e-3, batch 64, mean squared error.  Prints the test
-- reconstruction loss against the trivial baseline (predicting the mean
-- image), saves a PNG with test originals (top row) above their
-- reconstructions (bottom row), and the loss curves.
--   ember examples/conv_autoencoder.lua [epochs]   (EMBER_QUICK=1: a small subset)
local quick = os.getenv("EMBER_QUICK") == "1"
local epochs = tonumber(arg and arg[1]) or (quick and 1 or 5)
local outdir = os.getenv("EMBER_OUT") or "."
ember.manual_seed(8)

local train_x = data.fashion_mnist("train").x
local test_x = data.fashion_mnist("test").x
if quick then
  train_x, test_x = train_x:narrow(1, 1, 5000), test_x:narrow(1, 1, 500)
end

local encoder = nn.Sequential(
  nn.Conv2d(1, 16, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),
  nn.Conv2d(16, 8, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2))
local decoder = nn.Sequential(
  nn.Conv2d(8, 8, 3, {padding = 1}), nn.ReLU(),
  nn.ConvTranspose2d(8, 16, 2, {stride = 2}), nn.ReLU(),
  nn.ConvTranspose2d(16, 1, 2, {stride = 2}), nn.Sigmoid())
local model = nn.Sequential(encoder, decoder)
print(model)

local t0 = ember.wall_time()
local history = train.fit(model, {train_x, train_x}, {
  epochs = epochs, batch_size = 64, optimizer = "adam", lr = 1e-3, loss = "mse",
  validation_data = {test_x, test_x}, seed = 8,
})
local seconds = ember.wall_time() - t0

local res = train.evaluate(model, {test_x, test_x}, {loss = "mse"})
-- the best constant guess per pixel: the training set's mean image
local baseline = nn.mse_loss(train_x:mean(1, true):expand_as(test_x), test_x):item()
print(string.format("\ntest reconstruction MSE %.5f (mean-image baseline %.5f) after %d epochs",
                    res.loss, baseline, history.epochs))
print(string.format("throughput %.0f samples/s (%d training samples in %.1f s, with per-epoch evaluation)",
                    train_x.shape[1] * history.epochs / seconds, train_x.shape[1] * history.epochs, seconds))

-- originals above reconstructions: k test images side by side, (2*28, k*28)
local k = 8
local originals = test_x:narrow(1, 1, k)
local recon = train.predict(model, originals)
local function strip(batch)   -- (k,1,28,28) -> (28, k*28)
  local tiles = {}
  for i = 1, k do tiles[i] = batch[i]:squeeze(1) end
  return ember.cat(tiles, 2)
end
local grid = ember.cat({strip(originals), strip(recon)}, 1)
local recon_png = outdir .. "/conv_autoencoder_reconstructions.png"
local curves_png = outdir .. "/conv_autoencoder_curves.png"
plot.image(grid, {save = recon_png, show = os.getenv("EMBER_PLOT") ~= "none",
                  title = "test images (top) and their reconstructions (bottom)", size = {1000, 320}})
plot.curves(history, {save = curves_png, show = false})
print("saved " .. recon_png .. " and " .. curves_png)
