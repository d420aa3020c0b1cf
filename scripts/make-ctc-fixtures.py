#!/usr/bin/env python3
"""Writes test/fixtures/ctc.json: torch.nn.functional.ctc_loss (PyTorch 1.13, float64) on fixed
logits, with its gradient with respect to the logits (through log_softmax). Cases cover blank
handling, repeated labels, shorter input and target lengths, an empty target and an impossible
alignment. Run: /usr/bin/python3 scripts/make-ctc-fixtures.py"""
import json
import math
import os

import torch

torch.set_default_dtype(torch.float64)


def values(n, seed):
    # Deterministic, varied values in about [-2, 2] (no RNG, so anyone can regenerate them).
    return [2.0 * math.sin(seed * 12.9898 + i * 78.233) * math.cos(seed + i * 0.37) for i in range(n)]


CASES = [
    # name, T, B, C, targets (padded), input_lengths, target_lengths, blank
    ('basic', 6, 2, 5, [[1, 2, 3], [2, 2, 0]], [6, 6], [3, 2], 0),
    ('repeats-and-short-inputs', 8, 3, 4, [[1, 1, 2, 2], [3, 3, 3, 0], [2, 0, 0, 0]], [8, 7, 5], [4, 3, 1], 0),
    ('blank-last', 7, 2, 6, [[0, 1, 4], [4, 4, 2]], [7, 6], [3, 2], 5),
    ('empty-target', 5, 2, 4, [[1, 2], [0, 0]], [5, 4], [2, 0], 0),
    ('impossible', 3, 2, 4, [[1, 1, 1], [2, 3, 0]], [3, 3], [3, 2], 0),
]

cases = []
for name, T, B, C, targets, in_lens, tgt_lens, blank in CASES:
    logits = torch.tensor(values(B * T * C, len(name)), requires_grad=True).reshape(B, T, C).detach().requires_grad_()
    log_probs = logits.log_softmax(-1).transpose(0, 1)  # torch wants [T, B, C]
    out = {'name': name, 'logits': logits.flatten().tolist(), 'shape': [B, T, C], 'targets': targets,
           'inputLengths': in_lens, 'targetLengths': tgt_lens, 'blank': blank}
    for reduction in ['none', 'mean', 'sum']:
        for zero_infinity in [False, True]:
            logits.grad = None
            loss = torch.nn.functional.ctc_loss(log_probs, torch.tensor(targets), torch.tensor(in_lens),
                                                torch.tensor(tgt_lens), blank=blank, reduction=reduction,
                                                zero_infinity=zero_infinity)
            key = f'{reduction}{"-zeroinf" if zero_infinity else ""}'
            out[key] = [v if math.isfinite(v) else ('inf' if v > 0 else '-inf') for v in loss.flatten().tolist()]
            if reduction == 'sum' and (zero_infinity or all(isinstance(v, float) for v in out[key])):
                loss.backward(retain_graph=True)
                out[f'grad-{key}'] = logits.grad.flatten().tolist()
    cases.append(out)

path = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'ctc.json')
with open(path, 'w') as f:
    json.dump({'generator': f'torch {torch.__version__} ctc_loss, float64', 'cases': cases}, f)
print('wrote', path)
