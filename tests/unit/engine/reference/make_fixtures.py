#!/usr/bin/python3
"""Writes the reference fixtures of tests/unit/engine/reference_test.cc.

An independent computation of SRVGGNetCompact ("Compact", Real-ESRGAN's
realesr-animevideov3 family) with PyTorch (Debian's python3-torch), using
torch.nn.functional only and no project code:

  body.0 conv3x3(3 -> nf), body.1 PReLU(nf),
  body.2k conv3x3(nf -> nf), body.2k+1 PReLU(nf)     k = 1..num_conv,
  body.K conv3x3(nf -> 3*s^2),
  out = pixel_shuffle(body(x), s) + F.interpolate(x, scale_factor=s, 'nearest')

Two fixtures, from the same weights family in two formats:
  aniscale_fixture.bin       2x-AniScale.pth (zip checkpoint, torch.load)
  animevideov3_x4_fixture.bin realesr-animevideov3-x4.param/.bin (ncnn; the
                             .param/.bin are parsed here, fp16 weights behind
                             a 4-byte storage tag, fp32 biases and slopes)

Usage: /usr/bin/python3 make_fixtures.py [MODEL_DIR] [OUT_DIR]
  (defaults: /work/main/build/models and this script's folder)

Fixture layout (little-endian):
  char[8]  magic "AFREF01\\0"
  u32      number of model files F; F x { u32 len, name bytes, u8[32] sha256 }
  u32      len, torch version string (for the report)
  u32      scale
  u32 x4   input dims N, C, H, W
  f32[N*C*H*W]          input (x[c,y,x] = 0.5 + 0.4*sin(0.37x + 0.23y + 1.1c),
                        float64 then float32)
  f32[N*C*H*s*W*s]      expected output (fp32 forward, not clamped)
"""
import hashlib
import math
import os
import re
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

MAGIC = b"AFREF01\0"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.digest()


def make_input(h, w):
    x = np.zeros((1, 3, h, w), dtype=np.float64)
    for c in range(3):
        for yy in range(h):
            for xx in range(w):
                x[0, c, yy, xx] = 0.5 + 0.4 * math.sin(0.37 * xx + 0.23 * yy + 1.1 * c)
    return torch.from_numpy(x.astype(np.float32))


def compact_forward(layers, scale, x):
    """layers: list of ("conv", weight, bias) / ("prelu", slope) in order."""
    out = x
    for layer in layers:
        if layer[0] == "conv":
            out = F.conv2d(out, layer[1], layer[2], stride=1, padding=1)
        else:
            out = F.prelu(out, layer[1])
    out = F.pixel_shuffle(out, scale)
    return out + F.interpolate(x, scale_factor=scale, mode="nearest")


def layers_from_state_dict(sd):
    idx = sorted({int(m.group(1)) for k in sd for m in [re.match(r"body\.(\d+)\.weight$", k)] if m})
    assert idx == list(range(len(idx))), idx
    layers = []
    for i in idx:
        w = sd["body.%d.weight" % i].float()
        if w.dim() == 4:
            assert w.shape[2:] == (3, 3)
            layers.append(("conv", w, sd["body.%d.bias" % i].float()))
        else:
            assert w.dim() == 1
            layers.append(("prelu", w))
    return layers


def scale_of(layers):
    convs = [l for l in layers if l[0] == "conv"]
    assert convs[0][1].shape[1] == 3
    out_ch = convs[-1][1].shape[0]
    s = int(round(math.sqrt(out_ch / 3)))
    assert 3 * s * s == out_ch, out_ch
    return s


def load_pth(path):
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # torch without weights_only
        ckpt = torch.load(path, map_location="cpu")
    for key in ("params_ema", "params"):
        if isinstance(ckpt, dict) and key in ckpt:
            return ckpt[key]
    return ckpt


