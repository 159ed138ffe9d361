-- test_linalg.lua: ember.linalg against values PyTorch 1.13 printed
-- (torch.linalg on the same inputs, written here as literals), identities
-- (A inv(A) = I, Q R = A, U S Vh = A, L L^T = A, V diag(w) V^T = A),
-- batched and broadcast shapes, float32, the torch aliases, and errors.
-- Gradients are checked in test_autograd.lua (checks table) and below for
-- the compositions.
local T = dofile("tests/lua/harness.lua")
local L = ember.linalg

local function f64(t) return ember.tensor(t, "float64") end
local A = f64{{4, 1, 2}, {1, 5, 3}, {2, 3, 6}}         -- symmetric positive-definite
local N = f64{{2, -1, 0.5}, {1, 3, -2}, {0, 1, 4}}     -- not symmetric, det 32.5
local B = f64{{1, -2, 3}, {4, 0, -6}}                  -- 2 x 3
local I3 = ember.eye(3, {dtype = "float64"})

local function maxdiff(x, y) return (x - y):abs():max():item() end
local function close(x, y, tol, msg)
  local d = maxdiff(x, y)
  if not (d <= (tol or 1e-10)) then error((msg or "close") .. ": max difference " .. d, 2) end
end

-- columns of x equal to those of y up to a sign each (eigenvectors, singular vectors)
local function close_up_to_sign(x, y, tol)
  local s = (x * y):sum(-2, true):sign()
  close(x * s, y, tol)
end

T.test("inv, det, slogdet: values vs PyTorch", function()
  T.near(L.inv(N):totable(), {{0.4307692307692308, 0.13846153846153847, 0.015384615384615385},
                              {-0.12307692307692307, 0.24615384615384614, 0.13846153846153847},
                              {0.03076923076923077, -0.06153846153846154, 0.2153846153846154}}, 1e-12)
  T.near(L.det(N):item(), 32.5, 1e-12)
  local s, l = L.slogdet(-N)
  T.eq(s:item(), -1)
  T.near(l:item(), 3.4812400893, 1e-9)
  T.near(L.det(ember.stack({A, N, A - N})):totable(), {70, 32.5, 2}, 1e-12)
  close(N:matmul(L.inv(N)), I3)
  close(L.inv(N):matmul(N), I3)
  -- singular: det 0, slogdet (0, -inf), inv an error
  local S = ember.tensor{{1.0, 2}, {2, 4}}
  T.eq(L.det(S):item(), 0)
  local ss, sl = L.slogdet(S)
  T.eq(ss:item(), 0)
  T.eq(sl:item(), -math.huge)
  T.raises(function() L.inv(S) end, "singular")
  -- aliases
  close(N:inverse(), L.inv(N))
  close(ember.inverse(N), L.inv(N))
  T.near(N:det():item(), 32.5, 1e-12)
  T.near(ember.det(N):item(), 32.5, 1e-12)
  T.near(N:logdet():item(), 3.481240089335692, 1e-12)
  T.ok(((-N):logdet():item()) ~= ((-N):logdet():item()), "logdet of a negative det is NaN")
  local s2, l2 = N:slogdet()
  T.eq(s2:item(), 1)
  T.near(l2:item(), 3.481240089335692, 1e-12)
end)

T.test("solve: vectors, matrices, batches, broadcasting", function()
  T.near(L.solve(N, f64{1, 2, 3}):totable(), {0.7538461538461538, 0.7846153846153847, 0.553846153846154}, 1e-12)
  T.near(L.solve(N, B:t()):totable(), {{0.2, 1.6307692307692307}, {-0.2, -1.323076923076923},
                                       {0.8, -1.1692307692307693}}, 1e-12)
  -- batch of A with one B, one A with a batch of B, broadcast batch dims
  local As = ember.stack({A, N})                               -- (2, 3, 3)
  local X = L.solve(As, B:t())                                 -- (2, 3, 2)
  T.same(X.shape, {2, 3, 2})
  close(As:matmul(X), B:t():expand(2, 3, 2))
  local Bs = ember.randn(4, 1, 3, 5, {dtype = "float64"})
  local Y = L.solve(As, Bs)                                    -- (4, 2, 3, 5)
  T.same(Y.shape, {4, 2, 3, 5})
  close(As:matmul(Y), Bs:expand(4, 2, 3, 5))
  -- a batch of vectors: B (..., n) with A (..., n, n)
  local v = ember.randn(2, 3, {dtype = "float64"})
  local x = L.solve(As, v)
  T.same(x.shape, {2, 3})
  close(As:matmul(x:unsqueeze(-1)):squeeze(-1), v)
  -- non-contiguous inputs
  close(L.solve(N:t(), B:t()), L.solve(N:t():contiguous(), B:t():contiguous()))
  -- float32
  local x32 = L.solve(N:float(), ember.tensor{1.0, 2, 3})
  T.eq(x32.dtype, "float32")
  T.near(x32:totable(), {0.7538461538461538, 0.7846153846153847, 0.553846153846154}, 1e-5)
end)

