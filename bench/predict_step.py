#!/usr/bin/env python3
"""Predicted H200 time of the paper U-Net's training step (batch 128) and sampling step (batch 256)
in jddpm, from the model's layers, their flops and bytes, and stated efficiencies. A PREDICTION for
when no GPU is at hand; bench/gpu-report.sh measures the real thing. Writes Markdown to stdout.

usage: python3 bench/predict_step.py > bench/results/DATE-h200-predicted-step.md
"""
import math

COPY = 4.3e12                    # bytes/s, the measured H200 copy bandwidth
MEM_EFF = 0.70                   # memory-bound kernels at 70 % of copy (fp32 NCHW, simple grids)
CONV_TFLOPS = {"bf16": 187e12, "tf32": 156e12, "fp32": 40e12}   # bench/results/...-predicted-conv.md; fp32: cuBLAS SGEMM
ATTN_TFLOPS = {"bf16": 200e12, "tf32": 100e12, "fp32": 8.5e12}  # ...-predicted-attention.md (L = 256; 64: half)
# the halo-tile kernels (3×3 stride-1 forward and data gradient, rows of 16..128 pixels, channels in 32s), plain and
# with the group norm + SiLU applied on load: ...-predicted-conv.md, "The halo-tile kernels"
HALO_TFLOPS = {"bf16": 264e12, "tf32": 180e12}
HALO_NORM_TFLOPS = {"bf16": 242e12, "tf32": 174e12}
HALO_WGRAD_TFLOPS = {"bf16": 238e12, "tf32": 173e12}   # the weight gradient on the halo tile (x's channels in 16s)
LAUNCH = 4e-6                    # s per kernel launch through JCuda without CUDA graphs (host-bound when kernels are tiny)
F = 4                            # bytes per float32

ch, mult, blocks, attn_res, res, T_DIM = 128, (1, 2, 2, 2), 2, (16,), 32, 512


def layers():
    """(kind, in, out, H, W) for every layer of the DDPM CIFAR-10 U-Net, in forward order."""
    out = [("conv3", 3, ch, res, res)]
    c, r, chans = ch, res, [ch]
    for i, m in enumerate(mult):
        for _ in range(blocks):
            out.append(("res", c, ch * m, r, r)); c = ch * m
            if r in attn_res: out.append(("attn", c, c, r, r))
            chans.append(c)
        if i != len(mult) - 1:
            out.append(("down", c, c, r, r)); r //= 2; chans.append(c)
    out += [("res", c, c, r, r), ("attn", c, c, r, r), ("res", c, c, r, r)]
    for i in reversed(range(len(mult))):
        for _ in range(blocks + 1):
            cin = c + chans.pop(); out.append(("res", cin, ch * mult[i], r, r)); c = ch * mult[i]
            if r in attn_res: out.append(("attn", c, c, r, r))
        if i != 0:
            out.append(("up", c, c, r, r)); r *= 2
    out.append(("gn_conv_out", c, 3, r, r))
    return out


