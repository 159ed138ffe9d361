#!/usr/bin/python3
"""torch_cnn_accuracy.py SEED [raw]: the PyTorch peer of examples/fashion_cnn.lua's
recipe (pixels standardised with the training set's mean and std; Conv2d(1,32,3)-
ReLU-MaxPool2-Flatten-Linear(5408,128)-ReLU-Linear(128,10), Adam 1e-3, batch
32, 5 epochs, 1 thread): prints the test accuracy for one seed, to compare the
spread of both frameworks over seeds (ember: EMBER_SEED=n ember
examples/fashion_cnn.lua).  `raw` skips the standardisation (pixels in
[0, 1]).  Not a test."""
import sys, gzip, struct, numpy as np, torch, torch.nn as nn
seed = int(sys.argv[1]); torch.manual_seed(seed); torch.set_num_threads(1)
def idx(p):
    d = gzip.open(p).read(); nd = d[3]; sh = struct.unpack(">" + "I"*nd, d[4:4+4*nd])
    return np.frombuffer(d, dtype=np.uint8, offset=4+4*nd).reshape(sh)
D = "/usr/share/datasets/fashion-mnist/"
x = torch.from_numpy(idx(D+"train-images-idx3-ubyte.gz").astype(np.float32)/255).reshape(-1,1,28,28)
y = torch.from_numpy(idx(D+"train-labels-idx1-ubyte.gz").astype(np.int64))
xt = torch.from_numpy(idx(D+"t10k-images-idx3-ubyte.gz").astype(np.float32)/255).reshape(-1,1,28,28)
yt = torch.from_numpy(idx(D+"t10k-labels-idx1-ubyte.gz").astype(np.int64))
raw = len(sys.argv) > 2 and sys.argv[2] == "raw"
if not raw:
    mean, std = x.mean().item(), x.std().item()
    x, xt = (x - mean) / std, (xt - mean) / std
m = nn.Sequential(nn.Conv2d(1,32,3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(5408,128), nn.ReLU(), nn.Linear(128,10))
opt = torch.optim.Adam(m.parameters(), lr=1e-3); lf = nn.CrossEntropyLoss()
dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True)
for ep in range(5):
    for xb, yb in dl:
        opt.zero_grad(); l = lf(m(xb), yb); l.backward(); opt.step()
with torch.no_grad(): acc = (m(xt).argmax(1) == yt).float().mean().item()
print(f"pytorch CNN seed {seed}{' raw' if raw else ''}: test accuracy {acc:.4f}")
