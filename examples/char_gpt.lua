-- char_gpt.lua: reference workload 9, the seeds' "large model" in small: a
-- character-level GPT trained on the text of the `fortunes` package.
--   ids (B,T) -> token embedding + position embedding -> (B,T,d)
--   -> n_layer x TransformerEncoderLayer(d, heads, causal, pre-norm, GELU)
--   -> LayerNorm -> Linear(d, V) -> logits (B,T,V)
-- trained to predict each next character (cross-entropy) with AdamW, a
-- cosine learning-rate decay and gradient clipping, on random windows of
-- the first 90% of the text; the last 10% is for validation.
-- Prints the unigram entropy of the text (the loss of a model that knows
-- only character frequencies), the validation loss (in nats per character,
-- which must fall well below it), the throughput, and fortunes sampled
-- with temperature; saves the loss curves as PNG.
-- The full run (1500 steps of 32 windows of 96 characters) takes about 5
-- minutes on 2 cores here and reaches 1.78 nats/char (unigram: 3.32); pass
-- fewer steps for a quicker look.
--   ember examples/char_gpt.lua [steps]       (EMBER_QUICK=1: a tiny model, few steps)
local quick = os.getenv("EMBER_QUICK") == "1"
local outdir = os.getenv("EMBER_OUT") or "."
local cfg = quick and {block = 32, d = 64, heads = 4, layers = 1, batch = 16, steps = 30, lr = 3e-3,
                       eval_every = 15, eval_batches = 4, sample_len = 120}
                  or {block = 96, d = 128, heads = 4, layers = 3, batch = 32, steps = 1500, lr = 2e-3,
                      eval_every = 125, eval_batches = 20, sample_len = 600}
cfg.steps = tonumber(arg and arg[1]) or cfg.steps
ember.manual_seed(9)

-- the text: every fortune, separated as in the fortune files by "%" lines
local fortunes = data.fortunes()
local text = table.concat(fortunes.texts, "\n%\n") .. "\n%\n"
if quick then text = text:sub(1, 200000):gsub("[\128-\255]*$", "") end  -- no cut UTF-8 character
local vocab = data.vocab(text)
local ids = vocab:encode(text)                      -- (n,) int64, 1-based
local n = ids:numel()
local V = #vocab

