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

And two ncnn graph families that eat a border of their input, read from
the .param/.bin here by a small interpreter of their layers (Convolution and
Deconvolution with fused leaky ReLU / ReLU / sigmoid, Crop, global average
Pooling, InnerProduct, BinaryOp, Split) on torch.nn.functional, with the
input extended the way the reference programs do it (waifu2x-ncnn-vulkan:
replicate 7 px; realcugan-ncnn-vulkan: reflect 18 px for up2x, plus one more
row/column at the bottom/right for odd sides; output cropped to 2x):

  waifu2x_upconv7_fixture.bin  waifu2x-upconv7-anime-noise0-x2.param/.bin
                               (fp16 weights), odd-sized input
  realcugan_up2x_fixture.bin   realcugan-up2x-conservative.param/.bin (fp16
                               weights, 4 SE blocks), odd-sized input

The RRDBNet fixtures use a seeded random [1, 3, 24, 24] input in [0, 1).
Fixtures of models written here name files of this folder; the others name
files of MODEL_DIR.

And DAT (the Dual Aggregation Transformer, as Spandrel defines it), with
torch.nn.functional, every attention window sliced out of the frame and
attended on its own, the position bias looked up by offset, and the shifted
windows' region labels made by the slice definition; checked by
tests/unit/engine/dat_test.cc:

  dat_x2.pth, dat_direct_x2.pth      random-weight DATs ({"params": ...},
                                     fp16 storage, with the buffers a saved
                                     model has), see DAT_FIXTURES
  dat_x2_fixture.bin, dat_direct_x2_fixture.bin   their outputs

Usage: /usr/bin/python3 make_fixtures.py [MODEL_DIR] [OUT_DIR] [--only ncnn-padded|dat]
  (defaults: /work/main/build/models and this script's folder; --only
  ncnn-padded writes just the waifu2x and Real-CUGAN fixtures, --only dat
  just the DAT ones)

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


# ------------------------------------------------------------------ OmniSR

