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

And ESRGAN's RRDBNet, also with torch.nn.functional only:

  feat = conv_first(pixel_unshuffle(x, d))       (d = 1 unless in_ch is 12/48)
  trunk = conv_body(RRDB(...RRDB(feat)))         RRDB(x) = 0.2*RDB3(RDB2(RDB1(x))) + x
  feat = feat + trunk                            RDB: dense 5-conv block, 0.2*x5 + x
  feat = lrelu(conv_up_i(nearest_x2(feat)))      for each up conv
  out = conv_last(lrelu(conv_hr(feat)))          lrelu slope 0.2

  yandereneo_fixture.bin     4x-NMKD-YandereNeo-Superlite.pth: a legacy
                             (pre-1.6, non-zip) checkpoint in the old
                             "model.1.sub" key layout, read by torch.load
  rrdb_new_x2.pth            random-weight new-layout ("conv_first", "body.N.
                             rdbK") 2x RRDBNet, pixel-unshuffled input
                             (conv_first takes 12 channels), fp16 storage,
                             {"params_ema": ...}, written here (zip)
  rrdb_new_x2_fixture.bin    its reference output
  tiny_scripted_x2.pt        a tiny torch.jit.script-ed x2 upscaler (conv,
                             lrelu, conv, pixel_shuffle + nearest residual)
  tiny_scripted_x2_fixture.bin its output (checked against the functional
                             computation here)

The RRDBNet fixtures use a seeded random [1, 3, 24, 24] input in [0, 1).
Fixtures of models written here name files of this folder; the others name
files of MODEL_DIR.

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
import collections
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


# ---------------------------------------------------------------- RRDBNet

def rrdb_canonical(sd):
    """Renames an old-layout ESRGAN state dict (model.N.sub) to the new
    (Real-ESRGAN) names; a new-layout one is returned as is."""
    if "conv_first.weight" in sd:
        return dict(sd)
    out = {}
    tail = {}
    for k, v in sd.items():
        m = re.match(r"model\.0\.(weight|bias)$", k)
        if m:
            out["conv_first." + m.group(1)] = v
            continue
        m = re.match(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$", k)
        if m:
            out["body.%s.rdb%s.conv%s.%s" % m.groups()] = v
            continue
        m = re.match(r"model\.1\.sub\.(\d+)\.(weight|bias)$", k)
        if m:
            out["conv_body." + m.group(2)] = v
            continue
        m = re.match(r"model\.(\d+)\.(weight|bias)$", k)
        assert m, k
        tail.setdefault(int(m.group(1)), {})[m.group(2)] = v
    idx = sorted(tail)
    names = ["conv_up%d" % (i + 1) for i in range(len(idx) - 2)] + ["conv_hr", "conv_last"]
    for i, name in zip(idx, names):
        for kind, v in tail[i].items():
            out[name + "." + kind] = v
    return out


def rrdb_forward(sd, x):
    sd = {k: v.float() for k, v in rrdb_canonical(sd).items()}

    def conv(t, name):
        return F.conv2d(t, sd[name + ".weight"], sd[name + ".bias"], padding=1)

    def lrelu(t):
        return F.leaky_relu(t, negative_slope=0.2)

    nb = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("body."))
    in_ch = sd["conv_first.weight"].shape[1]
    d = {3: 1, 12: 2, 48: 4}[in_ch]
    h, w = x.shape[2], x.shape[3]
    t = x
    if d > 1:
        t = F.pad(t, (0, (d - w % d) % d, 0, (d - h % d) % d), mode="reflect")
        t = F.pixel_unshuffle(t, d)
    feat = conv(t, "conv_first")
    trunk = feat
    for n in range(nb):
        block_in = trunk
        for r in (1, 2, 3):
            p = "body.%d.rdb%d." % (n, r)
            x1 = lrelu(conv(trunk, p + "conv1"))
            x2 = lrelu(conv(torch.cat((trunk, x1), 1), p + "conv2"))
            x3 = lrelu(conv(torch.cat((trunk, x1, x2), 1), p + "conv3"))
            x4 = lrelu(conv(torch.cat((trunk, x1, x2, x3), 1), p + "conv4"))
            x5 = conv(torch.cat((trunk, x1, x2, x3, x4), 1), p + "conv5")
            trunk = x5 * 0.2 + trunk
        trunk = trunk * 0.2 + block_in
    feat = feat + conv(trunk, "conv_body")
    ups = 0
    while "conv_up%d.weight" % (ups + 1) in sd:
        ups += 1
        feat = lrelu(conv(F.interpolate(feat, scale_factor=2, mode="nearest"), "conv_up%d" % ups))
    out = conv(lrelu(conv(feat, "conv_hr")), "conv_last")
    s = 2 ** ups // d
    return out[:, :, : h * s, : w * s], s


def seeded_input(seed, h, w):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((1, 3, h, w), generator=g, dtype=torch.float32)


def random_rrdb_new_state_dict(seed, in_ch, nf, gc, nb, ups):
    g = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()

    def add(name, cin, cout):
        std = 1.0 / math.sqrt(cin * 9)
        sd[name + ".weight"] = torch.randn((cout, cin, 3, 3), generator=g) * std
        sd[name + ".bias"] = torch.randn((cout,), generator=g) * 0.02

    add("conv_first", in_ch, nf)
    for n in range(nb):
        for r in (1, 2, 3):
            for j in range(1, 6):
                add("body.%d.rdb%d.conv%d" % (n, r, j), nf + (j - 1) * gc, gc if j < 5 else nf)
    add("conv_body", nf, nf)
    for i in range(1, ups + 1):
        add("conv_up%d" % i, nf, nf)
    add("conv_hr", nf, nf)
    add("conv_last", nf, 3)
    # Stored in half precision, as many released models are: the engine
    # converts, and the reference computes with the same rounded values.
    return collections.OrderedDict((k, v.half()) for k, v in sd.items())


# ------------------------------------------------------------- TorchScript

class TinyUpscaler(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 12, 3, padding=1)

    def forward(self, x):
        y = F.leaky_relu(self.conv1(x), 0.2)
        y = F.pixel_shuffle(self.conv2(y), 2)
        return y + F.interpolate(x, scale_factor=2.0, mode="nearest")


def tiny_functional(sd, x):
    y = F.leaky_relu(F.conv2d(x, sd["conv1.weight"], sd["conv1.bias"], padding=1), 0.2)
    y = F.pixel_shuffle(F.conv2d(y, sd["conv2.weight"], sd["conv2.bias"], padding=1), 2)
    return y + F.interpolate(x, scale_factor=2, mode="nearest")


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

    # Legacy (non-zip) checkpoint, old ESRGAN key layout.
    neo = os.path.join(model_dir, "4x-NMKD-YandereNeo-Superlite.pth")
    with open(neo, "rb") as f:
        assert f.read(1) == b"\x80", "expected the legacy (non-zip) format"
    x = seeded_input(1234, 24, 24)
    y, s = rrdb_forward(load_pth(neo), x)
    assert s == 4
    write_fixture(os.path.join(out_dir, "yandereneo_fixture.bin"),
                  [("4x-NMKD-YandereNeo-Superlite.pth", sha256_file(neo))], s, x, y)

    # New key layout, 2x with pixel-unshuffled input, written here.
    torch.manual_seed(0)
    sd = random_rrdb_new_state_dict(7, in_ch=12, nf=8, gc=4, nb=2, ups=2)
    pth = os.path.join(out_dir, "rrdb_new_x2.pth")
    torch.save({"params_ema": sd}, pth)
    x = seeded_input(99, 24, 24)
    y, s = rrdb_forward(load_pth(pth), x)
    assert s == 2
    write_fixture(os.path.join(out_dir, "rrdb_new_x2_fixture.bin"),
                  [("rrdb_new_x2.pth", sha256_file(pth))], s, x, y)

    # TorchScript: the module's own output, checked against the functional
    # computation of the same weights.
    torch.manual_seed(5)
    module = TinyUpscaler().eval()
    pt = os.path.join(out_dir, "tiny_scripted_x2.pt")
    torch.jit.save(torch.jit.script(module), pt)
    x = seeded_input(42, 20, 28)
    y = torch.jit.load(pt)(x)
    ref = tiny_functional(module.state_dict(), x)
    assert (y - ref).abs().max().item() < 1e-6
    write_fixture(os.path.join(out_dir, "tiny_scripted_x2_fixture.bin"),
                  [("tiny_scripted_x2.pt", sha256_file(pt))], 2, x, y)


if __name__ == "__main__":
    main()
