#!/usr/bin/env python3
"""The DDPM U-Net (Ho et al. 2020) in PyTorch, and jddpm's checkpoints in and out of it.

The network follows the original TensorFlow model (diffusion_tf/models/unet.py) and its PyTorch
port, module for module, so its state_dict() names are the port's ("pytorch_diffusion" layout:
temb.dense.0.weight, down.0.block.0.norm1.weight, down.1.attn.0.q.weight, mid.block_1,
up.3.upsample.conv.weight, norm_out, conv_out) and the paper's converted weights load into it
as they are. It adds what jddpm's U-Net adds: a label table (label_emb.weight, num_classes + 1
rows, the last one the null label of classifier-free guidance) and a choice of downsampling
padding ("tf_same", the original's, or "symmetric").

Use from Python (needs only torch and numpy):

    import jddpm_unet as J
    model = J.load_jddpm("runs/cifar10-paper/ckpt-000800000.safetensors")   # EMA weights
    eps = model(x, t)                       # x [B, 3, 32, 32] in [-1, 1], t int [B]
    J.save_jddpm(model, "from_torch.safetensors")   # a jddpm checkpoint (Sample, EvalNll read it)
    J.save_state_dict(model, "state.safetensors")   # this module's names (+ its config)

and from the command line:

    python3 tools/torch/jddpm_unet.py to-safetensors model-790000.ckpt model-790000.safetensors
    python3 tools/torch/jddpm_unet.py eps --ckpt runs/x/ckpt-000001000.safetensors --t 500

Checkpoints are safetensors files read and written here directly (8-byte little-endian header
length, JSON header, raw little-endian data), so the safetensors package is not needed.
"""
import argparse
import collections
import json
import math
import os
import pickle
import struct
import sys
import tempfile
import time
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT = "jddpm-checkpoint-1"
CRC32_KEY = "tensor_crc32"

# --------------------------------------------------------------------------------- safetensors
_NP = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1",
       "BOOL": "?"}


def read_safetensors(path):
    """(OrderedDict name -> torch tensor, metadata dict) of a safetensors file; BF16 becomes float32."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"), object_pairs_hook=collections.OrderedDict)
    meta = header.pop("__metadata__", {}) or {}
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = collections.OrderedDict()
    for name, e in header.items():
        begin, end = e["data_offsets"]
        chunk = raw[begin:end]
        if e["dtype"] == "BF16":
            a = (chunk.view("<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            a = chunk.view(_NP[e["dtype"]])
        out[name] = torch.from_numpy(np.array(a.reshape(e["shape"]), copy=True))
    return out, dict(meta)


def _le_bytes(t):
    a = t.detach().cpu().contiguous().numpy()
    kind = {np.dtype("float32"): "<f4", np.dtype("float64"): "<f8", np.dtype("int32"): "<i4", np.dtype("int64"): "<i8",
            np.dtype("float16"): "<f2"}[a.dtype]
    return a.astype(kind, copy=False).tobytes(), {"<f4": "F32", "<f8": "F64", "<i4": "I32", "<i8": "I64", "<f2": "F16"}[kind]


def write_safetensors(path, tensors, metadata=None, checksums=True):
    """Writes name -> tensor (in order) and string metadata to path, atomically (a temp file renamed).
    With checksums, adds jddpm's tensor_crc32 metadata (zlib CRC-32 of each tensor's bytes)."""
    blobs, header, at = [], collections.OrderedDict(), 0
    crcs = collections.OrderedDict()
    for name, t in tensors.items():
        b, dt = _le_bytes(t)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        crcs[name] = "%08x" % (zlib.crc32(b) & 0xFFFFFFFF)
        at += len(b)
    meta = dict(metadata or {})
    if checksums:
        meta[CRC32_KEY] = json.dumps(crcs, separators=(",", ":"))
    if meta:
        header = collections.OrderedDict([("__metadata__", meta)] + list(header.items()))
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(h)))
            f.write(h)
            for b in blobs:
                f.write(b)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# --------------------------------------------------------------------------------- config
CIFAR10 = {"resolution": 32, "in_channels": 3, "out_channels": 3, "ch": 128, "ch_mult": [1, 2, 2, 2], "num_res_blocks": 2,
           "attn_resolutions": [16], "dropout": 0.1, "num_classes": 0, "groups": 32, "downsample_pad": "tf_same"}


def config_from(c):
    """A config dict from jddpm's config JSON (a string or a dict); absent downsample_pad means symmetric
    (jddpm checkpoints written before the option existed)."""
    c = json.loads(c) if isinstance(c, str) else dict(c)
    c.setdefault("downsample_pad", "symmetric")
    missing = [k for k in CIFAR10 if k not in c]
    if missing:
        raise ValueError("config lacks %s" % ", ".join(missing))
    return c


# --------------------------------------------------------------------------------- the network
def timestep_embedding(t, dim, dtype):
    """DDPM's sinusoidal embedding: [sin(t·f_i), cos(t·f_i)], f_i = exp(-ln(10000)·i/(half-1)).
    The argument t·f_i is formed in float32, as the original TF code and jddpm form it; sin and cos
    are then taken in the model's dtype."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / (half - 1)).float()
    arg = (t.float()[:, None] * freqs[None, :]).to(dtype)
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