def omnisr_forward(sd, x):
    """OmniSR (Spandrel's definition) with explicit windows: each block /
    grid window and each channel-attention patch is sliced out of the frame
    and processed on its own, rather than by one rearrangement."""
    sd = {k: v.float() for k, v in sd.items() if not k.endswith(("total_ops", "total_params"))}
    nf, in_ch = sd["input.weight"].shape[:2]
    assert in_ch == 3 and nf % 4 == 0
    s = int(round(math.sqrt(sd["up.0.weight"].shape[0] / 3)))
    groups = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("residual_layer."))
    blocks = max(int(k.split(".")[3]) for k in sd if k.startswith("residual_layer.0.residual_layer."))
    table = sd.get("residual_layer.0.residual_layer.0.layer.2.fn.rel_pos_bias.weight")
    ws = 8 if table is None else (int(round(math.sqrt(table.shape[0]))) + 1) // 2
    heads, dh = 4, nf // 4

    def conv(t, name, padding=None, groups=1, stride=1):
        w = sd[name + ".weight"]
        pad = w.shape[2] // 2 if padding is None else padding
        return F.conv2d(t, w, sd.get(name + ".bias"), stride=stride, padding=pad, groups=groups)

    def ln2d(t, name):  # LayerNorm2d: over channels, eps 1e-6
        return F.layer_norm(t.permute(0, 2, 3, 1), (nf,), sd[name + ".weight"], sd[name + ".bias"],
                            eps=1e-6).permute(0, 3, 1, 2)

    def rel_bias(name):
        tab = sd[name]
        n = ws * ws
        out = torch.zeros(heads, n, n)
        for a in range(n):
            for b in range(n):
                ia, ja, ib, jb = a // ws, a % ws, b // ws, b % ws
                out[:, a, b] = tab[(ia - ib + ws - 1) * (2 * ws - 1) + (ja - jb + ws - 1)]
        return out

    def window_attention(t, p, grid):
        H, W = t.shape[2:]
        gh, gw = H // ws, W // ws
        out = t.clone()
        bias = rel_bias(p + "fn.rel_pos_bias.weight") if table is not None else None
        for i in range(gh):
            for j in range(gw):
                if grid:
                    win = (slice(None), slice(None), slice(i, None, gh), slice(j, None, gw))
                else:
                    win = (slice(None), slice(None), slice(i * ws, (i + 1) * ws), slice(j * ws, (j + 1) * ws))
                seq = t[win].flatten(2).transpose(1, 2)  # [b, ws*ws, C], row-major in the window
                y = F.layer_norm(seq, (nf,), sd[p + "norm.weight"], sd[p + "norm.bias"], eps=1e-5)
                q, k, v = F.linear(y, sd[p + "fn.to_qkv.weight"]).chunk(3, dim=-1)
                q, k, v = (u.reshape(u.shape[0], -1, heads, dh).transpose(1, 2) for u in (q, k, v))
                sim = torch.einsum("bhid,bhjd->bhij", q * dh ** -0.5, k)
                if bias is not None:
                    sim = sim + bias
                o = torch.einsum("bhij,bhjd->bhid", F.softmax(sim, dim=-1), v)
                o = F.linear(o.transpose(1, 2).reshape(o.shape[0], -1, nf), sd[p + "fn.to_out.0.weight"])
                out[win] = t[win] + o.transpose(1, 2).reshape(t.shape[0], nf, ws, ws)
        return out

    def channel_attention(t, p, grid):
        H, W = t.shape[2:]
        gh, gw = H // ws, W // ws
        y = ln2d(t, p + "norm")
        qkv = conv(conv(y, p + "fn.qkv"), p + "fn.qkv_dwconv", groups=3 * nf)
        out = torch.zeros_like(t)
        # Non-grid: one ws x ws patch at a time; grid: one phase (every
        # ws-th pixel) at a time.
        if grid:
            parts = [(slice(None), slice(None), slice(a, None, ws), slice(b, None, ws))
                     for a in range(ws) for b in range(ws)]
        else:
            parts = [(slice(None), slice(None), slice(i * ws, (i + 1) * ws), slice(j * ws, (j + 1) * ws))
                     for i in range(gh) for j in range(gw)]
        temp = sd[p + "fn.temperature"]
        for part in parts:
            q, k, v = (u[part] for u in qkv.chunk(3, dim=1))
            ph, pw = q.shape[2:]
            q, k, v = (u.reshape(u.shape[0], heads, dh, ph * pw) for u in (q, k, v))
            q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
            attn = F.softmax(torch.einsum("bhcn,bhen->bhce", q, k) * temp, dim=-1)
            out[part] = torch.einsum("bhce,bhen->bhcn", attn, v).reshape(t.shape[0], nf, ph, pw)
        return t + conv(out, p + "fn.project_out")

    def ffn(t, p):
        y = conv(conv(ln2d(t, p + "norm"), p + "fn.project_in"), p + "fn.dwconv", groups=2 * nf)
        a, b = y.chunk(2, dim=1)
        return t + conv(F.gelu(a) * b, p + "fn.project_out")

    def mbconv(t, p):
        y = F.gelu(conv(t, p + "fn.0"))
        y = F.gelu(conv(y, p + "fn.2", groups=nf))
        g = torch.sigmoid(F.linear(F.silu(F.linear(y.mean(dim=(2, 3)), sd[p + "fn.4.gate.1.weight"])),
                                   sd[p + "fn.4.gate.3.weight"]))
        return t + conv(y * g[:, :, None, None], p + "fn.5")

    def esa(t, p):
        c1_ = conv(t, p + "conv1")
        c1 = conv(c1_, p + "conv2", padding=0, stride=2)
        c3 = conv(F.max_pool2d(c1, kernel_size=7, stride=3), p + "conv3")
        c3 = F.interpolate(c3, (t.shape[2], t.shape[3]), mode="bilinear", align_corners=False)
        return t * torch.sigmoid(conv(c3 + conv(c1_, p + "conv_f"), p + "conv4"))

    H, W = x.shape[2:]
    t = F.pad(x, (0, (ws - W % ws) % ws, 0, (ws - H % ws) % ws))
    feat = conv(t, "input")
    out = feat
    for g in range(groups):
        gp = "residual_layer.%d." % g
        y = out
        for b in range(blocks):
            p = gp + "residual_layer.%d.layer." % b
            y = mbconv(y, p + "0.")
            y = window_attention(y, p + "2.", grid=False)
            y = ffn(y, p + "4.")
            y = channel_attention(y, p + "5.", grid=False)
            y = ffn(y, p + "6.")
            y = window_attention(y, p + "8.", grid=True)
            y = ffn(y, p + "10.")
            y = channel_attention(y, p + "11.", grid=True)
            y = ffn(y, p + "12.")
        y = conv(y, gp + "residual_layer.%d" % blocks)
        out = esa(y + out, gp + "esa.")
    out = conv(out, "output") + feat
    out = F.pixel_shuffle(conv(out, "up.0"), s)
    return out[:, :, : H * s, : W * s], s


# -------------------------------------------------------------------- SPAN

def span_forward(sd, x):
    """SPAN (Spandrel): every Conv3XC is computed the training way (zero pad,
    1x1 -> 3x3 -> 1x1 chain, plus the 1x1 skip), not with the fused
    eval_conv weights the C++ computes, nor with the eval_conv tensors saved
    in the file (Spandrel recomputes those too)."""
    sd = {k: v.float() for k, v in sd.items()}
    s = int(round(math.sqrt(sd["upsampler.0.weight"].shape[0] / 3)))

    def c3xc(t, p):
        chain = F.conv2d(F.pad(t, (1, 1, 1, 1)), sd[p + ".conv.0.weight"], sd[p + ".conv.0.bias"])
        chain = F.conv2d(chain, sd[p + ".conv.1.weight"], sd[p + ".conv.1.bias"])
        chain = F.conv2d(chain, sd[p + ".conv.2.weight"], sd[p + ".conv.2.bias"])
        return chain + F.conv2d(t, sd[p + ".sk.weight"], sd[p + ".sk.bias"])

    def spab(t, p):
        out1 = c3xc(t, p + ".c1_r")
        out2 = c3xc(F.silu(out1), p + ".c2_r")
        out3 = c3xc(F.silu(out2), p + ".c3_r")
        att = torch.sigmoid(out3) - 0.5
        return (out3 + t) * att, out1

    if "no_norm" not in sd:
        x = (x - torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1)) * 255.0
    feat = c3xc(x, "conv_1")
    b1, _ = spab(feat, "block_1")
    b = b1
    for i in range(2, 6):
        b, _ = spab(b, "block_%d" % i)
    b6, b6_1 = spab(b, "block_6")
    b6 = c3xc(b6, "conv_2")
    out = F.conv2d(torch.cat([feat, b6, b1, b6_1], 1), sd["conv_cat.weight"], sd["conv_cat.bias"])
    out = F.conv2d(out, sd["upsampler.0.weight"], sd["upsampler.0.bias"], padding=1)
    return F.pixel_shuffle(out, s), s


