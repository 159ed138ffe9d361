-- test_metrics.lua: ember.metrics against values worked out by hand:
-- accuracy, precision / recall / F1 (macro, micro, per class, binary) from
-- labels, from (N,K) scores and from one column of probabilities, and the
-- confusion matrix (orientation, printed table, errors).
local T = dofile("tests/lua/harness.lua")

-- y    = 1 1 1 1 2 2 3 3
-- pred = 1 1 2 3 2 2 2 3
-- confusion (rows true): [2 1 1] [0 2 0] [0 1 1]
-- class 1: tp 2 fp 0 fn 2 -> P 1,   R 1/2, F1 2/3
-- class 2: tp 2 fp 2 fn 0 -> P 1/2, R 1,   F1 2/3
-- class 3: tp 1 fp 1 fn 1 -> P 1/2, R 1/2, F1 1/2
local y = ember.tensor{1, 1, 1, 1, 2, 2, 3, 3}
local pred = ember.tensor{1, 1, 2, 3, 2, 2, 2, 3}

T.test("accuracy from labels, scores and lists", function()
  T.near(metrics.accuracy(pred, y), 5 / 8)
  local scores = ember.one_hot(pred, 3):float() * 0.8 + 0.1
  T.near(metrics.accuracy(scores, y), 5 / 8)
  T.near(metrics.accuracy({1, 2, 3}, {1, 2, 2}), 2 / 3)
  T.near(metrics.accuracy(pred, y:view(8, 1)), 5 / 8, 1e-12, "(N,1) labels")
  T.raises(function() metrics.accuracy(pred, ember.tensor{1, 2}) end, "8 predictions but 2 labels")
end)

T.test("precision, recall, f1: macro, micro, per class", function()
  T.near(metrics.precision(pred, y), (1 + 0.5 + 0.5) / 3)
  T.near(metrics.recall(pred, y), (0.5 + 1 + 0.5) / 3)
  T.near(metrics.f1(pred, y), (2 / 3 + 2 / 3 + 0.5) / 3)
  T.near(metrics.precision(pred, y, {average = "micro"}), 5 / 8)
  T.near(metrics.recall(pred, y, "micro"), 5 / 8)
  T.near(metrics.f1(pred, y, "micro"), 5 / 8)
  T.near(metrics.precision(pred, y, "none"), {1, 0.5, 0.5})
  T.near(metrics.recall(pred, y, "none"), {0.5, 1, 0.5})
  T.near(metrics.f1(pred, y, "none"), {2 / 3, 2 / 3, 0.5})
  -- scores give the same
  local scores = ember.one_hot(pred, 3):double()
  T.near(metrics.f1(scores, y), (2 / 3 + 2 / 3 + 0.5) / 3)
  -- a class never predicted scores 0, k= adds absent classes
  T.near(metrics.precision(ember.tensor{1, 1}, ember.tensor{1, 2}), (0.5 + 0) / 2)
  T.near(metrics.recall(ember.tensor{1, 1}, ember.tensor{1, 1}, {k = 4}), 1 / 4)
  T.raises(function() metrics.f1(pred, y, "weighted") end, "average must be")
end)

-- probs 0.9 0.2 0.6 0.4 0.7 -> pred 1 0 1 0 1; y 1 0 0 1 0
-- tp 1 (row 1), fp 2 (rows 3, 5), fn 1 (row 4): P 1/3, R 1/2, F1 0.4
T.test("binary: one column of probabilities, threshold 0.5", function()
  local probs = ember.tensor{{0.9}, {0.2}, {0.6}, {0.4}, {0.7}}
  local yb = ember.tensor{1.0, 0.0, 0.0, 1.0, 0.0}
  T.near(metrics.accuracy(probs, yb), 2 / 5)
  T.near(metrics.precision(probs, yb), 1 / 3)
  T.near(metrics.recall(probs, yb), 1 / 2)
  T.near(metrics.f1(probs, yb), 0.4)
  T.same(metrics.to_labels(probs):totable(), {1, 0, 1, 0, 1})
  -- macro over both classes: class 0 has tp 1 (row 2), fp 1 (row 4), fn 2 -> P 1/2
  T.near(metrics.precision(probs, yb, "macro"), (1 / 2 + 1 / 3) / 2)
  local cm = metrics.confusion_matrix(probs, yb)
  T.same(cm.counts, {{1, 2}, {1, 1}})
end)

T.test("confusion matrix: rows true, columns predicted, printed with names", function()
  local cm = metrics.confusion_matrix(pred, y)
  T.same(cm.counts, {{2, 1, 1}, {0, 2, 0}, {0, 1, 1}})
  T.same(cm.matrix:totable(), {{2, 1, 1}, {0, 2, 0}, {0, 1, 1}})
  T.eq(cm.matrix.dtype, "int64")
  T.eq(cm.matrix:sum():item(), 8)
  local named = metrics.confusion_matrix(pred, y, {"cat", "dog", "bird"})
  local s = tostring(named)
  local lines = {}
  for l in s:gmatch("[^\n]+") do lines[#lines + 1] = l end
  T.eq(#lines, 4)
  T.ok(lines[1]:find("cat") and lines[1]:find("dog") and lines[1]:find("bird"), s)
  T.ok(lines[2]:match("^cat%s+2%s+1%s+1$"), lines[2])
  T.ok(lines[4]:match("^bird%s+0%s+1%s+1$"), lines[4])
  -- aligned: every row has the same length
  for i = 2, 4 do T.eq(#lines[i], #lines[1]) end
  -- k larger than the labels seen
  local big = metrics.confusion_matrix(ember.tensor{1}, ember.tensor{1}, 3)
  T.same(big.counts, {{1, 0, 0}, {0, 0, 0}, {0, 0, 0}})
  T.raises(function() metrics.confusion_matrix(ember.tensor{4}, ember.tensor{1}, 3) end, "outside the 3 classes")
  T.raises(function() metrics.confusion_matrix(ember.tensor{-1}, ember.tensor{1}) end, "below")
end)

T.test("every public function has a docstring", function()
  for _, k in ipairs{"accuracy", "precision", "recall", "f1", "confusion_matrix", "to_labels"} do
    T.ok(ember.doc(metrics[k]), "metrics." .. k)
  end
end)

T.done()