def group_norm(channels, groups):
    return nn.GroupNorm(num_groups=groups, num_channels=channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    def __init__(self, in_ch, out_ch, temb_ch, dropout, groups):
        super().__init__()
        self.norm1 = group_norm(in_ch, groups)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.temb_proj = nn.Linear(temb_ch, out_ch)
        self.norm2 = group_norm(out_ch, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        if in_ch != out_ch:
            self.nin_shortcut = nn.Conv2d(in_ch, out_ch, 1, 1, 0)

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x) + h


class AttnBlock(nn.Module):
    def __init__(self, ch, groups):
        super().__init__()
        self.norm = group_norm(ch, groups)
        self.q = nn.Conv2d(ch, ch, 1)
        self.k = nn.Conv2d(ch, ch, 1)
        self.v = nn.Conv2d(ch, ch, 1)
        self.proj_out = nn.Conv2d(ch, ch, 1)

    def forward(self, x):
        b, c, hh, ww = x.shape
        h = self.norm(x)
        q = self.q(h).reshape(b, c, hh * ww).permute(0, 2, 1)           # [B, HW, C]
        k = self.k(h).reshape(b, c, hh * ww)                            # [B, C, HW]
        v = self.v(h).reshape(b, c, hh * ww)
        w = torch.softmax(torch.bmm(q, k) * (c ** -0.5), dim=2)         # [B, HW(query), HW(key)]
        h = torch.bmm(v, w.permute(0, 2, 1)).reshape(b, c, hh, ww)
        return x + self.proj_out(h)


class Downsample(nn.Module):
    def __init__(self, ch, pad):
        super().__init__()
        self.pad = pad
        self.conv = nn.Conv2d(ch, ch, 3, 2, 0 if pad == "tf_same" else 1)

    def forward(self, x):
        if self.pad == "tf_same":
            x = F.pad(x, (0, 1, 0, 1))
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UNet(nn.Module):
    """ε̂ = UNet(config)(x, t, labels=None): x [B, C, H, W], t integer [B], labels integer [B] or None
    (class-conditional models only; a label < 0 or None is the null label)."""

    def __init__(self, config):
        super().__init__()
        c = self.config = config_from(config)
        ch, groups, dropout = c["ch"], c["groups"], c["dropout"]
        mult, nb, L = c["ch_mult"], c["num_res_blocks"], len(c["ch_mult"])
        self.temb_ch = 4 * ch
        self.temb = nn.Module()
        self.temb.dense = nn.ModuleList([nn.Linear(ch, self.temb_ch), nn.Linear(self.temb_ch, self.temb_ch)])
        if c["num_classes"] > 0:
            self.label_emb = nn.Embedding(c["num_classes"] + 1, self.temb_ch)
        self.conv_in = nn.Conv2d(c["in_channels"], ch, 3, 1, 1)
        res = c["resolution"]
        in_mult = [1] + list(mult)
        self.down = nn.ModuleList()
        block_in = ch
        for i in range(L):
            level = nn.Module()
            level.block, level.attn = nn.ModuleList(), nn.ModuleList()
            block_in, block_out = ch * in_mult[i], ch * mult[i]
            for _ in range(nb):
                level.block.append(ResnetBlock(block_in, block_out, self.temb_ch, dropout, groups))
                block_in = block_out
                if res in c["attn_resolutions"]:
                    level.attn.append(AttnBlock(block_in, groups))
            if i != L - 1:
                level.downsample = Downsample(block_in, c["downsample_pad"])
                res //= 2
            self.down.append(level)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in, self.temb_ch, dropout, groups)
        self.mid.attn_1 = AttnBlock(block_in, groups)
        self.mid.block_2 = ResnetBlock(block_in, block_in, self.temb_ch, dropout, groups)
        self.up = nn.ModuleList()
        for i in reversed(range(L)):
            level = nn.Module()
            level.block, level.attn = nn.ModuleList(), nn.ModuleList()
            block_out = ch * mult[i]
            for j in range(nb + 1):
                skip_in = ch * in_mult[i] if j == nb else ch * mult[i]
                level.block.append(ResnetBlock(block_in + skip_in, block_out, self.temb_ch, dropout, groups))
                block_in = block_out
                if res in c["attn_resolutions"]:
                    level.attn.append(AttnBlock(block_in, groups))
            if i != 0:
                level.upsample = Upsample(block_in)
                res *= 2
            self.up.insert(0, level)   # indexed by level, like down
        self.norm_out = group_norm(block_in, groups)
        self.conv_out = nn.Conv2d(block_in, c["out_channels"], 3, 1, 1)

    def forward(self, x, t, labels=None):
        L, nb = len(self.config["ch_mult"]), self.config["num_res_blocks"]
        temb = timestep_embedding(t, self.config["ch"], x.dtype)
        temb = self.temb.dense[1](F.silu(self.temb.dense[0](temb)))
        if hasattr(self, "label_emb"):
            null = self.config["num_classes"]
            rows = torch.full_like(t, null) if labels is None else torch.where(labels < 0, torch.full_like(labels, null), labels)
            temb = temb + self.label_emb(rows.long())
        elif labels is not None:
            raise ValueError("labels given but the model is unconditional")
        hs = [self.conv_in(x)]
        for i in range(L):
            for j in range(nb):
                h = self.down[i].block[j](hs[-1], temb)
                if len(self.down[i].attn) > 0:
                    h = self.down[i].attn[j](h)
                hs.append(h)
            if i != L - 1:
                hs.append(self.down[i].downsample(hs[-1]))
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(hs[-1], temb)), temb)
        for i in reversed(range(L)):
            for j in range(nb + 1):
                h = self.up[i].block[j](torch.cat([h, hs.pop()], dim=1), temb)
                if len(self.up[i].attn) > 0:
                    h = self.up[i].attn[j](h)
            if i != 0:
                h = self.up[i].upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