-- unigram entropy H = -sum p log p over character frequencies, in nats
local counts = ember.zeros(V, {dtype = "float64"}):scatter_add(1, ids, ember.ones(n, {dtype = "float64"}))
local p = counts[counts:gt(0)] / n
local unigram = -(p * p:log()):sum():item()
print(string.format("%d fortunes, %d characters, vocabulary of %d", #fortunes, n, V))
print(string.format("unigram entropy %.4f nats/char (%.3f bits)", unigram, unigram / math.log(2)))

local n_train = math.floor(n * 0.9)
local train_ids, val_ids = ids:narrow(1, 1, n_train), ids:narrow(1, n_train + 1, n - n_train)

-- B random windows of T+1 characters: inputs (B,T) and next-char targets (B,T)
local steps_t = ember.arange(0, cfg.block):view(1, cfg.block)
local function batch(src, B)
  local starts = ember.randint(1, src:numel() - cfg.block, {B, 1})
  local idx = (starts + steps_t):reshape(-1)
  local x = src:index_select(1, idx):view(B, cfg.block)
  local y = src:index_select(1, idx + 1):view(B, cfg.block)
  return x, y
end

-- the model ---------------------------------------------------------------------
local GPT = nn.Module:extend("GPT")
function GPT:init(vocab_size, c)
  self.block = c.block
  self.tok = nn.Embedding(vocab_size, c.d)
  self.pos = nn.Embedding(c.block, c.d)
  local layers = {}
  for i = 1, c.layers do
    layers[i] = nn.TransformerEncoderLayer(c.d, c.heads, {dim_feedforward = 4 * c.d, dropout = 0,
                                                          causal = true, norm_first = true, activation = "gelu"})
  end
  self.blocks = nn.ModuleList(layers)
  self.ln = nn.LayerNorm(c.d)
  self.head = nn.Linear(c.d, vocab_size)
end
function GPT:forward(x)                        -- x (B,t) int64, t <= block
  local t = x:size(2)
  local h = self.tok(x) + self.pos(ember.arange(1, t + 1))   -- (B,t,d) + (t,d)
  for i = 1, #self.blocks do h = self.blocks[i](h) end
  return self.head(self.ln(h))                 -- (B,t,V)
end

local model = GPT(V, cfg)
print(model)
print(string.format("%d parameters", model:num_parameters()))

local opt = optim.AdamW(model:parameters(), {lr = cfg.lr, weight_decay = 0.01})
local sched = optim.CosineAnnealingLR(opt, cfg.steps, cfg.lr / 10)

local function loss_of(x, y)
  local logits = model(x)
  return nn.cross_entropy(logits:view(-1, V), y:reshape(-1))
end

local function val_loss()
  model:eval()
  local s = ember.no_grad(function()
    local sum = 0
    for _ = 1, cfg.eval_batches do sum = sum + loss_of(batch(val_ids, cfg.batch)):item() end
    return sum / cfg.eval_batches
  end)
  model:train()
  return s
end

-- training ----------------------------------------------------------------------
local history = {loss = {}, val_loss = {}, step = {}}
local t0, running = ember.wall_time(), nil
for step = 1, cfg.steps do
  local x, y = batch(train_ids, cfg.batch)
  local loss = loss_of(x, y)
  opt:zero_grad()
  loss:backward()
  nn.clip_grad_norm_(model:parameters(), 1.0)
  opt:step()
  sched:step()
  local lv = loss:item()
  running = running and 0.9 * running + 0.1 * lv or lv
  if step % cfg.eval_every == 0 or step == cfg.steps then
    local vl = val_loss()
    history.loss[#history.loss + 1] = running
    history.val_loss[#history.val_loss + 1] = vl
    history.step[#history.step + 1] = step
    local el = ember.wall_time() - t0
    print(string.format("step %5d/%d  train loss %.4f  val loss %.4f  (%.0f s, %.0f tokens/s)", step, cfg.steps,
                        running, vl, el, step * cfg.batch * cfg.block / el))
  end
end
local seconds = ember.wall_time() - t0
local final_val = history.val_loss[#history.val_loss]
print(string.format("\nvalidation loss %.4f nats/char vs unigram entropy %.4f (%.0f%% of it) after %d steps",
                    final_val, unigram, 100 * final_val / unigram, cfg.steps))
print(string.format("throughput %.0f samples/s (%.0f tokens/s; %d windows of %d in %.1f s)",
                    cfg.steps * cfg.batch / seconds, cfg.steps * cfg.batch * cfg.block / seconds,
                    cfg.steps * cfg.batch, cfg.block, seconds))

-- sampling ----------------------------------------------------------------------
-- one character at a time: drawn from softmax(logits / temperature) of the
-- last position by ember.multinomial (so it follows ember.manual_seed)
local function sample(prompt, len, temperature)
  local ctx = vocab:encode(prompt):totable()
  local out = {}
  model:eval()
  ember.no_grad(function()
    for _ = 1, len do
      local from = math.max(1, #ctx - cfg.block + 1)
      local window = {table.unpack(ctx, from, #ctx)}
      local logits = model(ember.tensor({window}))[{1, #window}]      -- (V,)
      local pick = ember.multinomial((logits / temperature):softmax(1), 1):item()
      ctx[#ctx + 1] = pick
      out[#out + 1] = pick
    end
  end)
  model:train()
  return vocab:decode(out)
end

for _, temp in ipairs{0.8, 0.5} do
  print(string.format("\n--- sampled at temperature %.1f ---", temp))
  print(sample("%\n", cfg.sample_len, temp))
end

local fig = plot.figure{title = "char GPT on fortunes", xlabel = "step", ylabel = "nats/char"}:legend("center right")
fig:line(history.step, history.loss, {label = "train (running)", style = "linespoints"})
fig:line(history.step, history.val_loss, {label = "validation", style = "linespoints"})
fig:line({history.step[1], history.step[#history.step]}, {unigram, unigram}, {label = "unigram entropy"})
local png = outdir .. "/char_gpt_loss.png"
fig:save(png)
fig:show()
print("saved " .. png)