def costs(B, precision, train, halo=False, norms=False, bf16_storage=False):
    """Seconds by category, and the kernel count, for one step; halo: the halo kernels where they fit;
    norms: the group norms + SiLU applied as their convolutions load (where no gradient is recorded);
    bf16_storage: activations stored as bfloat16 (--activations bf16: the memory-bound passes move 2 bytes
    an element instead of 4; the dropout mask, statistics and the optimizer stay float32)."""
    t = {"conv": 0.0, "attention": 0.0, "memory-bound": 0.0, "optimizer": 0.0}
    kernels = 0
    passes = 3 if train else 1                          # fwd; + data and weight gradients
    mem = lambda nbytes: nbytes / (COPY * MEM_EFF)

    def fits(cin, w, k=3, stride=1, multiple=32):   # ConvKernel.haloFits at these shapes
        return halo and precision != "fp32" and k == 3 and stride == 1 and cin % multiple == 0 and w in (16, 32, 64, 128)

    def fused(cin, w):                 # the norm applied on load: sampling only, and where the halo kernel fits
        return norms and not train and fits(cin, w)

    def conv(cin, cout, h, w, k, stride=1, normed=False):
        nonlocal kernels
        ho, wo = h // stride, w // stride
        flops = 2 * B * cout * cin * k * k * ho * wo
        fwd = (HALO_NORM_TFLOPS if normed else HALO_TFLOPS) if fits(cin, w, k, stride) else CONV_TFLOPS
        t["conv"] += flops / fwd[precision]
        if train:
            t["conv"] += flops / (HALO_TFLOPS if fits(cout, w, k, stride) else CONV_TFLOPS)[precision]   # data grad
            t["conv"] += flops / (HALO_WGRAD_TFLOPS if fits(cin, w, k, stride, 16) else CONV_TFLOPS)[precision]  # weight grad
        kernels += passes * (2 if train else 1)

    def norm(n, cin, w):               # GN+SiLU before a conv: two-pass stats and the write, or the stats alone
        elementwise(n, 1, 0) if fused(cin, w) else elementwise(n, 2, 1)

    A = 2 if bf16_storage else F       # bytes of a stored activation

    def elementwise(n, reads, writes, count=1):
        nonlocal kernels
        t["memory-bound"] += count * mem(n * A * (reads + writes))
        kernels += count

    for kind, cin, cout, h, w in layers():
        n_in, n_out = B * cin * h * w, B * cout * h * w
        if kind == "conv3":
            conv(cin, cout, h, w, 3)
        elif kind == "res":
            # GN+SiLU (fused, two-pass stats), conv1 (+ temb add fused), GN+SiLU, dropout, conv2 (+ residual fused)
            norm(n_in, cin, w); norm(n_out, cout, w)
            if train: elementwise(n_out, 1, 2)          # dropout mask + multiply
            conv(cin, cout, h, w, 3, normed=fused(cin, w)); conv(cout, cout, h, w, 3, normed=fused(cout, w))
            if cin != cout: conv(cin, cout, h, w, 1)
            if train:                                   # GN(+SiLU) backward x2, dropout backward, residual/temb grads
                elementwise(n_in, 3, 1); elementwise(n_out, 3, 1); elementwise(n_out, 2, 1, count=2)
        elif kind == "attn":
            L = h * w
            elementwise(n_in, 2, 1)                     # GN
            for _ in range(4): conv(cin, cin, h, w, 1)  # q, k, v, proj
            elementwise(n_in, 1, 1, count=4)            # [B,C,L] <-> [B,L,C] permutes
            rate = ATTN_TFLOPS[precision] * (1 if L >= 256 else 0.5)
            t["attention"] += 2 * B * L * L * 2 * cin / rate * (1 + (2.0 if train else 0))
            kernels += 1 + (4 if train else 0)
            if train: elementwise(n_in, 3, 1); elementwise(n_in, 1, 1, count=4)
        elif kind == "down":
            conv(cin, cout, h, w, 3, stride=2)
        elif kind == "up":
            elementwise(n_in, 1, 4); conv(cin, cout, 2 * h, 2 * w, 3)
            if train: elementwise(n_in, 4, 1)
        elif kind == "gn_conv_out":
            norm(n_in, cin, w); conv(cin, cout, h, w, 3, normed=fused(cin, w))
    if train:
        params = 35_746_307
        t["optimizer"] += mem(params * F * (3 + 2)) + mem(params * F * 7) + mem(params * F * 3)  # norm, Adam, EMA
        t["memory-bound"] += mem(B * 3 * res * res * F * 4)            # q_sample (+ noise), loss
        kernels += 6
    else:
        t["memory-bound"] += mem(B * 3 * res * res * F * 4)            # posterior step (+ noise)
        kernels += 2
    return t, kernels