def random_span_state_dict(seed, nf, scale, norm):
    g = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()

    def conv(name, cin, cout, k):
        sd[name + ".weight"] = torch.randn((cout, cin, k, k), generator=g) / math.sqrt(cin * k * k)
        sd[name + ".bias"] = torch.randn((cout,), generator=g) * 0.05

    def c3xc(name, cin, cout):
        conv(name + ".sk", cin, cout, 1)
        conv(name + ".conv.0", cin, 2 * cin, 1)
        conv(name + ".conv.1", 2 * cin, 2 * cout, 3)
        conv(name + ".conv.2", 2 * cout, cout, 1)
        # Stale, as in a checkpoint saved while training: must not be used.
        conv(name + ".eval_conv", cin, cout, 3)

    c3xc("conv_1", 3, nf)
    for i in range(1, 7):
        for c in ("c1_r", "c2_r", "c3_r"):
            c3xc("block_%d.%s" % (i, c), nf, nf)
    conv("conv_cat", 4 * nf, nf, 1)
    c3xc("conv_2", nf, nf)
    conv("upsampler.0", nf, 3 * scale * scale, 3)
    if norm:
        # The input is scaled by 255 and never scaled back: trained models
        # learn that; here conv_1 (affine in its tensors sk and conv.2) is
        # scaled down instead, so the features stay about unit size and the
        # fp32 forward is well conditioned.
        for k in ("sk.weight", "sk.bias", "conv.2.weight", "conv.2.bias"):
            sd["conv_1." + k] /= 255.0
    else:
        sd["no_norm"] = torch.zeros(1)
    return sd


# --------------------------------------------------------------- RealPLKSR

