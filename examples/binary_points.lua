-- binary_points.lua: reference workload 1, binary classification of 1000
-- random points of the unit square, labelled 1 when x1 + x2 > 1.
-- Linear(2,64)-ReLU-Linear(64,1)-Sigmoid, Adam, binary cross-entropy,
-- 10 epochs, batch 32, the last 20% held out for validation.  Evaluates on
-- 1000 fresh points, prints loss, accuracy and throughput, and saves a
-- scatter plot of the fresh points coloured by predicted label (with the true
-- boundary x1 + x2 = 1 drawn) and the training curves.
--   ember examples/binary_points.lua [epochs]     (EMBER_QUICK=1: 3 epochs)
local quick = os.getenv("EMBER_QUICK") == "1"
local epochs = tonumber(arg and arg[1]) or (quick and 3 or 10)
local outdir = os.getenv("EMBER_OUT") or "."
ember.manual_seed(0)

-- x (N,2) uniform in [0,1); y (N,1) float 0/1
local function points(n)
  local x = ember.rand(n, 2)
  local y = x:sum(2, true):gt(1):float()
  return x, y
end
local x, y = points(1000)
local x_test, y_test = points(1000)

local model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())
print(model)

local t0 = ember.wall_time()
local history = train.fit(model, {x, y}, {
  epochs = epochs, batch_size = 32, optimizer = "adam", lr = 1e-3, loss = "bce",
  metrics = {"accuracy"}, validation_split = 0.2, seed = 0,
})
local seconds = ember.wall_time() - t0

local res = train.evaluate(model, {x_test, y_test}, {loss = "bce", metrics = {"accuracy"}})
print(string.format("\nvalidation accuracy %.4f (last epoch)", history:last("val_accuracy")))
print(string.format("test loss %.4f, test accuracy %.4f on 1000 fresh points", res.loss, res.accuracy))
print(string.format("throughput %.0f samples/s (%d epochs in %.2f s)", 800 * history.epochs / seconds,
                    history.epochs, seconds))

-- predictions of the fresh points: probability -> label 0/1
local prob = train.predict(model, x_test):reshape(-1)
local pred = prob:gt(0.5):long()
local fig = plot.figure{title = "predicted labels (x1 + x2 > 1 is class 1)", xlabel = "x1", ylabel = "x2"}
-- class names are looked up by 1-based label, so colour by pred + 1
fig:scatter(x_test[{{}, 1}], x_test[{{}, 2}], {color = pred + 1, classes = {"predicted 0", "predicted 1"}})
fig:line({0, 1}, {1, 0}, {label = "true boundary"})
local scatter_png = outdir .. "/binary_points_scatter.png"
local curves_png = outdir .. "/binary_points_curves.png"
fig:save(scatter_png)
fig:show()
plot.curves(history, {save = curves_png, show = false})
print("saved " .. scatter_png .. " and " .. curves_png)
