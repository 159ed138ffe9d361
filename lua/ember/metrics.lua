-- ember.metrics: classification metrics (accuracy, precision, recall, F1 with
-- macro / micro / binary / per-class averaging) and the confusion matrix,
-- which prints as an aligned table with class names.
--
-- Every metric takes predictions and true labels.  Predictions may be
-- labels (an integer tensor or a list) or scores: a 2-D score tensor with
-- several columns means argmax along dim 2 (labels 1..K); a float tensor of
-- one column (or 1-D) holds probabilities, thresholded at 0.5 (labels 0/1,
-- the targets of a BCE model).  True labels may be (N) or (N,1), integer or
-- float (0./1. targets).  Counting runs on Lua tables: O(N) with no K x N
-- temporaries.
local ember = require("ember")
local class = require("ember.class")

local M = {}

local function doc(v, text) ember.doc(v, text); return v end

-- Predicted labels as an int64 tensor (N), and whether they came from
-- thresholding probabilities (binary 0/1 labels).
local function to_labels(pred, fname)
  if type(pred) == "table" and not ember.is_tensor(pred) then pred = ember.tensor(pred) end
  if not ember.is_tensor(pred) then error(fname .. ": predictions must be a tensor or a list", 3) end
  if pred:dim() == 2 and pred.shape[2] > 1 then return pred:argmax(2):reshape(-1), false end
  if pred:dim() == 2 then pred = pred:reshape(-1) end
  if pred:dim() ~= 1 then
    error(fname .. ": predictions must be 1-D labels or (N,K) scores, got shape ["
          .. table.concat(pred.shape, ", ") .. "]", 3)
  end
  if pred.dtype == "float32" or pred.dtype == "float64" then return pred:ge(0.5):long(), true end
  return pred:long(), false
end
M.to_labels = doc(function(pred) return (to_labels(pred, "metrics.to_labels")) end,
  [[metrics.to_labels(pred) -> Tensor

Predicted labels: argmax along dim 2 of (N,K) scores, 0/1 from one column of
probabilities (threshold 0.5), or the labels themselves (int64).]])

local function to_targets(y, n, fname)
  if type(y) == "table" and not ember.is_tensor(y) then y = ember.tensor(y) end
  if not ember.is_tensor(y) then error(fname .. ": labels must be a tensor or a list", 3) end
  y = y:reshape(-1)
  if y:numel() ~= n then
    error(string.format("%s: %d predictions but %d labels", fname, n, y:numel()), 3)
  end
  if y.dtype == "float32" or y.dtype == "float64" then y = y:round() end
  return y:long()
end

local function prepare(pred, y, fname)
  local p, binary = to_labels(pred, fname)
  local t = to_targets(y, p:numel(), fname)
  return p, t, binary
end

M.accuracy = doc(function(pred, y)
  local p, t = prepare(pred, y, "metrics.accuracy")
  local n = p:numel()
  if n == 0 then return 0 / 0 end
  return p:eq(t):sum():item() / n
end, [[metrics.accuracy(pred, y) -> number

Fraction of predictions equal to the labels (pred: labels or scores).]])