T.test("solve_triangular vs PyTorch", function()
  local Lt = f64{{2, 0, 0}, {1, 3, 0}, {-1, 2, 4}}
  local R = f64{{1, 2}, {3, 4}, {5, 6}}
  T.near(L.solve_triangular(Lt, R, {upper = false}):totable(), {{0.5, 1}, {0.8333333333333333, 1}, {0.9583333333333334, 1.25}}, 1e-12)
  local want = {{1.0416666666666667, 1.5833333333333333}, {0.16666666666666666, 0.3333333333333333}, {1.25, 1.5}}
  T.near(L.solve_triangular(Lt:t(), R, {upper = true}):totable(), want, 1e-12)
  T.near(L.solve_triangular(Lt, R, {upper = false, unitriangular = true}):totable(), {{1, 2}, {2, 2}, {2, 4}}, 1e-12)
  T.near(L.solve_triangular(Lt, R:t(), {upper = false, left = false}):t():totable(), want, 1e-12)
  -- only the named triangle is read
  close(L.solve_triangular(Lt + f64{{0, 9, 9}, {0, 0, 9}, {0, 0, 0}}, R, {upper = false}), L.solve_triangular(Lt, R, {upper = false}))
  -- after cholesky: A^-1 B by two triangular solves
  local C = L.cholesky(A)
  local Y = L.solve_triangular(C, R, {upper = false})
  close(L.solve_triangular(C:t(), Y, {upper = true}), L.solve(A, R))
  -- batched, broadcast
  local Xs = L.solve_triangular(ember.stack({Lt, Lt * 2}), R, {upper = false})
  T.same(Xs.shape, {2, 3, 2})
  close(Xs:select(1, 2), L.solve_triangular(Lt, R, {upper = false}) / 2)
  T.raises(function() L.solve_triangular(Lt, R) end, "upper")
  T.raises(function() L.solve_triangular(Lt, R:t(), {upper = false}) end, "do not match")
end)

T.test("lu_factor, lu, lu_solve vs PyTorch", function()
  local LU, piv = L.lu_factor(N)
  close(LU, f64{{2, -1, 0.5}, {0.5, 3.5, -2.25}, {0, 0.2857142857142857, 4.642857142857142}}, 1e-12)
  T.eq(piv.dtype, "int32")
  T.same(piv:totable(), {1, 2, 3})
  local R = f64{{0, 2, 1, 4}, {1, 1, 1, 1}, {3, 0, 2, 1}}
  local P, Lo, U = L.lu(R)
  close(P, f64{{0, 1, 0}, {0, 0, 1}, {1, 0, 0}})
  close(Lo, f64{{1, 0, 0}, {0, 1, 0}, {0.3333333333333333, 0.5, 1}}, 1e-12)
  close(U, f64{{3, 0, 2, 1}, {0, 2, 1, 4}, {0, 0, -0.16666666666666652, -1.3333333333333335}}, 1e-12)
  local P2, L2, U2 = L.lu(R:t())   -- tall
  close(P2:matmul(L2):matmul(U2), R:t())
  local Bm = f64{{1, 2}, {3, 4}, {5, 6}}
  close(L.lu_solve(LU, piv, Bm), L.solve(N, Bm))
  close(L.lu_solve(LU, piv, Bm, {adjoint = true}), L.solve(N:t(), Bm))
  close(L.lu_solve(LU, piv, Bm:t(), {left = false}), L.solve(N:t(), Bm):t())
  local As = ember.stack({A, N})
  local LUs, ps = L.lu_factor(As)
  close(L.lu_solve(LUs, ps, Bm), L.solve(As, Bm))
  T.raises(function() L.lu_solve(LU, ember.tensor({1, 7, 3}, "int32"), Bm) end, "pivot 2 is 7, outside 1..3")
  T.raises(function() L.lu_solve(LU, ember.tensor({1, 2}, "int32"), Bm) end, "pivots must be an integer tensor of shape [3]")
  T.raises(function() L.lu_factor(N:clone():requires_grad_()) end, "no gradient")
end)

