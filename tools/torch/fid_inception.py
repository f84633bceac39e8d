#!/usr/bin/env python3
"""Reference data for InceptionV3Test: the pytorch-fid InceptionV3 (FID weights layout) run on
deterministic synthetic weights and inputs, so the Java network can be checked without the real
weights.

Writes, into the folder given (default: the test resources):
  inception-fid-layout.txt    one line per tensor of the pytorch-fid state dict the Java loader reads:
                              "<name> <dim> <dim> ..." (the fc layer and num_batches_tracked excluded)
  inception-fid-expected.txt  the output of every stage (input, each conv block and pool, each Mixed
                              block, pool3) on two synthetic images, summarised: norms, sums, the norm
                              of the difference between the images, and 8 values per image

Synthetic values (identical in Java): for tensor <name>, element i (row-major),
  h = fold(h*131 + ord(c)) over the name's characters, mod 2^31
  u = ((i*2654435761 + h*40503) mod 2^32) / 2^32 - 0.5
and per kind of tensor: conv weight u*sqrt(24/fan_in), bn.weight 1+0.2u, bn.bias 0.1u,
bn.running_mean 0.1u, bn.running_var 1+0.5(u+0.5). Input images: 2 grey 28x28 uint8 images,
pixel p of image b = ((p*7919 + b*104729) mod 256), image 1 then turned into a ramp,
round(clip(0.25*value + 9*column, 0, 255)).

The network is a transcription of torchvision's Inception3 with pytorch-fid's FID blocks
(FIDInceptionA/C/E_1/E_2), with the state-dict names of the FID weight file
pt_inception-2015-12-05-6726825d.pth. Requires torch and numpy.  usage: python3 tools/torch/fid_inception.py [outdir]
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def name_hash(name):
    h = 0
    for c in name:
        h = (h * 131 + ord(c)) % (1 << 31)
    return h


def synthetic(name, shape):
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.uint64)
    h = np.uint64(name_hash(name))
    v = (i * np.uint64(2654435761) + h * np.uint64(40503)) % np.uint64(1 << 32)
    u = v.astype(np.float64) / float(1 << 32) - 0.5
    if name.endswith("conv.weight"):
        fan_in = int(np.prod(shape[1:]))
        x = u * math.sqrt(24.0 / fan_in)
    elif name.endswith("bn.weight"):
        x = 1 + 0.2 * u
    elif name.endswith("bn.bias"):
        x = 0.1 * u
    elif name.endswith("running_mean"):
        x = 0.1 * u
    elif name.endswith("running_var"):
        x = 1 + 0.5 * (u + 0.5)
    else:
        raise ValueError(name)
    return torch.from_numpy(x.astype(np.float32).reshape(shape))


class BasicConv2d(nn.Module):
    def __init__(self, cin, cout, **kw):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kw)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class InceptionA(nn.Module):   # pytorch-fid FIDInceptionA
    def __init__(self, cin, pool_features):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(cin, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, kernel_size=1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b3, bd, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):   # pytorch-fid FIDInceptionC
    def __init__(self, cin, c7):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, kernel_size=1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for m in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = m(bd)
        bp = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False))
        return torch.cat([b1, b7, bd, bp], 1)


class InceptionD(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):   # pytorch-fid FIDInceptionE_1 (avg pool) / FIDInceptionE_2 (max pool)
    def __init__(self, cin, max_pool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(cin, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(cin, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, kernel_size=1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.max_pool:
            p = F.max_pool2d(x, 3, stride=1, padding=1)
        else:
            p = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        return torch.cat([b1, b3, bd, self.branch_pool(p)], 1)


class FidInception(nn.Module):
    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, 32)
        self.Mixed_5c = InceptionA(256, 64)
        self.Mixed_5d = InceptionA(288, 64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128)
        self.Mixed_6c = InceptionC(768, 160)
        self.Mixed_6d = InceptionC(768, 160)
        self.Mixed_6e = InceptionC(768, 192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, False)
        self.Mixed_7c = InceptionE(2048, True)

    def forward(self, x, probe=None):   # x: [N, 3, H, W] in [0, 1]; pytorch-fid resize_input + normalize_input
        def seen(name, t):
            if probe is not None:
                probe(name, t)
            return t
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = seen("input", 2 * x - 1)
        for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"):
            x = seen(name, getattr(self, name)(x))
        x = seen("maxpool1", F.max_pool2d(x, 3, stride=2))
        for name in ("Conv2d_3b_1x1", "Conv2d_4a_3x3"):
            x = seen(name, getattr(self, name)(x))
        x = seen("maxpool2", F.max_pool2d(x, 3, stride=2))
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
                     "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = seen(name, getattr(self, name)(x))
        return seen("pool3", F.adaptive_avg_pool2d(x, (1, 1)).flatten(1))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "nn", "src", "test", "resources", "ddpm", "nn")
    os.makedirs(out, exist_ok=True)
    net = FidInception().eval()
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    with open(os.path.join(out, "inception-fid-layout.txt"), "w") as f:
        for k, v in state.items():
            f.write(k + " " + " ".join(str(d) for d in v.shape) + "\n")
    net.load_state_dict({k: synthetic(k, tuple(v.shape)) for k, v in state.items()}, strict=False)
    p = np.arange(28 * 28)
    imgs = np.stack([((p * 7919 + b * 104729) % 256).reshape(28, 28) for b in range(2)]).astype(np.float32)
    imgs[1] = np.clip(imgs[1] * 0.25 + np.arange(28)[None, :] * 9, 0, 255).round()   # image 1: a left-to-right ramp
    x = torch.from_numpy(imgs / 255.0).float()[:, None].repeat(1, 3, 1, 1)
    stages = []
    with torch.no_grad():
        net(x, lambda name, t: stages.append((name, t.double().numpy().reshape(2, -1))))
    with open(os.path.join(out, "inception-fid-expected.txt"), "w") as f:
        f.write("# per stage of the network: its output on the two synthetic images (see tools/torch/fid_inception.py):\n")
        f.write("# name numel-per-image norm0 norm1 sum0 sum1 |a0-a1| then 8 values of each image at indices (k*7919) % numel\n")
        for name, a in stages:
            n = a.shape[1]
            idx = [(k * 7919) % n for k in range(8)]
            vals = [a[b][i] for b in range(2) for i in idx]
            f.write("%s %d %.9g %.9g %.9g %.9g %.9g %s\n" % (name, n, np.linalg.norm(a[0]), np.linalg.norm(a[1]), a[0].sum(), a[1].sum(),
                                                           np.linalg.norm(a[0] - a[1]), " ".join("%.9g" % v for v in vals)))
    n_params = sum(v.numel() for k, v in state.items() if not k.endswith(("running_mean", "running_var")))
    print("tensors %d, parameters (conv + bn affine) %d" % (len(state), n_params), file=sys.stderr)


if __name__ == "__main__":
    main()
