#!/usr/bin/env python3
"""Writes the backbone fixtures (torchvision 0.14 / PyTorch 1.13, fixed seeds, eval mode):
- test/fixtures/small-cnn.onnx + small-cnn.json: a small PyTorch CNN (conv/BN/ReLU, residual, max
  pool, depthwise conv, hardswish, global pooling, linear head) exported by torch.onnx.export with a
  dynamic batch, the BatchNorm kept as a node (not folded into the conv) and the intermediate
  'features' as a second graph output; an input batch and the logits and features PyTorch
  computes for it.
- test/fixtures/torchvision-backbones.json: torchvision resnet18, resnet34, mobilenet_v2 (widths 1
  and 0.35), mobilenet_v3_small (widths 1 and 0.25) and a small VisionTransformer, 10 classes,
  with every state_dict tensor set from an integer-hash formula (formula_values; the test
  recomputes the weights), the keys, shapes and kinds, an input batch [2, 3, 32, 32] and the
  logits torchvision computes for it, in float32 and in float64.
- test/fixtures/small-vit.onnx + small-vit.json: a small torchvision VisionTransformer (patch 8,
  dim 32, 2 blocks, 2 heads, random head) exported by torch.onnx.export, an input batch, its
  logits and its parameter count.
Run: /usr/bin/python3 scripts/make-backbone-fixtures.py"""
import base64
import json
import os

import torch
import torchvision
from torchvision.models.vision_transformer import VisionTransformer

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures')


def b64(t):
    return base64.b64encode(t.detach().contiguous().float().numpy().tobytes()).decode()


def randomize_bn(model, g):
    # Fresh BatchNorm layers are the identity and fresh heads start near zero; random statistics
    # and a unit-scale head make the check meaningful.
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            m.weight.data.copy_(torch.randn(m.weight.shape, generator=g) / m.in_features ** 0.5)
            m.bias.data.copy_(torch.randn(m.out_features, generator=g) * 0.1)
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


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



def formula_values(k, n, kind, fan_in, bn):
    # Weights from a formula the test recomputes exactly (integer hash → float64 → float32), so
    # full-width networks need no stored weights: u = ((i * 2654435761 + k * 40503 + 12345) mod 2^32) / 2^32
    # for element i of state_dict tensor k.
    i = torch.arange(n, dtype=torch.int64)
    u = ((i * 2654435761 + k * 40503 + 12345) % 2**32).double() / 2**32
    if kind == 'weight':
        return (u - 0.5) * 2 * (6.0 / fan_in) ** 0.5
    if kind == 'bn_weight':
        return bn[0] + bn[1] * u
    if kind == 'running_var':
        return 0.75 + 0.5 * u
    return (u - 0.5) * 0.2  # biases, BatchNorm biases and running means


def formula_case(name, options, model, bn):
    # bn: BatchNorm/LayerNorm scales bn[0] + bn[1] * u, chosen per family so the logits depend on the input
    # (ResNets' residual sums grow with larger scales, MobileNets' plain stacks fade with smaller).
    modules = dict(model.named_modules())
    keys = []
    with torch.no_grad():
        entries = [(k, v) for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')]
        for k, (key, v) in enumerate(entries):
            owner, last = key.rsplit('.', 1) if '.' in key else ('', key)
            is_bn = isinstance(modules[owner], (torch.nn.BatchNorm2d, torch.nn.LayerNorm))
            kind = ('running_var' if last == 'running_var' else 'bn_weight' if is_bn and last == 'weight'
                    else 'weight' if last == 'weight' else 'small')
            fan_in = v[0].numel() if v.dim() > 1 else 1
            v.copy_(formula_values(k, v.numel(), kind, fan_in, bn).reshape(v.shape).float())
            keys.append({'key': key, 'shape': list(v.shape), 'kind': kind})
        model.eval()
        x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(6))
        y = model(x)
        # The same network in float64: how far float32 arithmetic (PyTorch's, Lepton's) strays here.
        y64 = model.double()(x.double())
    return {'name': name, 'options': options, 'bn': list(bn), 'keys': keys, 'input': {'shape': list(x.shape), 'data': b64(x)},
            'output': {'shape': list(y.shape), 'data': b64(y)},
            'output64': base64.b64encode(y64.detach().contiguous().numpy().tobytes()).decode()}


models = torchvision.models
RES, MOB = (0.7, 0.3), (1.2, 0.6)
cases = [
    formula_case('resnet18', {}, models.resnet18(num_classes=10), RES),
    formula_case('resnet34', {}, models.resnet34(num_classes=10), RES),
    formula_case('mobilenet_v2', {}, models.mobilenet_v2(num_classes=10), MOB),
    formula_case('mobilenet_v2', {'widthMultiplier': 0.35}, models.mobilenet_v2(width_mult=0.35, num_classes=10), MOB),
    formula_case('mobilenet_v3_small', {}, models.mobilenet_v3_small(num_classes=10), MOB),
    formula_case('mobilenet_v3_small', {'widthMultiplier': 0.25},
                 models.mobilenet_v3_small(width_mult=0.25, num_classes=10), MOB),
    formula_case('vit', {'patchSize': 4, 'depth': 2, 'dim': 64, 'heads': 2, 'mlpDim': 128},
                 VisionTransformer(32, 4, num_layers=2, num_heads=2, hidden_dim=64, mlp_dim=128, num_classes=10), (0.8, 0.4)),
]
with open(os.path.join(OUT, 'torchvision-backbones.json'), 'w') as f:
    json.dump({'torchvision': torchvision.__version__, 'classes': 10, 'cases': cases}, f)

# A small torchvision VisionTransformer through ONNX: attention, LayerNorm, GELU (Erf), the class
# token (Expand + Concat) and initializers the exporter stores once for equal parameters.
torch.manual_seed(7)
small_vit = VisionTransformer(32, 8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=5)
with torch.no_grad():
    small_vit.heads.head.weight.copy_(torch.randn(5, 32, generator=torch.Generator().manual_seed(8)) / 32 ** 0.5)
small_vit.eval()
x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(9))
with torch.no_grad():
    logits = small_vit(x)
torch.onnx.export(small_vit, x, os.path.join(OUT, 'small-vit.onnx'), input_names=['image'], output_names=['logits'],
                  opset_version=17, dynamic_axes={'image': {0: 'batch'}, 'logits': {0: 'batch'}})
with open(os.path.join(OUT, 'small-vit.json'), 'w') as f:
    json.dump({'torch': torch.__version__, 'input': {'shape': list(x.shape), 'data': b64(x)},
               'logits': {'shape': list(logits.shape), 'data': b64(logits)},
               'parameters': sum(p.numel() for p in small_vit.parameters())}, f, indent=1)