T.test("cholesky", function()
  local Lc = L.cholesky(A)
  T.near(Lc:totable(), {{2, 0, 0}, {0.5, 2.179449471770337, 0}, {1, 1.1470786693528088, 1.9194297398747862}}, 1e-12)
  close(Lc:matmul(Lc:t()), A)
  close(L.cholesky(A, {upper = true}), Lc:t())
  close(A:cholesky(), Lc)
  -- only the lower triangle is read
  close(L.cholesky(A:tril()), Lc)
  -- batched
  local As = ember.stack({A, A * 2})
  local Ls = L.cholesky(As)
  close(Ls:matmul(Ls:transpose(-2, -1)), As)
  T.raises(function() L.cholesky(-A) end, "not positive-definite")
  T.raises(function() L.cholesky(ember.stack({A, -A})) end, "matrix 2 of 2")
end)

T.test("eigh and eigvalsh", function()
  local w, V = L.eigh(A)
  T.near(w:totable(), {2.1943971674224096, 3.3867701566075494, 9.418832675970037}, 1e-12)
  close_up_to_sign(V, f64{{-0.4412246968734643, -0.8155834192895002, -0.3743587224160361},
                          {-0.5773502691896256, 0.577350269189626, -0.5773502691896255},
                          {0.6870134158337712, -0.038605088352622774, -0.7256185041863938}}, 1e-12)
  close((V * w:unsqueeze(-2)):matmul(V:t()), A)
  close(V:t():matmul(V), I3)
  close(L.eigvalsh(A), w)
  -- UPLO: 'L' reads the lower triangle, 'U' the upper one
  close(L.eigvalsh(A:tril()), w)
  close(L.eigvalsh(A:triu(), "U"), w)
  local As = ember.stack({A, A * -1})
  local ws, Vs = L.eigh(As)
  T.same(ws.shape, {2, 3})
  close((Vs * ws:unsqueeze(-2)):matmul(Vs:transpose(-2, -1)), As)
  T.raises(function() L.eigh(A, "X") end, "UPLO")
end)

T.test("svd and svdvals", function()
  local U, S, Vh = L.svd(B, false)
  T.near(S:totable(), {7.523353470521766, 3.065803737617284}, 1e-12)
  close_up_to_sign(U, f64{{-0.3122051910576058, 0.9500146939267223}, {0.9500146939267224, 0.3122051910576058}}, 1e-12)
  close_up_to_sign(Vh:t(), f64{{0.4636035776220668, 0.08299628411210455, -0.8821470056853353},
                               {0.7172133790488692, -0.6197491915546203, 0.3186156124245917}}:t(), 1e-12)
  close((U * S:unsqueeze(-2)):matmul(Vh), B)
  -- full_matrices (the default): square orthogonal U and Vh
  local Uf, Sf, Vhf = L.svd(B)
  T.same(Uf.shape, {2, 2})
  T.same(Vhf.shape, {3, 3})
  close(Vhf:matmul(Vhf:t()), I3)
  close((Uf * Sf:unsqueeze(-2)):matmul(Vhf:narrow(1, 1, 2)), B)
  -- tall, batched, float32
  local X = ember.randn(3, 5, 2, {dtype = "float64"})
  local Ux, Sx, Vx = L.svd(X, false)
  T.same(Ux.shape, {3, 5, 2})
  close((Ux * Sx:unsqueeze(-2)):matmul(Vx), X)
  close(L.svdvals(X), Sx)
  T.near(L.svdvals(N:float()):totable(), {4.579855918884277, 3.2343740463256836, 2.1940231323242188}, 1e-5)
end)

