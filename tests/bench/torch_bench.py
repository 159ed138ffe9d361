#!/usr/bin/python3
"""torch_bench.py: the PyTorch side of `make bench` (the peer, never a test
dependency).  Each case prints one line "name value unit"; run.sh runs the
same cases with ember and prints the ratios.

  torch_bench.py CASE [samples]
CASES: add, tiny_step, mm1024, mm2048, conv, mlp, cnn, lenet, startup
Training cases print samples/s and the process's peak RSS (KB).
Threads come from the environment: run.sh sets EMBER_BENCH_THREADS and
OMP_WAIT_POLICY=PASSIVE for 2 threads (without it PyTorch's spinning pool
runs 3x slower on these 2-core machines).
"""
import gzip
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn

threads = int(os.environ.get("EMBER_BENCH_THREADS", "1"))
torch.set_num_threads(threads)
torch.manual_seed(0)


def timeit(fn, min_time=0.5):
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt > min_time:
            return dt / n


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def fashion():
    d = "/usr/share/datasets/fashion-mnist/"
    x = torch.from_numpy(idx(d + "train-images-idx3-ubyte.gz").astype(np.float32) / 255).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(idx(d + "train-labels-idx1-ubyte.gz").astype(np.int64))
    return x, y


def train(model, opt, batch, samples):
    x, y = fashion()
    loss_fn = nn.CrossEntropyLoss()
    n = x.shape[0]

    def run(count):
        perm = torch.randperm(n)
        done, i = 0, 0
        while done < count:
            idx_ = perm[i:i + batch]
            i += batch
            if i >= n:
                i = 0
            xb, yb = x[idx_], y[idx_]
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            done += batch

    run(batch * 20)  # warm up
    t0 = time.perf_counter()
    run(samples)
    rate = samples / (time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"samples_per_s {rate:.0f} samples/s")
    print(f"peak_rss {rss} KB")


def main():
    case = sys.argv[1]
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    if case == "add":
        a, b = torch.ones(1), torch.ones(1)
        print(f"add {timeit(lambda: a + b) * 1e6:.3f} us")
    elif case == "tiny_step":
        x = torch.randn(1, 4)
        W = torch.randn(4, 4, requires_grad=True)
        b = torch.zeros(4, requires_grad=True)

        def step():
            loss = (x.matmul(W) + b).sum()
            loss.backward()
            with torch.no_grad():
                for p in (W, b):
                    p -= p.grad * 0.01
                    p.grad = None
        print(f"tiny_step {timeit(step) * 1e6:.2f} us")
    elif case in ("mm1024", "mm2048"):
        n = 1024 if case == "mm1024" else 2048
        a, b = torch.randn(n, n), torch.randn(n, n)
        t = timeit(lambda: a.mm(b), 1.0)
        print(f"{case} {2 * n ** 3 / t / 1e9:.1f} GFLOP/s")
    elif case == "conv":
        x = torch.randn(32, 1, 28, 28)
        w = torch.randn(32, 1, 3, 3, requires_grad=True)
        b = torch.zeros(32, requires_grad=True)

        def step():
            y = torch.nn.functional.conv2d(x, w, b)
            y.sum().backward()
            w.grad = None
            b.grad = None
        print(f"conv {timeit(step) * 1e3:.3f} ms")
    elif case == "mlp":
        m = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
        train(m, torch.optim.Adam(m.parameters(), lr=1e-3), 64, samples)
    elif case == "cnn":
        m = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(5408, 128), nn.ReLU(), nn.Linear(128, 10))
        train(m, torch.optim.Adam(m.parameters(), lr=1e-3), 32, samples)
    elif case == "lenet":
        m = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                          nn.Linear(84, 10))
        train(m, torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9), 64, samples)
    else:
        sys.exit("unknown case " + case)


if __name__ == "__main__":
    main()
