#!/usr/bin/env python3
"""Where the time of SRVGGNetCompact goes on a GPU, measured with PyTorch.

A reference for network_bench on the device machine (gpu_session.sh runs
it): the same network shape (3->F, N x F->F, F->3*s*s, PReLU after all but
the last convolution, pixel shuffle, nearest-upsampled residual) with random
weights, run three ways at one frame size:

  eager      convolutions with bias, then PReLU (what LibTorch does)
  conv+bias  the same without the activations
  conv only  no bias and no activations: the convolutions' own ceiling

The gap between "eager" and "conv only" is what a fused epilogue can win;
AniFarm's C++ figure sits between them. Then the first (3->F), a middle
(F->F) and the last (F->3*s*s) convolution timed alone, and the first and
last with their channels zero-padded to multiples of 8 (the same result:
the padded weights are zero), which tells whether cuDNN's kernels for the
odd channel counts are what keeps "conv only" under the target. Then what the engine's copies of a
frame (8-bit in, 8-bit out) cost, pageable against pinned host memory. Not part of the product (the node
has no Python): a measuring tool for the GPU host, which has PyTorch.

  python3 tests/bench/conv_ceiling.py [--size 1920x1080] [--features 64]
      [--convs 16] [--scale 2] [--dtype fp16] [--frames 20]
"""
import argparse
import time

import torch
import torch.nn.functional as F


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--convs", type=int, default=16)
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--dtype", default="fp16", choices=["fp16", "bf16", "fp32"])
    parser.add_argument("--frames", type=int, default=20)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype]
    torch.backends.cudnn.benchmark = True
    device = torch.device("cuda")
    options = dict(device=device, dtype=dtype)
    f, s = args.features, args.scale
    shapes = [(f, 3)] + [(f, f)] * args.convs + [(3 * s * s, f)]
    weights = [(torch.randn(o, i, 3, 3, **options) * (2.0 / (9 * i)) ** 0.5).contiguous(
        memory_format=torch.channels_last) for o, i in shapes]
    biases = [torch.randn(o, **options) * 0.01 for o, _ in shapes]
    slopes = [torch.full((f,), 0.25, **options) for _ in shapes[:-1]]
    x = torch.rand(1, 3, height, width, **options).contiguous(memory_format=torch.channels_last)
    gflop = sum(2 * o * i * 9 for o, i in shapes) * width * height / 1e9

    def network(bias, activation):
        y = x
        for k, w in enumerate(weights):
            y = F.conv2d(y, w, biases[k] if bias else None, padding=1)
            if activation and k < len(slopes):
                y = F.prelu(y, slopes[k])
        y = F.pixel_shuffle(y, s)
        return y + F.interpolate(x, scale_factor=s, mode="nearest")

    with torch.inference_mode():
        for name, bias, activation in (("eager", True, True), ("conv+bias", True, False),
                                       ("conv only", False, False)):
            for _ in range(3):
                network(bias, activation)
            torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(args.frames):
                network(bias, activation)
            torch.cuda.synchronize()
            seconds = (time.perf_counter() - start) / args.frames
            print(f"conv_ceiling | {name:9} | {args.dtype} | {width}x{height} | {1 / seconds:.2f} fps | "
                  f"{seconds * 1e3:.2f} ms/frame | {gflop / seconds / 1e3:.1f} TFLOP/s")
        # Layer by layer: is a 3- or 12-channel end slower per FLOP than the
        # F->F body, and does padding its channels to 8/16 fix that?
        def pad8(n):
            return (n + 7) // 8 * 8

        o_last = 3 * s * s
        x_pad = torch.zeros(1, pad8(3), height, width, **options).contiguous(memory_format=torch.channels_last)
        x_pad[:, :3] = x
        body_in = torch.rand(1, f, height, width, **options).contiguous(memory_format=torch.channels_last)
        w_first_pad = torch.zeros(f, pad8(3), 3, 3, **options).contiguous(memory_format=torch.channels_last)
        w_first_pad[:, :3] = weights[0]
        w_last_pad = torch.zeros(pad8(o_last), f, 3, 3, **options).contiguous(memory_format=torch.channels_last)
        w_last_pad[:o_last] = weights[-1]
        layers = (("first 3->%d" % f, x, weights[0], 3, f),
                  ("first padded %d->%d" % (pad8(3), f), x_pad, w_first_pad, 3, f),
                  ("middle %d->%d" % (f, f), body_in, weights[1], f, f),
                  ("last %d->%d" % (f, o_last), body_in, weights[-1], f, o_last),
                  ("last padded %d->%d" % (f, pad8(o_last)), body_in, w_last_pad, f, o_last))
        for name, inp, w, useful_in, useful_out in layers:
            for _ in range(3):
                F.conv2d(inp, w, padding=1)
            torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(args.frames):
                F.conv2d(inp, w, padding=1)
            torch.cuda.synchronize()
            seconds = (time.perf_counter() - start) / args.frames
            useful = 2 * useful_in * useful_out * 9 * width * height / 1e12
            print(f"conv_ceiling | layer {name:20} | {seconds * 1e3:.3f} ms | "
                  f"{useful / seconds:.1f} useful TFLOP/s")
        # What the engine's copies of one frame cost beside that: the 8-bit
        # input up, the 8-bit output (s times the size) down, into pageable
        # memory (a frame's own buffer, what the engine does) or pinned.
        frame_in = torch.randint(0, 255, (height, width, 3), dtype=torch.uint8)
        frame_out = torch.zeros((height * s, width * s, 3), dtype=torch.uint8, device=device)
        pageable = torch.empty_like(frame_out, device="cpu")
        pinned = pageable.pin_memory()
        copies = (("upload, pageable", lambda: frame_in.to(device)),
                  ("download, pageable", lambda: pageable.copy_(frame_out)),
                  ("download, pinned", lambda: pinned.copy_(frame_out)))
        for name, copy in copies:
            copy()
            torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(args.frames):
                copy()
            torch.cuda.synchronize()
            seconds = (time.perf_counter() - start) / args.frames
            print(f"conv_ceiling | {name:18} | {seconds * 1e3:.2f} ms/frame")
    print(f"conv_ceiling | torch {torch.__version__} | {torch.cuda.get_device_name(0)}")


if __name__ == "__main__":
    main()