T.test("qr", function()
  local Q, R = L.qr(B:t())
  close(Q, f64{{-0.2672612419124243, -0.8111071056538126}, {0.5345224838248488, 0.3244428422615251},
               {-0.8017837257372732, 0.4866642633922875}}, 1e-12)
  close(R, f64{{-3.7416573867739413, 3.741657386773942}, {0, -6.164414002968976}}, 1e-12)
  close(Q:matmul(R), B:t())
  close(Q:t():matmul(Q), ember.eye(2, {dtype = "float64"}))
  local Qc, Rc = L.qr(B:t(), "complete")
  T.same(Qc.shape, {3, 3})
  T.same(Rc.shape, {3, 2})
  close(Qc:matmul(Rc), B:t())
  close(Qc:t():matmul(Qc), I3)
  local Q0, R0 = L.qr(B:t(), "r")
  T.eq(Q0:numel(), 0)
  close(R0, R)
  -- wide and batched
  local W = ember.randn(2, 3, 5, {dtype = "float64"})
  local Qw, Rw = L.qr(W)
  T.same(Qw.shape, {2, 3, 3})
  T.same(Rw.shape, {2, 3, 5})
  close(Qw:matmul(Rw), W)
  close(Rw, Rw:triu())
  T.raises(function() L.qr(B, "full") end, "mode")
  T.raises(function() L.qr(B:t():clone():requires_grad_(), "complete") end, "no gradient for mode='complete' with a 3 x 2 matrix")
  T.raises(function() L.qr(B:clone():requires_grad_(), "r") end, "no gradient for mode='r'")
end)

T.test("norms vs PyTorch", function()
  local want = {fro = 6.020797289396148, nuc = 10.008253947670728, [2] = 4.57985650559311,
                [-2] = 2.1940232729450635, [1] = 6.5, [-1] = 3.0, inf = 6.0, ["-inf"] = 3.5}
  for ord, v in pairs(want) do T.near(L.matrix_norm(N, ord):item(), v, 1e-12, "matrix_norm " .. ord) end
  T.near(L.matrix_norm(N, math.huge):item(), 6.0, 1e-12)
  local vwant = {[2] = 6.020797289396148, [1] = 14.5, [0] = 8.0, [3] = 4.793234101786353, inf = 4.0,
                 ["-inf"] = 0.0, [-1] = 0.0, [0.5] = 105.423295848932}
  for ord, v in pairs(vwant) do T.near(L.vector_norm(N, ord):item(), v, 1e-12, "vector_norm " .. ord) end
  T.near(L.vector_norm(N, 2, 1, true):totable(), {{2.23606797749979, 3.3166247903554, 4.5}}, 1e-12)
  T.same(L.vector_norm(ember.randn(2, 3, 4), 2, {1, 3}).shape, {3})
  T.same(L.vector_norm(ember.randn(2, 3, 4), 1, {1, 3}, true).shape, {1, 3, 1})
  T.near(L.norm(N):item(), 6.020797289396148, 1e-12)
  T.near(L.norm(N, "nuc"):item(), 10.008253947670728, 1e-12)
  T.near(L.norm(f64{3, 4}, 1):item(), 7, 1e-12)
  -- batched matrix norms over chosen dims
  local X = ember.randn(4, 3, 2, {dtype = "float64"})
  T.same(L.matrix_norm(X, 2).shape, {4})
  close(L.matrix_norm(X, "nuc", {1, 3}), L.matrix_norm(X:permute(2, 1, 3), "nuc"))
  T.same(L.matrix_norm(X, 1, {1, 2}, true).shape, {1, 1, 2})
  T.raises(function() L.matrix_norm(N, 3) end, "ord")
  T.raises(function() L.vector_norm(ember.tensor{1, 2}) end, "float32 or float64")
end)

