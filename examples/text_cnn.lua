-- text_cnn.lua: reference workload 7, a 1-D convolutional text classifier
-- (the seeds' Keras Embedding-Conv1D-MaxPooling1D-Dense(sigmoid) model) on
-- the `fortunes` texts: given a fortune from one of two files, say which.
-- Characters are the tokens (ids from data.vocab; one extra id pads short
-- texts and gets no gradient).  Model, with L = 300 characters:
--   Embedding(V+1,16) -> (N,L,16) -> transpose -> (N,16,L)
--   Conv1d(16,128,5)-ReLU-MaxPool1d(5) -> (N,128,59)
--   Conv1d(128,128,5)-ReLU -> (N,128,55), max over time -> (N,128)
--   Linear(128,1)-Sigmoid, binary cross-entropy, Adam.
-- Prints the test accuracy against the majority-class baseline, a few test
-- fortunes with their predicted file, and saves the curves as PNG.
--   ember examples/text_cnn.lua [category1 category2 [epochs]]
--   (default: computers and songs-poems; EMBER_QUICK=1: a small subset)
local quick = os.getenv("EMBER_QUICK") == "1"
local outdir = os.getenv("EMBER_OUT") or "."
local cat_a = arg and arg[1] or "computers"
local cat_b = arg and arg[2] or "songs-poems"
local epochs = tonumber(arg and arg[3]) or (quick and 1 or 10)
local L = 300
ember.manual_seed(7)

local fortunes = data.fortunes()
local texts, labels = {}, {}
for i = 1, #fortunes do
  local text, cat = fortunes:get(i)
  if cat == cat_a or cat == cat_b then
    texts[#texts + 1] = text
    labels[#labels + 1] = cat == cat_b and 1 or 0
  end
end
local n_in_b = 0
for _, l in ipairs(labels) do n_in_b = n_in_b + l end
if cat_a == cat_b or n_in_b == 0 or n_in_b == #labels then
  error("text_cnn: give two different categories among: " .. table.concat(fortunes.classes, " "), 0)
end
local vocab = data.vocab(texts)
local pad = #vocab + 1

-- ids (N,L) int64: the first L characters of each text, padded with `pad`
local rows = {}
for i, text in ipairs(texts) do
  local ids = vocab:encode(text):totable()
  local row = {}
  for j = 1, L do row[j] = ids[j] or pad end
  rows[i] = row
end
local x = ember.tensor(rows)
local y = ember.tensor(labels):float():view(-1, 1)
local all = data.tensors(x, y)
local train_set, test_set = data.split(all, 0.8, {seed = 7})
if quick then
  train_set = data.subset(train_set, ember.arange(1, 401))
  test_set = data.subset(test_set, ember.arange(1, 201))
end
local n_b = y:sum():item()
print(string.format("%d fortunes: %d from %s, %d from %s; %d characters in the vocabulary; %d train, %d test",
                    #texts, #texts - n_b, cat_a, n_b, cat_b, #vocab, #train_set, #test_set))

-- (N,L,C) embeddings -> (N,C,L) for Conv1d
local Transpose = nn.Module:extend("Transpose")
function Transpose:forward(t) return t:transpose(2, 3) end
-- (N,C,L) -> (N,C): the largest activation of each channel over the text
local GlobalMaxPool1d = nn.Module:extend("GlobalMaxPool1d")
function GlobalMaxPool1d:forward(t) return (t:max(3)) end

local model = nn.Sequential(
  nn.Embedding(pad, 16, {padding_idx = pad}), Transpose(),
  nn.Conv1d(16, 128, 5), nn.ReLU(), nn.MaxPool1d(5),
  nn.Conv1d(128, 128, 5), nn.ReLU(), GlobalMaxPool1d(),
  nn.Linear(128, 1), nn.Sigmoid())
print(model)

local t0 = ember.wall_time()
local history = train.fit(model, train_set, {
  epochs = epochs, batch_size = 32, optimizer = "adam", lr = 1e-3, loss = "bce",
  metrics = {"accuracy"}, validation_data = test_set, seed = 7,
})
local seconds = ember.wall_time() - t0

local res = train.evaluate(model, test_set, {loss = "bce", metrics = {"accuracy"}})
local _, ty = test_set:batch(ember.arange(1, #test_set + 1))
local frac_b = ty:mean():item()
print(string.format("\ntest accuracy %.4f (majority baseline %.4f), test loss %.4f after %d epochs",
                    res.accuracy, math.max(frac_b, 1 - frac_b), res.loss, history.epochs))
print(string.format("throughput %.0f samples/s (%d epochs in %.1f s)", #train_set * history.epochs / seconds,
                    history.epochs, seconds))

-- a few test fortunes and what the model thinks of them (p: the probability
-- of the second category)
local tx, txy = test_set:batch(ember.arange(1, math.min(5, #test_set) + 1))
local p = train.predict(model, tx):reshape(-1):totable()
local truth = txy:reshape(-1):totable()
for i = 1, #p do
  local ids = {}
  for _, id in ipairs(tx[i]:totable()) do if id ~= pad then ids[#ids + 1] = id end end
  local snippet = vocab:decode(ids):gsub("%s+", " "):gsub("^ ", ""):sub(1, 64)
  print(string.format("  predicted %-12s p=%.2f  true %-12s %s...", p[i] > 0.5 and cat_b or cat_a, p[i],
                      truth[i] > 0.5 and cat_b or cat_a, snippet))
end

if os.getenv("EMBER_PLOT") ~= "none" then plot.curves(history) end
local curves_png = outdir .. "/text_cnn_curves.png"
plot.curves(history, {save = curves_png, show = false})
print("saved " .. curves_png)
