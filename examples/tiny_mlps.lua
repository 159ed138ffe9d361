-- tiny_mlps.lua: reference workload 3, the seeds' two small PyTorch MLPs,
-- written with an explicit training loop (loader, forward, loss, backward,
-- optimizer step) instead of train.fit, to show the pieces fit is made of.
--
--  a) Linear(784,500)-ReLU-Linear(500,10) on Fashion-MNIST, Adam lr 1e-3,
--     batch 64, cross-entropy (10 epochs as in the seed); prints the loss per
--     epoch, the test accuracy and the throughput.
--  b) Linear(2,10)-ReLU-Linear(10,1) fitted to three points for 1000 full-
--     batch Adam steps.  The seed feeds the raw output to BCELoss, which is
--     only defined for probabilities; as in PyTorch proper we use
--     BCEWithLogits (sigmoid + BCE in one stable step) and apply the sigmoid
--     to read off probabilities.
-- Saves the MNIST loss curve and the tiny MLP's loss curve as PNG.
--   ember examples/tiny_mlps.lua [epochs]        (EMBER_QUICK=1: a small subset)
local quick = os.getenv("EMBER_QUICK") == "1"
local epochs = tonumber(arg and arg[1]) or (quick and 1 or 10)
local outdir = os.getenv("EMBER_OUT") or "."
ember.manual_seed(3)

-- a) 784-500-10 ----------------------------------------------------------------
local train_set = data.fashion_mnist("train")
local test_set = data.fashion_mnist("test")
if quick then
  train_set = data.tensors(train_set.x:narrow(1, 1, 2000), train_set.y:narrow(1, 1, 2000))
  test_set = data.tensors(test_set.x:narrow(1, 1, 500), test_set.y:narrow(1, 1, 500))
end

local SimpleModel = nn.Module:extend("SimpleModel")
function SimpleModel:init()
  self.fc1 = nn.Linear(784, 500)
  self.fc2 = nn.Linear(500, 10)
end
function SimpleModel:forward(x)
  x = x:view(x:size(1), -1)   -- (N,1,28,28) -> (N,784)
  return self.fc2(self.fc1(x):relu())
end

local model = SimpleModel()
print(model)
local opt = optim.Adam(model:parameters(), {lr = 1e-3})
local loader = data.loader(train_set, {batch_size = 64, shuffle = true})
local epoch_loss = {}
local t0 = ember.wall_time()
for epoch = 1, epochs do
  local sum, nb = 0, 0
  for images, labels in loader:batches() do
    local loss = nn.cross_entropy(model(images), labels)
    opt:zero_grad()
    loss:backward()
    opt:step()
    sum, nb = sum + loss:item(), nb + 1
  end
  epoch_loss[epoch] = sum / nb
  print(string.format("Epoch [%d/%d], Loss: %.4f", epoch, epochs, epoch_loss[epoch]))
end
local seconds = ember.wall_time() - t0

-- evaluation without recording a graph, batches of 1000 as in the seed
model:eval()
local correct, total = 0, 0
ember.no_grad(function()
  for images, labels in data.loader(test_set, {batch_size = 1000}):batches() do
    local _, predicted = model(images):max(2)
    correct = correct + predicted:eq(labels):sum():item()
    total = total + labels:size(1)
  end
end)
print(string.format("784-500-10 test accuracy %.4f after %d epochs", correct / total, epochs))
print(string.format("throughput %.0f samples/s (%d samples in %.1f s)", #train_set * epochs / seconds,
                    #train_set * epochs, seconds))

-- b) 2-10-1 on three points ----------------------------------------------------
local x = ember.tensor{{1.0, 2.0}, {2.0, 3.0}, {3.0, 4.0}}
local y = ember.tensor{{1.0}, {0.0}, {1.0}}
local tiny = nn.Sequential(nn.Linear(2, 10), nn.ReLU(), nn.Linear(10, 1))
local topt = optim.Adam(tiny:parameters(), {lr = 0.001})
local steps = quick and 300 or 1000
local tiny_loss = {}
for step = 1, steps do
  topt:zero_grad()
  local loss = nn.bce_with_logits(tiny(x), y)
  loss:backward()
  topt:step()
  tiny_loss[step] = loss:item()
  if step % (steps // 5) == 1 then print(string.format("step %4d, BCE loss: %.4f", step, tiny_loss[step])) end
end
local probs = ember.no_grad(function() return tiny(x):sigmoid() end)
print(string.format("2-10-1 final BCE loss %.4f after %d steps", tiny_loss[steps], steps))
print("predicted probabilities (targets 1, 0, 1):", probs:reshape(-1))

-- plots -------------------------------------------------------------------------
local fig = plot.figure{layout = {1, 2}}
fig:panel(1):title("784-500-10: training loss"):xlabel("epoch")
fig:line(epoch_loss, {label = "loss", style = "linespoints"})
fig:panel(2):title("2-10-1 on three points: BCE"):xlabel("step")
fig:line(tiny_loss, {label = "loss"})
local png = outdir .. "/tiny_mlps_loss.png"
fig:save(png)
fig:show()
print("saved " .. png)
