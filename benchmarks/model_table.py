"""Markdown tables of birdkit's models: parameter counts, default layers, benchmark pairs, speed.

Generates the tables of ``docs/models.md``::

    .venv/bin/python benchmarks/model_table.py                # native models + pairs
    .venv/bin/python benchmarks/model_table.py --tv           # also every tv_* model
    .venv/bin/python benchmarks/model_table.py --speed 'convnet_*' --threads 2

Counts are for ``num_classes=10, in_chans=3, img_size=32`` (change with the options) and are
computed on the meta device (no memory). ``--speed`` times SGD training steps (batch 128, random
32 px images) on the CPU and reports the median step time and the implied seconds per epoch of
20,000 images; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from birdkit.models import create_model, list_models, meta_init, model_info

PAIRS = [
    ("convnet_xs", "convnet_s", "teacher small, student >= 3x"),
    ("convnet_s", "convnet_l", "teacher small, student >= 3x"),
    ("convnet_s", "convnet_xl", "teacher small, student >= 3x"),
    ("convnet_xs", "convnet_xl", "weak-to-strong, ~25x"),
    ("convnet_xxs", "convnet_m", "weak-to-strong, ~25x"),
    ("mobilenetv2", "resnet152", "weak-to-strong, ~25x (the paper's pair)"),
    ("mobilenetv2", "resnet18", "paper architectures, student >= 3x"),
]


def feature_shape(name: str, in_chans: int, img_size: int) -> str:
    with meta_init():
        m = create_model(name, in_chans=in_chans, img_size=img_size)
        f = m.forward_features(torch.empty(1, in_chans, img_size, img_size, device="meta"))
    return "x".join(map(str, f.shape[1:]))


def table(names: list[str], args: argparse.Namespace, shapes: bool) -> str:
    head = "| name | family | params | default layer | num_features |"
    sep = "|---|---|---:|---|---:|"
    if shapes:
        head += f" features at {args.img_size} px |"
        sep += "---|"
    rows = [head, sep]
    for n in names:
        i = model_info(n, num_classes=args.num_classes, in_chans=args.in_chans, img_size=args.img_size)
        if i["error"]:
            row = f"| `{n}` | {i['family']} | n/a | n/a ({i['error'].split(':')[0]}) | |"
            row += " |" if shapes else ""
        else:
            row = f"| `{n}` | {i['family']} | {i['params']:,} | `{i['default_layer']}` | {i['num_features']} |"
            if shapes:
                row += f" {feature_shape(n, args.in_chans, args.img_size)} |"
        rows.append(row)
    return "\n".join(rows)


def pairs(args: argparse.Namespace) -> str:
    rows = ["| teacher | student | params teacher | params student | ratio | use |", "|---|---|---:|---:|---:|---|"]
    for t, s, use in PAIRS:
        pt = model_info(t, num_classes=args.num_classes)["params"]
        ps = model_info(s, num_classes=args.num_classes)["params"]
        rows.append(f"| `{t}` | `{s}` | {pt:,} | {ps:,} | {ps / pt:.1f}x | {use} |")
    return "\n".join(rows)


def speed(names: list[str], args: argparse.Namespace) -> str:
    torch.set_num_threads(args.threads)
    rows = [f"| name | ms / step (batch {args.batch}) | s / epoch of 20k images | images / s |", "|---|---:|---:|---:|"]
    for n in names:
        torch.manual_seed(0)
        m = create_model(n, num_classes=args.num_classes, in_chans=args.in_chans, img_size=args.img_size).train()
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        x = torch.randn(args.batch, args.in_chans, args.img_size, args.img_size)
        y = torch.randint(0, args.num_classes, (args.batch,))
        times = []
        for i in range(args.steps + 2):
            t0 = time.perf_counter()
            loss = F.cross_entropy(m(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if i >= 2:  # warm-up
                times.append(time.perf_counter() - t0)
        dt = statistics.median(times)
        rows.append(f"| `{n}` | {dt * 1000:.0f} | {20000 / args.batch * dt:.1f} | {args.batch / dt:.0f} |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tv", action="store_true", help="also list every tv_* model")
    p.add_argument("--speed", metavar="PATTERN", help="time training steps of the models matching PATTERN")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--in-chans", type=int, default=3)
    p.add_argument("--img-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args()
    if args.speed:
        print(speed(list_models(args.speed), args))
        return
    native = [n for n in list_models() if not n.startswith("tv_")]
    print(table(native, args, shapes=True))
    print()
    print(pairs(args))
    if args.tv:
        print()
        print(table(list_models("tv_*"), args, shapes=False))


if __name__ == "__main__":
    main()