# --------------------------------------------------------------------------------- jddpm names
def jddpm_names(config):
    """OrderedDict: jddpm parameter name -> this module's, for a config. jddpm keeps each path as
    one flat list in forward order (down.0, down.1, ... mixing ResBlocks, AttnBlocks and
    Downsamples; mid.0/1/2; up.0 = the lowest level's first block), names the 1×1 shortcut
    'skip' and the time MLP temb.0 / temb.2."""
    c = config_from(config)
    L, nb = len(c["ch_mult"]), c["num_res_blocks"]
    prefixes = collections.OrderedDict([("temb.0.", "temb.dense.0."), ("temb.2.", "temb.dense.1.")])
    if c["num_classes"] > 0:
        prefixes["label_emb."] = "label_emb."
    prefixes["conv_in."] = "conv_in."
    res, k = c["resolution"], 0
    for i in range(L):
        for j in range(nb):
            prefixes["down.%d." % k] = "down.%d.block.%d." % (i, j)
            k += 1
            if res in c["attn_resolutions"]:
                prefixes["down.%d." % k] = "down.%d.attn.%d." % (i, j)
                k += 1
        if i != L - 1:
            prefixes["down.%d." % k] = "down.%d.downsample." % i
            k += 1
            res //= 2
    prefixes.update([("mid.0.", "mid.block_1."), ("mid.1.", "mid.attn_1."), ("mid.2.", "mid.block_2.")])
    k = 0
    for i in reversed(range(L)):
        for j in range(nb + 1):
            prefixes["up.%d." % k] = "up.%d.block.%d." % (i, j)
            k += 1
            if res in c["attn_resolutions"]:
                prefixes["up.%d." % k] = "up.%d.attn.%d." % (i, j)
                k += 1
        if i != 0:
            prefixes["up.%d." % k] = "up.%d.upsample." % i
            k += 1
            res *= 2
    prefixes.update([("norm_out.", "norm_out."), ("conv_out.", "conv_out.")])
    native = UNet(c).state_dict().keys()
    out = collections.OrderedDict()
    for jp, np_ in prefixes.items():
        for local in _locals(np_, native):
            jl = "skip." + local[len("nin_shortcut."):] if local.startswith("nin_shortcut.") else local
            out[jp + jl] = np_ + local
    if len(out) != len(native):
        raise AssertionError("jddpm name map covers %d of %d parameters" % (len(out), len(native)))
    return out


