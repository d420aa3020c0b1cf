"""PyTorch peer for `npm run bench -- vision`: the same FCOS-style detector as lepton/vision's
FcosDetector defaults (conv-BN-ReLU backbone with widths 16/32/64/96/128, FPN of 64 channels on
strides 8/16/32, shared heads with one 3x3 conv per tower) and the same loss (torchvision's
sigmoid focal loss / positives + centerness-weighted GIoU + centerness BCE / positives), Adam,
trained on the batches the bench wrote (images [N,H,W,3] and packed targets [N,P,C+6], float32).
Prints one JSON line with training images/s.

Run with Debian's PyTorch: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/peers/torch_fcos.py BASE N H C
"""
import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss


def cbr(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout, momentum=0.01, eps=1e-3), nn.ReLU())


class Fcos(nn.Module):
    def __init__(self, num_classes, widths=(16, 32, 64, 96, 128), fpn=64):
        super().__init__()
        stages, cin = [], 3
        for i, w in enumerate(widths):
            layers = [cbr(cin, w, 2)] + ([cbr(w, w, 1)] if i > 0 else [])
            stages.append(nn.Sequential(*layers))
            cin = w
        self.stages = nn.ModuleList(stages)
        self.lateral = nn.ModuleList([nn.Conv2d(widths[i], fpn, 1) for i in (2, 3, 4)])
        self.smooth = nn.ModuleList([nn.Conv2d(fpn, fpn, 3, 1, 1) for _ in range(3)])
        self.cls_tower = nn.Conv2d(fpn, fpn, 3, 1, 1)
        self.reg_tower = nn.Conv2d(fpn, fpn, 3, 1, 1)
        self.cls = nn.Conv2d(fpn, num_classes, 3, 1, 1)
        nn.init.constant_(self.cls.bias, -math.log(99))
        self.reg = nn.Conv2d(fpn, 4, 3, 1, 1)
        self.ctr = nn.Conv2d(fpn, 1, 3, 1, 1)

    def forward(self, x):
        feats = []
        for s in self.stages:
            x = s(x)
            feats.append(x)
        c3, c4, c5 = feats[2], feats[3], feats[4]
        p5 = self.lateral[2](c5)
        p4 = self.lateral[1](c4) + F.interpolate(p5, scale_factor=2, mode="nearest")
        p3 = self.lateral[0](c3) + F.interpolate(p4, scale_factor=2, mode="nearest")
        outs = []
        for p, sm in zip((p3, p4, p5), self.smooth):
            p = sm(p)
            ct, rt = F.relu(self.cls_tower(p)), F.relu(self.reg_tower(p))
            h = torch.cat([self.cls(ct), self.reg(rt), self.ctr(rt)], 1)  # [B, C+5, h, w]
            outs.append(h.flatten(2).transpose(1, 2))  # row-major points, as Lepton's NHWC reshape
        return torch.cat(outs, 1)


def fcos_loss(y_true, y_pred, c):
    cls_t, ltrb_t, ctr_t, pos = y_true.split([c, 4, 1, 1], -1)
    cls_p, reg_p, ctr_p = y_pred.split([c, 4, 1], -1)
    num_pos = pos.sum().clamp(min=1)
    focal = sigmoid_focal_loss(cls_p, cls_t, reduction="sum") / num_pos
    ltrb_p = reg_p.clamp(max=10).exp()
    box = lambda d: torch.cat([-d[..., :2], d[..., 2:]], -1)
    bp, bt = box(ltrb_p), box(ltrb_t)
    iw = (torch.min(bp[..., 2], bt[..., 2]) - torch.max(bp[..., 0], bt[..., 0])).clamp(min=0)
    ih = (torch.min(bp[..., 3], bt[..., 3]) - torch.max(bp[..., 1], bt[..., 1])).clamp(min=0)
    inter = iw * ih
    union = (bp[..., 2] - bp[..., 0]) * (bp[..., 3] - bp[..., 1]) + (bt[..., 2] - bt[..., 0]) * (bt[..., 3] - bt[..., 1]) - inter
    iou = inter / (union + 1e-7)
    cw = torch.max(bp[..., 2], bt[..., 2]) - torch.min(bp[..., 0], bt[..., 0])
    ch = torch.max(bp[..., 3], bt[..., 3]) - torch.min(bp[..., 1], bt[..., 1])
    area = cw * ch
    giou = iou - (area - union) / (area + 1e-7)
    w = (ctr_t * pos)[..., 0]
    reg = ((1 - giou) * w).sum() / w.sum().clamp(min=1e-6)
    bce = F.binary_cross_entropy_with_logits(ctr_p, ctr_t, reduction="none")
    ctr = (bce * pos).sum() / num_pos
    return focal + reg + ctr


def main():
    p = argparse.ArgumentParser()
    p.add_argument("base")
    p.add_argument("n", type=int)
    p.add_argument("size", type=int)
    p.add_argument("classes", type=int)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = torch.from_numpy(np.fromfile(a.base + ".x", dtype=np.float32).reshape(a.n, a.size, a.size, 3)).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(np.fromfile(a.base + ".y", dtype=np.float32).reshape(a.n, -1, a.classes + 6))
    model = Fcos(a.classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = a.n // a.batch

    def step(i):
        j = (i % batches) * a.batch
        opt.zero_grad()
        loss = fcos_loss(y[j:j + a.batch], model(x[j:j + a.batch]), a.classes)
        loss.backward()
        opt.step()
        return loss

    for i in range(a.warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(a.steps):
        loss = step(i)
    float(loss)
    s = time.perf_counter() - t0
    print(json.dumps({"pytorch_version": torch.__version__, "threads": a.threads, "train_img_s": a.steps * a.batch / s, "loss": float(loss)}))


if __name__ == "__main__":
    main()
