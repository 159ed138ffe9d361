"""torch_linalg.py: PyTorch's side of tests/bench/linalg.lua (same cases,
same "case milliseconds" lines, best of several runs, float32)."""
import os
import time

import torch

torch.set_num_threads(int(os.environ.get("EMBER_BENCH_THREADS", "1")))
torch.manual_seed(0)
L = torch.linalg


def best(fn, reps):
    fn()
    t = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t * 1e3


n = 512
A = torch.randn(n, n) + torch.eye(n) * n ** 0.5
S = A @ A.T / n
B, b = torch.randn(n, n), torch.randn(n)
As = torch.randn(10000, 4, 4) + torch.eye(4) * 4
Bs = torch.randn(10000, 4, 1)
cases = [
    ("solve512", lambda: L.solve(A, B), 20),
    ("solve512_vec", lambda: L.solve(A, b), 20),
    ("inv512", lambda: L.inv(A), 20),
    ("det512", lambda: L.det(A), 20),
    ("cholesky512", lambda: L.cholesky(S), 20),
    ("eigh512", lambda: L.eigh(S), 5),
    ("svd512", lambda: L.svd(A, full_matrices=False), 3),
    ("qr512", lambda: L.qr(A), 10),
    ("inv_10000x4x4", lambda: L.inv(As), 20),
    ("solve_10000x4x4", lambda: L.solve(As, Bs), 20),
]
for name, fn, reps in cases:
    print(f"{name} {best(fn, reps):.3f}")
