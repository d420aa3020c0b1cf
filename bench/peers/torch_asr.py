"""PyTorch peers for `npm run bench -- speech`.

`train`: the ASR model of lepton/audio's convAsrModel (examples/asr.ts) written layer by layer in
PyTorch: fixed per-bin standardisation, Conv1d(bins→C, 9, stride 3, 'same' padding, no bias) + BN
+ ReLU, then per kernel size a depthwise Conv1d(C, k, groups=C, no bias) + pointwise Conv1d(C, 1,
no bias) + BN + ReLU, Conv1d(C→2C, 1) + ReLU, Dropout(0.1), Linear(2C→classes); CTC loss
(log-softmax and the recursion in float64, zero_infinity, per-example losses averaged over the
batch as Keras' loss reduction does), Adam with a cosine-decayed learning rate and global
gradient-norm clipping at 5. BatchNorm uses Keras' epsilon 1e-3 and momentum 0.99 (PyTorch 0.01).
Trains on the batches the bench wrote (features [N, frames, bins] float32, labels [N, L] float32
padded with -1) and prints one JSON line with utterances/s.

`features`: torchaudio.compliance.kaldi.fbank and torchaudio.transforms.MelSpectrogram +
AmplitudeToDB on the clips the bench wrote (float32 samples in [-1, 1], lengths in a .len file),
one clip at a time as torchaudio takes them; prints one JSON line with audio seconds/s.

Run with Debian's PyTorch: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/peers/torch_asr.py ...
"""
import argparse
import json
import math
import resource
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvAsr(nn.Module):
    def __init__(self, bins, classes, channels=96, kernels=(11, 13, 15, 17, 19), stride=3):
        super().__init__()
        c = channels
        self.register_buffer("mean", torch.zeros(bins))
        self.register_buffer("std", torch.ones(bins))
        bn = lambda: nn.BatchNorm1d(c, eps=1e-3, momentum=0.01)
        layers = [nn.Conv1d(bins, c, 9, stride=stride, padding=3, bias=False), bn(), nn.ReLU()]
        for k in kernels:
            layers += [
                nn.Conv1d(c, c, k, padding=k // 2, groups=c, bias=False),
                nn.Conv1d(c, c, 1, bias=False),
                bn(),
                nn.ReLU(),
            ]
        layers += [nn.Conv1d(c, 2 * c, 1), nn.ReLU(), nn.Dropout(0.1)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(2 * c, classes)

    def forward(self, x):  # x [B, frames, bins] → logits [B, frames / stride, classes]
        x = ((x - self.mean) / self.std).transpose(1, 2)
        return self.head(self.body(x).transpose(1, 2))


def train(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    x = torch.from_numpy(np.fromfile(a.base + ".x", dtype=np.float32).reshape(a.n, a.frames, a.bins))
    y = torch.from_numpy(np.fromfile(a.base + ".y", dtype=np.float32).reshape(a.n, -1)).long()
    model = ConvAsr(a.bins, a.classes)
    model.mean.copy_(x.mean((0, 1)))
    model.std.copy_(x.var((0, 1), unbiased=False).sqrt())
    opt = torch.optim.Adam(model.parameters(), lr=1.5e-3)
    total = a.warmup + a.steps
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=5e-5)
    batches = a.n // a.batch
    target_lengths = (y >= 0).sum(1)
    targets = y.clamp(min=0)

    def step(i):
        b = i % batches
        xb, tb, lb = (t[b * a.batch : (b + 1) * a.batch] for t in (x, targets, target_lengths))
        logits = model(xb)
        log_probs = F.log_softmax(logits.double(), -1).transpose(0, 1)  # [T, B, C]
        frames = torch.full((xb.shape[0],), log_probs.shape[0], dtype=torch.long)
        losses = F.ctc_loss(log_probs, tb, frames, lb, blank=0, reduction="none", zero_infinity=True)
        loss = losses.float().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        return loss

    model.train()
    for i in range(a.warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(a.steps):
        loss = step(a.warmup + i)
    float(loss)
    seconds = time.perf_counter() - t0
    return {
        "utt_s": a.steps * a.batch / seconds,
        "ms_per_step": seconds * 1000 / a.steps,
        "threads": torch.get_num_threads(),
        "version": torch.__version__,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def features(a):
    import torchaudio

    torch.set_num_threads(a.threads)
    lengths = np.fromfile(a.base + ".len", dtype=np.int32)
    samples = torch.from_numpy(np.fromfile(a.base + ".wav", dtype=np.float32))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    clips = [samples[offsets[i] : offsets[i + 1]].unsqueeze(0) for i in range(len(lengths))]
    seconds = float(lengths.sum()) / 16000
    mel = torchaudio.transforms.MelSpectrogram(16000, n_fft=512, win_length=400, hop_length=160, n_mels=a.bins)
    to_db = torchaudio.transforms.AmplitudeToDB()
    variants = {
        "fbank": lambda c: torchaudio.compliance.kaldi.fbank(c * 32768, num_mel_bins=a.bins),
        "logmel": lambda c: to_db(mel(c)),
    }
    out = {}
    for name, f in variants.items():
        with torch.no_grad():
            for c in clips:  # warm-up
                f(c)
            times = []
            for _ in range(a.reps):
                t0 = time.perf_counter()
                for c in clips:
                    f(c)
                times.append(time.perf_counter() - t0)
        out[f"{name}_audio_s_per_s"] = seconds / float(np.median(times))
    out["threads"] = torch.get_num_threads()
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["train", "features"])
    p.add_argument("base")
    p.add_argument("--n", type=int, default=0)
    p.add_argument("--frames", type=int, default=384)
    p.add_argument("--bins", type=int, default=40)
    p.add_argument("--classes", type=int, default=29)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    print(json.dumps(train(a) if a.mode == "train" else features(a)))