T.test("cond, matrix_rank, pinv, lstsq vs PyTorch", function()
  T.near(L.cond(N):item(), 2.087423849176182, 1e-12)
  T.near(L.cond(N, 1):item(), 3.8, 1e-12)
  T.near(L.cond(N, "fro"):item(), 3.567066651611856, 1e-12)
  T.near(L.cond(N, -2):item(), 0.47905939198436276, 1e-12)
  T.eq(L.matrix_rank(ember.tensor{{1.0, 2, 3}, {2, 4, 6}, {1, 0, 1}}):item(), 2)
  T.eq(L.matrix_rank(A):item(), 3)
  T.eq(L.matrix_rank(A, {hermitian = true}):item(), 3)
  T.eq(L.matrix_rank(A, 100):item(), 0)
  T.same(L.matrix_rank(ember.stack({A, A * 0})):totable(), {3, 0})
  T.eq(L.matrix_rank(A).dtype, "int64")
  local P = L.pinv(B)
  T.near(P:totable(), {{0.20300751879699247, 0.1315789473684211}, {-0.19548872180451127, -0.052631578947368446},
                       {0.13533834586466162, -0.07894736842105264}}, 1e-12)
  close(B:matmul(P):matmul(B), B)
  close(L.pinv(A, {hermitian = true}), L.inv(A))
  close(B:pinverse(), P)
  close(L.pinv(f64{{1, 0}, {0, 1e-3}}, 1e-2), f64{{1, 0}, {0, 0}})  -- a number is rcond (relative)
  close(L.pinv(f64{{1, 0}, {0, 1e-3}}, {atol = 1e-4}), f64{{1, 0}, {0, 1000}}, 1e-9)
  -- rank-deficient: the pseudo-inverse drops the zero singular value
  local R1 = f64{{1, 2}, {2, 4}}
  close(R1:matmul(L.pinv(R1)):matmul(R1), R1)
  T.near(L.lstsq(B:t(), f64{{1}, {2}, {3}}):totable(), {{0.21804511278195504}, {-0.2105263157894736}}, 1e-12)
  T.near(L.lstsq(B:t(), f64{1, 2, 3}):totable(), {0.21804511278195504, -0.2105263157894736}, 1e-12)
  T.raises(function() L.lstsq(B:t(), f64{1, 2}) end, "do not match")
end)

T.test("matrix_power and matrix_exp vs PyTorch", function()
  close(L.matrix_power(N, 5), f64{{-22.5, 137.75, 589.75}, {-18, -519.5, -802.25}, {239.5, 461, 181}}, 1e-10)
  close(L.matrix_power(N, -2), f64{{0.1689940828402367, 0.09278106508875741, 0.029112426035502962},
                                   {-0.07905325443786983, 0.035029585798816563, 0.06201183431952663},
                                   {0.02745562130177515, -0.024142011834319528, 0.038343195266272195}}, 1e-12)
  close(L.matrix_power(N, 0), I3)
  close(L.matrix_power(N, 1), N)
  T.same(L.matrix_power(ember.tensor{{1, 1}, {1, 0}}, 10):totable(), {{89, 55}, {55, 34}})  -- int64 works
  close(N:matrix_power(3), N:matmul(N):matmul(N))
  T.same(L.matrix_power(ember.randn(2, 4, 4), 0).shape, {2, 4, 4})
  close(L.matrix_exp(N), f64{{4.913632553659085, -1.0631192930642337, 23.633580897418526},
                             {5.263486793225397, -6.624350653760179, -39.92954608757897},
                             {8.400735000322328, 22.06495679387006, 23.841341140432245}}, 1e-11)
  local big = L.matrix_exp(N * 3)
  close(big / 1e4, f64{{9886.638986248521, 12234.360166466176, 1449.9498609816694},
                       {-10858.518358427127, -6475.246604334763, 12086.144060580935},
                       {2751.6836160780927, -5355.1511262709455, -9078.714114527625}} / 1e4, 1e-11)
  close(L.matrix_exp(N * 0), I3)
  close(ember.matrix_exp(ember.stack({N, N * 3})):select(1, 2), big, 1e-7)
  T.raises(function() L.matrix_power(N, 1.5) end, "integer")
end)

T.test("cross, vecdot, multi_dot", function()
  T.near(L.cross(ember.tensor{1.0, 2, 3}, ember.tensor{4.0, 5, 6}):totable(), {-3, 6, -3})
  local a, b = ember.randn(4, 3, {dtype = "float64"}), ember.randn(3, {dtype = "float64"})
  local c = L.cross(a, b)                 -- broadcast
  T.same(c.shape, {4, 3})
  close(L.vecdot(c, a), ember.zeros(4, {dtype = "float64"}))
  close(ember.cross(a:t(), b:unsqueeze(2)), c:t())  -- torch.cross: the first dim of size 3
  close(a:t():cross(b:unsqueeze(2), 1), c:t())
  T.raises(function() L.cross(ember.randn(4), ember.randn(4)) end, "size 3")
  T.near(L.vecdot(B, B):totable(), {14, 52})
  T.near(L.vecdot(B, B, 1):totable(), {17, 4, 45})
  local M1, M2, M3 = ember.randn(2, 30, {dtype = "float64"}), ember.randn(30, 4, {dtype = "float64"}),
                     ember.randn(4, 50, {dtype = "float64"})
  close(L.multi_dot({M1, M2, M3}), M1:matmul(M2):matmul(M3))
  T.near(L.multi_dot({ember.tensor{1.0, 2}, B, N, f64{1, 0, 1}}):item(), -26 * 0 + f64{1, 2}:matmul(B):matmul(N):matmul(f64{1, 0, 1}):item())
  T.raises(function() L.multi_dot({M1, M3}) end, "do not match")
  T.raises(function() L.multi_dot({M1}) end, "at least 2")
end)

