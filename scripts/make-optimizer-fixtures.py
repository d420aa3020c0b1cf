#!/usr/bin/env python3
"""Writes test/fixtures/optimizers.json: PyTorch optimizers run for a few steps on fixed tensors
with fixed gradients. The TypeScript tests replay the same gradients through Lepton's optimizers
and compare the parameters after every step. Run: /usr/bin/python3 scripts/make-optimizer-fixtures.py"""
import json
import math
import os

import torch

torch.set_default_dtype(torch.float32)
STEPS = 5
SHAPES = [[3, 2], [4]]


def values(shape, seed):
    n = math.prod(shape)
    # Deterministic, varied values in about [-1.5, 1.5] (no RNG, so anyone can regenerate them).
    return [round(1.5 * math.sin(seed * 12.9898 + i * 78.233) * math.cos(seed + i * 0.37), 6) for i in range(n)]


CASES = [
    ('SGD', {'lr': 0.1}, {'learningRate': 0.1}),
    ('SGD', {'lr': 0.1, 'momentum': 0.9}, {'learningRate': 0.1, 'momentum': 0.9}),
    ('SGD', {'lr': 0.05, 'momentum': 0.8, 'dampening': 0.3, 'weight_decay': 0.01},
     {'learningRate': 0.05, 'momentum': 0.8, 'dampening': 0.3, 'weightDecay': 0.01}),
    ('SGD', {'lr': 0.1, 'momentum': 0.9, 'nesterov': True, 'weight_decay': 0.001},
     {'learningRate': 0.1, 'momentum': 0.9, 'nesterov': True, 'weightDecay': 0.001}),
    ('Adam', {'lr': 0.01}, {'learningRate': 0.01}),
    ('Adam', {'lr': 0.02, 'betas': (0.8, 0.95), 'eps': 1e-6, 'weight_decay': 0.1},
     {'learningRate': 0.02, 'beta1': 0.8, 'beta2': 0.95, 'epsilon': 1e-6, 'weightDecay': 0.1}),
    ('Adam', {'lr': 0.01, 'amsgrad': True}, {'learningRate': 0.01, 'amsgrad': True}),
    ('AdamW', {'lr': 0.01}, {'learningRate': 0.01}),
    ('AdamW', {'lr': 0.01, 'weight_decay': 0.5, 'amsgrad': True}, {'learningRate': 0.01, 'weightDecay': 0.5, 'amsgrad': True}),
    ('RMSprop', {'lr': 0.01}, {'learningRate': 0.01}),
    ('RMSprop', {'lr': 0.01, 'alpha': 0.9, 'momentum': 0.5, 'centered': True, 'weight_decay': 0.01},
     {'learningRate': 0.01, 'alpha': 0.9, 'momentum': 0.5, 'centered': True, 'weightDecay': 0.01}),
    ('RMSprop', {'lr': 0.005, 'momentum': 0.9}, {'learningRate': 0.005, 'momentum': 0.9}),
    ('Adagrad', {'lr': 0.1}, {'learningRate': 0.1}),
    ('Adagrad', {'lr': 0.1, 'lr_decay': 0.05, 'weight_decay': 0.01, 'initial_accumulator_value': 0.1},
     {'learningRate': 0.1, 'lrDecay': 0.05, 'weightDecay': 0.01, 'initialAccumulatorValue': 0.1}),
]
CLIP_CASES = [
    ('SGD', {'lr': 0.1, 'momentum': 0.9}, {'learningRate': 0.1, 'momentum': 0.9, 'clipNorm': 0.5}, 'norm', 0.5),
    ('Adam', {'lr': 0.01}, {'learningRate': 0.01, 'clipValue': 0.3}, 'value', 0.3),
]


def run(cls, torch_opts, clip=None, clip_arg=None):
    params = [torch.tensor(values(s, k + 1), dtype=torch.float32).reshape(s).requires_grad_(True) for k, s in enumerate(SHAPES)]
    initial = [p.detach().flatten().tolist() for p in params]
    opt = getattr(torch.optim, cls)(params, **torch_opts)
    grads, expected = [], []
    for step in range(STEPS):
        gs = [torch.tensor(values(s, 100 + 10 * step + k), dtype=torch.float32).reshape(s) for k, s in enumerate(SHAPES)]
        grads.append([g.flatten().tolist() for g in gs])
        for p, g in zip(params, gs):
            p.grad = g.clone()
        if clip == 'norm':
            torch.nn.utils.clip_grad_norm_(params, clip_arg)
        elif clip == 'value':
            torch.nn.utils.clip_grad_value_(params, clip_arg)
        opt.step()
        expected.append([p.detach().flatten().tolist() for p in params])
    return initial, grads, expected


cases = []
for cls, topts, lopts in CASES:
    initial, grads, expected = run(cls, topts)
    cases.append({'name': f'{cls} {json.dumps(lopts)}', 'className': cls, 'options': lopts, 'shapes': SHAPES,
                  'initial': initial, 'grads': grads, 'expected': expected})
for cls, topts, lopts, kind, clip_arg in CLIP_CASES:
    initial, grads, expected = run(cls, topts, kind, clip_arg)
    cases.append({'name': f'{cls} {json.dumps(lopts)}', 'className': cls, 'options': lopts, 'shapes': SHAPES,
                  'initial': initial, 'grads': grads, 'expected': expected})

out = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'optimizers.json')
with open(out, 'w') as f:
    json.dump({'torch': torch.__version__, 'steps': STEPS, 'cases': cases}, f)
print(f'wrote {len(cases)} cases to {os.path.normpath(out)} (torch {torch.__version__})')
