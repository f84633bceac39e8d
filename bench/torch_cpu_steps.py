#!/usr/bin/python3
"""The DDPM U-Net's training and sampling steps in PyTorch on the CPU, as StepBench times them.

The model is built here from the description in nn/.../UNet.java (time-embedding MLP, 3x3 input
conv, ResBlocks with GroupNorm+SiLU and the time embedding added after the first conv, AttnBlocks
with 1x1 q/k/v applied to the [B, HW, C] tokens, strided-conv Downsample, nearest Upsample + conv,
GroupNorm+SiLU+3x3 output conv), so both sides run the same layers at the same shapes:

  train:  t and eps drawn, x_t = sqrt(abar_t) x0 + sqrt(1-abar_t) eps, L_simple, backward,
          gradient clipping at 1, Adam lr 2e-4, EMA 0.9999
  sample: the U-Net forward in eval mode without autograd, then the DDPM posterior step with noise

Usage: /usr/bin/python3 bench/torch_cpu_steps.py --config small --threads 2 [--seconds 6] [--json out.json]
Prints one line per step: "torch <config> <train|sample> B=<batch> <ms> ms/step (<n> steps)".
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    # resolution, ch, ch_mult, res blocks, attention resolutions, train batch, sample batch (CPU)
    "tiny": dict(res=16, ch=32, mult=(1, 2), blocks=1, attn=(8,), train=4, sample=8),
    "small": dict(res=32, ch=64, mult=(1, 2, 2), blocks=2, attn=(8,), train=16, sample=32),
    "cifar10": dict(res=32, ch=128, mult=(1, 2, 2, 2), blocks=2, attn=(16,), train=8, sample=16),
}
GROUPS, EPS, DROPOUT, T = 32, 1e-6, 0.1, 1000


class ResBlock(nn.Module):
    def __init__(self, cin, cout, tdim):
        super().__init__()
        self.norm1 = nn.GroupNorm(GROUPS, cin, eps=EPS)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb_proj = nn.Linear(tdim, cout)
        self.norm2 = nn.GroupNorm(GROUPS, cout, eps=EPS)
        self.dropout = nn.Dropout(DROPOUT)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (self.skip(x) if self.skip is not None else x) + h


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = nn.GroupNorm(GROUPS, c, eps=EPS)
        self.q, self.k, self.v, self.proj_out = (nn.Linear(c, c) for _ in range(4))

    def forward(self, x):
        b, c, h, w = x.shape
        tokens = self.norm(x).reshape(b, c, h * w).transpose(1, 2)
        q, k, v = self.q(tokens), self.k(tokens), self.v(tokens)
        att = torch.softmax(torch.bmm(q, k.transpose(1, 2)) * (c ** -0.5), dim=-1)
        o = self.proj_out(torch.bmm(att, v))
        return x + o.transpose(1, 2).reshape(b, c, h, w)


class UNet(nn.Module):
    def __init__(self, res, ch, mult, blocks, attn):
        super().__init__()
        self.ch, tdim = ch, 4 * ch
        half = ch // 2
        self.register_buffer("freqs", torch.exp(-math.log(10000.0) * torch.arange(half) / (half - 1)))
        self.temb = nn.Sequential(nn.Linear(ch, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.conv_in = nn.Conv2d(3, ch, 3, padding=1)
        self.down, chans, c, r = nn.ModuleList(), [ch], ch, res
        for i, m in enumerate(mult):
            for _ in range(blocks):
                self.down.append(ResBlock(c, ch * m, tdim))
                c = ch * m
                if r in attn:
                    self.down.append(AttnBlock(c))
                chans.append(c)
            if i != len(mult) - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                chans.append(c)
                r //= 2
        self.mid = nn.ModuleList([ResBlock(c, c, tdim), AttnBlock(c), ResBlock(c, c, tdim)])
        self.up = nn.ModuleList()
        for i in reversed(range(len(mult))):
            for _ in range(blocks + 1):
                self.up.append(ResBlock(c + chans.pop(), ch * mult[i], tdim))
                c = ch * mult[i]
                if r in attn:
                    self.up.append(AttnBlock(c))
            if i != 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c, 3, padding=1)))
                r *= 2
        self.norm_out = nn.GroupNorm(GROUPS, c, eps=EPS)
        self.conv_out = nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, x, t):
        arg = t.float()[:, None] * self.freqs[None, :]
        emb = self.temb(torch.cat([arg.sin(), arg.cos()], dim=1))
        h = self.conv_in(x)
        hs = [h]
        for m in self.down:
            if isinstance(m, ResBlock):
                h = m(h, emb)
                hs.append(h)
            elif isinstance(m, AttnBlock):
                h = m(h)
                hs[-1] = h
            else:
                h = m(h)
                hs.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, emb)), emb)
        for m in self.up:
            if isinstance(m, ResBlock):
                h = m(torch.cat([h, hs.pop()], dim=1), emb)
            else:
                h = m(h)
        return self.conv_out(F.silu(self.norm_out(h)))


def schedule():
    beta = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    abar = torch.cumprod(1 - beta, 0)
    return dict(a=abar.sqrt().float(), s=(1 - abar).sqrt().float(), c1=(1 / (1 - beta).sqrt()).float(),
                c2=(beta / (1 - abar).sqrt()).float(), sigma=beta.sqrt().float())


def timed(step, seconds, warmup):
    """Mean ms per step over at least `seconds` (and 3 steps), after `warmup` seconds of steps."""
    end = time.perf_counter() + warmup
    while True:
        step()
        if time.perf_counter() >= end:
            break
    n, start = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - start < seconds:
        step()
        n += 1
    return (time.perf_counter() - start) * 1e3 / n, n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", choices=CONFIGS, default="small")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--warmup", type=float, default=4.0)
    p.add_argument("--steps", default="train,sample")
    p.add_argument("--json")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = CONFIGS[a.config]
    model = UNet(cfg["res"], cfg["ch"], cfg["mult"], cfg["blocks"], cfg["attn"])
    params = [q for q in model.parameters()]
    opt = torch.optim.Adam(params, lr=2e-4, foreach=True)
    ema = [q.detach().clone() for q in params]
    sch = schedule()
    res, bt, bs = cfg["res"], cfg["train"], cfg["sample"]
    x0 = [torch.rand(bt, 3, res, res) * 2 - 1 for _ in range(2)]
    xs = [torch.randn(bs, 3, res, res) for _ in range(2)]
    turn = [0]

    def train():
        turn[0] ^= 1
        x = x0[turn[0]]
        model.train()
        t = torch.randint(0, T, (bt,))
        eps = torch.randn_like(x)
        xt = sch["a"][t].view(-1, 1, 1, 1) * x + sch["s"][t].view(-1, 1, 1, 1) * eps
        loss = F.mse_loss(model(xt, t), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            torch._foreach_mul_(ema, 0.9999)
            torch._foreach_add_(ema, params, alpha=1 - 0.9999)

    def sample():
        turn[0] ^= 1
        x = xs[turn[0]]
        model.eval()
        with torch.no_grad():
            t = torch.full((bs,), 500, dtype=torch.long)
            eps_hat = model(x, t)
            z = torch.randn_like(x)
            c = lambda k: sch[k][t].view(-1, 1, 1, 1)
            return c("c1") * (x - c("c2") * eps_hat) + c("sigma") * z

    out = {"config": a.config, "threads": a.threads, "torch": torch.__version__,
           "params": sum(q.numel() for q in params)}
    for name in a.steps.split(","):
        ms, n = timed(train if name == "train" else sample, a.seconds, a.warmup)
        b = bt if name == "train" else bs
        out[name] = {"ms": ms, "steps": n, "batch": b}
        print(f"torch {a.config} {name} B={b} {ms:.1f} ms/step ({n} steps)", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