T.test("diagonal vs PyTorch", function()
  local X = ember.arange(24):reshape(2, 3, 4):double()
  local want = {[0] = {0, 5, 10, 12, 17, 22}, [1] = {1, 6, 11, 13, 18, 23}, [2] = {2, 7, 14, 19}, [3] = {3, 15},
                [-1] = {4, 9, 16, 21}, [-2] = {8, 20}}
  for o, v in pairs(want) do T.near(L.diagonal(X, o):flatten():totable(), v, 0, "offset " .. o) end
  T.same(L.diagonal(X, 4).shape, {2, 0})
  T.same(L.diagonal(X, -3).shape, {2, 0})
  T.near(L.diagonal(N):sum():item(), 9)
  local ok, msg = ember.gradcheck(function(x) return L.diagonal(x:transpose(-2, -1), -1) end,
                                  {ember.randn(2, 3, 4, {dtype = "float64"}):requires_grad_()})
  T.ok(ok, msg)
end)

T.test("tensorinv and tensorsolve vs PyTorch", function()
  local A4 = f64{{{{2, 1}, {0, 1}}, {{1, 3}, {2, 0}}}, {{{0, 1}, {4, 1}}, {{1, 0}, {1, 5}}}}   -- (2, 2, 2, 2)
  local Ti = L.tensorinv(A4)
  T.same(Ti.shape, {2, 2, 2, 2})
  T.near(Ti[1][1]:totable(), {{0.7580645161290323, -0.3225806451612903}, {0.20967741935483872, -0.1935483870967742}}, 1e-12)
  T.near(Ti[2][2]:totable(), {{-0.1774193548387097, 0.0967741935483871}, {-0.11290322580645161, 0.25806451612903225}}, 1e-12)
  local Bm = f64{{1, 2}, {3, 4}}
  T.near(L.tensorsolve(A4, Bm):totable(), {{-0.032258064516129004, 0.3548387096774194}, {0.4838709677419354, 0.7096774193548387}}, 1e-12)
  T.near(L.tensorsolve(A4, Bm, {1}):totable(), {{-0.6666666666666665, -0.08333333333333326}, {1.25, 1.0833333333333333}}, 1e-12)
  T.raises(function() L.tensorinv(ember.randn(2, 3, 4), 1) end, "must equal")
  T.raises(function() L.tensorsolve(A4, ember.randn(3, {dtype = "float64"})) end, "must start with")
end)