-- Counts per class.  Labels 0..K-1 (binary, from probabilities) or 1..K.
-- Returns the K x K table (rows true, columns predicted), K and the label
-- of the first class (0 or 1).
local function count(p, t, k, binary, fname)
  local pl, tl = p:totable(), t:totable()
  local base = 1
  local lo, hi = math.huge, -math.huge
  for i = 1, #pl do
    local a, b = pl[i], tl[i]
    if a < lo then lo = a end
    if b < lo then lo = b end
    if a > hi then hi = a end
    if b > hi then hi = b end
  end
  if binary or lo == 0 then base = 0 end
  if lo < base and #pl > 0 then
    error(string.format("%s: label %d below %d (labels are 1-based)", fname, lo, base), 3)
  end
  k = k or (#pl > 0 and math.max(hi - base + 1, binary and 2 or 1) or (binary and 2 or 0))
  if #pl > 0 and hi - base + 1 > k then
    error(string.format("%s: label %d outside the %d classes", fname, hi, k), 3)
  end
  local cm = {}
  for i = 1, k do
    local row = {}
    for j = 1, k do row[j] = 0 end
    cm[i] = row
  end
  for i = 1, #pl do
    local r = cm[tl[i] - base + 1]
    local c = pl[i] - base + 1
    r[c] = r[c] + 1
  end
  return cm, k, base
end

-- per-class tp, fp, fn from the count table
local function per_class(cm, k)
  local tp, fp, fn = {}, {}, {}
  for c = 1, k do
    tp[c], fp[c], fn[c] = cm[c][c], 0, 0
    for o = 1, k do
      if o ~= c then
        fp[c] = fp[c] + cm[o][c]
        fn[c] = fn[c] + cm[c][o]
      end
    end
  end
  return tp, fp, fn
end

local function ratio(a, b) if b == 0 then return 0 end return a / b end

local function score(kind, pred, y, opts, fname)
  opts = opts or {}
  if type(opts) == "string" then opts = {average = opts} end
  local p, t, binary = prepare(pred, y, fname)
  local cm, k, base = count(p, t, opts.k or opts.num_classes, binary, fname)
  local average = opts.average or (binary and "binary" or "macro")
  local tp, fp, fn = per_class(cm, k)
  local function one(a, b, c)   -- tp, fp, fn of one class or of the sums
    local prec, rec = ratio(a, a + b), ratio(a, a + c)
    if kind == "precision" then return prec end
    if kind == "recall" then return rec end
    return ratio(2 * prec * rec, prec + rec)
  end
  if average == "micro" then
    local a, b, c = 0, 0, 0
    for i = 1, k do a, b, c = a + tp[i], b + fp[i], c + fn[i] end
    return one(a, b, c)
  elseif average == "binary" then
    local pos = (opts.pos_label or 1) - base + 1
    if pos < 1 or pos > k then error(fname .. ": pos_label outside the classes", 2) end
    return one(tp[pos], fp[pos], fn[pos])
  elseif average == "macro" or average == "none" then
    local vals, sum = {}, 0
    for i = 1, k do
      vals[i] = one(tp[i], fp[i], fn[i])
      sum = sum + vals[i]
    end
    if average == "none" then return vals end
    return k > 0 and sum / k or 0 / 0
  end
  error(fname .. ': average must be "macro", "micro", "binary" or "none", got ' .. tostring(average), 2)
end

local avg_doc = [[

average: "macro" (the mean over classes; default for multi-class),
"micro" (from the summed counts), "binary" (class pos_label=1 only; default
when pred holds probabilities), "none" (a list per class).  k= fixes the
number of classes.  A class never predicted (or absent) counts as 0.]]

M.precision = doc(function(pred, y, opts) return score("precision", pred, y, opts, "metrics.precision") end,
  "metrics.precision(pred, y [, {average=, k=, pos_label=}]) -> number\n\ntp / (tp + fp)." .. avg_doc)
M.recall = doc(function(pred, y, opts) return score("recall", pred, y, opts, "metrics.recall") end,
  "metrics.recall(pred, y [, {average=, k=, pos_label=}]) -> number\n\ntp / (tp + fn)." .. avg_doc)
M.f1 = doc(function(pred, y, opts) return score("f1", pred, y, opts, "metrics.f1") end,
  "metrics.f1(pred, y [, {average=, k=, pos_label=}]) -> number\n\n2 precision recall / (precision + recall)."
  .. avg_doc)

-- ------------------------------------------------------- confusion matrix --

local Confusion = class("ConfusionMatrix")
M.ConfusionMatrix = Confusion

function Confusion.__tostring(self)
  local k, names = self.k, {}
  for i = 1, k do names[i] = tostring(self.classes and self.classes[i] or (i - 1 + self.base)) end
  -- columns as wide as the counts, names cut to at most 8 characters there
  -- (rows show them whole), so ten classes fit a terminal
  local w, namew = 1, #"true \\ pred"
  for i = 1, k do
    w = math.max(w, math.min(#names[i], 8))
    namew = math.max(namew, #names[i])
    for j = 1, k do w = math.max(w, #tostring(self.counts[i][j])) end
  end
  local rowlab = namew
  local lines = {}
  local head = {string.format("%-" .. rowlab .. "s", "true \\ pred")}
  for j = 1, k do head[#head + 1] = string.format("%" .. w .. "s", names[j]:sub(1, w)) end
  lines[1] = table.concat(head, "  ")
  for i = 1, k do
    local row = {string.format("%-" .. rowlab .. "s", names[i])}
    for j = 1, k do row[#row + 1] = string.format("%" .. w .. "d", self.counts[i][j]) end
    lines[#lines + 1] = table.concat(row, "  ")
  end
  return table.concat(lines, "\n")
end
Confusion.__len = function(self) return self.k end

function Confusion:totable() return self.counts end
doc(Confusion.totable, "cm:totable() -> {{...}, ...}\n\nThe counts as nested lists (rows true, columns predicted).")
doc(Confusion, "metrics.ConfusionMatrix: counts by true (rows) and predicted (columns) class; print(cm) shows a table.")

M.confusion_matrix = doc(function(pred, y, k)
  local classes
  if type(k) == "table" then classes, k = k, #k end
  local p, t, binary = prepare(pred, y, "metrics.confusion_matrix")
  local cm, kk, base = count(p, t, k, binary, "metrics.confusion_matrix")
  local flat = {}
  for i = 1, kk do flat[i] = cm[i] end
  local matrix = kk > 0 and ember.tensor(flat) or ember.zeros(0, 0, {dtype = "int64"})
  return setmetatable({counts = cm, matrix = matrix, k = kk, base = base, classes = classes}, Confusion)
end, [[metrics.confusion_matrix(pred, y [, k | class_names]) -> ConfusionMatrix

Counts with true classes as rows and predicted classes as columns:
cm.matrix (a k x k int64 tensor), cm.counts (nested lists), cm.classes;
print(cm) shows an aligned table with the class names; plot.image(cm)
draws it.]])

doc(M, [[metrics: classification metrics

metrics.accuracy, precision, recall, f1 (macro / micro / binary / per class)
and confusion_matrix, from labels or scores.]])

return M