def _locals(prefix, names):
    """The names under a module prefix, without it."""
    return [n[len(prefix):] for n in names if n.startswith(prefix)]


def load_jddpm(path, ema=True):
    """A UNet (eval mode, float32) from a jddpm checkpoint: its EMA weights when ema and present, else raw."""
    tensors, meta = read_safetensors(path)
    if "config" not in meta:
        raise ValueError("%s has no config metadata: not a jddpm checkpoint" % path)
    model = UNet(meta["config"])
    prefix = "ema." if ema and any(n.startswith("ema.") for n in tensors) else ""
    state = collections.OrderedDict()
    for jn, nn_ in jddpm_names(model.config).items():
        if prefix + jn not in tensors:
            raise KeyError("%s lacks '%s'" % (path, prefix + jn))
        state[nn_] = tensors[prefix + jn]
    model.load_state_dict(state, strict=True)
    return model.eval()


def save_jddpm(model, path, ema_model=None, metadata=None):
    """Writes model (and ema_model's weights as the EMA set) as a jddpm checkpoint: float32, jddpm's
    names, its config, checksums. jddpm's Sample / EvalNll / Convert read it."""
    names = jddpm_names(model.config)
    sd = model.state_dict()
    tensors = collections.OrderedDict((jn, sd[nn_].float()) for jn, nn_ in names.items())
    if ema_model is not None:
        esd = ema_model.state_dict()
        tensors.update(("ema." + jn, esd[nn_].float()) for jn, nn_ in names.items())
    meta = {"format": FORMAT, "model": "UNet", "config": json.dumps(model.config), "dtype": "F32", "step": "0",
            "source": "tools/torch/jddpm_unet.py"}
    meta.update(metadata or {})
    write_safetensors(path, tensors, meta)


def save_state_dict(model, path, with_config=True):
    """Writes model.state_dict() (this module's names, float32) as safetensors, with the config as
    metadata unless with_config is False (jddpm then needs --config)."""
    meta = {"config": json.dumps(model.config)} if with_config else {}
    write_safetensors(path, collections.OrderedDict((k, v.float()) for k, v in model.state_dict().items()), meta)