T.test("errors name the function and the shapes", function()
  T.raises(function() L.inv(ember.randn(3, 4)) end, "linalg.inv: expected square matrices in the last two dims, got shape [3, 4]")
  T.raises(function() L.inv(ember.randn(3)) end, "at least 2 dims")
  T.raises(function() L.inv(ember.tensor{{1, 2}, {3, 4}}) end, "float32 or float64 tensor, got int64")
  T.raises(function() L.det(ember.randn(2, 3)) end, "linalg.det")
  T.raises(function() L.inv(ember.stack({A, A * 0})) end, "matrix 2 of 2 in the batch")
  T.raises(function() L.solve(N, ember.randn(4, 2, {dtype = "float64"})) end, "A of shape [3, 3] and B of shape [4, 2]")
  T.raises(function() L.solve(N, f64{1, 2}) end, "B of shape [2]")
  T.raises(function() L.solve(ember.randn(2, 3, 3), ember.randn(4, 3, 1)) end, "linalg.solve")
  T.raises(function() L.solve(N * 0, f64{1, 2, 3}) end, "singular")
  T.raises(function() L.svd(ember.tensor{{1, 2}}) end, "linalg.svd")
  T.raises(function() L.qr(ember.randn(5)) end, "linalg.qr")
  T.raises(function() L.eigh(ember.randn(2, 3)) end, "square")
  T.raises(function() L.inv("x") end, "tensor")
  T.raises(function() L.matrix_norm(ember.randn(3)) end, "2 dims")
  -- NaN / inf: svd and eigh refuse them (LAPACK would print and fail), as PyTorch
  T.raises(function() L.svd(ember.full({3, 3}, 0 / 0)) end, "linalg.svd: the input contains NaN or inf")
  T.raises(function() L.eigvalsh(ember.stack({ember.eye(2), ember.full({2, 2}, 1 / 0)})) end, "matrix 2 of 2")
  T.raises(function() L.matrix_exp(ember.full({2, 2}, 1 / 0)) end, "NaN or inf")
  -- empty matrices are fine
  T.same(L.inv(ember.zeros(0, 0)).shape, {0, 0})
  T.eq(L.det(ember.zeros(0, 0)):item(), 1)
  T.same(L.svdvals(ember.zeros(3, 0)).shape, {0})
  T.same(L.inv(ember.zeros(0, 3, 3)).shape, {0, 3, 3})
  T.same(L.solve(ember.zeros(0, 3, 3), ember.zeros(0, 3, 2)).shape, {0, 3, 2})
  T.same(L.pinv(ember.zeros(2, 3, 0)).shape, {2, 0, 3})
  T.same(L.matrix_rank(ember.zeros(2, 3, 0)):totable(), {0, 0})
  T.same(L.matrix_exp(ember.zeros(2, 0, 0)).shape, {2, 0, 0})
  T.same(L.det(ember.eye(3):expand(4, 3, 3)):totable(), {1, 1, 1, 1})  -- stride-0 batch
  local q, r = L.qr(ember.zeros(3, 0))
  T.same(q.shape, {3, 0})
  T.same(r.shape, {0, 0})
end)

T.test("gradients of the compositions", function()
  local function leaf(...) return ember.randn({...}, {dtype = "float64"}):requires_grad_() end
  local function check(fn, inputs)
    local ok, msg = ember.gradcheck(fn, inputs)
    if not ok then error(msg, 2) end
  end
  local W = (ember.randn(3, 3, {dtype = "float64"}) * 0.3 + I3 * 2):requires_grad_()
  check(function(x) return L.matrix_power(x, 3) end, {W})
  check(function(x) return L.matrix_power(x, -2) end, {W})
  check(function(x) return L.matrix_exp(x) end, {leaf(2, 3, 3)})
  check(function(x) return L.pinv(x) end, {leaf(4, 3)})
  check(function(x) return L.pinv(x) end, {leaf(2, 5)})
  check(function(x, y) return L.lstsq(x, y) end, {leaf(4, 3), leaf(4, 2)})
  check(function(a, b) return L.cross(a, b) end, {leaf(2, 3), leaf(3)})
  check(function(a, b) return L.vecdot(a, b) end, {leaf(2, 3), leaf(3)})
  check(function(a, b, c) return L.multi_dot({a, b, c}) end, {leaf(3), leaf(3, 4), leaf(4, 2)})
  for _, o in ipairs({"fro", "nuc", 2, -2, 1, -1, "inf", "-inf"}) do
    check(function(x) return L.matrix_norm(x, o) end, {leaf(2, 3, 4)})
  end
  for _, o in ipairs({2, 1, 3, 0.5, "inf", "-inf"}) do
    check(function(x) return L.vector_norm(x, o, -1) end, {leaf(2, 5)})
  end
  check(function(x) return L.vector_norm(x, 2, {1, 3}) end, {leaf(2, 3, 4)})
  check(function(x) return L.cond(x) end, {W})
  check(function(x) return x:logdet() end, {W})
end)

T.test("no leaks: repeated decompositions keep memory flat", function()
  collectgarbage()
  local before = ember.memory().live_bytes
  for _ = 1, 50 do
    local X = ember.randn(8, 8, {dtype = "float64"}):requires_grad_()
    local w, V = L.eigh(X + X:t())
    local U, S, Vh = L.svd(X)
    local q, r = L.qr(X)
    local loss = w:sum() + V:abs():sum() + S:sum() + (q * r):sum() + L.det(X) + L.inv(X):sum()
    loss:backward()
    pcall(L.inv, ember.zeros(4, 4))
  end
  collectgarbage()
  collectgarbage()
  T.ok(ember.memory().live_bytes <= before + 4096, "live bytes grew")
end)

T.done()