def table():
    print("# H200: predicted time of the paper U-Net's training and sampling steps (a PREDICTION)\n")
    print("No GPU in the session that wrote this: `python3 bench/predict_step.py` computes it from the model's")
    print("layers (UNetConfig.cifar10: ch 128, mult 1,2,2,2, 2 blocks, attention at 16², 35.7 M parameters), their")
    print("flops and compulsory bytes, and these assumptions, to be replaced by `bench/gpu-report.sh`'s measurement:\n")
    print(f"- memory-bound kernels at {MEM_EFF:.0%} of {COPY / 1e12:.1f} TB/s, float32 NCHW activations;")
    print("- convolutions at the rates of bench/results/2026-12-02-h200-predicted-conv.md (implicit GEMM, WMMA): "
          + ", ".join(f"{k} {v / 1e12:.0f}" for k, v in CONV_TFLOPS.items()) + " TFLOP/s (fp32: im2col + cuBLAS SGEMM);")
    print("- attention at the rates of bench/results/2026-12-02-h200-predicted-attention.md: "
          + ", ".join(f"{k} {v / 1e12:.1f}" for k, v in ATTN_TFLOPS.items()) + " TFLOP/s at L = 256;")
    print(f"- {LAUNCH * 1e6:.0f} µs of host time per kernel launch (JCuda, no CUDA graph yet): a bound when kernels are shorter;")
    print("- the fused ops as the backend runs them (GN+SiLU, conv2dAdd's bias/temb/residual epilogue, fused Adam, EMA).\n")
    print("| step | precision | conv ms | attention ms | memory-bound ms | optimizer ms | GPU ms | kernels | launch ms | img/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for train, B in ((True, 128), (False, 256)):
        for p in ("bf16", "tf32", "fp32"):
            t, k = costs(B, p, train)
            gpu = sum(t.values())
            step = max(gpu, k * LAUNCH)
            print(f"| {'train' if train else 'sample'} B={B} | {p} | {t['conv'] * 1e3:.1f} | {t['attention'] * 1e3:.1f} | "
                  f"{t['memory-bound'] * 1e3:.1f} | {t['optimizer'] * 1e3:.1f} | {gpu * 1e3:.1f} | {k} | {k * LAUNCH * 1e3:.1f} | "
                  f"{B / step:,.0f} |")
    print("\nFor comparison, the issue's estimate for PyTorch eager on this card: 1,700–2,800 img/s for the training step at")
    print("bf16 autocast (its conv and attention kernels are cuDNN's and FlashAttention's; its activations bf16).")
    print("What the model leaves out, and where it is most likely wrong: the conv rates are themselves predictions (the")
    print("largest term); kernels that do not fill the GPU (the 8² and 4² levels at batch 128); L2 reuse between")
    print("consecutive kernels (helps the memory-bound terms); and the host: the training loop's synchronisations")
    print("(a gradient-norm read per step) are not in it.")


def variants():
    """The halo kernels and the fused norms against the gathering kernels, same model otherwise."""
    print("| step | precision | kernels | conv ms | memory-bound ms | GPU ms | img/s | vs gather |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for train, B in ((True, 128), (False, 256)):
        for p in ("bf16", "tf32"):
            base = None
            for name, kw in (("gather", {}), ("halo", {"halo": True}), ("halo + norms on load", {"halo": True, "norms": True}),
                             ("halo + bf16 activations", {"halo": True, "bf16_storage": True}),
                             ("halo + norms on load + bf16 activations", {"halo": True, "norms": True, "bf16_storage": True})):
                if "bf16_storage" in kw and p != "bf16": continue
                if train and "norms" in kw: continue   # a training step composes the norms
                t, k = costs(B, p, train, **kw)
                gpu = sum(t.values())
                base = base or gpu
                print(f"| {'train' if train else 'sample'} B={B} | {p} | {name} | {t['conv'] * 1e3:.1f} | {t['memory-bound'] * 1e3:.1f} | "
                      f"{gpu * 1e3:.1f} | {B / gpu:,.0f} | {base / gpu:.2f}× |")


if __name__ == "__main__":
    import sys
    variants() if "--variants" in sys.argv else table()