# --------------------------------------------------------------------------------- jobs (jddpm's parity test)
def _randomise(model, gen):
    """Every parameter drawn anew (weights ~ U(±1/sqrt(fan_in)), GroupNorm scales 1 + N(0, 0.1²), biases
    N(0, 0.1²)), so no output is trivially zero."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                bound = 1.0 / math.sqrt(p[0].numel())
                p.copy_((torch.rand(p.shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen, dtype=torch.float64))


def _train(model, steps, gen):
    """A few Adam steps of L_simple-like MSE on random data (dropout on), in float32."""
    if steps <= 0:
        return
    c = model.config
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(steps):
        x = torch.randn(2, c["in_channels"], c["resolution"], c["resolution"], generator=gen)
        t = torch.randint(0, 1000, (2,), generator=gen)
        y = torch.tensor([1, -1]) if c["num_classes"] > 0 else None
        loss = F.mse_loss(model(x, t, y), torch.randn(x.shape, generator=gen))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def _eps(model, inputs):
    """ε̂ in float64 (the reference) and float32 for inputs {x, t[, labels]}."""
    x, t, y = inputs["x"], inputs["t"].long(), inputs.get("labels")
    y = None if y is None else y.long()
    with torch.no_grad():
        e32 = model.float().eval()(x.float(), t, y)
        m64 = UNet(model.config).double()
        m64.load_state_dict(model.state_dict())
        e64 = m64.eval()(x.double(), t, y)
    return e64, e32


def run_jobs(path):
    """Runs a JSON list of jobs (jddpm's TorchParityTest writes it). Each job:
      {"op": "eps", "weights": FILE, "layout": "jddpm" | "native", "ema": bool, "config": {...} | null,
       "inputs": FILE, "out": FILE}  -> out holds eps64 and eps32 for the inputs' x, t, labels;
      {"op": "make", "config": {...}, "seed": N, "train_steps": N, "weights": FILE, "with_config": bool,
       "inputs": FILE, "out": FILE}   -> a model made here, saved in this module's names, and its eps."""
    jobs = json.load(open(path))
    for job in jobs:
        t0 = time.time()
        inputs, _ = read_safetensors(job["inputs"])
        if job["op"] == "eps":
            if job["layout"] == "jddpm":
                model = load_jddpm(job["weights"], ema=job.get("ema", True))
            else:
                tensors, meta = read_safetensors(job["weights"])
                model = UNet(job.get("config") or meta["config"])
                model.load_state_dict(tensors, strict=True)   # every name and shape of the layout
                model.eval()
        elif job["op"] == "make":
            gen = torch.Generator().manual_seed(job["seed"])
            model = UNet(job["config"])
            _randomise(model, gen)
            _train(model, job.get("train_steps", 0), gen)
            save_state_dict(model, job["weights"], with_config=job.get("with_config", True))
        else:
            raise ValueError("unknown op %r" % job["op"])
        e64, e32 = _eps(model, inputs)
        write_safetensors(job["out"], collections.OrderedDict([("eps64", e64), ("eps32", e32)]), checksums=False)
        rel = ((e32.double() - e64).abs().max() / e64.abs().max().clamp_min(1e-300)).item()
        print("%-5s %-40s %10d params  torch f32 vs f64 %.2e  %.1fs" % (
            job["op"], os.path.basename(job["weights"]), sum(p.numel() for p in model.parameters()), rel, time.time() - t0),
            flush=True)


# --------------------------------------------------------------------------------- command line
def _to_safetensors(args):
    try:   # tensors and plain containers only, unless the file is trusted: unpickling can run code
        obj = torch.load(args.input, map_location="cpu", **({} if args.trust else {"weights_only": True}))
    except pickle.UnpicklingError as e:
        sys.exit("%s holds more than tensors and plain containers (%s); if you trust the file, add --trust" % (args.input, e))
    for key in args.key or []:
        obj = obj[int(key)] if isinstance(obj, (list, tuple)) else obj[key]
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        kinds = list(obj.keys())[:8] if isinstance(obj, dict) else type(obj).__name__
        sys.exit("%s: not a state dict of tensors at that level (%s); pick one with --key (e.g. --key state_dict, "
                 "or --key 0 / --key -1 for a list such as the DDIM code's [model, optimizer, epoch, step, ema])" % (args.input, kinds))
    write_safetensors(args.output, collections.OrderedDict((k, v.float() if v.is_floating_point() else v) for k, v in obj.items()),
                      checksums=True)
    print("wrote %s (%d tensors, %d parameters)" % (args.output, len(obj), sum(v.numel() for v in obj.values())))


def _eps_cmd(args):
    model = load_jddpm(args.ckpt, ema=not args.raw)
    c = model.config
    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.n, c["in_channels"], c["resolution"], c["resolution"], generator=gen)
    t = torch.full((args.n,), args.t, dtype=torch.long)
    with torch.no_grad():
        e = model(x, t)
    print("eps: shape %s, mean %.6f, std %.6f (x ~ N(0, I), seed %d, t = %d)" % (list(e.shape), e.mean(), e.std(), args.seed, args.t))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("to-safetensors", help="convert a torch.save file (.ckpt/.pth/.bin) to safetensors (names unchanged)")
    s.add_argument("input")
    s.add_argument("output")
    s.add_argument("--key", action="append", help="descend into this key / list index first (repeatable)")
    s.add_argument("--trust", action="store_true", help="unpickle any object (the file can run code: only for files you trust)")
    s.set_defaults(fn=_to_safetensors)
    s = sub.add_parser("eps", help="load a jddpm checkpoint and print the statistics of ε̂ on random input")
    s.add_argument("--ckpt", required=True)
    s.add_argument("--raw", action="store_true", help="raw weights instead of EMA")
    s.add_argument("--t", type=int, default=500)
    s.add_argument("--n", type=int, default=4)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(fn=_eps_cmd)
    s = sub.add_parser("jobs", help="run a JSON job list (jddpm's TorchParityTest)")
    s.add_argument("file")
    s.set_defaults(fn=lambda a: run_jobs(a.file))
    a = p.parse_args(argv)
    a.fn(a)


if __name__ == "__main__":
    main()