def load_ncnn(param_path, bin_path):
    """Parses the Compact graph of an ncnn model into the layer list."""
    with open(param_path) as f:
        lines = f.read().split("\n")
    assert lines[0].strip() == "7767517"
    data = open(bin_path, "rb").read()
    pos = 0
    layers = []
    scale = None
    for line in lines[2:]:
        tok = line.split()
        if not tok:
            continue
        ltype, nin, nout = tok[0], int(tok[2]), int(tok[3])
        params = {}
        for kv in tok[4 + nin + nout:]:
            k, v = kv.split("=")
            params[int(k)] = v
        if ltype == "Convolution":
            out_ch, k = int(params[0]), int(params[1])
            assert k == 3 and int(params.get(4, 0)) == 1 and int(params.get(5, 0)) == 1
            assert int(params.get(9, 0)) == 0  # no fused activation
            nw = int(params[6])
            (tag,) = struct.unpack_from("<I", data, pos)
            pos += 4
            if tag == 0x01306B47:
                w = np.frombuffer(data, dtype="<f2", count=nw, offset=pos).astype(np.float32)
                pos += (nw * 2 + 3) // 4 * 4
            else:
                assert tag == 0, hex(tag)
                w = np.frombuffer(data, dtype="<f4", count=nw, offset=pos).copy()
                pos += nw * 4
            b = np.frombuffer(data, dtype="<f4", count=out_ch, offset=pos).copy()
            pos += out_ch * 4
            w = torch.from_numpy(w.copy()).reshape(out_ch, nw // (out_ch * 9), 3, 3)
            layers.append(("conv", w, torch.from_numpy(b)))
        elif ltype == "PReLU":
            n = int(params[0])
            a = np.frombuffer(data, dtype="<f4", count=n, offset=pos).copy()
            pos += n * 4
            layers.append(("prelu", torch.from_numpy(a)))
        elif ltype == "PixelShuffle":
            scale = int(params[0])
        elif ltype == "Interp":
            assert int(params[0]) == 1  # nearest
            assert float(params[1]) == float(params[2]) == float(scale)
        else:
            assert ltype in ("Input", "Split", "BinaryOp"), ltype
    assert pos == len(data), (pos, len(data))
    assert scale_of(layers) == scale
    return layers


def write_fixture(path, files, scale, x, y):
    out = bytearray(MAGIC)
    out += struct.pack("<I", len(files))
    for name, digest in files:
        nb = name.encode()
        out += struct.pack("<I", len(nb)) + nb + digest
    ver = torch.__version__.encode()
    out += struct.pack("<I", len(ver)) + ver
    out += struct.pack("<I", scale)
    out += struct.pack("<4I", *x.shape)
    out += x.contiguous().numpy().astype("<f4").tobytes()
    assert tuple(y.shape) == (x.shape[0], 3, x.shape[2] * scale, x.shape[3] * scale)
    out += y.contiguous().numpy().astype("<f4").tobytes()
    with open(path, "wb") as f:
        f.write(out)
    print("%s: %d bytes, output range [%.4f, %.4f]" % (path, len(out), y.min().item(), y.max().item()))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    model_dir = sys.argv[1] if len(sys.argv) > 1 else "/work/main/build/models"
    out_dir = sys.argv[2] if len(sys.argv) > 2 else here
    torch.set_grad_enabled(False)
    print("torch", torch.__version__)

    pth = os.path.join(model_dir, "2x-AniScale.pth")
    layers = layers_from_state_dict(load_pth(pth))
    s = scale_of(layers)
    x = make_input(24, 32)
    y = compact_forward(layers, s, x)
    write_fixture(os.path.join(out_dir, "aniscale_fixture.bin"),
                  [("2x-AniScale.pth", sha256_file(pth))], s, x, y)

    param = os.path.join(model_dir, "realesr-animevideov3-x4.param")
    binf = os.path.join(model_dir, "realesr-animevideov3-x4.bin")
    layers = load_ncnn(param, binf)
    s = scale_of(layers)
    x = make_input(16, 20)
    y = compact_forward(layers, s, x)
    write_fixture(os.path.join(out_dir, "animevideov3_x4_fixture.bin"),
                  [("realesr-animevideov3-x4.param", sha256_file(param)),
                   ("realesr-animevideov3-x4.bin", sha256_file(binf))], s, x, y)


if __name__ == "__main__":
    main()
