"""PyTorch peer for `npm run bench -- train-cnn`: the seed CNN (CIFAR shape 32x32x3, batch 64,
Adam) trained on synthetic data, then inference throughput. Prints one JSON line.

Run with Debian's PyTorch: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/peers/torch_cnn.py --steps 100
(the bench spawns it with the same batch count, step count and thread count as Lepton's run).
"""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn


def seed_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 4 * 4, 64), nn.ReLU(),
        nn.Linear(64, 10),
    )


def trainer(threads):
    """The seed CNN with Adam (lr 1e-3) and cross-entropy, on `threads` threads, seeded."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = seed_cnn()
    return model, torch.optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--infer-batch", type=int, default=256)
    p.add_argument("--infer-steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--batches", type=int, default=50, help="distinct batches cycled through (an epoch)")
    a = p.parse_args()
    model, opt, loss_fn = trainer(a.threads)
    # Distinct batches like a real epoch (as many as Lepton's bench feeds), uniform [0, 1) pixels.
    batches = a.batches
    n = a.batch * batches
    x = torch.rand(n, 3, 32, 32)
    y = torch.randint(0, 10, (n,))

    def step(i):
        j = (i % batches) * a.batch
        xb, yb = x[j:j + a.batch], y[j:j + a.batch]
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    for i in range(a.warmup):
        step(i)
    t0 = time.perf_counter()
    c0 = time.process_time()
    for i in range(a.steps):
        loss = step(i)
    float(loss)
    train_s = time.perf_counter() - t0
    train_cpu_s = time.process_time() - c0

    model.eval()
    xi = torch.rand(a.infer_batch, 3, 32, 32)
    with torch.no_grad():
        for _ in range(3):
            model(xi)
        t0 = time.perf_counter()
        for _ in range(a.infer_steps):
            model(xi)
        infer_s = time.perf_counter() - t0

    print(json.dumps({
        "pytorch_version": torch.__version__,
        "pytorch_threads": torch.get_num_threads(),
        "pytorch_train_img_s": a.steps * a.batch / train_s,
        "pytorch_train_cpu_ms_per_img": train_cpu_s * 1000 / (a.steps * a.batch),
        "pytorch_infer_img_s": a.infer_steps * a.infer_batch / infer_s,
        "pytorch_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