def realplksr_forward(sd, x):
    """RealPLKSR (Spandrel), pixel-shuffle upsampler. GroupNorm with 4
    groups (or a LayerNorm first when the file has one)."""
    sd = {k: v.float() for k, v in sd.items()}
    dim = sd["feats.0.weight"].shape[0]
    total = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("feats."))
    s = int(round(math.sqrt(sd["feats.%d.weight" % (total - 1)].shape[0] / 3)))

    def conv(t, name):
        w = sd[name + ".weight"]
        return F.conv2d(t, w, sd[name + ".bias"], padding=w.shape[2] // 2)

    t = conv(x, "feats.0")
    for n in range(1, total - 2):
        p = "feats.%d." % n
        skip = t
        if p + "layer_norm.weight" in sd:
            t = F.layer_norm(t.permute(0, 2, 3, 1), (dim,), sd[p + "layer_norm.weight"],
                             sd[p + "layer_norm.bias"], eps=1e-6).permute(0, 3, 1, 2)
        t = conv(F.mish(conv(t, p + "channel_mixer.0")), p + "channel_mixer.2")
        pdim = sd[p + "lk.conv.weight"].shape[0]
        t = torch.cat([conv(t[:, :pdim], p + "lk.conv"), t[:, pdim:]], dim=1)
        if p + "attn.f.0.weight" in sd:
            t = t * torch.sigmoid(conv(t, p + "attn.f.0"))
        t = conv(t, p + "refine")
        if p + "norm.weight" in sd:
            t = F.group_norm(t, 4, sd[p + "norm.weight"], sd[p + "norm.bias"], eps=1e-5)
        t = t + skip
    t = conv(t, "feats.%d" % (total - 1)) + torch.repeat_interleave(x, s * s, dim=1)
    return F.pixel_shuffle(t, s), s


def random_realplksr_state_dict(seed, dim, n_blocks, scale, kernel, pdim, use_ea, layer_norm):
    g = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()

    def conv(name, cin, cout, k, std=None):
        std = std or 1.0 / math.sqrt(cin * k * k)
        sd[name + ".weight"] = torch.randn((cout, cin, k, k), generator=g) * std
        sd[name + ".bias"] = torch.randn((cout,), generator=g) * 0.05

    def affine(name, c):
        sd[name + ".weight"] = 1.0 + 0.2 * torch.randn((c,), generator=g)
        sd[name + ".bias"] = 0.1 * torch.randn((c,), generator=g)

    conv("feats.0", 3, dim, 3)
    for n in range(1, n_blocks + 1):
        p = "feats.%d." % n
        if layer_norm:
            affine(p + "layer_norm", dim)
        conv(p + "channel_mixer.0", dim, 2 * dim, 3)
        conv(p + "channel_mixer.2", 2 * dim, dim, 3)
        conv(p + "lk.conv", pdim, pdim, kernel)
        if use_ea:
            conv(p + "attn.f.0", dim, dim, 3)
        conv(p + "refine", dim, dim, 1)
        if not layer_norm:
            affine(p + "norm", dim)
    conv("feats.%d" % (n_blocks + 2), dim, 3 * scale * scale, 3, std=0.05)
    return sd


# --------------------------------------------------------------------- DAT

def dat_region_labels(n, split, shift):
    """Per row (or column) of a padded frame of side n: which of the three
    shifted-window regions it belongs to, by the definition DAT takes from
    Swin (slices [0, -split), [-split, -shift), [-shift, end) assigned in
    that order, a later slice overwriting an earlier one)."""
    labels = [0] * n
    for region, (start, stop) in enumerate(((0, -split), (-split, -shift), (-shift, None))):
        for i in range(n)[slice(start, stop)]:
            labels[i] = region
    return labels


def dat_position_table(sd, p, hs, ws):
    """DynamicPosBias (residual=False) on every offset (dh, dw) of an hs x ws
    window: {(dh, dw): tensor[heads]}."""
    offsets = [(dh, dw) for dh in range(1 - hs, hs) for dw in range(1 - ws, ws)]
    t = F.linear(torch.tensor(offsets, dtype=torch.float32), sd[p + ".pos_proj.weight"], sd[p + ".pos_proj.bias"])
    for stage in ("pos1", "pos2", "pos3"):
        q = "%s.%s." % (p, stage)
        t = F.layer_norm(t, (t.shape[-1],), sd[q + "0.weight"], sd[q + "0.bias"], 1e-5)
        t = F.linear(F.relu(t), sd[q + "2.weight"], sd[q + "2.bias"])
    return {off: t[i] for i, off in enumerate(offsets)}


def dat_window_attention(sd, p, q, k, v, hs, ws, heads, shift):
    """One branch of DAT's spatial attention on q, k, v [B, Hp, Wp, c] (the
    padded frame), window by window: each hs x ws window is sliced out of the
    (rolled, when shifted) frame and attends within itself, with the dynamic
    position bias and, when shifted, -100 between pixels of different
    regions."""
    b, hp, wp, c = q.shape
    d = c // heads
    table = dat_position_table(sd, p, hs, ws)
    cells = [(y, x) for y in range(hs) for x in range(ws)]
    bias = torch.stack([torch.stack([table[(yi - yj, xi - xj)] for (yj, xj) in cells]) for (yi, xi) in cells])
    bias = bias.permute(2, 0, 1)  # [heads, N, N]
    if shift is not None:
        q, k, v = (torch.roll(t, shifts=(-shift[0], -shift[1]), dims=(1, 2)) for t in (q, k, v))
        rows = dat_region_labels(hp, hs, shift[0])
        cols = dat_region_labels(wp, ws, shift[1])
    out = torch.zeros_like(q)
    n = hs * ws
    for y0 in range(0, hp, hs):
        for x0 in range(0, wp, ws):
            def heads_of(t):
                return t[:, y0:y0 + hs, x0:x0 + ws].reshape(b, n, heads, d).transpose(1, 2)
            logits = (heads_of(q) * d ** -0.5) @ heads_of(k).transpose(-2, -1) + bias
            if shift is not None:
                lab = torch.tensor([3 * rows[y0 + y] + cols[x0 + x] for (y, x) in cells])
                logits = logits + (lab[:, None] != lab[None, :]).float() * -100.0
            o = torch.softmax(logits, -1) @ heads_of(v)
            out[:, y0:y0 + hs, x0:x0 + ws] = o.transpose(1, 2).reshape(b, hs, ws, c)
    if shift is not None:
        out = torch.roll(out, shifts=(shift[0], shift[1]), dims=(1, 2))
    return out


def dat_forward(sd, x, cfg):
    """DAT (Chen et al. 2023, as Spandrel defines it) on x [1, 3, H, W] with
    torch.nn.functional, given its hyper-parameters `cfg` (the ones the
    state dict was made with, so the C++ detection is checked too). Tokens
    are kept as [B, H, W, C]."""
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
    mean = torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1)

    def conv(t, p, groups=1):
        w = sd[p + ".weight"]
        return F.conv2d(t, w, sd[p + ".bias"], padding=w.shape[-1] // 2, groups=groups)

    def bn(t, p):
        return F.batch_norm(t, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"],
                            sd[p + ".bias"], False, 0.0, 1e-5)

    def ln(t, p):
        return F.layer_norm(t, (t.shape[-1],), sd[p + ".weight"], sd[p + ".bias"], 1e-5)

    def lin(t, p):
        return F.linear(t, sd[p + ".weight"], sd.get(p + ".bias"))

    def nchw(t):
        return t.permute(0, 3, 1, 2)

    def nhwc(t):
        return t.permute(0, 2, 3, 1)

    def interaction(p, conv_in, attn_in, spatial):
        """Depth-wise conv branch on v and the two interaction maps; the
        spatial block takes the channel map from the conv branch and the
        spatial map from attention, the channel block the other way round."""
        conv_x = F.gelu(bn(conv(conv_in, p + ".dwconv.0", groups=conv_in.shape[1]), p + ".dwconv.1"))
        ci_src = conv_x if spatial else attn_in
        si_src = attn_in if spatial else conv_x
        ci = F.adaptive_avg_pool2d(ci_src, 1)
        ci = conv(F.gelu(bn(conv(ci, p + ".channel_interaction.1"), p + ".channel_interaction.2")),
                  p + ".channel_interaction.4")
        si = conv(F.gelu(bn(conv(si_src, p + ".spatial_interaction.0"), p + ".spatial_interaction.1")),
                  p + ".spatial_interaction.3")
        if spatial:
            return nhwc(attn_in) * nhwc(torch.sigmoid(ci)) + nhwc(torch.sigmoid(si) * conv_x)
        return nhwc(attn_in) * nhwc(torch.sigmoid(si)) + nhwc(conv_x * torch.sigmoid(ci))

    def spatial_attention(t, p, heads, shifted):
        b, h, w, c = t.shape
        q, k, v = lin(t, p + ".qkv").chunk(3, -1)
        m = max(cfg["split"])
        ph, pw = (m - h % m) % m, (m - w % m) % m
        qp, kp, vp = (F.pad(u, (0, 0, 0, pw, 0, ph)) for u in (q, k, v))
        s0, s1 = cfg["split"]
        halves = []
        for i, (hs, ws) in enumerate(((s0, s1), (s1, s0))):
            sl = slice(0, c // 2) if i == 0 else slice(c // 2, c)
            shift = (hs // 2, ws // 2) if shifted else None
            o = dat_window_attention(sd, "%s.attns.%d.pos" % (p, i), qp[..., sl], kp[..., sl], vp[..., sl],
                                     hs, ws, heads // 2, shift)
            halves.append(o[:, :h, :w])
        attn = torch.cat(halves, -1)
        return lin(interaction(p, nchw(v), nchw(attn), True), p + ".proj")

    def channel_attention(t, p, heads):
        b, h, w, c = t.shape
        d = c // heads
        q, k, v = lin(t, p + ".qkv").chunk(3, -1)
        outs = []
        for i in range(heads):  # each head: its d channels attend to each other over all pixels
            sl = slice(i * d, (i + 1) * d)
            qh = F.normalize(q[..., sl].reshape(b, h * w, d).transpose(1, 2), dim=-1)
            kh = F.normalize(k[..., sl].reshape(b, h * w, d).transpose(1, 2), dim=-1)
            a = torch.softmax((qh @ kh.transpose(1, 2)) * sd[p + ".temperature"][i], -1)
            outs.append((a @ v[..., sl].reshape(b, h * w, d).transpose(1, 2)).transpose(1, 2).reshape(b, h, w, d))
        attn = torch.cat(outs, -1)
        return lin(interaction(p, nchw(v), nchw(attn), False), p + ".proj")

    def sgfn(t, p):
        t = F.gelu(lin(t, p + ".fc1"))
        a, g = t.chunk(2, -1)
        g = nhwc(conv(nchw(ln(g, p + ".sg.norm")), p + ".sg.conv", groups=g.shape[-1]))
        return lin(a * g, p + ".fc2")

    def resi(t, p):
        if cfg["resi"] == "1conv":
            return conv(t, p)
        t = F.leaky_relu(conv(t, p + ".0"), 0.2)
        t = F.leaky_relu(conv(t, p + ".2"), 0.2)
        return conv(t, p + ".4")

    x = x - mean
    feat = conv(x, "conv_first")
    t = ln(nhwc(feat), "before_RG.1")
    for g, (depth, heads) in enumerate(zip(cfg["depth"], cfg["heads"])):
        res = t
        for bi in range(depth):
            p = "layers.%d.blocks.%d" % (g, bi)
            u = ln(t, p + ".norm1")
            if bi % 2 == 0:
                shifted = (g % 2 == 0 and bi % 4 == 2) or (g % 2 == 1 and bi % 4 == 0)
                t = t + spatial_attention(u, p + ".attn", heads, shifted)
            else:
                t = t + channel_attention(u, p + ".attn", heads)
            t = t + sgfn(ln(t, p + ".norm2"), p + ".ffn")
        t = res + nhwc(resi(nchw(t), "layers.%d.conv" % g))
    t = nchw(ln(t, "norm"))
    t = resi(t, "conv_after_body") + feat
    if cfg["upsampler"] == "pixelshuffle":
        t = F.leaky_relu(conv(t, "conv_before_upsample.0"), 0.01)
        i = 0
        for r in cfg["upsample_steps"]:
            t = F.pixel_shuffle(conv(t, "upsample.%d" % i), r)
            i += 2
        t = conv(t, "conv_last")
    else:
        t = F.pixel_shuffle(conv(t, "upsample.0"), cfg["scale"])
    return t + mean


def dat_shift_mask(n_h, n_w, hs, ws, sh, sw):
    """The attn_mask buffer a shifted block saves for an n_h x n_w training
    frame: [windows, N, N], 0 or -100."""
    rows, cols = dat_region_labels(n_h, hs, sh), dat_region_labels(n_w, ws, sw)
    masks = []
    for y0 in range(0, n_h, hs):
        for x0 in range(0, n_w, ws):
            lab = torch.tensor([3 * rows[y0 + y] + cols[x0 + x] for y in range(hs) for x in range(ws)])
            masks.append((lab[:, None] != lab[None, :]).float() * -100.0)
    return torch.stack(masks)


def random_dat_state_dict(seed, cfg):
    """A DAT state dict with Spandrel's key names, random weights (BatchNorm
    statistics too, so folding them matters) and the buffers a saved model
    has: rpe_biases, relative_position_index, num_batches_tracked and, in
    shifted blocks, the attention masks for an img_size x img_size frame."""
    g = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()
    c = cfg["embed_dim"]

    def rnd(*shape, std=1.0):
        return torch.randn(shape, generator=g) * std

    def conv(name, cin, cout, k, groups=1, std=None):
        sd[name + ".weight"] = rnd(cout, cin // groups, k, k, std=std or 1.0 / math.sqrt(cin // groups * k * k))
        sd[name + ".bias"] = rnd(cout, std=0.05)

    def linear(name, cin, cout, bias=True, std=None):
        sd[name + ".weight"] = rnd(cout, cin, std=std or 1.0 / math.sqrt(cin))
        if bias:
            sd[name + ".bias"] = rnd(cout, std=0.05)

    def norm(name, n):
        sd[name + ".weight"] = 1.0 + rnd(n, std=0.2)
        sd[name + ".bias"] = rnd(n, std=0.1)

    def batch_norm(name, n):
        norm(name, n)
        sd[name + ".running_mean"] = rnd(n, std=0.1)
        sd[name + ".running_var"] = 0.5 + torch.rand((n,), generator=g)
        sd[name + ".num_batches_tracked"] = torch.tensor(100, dtype=torch.long)

    def interaction(p, dim):
        conv(p + ".dwconv.0", dim, dim, 3, groups=dim)
        batch_norm(p + ".dwconv.1", dim)
        conv(p + ".channel_interaction.1", dim, dim // 8, 1)
        batch_norm(p + ".channel_interaction.2", dim // 8)
        conv(p + ".channel_interaction.4", dim // 8, dim, 1)
        conv(p + ".spatial_interaction.0", dim, dim // 16, 1)
        batch_norm(p + ".spatial_interaction.1", dim // 16)
        conv(p + ".spatial_interaction.3", dim // 16, 1, 1)

    def resi(p, dim):
        if cfg["resi"] == "1conv":
            conv(p, dim, dim, 3)
        else:
            conv(p + ".0", dim, dim // 4, 3)
            conv(p + ".2", dim // 4, dim // 4, 1)
            conv(p + ".4", dim // 4, dim, 3)

    s0, s1 = cfg["split"]
    conv("conv_first", 3, c, 3)
    norm("before_RG.1", c)
    hidden = int(c * cfg["expansion"])
    for gi, (depth, heads) in enumerate(zip(cfg["depth"], cfg["heads"])):
        for bi in range(depth):
            p = "layers.%d.blocks.%d." % (gi, bi)
            norm(p + "norm1", c)
            linear(p + "attn.qkv", c, 3 * c, bias=cfg["qkv_bias"])
            linear(p + "attn.proj", c, c)
            if bi % 2 == 0:
                shifted = (gi % 2 == 0 and bi % 4 == 2) or (gi % 2 == 1 and bi % 4 == 0)
                if shifted:
                    n = cfg["img_size"]
                    sd[p + "attn.attn_mask_0"] = dat_shift_mask(n, n, s0, s1, s0 // 2, s1 // 2)
                    sd[p + "attn.attn_mask_1"] = dat_shift_mask(n, n, s1, s0, s1 // 2, s0 // 2)
                pos_dim = c // 2 // 4 // 4
                for i, (hs, ws) in enumerate(((s0, s1), (s1, s0))):
                    q = p + "attn.attns.%d." % i
                    sd[q + "rpe_biases"] = torch.tensor(
                        [(dh, dw) for dh in range(1 - hs, hs) for dw in range(1 - ws, ws)], dtype=torch.float32)
                    cells = [(y, x) for y in range(hs) for x in range(ws)]
                    sd[q + "relative_position_index"] = torch.tensor(
                        [[(yi - yj + hs - 1) * (2 * ws - 1) + (xi - xj + ws - 1) for (yj, xj) in cells]
                         for (yi, xi) in cells], dtype=torch.long)
                    linear(q + "pos.pos_proj", 2, pos_dim, std=0.5)
                    for stage in ("pos1", "pos2"):
                        norm(q + "pos.%s.0" % stage, pos_dim)
                        linear(q + "pos.%s.2" % stage, pos_dim, pos_dim)
                    norm(q + "pos.pos3.0", pos_dim)
                    linear(q + "pos.pos3.2", pos_dim, heads // 2)
            else:
                sd[p + "attn.temperature"] = 0.5 + torch.rand((heads, 1, 1), generator=g)
            interaction(p + "attn", c)
            norm(p + "norm2", c)
            linear(p + "ffn.fc1", c, hidden)
            norm(p + "ffn.sg.norm", hidden // 2)
            conv(p + "ffn.sg.conv", hidden // 2, hidden // 2, 3, groups=hidden // 2)
            linear(p + "ffn.fc2", hidden // 2, c)
        resi("layers.%d.conv" % gi, c)
    norm("norm", c)
    resi("conv_after_body", c)
    if cfg["upsampler"] == "pixelshuffle":
        nf = cfg["num_feat"]
        conv("conv_before_upsample.0", c, nf, 3)
        for i, r in enumerate(cfg["upsample_steps"]):
            conv("upsample.%d" % (2 * i), nf, r * r * nf, 3)
        conv("conv_last", nf, 3, 3, std=0.05)
    else:
        conv("upsample.0", c, 3 * cfg["scale"] ** 2, 3, std=0.05)
    # Half-precision storage keeps the files small; the long buffers stay.
    return collections.OrderedDict((k, v.half() if v.is_floating_point() else v) for k, v in sd.items())


# Two small DATs, inputs not multiples of the windows (so the padding is
# used), stored in fp16 (the .pth files are ~190 KB each; DAT's many small
# tensors and its C x C Linears make smaller hard):
#   dat_x2         DAT's own layout (1conv, pixelshuffle), both kinds of
#                  block and a shifted one (group 1, block 0); 32 wide, so
#                  the position-bias MLP is 1 wide and gives a constant bias
#                  per head, as in DAT-light.
#   dat_direct_x2  DAT-light's layout (3conv, pixelshuffledirect), 64 wide,
#                  so the MLP is 2 wide and the bias of the 4x8 branch
#                  depends on the offset (two values per head, either side
#                  of a line through the offsets; the seed is one where the
#                  MLP's 2-wide LayerNorms do not collapse to a constant,
#                  and where a mirrored offset index moves the output by
#                  > 0.1); no qkv bias, one block (heads read from pos3).
DAT_FIXTURES = (
    ("dat_x2", 31, dict(embed_dim=32, depth=[2, 1], heads=[2, 4], split=[2, 4], expansion=2.0, qkv_bias=True,
                        resi="1conv", upsampler="pixelshuffle", num_feat=8, upsample_steps=[2], scale=2,
                        img_size=8), (11, 13)),
    ("dat_direct_x2", 50, dict(embed_dim=64, depth=[1], heads=[4], split=[4, 8], expansion=1.0,
                               qkv_bias=False, resi="3conv", upsampler="pixelshuffledirect", scale=2, img_size=8),
     (10, 13)),
)


def write_dat_fixtures(out_dir):
    for name, seed, cfg, size in DAT_FIXTURES:
        sd = random_dat_state_dict(seed, cfg)
        pth = os.path.join(out_dir, name + ".pth")
        torch.save({"params": sd}, pth)
        x = seeded_input(seed, *size)
        y = dat_forward(load_pth(pth), x, cfg)
        write_fixture(os.path.join(out_dir, name + "_fixture.bin"), [(name + ".pth", sha256_file(pth))],
                      cfg["scale"], x, y)


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


# ------------------------------------------- ncnn graphs with a border

def read_ncnn_graph(param_path, bin_path):
    """Layers of a text .param as (type, bottoms, tops, params, weights)."""
    with open(param_path) as f:
        lines = [l for l in f.read().split("\n") if l.strip()]
    assert lines[0].strip() == "7767517"
    data = open(bin_path, "rb").read()
    pos = 0

    def tagged(count):
        nonlocal pos
        (tag,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if tag == 0x01306B47:
            w = np.frombuffer(data, dtype="<f2", count=count, offset=pos).astype(np.float32)
            pos += (count * 2 + 3) // 4 * 4
        else:
            assert tag == 0, hex(tag)
            w = np.frombuffer(data, dtype="<f4", count=count, offset=pos).copy()
            pos += count * 4
        return torch.from_numpy(w.copy())

    def raw(count):
        nonlocal pos
        b = np.frombuffer(data, dtype="<f4", count=count, offset=pos).copy()
        pos += count * 4
        return torch.from_numpy(b)

    layers = []
    for line in lines[2:]:
        tok = line.split()
        ltype, nin, nout = tok[0], int(tok[2]), int(tok[3])
        bottoms, tops = tok[4:4 + nin], tok[4 + nin:4 + nin + nout]
        params = {}
        for kv in tok[4 + nin + nout:]:
            k, v = kv.split("=")
            k = int(k)
            if k <= -23300:
                params[-23300 - k] = [float(e) for e in v.split(",")[1:]]
            else:
                params[k] = float(v)
        weights = {}
        if ltype in ("Convolution", "Deconvolution"):
            out, k = int(params[0]), int(params[1])
            assert int(params.get(11, k)) == k
            n = int(params[6])
            weights["w"] = tagged(n).reshape(out, n // (out * k * k), k, k)
            if int(params.get(5, 0)):
                weights["b"] = raw(out)
        elif ltype == "InnerProduct":
            out, n = int(params[0]), int(params[2])
            weights["w"] = tagged(n).reshape(out, n // out)
            if int(params.get(1, 0)):
                weights["b"] = raw(out)
        layers.append((ltype, bottoms, tops, params, weights))
    assert pos == len(data), (pos, len(data))
    return layers


def ncnn_activation(y, params):
    act = int(params.get(9, 0))
    if act == 1:
        return F.relu(y)
    if act == 2:
        return F.leaky_relu(y, params[10][0])
    if act == 4:
        return torch.sigmoid(y)
    assert act == 0, act
    return y


def ncnn_graph_forward(layers, x):
    blobs = {}
    for ltype, bottoms, tops, p, wts in layers:
        if ltype == "Input":
            blobs[tops[0]] = x
            continue
        a = blobs[bottoms[0]]
        if ltype == "Split":
            for t in tops:
                blobs[t] = a
            continue
        if ltype == "Convolution":
            assert int(p.get(3, 1)) == 1 or int(p.get(4, 0)) == 0
            pad = int(p.get(4, 0))
            y = F.conv2d(a, wts["w"], wts.get("b"), stride=int(p.get(3, 1)), padding=pad)
            y = ncnn_activation(y, p)
        elif ltype == "Deconvolution":
            # ncnn keeps [out, in, kh, kw]; conv_transpose2d wants [in, out, ...].
            y = F.conv_transpose2d(a, wts["w"].transpose(0, 1), wts.get("b"), stride=int(p.get(3, 1)),
                                   padding=int(p.get(4, 0)))
            y = ncnn_activation(y, p)
        elif ltype == "Crop":
            y = a
            for start, end, axis in zip(p[9], p[10], p[11]):
                dim = {-2: 2, -1: 3, 1: 2, 2: 3}[int(axis)]
                n = y.shape[dim]
                y = y.narrow(dim, int(start), n + int(end) - int(start))
        elif ltype == "Pooling":
            assert int(p[0]) == 1 and int(p[4]) == 1  # global average
            y = a.mean(dim=(2, 3), keepdim=True)
        elif ltype == "InnerProduct":
            y = F.linear(a.flatten(1), wts["w"], wts.get("b"))
            y = ncnn_activation(y, p).reshape(a.shape[0], -1, 1, 1)
        elif ltype == "BinaryOp":
            b = blobs[bottoms[1]]
            op = int(p.get(0, 0))
            assert op in (0, 2), op
            y = a + b if op == 0 else a * b
        else:
            raise AssertionError("unexpected layer " + ltype)
        blobs[tops[0]] = y
    return blobs[layers[-1][2][0]]


def padded_upscale(layers, x, prepad, mode, even):
    """The reference programs' tile handling for one whole-frame tile."""
    h, w = x.shape[2], x.shape[3]
    extra_h = (h + 1) // 2 * 2 - h if even else 0
    extra_w = (w + 1) // 2 * 2 - w if even else 0
    xp = F.pad(x, (prepad, prepad + extra_w, prepad, prepad + extra_h), mode=mode)
    y = ncnn_graph_forward(layers, xp)
    return y[:, :, :2 * h, :2 * w].contiguous()


def write_padded_ncnn_fixtures(model_dir, out_dir):
    for name, fixture, prepad, mode, even, size in (
            ("waifu2x-upconv7-anime-noise0-x2", "waifu2x_upconv7_fixture.bin", 7, "replicate", False, (19, 23)),
            ("realcugan-up2x-conservative", "realcugan_up2x_fixture.bin", 18, "reflect", True, (21, 25))):
        param = os.path.join(model_dir, name + ".param")
        binf = os.path.join(model_dir, name + ".bin")
        layers = read_ncnn_graph(param, binf)
        x = make_input(*size)
        y = padded_upscale(layers, x, prepad, mode, even)
        write_fixture(os.path.join(out_dir, fixture),
                      [(name + ".param", sha256_file(param)), (name + ".bin", sha256_file(binf))], 2, x, y)


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
    args = sys.argv[1:]
    only = None
    if "--only" in args:
        i = args.index("--only")
        only = args[i + 1]
        del args[i:i + 2]
    model_dir = args[0] if len(args) > 0 else "/work/main/build/models"
    out_dir = args[1] if len(args) > 1 else here
    torch.set_grad_enabled(False)
    print("torch", torch.__version__)

    if only == "dat":
        write_dat_fixtures(out_dir)
        return
    write_padded_ncnn_fixtures(model_dir, out_dir)
    if only is not None:
        assert only == "ncnn-padded", only
        return

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

    # OmniSR: the real 4x_WTP_descreenton.pth (zip), on a frame that is not
    # a multiple of the window (padding and crop) and not square.
    omni = os.path.join(model_dir, "4x_WTP_descreenton.pth")
    x = seeded_input(2024, 20, 28)
    y, s = omnisr_forward(load_pth(omni), x)
    assert s == 4
    write_fixture(os.path.join(out_dir, "omnisr_descreenton_fixture.bin"),
                  [("4x_WTP_descreenton.pth", sha256_file(omni))], s, x, y)

    # SPAN: random weights, 4 features, 2x, with input normalisation; fp16
    # storage keeps the file small.
    sd = random_span_state_dict(11, nf=4, scale=2, norm=True)
    sd = collections.OrderedDict((k, v.half()) for k, v in sd.items())
    pth = os.path.join(out_dir, "span_x2.pth")
    torch.save(sd, pth)
    x = seeded_input(5, 20, 24)
    y, s = span_forward(load_pth(pth), x)
    assert s == 2
    write_fixture(os.path.join(out_dir, "span_x2_fixture.bin"), [("span_x2.pth", sha256_file(pth))], s, x, y)

    # RealPLKSR: GroupNorm + EA at 2x (the common variant), and LayerNorm
    # without EA at 3x; random weights.
    for name, seed, kwargs, size in (
            ("realplksr_x2", 21, dict(dim=8, n_blocks=2, scale=2, kernel=7, pdim=2, use_ea=True,
                                      layer_norm=False), (20, 24)),
            ("realplksr_ln_x3", 22, dict(dim=8, n_blocks=2, scale=3, kernel=5, pdim=4, use_ea=False,
                                         layer_norm=True), (16, 18))):
        sd = random_realplksr_state_dict(seed, **kwargs)
        pth = os.path.join(out_dir, name + ".pth")
        torch.save({"params_ema": sd}, pth)
        x = seeded_input(seed, *size)
        y, s = realplksr_forward(load_pth(pth), x)
        assert s == kwargs["scale"]
        write_fixture(os.path.join(out_dir, name + "_fixture.bin"), [(name + ".pth", sha256_file(pth))], s, x, y)

    write_dat_fixtures(out_dir)


if __name__ == "__main__":
    main()
