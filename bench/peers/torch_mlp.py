"""PyTorch peer for `npm run bench -- train-mlp`: a 4-layer MLP (256 -> H -> H -> H -> 10, ReLU),
batch 32, Adam (lr 1e-3), cross-entropy, trained on synthetic data. Prints one JSON line.

Run with Debian's PyTorch: OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/peers/torch_mlp.py --hidden 2048
(the bench spawns it with the same widths, batch and step count as Lepton's run).
"""
import argparse
import json
import time

import torch
import torch.nn as nn


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--inputs", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    h = a.hidden
    model = nn.Sequential(nn.Linear(a.inputs, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    batches = 16
    x = torch.rand(batches * a.batch, a.inputs)
    y = torch.randint(0, 10, (batches * a.batch,))

    def step(i):
        j = (i % batches) * a.batch
        opt.zero_grad()
        loss = loss_fn(model(x[j:j + a.batch]), y[j:j + a.batch])
        loss.backward()
        opt.step()
        return loss

    for i in range(a.warmup):
        step(i)
    times = []
    for i in range(a.steps):
        t0 = time.perf_counter()
        float(step(i))
        times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({
        "pytorch_version": torch.__version__,
        "pytorch_threads": torch.get_num_threads(),
        "params": sum(p.numel() for p in model.parameters()),
        "pytorch_ms_per_step": times[len(times) // 2] * 1000,
    }))


if __name__ == "__main__":
    main()
