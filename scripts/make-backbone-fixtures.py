#!/usr/bin/env python3
"""Writes the backbone fixtures (torchvision 0.14 / PyTorch 1.13, fixed seeds, eval mode):
- test/fixtures/torchvision-mobilenets.json: random-init torchvision mobilenet_v3_small and
  mobilenet_v2 at width 0.25 (10 classes) — every state_dict tensor (rounded to float16 and
  stored as float16, base64) plus an input batch [2, 3, 32, 32] and the logits torchvision
  computes for it;
- test/fixtures/small-cnn.onnx + small-cnn.json: a small PyTorch CNN (conv/BN/ReLU, residual, max
  pool, depthwise conv, hardswish, global pooling, linear head) exported by torch.onnx.export with a
  dynamic batch, the BatchNorm kept as a node (not folded into the conv) and the intermediate
  'features' as a second graph output; an input batch and the logits and features PyTorch
  computes for it.
- test/fixtures/torchvision-resnet18.json: torchvision resnet18 (10 classes) with every weight set
  from an integer-hash formula (see formula_values; the test recomputes them), the state_dict keys
  and shapes, an input batch [2, 3, 32, 32] and the logits torchvision computes for it.
Run: /usr/bin/python3 scripts/make-backbone-fixtures.py"""
import base64
import json
import os

import torch
import torchvision

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures')


def b64(t):
    return base64.b64encode(t.detach().contiguous().float().numpy().tobytes()).decode()


def b64_half(t):
    return base64.b64encode(t.detach().contiguous().half().numpy().tobytes()).decode()


def round_to_half(model):
    # Weights stored as float16 halve the fixture; torch computes with the rounded values.
    with torch.no_grad():
        for v in model.state_dict().values():
            if v.is_floating_point():
                v.copy_(v.half().float())


def randomize_bn(model, g):
    # Fresh BatchNorm layers are the identity and torchvision's heads start near zero (std 0.01);
    # random statistics and a unit-scale head make the check meaningful.
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            m.weight.data.copy_(torch.randn(m.weight.shape, generator=g) / m.in_features ** 0.5)
            m.bias.data.copy_(torch.randn(m.out_features, generator=g) * 0.1)
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def torchvision_case(name, build):
    torch.manual_seed(0)
    model = build()
    randomize_bn(model, torch.Generator().manual_seed(1))
    round_to_half(model)
    model.eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y = model(x)
    state = {k: {'shape': list(v.shape), 'data': b64_half(v)} for k, v in model.state_dict().items()
             if not k.endswith('num_batches_tracked')}
    return {'name': name, 'input': {'shape': list(x.shape), 'data': b64(x)},
            'output': {'shape': list(y.shape), 'data': b64(y)}, 'stateDict': state}


cases = [
    torchvision_case('mobilenet_v3_small', lambda: torchvision.models.mobilenet_v3_small(width_mult=0.25, num_classes=10)),
    torchvision_case('mobilenet_v2', lambda: torchvision.models.mobilenet_v2(width_mult=0.25, num_classes=10)),
]
with open(os.path.join(OUT, 'torchvision-mobilenets.json'), 'w') as f:
    json.dump({'torchvision': torchvision.__version__, 'widthMultiplier': 0.25, 'classes': 10, 'cases': cases}, f)


class SmallCnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1, bias=False), torch.nn.BatchNorm2d(16), torch.nn.ReLU())
        self.block = torch.nn.Sequential(torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 16, 3, padding=1))
        self.pool = torch.nn.MaxPool2d(2)
        self.dw = torch.nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16)
        self.pw = torch.nn.Conv2d(16, 32, 1)
        self.act = torch.nn.Hardswish()
        self.head = torch.nn.Linear(32, 5)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.block(x))
        features = self.act(self.pw(self.dw(self.pool(x))))
        return self.head(features.mean(dim=(2, 3))), features


torch.manual_seed(3)
cnn = SmallCnn()
randomize_bn(cnn, torch.Generator().manual_seed(4))
cnn.eval()
x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(5))
with torch.no_grad():
    logits, features = cnn(x)
path = os.path.join(OUT, 'small-cnn.onnx')
# PRESERVE (in eval mode) keeps the BatchNormalization node with its running statistics instead of
# folding it into the conv, so the importer's weight/statistics split is exercised.
torch.onnx.export(cnn, x, path, input_names=['image'], output_names=['logits', 'features'], opset_version=17,
                  training=torch.onnx.TrainingMode.PRESERVE, dynamic_axes={'image': {0: 'batch'}, 'logits': {0: 'batch'}, 'features': {0: 'batch'}})
with open(os.path.join(OUT, 'small-cnn.json'), 'w') as f:
    json.dump({'torch': torch.__version__, 'input': {'shape': list(x.shape), 'data': b64(x)},
               'logits': {'shape': list(logits.shape), 'data': b64(logits)},
               'features': {'shape': list(features.shape), 'data': b64(features)},
               'parameters': sum(p.numel() for p in cnn.parameters())}, f, indent=1)


def formula_values(k, n, kind, fan_in):
    # Weights from a formula the test recomputes exactly (integer hash → float64 → float32), so a
    # full-width ResNet-18 needs no stored weights: u = ((i * 2654435761 + k * 40503 + 12345) mod 2^32) / 2^32.
    i = torch.arange(n, dtype=torch.int64)
    u = ((i * 2654435761 + k * 40503 + 12345) % 2**32).double() / 2**32
    if kind == 'weight':
        return (u - 0.5) * 2 * (6.0 / fan_in) ** 0.5
    if kind == 'bn_weight':
        return 0.3 + 0.3 * u
    if kind == 'running_var':
        return 0.75 + 0.5 * u
    return (u - 0.5) * 0.2  # biases, BatchNorm biases and running means


def formula_kind(key):
    last = key.rsplit('.', 1)[1]
    if last == 'running_var':
        return 'running_var'
    if last == 'weight' and ('bn' in key or 'downsample.1' in key):
        return 'bn_weight'
    return 'weight' if last == 'weight' else 'small'


torch.manual_seed(0)
resnet = torchvision.models.resnet18(num_classes=10).eval()
keys = []
with torch.no_grad():
    for k, (key, v) in enumerate((k, v) for k, v in resnet.state_dict().items() if not k.endswith('num_batches_tracked')):
        kind = formula_kind(key)
        fan_in = v[0].numel() if v.dim() > 1 else 1
        v.copy_(formula_values(k, v.numel(), kind, fan_in).reshape(v.shape).float())
        keys.append({'key': key, 'shape': list(v.shape), 'kind': kind})
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    y = resnet(x)
with open(os.path.join(OUT, 'torchvision-resnet18.json'), 'w') as f:
    json.dump({'torchvision': torchvision.__version__, 'classes': 10, 'keys': keys,
               'input': {'shape': list(x.shape), 'data': b64(x)}, 'output': {'shape': list(y.shape), 'data': b64(y)}}, f)
