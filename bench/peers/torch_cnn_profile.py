"""PyTorch peer for `npm run bench -- train-cnn-parts`: where the seed CNN's train step spends its
time in PyTorch (autograd profiler, self CPU time per op, averaged per step). Prints one JSON line.

Run with Debian's PyTorch: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/peers/torch_cnn_profile.py
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from torch_cnn import trainer  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    model, opt, loss_fn = trainer(a.threads)
    x = torch.rand(64, 3, 32, 32)
    y = torch.randint(0, 10, (64,))

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    for _ in range(10):
        step()
    with torch.autograd.profiler.profile() as prof:
        for _ in range(a.steps):
            step()
    groups = {
        "conv_forward_ms": ("aten::mkldnn_convolution", "aten::thnn_conv2d", "aten::_slow_conv2d_forward"),
        "conv_backward_ms": ("aten::convolution_backward",),
        "maxpool_forward_ms": ("aten::max_pool2d_with_indices",),
        "maxpool_backward_ms": ("aten::max_pool2d_with_indices_backward",),
    }
    out = {k: 0.0 for k in groups}
    total = 0.0
    for e in prof.key_averages():
        ms = e.self_cpu_time_total / 1000 / a.steps
        total += ms
        for k, names in groups.items():
            if e.key in names:
                out[k] += ms
    out["other_ms"] = total - sum(out.values())
    out["total_ms"] = total
    out["pytorch_version"] = torch.__version__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
