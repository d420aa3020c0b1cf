#!/usr/bin/env python3
"""Writes test/fixtures/audio-features.json: torchaudio's own feature transforms (Debian
python3-torchaudio 0.13) on two fixed waveforms, in float64. The TypeScript tests run Lepton's
audio features on the same waveforms and compare. Run: /usr/bin/python3 scripts/make-audio-fixtures.py"""
import json
import math
import os

import torch
import torchaudio
import torchaudio.compliance.kaldi as kaldi

torch.set_default_dtype(torch.float64)
SR = 16000


def waveform(n, seed):
    # A chirp, two tones and deterministic pseudo-noise (no RNG, so anyone can regenerate it).
    t = torch.arange(n, dtype=torch.float64) / SR
    chirp = 0.4 * torch.sin(2 * math.pi * (200 + 1500 * t) * t)
    tones = 0.2 * torch.sin(2 * math.pi * (440 + 37 * seed) * t) + 0.1 * torch.cos(2 * math.pi * 3100 * t)
    noise = 0.05 * torch.tensor([math.sin(seed * 12.9898 + i * 78.233) * 43758.5453 % 1.0 - 0.5 for i in range(n)])
    return chirp + tones + noise


def rounded(t):
    return [float(v) for v in t.flatten().tolist()]


waves = [waveform(9600, 1), waveform(5000, 2)]
cases = []
for i, w in enumerate(waves):
    x = w.unsqueeze(0)  # [1, N]: torchaudio's amplitude_to_DB takes its top_db max per channel group
    spec = torchaudio.transforms.Spectrogram(n_fft=400, hop_length=160, power=2.0)(x)[0]
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=SR, n_fft=400, hop_length=160, n_mels=40)(x)[0]
    mel_slaney = torchaudio.transforms.MelSpectrogram(
        sample_rate=SR, n_fft=512, win_length=400, hop_length=160, n_mels=64, f_min=30.0, f_max=7600.0,
        norm='slaney', mel_scale='slaney')(x)[0]
    mfcc = torchaudio.transforms.MFCC(
        sample_rate=SR, n_mfcc=13, melkwargs={'n_fft': 400, 'hop_length': 160, 'n_mels': 40})(x)[0]
    fbank = kaldi.fbank(x * 32768, num_mel_bins=80, sample_frequency=SR, dither=0.0)
    fbank_raw = kaldi.fbank(x * 32768, num_mel_bins=23, sample_frequency=SR, dither=0.0, window_type='hamming',
                            remove_dc_offset=False, preemphasis_coefficient=0.0, low_freq=64.0, high_freq=-400.0)
    cases.append({
        'name': f'wave{i}',
        'waveform': rounded(w),
        'spectrogram': {'options': {'nFft': 400, 'hopLength': 160, 'power': 2}, 'shape': list(spec.shape),
                        'values': rounded(spec)},
        'melSpectrogram': {'options': {'sampleRate': SR, 'nFft': 400, 'hopLength': 160, 'nMels': 40},
                           'shape': list(mel.shape), 'values': rounded(mel)},
        'melSpectrogramSlaney': {'options': {'sampleRate': SR, 'nFft': 512, 'winLength': 400, 'hopLength': 160,
                                             'nMels': 64, 'fMin': 30, 'fMax': 7600, 'norm': 'slaney',
                                             'melScale': 'slaney'},
                                 'shape': list(mel_slaney.shape), 'values': rounded(mel_slaney)},
        'mfcc': {'options': {'sampleRate': SR, 'nMfcc': 13, 'nFft': 400, 'hopLength': 160, 'nMels': 40},
                 'shape': list(mfcc.shape), 'values': rounded(mfcc)},
        'fbank': {'options': {'numMelBins': 80, 'sampleRate': SR, 'scale': 32768},
                  'shape': list(fbank.shape), 'values': rounded(fbank)},
        'fbankOptions': {'options': {'numMelBins': 23, 'sampleRate': SR, 'scale': 32768, 'windowType': 'hamming',
                                     'removeDcOffset': False, 'preemphasis': 0.0, 'lowFreq': 64, 'highFreq': -400},
                         'shape': list(fbank_raw.shape), 'values': rounded(fbank_raw)},
    })

out = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'audio-features.json')
with open(out, 'w') as f:
    json.dump({'generator': f'torchaudio {torchaudio.__version__}, torch {torch.__version__}, float64',
               'cases': cases}, f)
print('wrote', out)
