"""PyTorch peer for `npm run bench -- text`. Prints one JSON line.

--model lstm|gru: Embedding(V, E) -> 1-layer LSTM/GRU(H) (last step) -> Linear(H, C), Adam, cross-entropy.
--model transformer: token + learned position embeddings -> nn.TransformerEncoder (post-norm, ReLU,
  dropout 0, the Keras-hub TransformerEncoder's placement) -> mean over time -> Linear, Adam.
--model decode: a pre-norm Transformer encoder-decoder (the shapes of Lepton's Seq2SeqTransformer)
  decoding a batch of sources greedily and with beam search (width 4), with incremental decoding:
  self-attention keys/values cached per layer, cross-attention keys/values computed once. No end
  token is ever chosen, so every hypothesis runs the full length on both sides.

Run with Debian's PyTorch: OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/peers/torch_text.py --model lstm
(the bench spawns it with the same shapes, batch and step counts as Lepton's run).
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Recurrent(nn.Module):
    def __init__(self, kind, vocab, embed, hidden, classes):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.rnn = (nn.LSTM if kind == "lstm" else nn.GRU)(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, ids):
        out, _ = self.rnn(self.embedding(ids))
        return self.head(out[:, -1])


class EncoderClassifier(nn.Module):
    def __init__(self, vocab, seq, d, heads, ffn, layers, classes):
        super().__init__()
        self.tokens = nn.Embedding(vocab, d)
        self.positions = nn.Parameter(torch.randn(seq, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, heads, ffn, dropout=0.0, activation="relu", layer_norm_eps=1e-5,
                                           batch_first=True, norm_first=False)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, classes)

    def forward(self, ids):
        h = self.encoder(self.tokens(ids) + self.positions)
        return self.head(h.mean(1))


def train(a):
    torch.manual_seed(0)
    if a.model == "transformer":
        model = EncoderClassifier(a.vocab, a.seq, a.hidden, a.heads, a.ffn, a.layers, a.classes)
    else:
        model = Recurrent(a.model, a.vocab, a.embed, a.hidden, a.classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    batches = 16
    x = torch.randint(1, a.vocab, (batches * a.batch, a.seq))
    y = torch.randint(0, a.classes, (batches * a.batch,))

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
    c0 = time.process_time()
    for i in range(a.steps):
        t0 = time.perf_counter()
        float(step(i))
        times.append(time.perf_counter() - t0)
    cpu = (time.process_time() - c0) / a.steps
    times.sort()
    return {"pytorch_ms_per_step": times[len(times) // 2] * 1000, "pytorch_cpu_ms_per_step": cpu * 1000,
            "params": sum(p.numel() for p in model.parameters())}


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))

    def split(self, x):  # [N, T, D] -> [N, heads, T, dh]
        n, t, d = x.shape
        return x.view(n, t, self.heads, d // self.heads).transpose(1, 2)

    def attend(self, q, k, v, mask=None):
        s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if mask is not None:
            s = s.masked_fill(~mask, float("-inf"))
        o = torch.softmax(s, -1) @ v
        n, h, t, dh = o.shape
        return self.o(o.transpose(1, 2).reshape(n, t, h * dh))


class EncoderLayer(nn.Module):
    def __init__(self, d, heads, ffn):
        super().__init__()
        self.attn = Attention(d, heads)
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, ffn), nn.ReLU(), nn.Linear(ffn, d))

    def forward(self, x, mask):
        h = self.n1(x)
        a = self.attn
        x = x + a.attend(a.split(a.q(h)), a.split(a.k(h)), a.split(a.v(h)), mask)
        return x + self.ff(self.n2(x))


class DecoderLayer(nn.Module):
    def __init__(self, d, heads, ffn):
        super().__init__()
        self.self_attn, self.cross = Attention(d, heads), Attention(d, heads)
        self.n1, self.n2, self.n3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, ffn), nn.ReLU(), nn.Linear(ffn, d))

    def memory_kv(self, memory):
        c = self.cross
        return c.split(c.k(memory)), c.split(c.v(memory))

    def step(self, x, cache, mem_kv, mem_mask):
        """x [N, 1, D]; cache: (keys, values) of earlier positions or None. Returns x, new cache."""
        h = self.n1(x)
        a = self.self_attn
        k, v = a.split(a.k(h)), a.split(a.v(h))
        if cache is not None:
            k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
        x = x + a.attend(a.split(a.q(h)), k, v)
        h = self.n2(x)
        x = x + self.cross.attend(self.cross.split(self.cross.q(h)), mem_kv[0], mem_kv[1], mem_mask)
        return x + self.ff(self.n3(x)), (k, v)


class Seq2Seq(nn.Module):
    def __init__(self, vocab, max_len, d, heads, ffn, layers):
        super().__init__()
        self.src_tok, self.tgt_tok = nn.Embedding(vocab, d), nn.Embedding(vocab, d)
        self.src_pos = nn.Parameter(torch.randn(max_len, d) * 0.02)
        self.tgt_pos = nn.Parameter(torch.randn(max_len, d) * 0.02)
        self.enc = nn.ModuleList(EncoderLayer(d, heads, ffn) for _ in range(layers))
        self.dec = nn.ModuleList(DecoderLayer(d, heads, ffn) for _ in range(layers))
        self.enc_norm, self.dec_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.out = nn.Linear(d, vocab)

    def encode(self, src):
        mask = (src != 0)[:, None, None, :]
        x = self.src_tok(src) + self.src_pos[: src.shape[1]]
        for layer in self.enc:
            x = layer(x, mask)
        return self.enc_norm(x), mask

    def decode(self, src, bos, length, beam):
        """Greedy (beam 1) or beam search without an end token: [N, length] ids."""
        memory, mask = self.encode(src)
        n = src.shape[0]
        if beam > 1:
            memory, mask = memory.repeat_interleave(beam, 0), mask.repeat_interleave(beam, 0)
        rows = n * beam
        mem_kv = [layer.memory_kv(memory) for layer in self.dec]
        caches = [None] * len(self.dec)
        tokens = torch.full((rows, 1), bos, dtype=torch.long)
        scores = torch.zeros(n, beam)
        if beam > 1:
            scores[:, 1:] = float("-inf")  # one live hypothesis per row at the start
        out = []
        for t in range(length):
            x = self.tgt_tok(tokens) + self.tgt_pos[t]
            for i, layer in enumerate(self.dec):
                x, caches[i] = layer.step(x, caches[i], mem_kv[i], mask)
            lp = torch.log_softmax(self.out(self.dec_norm(x))[:, 0], -1)
            if beam == 1:
                tokens = lp.argmax(-1, keepdim=True)
                out.append(tokens)
                continue
            v = lp.shape[-1]
            total = (scores[:, :, None] + lp.view(n, beam, v)).view(n, beam * v)
            scores, idx = total.topk(beam, -1)
            origin = (idx // v + torch.arange(n)[:, None] * beam).view(-1)
            tokens = (idx % v).view(rows, 1)
            caches = [(k.index_select(0, origin), vv.index_select(0, origin)) for k, vv in caches]
            out = [o.index_select(0, origin) for o in out] + [tokens]
        return torch.cat(out, 1)


def decode(a):
    torch.manual_seed(0)
    model = Seq2Seq(a.vocab, a.max_len, a.hidden, a.heads, a.ffn, a.layers).eval()
    src = torch.randint(1, a.vocab, (a.batch, a.seq))
    result = {}
    with torch.no_grad():
        for name, beam in (("greedy", 1), ("beam", 4)):
            for _ in range(a.warmup):
                model.decode(src, 1, a.length, beam)
            times = []
            c0 = time.process_time()
            for _ in range(a.steps):
                t0 = time.perf_counter()
                model.decode(src, 1, a.length, beam)
                times.append(time.perf_counter() - t0)
            result[f"pytorch_{name}_cpu_ms"] = (time.process_time() - c0) * 1000 / a.steps
            times.sort()
            ms = times[len(times) // 2] * 1000
            result[f"pytorch_{name}_ms"] = ms
            result[f"pytorch_{name}_tokens_s"] = a.batch * a.length / (ms / 1000)
    result["params"] = sum(p.numel() for p in model.parameters())
    return result


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["lstm", "gru", "transformer", "decode"], required=True)
    p.add_argument("--vocab", type=int, default=2000)
    p.add_argument("--classes", type=int, default=2)
    p.add_argument("--seq", type=int, default=32)
    p.add_argument("--embed", type=int, default=128)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--max-len", type=int, default=64)
    p.add_argument("--length", type=int, default=32)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    r = decode(a) if a.model == "decode" else train(a)
    r.update(pytorch_version=torch.__version__, pytorch_threads=torch.get_num_threads(), peak_rss_mb=peak_rss_mb())
    print(json.dumps(r))


if __name__ == "__main__":
    main()
